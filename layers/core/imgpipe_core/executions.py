"""Step Functions access: starting a re-run's execution, reading an execution for its trace."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from imgpipe_core.clients import client


class ExecutionGone(Exception):
    """The execution no longer exists (expired from Step Functions' history)."""


def start(state_machine_arn: str, name: str, payload: str, *, sfn: Any = None) -> str | None:
    """Start an execution; ``None`` if one with this name exists already."""
    try:
        response = (sfn or client("stepfunctions")).start_execution(
            stateMachineArn=state_machine_arn, name=name, input=payload
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ExecutionAlreadyExists":
            return None
        raise
    return str(response["executionArn"])


def read(execution_arn: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The execution's description and its full history."""
    sfn = client("stepfunctions")
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
