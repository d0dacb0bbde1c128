"""Every named path of the state machine, driven through real uploads with faults injected.

Faults come from the engine's plan (``engine.faults``, see src/imgpipe/local/faults.py); each
test targets its own upload with ``payloadContains`` or runs alone on this module's stack.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from imgpipe_core import keys
from imgpipe_core.catalogue import load_catalogue
from tests.helpers import wait_for
from tests.integration.conftest import Pipeline, deploy_pipeline, embedded_only, photo

pytestmark = [
    pytest.mark.engine,
    pytest.mark.xdist_group("faults"),
    embedded_only("fault injection (the engine's fault plan) exists only in the embedded engine"),
]


VARIANTS = len(load_catalogue().names)


@pytest.fixture(scope="module")
def faulty(engine: Any) -> Pipeline:
    return deploy_pipeline(engine, "faulty")


@pytest.fixture(autouse=True)
def no_faults_left(engine: Any) -> Iterator[None]:
    yield
    engine.faults.clear()


def _function(pipeline: Pipeline, logical_id: str) -> str:
    resources = pipeline.client("cloudformation").describe_stack_resources(
        StackName=pipeline.stack_name
    )["StackResources"]
    return next(r["PhysicalResourceId"] for r in resources if r["LogicalResourceId"] == logical_id)


def _rule(pipeline: Pipeline, function: str, key: str, **rule: Any) -> dict[str, Any]:
    """A Lambda fault on this stack's ``function`` for invocations about ``key`` only."""
    return {"function": _function(pipeline, f"{function}Function"), "payloadContains": key, **rule}


def _history(pipeline: Pipeline, arn: str) -> list[dict]:
    return pipeline.client("stepfunctions").get_execution_history(
        executionArn=arn, maxResults=1000
    )["events"]


def _task_errors(history: list[dict]) -> list[str]:
    """The error of each failed task attempt: Lambda tasks' and the service integrations'."""
    return [
        (e.get("lambdaFunctionFailedEventDetails") or e["taskFailedEventDetails"])["error"]
        for e in history
        if e["type"] in ("LambdaFunctionFailed", "TaskFailed")
    ]


def _entered(history: list[dict]) -> list[str]:
    return [
        e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e
    ]


def _withdrawn(history: list[dict]) -> list[int]:
    """How many objects each Withdraw Unpublished Variants task deleted."""
    outputs = [
        json.loads(e["lambdaFunctionSucceededEventDetails"]["output"]) for e in history
        if e["type"] == "LambdaFunctionSucceeded"
    ]  # fmt: skip
    return [o["withdrawn"] for o in outputs if isinstance(o, dict) and "withdrawn" in o]


def _letters(pipeline: Pipeline, pid: str) -> list[dict]:
    return [m for m in pipeline.dead_letters() if pid in json.dumps(m)]


def _assert_published_once(pipeline: Pipeline, pid: str, record: dict) -> None:
    assert record["status"] == "SUCCEEDED", record
    # Content-addressed keys: a variant published twice would show as two keys.
    assert len(pipeline.public_keys(pid)) == len(record["variants"]) + 1  # + manifest


def test_transient_error_is_retried_then_succeeds(engine: Any, faulty: Pipeline) -> None:
    # GIVEN Validate failing once with TransientError for this upload
    key = "uploads/transient-once.jpg"
    engine.faults.load({"lambda": [_rule(faulty, "Validate", key, error="TransientError", next=1)]})
    # WHEN it is uploaded
    pid = faulty.upload(key, photo(640, 480, "JPEG"))
    record = faulty.wait_done(pid)
    # THEN the retry made it succeed, after exactly one failed task
    _assert_published_once(faulty, pid, record)
    assert _task_errors(_history(faulty, record["executionArns"][0])) == ["TransientError"]
    assert engine.faults.injected() == [1]
    events, sns = faulty.notifications(pid)
    assert [e["detail-type"] for e in events] == ["Image Processed"] and len(sns) == 1
    assert events[0]["detail"]["notificationId"] == f"{pid}:1:SUCCEEDED"


def test_throttled_invoke_is_retried(engine: Any, faulty: Pipeline) -> None:
    key = "uploads/throttled-invoke.jpg"
    engine.faults.load(
        {"lambda": [_rule(faulty, "Resize", key, error="Lambda.TooManyRequestsException", next=1)]}
    )
    pid = faulty.upload(key, photo(640, 480, "JPEG"))
    record = faulty.wait_done(pid)
    _assert_published_once(faulty, pid, record)
    assert _task_errors(_history(faulty, record["executionArns"][0])) == [
        "Lambda.TooManyRequestsException"
    ]


