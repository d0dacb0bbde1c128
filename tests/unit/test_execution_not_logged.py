"""executions.read below ExecutionLogLevel=ALL: an Express execution the level did not log is
``NotLogged`` (with the level and how to change it), not an empty or "expired" trace."""

from __future__ import annotations

import json
from typing import Any

import pytest

from imgpipe_core import executions
from tests.helpers import FakeInsights as _Logs

ARN = "arn:aws:states:us-east-1:123456789012:express:pipeline:e1:0b1c"


def _event(kind: str, ident: int, details: dict[str, Any]) -> str:
    return json.dumps(
        {
            "details": details,
            "id": str(ident),
            "type": kind,
            "previous_event_id": str(ident - 1),
            "event_timestamp": "1767225600000",
            "execution_arn": ARN,
        }
    )


@pytest.mark.parametrize("level", ["ERROR", "FATAL"])
def test_a_success_below_all_is_not_logged_and_says_how_to_change_it(level: str) -> None:
    with pytest.raises(executions.NotLogged) as refused:
        executions.read(ARN, log_group="g", log_level=level, logs=_Logs([]))
    said = str(refused.value)
    assert f"ExecutionLogLevel={level}" in said and "ExecutionLogLevel=ALL" in said
    assert refused.value.level == level


def test_at_off_the_log_is_not_even_read() -> None:
    logs = _Logs([])
    with pytest.raises(executions.NotLogged, match="ExecutionLogLevel=OFF"):
        executions.read(ARN, log_group="", log_level="OFF", logs=logs)
    assert logs.calls == 0


def test_at_all_an_execution_without_events_is_still_gone_not_unlogged() -> None:
    with pytest.raises(executions.ExecutionGone) as gone:
        executions.read(ARN, log_group="g", log_level="ALL", logs=_Logs([]))
    assert not isinstance(gone.value, executions.NotLogged)


def test_a_failure_logged_at_error_is_read_with_its_error_and_cause() -> None:
    failed = {"error": "ImageProcessingFailed", "cause": '{"errorType":"PublishError"}'}
    logs = _Logs(
        [
            _event("FailStateEntered", 75, {"name": "Processing Failed"}),
            _event("ExecutionFailed", 76, failed),
        ]
    )
    described, events = executions.read(ARN, log_group="g", log_level="ERROR", logs=logs)
    assert described["status"] == "FAILED"
    assert (described["error"], described["cause"]) == (failed["error"], failed["cause"])
    assert [e["type"] for e in events] == ["FailStateEntered", "ExecutionFailed"]


@pytest.mark.parametrize("level", ["Default", "all", "DEBUG"])
def test_a_log_level_the_state_machine_cannot_have_fails_at_cold_start(level: str) -> None:
    # The template resolves `Default` to ALL or ERROR before it reaches the API function
    from pydantic import ValidationError

    from imgpipe_core.config import Settings

    with pytest.raises(ValidationError, match="PIPELINE_LOG_LEVEL"):
        Settings.model_validate({"PIPELINE_LOG_LEVEL": level})
