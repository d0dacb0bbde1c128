"""ExecutionLogLevel / ExecutionLogData through the real event path: what is logged, what a trace
says when an execution was not logged, and that status and re-runs never need the log."""

from __future__ import annotations

import json

import pytest

from imgpipe_core.api.models import ApiError, TraceResponse
from tests.integration.conftest import Pipeline, deploy_pipeline, embedded_only, photo

pytestmark = [pytest.mark.engine, pytest.mark.xdist_group("express")]
QUIET = {"WorkflowType": "EXPRESS", "ExecutionLogLevel": "ERROR", "ExecutionLogData": "false"}


@pytest.fixture(scope="module")
def quiet(engine) -> Pipeline:
    return deploy_pipeline(engine, "loglevel", QUIET)


def _logged(pipeline: Pipeline, arn: str) -> list[dict]:
    return [json.loads(m) for m in pipeline.logged(arn)]


def _api_trace(pipeline: Pipeline, pid: str, level: str) -> TraceResponse:
    from imgpipe_core.api.images import trace
    from imgpipe_core.config import Settings

    settings = Settings.model_validate(
        {
            "TABLE_NAME": pipeline.table,
            "PIPELINE_LOG_GROUP": pipeline.log_group,
            "PIPELINE_LOG_LEVEL": level,
        }
    )
    return trace(settings, pid)


def _logging(pipeline: Pipeline) -> dict:
    sfn = pipeline.client("stepfunctions")
    machine = sfn.describe_state_machine(stateMachineArn=pipeline.outputs["StateMachineArn"])
    return dict(machine["loggingConfiguration"])


def test_at_error_a_success_is_not_logged_and_its_trace_says_so(
    quiet: Pipeline, capsys: pytest.CaptureFixture
) -> None:
    # GIVEN an Express stack at ExecutionLogLevel=ERROR without execution data
    assert _logging(quiet)["level"] == "ERROR"
    assert _logging(quiet)["includeExecutionData"] is False
    # WHEN an upload succeeds
    pid = quiet.upload("uploads/quiet.jpg", photo(500, 400, "JPEG"))
    record = quiet.wait_done(pid)
    assert record["status"] == "SUCCEEDED", record
    # THEN nothing of its execution is in the log
    assert _logged(quiet, record["executionArns"][-1]) == []
    # AND the CLI's trace says why, and how to change it, instead of an empty timeline
    capsys.readouterr()
    assert quiet.cli("trace", pid) != 0
    said = capsys.readouterr().err
    assert "not logged" in said and "ExecutionLogLevel=ERROR" in said
    assert "ExecutionLogLevel=ALL" in said
    # AND so does the API behind the web page's trace
    with pytest.raises(ApiError) as refused:
        _api_trace(quiet, pid, "ERROR")
    assert refused.value.code == "EXECUTION_NOT_LOGGED" and "ERROR" in refused.value.message
    # AND status and a re-run work without the log
    assert quiet.cli("status", pid) == 0
    assert quiet.cli("rerun", pid, "--wait", "--timeout", "90") == 0
    assert quiet.wait_done(pid, attempt=2)["status"] == "SUCCEEDED"


@embedded_only("the fault plan acts on the embedded engine's own adapters")
def test_at_error_a_failure_is_traced_from_its_failure_events_without_data(
    engine, quiet: Pipeline, capsys: pytest.CaptureFixture
) -> None:
    resources = quiet.client("cloudformation").describe_stack_resources(StackName=quiet.stack_name)[
        "StackResources"
    ]
    publish = next(
        r["PhysicalResourceId"] for r in resources if r["LogicalResourceId"] == "PublishFunction"
    )
    key = "uploads/quiet-fails.jpg"
    # GIVEN Publish failing for good for this upload
    rule = {"function": publish, "payloadContains": key, "error": "PublishError", "next": 1}
    engine.faults.load({"lambda": [rule]})
    try:
        pid = quiet.upload(key, photo(500, 400, "JPEG"))
        record = quiet.wait_done(pid)
    finally:
        engine.faults.clear()
    assert record["status"] == "FAILED" and record["error"] == "PublishError", record
    # THEN the log holds the failure events only, without state data
    logged = _logged(quiet, record["executionArns"][-1])
    kinds = {e["type"] for e in logged}
    assert {"FailStateEntered", "ExecutionFailed"} <= kinds
    assert not kinds & {"ExecutionStarted", "TaskStateEntered", "TaskSucceeded"}
    assert all("input" not in e.get("details", {}) for e in logged)
    # AND the trace shows what was logged, labelled with the level
    capsys.readouterr()
    assert quiet.cli("trace", pid, "--json") == 0
    trace = json.loads(capsys.readouterr().out)
    assert trace["status"] == "FAILED" and trace["logLevel"] == "ERROR"
    assert "Processing Failed" in [s["name"] for s in trace["states"]]
    assert trace["error"] == "ImageProcessingFailed" and "PublishError" in trace["cause"]
    response = _api_trace(quiet, pid, "ERROR")
    assert response.status == "FAILED" and response.log_level == "ERROR"
    assert "PublishError" in (response.cause or "")


