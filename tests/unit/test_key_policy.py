"""A KMS key's authorisation: its key policy decides, IAM policies only where it delegates."""

from __future__ import annotations

from typing import Any

from imgpipe.local.iam_policy import Caller, Check, Policies, Verdict, decide_key

ACCOUNT = "123456789012"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/r"
ROLE_CALLER = Caller(ACCOUNT, arns=(ROLE, f"arn:aws:sts::{ACCOUNT}:assumed-role/r/s"))
VIA_S3 = {"kms:ViaService": ["s3.us-east-1.amazonaws.com"]}


def statement(principal: Any, action: Any = "kms:*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal, "Action": action, "Resource": "*", **extra}


DELEGATING = {"Statement": [statement({"AWS": f"arn:aws:iam::{ACCOUNT}:root"})]}


def role_may(action: str, condition: dict | None = None) -> Policies:
    granted: dict[str, Any] = {"Effect": "Allow", "Action": action, "Resource": KEY}
    if condition:
        granted["Condition"] = condition
    return Policies(identity=[{"Statement": [granted]}])


def test_a_delegating_key_policy_leaves_the_decision_to_the_role_policy() -> None:
    check = Check("kms:Decrypt", KEY, VIA_S3)
    allowed = decide_key(role_may("kms:Decrypt"), DELEGATING, check, {}, ROLE_CALLER)
    missing = decide_key(role_may("kms:GenerateDataKey"), DELEGATING, check, {}, ROLE_CALLER)

    assert allowed is Verdict.ALLOWED
    assert missing is Verdict.NO_IDENTITY_ALLOW


def test_a_via_service_condition_holds_only_through_that_service() -> None:
    policies = role_may(
        "kms:Decrypt", {"StringEquals": {"kms:ViaService": "sqs.us-east-1.amazonaws.com"}}
    )
    check = Check("kms:Decrypt", KEY, VIA_S3)

    assert decide_key(policies, DELEGATING, check, {}, ROLE_CALLER) is Verdict.NO_IDENTITY_ALLOW


def test_without_the_account_statement_iam_policies_grant_nothing() -> None:
    key_policy = {"Statement": [statement({"Service": "events.amazonaws.com"})]}
    check = Check("kms:Decrypt", KEY)

    verdict = decide_key(role_may("kms:Decrypt"), key_policy, check, {}, ROLE_CALLER)

    assert verdict is Verdict.NO_RESOURCE_ALLOW


def test_a_key_policy_naming_the_role_allows_it_without_an_iam_grant() -> None:
    key_policy = {"Statement": [statement({"AWS": ROLE}, "kms:Decrypt")]}

    verdict = decide_key(
        Policies(identity=[]), key_policy, Check("kms:Decrypt", KEY), {}, ROLE_CALLER
    )

    assert verdict is Verdict.ALLOWED


def test_an_explicit_deny_in_the_key_policy_wins() -> None:
    deny = {**statement({"AWS": "*"}, "kms:Decrypt"), "Effect": "Deny"}
    key_policy = {"Statement": [*DELEGATING["Statement"], deny]}

    verdict = decide_key(
        role_may("kms:Decrypt"), key_policy, Check("kms:Decrypt", KEY), {}, ROLE_CALLER
    )

    assert verdict is Verdict.RESOURCE_DENY


def test_a_service_principal_is_allowed_only_for_the_source_its_statement_names() -> None:
    rule = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/*"
    key_policy = {
        "Statement": [
            *DELEGATING["Statement"],
            statement(
                {"Service": "events.amazonaws.com"},
                ["kms:GenerateDataKey", "kms:Decrypt"],
                Condition={"ArnLike": {"aws:SourceArn": rule}},
            ),
        ]
    }
    events = Caller(ACCOUNT, service="events.amazonaws.com")
    cloudfront = Caller(ACCOUNT, service="cloudfront.amazonaws.com")
    check = Check("kms:GenerateDataKey", KEY)
    from_rule = {"aws:SourceArn": [f"arn:aws:events:us-east-1:{ACCOUNT}:rule/dlq"]}
    from_elsewhere = {"aws:SourceArn": ["arn:aws:events:us-east-1:999999999999:rule/dlq"]}

    assert decide_key(None, key_policy, check, from_rule, events) is Verdict.ALLOWED
    assert decide_key(None, key_policy, check, from_elsewhere, events) is Verdict.NO_RESOURCE_ALLOW
    # the account statement delegates to IAM, which a service principal has none of
    assert decide_key(None, key_policy, check, from_rule, cloudfront) is Verdict.NO_RESOURCE_ALLOW
