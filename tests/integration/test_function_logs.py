"""What the functions write to CloudWatch Logs for a successful upload, at the default level."""

from __future__ import annotations

import contextlib
import json
import time

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
    logs = pipeline.client("logs")
    messages: list[str] = []
    for name in functions:
        pages = logs.get_paginator("filter_log_events").paginate(
            logGroupName=f"/aws/lambda/{name}", startTime=start_ms
        )
        with contextlib.suppress(logs.exceptions.ResourceNotFoundException):  # never invoked
            for page in pages:
                messages += [event["message"] for event in page["events"]]
    reports = [m for m in messages if m.startswith("REPORT RequestId:")]
    assert len(reports) >= 8  # Register, Validate, a Resize per variant, Publish, Notify
    own = [m for m in messages if not m.startswith(PLATFORM)]
    assert own, "the metrics are logged"
    for message in own:
        line = json.loads(message)
        assert "_aws" in line or line["level"] in ("WARNING", "ERROR", "CRITICAL"), line
