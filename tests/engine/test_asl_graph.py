"""The engine refuses state graphs Step Functions refuses (moto would store them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from imgpipe.local.adapters.asl_graph import diagnostics

ROOT = Path(__file__).resolve().parents[2]
ROLE = "arn:aws:iam::123456789012:role/sfn"
pytestmark = pytest.mark.engine


def _pass(**extra: Any) -> dict[str, Any]:
    return {"Type": "Pass", **extra}


BAD = {
    "missing target": (
        {"StartAt": "A", "States": {"A": _pass(Next="B")}},
        "Missing 'Next' target: B at /States/A/Next",
    ),
    "unreachable state": (
        {"StartAt": "A", "States": {"A": _pass(End=True), "B": _pass(End=True)}},
        'State "B" is not reachable. at /States/B',
    ),
    "a loop nothing enters": (
        {
            "StartAt": "A",
            "States": {"A": _pass(End=True), "B": _pass(Next="C"), "C": _pass(Next="B")},
        },
        'State "C" is not reachable.',
    ),
    "no terminal state": (
        {"StartAt": "A", "States": {"A": _pass(Next="A")}},
        "MISSING_END_STATE: Workflow has no terminal state",
    ),
    "inside a Map": (
        {
            "StartAt": "M",
            "States": {
                "M": {
                    "Type": "Map",
                    "End": True,
                    "ItemProcessor": {
                        "StartAt": "X",
                        "States": {"X": _pass(End=True), "Y": _pass(End=True)},
                    },
                }
            },
        },
        'State "Y" is not reachable. at /States/M/ItemProcessor/States/Y',
    ),
    "a catch to nowhere": (
        {
            "StartAt": "A",
            "States": {
                "A": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Gone"}],
                    "End": True,
                }
            },
        },
        "Missing 'Next' target: Gone at /States/A/Catch[0]/Next",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_broken_graph_is_refused_at_create_and_update(engine: Any, case: str) -> None:
    definition, expected = BAD[case]
    sfn = engine.client("stepfunctions")
    name = f"graph-{case.replace(' ', '-')}"
    with pytest.raises(ClientError) as refused:
        sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)
    assert refused.value.response["Error"]["Code"] == "InvalidDefinition"
    assert expected in refused.value.response["Error"]["Message"]
    # A valid machine may not be updated into the broken one either
    good = {"StartAt": "A", "States": {"A": _pass(End=True)}}
    arn = sfn.create_state_machine(name=name, definition=json.dumps(good), roleArn=ROLE)[
        "stateMachineArn"
    ]
    with pytest.raises(ClientError, match="InvalidDefinition"):
        sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(definition))
    assert json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"]) == good
    sfn.delete_state_machine(stateMachineArn=arn)


@pytest.mark.parametrize("path", sorted((ROOT / "statemachine").glob("*.asl.json")))
def test_the_products_definitions_have_no_finding(path: Path) -> None:
    assert diagnostics(path.read_text()) == []
