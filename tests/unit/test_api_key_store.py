"""API keys (imgpipe_core.api_keys) on moto's DynamoDB, and the local gateway's Lambda
authorizer: its parsing from the HTTP API body and its result cache, with a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from imgpipe.local import api_auth, api_definition
from imgpipe_core import api_keys, key_store
from tests.helpers import moto_table

TABLE = "keys"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:authorizer"


def secret_of(key: str) -> str:
    parts = api_keys.parse(key)
    assert parts is not None, key
    return parts[1]


@pytest.fixture
def table() -> Iterator[str]:
    with moto_table(TABLE, "keyId") as name:
        yield name


def test_a_created_key_checks_and_only_its_digest_is_stored(table: str) -> None:
    issued = api_keys.create(table, "ci")
    record = api_keys.check(table, issued.key)
    assert record is not None and record.key_id == issued.record.key_id and record.name == "ci"
    item = boto3.client("dynamodb").get_item(TableName=table, Key={"keyId": {"S": record.key_id}})
    secret = secret_of(issued.key)
    assert secret not in str(item) and item["Item"]["secretSha256"]["S"] == api_keys.digest(secret)


def test_a_secret_may_hold_the_separator_and_still_parses(table: str) -> None:
    key = "ipk_0123456789abcdef_" + "a_b-" * 10 + "xyz"
    assert api_keys.parse(key) == ("0123456789abcdef", "a_b-" * 10 + "xyz")


def test_two_keys_never_share_an_id_or_a_secret(table: str) -> None:
    first, second = api_keys.create(table), api_keys.create(table)
    assert first.record.key_id != second.record.key_id
    assert secret_of(first.key) != secret_of(second.key)


@pytest.mark.parametrize(
    "alter",
    [
        lambda key: key[:-1] + ("A" if key[-1] != "A" else "B"),  # another secret
        lambda key: "ipk_" + "0" * 16 + key[20:],  # another keyId
        lambda key: key + "x",  # not the key format
        lambda key: "",
        lambda key: key.upper(),
    ],
)
def test_anything_but_the_exact_key_is_refused(table: str, alter: Any) -> None:
    issued = api_keys.create(table)
    assert api_keys.check(table, alter(issued.key)) is None


def test_a_revoked_key_is_refused_and_listed_as_revoked(table: str) -> None:
    issued = api_keys.create(table)
    assert api_keys.revoke(table, issued.record.key_id)
    assert api_keys.check(table, issued.key) is None
    first = key_store.get(table, issued.record.key_id)
    assert first is not None and first.revoked_at is not None
    # Revoking again keeps the first revocation time.
    assert api_keys.revoke(table, issued.record.key_id)
    assert [r.revoked_at for r in api_keys.list_keys(table)] == [first.revoked_at]


def test_revoking_an_unknown_key_says_so(table: str) -> None:
    assert api_keys.revoke(table, "0123456789abcdef") is False
    assert api_keys.list_keys(table) == []


# -- the local gateway's Lambda authorizer --------------------------------------------------------


def _body(authorizer: dict[str, Any]) -> dict[str, Any]:
    return {
        "paths": {"/{proxy+}": {"get": {"security": [{"apikey": []}]}}},
        "components": {
            "securitySchemes": {
                "apikey": {"type": "apiKey", "x-amazon-apigateway-authorizer": authorizer}
            }
        },
    }


AUTHORIZER = {
    "type": "request",
    "identitySource": "$request.header.x-api-key",
    "authorizerUri": (
        f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{FUNCTION}/invocations"
    ),
    "authorizerPayloadFormatVersion": "2.0",
    "enableSimpleResponses": True,
    "authorizerResultTtlInSeconds": 300,
}


def test_the_request_authorizer_is_read_from_the_api_body() -> None:
    route = api_definition.parse(_body(AUTHORIZER)).routes[0]
    assert route.auth == "LAMBDA"
    assert route.authorizer == api_definition.LambdaAuthorizer(FUNCTION, ("x-api-key",), 300)


@pytest.mark.parametrize(
    "change",
    [
        {"enableSimpleResponses": False},
        {"authorizerPayloadFormatVersion": "1.0"},
        {"identitySource": "$context.identity.sourceIp"},
        {"authorizerUri": "arn:aws:apigateway:us-east-1:lambda:path/nothing"},
    ],
)
def test_an_authorizer_the_server_cannot_emulate_is_an_error(change: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        api_definition.parse(_body(AUTHORIZER | change))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Authorizer:
    """Stands in for the authorizer function: counts calls, answers what it is told."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[list[str]] = []

    def __call__(self, identity: list[str]) -> Any:
        self.calls.append(identity)
        return self.answer


CONFIG = api_definition.LambdaAuthorizer(FUNCTION, ("x-api-key",), 60)


def test_without_the_identity_header_it_is_401_and_the_function_is_not_called() -> None:
    ask = Authorizer({"isAuthorized": True})
    with pytest.raises(api_auth.Denied) as denied:
        api_auth.LambdaDecisions().decide(CONFIG, {}, ask)
    assert denied.value.status == 401 and denied.value.message == "Unauthorized"
    assert ask.calls == []


def test_a_decision_is_cached_per_key_until_the_ttl_passes() -> None:
    clock = Clock()
    decisions = api_auth.LambdaDecisions(clock)
    ask = Authorizer({"isAuthorized": True, "context": {"keyId": "k1"}})
    # GIVEN an accepted key WHEN it is used again within the TTL THEN the function is not asked
    assert decisions.decide(CONFIG, {"x-api-key": "a"}, ask) == {"keyId": "k1"}
    clock.now += 59
    ask.answer = {"isAuthorized": False}  # revoked meanwhile
    assert decisions.decide(CONFIG, {"x-api-key": "a"}, ask) == {"keyId": "k1"}
    assert ask.calls == [["a"]]
    # AND another key is asked about separately
    with pytest.raises(api_auth.Denied):
        decisions.decide(CONFIG, {"x-api-key": "b"}, ask)
    # WHEN the TTL has passed THEN the function is asked again and its refusal is a 403
    clock.now += 2
    with pytest.raises(api_auth.Denied) as denied:
        decisions.decide(CONFIG, {"x-api-key": "a"}, ask)
    assert denied.value.status == 403 and denied.value.message == "Forbidden"
    assert ask.calls == [["a"], ["b"], ["a"]]


def test_a_ttl_of_zero_asks_on_every_request() -> None:
    ask = Authorizer({"isAuthorized": True})
    decisions = api_auth.LambdaDecisions(Clock())
    uncached = api_definition.LambdaAuthorizer(FUNCTION, ("x-api-key",), 0)
    for _ in range(3):
        decisions.decide(uncached, {"x-api-key": "a"}, ask)
    assert len(ask.calls) == 3


@pytest.mark.parametrize(
    "answer", [None, {"isAuthorized": "true"}, {"isAuthorized": True, "context": "x"}, []]
)
def test_an_answer_that_is_not_a_simple_response_fails_and_is_not_cached(answer: Any) -> None:
    ask = Authorizer(answer)
    decisions = api_auth.LambdaDecisions(Clock())
    for _ in range(2):
        with pytest.raises(api_auth.AuthorizerFailed):
            decisions.decide(CONFIG, {"x-api-key": "a"}, ask)
    assert len(ask.calls) == 2
