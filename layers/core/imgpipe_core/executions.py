"""Step Functions access: starting a re-run's execution, reading an execution for its trace.

A Standard execution is read from Step Functions (DescribeExecution, GetExecutionHistory).
An Express one has no history there (AWS refuses both calls for its ARN): it is read from
the log events its state machine's LoggingConfiguration sends to CloudWatch Logs, turned back
into history events of the same shape. Below Level ALL (the stack's ``ExecutionLogLevel``) only
failure events are logged, and nothing at OFF: such an execution is ``NotLogged``.

The log events are read with a CloudWatch Logs Insights query, whatever the group's class
(``ExecutionLogClass``): an Infrequent Access group has no FilterLogEvents or GetLogEvents, and
Insights reads a Standard group the same way. Insights bills the bytes in the queried time range
of the whole group, so a caller that knows a moment of the execution (the record's
``updatedAt`` is written by the attempt's own states) passes it and the query covers that
moment +/- the Express maximum of five minutes and a margin; without one it covers the group's
retention.
"""

from __future__ import annotations

import datetime
import json
import time
from typing import Any

from botocore.exceptions import ClientError

from imgpipe_core.clients import client

_TERMINAL = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionTimedOut": "TIMED_OUT",
    "ExecutionAborted": "ABORTED",
}


# An Express execution runs at most five minutes; the margin covers clocks and delivery.
EXPRESS_MAX = datetime.timedelta(minutes=5)
WINDOW_MARGIN = datetime.timedelta(minutes=2)
# template.yaml's PipelineLogGroup RetentionInDays: older events are gone anyway.
LOG_RETENTION = datetime.timedelta(days=30)
# GetQueryResults returns at most 10 000 rows; a query that reaches it may have lost events.
QUERY_ROWS = 10_000
_RUNNING = {"Scheduled", "Running"}


class ExecutionGone(Exception):
    """The execution no longer exists (expired from Step Functions' history or the logs)."""


class LogQueryFailed(Exception):
    """Logs Insights did not answer the trace's query (failed, timed out, cut at its limit)."""


# What each level below ALL logs (the developer guide's "Log levels" table).
LOGGED_AT = {
    "ERROR": "failure events only",
    "FATAL": "only executions that failed, timed out or were aborted",
    "OFF": "nothing",
}


class NotLogged(ExecutionGone):
    """An Express execution whose events the log level did not log (a success at ERROR, say)."""

    def __init__(self, level: str) -> None:
        self.level = level
        super().__init__(
            f"not logged: the pipeline logs Express executions at ExecutionLogLevel={level} "
            f"({LOGGED_AT.get(level, level)}); deploy the stack with ExecutionLogLevel=ALL "
            f"(or Default) to trace every execution"
        )


def is_express(execution_arn: str) -> bool:
    """Express execution ARNs name the resource type ``express`` (not ``execution``)."""
    return execution_arn.split(":")[5:6] == ["express"]


