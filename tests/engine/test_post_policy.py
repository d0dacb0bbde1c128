"""S3 POST-policy enforcement by the s3_post_policy adapter, against a real moto server."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from imgpipe.local import credentials
from imgpipe.local.adapters import s3_post_policy

pytestmark = pytest.mark.engine

BUCKET = "uploads"
JPEG_POLICY: dict[str, Any] = {
    "Fields": {"Content-Type": "image/jpeg"},
    "Conditions": [["content-length-range", 1, 1000], {"Content-Type": "image/jpeg"}],
    "ExpiresIn": 60,
}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            env.setenv(name, "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.delenv("AWS_SESSION_TOKEN", raising=False)
        env.delenv("AWS_PROFILE", raising=False)
        s3_post_policy.install()
        # The keys the engine hands out (the same the engine registers); any other key is one
        # S3 never issued.
        credentials.register("testing", "testing", "testing")
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        boto3.client("s3", endpoint_url=url).create_bucket(Bucket=BUCKET)
        try:
            yield url
        finally:
            server.stop()


@pytest.fixture
def s3(endpoint: str) -> Any:
    """SigV4 presigned POSTs, as the imgpipe API issues them."""
    return boto3.client("s3", endpoint_url=endpoint, config=Config(signature_version="s3v4"))


@pytest.fixture
def s3_v2(endpoint: str) -> Any:
    """boto3's default for presigned POST is still SigV2 (AWSAccessKeyId + signature)."""
    return boto3.client("s3", endpoint_url=endpoint)


def _presign(s3: Any, key: str, **kwargs: Any) -> dict[str, Any]:
    params = {**JPEG_POLICY, **kwargs}
    return s3.generate_presigned_post(BUCKET, key, **params)  # type: ignore[no-any-return]


def _post(
    post: dict[str, Any],
    size: int = 500,
    name: str = "photo.jpg",
    overrides: dict[str, str] | None = None,
) -> requests.Response:
    fields = {**post["fields"], **(overrides or {})}
    return requests.post(post["url"], data=fields, files={"file": (name, b"x" * size)}, timeout=5)


def _error(response: requests.Response) -> dict[str, str]:
    root = ElementTree.fromstring(response.content)
    return {child.tag: child.text or "" for child in root}


def _exists(s3: Any, key: str) -> bool:
    try:
        s3.head_object(Bucket=BUCKET, Key=key)
    except ClientError:
        return False
    return True


def test_valid_upload_is_stored_with_its_content_type(s3: Any) -> None:
    response = _post(_presign(s3, "ok.jpg"))

    assert response.status_code == 204
    head = s3.head_object(Bucket=BUCKET, Key="ok.jpg")
    assert head["ContentType"] == "image/jpeg"
    assert head["ContentLength"] == 500


def test_too_large_file_is_rejected(s3: Any) -> None:
    response = _post(_presign(s3, "big.jpg"), size=5000)

    assert response.status_code == 400
    error = _error(response)
    assert error["Code"] == "EntityTooLarge"
    assert (error["ProposedSize"], error["MaxSizeAllowed"]) == ("5000", "1000")
    assert error["RequestId"] == response.headers["x-amzn-requestid"]
    assert error["HostId"]
    assert not _exists(s3, "big.jpg")


def test_empty_file_is_too_small(s3: Any) -> None:
    response = _post(_presign(s3, "empty.jpg"), size=0)

    assert response.status_code == 400
    assert _error(response)["Code"] == "EntityTooSmall"
    assert _error(response)["MinSizeAllowed"] == "1"
    assert not _exists(s3, "empty.jpg")


def test_wrong_content_type_is_denied(s3: Any) -> None:
    response = _post(_presign(s3, "type.jpg"), overrides={"Content-Type": "text/html"})

    assert response.status_code == 403
    error = _error(response)
    assert error["Code"] == "AccessDenied"
    assert error["Message"] == (
        'Invalid according to Policy: Policy Condition failed: ["eq", "$Content-Type", '
        '"image/jpeg"]'
    )
    assert not _exists(s3, "type.jpg")


def test_field_names_match_case_insensitively(s3: Any) -> None:
    post = _presign(s3, "case.jpg")
    post["fields"]["content-type"] = post["fields"].pop("Content-Type")

    assert _post(post).status_code == 204


def test_expired_policy_is_denied(s3: Any) -> None:
    response = _post(_presign(s3, "late.jpg", ExpiresIn=-10))

    assert response.status_code == 403
    assert _error(response)["Message"] == "Invalid according to Policy: Policy expired."
    assert not _exists(s3, "late.jpg")


def test_field_without_a_condition_is_denied(s3: Any) -> None:
    response = _post(_presign(s3, "extra.jpg"), overrides={"x-amz-meta-owner": "mallory"})

    assert response.status_code == 403
    assert _error(response)["Message"] == (
        "Invalid according to Policy: Extra input fields: x-amz-meta-owner"
    )
    assert not _exists(s3, "extra.jpg")


