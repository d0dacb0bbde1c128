"""Static check: no state reads a caught error's Cause unless something made sure it is there.

A JSONPath that matches nothing fails the state with States.Runtime, which no Catch catches, and
an error output need not carry a Cause. So every Catch that stores the error in ``$.failure``
must lead to a Choice that supplies a missing Cause before any state reads ``$.failure.Cause``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
STATES: dict[str, Any] = json.loads((ROOT / "statemachine" / "pipeline.asl.json").read_text())[
    "States"
]


def _guards_cause(state: dict[str, Any]) -> bool:
    rules = state.get("Choices", []) if state["Type"] == "Choice" else []
    return any(
        r.get("Variable") == "$.failure.Cause" and r.get("IsPresent") is False for r in rules
    )


def test_every_caught_failure_passes_a_cause_guard_before_its_cause_is_read() -> None:
    entries = [
        (name, catch["Next"])
        for name, state in STATES.items()
        for catch in state.get("Catch", [])
        if catch.get("ResultPath") == "$.failure"
    ]
    assert entries
    for name, target in entries:
        assert _guards_cause(STATES[target]), f"{name} → {target} reads the Cause unguarded"
