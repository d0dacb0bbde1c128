"""imgpipe_core.trace.build_timeline over hand-written execution histories."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from imgpipe_core import executions
from imgpipe_core.trace import build_timeline
from tests.helpers import FakeInsights

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


def test_express_execution_is_read_back_from_its_log_events() -> None:
    # GIVEN an Express execution's log events in AWS's format, another execution's among them
    logged = json.loads((FIXTURES / "express_log_events.json").read_text())
    arn = logged[0]["execution_arn"]
    other = {**logged[1], "execution_arn": arn.replace(":e1:", ":e2:"), "id": "99"}
    logs = FakeInsights([json.dumps(e) for e in [*logged[:4], other, *logged[4:]]] + ["START x"])
    # WHEN it is read for its trace, knowing a moment of the execution
    moment = "2026-01-01T12:00:00.000Z"
    described, events = executions.read(
        arn, log_group="/aws/vendedlogs/states/s", around=moment, logs=logs
    )
    # THEN one Logs Insights query selects the execution's events in the window around it
    (query,) = logs.queries
    assert query["logGroupName"] == "/aws/vendedlogs/states/s"
    assert f'| filter execution_arn = "{arn}" |' in query["queryString"]
    assert query["queryString"].startswith("fields @timestamp, @message")
    start = datetime.datetime(2026, 1, 1, 11, 53, tzinfo=datetime.UTC).timestamp()
    assert (query["startTime"], query["endTime"]) == (start, start + 14 * 60 + 1)
    # AND it was polled until complete; only this execution's events come back, in order
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
            logs=FakeInsights([]),
        )


def test_without_a_moment_the_query_covers_the_log_groups_retention() -> None:
    now = datetime.datetime(2026, 12, 2, 7, 0, tzinfo=datetime.UTC)
    since, until = executions.window(None, now=now)
    assert (until - since, until) == (datetime.timedelta(days=30), now)
    # AND the constant is the template's retention of the pipeline's log group
    template = (Path(__file__).parents[2] / "template.yaml").read_text()
    group = template[template.index("  PipelineLogGroup:") :]
    assert "RetentionInDays: 30" in group[: group.index("\n\n")]


def test_a_moment_bounds_the_query_to_the_express_maximum_and_a_margin() -> None:
    now = datetime.datetime(2026, 12, 2, 7, 0, tzinfo=datetime.UTC)
    since, until = executions.window("2026-12-02T06:58:00.000Z", now=now)
    assert since == datetime.datetime(2026, 12, 2, 6, 51, tzinfo=datetime.UTC)
    assert until == now  # not beyond what can have been logged


def _one_success() -> tuple[str, list[str]]:
    logged = json.loads((FIXTURES / "express_log_events.json").read_text())
    return logged[0]["execution_arn"], [json.dumps(e) for e in logged]


@pytest.mark.parametrize("final", ["Failed", "Cancelled", "Timeout", "Unknown"])
def test_a_query_that_does_not_complete_is_an_error_not_an_empty_trace(final: str) -> None:
    arn, messages = _one_success()
    with pytest.raises(executions.LogQueryFailed, match=final):
        executions.read(arn, log_group="g", logs=FakeInsights(messages, final=final))


def test_a_query_still_running_at_the_deadline_is_an_error() -> None:
    arn, messages = _one_success()
    logs = FakeInsights(messages, polls=10**6)
    with pytest.raises(executions.LogQueryFailed, match="still runs"):
        executions.logged_messages(
            arn,
            "g",
            since=datetime.datetime.now(datetime.UTC),
            until=datetime.datetime.now(datetime.UTC),
            logs=logs,
            timeout=0.3,
        )
    assert logs.results_calls > 2  # it polled, backing off, until the deadline


def test_a_query_at_the_row_limit_is_refused_rather_than_read_short() -> None:
    arn, messages = _one_success()
    logs = FakeInsights(messages * (executions.QUERY_ROWS // len(messages) + 1))
    with pytest.raises(executions.LogQueryFailed, match="more than 10000 events"):
        executions.read(arn, log_group="g", logs=logs)


def test_at_all_a_window_that_finds_nothing_is_widened_to_the_retention_once() -> None:
    # GIVEN a log that answers only the second query (the hint's window missed the execution)
    arn, messages = _one_success()

    class Missed(FakeInsights):
        def get_query_results(self, *, queryId: str) -> dict[str, Any]:
            answer = super().get_query_results(queryId=queryId)
            return {**answer, "results": []} if queryId == "1" else answer

    logs = Missed(messages, polls=0)
    described, _ = executions.read(arn, log_group="g", around="2026-01-01T00:00:00Z", logs=logs)
    assert described["status"] == "SUCCEEDED"
    first, second = logs.queries
    assert (
        second["endTime"] - second["startTime"] > 29 * 86400 > first["endTime"] - first["startTime"]
    )


def test_a_window_still_open_is_not_widened_its_events_may_not_be_delivered_yet() -> None:
    arn, _ = _one_success()
    logs = FakeInsights([], polls=0)
    recent = datetime.datetime.now(datetime.UTC).isoformat()
    with pytest.raises(executions.ExecutionGone):
        executions.read(arn, log_group="g", around=recent, logs=logs)
    assert logs.calls == 1  # no scan of the whole retention for an execution just started
