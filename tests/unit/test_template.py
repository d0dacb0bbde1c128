"""template.yaml, checked where AWS would refuse or misbehave although the template deploys.

Each test reads the template after the SAM transform, as CloudFormation receives it, and
resolves the few intrinsics it needs for a given stack name, id and region.
"""

from __future__ import annotations

import json
import re
import uuid
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from imgpipe.local.adapters.cfn_rules import failed_assertions
from imgpipe.local.deploy import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
LONGEST_STACK_NAME = "s" + "-long" * 25 + "-x"  # 128 characters, CloudFormation's maximum
DLQ_ARN = {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


@cache
def _transformed_json() -> str:
    import json
    import os

    from samtranslator.translator.transform import transform

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template = load_template(TEMPLATE)
    for resource in template["Resources"].values():  # what packaging does: code lives in S3
        props = resource.get("Properties", {})
        for uri in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(props.get(uri), str):
                props[uri] = f"s3://artifacts/{props[uri].strip('/')}"
    return json.dumps(transform(template, {}, _NoManagedPolicies()))  # type: ignore[arg-type]


def transformed() -> dict[str, Any]:
    import json

    return json.loads(_transformed_json())


def resources(kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in transformed()["Resources"].items() if v["Type"] == kind}


def resolve(node: Any, *, stack_name: str, region: str, stack_uuid: str) -> Any:
    """The value of the string intrinsics the template uses, for one stack."""
    stack_id = f"arn:aws:cloudformation:{region}:123456789012:stack/{stack_name}/{stack_uuid}"
    pseudo = {"AWS::StackName": stack_name, "AWS::Region": region, "AWS::StackId": stack_id}

    def value(n: Any) -> Any:
        if isinstance(n, list):
            return [value(i) for i in n]
        if not isinstance(n, dict):
            return n
        ((fn, arg),) = n.items()
        if fn == "Ref":
            return pseudo[arg]
        if fn == "Fn::Join":
            return arg[0].join(value(arg[1]))
        if fn == "Fn::Select":
            return value(arg[1])[int(arg[0])]
        if fn == "Fn::Split":
            return value(arg[1]).split(arg[0])
        if fn == "Fn::Sub":
            return re.sub(r"\$\{([^}]+)\}", lambda m: pseudo[m.group(1)], arg)
        raise AssertionError(f"unresolved intrinsic {fn}")

    return value(node)


# -- c: every rule that dead-letters to the DLQ may send to it ---------------------------------


def _targets_dlq(rule: dict[str, Any]) -> bool:
    targets = rule["Properties"].get("Targets", [])
    return any(
        t.get("Arn") == DLQ_ARN or (t.get("DeadLetterConfig") or {}).get("Arn") == DLQ_ARN
        for t in targets
    )


def test_dead_letter_queue_policy_admits_exactly_the_rules_that_target_it() -> None:
    # GIVEN every EventBridge rule that targets the DLQ or uses it as its dead-letter queue
    rules = {name for name, r in resources("AWS::Events::Rule").items() if _targets_dlq(r)}
    assert {"PipelineStateMachineUploadCreated", "UncaughtFailureRule"} <= rules
    # WHEN the queue policy's source condition is read
    (policy,) = resources("AWS::SQS::QueuePolicy").values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    condition = statement["Condition"]
    # THEN it names each rule's own ARN: no name pattern, which truncated names would miss
    assert list(condition) == ["ArnEquals"], condition
    allowed = condition["ArnEquals"]["aws:SourceArn"]
    assert sorted(allowed, key=str) == sorted(
        ({"Fn::GetAtt": [name, "Arn"]} for name in rules), key=str
    )


# -- d: CloudFront's name and comment limits for the longest stack name ------------------------


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_cloudfront_names_and_comments_fit_for_the_longest_stack_name(region: str) -> None:
    assert len(LONGEST_STACK_NAME) == 128
    stack_uuid = str(uuid.uuid4())
    for name, oac in resources("AWS::CloudFront::OriginAccessControl").items():
        config = oac["Properties"]["OriginAccessControlConfig"]
        value = resolve(
            config["Name"], stack_name=LONGEST_STACK_NAME, region=region, stack_uuid=stack_uuid
        )
        assert 1 <= len(value) <= 64, (name, value)
        description = resolve(
            config.get("Description", ""),
            stack_name=LONGEST_STACK_NAME,
            region=region,
            stack_uuid=stack_uuid,
        )
        assert len(description) <= 256, (name, description)
    for name, distribution in resources("AWS::CloudFront::Distribution").items():
        comment = resolve(
            distribution["Properties"]["DistributionConfig"].get("Comment", ""),
            stack_name=LONGEST_STACK_NAME,
            region=region,
            stack_uuid=stack_uuid,
        )
        assert len(comment) <= 128, (name, comment)


def test_origin_access_control_names_differ_between_regions_of_one_stack_name() -> None:
    # OAC names are unique per account across every region, so the same stack deployed to two
    # regions must get two names.
    for name, oac in resources("AWS::CloudFront::OriginAccessControl").items():
        config_name = oac["Properties"]["OriginAccessControlConfig"]["Name"]
        first, second = (
            resolve(config_name, stack_name="imgpipe", region=r, stack_uuid=str(uuid.uuid4()))
            for r in ("us-east-1", "eu-west-1")
        )
        assert first != second, name
    names = [
        str(o["Properties"]["OriginAccessControlConfig"]["Name"])
        for o in resources("AWS::CloudFront::OriginAccessControl").values()
    ]
    assert len(set(names)) == len(names)  # and two OACs of one stack differ too


# -- e: JWT without issuer or audience is refused up front; an open API says so ------------------


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"ApiAuth": "JWT"}, {"JwtIssuer", "JwtAudience"}),
        ({"ApiAuth": "JWT", "JwtIssuer": "https://issuer.example"}, {"JwtAudience"}),
        ({"ApiAuth": "JWT", "JwtAudience": "client-a,client-b"}, {"JwtIssuer"}),
        ({"ApiAuth": "JWT", "JwtIssuer": "https://i.example", "JwtAudience": "c"}, set()),
        ({"ApiAuth": "IAM"}, set()),
        ({"ApiAuth": "NONE"}, set()),
    ],
)
def test_rules_refuse_jwt_auth_without_issuer_or_audience(
    overrides: dict[str, str], expected: set[str]
) -> None:
    failed = failed_assertions(transformed(), overrides)
    named = {p for p in ("JwtIssuer", "JwtAudience") if any(p in f for f in failed)}
    assert named == expected, failed