def test_register_killed_after_its_claim_resumes_it_on_retry(engine: Any, faulty: Pipeline) -> None:
    # GIVEN Register's worker dies after it wrote its claim, before it replied
    key = "uploads/register-crash-once.jpg"
    engine.faults.load(
        {"lambda": [_rule(faulty, "Register", key, error="crash", phase="after", next=1)]}
    )
    pid = faulty.upload(key, photo(640, 480, "JPEG"))
    # THEN the retry takes up its own claim instead of ignoring it as a duplicate
    record = faulty.wait_done(pid)
    _assert_published_once(faulty, pid, record)
    history = _history(faulty, record["executionArns"][0])
    assert _task_errors(history) == ["Runtime.ExitError"]
    assert "Ignore Duplicate" not in _entered(history)
    events, _ = faulty.notifications(pid)
    assert [e["detail-type"] for e in events] == ["Image Processed"]


def test_register_failing_after_its_claim_ends_failed_and_redrive_recovers(
    engine: Any, faulty: Pipeline
) -> None:
    # GIVEN Register crashing after its claim on every attempt the retrier makes
    key = "uploads/register-crash-always.jpg"
    engine.faults.load(
        {"lambda": [_rule(faulty, "Register", key, error="crash", phase="after", next=3)]}
    )
    pid = faulty.upload(key, photo(640, 480, "JPEG"))
    # THEN the record is FAILED (not PROCESSING for good), dead-lettered and notified
    record = faulty.wait_done(pid)
    assert record["status"] == "FAILED" and record["error"] == "Runtime.ExitError", record
    history = _history(faulty, record["executionArns"][0])
    assert _task_errors(history) == ["Runtime.ExitError"] * 3
    assert "Release Registration" in _entered(history)
    letters = _letters(faulty, pid)
    assert [(m["kind"], m["processingId"]) for m in letters] == [("ProcessingFailed", pid)]
    events, _ = faulty.notifications(pid)
    assert [e["detail-type"] for e in events] == ["Image Processing Failed"]
    # WHEN the operator redrives the DLQ
    assert faulty.cli("dlq", "redrive") == 0
    # THEN the upload succeeds on attempt 2 and the DLQ holds nothing of it
    recovered = faulty.wait_done(pid, attempt=2)
    _assert_published_once(faulty, pid, recovered)
    assert _letters(faulty, pid) == []


def test_registration_that_never_claimed_is_dead_lettered_and_redriven(
    engine: Any, faulty: Pipeline
) -> None:
    # GIVEN Register failing before it writes anything, on every attempt
    key = "uploads/register-unavailable.jpg"
    engine.faults.load({"lambda": [_rule(faulty, "Register", key, error="TransientError", next=4)]})
    response = faulty.client("s3").put_object(
        Bucket=faulty.outputs["PrivateBucketName"], Key=key, Body=photo(640, 480, "JPEG")
    )
    pid = keys.processing_id(faulty.outputs["PrivateBucketName"], key, response["VersionId"])
    # THEN no record exists and the DLQ holds the execution input (the upload rule's: the
    # event's bucket and object) as RegistrationFailed
    letter = wait_for(lambda: next(iter(_letters(faulty, key)), None), timeout=60)
    assert letter["kind"] == "RegistrationFailed" and letter["error"] == "TransientError"
    assert letter["input"]["object"]["key"] == key
    assert faulty.record(pid) is None
    history = _history(faulty, letter["executionArn"])
    assert _entered(history)[-2:] == ["Send Unregistered To Dead Letter Queue", "Processing Failed"]
    # WHEN redriven, that input is started again and succeeds
    assert faulty.cli("dlq", "redrive") == 0
    _assert_published_once(faulty, pid, faulty.wait_done(pid))
    assert _letters(faulty, key) == []


