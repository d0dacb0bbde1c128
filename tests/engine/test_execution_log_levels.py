"""An Express state machine's execution log at each LoggingConfiguration level, as AWS writes it.

The developer guide's "Log levels" table: ALL logs every event; ERROR the failure events
(``ExecutionFailed``/``Aborted``/``TimedOut``, ``FailStateEntered``, ``TaskFailed``,
``*Failed``/``*Aborted``/``*TimedOut`` of tasks, Lambda functions, Map, Parallel, Wait); FATAL only
``ExecutionFailed``, ``ExecutionAborted`` and ``ExecutionTimedOut``; OFF nothing (and needs no
destination). Without IncludeExecutionData the state data, parameters and variables are left out.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers import wait_for

pytestmark = pytest.mark.engine

ROLE = "arn:aws:iam::123456789012:role/loglevels"
# A caught task failure (TaskFailed), then a Fail state: every kind of event ERROR keeps.
FAILING = {
    "StartAt": "Try",
    "States": {
        "Try": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "no-such-function", "Payload": {"secret": "p"}},
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Note"}],
            "End": True,
        },
        "Note": {"Type": "Pass", "Assign": {"noted.$": "$.failure.Error"}, "Next": "Give Up"},
        "Give Up": {"Type": "Fail", "Error": "GaveUp", "Cause": "caught and failed"},
    },
}
SUCCEEDING = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}


def _machine(engine: Any, definition: dict, level: str, *, data: bool = True) -> tuple[str, str]:
    group = f"/aws/vendedlogs/states/levels-{uuid.uuid4().hex[:8]}"
    logs = engine.client("logs")
    logs.create_log_group(logGroupName=group)
    arn = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["arn"]
    config: dict[str, Any] = {"level": level, "includeExecutionData": data}
    if level != "OFF":
        config["destinations"] = [{"cloudWatchLogsLogGroup": {"logGroupArn": arn}}]
    machine = engine.client("stepfunctions").create_state_machine(
        name=f"levels-{uuid.uuid4().hex[:8]}",
        definition=json.dumps(definition),
        roleArn=ROLE,
        type="EXPRESS",
        loggingConfiguration=config,
    )["stateMachineArn"]
    return machine, group


def _run(engine: Any, machine: str, group: str) -> list[dict]:
    """Start an execution, wait for its end (its Lambda task fails at once) and read its log."""
    sfn, logs = engine.client("stepfunctions"), engine.client("logs")
    arn = sfn.start_execution(stateMachineArn=machine, input='{"upload": "u1"}')["executionArn"]
    execution = next(e for e in _executions(engine, machine) if e.exec_arn == arn)
    wait_for(lambda: execution.exec_status.value != "RUNNING", timeout=20)
    time.sleep(0.2)  # the last event is delivered just after the status changes
    events = logs.filter_log_events(logGroupName=group).get("events", [])
    return [json.loads(e["message"]) for e in events]


def _executions(engine: Any, machine: str) -> list[Any]:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    backend = stepfunctions_parser_backends["123456789012"]["us-east-1"]
    return list(backend.describe_state_machine(machine).executions)


def test_all_logs_every_event_of_a_failed_execution(engine):
    machine, group = _machine(engine, FAILING, "ALL")
    kinds = [e["type"] for e in _run(engine, machine, group)]
    assert kinds[0] == "ExecutionStarted" and kinds[-1] == "ExecutionFailed"
    assert {"TaskStateEntered", "TaskScheduled", "PassStateExited"} <= set(kinds)


def test_error_logs_only_the_failure_events(engine):
    machine, group = _machine(engine, FAILING, "ERROR")
    kinds = [e["type"] for e in _run(engine, machine, group)]
    # THEN the task's failure, the Fail state and the execution's end; nothing that succeeded
    failures = {"TaskFailed", "LambdaFunctionFailed", "FailStateEntered", "ExecutionFailed"}
    assert set(kinds) <= failures
    assert {"FailStateEntered", "ExecutionFailed"} <= set(kinds)
    assert any(k in kinds for k in ("TaskFailed", "LambdaFunctionFailed"))


def test_error_logs_nothing_of_a_successful_execution(engine):
    machine, group = _machine(engine, SUCCEEDING, "ERROR")
    assert _run(engine, machine, group) == []


def test_fatal_logs_only_the_execution_failure(engine):
    machine, group = _machine(engine, FAILING, "FATAL")
    events = _run(engine, machine, group)
    assert [e["type"] for e in events] == ["ExecutionFailed"]
    assert events[0]["details"] == {"cause": "caught and failed", "error": "GaveUp"}


def test_off_needs_no_destination_and_logs_nothing(engine):
    machine, group = _machine(engine, FAILING, "OFF")
    assert _run(engine, machine, group) == []


def test_a_level_other_than_off_without_a_destination_is_refused(engine):
    sfn = engine.client("stepfunctions")
    for config in ({"level": "ERROR"}, {"level": "ALL", "destinations": []}):
        with pytest.raises(ClientError) as refused:
            sfn.create_state_machine(
                name=f"nodest-{uuid.uuid4().hex[:8]}",
                definition=json.dumps(SUCCEEDING),
                roleArn=ROLE,
                type="EXPRESS",
                loggingConfiguration=config,
            )
        assert refused.value.response["Error"]["Code"] == "InvalidLoggingConfiguration"
    machine, _ = _machine(engine, SUCCEEDING, "OFF")
    with pytest.raises(ClientError) as refused:
        sfn.update_state_machine(stateMachineArn=machine, loggingConfiguration={"level": "FATAL"})
    assert refused.value.response["Error"]["Code"] == "InvalidLoggingConfiguration"


def test_without_execution_data_errors_are_logged_without_state_data(engine):
    machine, group = _machine(engine, FAILING, "ALL", data=False)
    events = _run(engine, machine, group)
    details = [e.get("details", {}) for e in events]
    # THEN no input, output, task parameters or variables anywhere ...
    dropped = {"input", "output", "parameters", "assignedVariables", "inputDetails"}
    assert all(not (dropped & set(d)) for d in details), details
    # ... but the names, resources and the errors with their causes stay
    failed = next(e for e in events if e["type"] == "ExecutionFailed")["details"]
    assert failed == {"cause": "caught and failed", "error": "GaveUp"}
    scheduled = next(e for e in events if e["type"] == "TaskScheduled")["details"]
    assert scheduled["resource"] == "invoke" and "secret" not in json.dumps(events)
