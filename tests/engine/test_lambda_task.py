"""Lambda tasks (the function's ARN as ``Resource``) on the engine, as AWS runs them.

What AWS records is taken from histories recorded against AWS (LocalStack's snapshot tests
``error_handling/test_task_lambda`` and ``timeouts/test_timeouts``, 2024) and public reports
of its errors; see ``src/imgpipe/local/adapters/lambda_task.py``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import execution_ended

pytestmark = pytest.mark.engine


@pytest.fixture
def worker(engine: Any, test_stack: dict[str, str]) -> dict[str, str]:
    """The test stack's worker function and the role its state machine invokes it with."""
    function = engine.client("lambda").get_function(FunctionName=test_stack["WorkerFunctionName"])
    role = engine.client("stepfunctions").describe_state_machine(
        stateMachineArn=test_stack["StateMachineArn"]
    )["roleArn"]
    return {
        "arn": function["Configuration"]["FunctionArn"],
        "name": test_stack["WorkerFunctionName"],
        "role": role,
    }


@pytest.fixture
def no_faults(engine: Any) -> Iterator[None]:
    yield
    engine.faults.clear()


def _task(arn: str, **fields: Any) -> dict[str, Any]:
    return {"StartAt": "Call", "States": {"Call": {"Type": "Task", "Resource": arn, **fields}}}


