"""The local API server's IAM authorizer and route selection, without a server."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from imgpipe.local import api_auth, api_definition, credentials

URL = "http://127.0.0.1:8080/images?limit=5&status=FAILED"


@pytest.fixture(autouse=True)
def engine_keys() -> None:
    credentials.register("testing", "testing", "testing")


def _signed(
    service: str = "execute-api", region: str = "us-east-1", body: bytes = b"{}"
) -> dict[str, str]:
    request = AWSRequest(method="POST", url=URL, data=body, headers={"Content-Type": "x/y"})
    SigV4Auth(Credentials("testing", "testing", "testing"), service, region).add_auth(request)
    return {k.lower(): v for k, v in request.headers.items()} | {"host": "127.0.0.1:8080"}


def _check(headers: dict[str, str], body: bytes = b"{}", **kwargs: object) -> object:
    raw_uri = URL.removeprefix("http://127.0.0.1:8080")
    return api_auth.check_sigv4("POST", raw_uri, headers, body, region="us-east-1", **kwargs)  # type: ignore[arg-type]


def test_a_correct_signature_names_the_caller() -> None:
    issued = _check(_signed())

    assert isinstance(issued, credentials.Issued) and issued.access_key_id == "testing"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"service": "s3"}, "Credential should be scoped to correct service: 'execute-api'. "),
        ({"region": "eu-west-1"}, "Credential should be scoped to a valid region"),
    ],
)
def test_a_signature_for_another_scope_is_refused(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(api_auth.Denied) as denied:
        _check(_signed(**kwargs))

    assert denied.value.status == 403
    assert denied.value.message.startswith(message)


def test_a_signature_older_than_five_minutes_is_expired() -> None:
    later = datetime.now(UTC) + timedelta(minutes=6)

    with pytest.raises(api_auth.Denied) as denied:
        _check(_signed(), now=later)

    assert denied.value.message.startswith("Signature expired:")


def test_a_changed_query_or_body_breaks_the_signature() -> None:
    headers = _signed()

    with pytest.raises(api_auth.Denied):
        api_auth.check_sigv4(
            "POST", "/images?limit=6&status=FAILED", headers, b"{}", region="us-east-1"
        )
    with pytest.raises(api_auth.Denied):
        _check(headers, body=b"[]")


def test_a_content_hash_header_must_match_the_body() -> None:
    headers = _signed() | {"x-amz-content-sha256": hashlib.sha256(b"other").hexdigest()}

    with pytest.raises(api_auth.Denied):
        _check(headers)


def test_explicit_method_routes_leave_options_unmatched() -> None:
    route = {"security": [{"jwt": []}]}
    body = {
        "paths": {"/{proxy+}": {"get": route, "post": route}},
        "components": {
            "securitySchemes": {
                "jwt": {
                    "x-amazon-apigateway-authorizer": {
                        "type": "jwt",
                        "jwtConfiguration": {"issuer": "https://i", "audience": ["a"]},
                    }
                }
            }
        },
    }
    definition = api_definition.parse(body)

    assert definition.route("OPTIONS", "/uploads") is None
    found = definition.route("GET", "/images/abc")
    assert found is not None
    assert found[0].key == "GET /{proxy+}" and found[1] == {"proxy": "images/abc"}
    assert found[0].jwt == api_definition.Jwt("https://i", ("a",))
    assert definition.route("GET", "/") is None  # a greedy parameter needs a segment


def test_the_most_specific_route_wins() -> None:
    body = {"paths": {"/{proxy+}": {"x-amazon-apigateway-any-method": {}}, "/health": {"get": {}}}}
    definition = api_definition.parse(body)

    assert definition.route("GET", "/health")[0].key == "GET /health"  # type: ignore[index]
    assert definition.route("POST", "/health")[0].key == "ANY /{proxy+}"  # type: ignore[index]