def test_s3_throttling_past_botocore_retries_is_retried_by_the_state_machine(
    engine: Any, faulty: Pipeline
) -> None:
    # GIVEN the public bucket answering SlowDown to more manifest PUTs in a row than botocore
    # retries (the variants' PUTs, one per Resize, come first)
    key = "uploads/publish-slowdown.jpg"
    engine.faults.load(
        {"s3": [{"operations": ["PutObject"], "resource": faulty.outputs["PublicBucketName"],
                 "skip": VARIANTS, "next": 6}]}
    )  # fmt: skip
    pid = faulty.upload(key, photo(640, 480, "JPEG"))
    record = faulty.wait_done(pid)
    # THEN Publish failed once with TransientError and its retry published everything once
    _assert_published_once(faulty, pid, record)
    assert _task_errors(_history(faulty, record["executionArns"][0])) == ["TransientError"]
    assert engine.faults.injected() == [6]


def test_dynamodb_throttling_of_the_outcome_write_is_retried(engine: Any, faulty: Pipeline) -> None:
    # GIVEN the status table throttling more of Publish's record writes than botocore retries
    key = "uploads/outcome-throttled.jpg"
    engine.faults.load(
        {"dynamodb": [{"operations": ["UpdateItem"], "resource": faulty.table, "next": 6}]}
    )
    pid = faulty.upload(key, photo(640, 480, "JPEG"))
    record = faulty.wait_done(pid)
    # THEN Publish failed once with TransientError and its retry recorded the outcome
    _assert_published_once(faulty, pid, record)
    assert _task_errors(_history(faulty, record["executionArns"][0])) == ["TransientError"]
    assert engine.faults.injected() == [6]


def test_an_outcome_write_failing_for_good_after_publishing_ends_failed_and_dead_lettered(
    engine: Any, faulty: Pipeline
) -> None:
    # GIVEN the status table throttling every record write of Publish and of its retries
    # (6 botocore attempts per invocation, 4 invocations), not Record Failure's after them
    key = "uploads/outcome-fails.jpg"
    engine.faults.load(
        {"dynamodb": [{"operations": ["UpdateItem"], "resource": faulty.table, "next": 24}]}
    )
    pid = faulty.upload(key, photo(640, 480, "JPEG"))
    # botocore's jittered backoff between its 6 attempts (up to ~31 s per invocation) times 4
    # invocations: 90 s is not enough when the draw is unlucky
    record = faulty.wait_done(pid, timeout=300)
    # THEN the failure path ran as for any Publish failure: withdraw, Record Failure, the DLQ
    history = _history(faulty, record["executionArns"][0])
    entered = _entered(history)
    assert record["status"] == "FAILED" and record["error"] == "TransientError", record
    assert _task_errors(history) == ["TransientError"] * 4
    withdraw = entered.index("Withdraw Unpublished Variants")
    assert entered.index("Publish Variants") < withdraw < entered.index("Record Failure")
    assert entered.index("Record Failure") < entered.index("Send To Dead Letter Queue")
    assert [m["kind"] for m in _letters(faulty, pid)] == ["ProcessingFailed"]
    # AND the withdrawal spared what the written manifest names (as when Record Success failed)
    assert _withdrawn(history) == [0]


def test_a_failed_map_branch_leaves_no_variant_public(engine: Any, faulty: Pipeline) -> None:
    # GIVEN the last Resize of this upload to start failing by name once it has written its
    # variant (its reply comes late, so every other branch has written its variant too)
    key = "uploads/map-branch-fails.jpg"
    engine.faults.load(
        {"lambda": [_rule(faulty, "Resize", key, error="RenderError", phase="after",
                          latencyMs=2000, skip=VARIANTS - 1, next=1)]}
    )  # fmt: skip
    pid = faulty.upload(key, photo(1600, 1200, "JPEG"))
    record = faulty.wait_done(pid)
    # THEN the upload FAILED by name, not retried, and the variants written in place are gone
    arn = record["executionArns"][0]
    assert record["status"] == "FAILED" and record["error"] == "RenderError", record
    assert _task_errors(_history(faulty, arn)) == ["RenderError"]
    assert _withdrawn(_history(faulty, arn)) == [VARIANTS]  # every branch had written its own
    assert faulty.public_keys(pid) == []
    assert [m["kind"] for m in _letters(faulty, pid)] == ["ProcessingFailed"]
    # AND a redrive renders and publishes it again
    assert faulty.cli("dlq", "redrive") == 0
    _assert_published_once(faulty, pid, faulty.wait_done(pid, attempt=2))


