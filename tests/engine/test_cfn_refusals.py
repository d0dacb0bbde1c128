"""CloudFormation and CloudFront refusals the engine makes as AWS does: Rules, OAC names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imgpipe.local.deploy import DeployError

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.engine


@pytest.mark.parametrize(
    ("overrides", "missing"),
    [
        ({"ApiAuth": "JWT"}, "JwtIssuer"),
        ({"ApiAuth": "JWT", "JwtIssuer": "https://issuer.example"}, "JwtAudience"),
    ],
)
def test_jwt_auth_without_issuer_or_audience_is_refused_before_creation(
    engine: Any, overrides: dict[str, str], missing: str
) -> None:
    name = f"jwt-rules-{missing.lower()}"
    # WHEN the product template is deployed with ApiAuth=JWT and no issuer (or no audience)
    with pytest.raises(DeployError) as refused:
        engine.deploy(ROOT / "template.yaml", name, overrides)
    # THEN the deploy names what is missing, and no stack (nor any of its resources) exists
    assert missing in str(refused.value)
    stacks = engine.client("cloudformation").list_stacks()["StackSummaries"]
    assert [s for s in stacks if s["StackName"] == name] == []


def _oac_template(tmp_path: Path, name: str, comment: str = "c") -> Path:
    template = tmp_path / f"oac-{len(name)}-{len(comment)}.yaml"
    template.write_text(
        "Resources:\n"
        "  Oac:\n"
        "    Type: AWS::CloudFront::OriginAccessControl\n"
        "    Properties:\n"
        "      OriginAccessControlConfig:\n"
        f"        Name: {name}\n"
        "        OriginAccessControlOriginType: s3\n"
        "        SigningBehavior: always\n"
        "        SigningProtocol: sigv4\n"
    )
    return template


def test_cloudfront_refuses_long_and_duplicate_origin_access_control_names(
    engine: Any, tmp_path: Path
) -> None:
    # GIVEN an OAC name of 65 characters: refused, as CloudFront caps names at 64
    with pytest.raises(DeployError, match="64"):
        engine.deploy(_oac_template(tmp_path, "o" * 65), "oac-too-long")
    stack = engine.client("cloudformation").describe_stacks(StackName="oac-too-long")["Stacks"][0]
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"  # as CloudFormation ends a failed create
    # GIVEN two stacks (two regions alike: OAC names are account-wide) with one name
    engine.deploy(_oac_template(tmp_path, "imgpipe-shared-oac"), "oac-first")
    with pytest.raises(DeployError, match="AlreadyExists"):
        engine.deploy(_oac_template(tmp_path, "imgpipe-shared-oac"), "oac-second")


def _table_template(tmp_path: Path, indexes: dict[str, str]) -> Path:
    """A status-like table with global secondary indexes {name: projection type}, each on
    (uploadId, createdAt)."""
    template = tmp_path / ("table-" + "-".join(f"{n}{p}" for n, p in indexes.items()) + ".yaml")
    lines = [
        "Resources:",
        "  Table:",
        "    Type: AWS::DynamoDB::Table",
        "    Properties:",
        "      BillingMode: PAY_PER_REQUEST",
        "      AttributeDefinitions:",
        "        - { AttributeName: id, AttributeType: S }",
        "        - { AttributeName: uploadId, AttributeType: S }",
        "        - { AttributeName: createdAt, AttributeType: S }",
        "      KeySchema: [{ AttributeName: id, KeyType: HASH }]",
        "      GlobalSecondaryIndexes:",
    ]
    for name, projection in indexes.items():
        lines += [
            f"        - IndexName: {name}",
            "          KeySchema:",
            "            - { AttributeName: uploadId, KeyType: HASH }",
            "            - { AttributeName: createdAt, KeyType: RANGE }",
            f"          Projection: {{ ProjectionType: {projection} }}",
        ]
    lines += ["Outputs:", "  TableName:", "    Value: !Ref Table"]
    template.write_text("\n".join(lines) + "\n")
    return template


def test_a_table_update_adds_or_removes_one_index_and_changes_no_projection(
    engine: Any, tmp_path: Path
) -> None:
    # GIVEN a table deployed with one index projecting ALL
    name = "gsi-updates"
    deployed = engine.deploy(_table_template(tmp_path, {"ByUpload": "ALL"}), name)
    table = deployed.outputs["TableName"]

    def indexes() -> dict[str, str]:
        described = engine.client("dynamodb").describe_table(TableName=table)["Table"]
        return {
            index["IndexName"]: index["Projection"]["ProjectionType"]
            for index in described.get("GlobalSecondaryIndexes", [])
        }

    # WHEN the index's projection is changed in place, or renamed (one deleted, one added)
    for refused in ({"ByUpload": "KEYS_ONLY"}, {"UploadKeys": "KEYS_ONLY"}):
        with pytest.raises(DeployError, match="GSI"):
            engine.deploy(_table_template(tmp_path, refused), name)
        # THEN CloudFormation refuses the update and the table keeps its index
        assert indexes() == {"ByUpload": "ALL"}
    # WHEN the new index is added first, then the old one removed (the README's upgrade)
    both = {"ByUpload": "ALL", "UploadKeys": "KEYS_ONLY"}
    engine.deploy(_table_template(tmp_path, both), name)
    assert indexes() == both
    engine.deploy(_table_template(tmp_path, {"UploadKeys": "KEYS_ONLY"}), name)
    # THEN each update succeeds
    assert indexes() == {"UploadKeys": "KEYS_ONLY"}
