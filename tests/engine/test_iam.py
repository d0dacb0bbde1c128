"""IAM on the engine: a function may do exactly what its execution role allows, as on AWS."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

pytestmark = [pytest.mark.engine, pytest.mark.xdist_group("iam-probe")]

PROBE_TEMPLATE = Path(__file__).parent / "iam_probe" / "template.yaml"
ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def probe(engine: Any) -> dict[str, str]:
    return dict(engine.deploy(PROBE_TEMPLATE, "iamprobe").outputs)


def call(engine: Any, function: str, service: str, name: str, **params: Any) -> dict[str, Any]:
    """Run one AWS call inside the deployed probe function, with its role's credentials."""
    response = engine.client("lambda").invoke(
        FunctionName=function,
        Payload=json.dumps({"service": service, "call": name, "params": params}).encode(),
    )
    assert "FunctionError" not in response, response["Payload"].read()
    result: dict[str, Any] = json.loads(response["Payload"].read())
    return result


def dynamodb_as(engine: Any, credentials: dict[str, str]) -> Any:
    """A DynamoDB client holding a role session's environment variables, as a worker does."""
    return boto3.client(
        "dynamodb",
        endpoint_url=engine.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials["AWS_SESSION_TOKEN"],
    )


def role_session(engine: Any, function: str) -> str:
    role = engine.client("lambda").get_function(FunctionName=function)["Configuration"]["Role"]
    return f"arn:aws:sts::{ACCOUNT}:assumed-role/{role.split('/')[-1]}/{function}"


def test_narrow_role_may_put_under_its_prefix_and_nowhere_else(engine: Any, probe: dict) -> None:
    fn, bucket = probe["NarrowFunctionName"], probe["BucketName"]

    allowed = call(engine, fn, "s3", "put_object", Bucket=bucket, Key="ok/a.txt", Body="x")
    other_prefix = call(engine, fn, "s3", "put_object", Bucket=bucket, Key="no/a.txt", Body="x")
    other_bucket = call(
        engine, fn, "s3", "put_object", Bucket=probe["OtherBucketName"], Key="ok/a.txt", Body="x"
    )
    read_back = call(engine, fn, "s3", "get_object", Bucket=bucket, Key="ok/a.txt")

    assert allowed["ok"] is True
    assert engine.client("s3").get_object(Bucket=bucket, Key="ok/a.txt")["Body"].read() == b"x"
    for denied, target in ((other_prefix, f"{bucket}/no/a.txt"), (other_bucket, None)):
        assert (denied["ok"], denied["code"], denied["status"]) == (False, "AccessDenied", 403)
        if target:
            assert denied["message"] == (
                f"User: {role_session(engine, fn)} is not authorized to perform: s3:PutObject "
                f'on resource: "arn:aws:s3:::{target}" because no identity-based policy '
                "allows the s3:PutObject action"
            )
    assert (read_back["ok"], read_back["code"]) == (False, "AccessDenied")
    assert "no/a.txt" not in [
        o["Key"] for o in engine.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])
    ]
    assert "Contents" not in engine.client("s3").list_objects_v2(Bucket=probe["OtherBucketName"])


def test_narrow_role_may_read_one_table_and_not_write_it(engine: Any, probe: dict) -> None:
    fn, table = probe["NarrowFunctionName"], probe["TableName"]
    key = {"id": {"S": "a"}}

    read = call(engine, fn, "dynamodb", "get_item", TableName=table, Key=key)
    write = call(engine, fn, "dynamodb", "put_item", TableName=table, Item=key)
    other = call(engine, fn, "dynamodb", "get_item", TableName=probe["OtherTableName"], Key=key)

    assert read["ok"] is True
    table_arn = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{table}"
    assert (write["code"], write["status"]) == ("AccessDeniedException", 400)
    assert write["message"] == (
        f"User: {role_session(engine, fn)} is not authorized to perform: dynamodb:PutItem on "
        f"resource: {table_arn} because no identity-based policy allows the dynamodb:PutItem action"
    )
    assert other["code"] == "AccessDeniedException"
    assert "Item" not in engine.client("dynamodb").get_item(TableName=table, Key=key)


def test_explicit_deny_wins_over_an_allow(engine: Any, probe: dict) -> None:
    fn, bucket = probe["WideFunctionName"], probe["BucketName"]

    public = call(engine, fn, "s3", "put_object", Bucket=bucket, Key="open/a", Body="x")
    secret = call(engine, fn, "s3", "put_object", Bucket=bucket, Key="secret/a", Body="x")

    assert public["ok"] is True
    assert secret["code"] == "AccessDenied"
    assert secret["message"].endswith("with an explicit deny in an identity-based policy")


def test_list_bucket_honours_the_s3_prefix_condition(engine: Any, probe: dict) -> None:
    fn, bucket = probe["WideFunctionName"], probe["BucketName"]

    inside = call(engine, fn, "s3", "list_objects_v2", Bucket=bucket, Prefix="ok/")
    outside = call(engine, fn, "s3", "list_objects_v2", Bucket=bucket, Prefix="open/")
    everything = call(engine, fn, "s3", "list_objects_v2", Bucket=bucket)

    assert inside["ok"] is True
    assert outside["code"] == everything["code"] == "AccessDenied"
    assert "s3:ListBucket" in outside["message"]


