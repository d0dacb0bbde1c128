"""adapters/express.log_message: a history event as Step Functions writes it to CloudWatch Logs."""

from __future__ import annotations

import json

from imgpipe.local.adapters.express import log_message

ARN = "arn:aws:states:us-east-1:123456789012:express:pipeline:e1:0b1c"


def _message(kind: str, details: dict, *, data: bool = True) -> str:
    return log_message(
        kind,
        details,
        event_id="3",
        previous="2",
        millis=1767225600110,
        execution_arn=ARN,
        include_execution_data=data,
    )


def test_a_task_event_is_compact_json_in_aws_key_order():
    # GIVEN a TaskScheduled whose parameters the interpreter serialised with spaces
    details = {
        "resourceType": "lambda",
        "resource": "invoke",
        "region": "us-east-1",
        "parameters": '{"FunctionName": "f", "Payload": {"job": {"attempt": 1}}}',
    }
    message = _message("TaskScheduled", details)
    # THEN it is one compact JSON object, keys in the order AWS writes them, details sorted,
    # and the state data inside it compact too
    assert message == (
        '{"details":{"parameters":"{\\"FunctionName\\":\\"f\\",\\"Payload\\":{\\"job\\":'
        '{\\"attempt\\":1}}}","region":"us-east-1","resource":"invoke","resourceType":"lambda"},'
        '"redrive_count":"0","id":"3","type":"TaskScheduled","previous_event_id":"2",'
        f'"event_timestamp":"1767225600110","execution_arn":"{ARN}"}}'
    )


def test_assigned_variables_are_logged_compact_and_the_execution_input_as_given():
    exited = {
        "name": "Register Upload",
        "output": '{"duplicate": false}',
        "assignedVariables": {"job": '{"processingId": "p1"}', "mode": '"keep"'},
        "assignedVariablesDetails": {"truncated": False},
    }
    details = json.loads(_message("TaskStateExited", exited))["details"]
    assert details["output"] == '{"duplicate":false}'
    assert details["assignedVariables"] == {"job": '{"processingId":"p1"}', "mode": '"keep"'}
    # The execution's input is the caller's string: Step Functions does not re-serialise it
    started = {"input": '{"a": 1}', "roleArn": "r"}
    assert json.loads(_message("ExecutionStarted", started))["details"]["input"] == '{"a": 1}'


def test_without_execution_data_no_state_data_parameters_or_variables_are_logged():
    scheduled = {"resource": "invoke", "resourceType": "lambda", "region": "r", "parameters": "{}"}
    exited = {
        "name": "S",
        "output": "{}",
        "outputDetails": {"truncated": False},
        "assignedVariables": {"x": "1"},
        "assignedVariablesDetails": {"truncated": False},
    }
    assert json.loads(_message("TaskScheduled", scheduled, data=False))["details"] == {
        "region": "r",
        "resource": "invoke",
        "resourceType": "lambda",
    }
    assert json.loads(_message("TaskStateExited", exited, data=False))["details"] == {"name": "S"}
