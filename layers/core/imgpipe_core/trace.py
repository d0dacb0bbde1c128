"""An execution's history as a timeline of states: pure functions, shared by the API and CLI.

Step Functions histories are flat event lists. Events are threaded by ``previousEventId``:
a state's task events chain back to its ``...StateEntered`` event, and a Map iteration's
events chain back to the Map state, so following the chain tells which state an event
belongs to even when iterations of the same state run concurrently.

What a state did is shown by the variables it assigned: Step Functions records them, as JSON
strings, in the ``assignedVariables`` of its StateExited event (GetExecutionHistory and the
Express log events alike); the timeline parses them back.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# A task attempt starts with one of these; every attempt after the first is a retry.
_SCHEDULED = ("TaskScheduled", "LambdaFunctionScheduled", "ActivityScheduled")
_SUCCEEDED = ("TaskSucceeded", "LambdaFunctionSucceeded", "ActivitySucceeded")
_FAILED = (
    "TaskFailed",
    "TaskTimedOut",
    "TaskStartFailed",
    "TaskSubmitFailed",
    "LambdaFunctionFailed",
    "LambdaFunctionTimedOut",
    "LambdaFunctionStartFailed",
    "LambdaFunctionScheduleFailed",
    "ActivityFailed",
    "ActivityTimedOut",
    "ActivityScheduleFailed",
    "MapStateFailed",
    "ParallelStateFailed",
)


class StateSpan(BaseModel):
    """One visit of one state (a Map's inner states appear once per iteration)."""

    model_config = ConfigDict(populate_by_name=True)

    name: str
    type: str  # Task, Map, Choice, Pass, ... (from the entered event's type)
    start: str
    end: str | None = None
    duration_ms: int | None = Field(default=None, alias="durationMs")
    retries: int = 0
    error: str | None = None
    cause: str | None = None
    parent: str | None = None  # the enclosing Map/Parallel state's name, if any
    # Variables the state assigned (its Assign, or its Catch's), by name, as JSON values.
    assigned: dict[str, Any] | None = None


def build_timeline(events: list[dict[str, Any]]) -> list[StateSpan]:
    """Per-state entered/exited, duration, retries and the error of a failed state.

    ``events`` are ``GetExecutionHistory`` events in either form: boto3's (``timestamp`` a
    datetime) or JSON (ISO strings). Spans are ordered by start; unfinished ones end ``None``.
    """
    ordered = sorted(events, key=lambda e: int(e["id"]))
    by_id = {int(e["id"]): e for e in ordered}
    owner: dict[int, int | None] = {}  # event id -> id of the StateEntered event that owns it
    parent: dict[int, int | None] = {}  # StateEntered id -> enclosing StateEntered id
    spans: dict[int, dict[str, Any]] = {}
    open_by_name: dict[str, list[int]] = {}

    for event in ordered:
        ident = int(event["id"])
        kind = str(event["type"])
        previous = event.get("previousEventId")
        prev_id = int(previous) if previous else None
        context = _context_of(prev_id, by_id, owner, parent)
        if kind.endswith("StateEntered"):
            details = event.get("stateEnteredEventDetails") or {}
            name = str(details.get("name", "?"))
            owner[ident] = ident
            parent[ident] = context
            spans[ident] = {
                "name": name,
                "type": kind.removesuffix("StateEntered") or "State",
                "start": _moment(event["timestamp"]),
                "end": None,
                "attempts": 0,
                "error": None,
                "cause": None,
                "parent": spans[context]["name"] if context in spans else None,
                "assigned": None,
            }
            open_by_name.setdefault(name, []).append(ident)
            continue
        if kind.endswith("StateExited"):
            details = event.get("stateExitedEventDetails") or {}
            name = str(details.get("name", "?"))
            span_id = context if context in spans and spans[context]["name"] == name else None
            if span_id is None or spans[span_id]["end"] is not None:
                # Chain broken or ambiguous: close the oldest open visit of that state.
                candidates = [s for s in open_by_name.get(name, []) if spans[s]["end"] is None]
                span_id = candidates[0] if candidates else None
            owner[ident] = span_id
            if span_id is not None:
                spans[span_id]["end"] = _moment(event["timestamp"])
                spans[span_id]["assigned"] = _assigned(details.get("assignedVariables"))
                open_by_name[name].remove(span_id)
            continue
        owner[ident] = context
        if context is None or context not in spans:
            continue
        span = spans[context]
        if kind in _SCHEDULED:
            span["attempts"] += 1
        elif kind in _SUCCEEDED:
            span["error"] = span["cause"] = None
        elif kind in _FAILED:
            details = _details(event)
            span["error"] = details.get("error")
            span["cause"] = details.get("cause")

    result: list[StateSpan] = []
    for span in spans.values():
        start, end = span["start"], span["end"]
        result.append(
            StateSpan(
                name=span["name"],
                type=span["type"],
                start=_iso(start),
                end=_iso(end) if end else None,
                durationMs=int((end - start).total_seconds() * 1000) if end else None,
                retries=max(0, span["attempts"] - 1),
                error=span["error"],
                cause=span["cause"],
                parent=span["parent"],
                assigned=span["assigned"],
            )
        )
    result.sort(key=lambda s: s.start)
    return result


def _context_of(
    prev_id: int | None,
    by_id: dict[int, dict[str, Any]],
    owner: dict[int, int | None],
    parent: dict[int, int | None],
) -> int | None:
    """The state an event belongs to, from the event it follows."""
    if prev_id is None or prev_id not in by_id:
        return None
    previous_kind = str(by_id[prev_id]["type"])
    if previous_kind.endswith("StateExited"):
        # After a state exits, its events' owner is whatever encloses it (a Map, or nothing).
        closed = owner.get(prev_id)
        return parent.get(closed) if closed is not None else None
    return owner.get(prev_id)


def _assigned(variables: Any) -> dict[str, Any] | None:
    if not isinstance(variables, dict) or not variables:
        return None
    return {str(name): _json(value) for name, value in variables.items()}


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text  # truncated in a log event (assignedVariablesDetails.truncated): as logged


def _details(event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def _moment(value: Any) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, int | float):
        moment = datetime.datetime.fromtimestamp(value, datetime.UTC)
    else:
        moment = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def _iso(moment: datetime.datetime) -> str:
    utc = moment.astimezone(datetime.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
