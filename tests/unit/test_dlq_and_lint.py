"""DLQ message kinds and the ASL validator."""

from __future__ import annotations

import json
from pathlib import Path

from imgpipe import dlq
from imgpipe.commands import lint
from tests.unit.events import load_event

ROOT = Path(__file__).resolve().parents[2]


def test_pipeline_failure_message_is_rerun_by_processing_id() -> None:
    letter = dlq.parse(load_event("dlq_processing_failed"))
    assert letter.kind == "ProcessingFailed"
    assert letter.processing_id == "abcdefghijklmnopqrstuvwxyz"
    assert letter.error == "Runtime.OutOfMemory" and letter.key == "uploads/x.png"


def test_status_change_message_carries_the_execution_input() -> None:
    letter = dlq.parse(load_event("dlq_status_change"))
    assert letter.kind == "ExecutionTimedOut"
    assert letter.key == "uploads/y.jpg"
    assert letter.execution_input and letter.execution_input["detail"]["object"]["key"]


def test_failed_start_message_is_the_raw_s3_event() -> None:
    message = {
        "MessageId": "m",
        "ReceiptHandle": "r",
        "Body": json.dumps(load_event("s3_object_created")),
        "MessageAttributes": {"ERROR_CODE": {"StringValue": "ThrottlingException"}},
    }
    letter = dlq.parse(message)
    assert letter.kind == "StartFailed" and letter.error == "ThrottlingException"
    assert letter.execution_input == load_event("s3_object_created")


def test_project_definition_is_valid_and_fully_substituted() -> None:
    provided = lint.substitutions(ROOT / "template.yaml")
    path = ROOT / "statemachine" / "pipeline.asl.json"
    assert lint.validate(path, provided[str(path.resolve())]) == []


def test_missing_substitution_and_bad_state_type_are_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.asl.json"
    bad.write_text(
        json.dumps(
            {
                "StartAt": "A",
                "States": {"A": {"Type": "Bogus", "Resource": "${Missing}", "End": True}},
            }
        )
    )
    problems = lint.validate(bad, set())
    assert any("${Missing} has no substitution" in p for p in problems)
    assert any("Bogus" in p for p in problems)