def test_publish_failing_for_good_withdraws_the_variants_resize_wrote(
    engine: Any, faulty: Pipeline
) -> None:
    # GIVEN Publish failing with a deterministic error for this upload (once: not the withdrawal)
    key = "uploads/publish-fails.jpg"
    engine.faults.load({"lambda": [_rule(faulty, "Publish", key, error="PublishError", next=1)]})
    pid = faulty.upload(key, photo(640, 480, "JPEG"))
    record = faulty.wait_done(pid)
    # THEN no manifest was written and the Map's variants were withdrawn before Record Failure
    history = _history(faulty, record["executionArns"][0])
    entered = _entered(history)
    assert record["status"] == "FAILED" and record["error"] == "PublishError", record
    assert entered.index("Withdraw Unpublished Variants") < entered.index("Record Failure")
    assert _withdrawn(history) == [VARIANTS] and faulty.public_keys(pid) == []


def test_stale_attempt_is_rerun_and_the_late_one_is_superseded(
    engine: Any, faulty: Pipeline
) -> None:
    from imgpipe_core import records

    # GIVEN attempt 1 whose Publish starts late, its record made to look abandoned
    key = "uploads/superseded.jpg"
    engine.faults.load({"lambda": [_rule(faulty, "Publish", key, latencyMs=15000, next=1)]})
    pid = faulty.upload(key, photo(640, 480, "JPEG"))
    first = wait_for(lambda: (faulty.record(pid) or {}).get("executionArns", [None])[0])
    wait_for(lambda: "Publish Variants" in _entered(_history(faulty, first)), timeout=60)
    stale = records.iso(records.now() - records.STALE_AFTER - records.STALE_AFTER)
    faulty.client("dynamodb").update_item(
        TableName=faulty.table,
        Key={"processingId": {"S": pid}},
        UpdateExpression="SET updatedAt = :old",
        ExpressionAttributeValues={":old": {"S": stale}},
    )
    # WHEN an operator re-runs it
    assert faulty.cli("rerun", pid) == 0
    # THEN attempt 2 succeeds, and attempt 1's Publish, finding the record attempt 2's, ends
    # it as superseded without touching the record
    second = faulty.wait_done(pid, attempt=2)
    _assert_published_once(faulty, pid, second)
    sfn = faulty.client("stepfunctions")
    wait_for(lambda: sfn.describe_execution(executionArn=first)["status"] != "RUNNING", timeout=60)
    assert sfn.describe_execution(executionArn=first)["status"] == "SUCCEEDED"
    assert _entered(_history(faulty, first))[-2:] == [
        "Publish Variants",
        "Superseded By Another Attempt",
    ]
    assert _task_errors(_history(faulty, first)) == ["AttemptSuperseded"]
    assert faulty.record(pid)["attempt"] == 2
    _assert_published_once(faulty, pid, faulty.record(pid) or {})
    events, _ = faulty.notifications(pid)
    assert [(e["detail-type"], e["detail"]["attempt"]) for e in events] == [("Image Processed", 2)]


def test_rerun_bumps_past_an_execution_name_already_taken(faulty: Pipeline) -> None:
    pid = faulty.upload("uploads/name-taken.jpg", photo(320, 240, "JPEG"))
    assert faulty.wait_done(pid)["status"] == "SUCCEEDED"
    # GIVEN the name attempt 2 would use is already taken (e.g. a start that timed out)
    sfn = faulty.client("stepfunctions")
    squatter = sfn.start_execution(
        stateMachineArn=faulty.outputs["StateMachineArn"],
        name=keys.execution_name(pid, 2),
        # A re-run of an id with no record: ignored as a duplicate, nothing dead-lettered.
        input=json.dumps({"processingId": "a" * 26, "source": {"bucket": "x", "key": "y"}}),
    )["executionArn"]
    wait_for(lambda: sfn.describe_execution(executionArn=squatter)["status"] != "RUNNING")
    # WHEN it is re-run
    assert faulty.cli("rerun", pid) == 0
    # THEN the new attempt runs under the next free name and succeeds
    record = faulty.wait_done(pid, attempt=2)
    assert record["executionArns"][-1].endswith(":" + keys.execution_name(pid, 3))
    _assert_published_once(faulty, pid, record)


