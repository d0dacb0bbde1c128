"""RedriveExecution as AWS reports it: the count and date on DescribeExecution and
ListExecutions, the redrive status, and one history from the first run to the redriven end."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.helpers import execution_ended, states_role

pytestmark = [pytest.mark.engine, pytest.mark.xdist_group("redrive")]


@pytest.fixture(scope="module")
def machine(engine: Any) -> dict[str, str]:
    """A state machine whose role may not yet read the table its task reads."""
    name = f"redrive-{uuid.uuid4().hex[:8]}"
    dynamodb, iam, sfn = (engine.client(s) for s in ("dynamodb", "iam", "stepfunctions"))
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    role = states_role(iam, name)
    definition = {
        "StartAt": "Start",
        "States": {
            "Start": {"Type": "Pass", "Result": {"k": "flag"}, "Next": "Read"},
            "Read": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:getItem",
                "Parameters": {"TableName": name, "Key": {"k": {"S.$": "$.k"}}},
                "Next": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }
    arn = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=role)[
        "stateMachineArn"
    ]
    return {"name": name, "arn": arn}


def _grant_read(engine: Any, name: str) -> None:
    table_arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{name}"
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": table_arn}],
    }
    engine.client("iam").put_role_policy(
        RoleName=name, PolicyName="read", PolicyDocument=json.dumps(policy)
    )


def test_a_redriven_execution_reports_its_redrives_and_keeps_one_history(
    engine: Any, machine: dict[str, str]
) -> None:
    sfn = engine.client("stepfunctions")
    # GIVEN an execution that failed: its role may not read the table
    arn = sfn.start_execution(stateMachineArn=machine["arn"])["executionArn"]
    failed = execution_ended(sfn, arn)
    assert failed["status"] == "FAILED" and "AccessDenied" in failed["error"], failed
    # THEN before any redrive it counts none and can be redriven
    assert failed["redriveCount"] == 0
    assert failed["redriveStatus"] == "REDRIVABLE"
    assert "redriveDate" not in failed
    # WHEN the cause is fixed and it is redriven
    _grant_read(engine, machine["name"])
    redriven_at = sfn.redrive_execution(executionArn=arn)["redriveDate"]
    again = execution_ended(sfn, arn)
    # THEN it succeeded, counting one redrive at the date the redrive returned
    assert again["status"] == "SUCCEEDED", again
    assert again["redriveCount"] == 1
    assert again["redriveDate"] == redriven_at
    assert again["redriveStatus"] == "NOT_REDRIVABLE"
    assert "SUCCEEDED" in again["redriveStatusReason"]
    assert "error" not in again and "cause" not in again
    # AND ListExecutions shows the same count and date
    (listed,) = [
        e
        for e in sfn.list_executions(stateMachineArn=machine["arn"])["executions"]
        if e["executionArn"] == arn
    ]
    assert (listed["redriveCount"], listed["redriveDate"]) == (1, redriven_at)
    redriven_only = sfn.list_executions(stateMachineArn=machine["arn"], redriveFilter="REDRIVEN")
    assert [e["executionArn"] for e in redriven_only["executions"]] == [arn]
    # AND the history is one: the first run, its failure, ExecutionRedriven, then the rest
    events = sfn.get_execution_history(executionArn=arn)["events"]
    types = [e["type"] for e in events]
    assert types[0] == "ExecutionStarted"
    assert types.count("ExecutionFailed") == 1
    redriven = types.index("ExecutionRedriven")
    assert types.index("ExecutionFailed") < redriven < types.index("ExecutionSucceeded")
    assert events[redriven]["executionRedrivenEventDetails"] == {"redriveCount": 1}
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    # AND the redrive started again at the state that failed, not at the start
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")
    ]
    assert entered == ["Start", "Read", "Read", "Done"]
