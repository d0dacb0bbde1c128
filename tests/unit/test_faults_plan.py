"""Fault plans decide the same way on every run; AWS throttling surfaces as TransientError."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from pydantic import ValidationError

from imgpipe.local.faults import Faults
from imgpipe_core.errors import TransientError, surface_transient


def _decisions(seed: int, n: int = 200) -> list[bool]:
    faults = Faults()
    faults.load({"seed": seed, "lambda": [{"function": "Resize", "error": "TransientError",
                                           "rate": 0.1}]})  # fmt: skip
    return [bool(faults.for_invocation("stack-ResizeFunction-X", b"{}")) for _ in range(n)]


def test_a_fraction_of_invocations_fails_the_same_way_under_a_seed() -> None:
    first, again, other = _decisions(7), _decisions(7), _decisions(8)
    assert first == again
    assert first != other
    assert 5 <= sum(first) <= 40  # about 10 % of 200


def test_next_and_skip_fail_exactly_the_chosen_matches() -> None:
    faults = Faults()
    faults.load({"lambda": [{"function": "Publish", "error": "crash", "skip": 1, "next": 2,
                             "payloadContains": "uploads/a.jpg"}]})  # fmt: skip
    other = faults.for_invocation("s-PublishFunction-1", b'{"key": "uploads/b.jpg"}')
    assert other == []  # another upload does not count as a match
    fired = [
        faults.for_invocation("s-PublishFunction-1", b'{"key": "uploads/a.jpg"}') for _ in range(4)
    ]
    assert [bool(f) for f in fired] == [False, True, True, False]
    assert fired[1][0].error == "Runtime.ExitError"  # "crash" is the runtime's own error type
    assert faults.injected() == [2]
    assert faults.for_invocation("s-ValidateFunction-1", b"uploads/a.jpg") == []


def test_storage_rules_match_service_operation_and_resource() -> None:
    faults = Faults()
    faults.load({"s3": [{"operations": ["CopyObject"], "resource": "public", "next": 1}],
                 "dynamodb": [{"rate": 1.0}]})  # fmt: skip
    assert not faults.for_request("s3", "GetObject", "stack-publicbucket")
    assert not faults.for_request("s3", "CopyObject", "stack-privatebucket")
    assert faults.for_request("s3", "CopyObject", "stack-publicbucket")
    assert not faults.for_request("s3", "CopyObject", "stack-publicbucket")  # next: 1 used up
    assert faults.for_request("dynamodb", "PutItem", "table")
    faults.clear()
    assert not faults.for_request("dynamodb", "PutItem", "table")


@pytest.mark.parametrize(
    "plan",
    [
        {"lambda": [{"function": "X"}]},  # neither an error nor latency
        {
            "lambda": [
                {"function": "X", "error": "Lambda.TooManyRequestsException", "phase": "after"}
            ]
        },
        {"s3": [{"rate": 2}]},
        {"sqs": []},
    ],
)
def test_a_plan_that_cannot_mean_anything_is_refused(plan: dict) -> None:
    with pytest.raises(ValidationError):
        Faults().load(plan)


def _client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "CopyObject",
    )


@pytest.mark.parametrize(
    "error",
    [
        _client_error("SlowDown", 503),
        _client_error("ProvisionedThroughputExceededException", 400),
        _client_error("ThrottlingException", 400),
        _client_error("InternalError", 500),
        EndpointConnectionError(endpoint_url="http://x"),
    ],
)
def test_throttling_and_5xx_leave_a_handler_as_transient_error(error: Exception) -> None:
    @surface_transient
    def handler() -> None:
        raise error

    with pytest.raises(TransientError) as raised:
        handler()
    assert raised.value.__cause__ is error


@pytest.mark.parametrize(
    "error",
    [
        _client_error("AccessDenied", 403),
        _client_error("NoSuchKey", 404),
        _client_error("ConditionalCheckFailedException", 400),
        ValueError("a bug"),
    ],
)
def test_deterministic_errors_keep_their_own_name(error: Exception) -> None:
    @surface_transient
    def handler() -> None:
        raise error

    with pytest.raises(type(error)):
        handler()
