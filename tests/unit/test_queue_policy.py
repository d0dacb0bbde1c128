"""The engine's reading of an SQS queue policy for EventBridge deliveries."""

from __future__ import annotations

import json
from typing import Any

import pytest

from imgpipe.local.adapters.queue_policy import policy_allows, shorten

QUEUE = "arn:aws:sqs:us-east-1:123456789012:dlq"
RULE = "arn:aws:events:us-east-1:123456789012:rule/stack-Rule-ABC"


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _allow(condition: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": QUEUE,
        **extra,
    }
    if condition is not None:
        statement["Condition"] = condition
    return statement


@pytest.mark.parametrize(
    ("policy", "allowed"),
    [
        (None, False),  # no policy: EventBridge may not send
        (_policy(_allow()), True),
        (_policy(_allow({"ArnEquals": {"aws:SourceArn": RULE}})), True),
        (_policy(_allow({"ArnEquals": {"aws:SourceArn": [RULE + "X"]}})), False),
        (_policy(_allow({"ArnLike": {"aws:SourceArn": "arn:aws:events:*:*:rule/stack-*"}})), True),
        (_policy(_allow({"ArnLike": {"aws:SourceArn": "arn:aws:events:*:*:rule/other-*"}})), False),
        (_policy(_allow({"StringEquals": {"aws:SourceAccount": "123456789012"}})), True),
        (_policy(_allow({"StringEquals": {"aws:SourceAccount": "999999999999"}})), False),
        (_policy(_allow(Principal="*")), True),
        (_policy(_allow(Principal={"AWS": "*"})), True),  # the same as "*"
        (_policy(_allow(Resource="arn:aws:sqs:*:*:other")), False),
        (_policy(_allow(Principal={"Service": "sns.amazonaws.com"})), False),
        (_policy(_allow(Action="sqs:ReceiveMessage")), False),
        (_policy(_allow(Action="sqs:*")), True),
        (_policy(_allow(), {**_allow(), "Effect": "Deny"}), False),  # explicit deny wins
    ],
)
def test_queue_policy_decides_what_a_rule_may_send(policy: str | None, allowed: bool) -> None:
    assert policy_allows(policy, QUEUE, RULE) is allowed


def test_generated_names_shorten_both_parts_within_the_limit() -> None:
    name = shorten("s" * 40, "PipelineStateMachineUploadCreated", "ABCDEFGHIJKL", 64)
    assert len(name) == 64 and name.endswith("-ABCDEFGHIJKL")
    stack_part, logical_part, _ = name.split("-")
    assert 0 < len(stack_part) < 40 and 0 < len(logical_part) < 33