def test_x_ignore_fields_need_no_condition(s3: Any) -> None:
    response = _post(_presign(s3, "ignored.jpg"), overrides={"x-ignore-note": "hi"})

    assert response.status_code == 204


def test_key_starts_with_and_filename_substitution(s3: Any) -> None:
    # boto3 turns a key ending in ${filename} into a starts-with condition on the prefix
    post = _presign(s3, "incoming/u1/${filename}")

    assert _post(post, name="cat.jpg").status_code == 204
    assert _exists(s3, "incoming/u1/cat.jpg")

    response = _post(post, overrides={"key": "elsewhere/cat.jpg"})
    assert response.status_code == 403
    assert '["starts-with", "$key", "incoming/u1/"]' in _error(response)["Message"]
    assert not _exists(s3, "elsewhere/cat.jpg")


def test_metadata_condition(s3: Any) -> None:
    post = _presign(
        s3,
        "meta.jpg",
        Fields={"Content-Type": "image/jpeg", "x-amz-meta-upload-id": "u-42"},
        Conditions=[
            ["content-length-range", 1, 1000],
            {"Content-Type": "image/jpeg"},
            ["eq", "$x-amz-meta-upload-id", "u-42"],
        ],
    )

    denied = _post(post, overrides={"x-amz-meta-upload-id": "u-43"})
    assert denied.status_code == 403
    assert not _exists(s3, "meta.jpg")

    assert _post(post).status_code == 204
    assert s3.head_object(Bucket=BUCKET, Key="meta.jpg")["Metadata"] == {"upload-id": "u-42"}


def test_bucket_condition_is_checked_against_the_target_bucket(s3: Any) -> None:
    s3.create_bucket(Bucket="other")
    post = _presign(s3, "b.jpg")
    post["url"] = post["url"].replace(f"/{BUCKET}", "/other")

    response = _post(post)

    assert response.status_code == 403
    assert f'["eq", "$bucket", "{BUCKET}"]' in _error(response)["Message"]


def test_success_action_status_201_returns_post_response(s3: Any) -> None:
    post = _presign(
        s3,
        "created.jpg",
        Fields={"Content-Type": "image/jpeg", "success_action_status": "201"},
        Conditions=[{"Content-Type": "image/jpeg"}, {"success_action_status": "201"}],
    )

    response = _post(post)

    assert response.status_code == 201
    assert _error(response)["Key"] == "created.jpg"


def test_sigv2_post_is_enforced_too(s3_v2: Any) -> None:
    post = _presign(s3_v2, "v2.jpg")
    assert "AWSAccessKeyId" in post["fields"]

    assert _post(post, size=5000).status_code == 400
    assert _post(post).status_code == 204


@pytest.mark.parametrize("signature_field", ["x-amz-signature", "x-amz-credential"])
def test_missing_sigv4_field_is_rejected(s3: Any, signature_field: str) -> None:
    post = _presign(s3, "unsigned.jpg")
    del post["fields"][signature_field]

    response = _post(post)

    assert response.status_code == 400
    assert _error(response)["Code"] == "InvalidArgument"
    assert not _exists(s3, "unsigned.jpg")


def test_malformed_signature_is_rejected(s3: Any) -> None:
    response = _post(_presign(s3, "badsig.jpg"), overrides={"x-amz-signature": "not-hex"})

    assert response.status_code == 403
    assert _error(response)["Code"] == "SignatureDoesNotMatch"


def _tampered(post: dict[str, Any]) -> dict[str, Any]:
    policy = json.loads(base64.b64decode(post["fields"]["policy"]))
    policy["conditions"][0] = ["content-length-range", 1, 10_000]
    post["fields"]["policy"] = base64.b64encode(json.dumps(policy).encode()).decode()
    return post


@pytest.mark.parametrize("client", ["s3", "s3_v2"])
def test_tampered_policy_is_refused(request: pytest.FixtureRequest, client: str) -> None:
    s3 = request.getfixturevalue(client)

    assert _post(_presign(s3, f"signed-{client}.jpg")).status_code == 204
    response = _post(_tampered(_presign(s3, f"forged-{client}.jpg")), size=5000)
    assert response.status_code == 403
    assert _error(response)["Code"] == "SignatureDoesNotMatch"
    assert not _exists(s3, f"forged-{client}.jpg")


@pytest.mark.parametrize("version", ["s3v4", "s3"])
def test_policy_signed_with_a_key_never_issued_is_refused(endpoint: str, version: str) -> None:
    # GIVEN a correctly signed policy, but with an access key the engine never issued
    forger = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="AKIAFORGEDFORGED1234",
        aws_secret_access_key="guessed",
        config=Config(signature_version=version),
    )

    response = _post(_presign(forger, f"forged-key-{version}.jpg"))

    assert response.status_code == 403
    error = _error(response)
    assert error["Code"] == "InvalidAccessKeyId"
    assert error["AWSAccessKeyId"] == "AKIAFORGEDFORGED1234"
    assert not _exists(forger, f"forged-key-{version}.jpg")


