"""What the functions write to CloudWatch Logs for an upload, at the default level: Lambda's own
lines and, per upload, one metrics (EMF) line from the step that ends its outcome."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from tests.integration.conftest import Pipeline, embedded_only, photo

pytestmark = [
    embedded_only("reads the functions' log groups as the engine's runtime writes them"),
]
PLATFORM = ("INIT_START ", "START RequestId:", "END RequestId:", "REPORT RequestId:")


def test_a_successful_upload_logs_only_platform_lines_and_metrics(pipeline: Pipeline) -> None:
    # GIVEN the stack at its default FunctionLogLevel
    lam = pipeline.client("lambda")
    cfn = pipeline.client("cloudformation")
    functions = [
        r["PhysicalResourceId"]
        for r in cfn.list_stack_resources(StackName=pipeline.stack_name)["StackResourceSummaries"]
        if r["ResourceType"] == "AWS::Lambda::Function"
    ]
    for name in functions:
        variables = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
        assert variables["POWERTOOLS_LOG_LEVEL"] == "WARNING"

    # WHEN an upload succeeds
    start_ms = int(time.time() * 1000)
    pid = pipeline.upload("uploads/logged.jpg", photo(800, 600, "JPEG"))
    assert pipeline.wait_done(pid)["status"] == "SUCCEEDED"

    # THEN every line its functions logged is Lambda's own or a metric (EMF), no INFO line
    messages = [m for found in _logged(pipeline, start_ms).values() for m in found]
    reports = [m for m in messages if m.startswith("REPORT RequestId:")]
    assert len(reports) >= 8  # Register, Validate, a Resize per variant, Publish, Notify
    own = [m for m in messages if not m.startswith(PLATFORM)]
    assert own, "the metrics are logged"
    for message in own:
        line = json.loads(message)
        assert "_aws" in line or line["level"] in ("WARNING", "ERROR", "CRITICAL"), line


def _logged(pipeline: Pipeline, start_ms: int) -> dict[str, list[str]]:
    """The messages each function (by logical id) logged since ``start_ms``."""
    logs = pipeline.client("logs")
    resources = pipeline.client("cloudformation").describe_stack_resources(
        StackName=pipeline.stack_name
    )["StackResources"]
    found: dict[str, list[str]] = {}
    for r in resources:
        if r["ResourceType"] != "AWS::Lambda::Function":
            continue
        pages = logs.get_paginator("filter_log_events").paginate(
            logGroupName=f"/aws/lambda/{r['PhysicalResourceId']}", startTime=start_ms
        )
        with contextlib.suppress(logs.exceptions.ResourceNotFoundException):  # never invoked
            for page in pages:
                found.setdefault(r["LogicalResourceId"], []).extend(
                    event["message"] for event in page["events"]
                )
    return found


def _metric_lines(pipeline: Pipeline, start_ms: int) -> dict[str, list[dict[str, Any]]]:
    """The EMF lines each function (by logical id) logged since ``start_ms``."""
    found = {
        function: [json.loads(m) for m in messages if m.startswith("{") and "_aws" in m]
        for function, messages in _logged(pipeline, start_ms).items()
    }
    return {function: lines for function, lines in found.items() if lines}


def _values(line: dict[str, Any]) -> dict[str, list[float]]:
    """Metric name -> its values in one EMF line, checked against the line's own directive."""
    [directive] = line["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "imgpipe" and directive["Dimensions"] == [["service"]]
    names = [m["Name"] for m in directive["Metrics"]]
    return {n: line[n] if isinstance(line[n], list) else [line[n]] for n in names}


def test_each_outcome_is_counted_in_one_metrics_line_of_notify(engine, pipeline: Pipeline) -> None:
    # GIVEN a successful upload
    start_ms = int(time.time() * 1000)
    pid = pipeline.upload("uploads/counted.jpg", photo(900, 600, "JPEG"))
    record = pipeline.wait_done(pid)
    assert record["status"] == "SUCCEEDED"
    # THEN its functions logged one EMF line, Notify's, with every metric of the upload
    lines = _metric_lines(pipeline, start_ms)
    assert list(lines) == ["NotifyFunction"] and len(lines["NotifyFunction"]) == 1, lines
    counted = _values(lines["NotifyFunction"][0])
    variant_bytes = counted.pop("VariantBytes")
    assert counted == {
        "Uploads": [1],
        "NotifiedSucceeded": [1],
        "Accepted": [1],
        "Published": [1],
    }
    # AND one VariantBytes value per published variant: CloudWatch counts each as a sample
    assert sorted(variant_bytes) == sorted(v["bytes"] for v in record["variants"])

    # GIVEN a rejected upload
    start_ms = int(time.time() * 1000)
    pid = pipeline.upload("uploads/counted.txt", b"not an image at all")
    assert pipeline.wait_done(pid)["status"] == "REJECTED"
    # THEN one line, Notify's, counts it as an upload and a rejection
    lines = _metric_lines(pipeline, start_ms)
    assert list(lines) == ["NotifyFunction"] and len(lines["NotifyFunction"]) == 1, lines
    assert _values(lines["NotifyFunction"][0]) == {
        "Uploads": [1],
        "NotifiedRejected": [1],
        "Rejected": [1],
    }

    # GIVEN an upload whose Publish fails after its variants were rendered
    publish = next(
        r["PhysicalResourceId"]
        for r in pipeline.client("cloudformation").describe_stack_resources(
            StackName=pipeline.stack_name
        )["StackResources"]
        if r["LogicalResourceId"] == "PublishFunction"
    )
    key = "uploads/counted-fails.jpg"
    engine.faults.load(
        {
            "lambda": [
                {"function": publish, "payloadContains": key, "error": "PublishError", "next": 1}
            ]
        }
    )
    try:
        start_ms = int(time.time() * 1000)
        pid = pipeline.upload(key, photo(500, 400, "JPEG"))
        assert pipeline.wait_done(pid)["status"] == "FAILED"
    finally:
        engine.faults.clear()
    # THEN Notify counts an upload that failed (no variant bytes: none was published), and the
    # failure path's Withdraw its own line
    lines = _metric_lines(pipeline, start_ms)
    assert sorted(lines) == ["NotifyFunction", "PublishFunction"], lines
    [notified] = lines["NotifyFunction"]
    assert _values(notified) == {"Uploads": [1], "NotifiedFailed": [1]}
    [withdrawn] = lines["PublishFunction"]
    assert list(_values(withdrawn)) == ["Withdrawn"]


def test_a_duplicate_event_is_counted_by_register_alone(pipeline: Pipeline) -> None:
    # GIVEN an upload that succeeded
    pid = pipeline.upload("uploads/counted-twice.jpg", photo(400, 300, "JPEG"))
    record = pipeline.wait_done(pid)
    sfn = pipeline.client("stepfunctions")
    event = sfn.describe_execution(executionArn=record["executionArns"][-1])["input"]

    # WHEN S3's event for it is delivered again (at least once)
    start_ms = int(time.time() * 1000)
    again = sfn.start_execution(stateMachineArn=pipeline.outputs["StateMachineArn"], input=event)
    deadline = time.monotonic() + 60
    while pipeline.execution_status(again["executionArn"], sfn) == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.2)

    # THEN one line, Register's, counts a duplicate, and no second upload is counted
    lines = _metric_lines(pipeline, start_ms)
    assert list(lines) == ["RegisterFunction"] and len(lines["RegisterFunction"]) == 1, lines
    assert _values(lines["RegisterFunction"][0]) == {"DuplicateEvents": [1]}
