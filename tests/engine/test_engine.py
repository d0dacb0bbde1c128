"""The engine end to end: a SAM app deployed from its template, driven through S3 events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers import execution_for_key, wait_for

pytestmark = pytest.mark.engine


def _history(sfn: Any, arn: str) -> list[dict]:
    return sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]


def test_deploy_applies_definition_substitutions_and_bucket_properties(engine, test_stack):
    # GIVEN the deployed test stack
    sfn, s3 = engine.client("stepfunctions"), engine.client("s3")
    # THEN the state machine got its definition from S3 with every placeholder substituted
    definition = sfn.describe_state_machine(stateMachineArn=test_stack["StateMachineArn"])[
        "definition"
    ]
    assert "${" not in definition
    assert test_stack["TableName"] in definition
    # AND the bucket is versioned, like its template says
    assert s3.get_bucket_versioning(Bucket=test_stack["BucketName"])["Status"] == "Enabled"


def test_object_put_runs_the_handler_with_its_env_and_writes_dynamodb(engine, test_stack):
    # GIVEN the test stack WHEN an object lands under jobs/
    key = "jobs/ok/put.txt"
    engine.client("s3").put_object(Bucket=test_stack["BucketName"], Key=key, Body=b"hello")
    sfn = engine.client("stepfunctions")
    execution = execution_for_key(sfn, test_stack["StateMachineArn"], key)
    # THEN the rule started an execution with the event's detail (InputPath), which succeeded
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert json.loads(execution["input"])["object"]["key"] == key
    # AND the handler saw its environment, the Map squared every item, DynamoDB got the item
    item = engine.client("dynamodb").get_item(
        TableName=test_stack["TableName"], Key={"id": {"S": key}}
    )["Item"]
    assert item["greeting"]["S"] == "hello"
    assert json.loads(item["squares"]["S"]) == [1, 4, 9, 16]
    # AND the SQS task sent its message
    messages = (
        engine.client("sqs")
        .receive_message(QueueUrl=test_stack["QueueUrl"], MaxNumberOfMessages=10)
        .get("Messages", [])
    )
    assert key in [m["Body"] for m in messages]
    # AND the Map ran one Lambda task per item
    history = _history(sfn, execution["executionArn"])
    lambda_calls = [e for e in history if e["type"] == "TaskSucceeded"]
    assert len(lambda_calls) >= 1 + 4


def test_s3_event_has_the_documented_shape(engine, test_stack):
    key = "shape/check.bin"
    engine.client("s3").put_object(Bucket=test_stack["BucketName"], Key=key, Body=b"12345")
    sqs = engine.client("sqs")

    def captured() -> dict | None:
        for message in sqs.receive_message(
            QueueUrl=test_stack["EventsQueueUrl"], MaxNumberOfMessages=10
        ).get("Messages", []):
            event = json.loads(message["Body"])
            if event["detail"]["object"]["key"] == key:
                return event
        return None

    event = wait_for(captured)
    assert event["source"] == "aws.s3"
    assert event["detail-type"] == "Object Created"
    assert event["resources"] == [f"arn:aws:s3:::{test_stack['BucketName']}"]
    assert event["time"].endswith("Z") and "T" in event["time"]
    obj = event["detail"]["object"]
    assert obj["size"] == 5 and len(obj["etag"]) == 32 and obj["version-id"]
    assert event["detail"]["reason"] == "PutObject"
    assert event["detail"]["bucket"]["name"] == test_stack["BucketName"]


def test_named_error_is_caught_by_name(engine, test_stack):
    key = "jobs/refuse/named.txt"
    engine.client("s3").put_object(Bucket=test_stack["BucketName"], Key=key, Body=b"x")
    sfn = engine.client("stepfunctions")
    execution = execution_for_key(sfn, test_stack["StateMachineArn"], key)
    # The Catch on "WorkerRefused" routed to Record Refusal, so the execution still succeeds
    assert execution["status"] == "SUCCEEDED"
    failed = [e for e in _history(sfn, execution["executionArn"]) if e["type"] == "TaskFailed"]
    assert failed[0]["taskFailedEventDetails"]["error"] == "WorkerRefused"
    item = engine.client("dynamodb").get_item(
        TableName=test_stack["TableName"], Key={"id": {"S": key}}
    )["Item"]
    assert item["status"]["S"] == "REFUSED" and item["error"]["S"] == "WorkerRefused"


def test_handler_past_its_timeout_fails_as_on_aws(engine, test_stack):
    key = "jobs/slow/timeout.txt"
    engine.client("s3").put_object(Bucket=test_stack["BucketName"], Key=key, Body=b"x")
    sfn = engine.client("stepfunctions")
    execution = execution_for_key(sfn, test_stack["StateMachineArn"], key)
    assert execution["status"] == "FAILED"
    assert execution["error"] == "Sandbox.Timedout"
    assert "Task timed out after 2.00 seconds" in execution["cause"]


def test_direct_invoke_returns_payload_and_log_tail(engine, test_stack):
    import base64

    response = engine.client("lambda").invoke(
        FunctionName=test_stack["WorkerFunctionName"],
        Payload=json.dumps({"action": "square", "value": 7}),
        LogType="Tail",
    )
    assert json.loads(response["Payload"].read()) == 49
    assert "FunctionError" not in response
    assert "REPORT RequestId" in base64.b64decode(response["LogResult"]).decode()


def test_invocation_logs_reach_cloudwatch_logs(engine, test_stack):
    name = test_stack["WorkerFunctionName"]
    engine.client("lambda").invoke(FunctionName=name, Payload=b'{"action":"square","value":2}')
    logs = engine.client("logs")
    events = wait_for(lambda: logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"])
    messages = "\n".join(e["message"] for e in events)
    assert "START RequestId" in messages and "REPORT RequestId" in messages


def test_failed_start_goes_to_the_rules_dead_letter_queue(engine, test_stack):
    # GIVEN the doomed machine is gone (its rule still targets it)
    sfn = engine.client("stepfunctions")
    sfn.delete_state_machine(stateMachineArn=test_stack["DoomedMachineArn"])
    # WHEN an object matching its rule arrives
    key = "doomed/orphan.txt"
    engine.client("s3").put_object(Bucket=test_stack["BucketName"], Key=key, Body=b"x")
    sqs = engine.client("sqs")

    def dead_letter() -> dict | None:
        for message in sqs.receive_message(
            QueueUrl=test_stack["RuleDeadLetterQueueUrl"],
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
        ).get("Messages", []):
            if json.loads(message["Body"])["detail"]["object"]["key"] == key:
                return message
        return None

    # THEN the event lands in the DLQ with EventBridge's error attributes
    message = wait_for(dead_letter)
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["TARGET_ARN"] == test_stack["DoomedMachineArn"]
    assert attributes["ERROR_CODE"] == "StateMachineDoesNotExist"
    assert attributes["RULE_ARN"].startswith("arn:aws:events:")


def test_lambda_invoke_results_carry_the_sdk_metadata_as_on_aws(engine, test_stack):
    # GIVEN the test stack WHEN an object lands under jobs/ (its tasks use lambda:invoke)
    key = "jobs/ok/metadata.txt"
    engine.client("s3").put_object(Bucket=test_stack["BucketName"], Key=key, Body=b"hello")
    sfn = engine.client("stepfunctions")
    execution = execution_for_key(sfn, test_stack["StateMachineArn"], key)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    # THEN each Lambda task's result is the whole of AWS's: the SDK's HTTP metadata too
    results = [
        json.loads(e["taskSucceededEventDetails"]["output"])
        for e in _history(sfn, execution["executionArn"])
        if e["type"] == "TaskSucceeded"
        and e["taskSucceededEventDetails"]["resourceType"] == "lambda"
    ]
    assert results
    for result in results:
        assert list(result) == [
            "ExecutedVersion",
            "Payload",
            "SdkHttpMetadata",
            "SdkResponseMetadata",
            "StatusCode",
        ]
        http, request_id = result["SdkHttpMetadata"], result["SdkResponseMetadata"]["RequestId"]
        assert http["HttpStatusCode"] == 200 and result["StatusCode"] == 200
        assert http["HttpHeaders"]["x-amzn-RequestId"] == request_id
        assert http["AllHttpHeaders"]["x-amzn-RequestId"] == [request_id]
        body = json.dumps(result["Payload"], separators=(",", ":"))
        assert http["HttpHeaders"]["Content-Length"] == str(len(body.encode()))
    # AND every task got its own request id
    assert len({r["SdkResponseMetadata"]["RequestId"] for r in results}) == len(results)
