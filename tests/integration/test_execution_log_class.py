"""ExecutionLogClass through the real event path: the Express execution log in an Infrequent
Access group (the default) is read through Logs Insights, its traces equal what FilterLogEvents
gives on a Standard group, the engine refuses FilterLogEvents there, and a stack update that
switches the class replaces the group as CloudFormation does."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from imgpipe.local import api_server
from imgpipe_core import executions
from imgpipe_core.trace import build_timeline
from tests.integration.conftest import (
    Pipeline,
    deploy_pipeline,
    embedded_only,
    localstack_xfail,
    photo,
    too_big_for_128_mb,
)
from tests.integration.test_least_privilege import template_without

pytestmark = [
    pytest.mark.engine,
    pytest.mark.xdist_group("express"),
    embedded_only("Express as adapters/express.py runs it: AWS's log format, log classes"),
]
EXPRESS = {"WorkflowType": "EXPRESS"}
# A rejection is data: its execution succeeds; a failure's execution fails after its Catch.
EXECUTION_STATUS = {"succeeded": "SUCCEEDED", "rejected": "SUCCEEDED", "failed": "FAILED"}


def _class_of(pipeline: Pipeline, group: str) -> str | None:
    found = pipeline.client("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    return next((g.get("logGroupClass") for g in found if g["logGroupName"] == group), None)


def _three_outcomes(pipeline: Pipeline, tag: str) -> dict[str, dict]:
    """A succeeded, a rejected and a failed (Resize out of memory) upload: their records."""
    done = {}
    pid = pipeline.upload(f"uploads/{tag}-ok.jpg", photo(900, 600, "JPEG"))
    done["succeeded"] = pipeline.wait_done(pid)
    pid = pipeline.upload(f"uploads/{tag}-rejected.txt", b"not an image at all")
    done["rejected"] = pipeline.wait_done(pid)
    resources = pipeline.client("cloudformation").describe_stack_resources(
        StackName=pipeline.stack_name
    )["StackResources"]
    resize = next(
        r["PhysicalResourceId"] for r in resources if r["LogicalResourceId"] == "ResizeFunction"
    )
    lam = pipeline.client("lambda")
    lam.update_function_configuration(FunctionName=resize, MemorySize=128)
    try:
        pid = pipeline.upload(f"uploads/{tag}-failed.png", too_big_for_128_mb())
        done["failed"] = pipeline.wait_done(pid)
    finally:
        lam.update_function_configuration(FunctionName=resize, MemorySize=2048)
    assert [r["status"] for r in done.values()] == ["SUCCEEDED", "REJECTED", "FAILED"]
    return done


def _trace(pipeline: Pipeline, record: dict) -> tuple[dict, list[dict]]:
    """As `imgpipe trace` and the API read it: Logs Insights around the record's updatedAt."""
    return executions.read(
        record["executionArns"][-1],
        log_group=pipeline.log_group,
        around=record["updatedAt"],
        logs=pipeline.client("logs"),
    )


def _shape(described: dict, events: list[dict], *, exact: bool = True) -> tuple[Any, ...]:
    """What a trace shows, without what differs between two executions (ids, times, ARNs):
    status, error, every state with its retries and error, and the count of each event type.
    Not ``exact`` (a failed Map: its iterations reach the failure in any order, so how many
    fail, are aborted or finish, and with which events, varies by run): which states ran and
    how the execution ended (an iteration's own failure may even be logged after it)."""
    spans = [(s.name, s.retries, s.error or "") for s in build_timeline(events)]
    if not exact:
        return described["status"], described.get("error"), {name for name, _, _ in spans}
    kinds = Counter(e["type"] for e in events)
    return described["status"], described.get("error"), sorted(spans), kinds


def _api_trace(pipeline: Pipeline, pid: str) -> dict:
    """GET /images/{pid}/trace through the deployed API function, with its own role."""
    event = api_server.to_event(
        "GET", f"/images/{pid}/trace", {}, b"", host="127.0.0.1", source_ip="127.0.0.1"
    )
    response = pipeline.client("lambda").invoke(
        FunctionName=pipeline.outputs["ApiFunctionName"], Payload=json.dumps(event).encode()
    )
    return dict(json.loads(response["Payload"].read()))


