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
