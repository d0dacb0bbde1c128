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


def test_tampered_policy_passes_when_the_secret_is_unknown(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Documented limit: without the secret, only the signature's shape can be checked. (The
    # engine registers its own fake keys, so clear them for this process.)
    monkeypatch.setattr(s3_post_policy, "KNOWN_SECRETS", {})
    response = _post(_tampered(_presign(s3, "tampered.jpg")), size=5000)

    assert response.status_code == 204


@pytest.mark.parametrize("client", ["s3", "s3_v2"])
def test_tampered_policy_is_caught_when_the_secret_is_known(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, client: str
) -> None:
    s3 = request.getfixturevalue(client)
    monkeypatch.setitem(s3_post_policy.KNOWN_SECRETS, "testing", "testing")

    assert _post(_presign(s3, f"signed-{client}.jpg")).status_code == 204
    response = _post(_tampered(_presign(s3, f"forged-{client}.jpg")), size=5000)
    assert response.status_code == 403
    assert _error(response)["Code"] == "SignatureDoesNotMatch"
    assert not _exists(s3, f"forged-{client}.jpg")


def test_post_without_policy_is_left_to_moto(s3: Any, endpoint: str) -> None:
    url = f"{endpoint}/{BUCKET}"
    response = requests.post(
        url, data={"key": "anon.jpg"}, files={"file": ("a.jpg", b"x" * 5000)}, timeout=5
    )

    assert response.status_code == 204
    assert _exists(s3, "anon.jpg")


def test_install_is_idempotent() -> None:
    s3_post_policy.install()
    patched = s3_post_policy.S3Response._bucket_response_post
    s3_post_policy.install()

    assert s3_post_policy.S3Response._bucket_response_post is patched
