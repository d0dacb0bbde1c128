"""Manual re-runs by processingId, shared by the CLI, the API and DLQ redrive."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from imgpipe_core import keys, records
from imgpipe_core.clients import client
from imgpipe_core.models import RerunRequest, Source, Status


class RecordNotFound(Exception):
    pass


@dataclass(frozen=True)
class RerunStarted:
    processing_id: str
    execution_arn: str | None  # None: an attempt is already running (a no-op, not an error)
    already_running: bool = False


def start_rerun(
    table: str,
    state_machine_arn: str,
    pid: str,
    *,
    reason: str = "manual",
    sfn: Any = None,
) -> RerunStarted:
    """Start a new execution for ``pid`` from the same source; no-op while one is running."""
    record = records.get(table, pid)
    if record is None:
        raise RecordNotFound(pid)
    if record["status"] == Status.PROCESSING.value and not _is_stale(record):
        return RerunStarted(pid, None, already_running=True)
    source = Source.model_validate(record["source"])
    request = RerunRequest(processingId=pid, source=source, reason=reason)
    payload = json.dumps(request.model_dump(mode="json", by_alias=True, exclude_none=True))
    stepfunctions = sfn or client("stepfunctions")
    attempt = int(record.get("attempt", 1)) + 1
    # Execution names must be unique per state machine: bump past names already taken.
    for candidate in range(attempt, attempt + 50):
        try:
            response = stepfunctions.start_execution(
                stateMachineArn=state_machine_arn,
                name=keys.execution_name(pid, candidate),
                input=payload,
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ExecutionAlreadyExists":
                continue
            raise
        return RerunStarted(pid, str(response["executionArn"]))
    raise RuntimeError(f"could not find a free execution name for {pid}")


def _is_stale(record: dict[str, object]) -> bool:
    updated = str(record.get("updatedAt", ""))
    return bool(updated) and updated < records.iso(records.now() - records.STALE_AFTER)
