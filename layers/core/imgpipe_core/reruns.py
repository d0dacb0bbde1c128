"""Manual re-runs by processingId, shared by the CLI, the API and DLQ redrive."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from imgpipe_core import executions, keys, records
from imgpipe_core.models import RerunRequest


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
    """Start a new execution for ``pid`` from the same source; no-op while one is running.

    ``records.claim_rerun`` decides: of concurrent callers exactly one starts the execution.
    """
    record = records.get(table, pid)
    if record is None or record.source is None:
        raise RecordNotFound(pid)
    if not records.claim_rerun(table, record):
        return RerunStarted(pid, None, already_running=True)
    request = RerunRequest(processingId=pid, source=record.source, reason=reason)
    payload = json.dumps(request.model_dump(mode="json", by_alias=True, exclude_none=True))
    try:
        # Execution names must be unique per state machine: bump past names already taken.
        for candidate in range(record.attempt + 1, record.attempt + 51):
            name = keys.execution_name(pid, candidate)
            arn = executions.start(state_machine_arn, name, payload, sfn=sfn)
            if arn is not None:
                return RerunStarted(pid, arn)
        raise RuntimeError(f"could not find a free execution name for {pid}")
    except BaseException:
        records.release_rerun(table, record)
        raise