def _run(engine: Any, role: str, definition: dict[str, Any], payload: Any) -> tuple[dict, list]:
    sfn = engine.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"lambda-task-{time.monotonic_ns()}", definition=json.dumps(definition), roleArn=role
    )["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps(payload))["executionArn"]
    described = execution_ended(sfn, arn, timeout=30)
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return described, events


def _task_events(events: list[dict]) -> list[dict]:
    return [e for e in events if e["type"].startswith("LambdaFunction")]


def test_result_is_the_return_value_and_the_history_has_lambda_function_events(engine, worker):
    # GIVEN a Lambda task whose Parameters build the event
    definition = _task(
        worker["arn"],
        Parameters={"action": "square", "value.$": "$.n"},
        ResultPath="$.squared",
        End=True,
    )
    # WHEN it runs
    described, events = _run(engine, worker["role"], definition, {"n": 7})
    # THEN the function got the effective input and its return value is the result, unwrapped
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == {"n": 7, "squared": 49}
    # AND the history records AWS's Lambda task events, each following the one before
    tasks = _task_events(events)
    assert [e["type"] for e in tasks] == [
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionSucceeded",
    ]
    assert [e["previousEventId"] for e in tasks[1:]] == [tasks[0]["id"], tasks[1]["id"]]
    scheduled = tasks[0]["lambdaFunctionScheduledEventDetails"]
    assert scheduled["resource"] == worker["arn"]
    assert json.loads(scheduled["input"]) == {"action": "square", "value": 7}
    # no TimeoutSeconds on the state: AWS records no timeoutInSeconds either
    assert "timeoutInSeconds" not in scheduled
    assert json.loads(tasks[2]["lambdaFunctionSucceededEventDetails"]["output"]) == 49
    assert not [e for e in events if e["type"].startswith("Task") and "State" not in e["type"]]


def test_function_error_is_its_error_type_with_the_payload_lambda_returned_as_cause(engine, worker):
    # GIVEN a Lambda task that catches the function's own exception by its class name
    definition = _task(
        worker["arn"],
        Catch=[{"ErrorEquals": ["WorkerRefused"], "ResultPath": "$.failure", "Next": "Caught"}],
        Next="Unreached",
    )
    definition["States"]["Caught"] = {"Type": "Succeed"}
    definition["States"]["Unreached"] = {"Type": "Fail", "Error": "NotCaught"}
    # WHEN the function raises it
    described, events = _run(engine, worker["role"], definition, {"key": "jobs/refuse/x"})
    # THEN the Catch matched it by name
    assert described["status"] == "SUCCEEDED", described
    failure = json.loads(described["output"])["failure"]
    assert failure["Error"] == "WorkerRefused"
    # AND the cause is the error payload as the runtime serialised it (AWS keeps it as it
    # came for a Lambda task; only lambda:invoke re-serialises it compactly)
    assert failure["Cause"].startswith('{"errorMessage": "refusing jobs/refuse/x", "errorType"')
    error = json.loads(failure["Cause"])
    assert error["errorType"] == "WorkerRefused" and error["requestId"] and error["stackTrace"]
    failed = _task_events(events)[-1]
    assert failed["type"] == "LambdaFunctionFailed"
    assert failed["lambdaFunctionFailedEventDetails"] == {
        "error": "WorkerRefused",
        "cause": failure["Cause"],
    }


def test_function_timeout_is_sandbox_timedout(engine, worker):
    # GIVEN the worker's 2 s Timeout WHEN a call outlives it
    described, events = _run(
        engine, worker["role"], _task(worker["arn"], End=True), {"key": "jobs/slow/x"}
    )
    # THEN it is a function error named Sandbox.Timedout, not a state timeout
    assert described["status"] == "FAILED"
    assert described["error"] == "Sandbox.Timedout"
    assert "Task timed out after 2.00 seconds" in described["cause"]
    assert _task_events(events)[-1]["type"] == "LambdaFunctionFailed"


def test_timeout_seconds_ends_the_task_as_lambda_function_timed_out(engine, worker):
    # GIVEN TimeoutSeconds 1 on the state, shorter than the call
    definition = _task(worker["arn"], TimeoutSeconds=1, End=True)
    # WHEN it runs past it
    described, events = _run(engine, worker["role"], definition, {"key": "jobs/slow/y"})
    # THEN AWS's events: the timeout in the scheduled event, LambdaFunctionTimedOut, States.Timeout
    assert described["status"] == "FAILED" and described["error"] == "States.Timeout"
    tasks = _task_events(events)
    assert tasks[0]["lambdaFunctionScheduledEventDetails"]["timeoutInSeconds"] == 1
    assert tasks[-1]["type"] == "LambdaFunctionTimedOut"
    assert tasks[-1]["lambdaFunctionTimedOutEventDetails"] == {"error": "States.Timeout"}


def test_throttled_invoke_is_lambda_too_many_requests_and_is_retried(engine, worker, no_faults):
    # GIVEN Lambda answering the first Invoke with its 429
    rule = {"function": worker["name"], "error": "Lambda.TooManyRequestsException"}
    engine.faults.load({"lambda": [rule | {"next": 1, "payloadContains": "throttled"}]})
    definition = _task(
        worker["arn"],
        Parameters={"action": "square", "value": 3, "tag": "throttled"},
        Retry=[
            {
                "ErrorEquals": ["Lambda.TooManyRequestsException"],
                "IntervalSeconds": 1,
                "MaxAttempts": 1,
            }
        ],
        End=True,
    )
    # WHEN the task runs
    described, events = _run(engine, worker["role"], definition, {})
    # THEN the retrier matched the error by its name and the second attempt succeeded
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == 9
    tasks = _task_events(events)
    assert [e["type"] for e in tasks] == [
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionFailed",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionSucceeded",
    ]
    failed = tasks[2]["lambdaFunctionFailedEventDetails"]
    assert failed["error"] == "Lambda.TooManyRequestsException"
    assert failed["cause"].startswith(
        "Rate Exceeded. (Service: AWSLambda; Status Code: 429; "
        "Error Code: TooManyRequestsException; Request ID: "
    )
    assert failed["cause"].endswith("; Proxy: null)")


def test_invoke_the_role_does_not_allow_is_lambda_aws_lambda_exception(engine, worker):
    # GIVEN a state machine role with no grant at all
    iam = engine.client("iam")
    role = iam.create_role(
        RoleName=f"no-invoke-{time.monotonic_ns()}",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "states.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    # WHEN its Lambda task runs
    described, events = _run(
        engine,
        role,
        _task(worker["arn"], Parameters={"action": "square", "value": 2}, End=True),
        {},
    )
    # THEN Lambda's AccessDenied (an error code Invoke does not model) is Lambda.AWSLambdaException
    assert described["status"] == "FAILED"
    assert described["error"] == "Lambda.AWSLambdaException"
    assert "is not authorized to perform: lambda:InvokeFunction" in described["cause"]
    assert (
        "(Service: AWSLambda; Status Code: 403; Error Code: AccessDeniedException;"
        in (described["cause"])
    )
    assert _task_events(events)[-1]["type"] == "LambdaFunctionFailed"


def test_express_log_records_the_lambda_function_events_without_a_payload_wrapper(engine, worker):
    # GIVEN an Express machine logging ALL with execution data
    logs, sfn = engine.client("logs"), engine.client("stepfunctions")
    group = f"/aws/vendedlogs/states/lambda-task-{time.monotonic_ns()}"
    logs.create_log_group(logGroupName=group)
    group_arn = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["arn"]
    machine = sfn.create_state_machine(
        name=f"lambda-task-express-{time.monotonic_ns()}",
        type="EXPRESS",
        roleArn=worker["role"],
        definition=json.dumps(
            _task(worker["arn"], Parameters={"action": "square", "value": 5}, End=True)
        ),
        loggingConfiguration={
            "level": "ALL",
            "includeExecutionData": True,
            "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": group_arn}}],
        },
    )["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]

    def logged() -> list[dict]:
        events = logs.filter_log_events(logGroupName=group)["events"]
        return [json.loads(e["message"]) for e in events if f'"{arn}"' in e["message"]]

    deadline = time.monotonic() + 30
    while not any(e["type"] == "ExecutionSucceeded" for e in logged()):
        assert time.monotonic() < deadline, logged()
        time.sleep(0.2)
    # THEN the log has the Lambda task's events, the result being the bare return value
    by_type = {e["type"]: e for e in logged()}
    assert {"LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded"} <= set(
        by_type
    )
    assert by_type["LambdaFunctionScheduled"]["details"] == {
        "input": '{"action":"square","value":5}',
        "inputDetails": {"truncated": False},
        "resource": worker["arn"],
    }
    assert by_type["LambdaFunctionSucceeded"]["details"]["output"] == "25"
    assert "Payload" not in json.dumps(logged())