def test_alarms_and_dashboard_watch_the_pipeline(faulty: Pipeline) -> None:
    # GIVEN the deployed stack's outputs
    names = faulty.outputs["AlarmNames"].split(",")
    topic = faulty.outputs["AlertTopicArn"]
    cloudwatch = faulty.client("cloudwatch")
    alarms = {
        a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]
    }
    # THEN every alarm exists and notifies the alert topic
    assert sorted(alarms) == sorted(names) and all(
        a["AlarmActions"] == [topic] for a in alarms.values()
    )
    watched = {(a["Namespace"], a["MetricName"]) for a in alarms.values()}
    assert {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/States", "ExecutionsFailed"),
        ("AWS/States", "ExecutionsTimedOut"),
        ("AWS/States", "ExecutionsAborted"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
    } == watched
    # AND each pipeline function has its own errors and throttles alarm
    for logical in ("Register", "Validate", "Resize", "Publish", "Notify"):
        function = _function(faulty, f"{logical}Function")
        per_function = [
            a["MetricName"]
            for a in alarms.values()
            if {"Name": "FunctionName", "Value": function} in a["Dimensions"]
        ]
        assert sorted(per_function) == ["Errors", "Throttles"], logical
    # AND the dashboard is valid JSON naming the state machine and the DLQ
    body = json.loads(
        cloudwatch.get_dashboard(DashboardName=faulty.outputs["DashboardName"])["DashboardBody"]
    )
    text = json.dumps(body)
    assert faulty.outputs["StateMachineArn"] in text
    assert faulty.outputs["DeadLetterQueueUrl"].rsplit("/", 1)[-1] in text


def test_an_alert_email_is_subscribed_only_when_given(engine: Any, faulty: Pipeline) -> None:
    def subscriptions(pipeline: Pipeline) -> list[tuple[str, str]]:
        listed = pipeline.client("sns").list_subscriptions_by_topic(
            TopicArn=pipeline.outputs["AlertTopicArn"]
        )["Subscriptions"]
        return [(s["Protocol"], s["Endpoint"]) for s in listed]

    assert subscriptions(faulty) == []
    alerting = deploy_pipeline(engine, "alerting", {"AlertEmail": "ops@example.com"})
    assert subscriptions(alerting) == [("email", "ops@example.com")]


def test_publish_killed_after_publishing_is_retried_without_losing_its_variants(
    engine: Any, faulty: Pipeline
) -> None:
    # GIVEN Publish dying after it wrote the manifest
    key = "uploads/publish-crash-after.jpg"
    engine.faults.load(
        {"lambda": [_rule(faulty, "Publish", key, error="crash", phase="after", next=1)]}
    )
    pid = faulty.upload(key, photo(640, 480, "JPEG"))
    # THEN the retry writes the same manifest again, naming the same variants, and finds the
    # SUCCEEDED record the first run wrote its own: one outcome, one notification
    record = faulty.wait_done(pid)
    _assert_published_once(faulty, pid, record)
    history = _history(faulty, record["executionArns"][0])
    assert _task_errors(history) == ["Runtime.ExitError"]
    assert _entered(history)[-1] == "Notify Success" and record["attempt"] == 1
    events, _ = faulty.notifications(pid)
    assert [(e["detail-type"], e["detail"]["attempt"]) for e in events] == [("Image Processed", 1)]


def test_aborted_execution_is_ended_failed_by_redrive_and_rerun(
    engine: Any, faulty: Pipeline
) -> None:
    # GIVEN an execution stopped by an operator while Validate is running (it records nothing)
    key = "uploads/aborted.jpg"
    engine.faults.load({"lambda": [_rule(faulty, "Validate", key, latencyMs=5000, next=1)]})
    pid = faulty.upload(key, photo(640, 480, "JPEG"))
    arn = wait_for(lambda: (faulty.record(pid) or {}).get("executionArns", [None])[0])
    wait_for(lambda: "Validate Upload" in _entered(_history(faulty, arn)), interval=0.05)
    sfn = faulty.client("stepfunctions")
    sfn.stop_execution(executionArn=arn, error="Operator", cause="stopped by a test")
    wait_for(
        lambda: [m for m in faulty.dead_letters() if m.get("detail", {}).get("executionArn") == arn]
    )
    assert faulty.record(pid)["status"] == "PROCESSING"
    # WHEN the DLQ is redriven
    assert faulty.cli("dlq", "redrive") == 0
    # THEN the aborted attempt was ended FAILED and a re-run succeeded (not "already running")
    record = faulty.wait_done(pid, attempt=2)
    _assert_published_once(faulty, pid, record)
    assert [m for m in faulty.dead_letters() if pid in json.dumps(m) or arn in json.dumps(m)] == []
