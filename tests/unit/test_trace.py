"""imgpipe_core.trace.build_timeline over hand-written execution histories."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from imgpipe_core import executions
from imgpipe_core.trace import build_timeline

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def _history(*rows: tuple[str, int | None, float, dict[str, Any]]) -> list[dict[str, Any]]:
    events = []
    for ident, (kind, previous, seconds, extra) in enumerate(rows, start=1):
        event = {"id": ident, "type": kind, "timestamp": T0 + datetime.timedelta(seconds=seconds)}
        if previous is not None:
            event["previousEventId"] = previous
        events.append({**event, **extra})
    return events


def _entered(name: str) -> dict[str, Any]:
    return {"stateEnteredEventDetails": {"name": name}}


def _exited(name: str) -> dict[str, Any]:
    return {"stateExitedEventDetails": {"name": name}}


def test_retries_errors_and_unfinished_states() -> None:
    # GIVEN a task that failed once and was retried, one whose failure was caught, and one
    # still running
    events = _history(
        ("ExecutionStarted", 0, 0, {}),
        ("TaskStateEntered", 1, 0, _entered("Validate Upload")),
        ("TaskScheduled", 2, 0, {}),
        ("TaskFailed", 3, 1, {"taskFailedEventDetails": {"error": "Lambda.Unknown", "cause": "x"}}),
        ("TaskScheduled", 4, 2, {}),
        ("TaskSucceeded", 5, 2.5, {}),
        ("TaskStateExited", 6, 2.5, _exited("Validate Upload")),
        ("TaskStateEntered", 7, 2.5, _entered("Publish Variants")),
        ("TaskScheduled", 8, 2.5, {}),
        ("TaskFailed", 9, 3, {"taskFailedEventDetails": {"error": "PublishError", "cause": "no"}}),
        ("TaskStateExited", 10, 3, _exited("Publish Variants")),
        ("TaskStateEntered", 11, 3, _entered("Record Failure")),
        ("TaskScheduled", 12, 3, {}),
    )
    # WHEN the timeline is built
    validate, publish, record = build_timeline(events)
    # THEN the retried task succeeded with one retry and no error
    assert (validate.name, validate.type, validate.retries, validate.error) == (
        "Validate Upload", "Task", 1, None,
    )  # fmt: skip
    assert validate.duration_ms == 2500 and validate.start == "2026-01-01T00:00:00.000Z"
    # AND the caught failure keeps its error and cause
    assert (publish.error, publish.cause, publish.retries) == ("PublishError", "no", 0)
    # AND the running state has no end
    assert record.end is None and record.duration_ms is None


def test_map_iterations_are_separate_spans_of_their_map() -> None:
    events = _history(
        ("ExecutionStarted", 0, 0, {}),
        ("MapStateEntered", 1, 0, _entered("Resize Variants")),
        ("MapStateStarted", 2, 0, {}),
        ("MapIterationStarted", 3, 0, {}),
        ("TaskStateEntered", 4, 0, _entered("Resize Variant")),
        ("MapIterationStarted", 3, 0, {}),
        ("TaskStateEntered", 6, 0.5, _entered("Resize Variant")),
        ("TaskScheduled", 7, 0.5, {}),
        ("TaskSucceeded", 8, 1, {}),
        ("TaskStateExited", 9, 1, _exited("Resize Variant")),  # the second iteration ends first
        ("TaskScheduled", 5, 0.1, {}),
        ("TaskSucceeded", 11, 2, {}),
        ("TaskStateExited", 12, 2, _exited("Resize Variant")),
        ("MapIterationSucceeded", 13, 2, {}),
        ("MapStateSucceeded", 14, 2, {}),
        ("MapStateExited", 14, 2.25, _exited("Resize Variants")),
    )
    spans = build_timeline(events)
    assert [s.name for s in spans] == ["Resize Variants", "Resize Variant", "Resize Variant"]
    outer, first, second = spans
    assert outer.type == "Map" and outer.duration_ms == 2250
    assert first.parent == second.parent == "Resize Variants"
    assert (first.duration_ms, second.duration_ms) == (2000, 500)


def test_assigned_variables_of_a_standard_history_and_of_a_catch() -> None:
    # GIVEN a GetExecutionHistory where Register assigned $job and a failed task's Catch
    # assigned nothing, and a log event whose value was truncated
    exited = {
        "name": "Register Upload",
        "output": "{}",
        "assignedVariables": {"job": '{"processingId":"p1","attempt":2}', "cut": '{"a":'},
        "assignedVariablesDetails": {"truncated": True},
    }
    events = _history(
        ("ExecutionStarted", 0, 0, {}),
        ("TaskStateEntered", 1, 0, _entered("Register Upload")),
        ("TaskStateExited", 2, 1, {"stateExitedEventDetails": exited}),
        ("TaskStateEntered", 3, 1, _entered("Validate Upload")),
        ("TaskFailed", 4, 2, {"taskFailedEventDetails": {"error": "E", "cause": "c"}}),
        ("TaskStateExited", 5, 2, _exited("Validate Upload")),
    )
    register, validate = build_timeline(events)
    # THEN the variables are JSON values again; what cannot be parsed stays as it was logged
    assert register.assigned == {"job": {"processingId": "p1", "attempt": 2}, "cut": '{"a":'}
    # AND a state that assigned nothing shows none
    assert validate.assigned is None and validate.error == "E"


def test_json_timestamps_and_aliases() -> None:
    events = [
        {"id": 1, "type": "PassStateEntered", "timestamp": "2026-01-01T00:00:00Z",
         "stateEnteredEventDetails": {"name": "Unwrap Job"}},
        {"id": 2, "previousEventId": 1, "type": "PassStateExited",
         "timestamp": "2026-01-01T00:00:00.250Z",
         "stateExitedEventDetails": {"name": "Unwrap Job"}},
    ]  # fmt: skip
    (span,) = build_timeline(events)
    assert span.model_dump(by_alias=True, exclude_none=True) == {
        "name": "Unwrap Job",
        "type": "Pass",
        "start": "2026-01-01T00:00:00.000Z",
        "end": "2026-01-01T00:00:00.250Z",
        "durationMs": 250,
        "retries": 0,
    }


class _Logs:
    """A CloudWatch Logs client holding log events, oldest first, across two pages."""

    def __init__(self, messages: list[str]) -> None:
        self.pages = [messages[:3], messages[3:]]
        self.calls: list[dict[str, Any]] = []

    def get_paginator(self, name: str) -> _Logs:
        assert name == "filter_log_events"
        return self

    def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
        self.calls.append(kwargs)
        return [{"events": [{"message": m} for m in page]} for page in self.pages]


def test_express_execution_is_read_back_from_its_log_events() -> None:
    # GIVEN an Express execution's log events in AWS's format, another execution's among them
    logged = json.loads((FIXTURES / "express_log_events.json").read_text())
    arn = logged[0]["execution_arn"]
    other = {**logged[1], "execution_arn": arn.replace(":e1:", ":e2:"), "id": "99"}
    logs = _Logs([json.dumps(e) for e in [*logged[:4], other, *logged[4:]]] + ["START x"])
    # WHEN it is read for its trace
    described, events = executions.read(arn, log_group="/aws/vendedlogs/states/s", logs=logs)
    # THEN the log group is filtered on the execution, and only its events come back, in order
    assert logs.calls[0]["filterPattern"] == f'{{ $.execution_arn = "{arn}" }}'
    assert [e["id"] for e in events] == list(range(1, 9))
    assert described["status"] == "SUCCEEDED"
    assert (described["stopDate"] - described["startDate"]).total_seconds() == 2.7
    # AND the timeline is the one a Standard history gives: the retry and its error included
    (span,) = build_timeline(events)
    assert (span.name, span.retries, span.duration_ms, span.error) == (
        "Validate Upload",
        1,
        2500,
        None,
    )
    # AND what the state assigned is shown, parsed back from the log's JSON strings
    assert span.assigned == {"image": {"width": 4000, "height": 3000}, "rejection": None}


def test_an_express_execution_without_log_events_is_gone() -> None:
    with pytest.raises(executions.ExecutionGone):
        executions.read(
            "arn:aws:states:us-east-1:123456789012:express:pipeline:e1:0b1c",
            log_group="g",
            logs=_Logs([]),
        )