def test_traces_read_through_insights_on_ia_equal_filter_log_events_on_standard(
    engine: Any,
) -> None:
    # GIVEN an Express stack at the default class: its log group is Infrequent Access
    ia = deploy_pipeline(engine, "logclass", EXPRESS)
    ia_group = ia.log_group
    assert ia_group.endswith("-pipeline-ia") and _class_of(ia, ia_group) == "INFREQUENT_ACCESS"
    # WHEN a succeeded, a rejected and a failed upload run
    on_ia = _three_outcomes(ia, "ia")
    traced_ia = {outcome: _trace(ia, record) for outcome, record in on_ia.items()}
    # THEN each is traced through Logs Insights, every event of its execution there
    for outcome, (described, events) in traced_ia.items():
        assert described["status"] == EXECUTION_STATUS[outcome], outcome
        assert events[0]["type"] == "ExecutionStarted" and len(events) > 10, outcome
    # AND the engine refuses FilterLogEvents and GetLogEvents there, as AWS does
    logs = ia.client("logs")
    for call in (
        lambda: logs.filter_log_events(logGroupName=ia_group),
        lambda: logs.get_log_events(logGroupName=ia_group, logStreamName="any"),
    ):
        with pytest.raises(ClientError) as refused:
            call()
        assert refused.value.response["Error"]["Code"] == "InvalidOperationException"
    # AND the deployed API function reads the trace with its own role (StartQuery granted)
    answer = _api_trace(ia, on_ia["succeeded"]["processingId"])
    assert answer.get("statusCode") == 200, answer
    assert json.loads(answer["body"])["status"] == "SUCCEEDED"

    # WHEN the stack is updated to ExecutionLogClass=STANDARD
    standard = deploy_pipeline(engine, "logclass", {**EXPRESS, "ExecutionLogClass": "STANDARD"})
    group = standard.log_group
    # THEN the group was replaced (a class cannot change): a Standard group under the old name,
    # the IA one deleted with the stack's UpdateReplacePolicy, the state machine moved over
    assert group == ia_group.removesuffix("-ia") and _class_of(standard, group) == "STANDARD"
    assert _class_of(standard, ia_group) is None
    on_standard = _three_outcomes(standard, "std")
    for outcome, record in on_standard.items():
        arn = record["executionArns"][-1]
        described, events = _trace(standard, record)
        # AND on Standard, the Insights trace is exactly what FilterLogEvents gives
        pages = logs.get_paginator("filter_log_events").paginate(logGroupName=group)
        raw = [
            executions.history_event(json.loads(e["message"]))
            for page in pages
            for e in page["events"]
            if json.loads(e["message"])["execution_arn"] == arn
        ]
        assert events == sorted(raw, key=lambda e: e["id"]), outcome
        # AND the IA stack's trace of the same outcome shows the same states and events
        exact = outcome != "failed"
        assert _shape(described, events, exact=exact) == _shape(*traced_ia[outcome], exact=exact), (
            outcome
        )
    # AND the API function, its grants now on the new group, traces on Standard too
    answer = _api_trace(standard, on_standard["rejected"]["processingId"])
    assert answer.get("statusCode") == 200, answer
    body = json.loads(answer["body"])
    assert body["status"] == "SUCCEEDED"  # the execution: a rejection is its data
    assert "Notify Rejection" in [state["name"] for state in body["states"]]
    # AND what the IA group held went with it: its traces are gone, not wrong
    with pytest.raises(executions.ExecutionGone):
        _trace(standard, on_ia["succeeded"])


@localstack_xfail("the community edition does not evaluate IAM policies")
def test_the_api_without_start_query_cannot_trace_an_express_upload(
    engine: Any, tmp_path: Path
) -> None:
    # GIVEN the API function may not logs:StartQuery on the execution log group
    template = template_without(tmp_path, "ApiFunction", "logs:StartQuery")
    pipeline = deploy_pipeline(engine, "logclass-lp", EXPRESS, template=template)
    pid = pipeline.upload("uploads/lp.jpg", photo(400, 300, "JPEG"))
    assert pipeline.wait_done(pid)["status"] == "SUCCEEDED"
    # WHEN its trace is asked for, THEN Logs Insights refuses the query: the function fails
    # (API Gateway answers 500), it never makes up a trace
    answer = _api_trace(pipeline, pid)
    assert "statusCode" not in answer, answer
    assert "AccessDeniedException" in answer["errorMessage"]
    assert "logs:StartQuery" in answer["errorMessage"]
