"""ASL variables (Assign, ``$name``) on the engine: moto's interpreter reads them via JSONata."""

from __future__ import annotations

import json

import pytest

from tests.helpers import execution_ended

pytestmark = pytest.mark.engine

# Pass, Choice, Map and a failing Pass caught: the reads the pipeline's ASL relies on.
DEFINITION = {
    "StartAt": "Assign Job",
    "States": {
        "Assign Job": {
            "Type": "Pass",
            "Result": {"id": "p1", "attempt": 2, "names": ["a", "b"]},
            "Assign": {"job.$": "$", "mode": "keep"},
            "ResultPath": None,
            "Next": "Keep?",
        },
        "Keep?": {
            "Type": "Choice",
            "Choices": [{"Variable": "$mode", "StringEquals": "keep", "Next": "Each Name"}],
            "Default": "Unreachable Unless Mode Changes",
        },
        "Unreachable Unless Mode Changes": {"Type": "Fail", "Error": "WrongBranch"},
        "Each Name": {
            "Type": "Map",
            "ItemsPath": "$job.names",
            "ItemSelector": {"name.$": "$$.Map.Item.Value"},
            "ItemProcessor": {
                "StartAt": "Read Outer",
                "States": {
                    "Read Outer": {
                        "Type": "Pass",
                        "Parameters": {"name.$": "$.name", "id.$": "$job.id"},
                        "End": True,
                    }
                },
            },
            "Assign": {"each.$": "$"},
            "OutputPath": None,
            "Next": "Fail And Catch",
        },
        "Fail And Catch": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "no-such-function", "Payload": {}},
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Use"}],
            "End": True,
        },
        "Use": {
            "Type": "Pass",
            "Parameters": {
                "key.$": "States.Format('{}#{}', $job.id, $job.attempt)",
                "each.$": "$each",
                "error.$": "$.failure.Error",
            },
            "End": True,
        },
    },
}


def test_variables_are_read_in_parameters_choices_maps_intrinsics_and_after_a_catch(engine):
    sfn = engine.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="variables",
        definition=json.dumps(DEFINITION),
        roleArn="arn:aws:iam::123456789012:role/variables",
    )["stateMachineArn"]
    # WHEN it runs
    arn = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    described = execution_ended(sfn, arn, timeout=10)
    # THEN every read saw the assigned values: the Choice took the assigned mode, each Map
    # iteration read the outer $job, the intrinsic formatted two of its fields, and after the
    # Catch the variables assigned before the failure were still there
    assert described["status"] == "SUCCEEDED", described.get("cause")
    output = json.loads(described["output"])
    assert output.pop("error").startswith("Lambda.")  # the caught failure's own error
    assert output == {"key": "p1#2", "each": [{"name": "a", "id": "p1"}, {"name": "b", "id": "p1"}]}
    # AND the history records each assignment once, as compact JSON, where it happened
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    assigned = {
        e["stateExitedEventDetails"]["name"]: e["stateExitedEventDetails"]["assignedVariables"]
        for e in events
        if e.get("stateExitedEventDetails", {}).get("assignedVariables")
    }
    assert assigned == {
        "Assign Job": {"job": '{"id":"p1","attempt":2,"names":["a","b"]}', "mode": '"keep"'},
        "Each Name": {"each": '[{"name":"a","id":"p1"},{"name":"b","id":"p1"}]'},
    }