def test_an_open_api_is_called_out_in_the_outputs() -> None:
    template = transformed()
    warnings = [o for o in template["Outputs"].values() if o.get("Condition")]
    flagged = [
        o
        for o in warnings
        if template["Conditions"][o["Condition"]]
        in (
            {"Fn::Equals": [{"Ref": "ApiAuth"}, "NONE"]},
            {"Fn::Equals": ["NONE", {"Ref": "ApiAuth"}]},
        )
    ]
    assert flagged, "no output warns when ApiAuth=NONE"
    assert all("upload" in o["Value"] and "delete" in o["Value"] for o in flagged)


# -- g: data outlives a stack deletion or a replacing change -----------------------------------

STATEFUL = ("AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::SQS::Queue")
# The web page's bucket holds only web/, which is uploaded again from the repository.
REPRODUCIBLE = {"WebBucket"}


def test_stateful_resources_are_retained_on_delete_and_on_replacement() -> None:
    stateful = {name: r for kind in STATEFUL for name, r in resources(kind).items()}
    assert {"PrivateBucket", "PublicBucket", "StatusTable", "DeadLetterQueue"} <= set(stateful)
    for name, resource in stateful.items():
        expected = "Delete" if name in REPRODUCIBLE else "Retain"
        assert resource.get("DeletionPolicy") == expected, name
        assert resource.get("UpdateReplacePolicy") == expected, name


# -- h: the private bucket does not keep garbage forever ---------------------------------------


def _lifecycle() -> list[dict[str, Any]]:
    bucket = resources("AWS::S3::Bucket")["PrivateBucket"]
    return list(bucket["Properties"]["LifecycleConfiguration"]["Rules"])


def test_deleted_staging_objects_do_not_linger_as_noncurrent_versions() -> None:
    rules = [r for r in _lifecycle() if r.get("Prefix") == "staging/" and r["Status"] == "Enabled"]
    days = [
        r["NoncurrentVersionExpiration"]["NoncurrentDays"]
        for r in rules
        if "NoncurrentVersionExpiration" in r
    ]
    assert days and min(days) <= 1, rules


def test_expired_delete_markers_are_removed() -> None:
    rules = [
        r
        for r in _lifecycle()
        if r.get("ExpiredObjectDeleteMarker") is True
        and r["Status"] == "Enabled"
        and not r.get("Prefix")
        and not r.get("TagFilters")
    ]
    assert rules, "no rule removes expired delete markers bucket-wide"


# -- j: no hard-coded partition ------------------------------------------------------------------


def test_template_builds_arns_with_the_partition_pseudo_parameter() -> None:
    literal = [
        f"template.yaml:{number}: {line.strip()}"
        for number, line in enumerate(TEMPLATE.read_text().splitlines(), 1)
        if "arn:aws:" in line and not line.lstrip().startswith("#")
    ]
    assert literal == []


@pytest.mark.parametrize(
    ("overrides", "refused"),
    [
        ({"KmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/k"}, True),
        ({"Encryption": "SSE_KMS", "KmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/k"}, False),
        ({"Encryption": "SSE_KMS"}, False),
        ({}, False),
    ],
)
def test_rules_refuse_a_key_arn_without_sse_kms(overrides: dict[str, str], refused: bool) -> None:
    failed = failed_assertions(transformed(), overrides)
    assert any("KmsKeyArn" in f for f in failed) is refused, failed


def test_every_kms_grant_names_the_key_through_one_service() -> None:
    template = transformed()
    grants = {
        name: resource["Properties"]["PolicyDocument"]["Statement"]
        for name, resource in template["Resources"].items()
        if name.endswith("KeyUse")
    }
    assert len(grants) == 12, sorted(grants)  # each role that reads or writes encrypted data
    for name, statements in grants.items():
        for statement in statements:
            assert "*" not in json.dumps(statement["Resource"]), name
            assert "EncryptionKey" in json.dumps(statement["Resource"]), name
            assert set(statement["Condition"]["StringEquals"]) == {"kms:ViaService"}, name
            assert all(
                a in ("kms:Decrypt", "kms:GenerateDataKey") for a in statement["Action"]
            ) or (statement["Action"] in ("kms:Decrypt", "kms:GenerateDataKey")), name
