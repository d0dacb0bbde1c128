"""Step Functions access: starting a re-run's execution, reading an execution for its trace.

A Standard execution is read from Step Functions (DescribeExecution, GetExecutionHistory).
An Express one has no history there (AWS refuses both calls for its ARN): it is read from
the log events its state machine's LoggingConfiguration sends to CloudWatch Logs, turned back
into history events of the same shape. Below Level ALL (the stack's ``ExecutionLogLevel``) only
failure events are logged, and nothing at OFF: such an execution is ``NotLogged``.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from botocore.exceptions import ClientError

from imgpipe_core.clients import client

_TERMINAL = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionTimedOut": "TIMED_OUT",
    "ExecutionAborted": "ABORTED",
}


class ExecutionGone(Exception):
    """The execution no longer exists (expired from Step Functions' history or the logs)."""


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
    sfn: Any = None,
    logs: Any = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The execution's description and its history (``log_group``, ``log_level``: Express only;
    below ALL the history holds only the events that level logs)."""
    if is_express(execution_arn):
        if log_level == "OFF" or not log_group:
            raise NotLogged("OFF")
        try:
            return read_from_logs(execution_arn, log_group, logs=logs)
        except ExecutionGone as error:
            if log_level != "ALL":
                raise NotLogged(log_level) from error
            raise
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
    execution_arn: str, log_group: str, *, logs: Any = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An Express execution from its log events: a DescribeExecution-like dict and events."""
    logs = logs or client("logs")
    found: dict[int, dict[str, Any]] = {}
    try:
        pages = logs.get_paginator("filter_log_events").paginate(
            logGroupName=log_group, filterPattern=f'{{ $.execution_arn = "{execution_arn}" }}'
        )
        for page in pages:
            for event in page["events"]:
                logged = _parsed(event["message"])
                # The pattern selects on AWS; the check keeps a looser engine honest too.
                if logged and logged.get("execution_arn") == execution_arn:
                    history = history_event(logged)
                    found[history["id"]] = history
    except ClientError as error:
        if error.response["Error"]["Code"] == "ResourceNotFoundException":
            raise ExecutionGone(execution_arn) from error
        raise
    if not found:
        raise ExecutionGone(execution_arn)
    events = [found[i] for i in sorted(found)]
    return description_from(execution_arn, events), events


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
