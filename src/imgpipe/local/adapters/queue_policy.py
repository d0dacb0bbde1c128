"""EventBridge may send to an SQS queue only when the queue's policy lets it.

On AWS a rule's SQS target, and the queue a target dead-letters to, need a queue policy that
allows ``events.amazonaws.com`` to ``sqs:SendMessage``, usually narrowed by ``aws:SourceArn`` to
the rule; otherwise the event is dropped (FailedInvocations). moto delivers regardless, so a
policy naming the wrong rules (truncated generated names, say) would pass locally. Here the
queue's policy is evaluated for the rule that sends: explicit Deny wins, then any Allow; a queue
encrypted with a customer managed key also needs the key's policy to allow EventBridge.
Also: generated names are cut to the service's limit the way CloudFormation cuts them, shortening
the stack name part too, so a long stack name changes a rule's name prefix as it does on AWS.
"""

from __future__ import annotations

import logging
from typing import Any

from moto.utilities.arns import parse_arn
from moto.utilities.utils import get_partition

from imgpipe.local import iam_policy

LOG = logging.getLogger("imgpipe.local.eventbridge")
# Generated physical names CloudFormation must fit into the service's limit.
NAME_LIMITS = {
    "AWS::Events::Rule": 64,
    "AWS::Lambda::Function": 64,
    "AWS::StepFunctions::StateMachine": 80,
    "AWS::SQS::Queue": 80,
}
_installed = False


def install() -> None:
    """Generated rule names as CloudFormation makes them; queue policies on rule deliveries."""
    global _installed
    if _installed:
        return
    from moto.cloudformation import parsing
    from moto.events.models import Rule

    original_name = parsing.generate_resource_name

    def generate_resource_name(resource_type: str, stack_name: str, logical_id: str) -> str:
        name = original_name(resource_type, stack_name, logical_id)
        limit = NAME_LIMITS.get(resource_type)
        if limit is None or len(name) <= limit or not name.startswith(f"{stack_name}-"):
            return name
        suffix = name.rpartition("-")[2]
        return shorten(stack_name, logical_id, suffix, limit)

    parsing.generate_resource_name = generate_resource_name
    original_send = Rule._send_to_sqs_queue

    def send_to_sqs_queue(self: Any, resource_id: str, event: Any, group_id: Any = None) -> None:
        partition = get_partition(self.region_name)
        queue_arn = f"arn:{partition}:sqs:{self.region_name}:{self.account_id}:{resource_id}"
        if not events_may_send(queue_arn, self.arn):
            LOG.warning("rule %s may not send to %s (queue policy): dropped", self.arn, queue_arn)
            return
        original_send(self, resource_id, event, group_id)

    Rule._send_to_sqs_queue = send_to_sqs_queue  # type: ignore[method-assign]
    _installed = True


def shorten(stack_name: str, logical_id: str, suffix: str, limit: int) -> str:
    """``<stack>-<logical id>-<suffix>`` within ``limit``: both parts give up characters."""
    budget = limit - len(suffix) - 2
    logical = logical_id[: max(budget // 2, budget - len(stack_name))]
    return f"{stack_name[: budget - len(logical)]}-{logical}-{suffix}"


def events_may_send(queue_arn: str, rule_arn: str) -> bool:
    """Whether the queue's policy allows EventBridge to SendMessage on behalf of this rule."""
    from moto.sqs.models import sqs_backends

    queue = parse_arn(queue_arn)
    try:
        found = sqs_backends[queue.account][queue.region].get_queue(queue.resource_id)
    except Exception:
        return False
    if not policy_allows(getattr(found, "policy", None), queue_arn, rule_arn):
        return False
    return _key_allows(str(getattr(found, "kms_master_key_id", "") or ""), queue_arn, rule_arn)


def _key_allows(reference: str, queue_arn: str, rule_arn: str) -> bool:
    """An encrypted queue also needs its key's policy to let EventBridge encrypt for it."""
    from imgpipe.local.adapters import kms

    if not reference:
        return True
    queue = parse_arn(queue_arn)
    context = {"kms:EncryptionContext:aws:sqs:arn": [queue_arn]}
    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        use = kms.KeyUse(action, reference, "sqs", context)
        if not kms.service_may_use(
            use, "events.amazonaws.com", queue.account, queue.region, rule_arn
        ):
            LOG.warning("rule %s may not use %s's key (%s): dropped", rule_arn, queue_arn, action)
            return False
    return True


def policy_allows(policy: str | None, queue_arn: str, rule_arn: str) -> bool:
    """The decision of a queue policy (JSON) for EventBridge sending on behalf of a rule, with
    the condition keys EventBridge sets (``aws:SourceArn``, ``aws:SourceAccount``)."""
    if not policy:
        return False
    rule = parse_arn(rule_arn)
    caller = iam_policy.Caller(account=rule.account, service="events.amazonaws.com")
    context = {"aws:SourceArn": [rule_arn], "aws:SourceAccount": [rule.account]}
    check = iam_policy.Check("sqs:SendMessage", queue_arn)
    decision = iam_policy.decide_resource(iam_policy.load_document(policy), check, context, caller)
    return decision is iam_policy.Decision.ALLOW
