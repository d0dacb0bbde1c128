"""A template's Rules refuse a stack on the engine as CloudFormation does, before creating it."""

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
