"""Distributed Map on the engine as AWS runs it: ItemReader and ResultWriter under the state
machine's role, ToleratedFailurePercentage, result files, Map Run item counts."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.helpers import execution_ended, states_role

pytestmark = [pytest.mark.engine, pytest.mark.xdist_group("distributed-map")]

ITEMS = [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}]  # the child fails for n == 3


def definition(tolerated: float | None, items_key: str = "items/all.json") -> str:
    map_state: dict[str, Any] = {
        "Type": "Map",
        "ItemReader": {
            "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": {"InputType": "JSON"},
            "Parameters": {"Bucket.$": "$.bucket", "Key": items_key},
        },
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "Check",
            "States": {
                "Check": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.n", "NumericEquals": 3, "Next": "Boom"}],
                    "Default": "Fine",
                },
                "Boom": {"Type": "Fail", "Error": "Boom", "Cause": "three"},
                "Fine": {"Type": "Succeed"},
            },
        },
        "ResultWriter": {
            "Resource": "arn:aws:states:::s3:putObject",
            "Parameters": {"Bucket.$": "$.bucket", "Prefix": "results"},
        },
        "End": True,
    }
    if tolerated is not None:
        map_state["ToleratedFailurePercentage"] = tolerated
    return json.dumps({"StartAt": "Each", "States": {"Each": map_state}})


@pytest.fixture(scope="module")
def setup(engine: Any) -> dict[str, str]:
    bucket = f"dmap-{uuid.uuid4().hex[:8]}"
    s3, iam = engine.client("s3"), engine.client("iam")
    s3.create_bucket(Bucket=bucket)
    for key in ("items/all.json", "secret/all.json"):
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(ITEMS).encode())
    role = states_role(iam, bucket)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/items/*",
            },
            {
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/results/*",
            },
        ],
    }
    iam.put_role_policy(RoleName=bucket, PolicyName="map", PolicyDocument=json.dumps(policy))
    return {"bucket": bucket, "role": role}


def run(engine: Any, setup: dict[str, str], text: str) -> tuple[dict, Any]:
    sfn = engine.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"dmap-{uuid.uuid4().hex[:8]}", definition=text, roleArn=setup["role"]
    )["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps(setup))["executionArn"]
    return execution_ended(sfn, arn), sfn


def read(engine: Any, bucket: str, key: str) -> Any:
    return json.loads(engine.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def test_failures_within_the_tolerated_percentage_succeed_and_are_written_out(
    engine: Any, setup: dict[str, str]
) -> None:
    # WHEN one child of four fails under ToleratedFailurePercentage 50
    described, sfn = run(engine, setup, definition(50))
    # THEN the execution succeeds, and its output points at the ResultWriter's manifest
    assert described["status"] == "SUCCEEDED", described
    details = json.loads(described["output"])["ResultWriterDetails"]
    manifest = read(engine, details["Bucket"], details["Key"])
    assert details["Key"].startswith("results/") and details["Key"].endswith("/manifest.json")
    # AND SUCCEEDED_0.json lists the three that succeeded, FAILED_0.json the one with its error
    (ok_file,) = manifest["ResultFiles"]["SUCCEEDED"]
    (failed_file,) = manifest["ResultFiles"]["FAILED"]
    assert ok_file["Key"].endswith("/SUCCEEDED_0.json")
    succeeded = read(engine, setup["bucket"], ok_file["Key"])
    failed = read(engine, setup["bucket"], failed_file["Key"])
    assert sorted(json.loads(e["Input"])["n"] for e in succeeded) == [1, 2, 4]
    assert [(json.loads(e["Input"]), e["Error"], e["Cause"]) for e in failed] == [
        ({"n": 3}, "Boom", "three")
    ]
    assert all(e["Status"] == "SUCCEEDED" and "Output" in e for e in succeeded)
    # AND the Map Run's counts are those of AWS: every item counted, none left pending
    (run_item,) = sfn.list_map_runs(executionArn=described["executionArn"])["mapRuns"]
    counts = sfn.describe_map_run(mapRunArn=run_item["mapRunArn"])["itemCounts"]
    assert (counts["total"], counts["succeeded"], counts["failed"], counts["pending"]) == (
        4,
        3,
        1,
        0,
    )


def test_failures_beyond_the_tolerated_percentage_fail_the_map(
    engine: Any, setup: dict[str, str]
) -> None:
    # WHEN one child of four fails under the default threshold (0 %) and under 20 %
    for tolerated in (None, 20.0):
        described, _ = run(engine, setup, definition(tolerated))
        # THEN the execution fails with the threshold error, as on AWS
        assert described["status"] == "FAILED", described
        assert described["error"] == "States.ExceedToleratedFailureThreshold"


def test_item_reader_reads_with_the_state_machine_role(engine: Any, setup: dict[str, str]) -> None:
    # WHEN the ItemReader names an object the role may not read
    described, sfn = run(engine, setup, definition(50, items_key="secret/all.json"))
    # THEN the execution fails, refused by IAM, and nothing ran
    assert described["status"] == "FAILED", described
    history = sfn.get_execution_history(executionArn=described["executionArn"])["events"]
    assert "AccessDenied" in json.dumps(history, default=str)


def test_a_redrive_runs_again_only_the_children_that_did_not_succeed(
    engine: Any, setup: dict[str, str]
) -> None:
    # GIVEN children that count their runs in a table, and fail unless their item is "ok"
    dynamodb, sfn = engine.client("dynamodb"), engine.client("stepfunctions")
    table = f"{setup['bucket']}-runs"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "n", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "n", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for item in ITEMS:
        ok = {"BOOL": item["n"] != 3}
        dynamodb.put_item(TableName=table, Item={"n": {"N": str(item["n"])}, "ok": ok})
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "dynamodb:UpdateItem",
                "Resource": f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}",
            }
        ],
    }
    engine.client("iam").put_role_policy(
        RoleName=setup["bucket"], PolicyName="runs", PolicyDocument=json.dumps(policy)
    )
    text = json.loads(definition(None))
    text["States"]["Each"]["ItemProcessor"]["States"] = {
        "Count": {
            "Type": "Task",
            "Resource": "arn:aws:states:::dynamodb:updateItem",
            "Parameters": {
                "TableName": table,
                "Key": {"n": {"N.$": "States.Format('{}', $.n)"}},
                "UpdateExpression": "ADD runs :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
                "ReturnValues": "ALL_NEW",
            },
            "Next": "Ok?",
        },
        "Ok?": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.Attributes.ok.BOOL", "BooleanEquals": True, "Next": "Fine"}
            ],
            "Default": "Boom",
        },
        "Boom": {"Type": "Fail", "Error": "Boom", "Cause": "not ok"},
        "Fine": {"Type": "Succeed"},
    }
    text["States"]["Each"]["ItemProcessor"]["StartAt"] = "Count"
    described, _ = run(engine, setup, json.dumps(text))
    assert described["status"] == "FAILED"
    assert described["error"] == "States.ExceedToleratedFailureThreshold"
    # WHEN the cause is fixed and the execution redriven
    dynamodb.put_item(
        TableName=table, Item={"n": {"N": "3"}, "ok": {"BOOL": True}, "runs": {"N": "1"}}
    )
    arn = described["executionArn"]
    sfn.redrive_execution(executionArn=arn)
    again = execution_ended(sfn, arn)
    # THEN it succeeds, and only the child that had failed ran a second time
    assert again["status"] == "SUCCEEDED", again
    runs = {
        int(item["n"]["N"]): int(item["runs"]["N"])
        for item in dynamodb.scan(TableName=table)["Items"]
    }
    assert runs == {1: 1, 2: 1, 3: 2, 4: 1}
    # AND the results list all four as succeeded
    details = json.loads(again["output"])["ResultWriterDetails"]
    manifest = read(engine, details["Bucket"], details["Key"])
    (ok_file,) = manifest["ResultFiles"]["SUCCEEDED"]
    assert len(read(engine, setup["bucket"], ok_file["Key"])) == 4
    assert manifest["ResultFiles"]["FAILED"] == []
    # AND a succeeded execution cannot be redriven
    with pytest.raises(Exception, match="ExecutionNotRedrivable"):
        sfn.redrive_execution(executionArn=arn)