def test_an_update_that_omits_the_log_parameters_reverts_them_and_off_logs_nothing(
    engine, capsys: pytest.CaptureFixture
) -> None:
    # GIVEN an Express stack at ERROR without data
    pipeline = deploy_pipeline(engine, "loglevel-update", QUIET)
    assert _logging(pipeline)["level"] == "ERROR"
    # WHEN it is updated naming only WorkflowType (UpdateStack without UsePreviousValue)
    pipeline = deploy_pipeline(engine, "loglevel-update", {"WorkflowType": "EXPRESS"})
    # THEN the omitted parameters are back at their defaults, as on AWS: ALL with data
    parameters = {
        p["ParameterKey"]: p["ParameterValue"]
        for p in pipeline.client("cloudformation").describe_stacks(StackName=pipeline.stack_name)[
            "Stacks"
        ][0]["Parameters"]
    }
    assert (parameters["ExecutionLogLevel"], parameters["ExecutionLogData"]) == ("Default", "true")
    assert _logging(pipeline)["level"] == "ALL" and _logging(pipeline)["includeExecutionData"]
    pid = pipeline.upload("uploads/loud.jpg", photo(400, 300, "JPEG"))
    record = pipeline.wait_done(pid)
    logged = _logged(pipeline, record["executionArns"][-1])
    assert logged[0]["type"] == "ExecutionStarted" and "input" in logged[0]["details"]
    # WHEN it is updated to OFF: the state machine has no destination and logs nothing
    pipeline = deploy_pipeline(
        engine, "loglevel-update", {"WorkflowType": "EXPRESS", "ExecutionLogLevel": "OFF"}
    )
    assert _logging(pipeline) in ({"level": "OFF"}, {"level": "OFF", "includeExecutionData": True})
    pid = pipeline.upload("uploads/silent.jpg", photo(400, 300, "JPEG"))
    record = pipeline.wait_done(pid)
    assert record["status"] == "SUCCEEDED" and _logged(pipeline, record["executionArns"][-1]) == []
    capsys.readouterr()
    assert pipeline.cli("trace", pid) != 0
    assert "ExecutionLogLevel=OFF" in capsys.readouterr().err


@embedded_only("cost reads the embedded engine's request counter and execution record")
def test_cost_measures_a_quiet_stack_from_what_ran_and_its_log_bytes_from_the_log(
    quiet: Pipeline,
) -> None:
    from imgpipe.commands import cost
    from imgpipe_core.catalogue import load_catalogue

    # WHEN `imgpipe cost`'s measurement runs one upload on the stack at ERROR
    measured = cost.measure_pipeline(
        quiet.engine, quiet.stack_name, quiet.outputs, "jpeg", photo(800, 600, "JPEG"), 1
    )
    assert measured.extra["statuses"] == ["SUCCEEDED"]
    # THEN transitions and duration come from the execution the engine ran (the log has none)
    # and the execution log Express would bill is empty
    assert measured.usage.transitions >= 8 + len(load_catalogue().names)
    assert 0 < measured.execution_s < 300 and measured.usage.express_log_bytes == 0


def test_a_standard_stack_at_off_has_no_log_destination_and_an_update_restores_its_default(
    engine, capsys: pytest.CaptureFixture
) -> None:
    # GIVEN a Standard stack deployed with ExecutionLogLevel=OFF
    pipeline = deploy_pipeline(engine, "loglevel-standard", {"ExecutionLogLevel": "OFF"})
    # THEN its state machine logs nothing and names no destination
    assert _logging(pipeline)["level"] == "OFF"
    assert not _logging(pipeline).get("destinations")
    # AND an upload is processed and traced from Step Functions' history all the same
    pid = pipeline.upload("uploads/standard-off.jpg", photo(400, 300, "JPEG"))
    assert pipeline.wait_done(pid)["status"] == "SUCCEEDED"
    capsys.readouterr()
    assert pipeline.cli("trace", pid, "--json") == 0
    assert "Publish Variants" in [s["name"] for s in json.loads(capsys.readouterr().out)["states"]]
    # WHEN it is updated without the parameter, it is back at the Standard default: ERROR
    pipeline = deploy_pipeline(engine, "loglevel-standard", {})
    logging = _logging(pipeline)
    assert logging["level"] == "ERROR" and len(logging["destinations"]) == 1
    assert logging["includeExecutionData"] is False