def start(state_machine_arn: str, name: str, payload: str, *, sfn: Any = None) -> str | None:
    """Start an execution; ``None`` if one with this name exists already (Standard only:
    Express names are not unique, so for Express the Register claim is the only guard)."""
    try:
        response = (sfn or client("stepfunctions")).start_execution(
            stateMachineArn=state_machine_arn, name=name, input=payload
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ExecutionAlreadyExists":
            return None
        raise
    return str(response["executionArn"])


def read(
    execution_arn: str,
    *,
    log_group: str = "",
    log_level: str = "ALL",
    around: str | datetime.datetime | None = None,
    sfn: Any = None,
    logs: Any = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The execution's description and its history (``log_group``, ``log_level``, ``around``:
    Express only; below ALL the history holds only the events that level logs; ``around`` a
    moment of the execution, which bounds the log query)."""
    if is_express(execution_arn):
        if log_level == "OFF" or not log_group:
            raise NotLogged("OFF")
        try:
            return read_from_logs(execution_arn, log_group, around=around, logs=logs)
        except ExecutionGone as error:
            if log_level != "ALL":
                raise NotLogged(log_level) from error
            # While the window is still open, nothing may simply not be delivered yet.
            if around is None or _still_open(around):
                raise
        # At ALL every execution logs: none in a past window means the hint was wrong (a record
        # written after its attempt ended, say); the retention window is the answer.
        return read_from_logs(execution_arn, log_group, logs=logs)
    sfn = sfn or client("stepfunctions")
    try:
        described = dict(sfn.describe_execution(executionArn=execution_arn))
        events: list[dict[str, Any]] = []
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
            events.extend(page["events"])
    except ClientError as error:
        if error.response["Error"]["Code"] == "ExecutionDoesNotExist":
            raise ExecutionGone(execution_arn) from error
        raise
    return described, events


def log_group_of(state_machine_arn: str, *, sfn: Any = None) -> str:
    """The log group a state machine's LoggingConfiguration delivers to ("" if none)."""
    return logging_of(state_machine_arn, sfn=sfn)[0]


def logging_of(state_machine_arn: str, *, sfn: Any = None) -> tuple[str, str]:
    """A state machine's log group ("" if none) and its log level."""
    described = (sfn or client("stepfunctions")).describe_state_machine(
        stateMachineArn=state_machine_arn
    )
    config = described.get("loggingConfiguration", {})
    level = str(config.get("level") or "OFF")
    for destination in config.get("destinations", []):
        arn = str(destination.get("cloudWatchLogsLogGroup", {}).get("logGroupArn", ""))
        parts = arn.split(":")
        if len(parts) >= 7 and parts[5] == "log-group":
            return parts[6], level
    return "", level


def read_from_logs(
    execution_arn: str,
    log_group: str,
    *,
    around: str | datetime.datetime | None = None,
    logs: Any = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An Express execution from its log events: a DescribeExecution-like dict and events."""
    found: dict[int, dict[str, Any]] = {}
    since, until = window(around)
    for message in logged_messages(execution_arn, log_group, since=since, until=until, logs=logs):
        logged = _parsed(message)
        # The query's filter selects on AWS; the check keeps a looser engine honest too.
        if logged and logged.get("execution_arn") == execution_arn:
            history = history_event(logged)
            found[history["id"]] = history
    if not found:
        raise ExecutionGone(execution_arn)
    events = [found[i] for i in sorted(found)]
    return description_from(execution_arn, events), events


def window(
    around: str | datetime.datetime | None, *, now: datetime.datetime | None = None
) -> tuple[datetime.datetime, datetime.datetime]:
    """The time range a query for an execution covers: around a moment of it, or retention."""
    now = now or datetime.datetime.now(datetime.UTC)
    if around is None:
        return now - LOG_RETENTION, now
    moment = _moment(around) if isinstance(around, str) else around
    reach = EXPRESS_MAX + WINDOW_MARGIN
    return moment - reach, min(now, moment + reach)


def _still_open(around: str | datetime.datetime) -> bool:
    """Whether an execution around this moment may still be running or delivering its log."""
    moment = _moment(around) if isinstance(around, str) else around
    return moment + EXPRESS_MAX + WINDOW_MARGIN > datetime.datetime.now(datetime.UTC)


def logged_messages(
    execution_arn: str,
    log_group: str,
    *,
    since: datetime.datetime,
    until: datetime.datetime,
    logs: Any = None,
    timeout: float = 10.0,
) -> list[str]:
    """The messages an execution logged between ``since`` and ``until``, by Logs Insights
    (StartQuery, then GetQueryResults until it is complete; ``timeout`` below the API's own)."""
    logs = logs or client("logs")
    query = (
        f'fields @timestamp, @message | filter execution_arn = "{execution_arn}" '
        f"| sort @timestamp asc | limit {QUERY_ROWS}"
    )
    try:
        query_id = logs.start_query(
            logGroupName=log_group,
            startTime=int(since.timestamp()),
            endTime=int(until.timestamp()) + 1,  # seconds: the last one whole
            queryString=query,
        )["queryId"]
        deadline, pause = time.monotonic() + timeout, 0.05
        answer = logs.get_query_results(queryId=query_id)
        while answer["status"] in _RUNNING:
            if time.monotonic() > deadline:
                raise LogQueryFailed(f"the log query still runs after {timeout:.0f} s")
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
            answer = logs.get_query_results(queryId=query_id)
    except ClientError as error:
        if error.response["Error"]["Code"] == "ResourceNotFoundException":
            raise ExecutionGone(execution_arn) from error
        raise
    if answer["status"] != "Complete":
        raise LogQueryFailed(f"the log query ended {answer['status']}")
    if len(answer["results"]) >= QUERY_ROWS:
        raise LogQueryFailed(f"the execution logged more than {QUERY_ROWS} events")
    return [
        cell["value"]
        for row in answer["results"]
        for cell in row
        if cell.get("field") == "@message"
    ]


def history_event(logged: dict[str, Any]) -> dict[str, Any]:
    """A log event (AWS's Express log format) as the GetExecutionHistory event it records."""
    kind = str(logged["type"])
    if kind.endswith("StateEntered"):
        key = "stateEnteredEventDetails"
    elif kind.endswith("StateExited"):
        key = "stateExitedEventDetails"
    else:
        key = kind[0].lower() + kind[1:] + "EventDetails"
    event: dict[str, Any] = {
        "id": int(logged["id"]),
        "type": kind,
        "timestamp": _moment(logged["event_timestamp"]),
    }
    previous = int(logged.get("previous_event_id") or 0)
    if previous:
        event["previousEventId"] = previous
    if logged.get("details"):
        event[key] = logged["details"]
    return event


def description_from(execution_arn: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    """What DescribeExecution would say, from the history events."""
    status, stop = "RUNNING", None
    ended: dict[str, Any] = {}
    for event in events:
        if event["type"] in _TERMINAL:
            status, stop = _TERMINAL[event["type"]], event["timestamp"]
            ended = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
    described: dict[str, Any] = {
        "executionArn": execution_arn,
        "status": status,
        "startDate": events[0]["timestamp"],
    }
    if stop is not None:
        described["stopDate"] = stop
    # As DescribeExecution: a failed (timed-out, aborted) execution's error and cause.
    described.update({k: ended[k] for k in ("error", "cause") if ended.get(k)})
    return described


def _moment(value: Any) -> datetime.datetime:
    """AWS logs epoch milliseconds as a string; an ISO timestamp is read too."""
    text = str(value)
    if text.isdigit():
        return datetime.datetime.fromtimestamp(int(text) / 1000, datetime.UTC)
    moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def _parsed(message: str) -> dict[str, Any] | None:
    try:
        value = json.loads(message)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def describe(execution_arn: str) -> dict[str, Any] | None:
    """An execution's description; None if there is no such execution."""
    try:
        return dict(client("stepfunctions").describe_execution(executionArn=execution_arn))
    except ClientError as error:
        if error.response["Error"]["Code"] == "ExecutionDoesNotExist":
            return None
        raise


def map_runs(execution_arn: str) -> list[dict[str, Any]]:
    """Each Map Run of an execution, described (item counts, status)."""
    sfn = client("stepfunctions")
    listed = sfn.list_map_runs(executionArn=execution_arn).get("mapRuns", [])
    return [dict(sfn.describe_map_run(mapRunArn=run["mapRunArn"])) for run in listed]


def redrive(execution_arn: str) -> None:
    client("stepfunctions").redrive_execution(executionArn=execution_arn)