def test_a_missing_object_is_403_without_list_bucket_and_404_with_it(
    engine: Any, probe: dict
) -> None:
    bucket = probe["BucketName"]

    narrow = call(engine, probe["WideFunctionName"], "s3", "get_object", Bucket=bucket, Key="nope")
    listed = call(
        engine, probe["WideFunctionName"], "s3", "head_object", Bucket=bucket, Key="ok/nope"
    )

    # S3 hides whether a key exists from callers who may not list the bucket.
    assert (narrow["code"], narrow["status"]) == ("AccessDenied", 403)
    assert listed["status"] == 403  # ListBucket is granted for ok/ prefixes only, not plainly


def test_delete_objects_refuses_per_key_and_deletes_the_rest(engine: Any, probe: dict) -> None:
    fn, bucket = probe["WideFunctionName"], probe["BucketName"]
    s3 = engine.client("s3")
    for key in ("open/1", "secret/1"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")

    result = call(
        engine,
        fn,
        "s3",
        "delete_objects",
        Bucket=bucket,
        Delete={"Objects": [{"Key": "open/1"}, {"Key": "secret/1"}], "Quiet": True},
    )

    assert result["ok"] is True
    assert [(e["Key"], e["Code"]) for e in result["errors"]] == [("secret/1", "AccessDenied")]
    remaining = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert "secret/1" in remaining and "open/1" not in remaining


def test_conditions_and_sam_policy_templates_on_other_services(engine: Any, probe: dict) -> None:
    fn = probe["WideFunctionName"]

    sent = call(engine, fn, "sqs", "send_message", QueueUrl=probe["QueueUrl"], MessageBody="m")
    published = call(engine, fn, "sns", "publish", TopicArn=probe["TopicArn"], Message="m")
    indexed = call(
        engine,
        fn,
        "dynamodb",
        "query",
        TableName=probe["TableName"],
        KeyConditionExpression="id = :v",
        ExpressionAttributeValues={":v": {"S": "a"}},
    )

    assert sent["ok"] is True
    # The Allow is conditioned on another principal: it does not apply to this role.
    assert (published["code"], published["status"]) == ("AuthorizationError", 403)
    assert "SNS:Publish" in published["message"]
    assert indexed["code"] == "AccessDeniedException"  # granted on the indexes, not the table


def test_state_machine_tasks_use_the_state_machine_role(engine: Any, probe: dict) -> None:
    sfn = engine.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=probe["StateMachineArn"])["executionArn"]

    deadline = time.monotonic() + 30
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.2)

    # The Lambda task is granted; the DynamoDB PutItem task is not (read policy only).
    assert described["status"] == "FAILED"
    history = sfn.get_execution_history(executionArn=arn)["events"]
    succeeded = [e for e in history if e["type"] == "TaskSucceeded"]
    failed = [e["taskFailedEventDetails"] for e in history if e["type"] == "TaskFailed"]
    assert len(succeeded) == 1 and len(failed) == 1
    assert "AccessDenied" in failed[0]["error"] + failed[0].get("cause", "")
    assert "dynamodb:PutItem" in failed[0].get("cause", "")
    key = {"id": {"S": "machine"}}
    assert "Item" not in engine.client("dynamodb").get_item(TableName=probe["TableName"], Key=key)


def test_a_role_key_with_a_forged_session_token_is_refused(engine: Any, probe: dict) -> None:
    from imgpipe.local.adapters.iam import role_credentials

    role = engine.client("lambda").get_function(FunctionName=probe["NarrowFunctionName"])
    credentials = role_credentials(
        role["Configuration"]["Role"], probe["NarrowFunctionName"], "us-east-1"
    )
    forged = dynamodb_as(engine, {**credentials, "AWS_SESSION_TOKEN": "forged"})

    with pytest.raises(ClientError) as refused:
        forged.get_item(TableName=probe["TableName"], Key={"id": {"S": "a"}})

    assert refused.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_engine_admin_credentials_stay_unrestricted(engine: Any, probe: dict) -> None:
    # The deployer, the tests and the CLI use the engine's own keys, never a role's.
    engine.client("s3").put_object(Bucket=probe["OtherBucketName"], Key="any/where", Body=b"x")
    engine.client("dynamodb").put_item(TableName=probe["OtherTableName"], Item={"id": {"S": "x"}})


def test_sessions_are_renewed_before_they_expire_and_refused_after(
    engine: Any, probe: dict
) -> None:
    import datetime

    from imgpipe.local.adapters import iam

    role = engine.client("lambda").get_function(FunctionName=probe["NarrowFunctionName"])
    role_arn = role["Configuration"]["Role"]
    first = iam.role_credentials(role_arn, "renewal", "us-east-1")
    session = iam._sessions[(role_arn, "renewal")]
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)

    # GIVEN a session with less time left than the longest invocation
    session.expiration = now + datetime.timedelta(minutes=5)
    renewed = iam.role_credentials(role_arn, "renewal", "us-east-1")
    # WHEN the old one runs out
    session.expiration = now - datetime.timedelta(seconds=1)
    expired = dynamodb_as(engine, first)

    # THEN a new session was issued and the expired one is refused as AWS refuses it
    assert renewed["AWS_ACCESS_KEY_ID"] != first["AWS_ACCESS_KEY_ID"]
    with pytest.raises(ClientError) as refused:
        expired.get_item(TableName=probe["TableName"], Key={"id": {"S": "a"}})
    assert refused.value.response["Error"]["Code"] == "ExpiredTokenException"
