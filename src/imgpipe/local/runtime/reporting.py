"""Lambda's words for what happened: error payloads, errorTypes and the REPORT log line.

Kept apart from the process plumbing so each wording can be checked against Lambda's own
(``Sandbox.Timedout``, ``Runtime.OutOfMemory``, ``Runtime.ExitError``, size limits).
"""

from __future__ import annotations

import json
import math
import signal
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MAX_RESPONSE_BYTES = 6_291_556  # synchronous invoke response limit


@dataclass
class Outcome:
    payload: bytes
    error_type: str | None
    report_status: str = ""  # extra REPORT fields after a sandbox failure
    keep_worker: bool = True


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def exit_description(returncode: int | None) -> str:
    """Lambda's (Go) wording for how the runtime process ended."""
    if returncode is None:
        return "signal: killed"
    if returncode < 0:
        name = signal.strsignal(-returncode) or f"signal {-returncode}"
        return f"signal: {name.lower()}"
    return f"exit status {returncode}"


def reply_outcome(header: dict[str, Any], body: bytes) -> Outcome:
    """The worker answered: the handler's result, its error, or a response over the limit."""
    if header.get("error"):
        return Outcome(body, json.loads(body).get("errorType"))
    if len(body) > MAX_RESPONSE_BYTES:
        error = {
            "errorMessage": "Response payload size exceeded maximum allowed payload size "
            f"({MAX_RESPONSE_BYTES} bytes).",
            "errorType": "Function.ResponseSizeTooLarge",
        }
        return Outcome(json.dumps(error).encode(), error["errorType"])
    return Outcome(body, None)


def init_failure(body: bytes, init_ms: float) -> tuple[Outcome, str]:
    """The handler module failed to load; returns the outcome and the INIT_REPORT line."""
    error_type = json.loads(body).get("errorType", "Runtime.Unknown")
    status = f"Status: error\tError Type: {error_type}"
    report = f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: init\t{status}"
    return Outcome(body, error_type, status, keep_worker=False), report


def sandbox_failure(
    kind: str, request_id: str, timeout_s: float, returncode: int | None, now: int
) -> tuple[Outcome, list[tuple[int, str]]]:
    """The worker timed out, went over its memory or died: Lambda's payload and log lines."""
    if kind == "timeout":
        error_type = "Sandbox.Timedout"
        message = f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds"
        lines = [(now, f"{iso(now)} {request_id} Task timed out after {timeout_s:.2f} seconds")]
        status = "Status: timeout"
    else:
        reason = "signal: killed" if kind == "oom" else exit_description(returncode)
        error_type = "Runtime.OutOfMemory" if kind == "oom" else "Runtime.ExitError"
        message = f"RequestId: {request_id} Error: Runtime exited with error: {reason}"
        lines = [(now, message), (now, error_type)]
        status = f"Status: error\tError Type: {error_type}"
    error = {"errorType": error_type, "errorMessage": message}
    return Outcome(json.dumps(error).encode(), error_type, status, keep_worker=False), lines


def report_line(
    request_id: str,
    duration_ms: float,
    memory_mb: int,
    max_mb: int,
    init_ms: float | None,
    status: str,
) -> str:
    report = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {math.ceil(duration_ms)} ms\tMemory Size: {memory_mb} MB\t"
        f"Max Memory Used: {max_mb} MB"
    )
    if init_ms is not None:
        report += f"\tInit Duration: {init_ms:.2f} ms"
    if status:
        report += "\t" + status
    return report
