"""What the runtime is asked to run and what one invocation returns: plain data, no AWS SDK.

An engine builds a :class:`FunctionSpec` from its own view of a function (moto's backend in
``imgpipe.local.adapters.lambda_runtime``, LocalStack's in its executor plugin) and hands it to
:meth:`imgpipe.local.runtime.LambdaRuntime.invoke`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    arn: str
    handler: str  # "app.lambda_handler" or "path/to/module.func"
    # The function's unpacked code first, then each layer's /opt/python: sys.path in this order,
    # followed only by what the managed runtime provides and the standard library.
    code_dirs: tuple[Path, ...]
    environment: Mapping[str, str]
    timeout_s: float
    memory_mb: int
    runtime: str = "python3.12"
    version: str = "$LATEST"
    code_sha: str = ""


@dataclass
class InvokeResult:
    payload: bytes
    function_error: str | None  # None or "Unhandled" (X-Amz-Function-Error)
    request_id: str
    log_tail: str  # last 4 KB of the invocation log (X-Amz-Log-Result, before base64)
    duration_ms: float
    max_memory_mb: int
    init_duration_ms: float | None = None  # set on a cold start
    error_type: str | None = None  # errorType of the error payload, if any
    log_stream: str = ""  # the worker's AWS_LAMBDA_LOG_STREAM_NAME, as CloudWatch would name it


LogSink = Callable[[FunctionSpec, str, list[tuple[int, str]]], None]
