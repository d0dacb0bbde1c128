"""A long stack name: generated rule names are shortened, and dead-lettering still works.

CloudFormation cuts a generated rule name to EventBridge's 64 characters, shortening the stack
name part too, so a queue policy that matches ``rule/<stack name>-*`` misses the rules. The
engine shortens names the same way and lets EventBridge send only what the queue policy allows.
"""

from __future__ import annotations

from typing import Any

import pytest

from imgpipe.local.adapters.queue_policy import policy_allows
from tests.helpers import wait_for
from tests.integration.conftest import Pipeline, deploy_pipeline, localstack_xfail, photo

pytestmark = pytest.mark.engine
STACK_NAME = "imgpipe-production-eu-west-1-images-blue"  # 40 characters


@pytest.fixture(scope="module")
def long_named(engine: Any) -> Pipeline:
    return deploy_pipeline(engine, STACK_NAME)


def _dlq_rules(pipeline: Pipeline, dlq_arn: str) -> list[dict[str, Any]]:
    events = pipeline.client("events")
    found = []
    # Paginated: the engine is shared by every test module's stacks, so one page may not hold them
    rules = (r for page in events.get_paginator("list_rules").paginate() for r in page["Rules"])
    for rule in rules:
        targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        if any(
            t["Arn"] == dlq_arn or t.get("DeadLetterConfig", {}).get("Arn") == dlq_arn
            for t in targets
        ):
            found.append(rule)
    return found


@localstack_xfail(
    "EventBridge ignores a target's DeadLetterConfig (the events provider never sends a failed "
    "delivery to it), so the upload rule's failed StartExecution is lost"
)
def test_every_rule_dead_letters_to_the_dlq_under_a_long_stack_name(long_named: Pipeline) -> None:
    sqs = long_named.client("sqs")
    dlq_url = long_named.outputs["DeadLetterQueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    # GIVEN the stack's three rules that send to the DLQ, named within 64 characters, and the
    # stack name no longer their prefix
    rules = _dlq_rules(long_named, dlq_arn)
    assert len(rules) == 3, [r["Name"] for r in rules]
    assert all(len(r["Name"]) <= 64 for r in rules)
    assert all(not r["Name"].startswith(f"{STACK_NAME}-") for r in rules)
    # THEN the queue policy (read through the API, so any engine's) lets each of them send
    policy = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["Policy"])["Attributes"]
    assert [
        r["Name"] for r in rules if not policy_allows(policy["Policy"], dlq_arn, r["Arn"])
    ] == []
    # AND WHEN an upload's execution cannot start (the state machine is gone)
    long_named.client("stepfunctions").delete_state_machine(
        stateMachineArn=long_named.outputs["StateMachineArn"]
    )
    key = "uploads/unstartable.png"
    long_named.upload(key, photo(64, 48, "PNG"))
    # THEN the upload rule's failed delivery reaches the DLQ with the event to re-run
    letter = wait_for(
        lambda: next(
            (
                m
                for m in long_named.dead_letters()
                if m.get("detail", {}).get("object", {}).get("key") == key
            ),
            None,
        ),
        timeout=60,
    )
    assert letter["source"] == "aws.s3" and letter["detail-type"] == "Object Created"
