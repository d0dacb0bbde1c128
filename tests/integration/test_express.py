"""WorkflowType=EXPRESS through the real event path: outcomes, the DLQ, and traces from logs."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from imgpipe.commands import cost
from imgpipe_core.catalogue import load_catalogue
from tests.integration.conftest import (
    Pipeline,
    deploy_pipeline,
    embedded_only,
    photo,
    too_big_for_128_mb,
)

pytestmark = [
    pytest.mark.engine,
    pytest.mark.xdist_group("express"),
    # Not yet run against LocalStack, whose Express log events need not match AWS's format.
    embedded_only("Express as adapters/express.py runs it: AWS's log format, refused APIs"),
]
VARIANTS = len(load_catalogue().names)


@pytest.fixture(scope="module")
def express(engine) -> Pipeline:
    return deploy_pipeline(engine, "express", {"WorkflowType": "EXPRESS"})


def _entered(events: list[dict]) -> list[str]:
    return [
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    ]


def test_express_upload_is_published_and_its_history_only_in_the_logs(express: Pipeline) -> None:
    # GIVEN an Express stack, WHEN an upload lands in the private bucket
    pid = express.upload("uploads/express.jpg", photo(900, 600, "JPEG"))
    record = express.wait_done(pid)
    # THEN it is published like a Standard upload, by an Express execution
    assert record["status"] == "SUCCEEDED", record
    assert len(express.public_keys(pid)) == len(record["variants"]) + 1  # + manifest
    arn = record["executionArns"][-1]
    assert arn.split(":")[5] == "express"
    events, sns = express.notifications(pid)
    assert [e["detail-type"] for e in events] == ["Image Processed"] and len(sns) == 1
    # AND Step Functions refuses its history, as AWS does for Express
    sfn = express.client("stepfunctions")
    for call in (sfn.describe_execution, sfn.get_execution_history):
        with pytest.raises(ClientError) as refused:
            call(executionArn=arn)
        assert refused.value.response["Error"]["Code"] == "InvalidArn"
    with pytest.raises(ClientError) as listing:
        sfn.list_executions(stateMachineArn=express.outputs["StateMachineArn"])
    assert listing.value.response["Error"]["Code"] == "StateMachineTypeNotSupported"
    # AND the log group holds every event, in AWS's log format, with the execution's data
    history = express.history(arn)
    assert history[0]["type"] == "ExecutionStarted" and history[-1]["type"] == "ExecutionSucceeded"
    assert "Publish Variants" in _entered(history) and "Resize Variant" in _entered(history)
    first = json.loads(express.logged(arn)[0])
    assert set(first) >= {"id", "type", "details", "previous_event_id", "event_timestamp"}
    assert first["execution_arn"] == arn and first["event_timestamp"].isdigit()


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _logged(express: Pipeline, arn: str) -> list[str]:
    return express.logged(arn)


def test_express_success_logs_small_states_and_each_variable_once(express: Pipeline) -> None:
    # GIVEN an Express upload that succeeds
    pid = express.upload("uploads/small-states.jpg", photo(900, 600, "JPEG"))
    record = express.wait_done(pid)
    assert record["status"] == "SUCCEEDED", record
    messages = _logged(express, record["executionArns"][-1])
    events = [json.loads(m) for m in messages]
    # THEN every log event is compact JSON, as Step Functions writes it, and so is the state
    # data inside (the execution's input is the caller's string, kept as it came)
    assert all(m == _compact(json.loads(m)) for m in messages)
    for event in events[1:]:
        for name in ("input", "output", "parameters"):
            if name in event["details"]:
                assert event["details"][name] == _compact(json.loads(event["details"][name]))
    # AND after Register (whose input is the S3 event) no state carries more than a few
    # fields: the job, the image facts and the variants are variables, assigned once
    states = [e for e in events if e["type"].endswith(("StateEntered", "StateExited"))]
    for event in states:
        name, data = event["details"]["name"], event["details"].get("input") or ""
        data = data or event["details"].get("output") or ""
        if name == "Register Upload" and event["type"].endswith("Entered"):
            continue
        limit = 400 if name == "Resize Variant" else 120  # a variant's result / the Choices' data
        assert len(data) <= limit, (event["type"], name, data)
    assigned = [name for e in events for name in e["details"].get("assignedVariables", {}) or {}]
    assert sorted(assigned) == ["image", "job", "published", "rejection", "rendered", "retention"]
    # AND a Map iteration's input is its variant's name only
    iteration_inputs = [
        json.loads(e["details"]["input"])
        for e in events
        if e["type"] == "TaskStateEntered" and e["details"]["name"] == "Resize Variant"
    ]
    assert sorted(i["variant"] for i in iteration_inputs) == sorted(load_catalogue().names)
    assert all(set(i) == {"variant"} for i in iteration_inputs)
    # AND a Resize gets what rendering reads: the source, the variant, the sniffed media type
    resize_inputs = [
        json.loads(e["details"]["input"])
        for e in events
        if e["type"] == "LambdaFunctionScheduled" and "ResizeFunction" in e["details"]["resource"]
    ]
    assert len(resize_inputs) == VARIANTS
    assert all(set(i) == {"job", "variant", "mediaType"} for i in resize_inputs)
    assert all(
        i["mediaType"] == "jpeg" and set(i["job"]) == {"processingId", "source"}
        for i in resize_inputs
    )
    # AND each Resize returns the short stored form, [file, width, height, bytes], which the
    # Map assigns to $rendered and Publish reads
    resize_outputs = [
        json.loads(e["details"]["output"])
        for e in events
        if e["type"] == "TaskStateExited" and e["details"]["name"] == "Resize Variant"
    ]
    assert sorted(o[0].rpartition("-")[0] for o in resize_outputs) == sorted(load_catalogue().names)
    assert all(len(o) == 4 and all(isinstance(n, int) for n in o[1:]) for o in resize_outputs)
    rendered = next(
        json.loads(e["details"]["assignedVariables"]["rendered"])
        for e in events
        if e["type"] == "MapStateExited"
    )
    assert sorted(rendered) == sorted(resize_outputs)
    # AND the whole execution log stays within its measured size plus ~5 % (30.3 KB for a
    # 12 MP photo on 2026-12-02 at 12:44: 42.6 KB with Lambda tasks before Resize's short
    # result and Publish recording the success itself; 51.2 KB through lambda:invoke; 81 KB
    # before the variables): growing a state's data fails here
    total = sum(len(m.encode()) for m in messages)
    succeeded = [e for e in events if e["type"] == "LambdaFunctionSucceeded"]
    assert len(succeeded) == 4 + VARIANTS and not any("SdkHttpMetadata" in m for m in messages)
    assert len(events) == 32 + 7 * VARIANTS and total <= 32_000, (len(events), total)


def test_express_trace_is_read_from_the_logs_by_cli_and_api(
    express: Pipeline, capsys: pytest.CaptureFixture
) -> None:
    pid = express.upload("uploads/traced.jpg", photo(500, 400, "JPEG"))
    express.wait_done(pid)
    capsys.readouterr()
    # WHEN the operator traces it
    assert express.cli("trace", pid, "--json") == 0
    trace = json.loads(capsys.readouterr().out)
    # THEN the timeline comes from the log events: every state, each with its duration
    assert trace["status"] == "SUCCEEDED" and trace["executionArn"].split(":")[5] == "express"
    names = [s["name"] for s in trace["states"]]
    for state in ("Register Upload", "Validate Upload", "Resize Variants", "Publish Variants"):
        assert state in names
    assert all(s["duration_ms"] is not None for s in trace["states"])
    # AND the web page's trace (the API's domain function) reads the same logs
    from imgpipe_core.api.images import trace as api_trace
    from imgpipe_core.config import Settings

    settings = Settings.model_validate(
        {
            "TABLE_NAME": express.table,
            "PIPELINE_LOG_GROUP": express.log_group,
        }
    )
    response = api_trace(settings, pid)
    assert response.status == "SUCCEEDED" and response.end is not None
    assert [s.name for s in response.states] == names


def test_express_rejection_is_recorded_with_its_reason(express: Pipeline) -> None:
    pid = express.upload("uploads/express.svg", b'<svg xmlns="http://www.w3.org/2000/svg"></svg>')
    record = express.wait_done(pid)
    assert record["status"] == "REJECTED" and record["rejectionCode"] == "UNSUPPORTED_MEDIA_TYPE"
    assert express.public_keys(pid) == []
    assert "Notify Rejection" in _entered(express.history(record["executionArns"][-1]))


def test_express_failure_reaches_the_dlq_and_redrive_recovers_it(express: Pipeline) -> None:
    lam = express.client("lambda")
    resources = express.client("cloudformation").describe_stack_resources(
        StackName=express.stack_name
    )["StackResources"]
    resize = next(
        r["PhysicalResourceId"] for r in resources if r["LogicalResourceId"] == "ResizeFunction"
    )
    # GIVEN the resize function with too little memory for a 12 MP PNG
    lam.update_function_configuration(FunctionName=resize, MemorySize=128)
    try:
        pid = express.upload("uploads/express-heavy.png", too_big_for_128_mb())
        record = express.wait_done(pid)
        # THEN the ASL's own catch recorded it and sent one letter (no status-change event
        # exists for Express, so nothing else would)
        assert record["status"] == "FAILED" and record["error"] == "Runtime.OutOfMemory"
        letters = [m for m in express.dead_letters() if m.get("processingId") == pid]
        assert len(letters) == 1 and letters[0]["executionArn"].split(":")[5] == "express"
        # AND the letter holds what a re-run needs, read from $job after the Catch
        (letter,) = letters
        assert (letter["kind"], letter["attempt"], letter["error"]) == (
            "ProcessingFailed",
            1,
            "Runtime.OutOfMemory",
        )
        assert letter["source"]["key"] == "uploads/express-heavy.png"
        assert letter["source"]["versionId"] and letter["cause"] and letter["failedAt"]
    finally:
        lam.update_function_configuration(FunctionName=resize, MemorySize=2048)
    # WHEN the operator redrives the DLQ
    assert express.cli("dlq", "redrive") == 0
    # THEN attempt 2 succeeds and the DLQ is empty
    recovered = express.wait_done(pid, attempt=2)
    assert recovered["status"] == "SUCCEEDED"
    assert express.dead_letters() == []


def test_express_refuses_integrations_it_does_not_support(express: Pipeline) -> None:
    # Express has no .sync or .waitForTaskToken integrations: AWS refuses them at creation
    definition = {
        "StartAt": "Wait For Token",
        "States": {
            "Wait For Token": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"QueueUrl": "q", "MessageBody.$": "$$.Task.Token"},
                "End": True,
            }
        },
    }
    with pytest.raises(ClientError) as refused:
        express.client("stepfunctions").create_state_machine(
            name=f"{express.stack_name}-refused",
            definition=json.dumps(definition),
            roleArn="arn:aws:iam::123456789012:role/any",
            type="EXPRESS",
        )
    assert refused.value.response["Error"]["Code"] == "InvalidDefinition"


@embedded_only("request counts come from its request_counter adapter, in the test's process")
def test_express_cost_is_measured_from_the_logged_history(express: Pipeline) -> None:
    # GIVEN the Express stack, WHEN `imgpipe cost`'s measurement runs one upload
    measured = cost.measure_pipeline(
        express.engine, express.stack_name, express.outputs, "jpeg", photo(800, 600, "JPEG"), 1
    )
    assert measured.extra["statuses"] == ["SUCCEEDED"]
    usage = measured.usage
    # THEN the transitions and the Lambda tasks come from the execution's history: the REPORT lines
    # of CloudWatch Logs are exactly its Lambda tasks
    assert usage.transitions >= 8 + VARIANTS
    # (register, validate, publish, notify: OriginalRetention=keep applies nothing)
    assert measured.reports == measured.lambda_tasks_in_history == 4 + VARIANTS
    # AND the duration and the bytes Express logs are the execution's own
    assert 0 < measured.execution_s < 300 and usage.express_gb_s > 0
    assert usage.express_log_bytes > 1000


def abandoned_upload(pipeline: Pipeline, key: str) -> str:
    """An upload whose execution ended without recording an outcome (what hitting Express's
    5-minute limit leaves): PROCESSING, untouched for longer than STALE_AFTER."""
    from imgpipe_core import records

    pid = pipeline.upload(key, photo(640, 480, "JPEG"))
    pipeline.wait_done(pid)
    long_ago = records.iso(records.now() - records.STALE_AFTER * 2)
    pipeline.client("dynamodb").update_item(
        TableName=pipeline.table,
        Key={"processingId": {"S": pid}},
        UpdateExpression="SET #s = :p, updatedAt = :t REMOVE completedAt",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":p": {"S": "PROCESSING"}, ":t": {"S": long_ago}},
    )
    return pid


def test_express_attempt_nobody_finished_is_dead_lettered_and_redriven(express: Pipeline) -> None:
    # GIVEN an upload whose execution ended without recording an outcome
    pid = abandoned_upload(express, "uploads/express-lost.jpg")
    # WHEN the next upload is registered
    other = express.upload("uploads/express-next.jpg", photo(320, 240, "JPEG"))
    assert express.wait_done(other)["status"] == "SUCCEEDED"
    # THEN the abandoned attempt is FAILED with a reason and has one dead letter
    lost = express.record(pid)
    assert lost is not None and lost["status"] == "FAILED" and lost["error"] == "ExecutionAbandoned"
    letters = [m for m in express.dead_letters() if m.get("processingId") == pid]
    assert len(letters) == 1 and letters[0]["kind"] == "ProcessingFailed"
    assert letters[0]["source"]["key"] == "uploads/express-lost.jpg"
    # AND redriving it processes the upload again
    assert express.cli("dlq", "redrive") == 0
    assert express.wait_done(pid, attempt=2)["status"] == "SUCCEEDED"
    assert express.dead_letters() == []