def _assumed_role(endpoint: str, name: str) -> dict[str, str]:
    iam = boto3.client("iam", endpoint_url=endpoint)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    # IAM is enforced for role sessions: the presigner needs what the API function is granted.
    grant = {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": "*"}
    iam.put_role_policy(
        RoleName=name,
        PolicyName="upload",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [grant]}),
    )
    sts = boto3.client("sts", endpoint_url=endpoint)
    return sts.assume_role(RoleArn=arn, RoleSessionName="worker")["Credentials"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("version", ["s3v4", "s3"])
def test_policy_signed_with_sts_session_credentials_is_accepted(
    endpoint: str, version: str
) -> None:
    # GIVEN a worker's credentials from STS AssumeRole (how the API function presigns)
    creds = _assumed_role(endpoint, f"api-role-{version}")
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        config=Config(signature_version=version),
    )
    post = _presign(s3, f"session-{version}.jpg")
    assert post["fields"]["x-amz-security-token"] == creds["SessionToken"]

    # THEN the upload is stored; the same key with another session token is refused
    assert _post(post).status_code == 204
    assert _exists(s3, f"session-{version}.jpg")
    other = _post(
        _presign(s3, f"other-token-{version}.jpg"), overrides={"x-amz-security-token": "forged"}
    )
    assert other.status_code == 400
    assert _error(other)["Code"] == "InvalidToken"


def test_policy_signed_with_an_iam_user_key_is_accepted(endpoint: str) -> None:
    iam = boto3.client("iam", endpoint_url=endpoint)
    iam.create_user(UserName="uploader")
    key = iam.create_access_key(UserName="uploader")["AccessKey"]
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        config=Config(signature_version="s3v4"),
    )

    assert _post(_presign(s3, "user-key.jpg")).status_code == 204

    iam.update_access_key(UserName="uploader", AccessKeyId=key["AccessKeyId"], Status="Inactive")
    response = _post(_presign(s3, "inactive-key.jpg"))
    assert response.status_code == 403
    assert _error(response)["Code"] == "InvalidAccessKeyId"


def _anonymous_post(endpoint: str, bucket: str, key: str) -> requests.Response:
    return requests.post(
        f"{endpoint}/{bucket}",
        data={"key": key},
        files={"file": ("a.jpg", b"x" * 5000)},
        timeout=5,
    )


def test_post_without_policy_to_a_private_bucket_is_denied(s3: Any, endpoint: str) -> None:
    response = _anonymous_post(endpoint, BUCKET, "anon.jpg")

    assert response.status_code == 403
    assert _error(response)["Code"] == "AccessDenied"
    assert not _exists(s3, "anon.jpg")


def test_signed_fields_without_a_policy_are_refused(s3: Any) -> None:
    post = _presign(s3, "no-policy.jpg")
    del post["fields"]["policy"]

    response = _post(post)

    assert response.status_code == 400
    assert _error(response)["Code"] == "InvalidArgument"
    assert not _exists(s3, "no-policy.jpg")


def test_post_without_policy_is_stored_where_a_bucket_policy_grants_public_write(
    s3: Any, endpoint: str
) -> None:
    s3.create_bucket(Bucket="dropbox")
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::dropbox/public/*",
    }
    s3.put_bucket_policy(
        Bucket="dropbox", Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    )

    assert _anonymous_post(endpoint, "dropbox", "public/a.jpg").status_code == 204
    assert s3.head_object(Bucket="dropbox", Key="public/a.jpg")["ContentLength"] == 5000
    # Outside the granted prefix the same anonymous POST is denied
    assert _anonymous_post(endpoint, "dropbox", "private/a.jpg").status_code == 403


def test_post_without_policy_honours_a_public_write_acl_unless_public_acls_are_ignored(
    s3: Any, endpoint: str
) -> None:
    s3.create_bucket(Bucket="open-acl", ACL="public-read-write")
    assert _anonymous_post(endpoint, "open-acl", "a.jpg").status_code == 204

    s3.put_public_access_block(
        Bucket="open-acl",
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    assert _anonymous_post(endpoint, "open-acl", "b.jpg").status_code == 403


def test_install_is_idempotent() -> None:
    s3_post_policy.install()
    patched = s3_post_policy.S3Response._bucket_response_post
    s3_post_policy.install()

    assert s3_post_policy.S3Response._bucket_response_post is patched


def test_delete_objects_is_not_a_form_upload(s3: Any) -> None:
    # DeleteObjects is a POST to the bucket too; the form-upload rules must not touch it
    _post(_presign(s3, "gone.jpg"))

    result = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "gone.jpg"}]})

    assert [d["Key"] for d in result["Deleted"]] == ["gone.jpg"]
    assert not _exists(s3, "gone.jpg")
