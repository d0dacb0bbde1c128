"""One Lambda execution environment: imports a handler once, then serves invocations.

Started by :mod:`imgpipe.local.runtime` as ``pythonX.Y -I -S -u worker.py <config json>`` on the
interpreter of the function's Runtime. Stdlib only and run by path, so the handler sees nothing
of imgpipe: ``sys.path`` is the function's code dirs (its code, then each layer's /opt/python),
the managed runtime's packages (boto3 and its dependencies), then the standard library. Nothing
of that interpreter's site-packages (``-S``) nor of the engine's virtualenv.

Protocol: frames on the socket whose fd is in the config, never on stdout (handlers print).
A frame is ``>II`` (header length, body length), a JSON header, then the raw body. Fd 1 and 2 are
the invocation log; before each reply the worker flushes them and writes ``marker`` + newline so
the parent knows it has every line of that invocation.
"""

from __future__ import annotations

import contextlib
import ctypes
import decimal
import importlib
import json
import logging
import math
import os
import socket
import struct
import sys
import threading
import time
import traceback
from typing import Any

_FRAME = struct.Struct(">II")
_REQUEST_ID = ""  # read by the root logger filter, as on Lambda


class FaultError(Exception):
    """A runtime-level failure reported with a Lambda errorType such as Runtime.MarshalError."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


class CognitoIdentity:
    cognito_identity_id: str | None = None
    cognito_identity_pool_id: str | None = None


class ClientContext:
    def __init__(self, data: dict[str, Any]) -> None:
        self.client = data.get("client")
        self.custom = data.get("custom")
        self.env = data.get("env")


class LambdaContext:
    """The attributes and method of the context object of Lambda's Python runtime."""

    def __init__(
        self, request_id: str, arn: str, deadline_ms: int, client_context: dict[str, Any] | None
    ) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = arn
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
        self.memory_limit_in_mb = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.identity = CognitoIdentity()
        self.client_context = ClientContext(client_context) if client_context else None
        self.tenant_id: str | None = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},"
            f"function_name={self.function_name},function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn}])"
        )


class _Encoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        # Lambda's marshaller writes Decimals (e.g. from DynamoDB) as numbers.
        if isinstance(o, decimal.Decimal):
            if o.is_nan():
                return math.nan
            return int(o) if o == o.to_integral_value() else float(o)
        return super().default(o)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _REQUEST_ID
        return True


def _send(sock: socket.socket, header: dict[str, Any], body: bytes = b"") -> None:
    head = json.dumps(header).encode()
    sock.sendall(_FRAME.pack(len(head), len(body)) + head + body)


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _recv(sock: socket.socket) -> tuple[dict[str, Any], bytes] | None:
    prefix = _recv_exact(sock, _FRAME.size)
    if prefix is None:
        return None
    head_len, body_len = _FRAME.unpack(prefix)
    head = _recv_exact(sock, head_len)
    body = _recv_exact(sock, body_len) if body_len else b""
    if head is None or body is None:
        return None
    return json.loads(head), body


def _watch_parent(ppid: int) -> None:
    # Reparenting means the engine died; an orphaned warm worker must not outlive it. (Not
    # PR_SET_PDEATHSIG: that fires when the spawning *thread* exits, and invokes come from many.)
    def run() -> None:
        while os.getppid() == ppid:
            time.sleep(0.25)
        os._exit(1)

    threading.Thread(target=run, name="lambda-parent-watch", daemon=True).start()


def _isolate_imports(code_dirs: list[str], runtime_dirs: list[str]) -> None:
    """Code and layers first, then the managed runtime, then the standard library only."""
    # -S kept site-packages out already; filter again so a distro Python's dist-packages
    # (patched into its default path) cannot leak packages Lambda would not have.
    stdlib = [
        p for p in sys.path if p and os.path.basename(p) not in ("site-packages", "dist-packages")
    ]
    sys.path[:] = [*code_dirs, *runtime_dirs, *stdlib]
    sys.path_importer_cache.clear()


def _setup_logging() -> None:
    # Lambda's bootstrap gives the root logger a stdout handler (so basicConfig is a no-op there).
    logging.Formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    handler.addFilter(_RequestIdFilter())
    logging.getLogger().addHandler(handler)
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
    if level in logging.getLevelNamesMapping():
        logging.getLogger().setLevel(level)


def _load_handler(handler: str) -> Any:
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise FaultError("Runtime.MalformedHandlerName", f"Bad handler '{handler}': {e}") from e
    if modname.split(".")[0] in sys.builtin_module_names:
        raise FaultError(
            "Runtime.BuiltInModuleConflict",
            f"Cannot use built-in module {modname} as a handler module",
        )
    try:
        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        raise FaultError(
            "Runtime.ImportModuleError", f"Unable to import module '{modname}': {e}"
        ) from e
    except SyntaxError as e:
        trace = [f'  File "{e.filename}" Line {e.lineno}\n    {e.text}']
        raise FaultError(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{modname}': {e}", trace
        ) from e
    try:
        return getattr(module, fname)
    except AttributeError as e:
        raise FaultError(
            "Runtime.HandlerNotFound", f"Handler '{fname}' missing on module '{modname}'"
        ) from e


def _error_from(exc: BaseException, request_id: str) -> dict[str, Any]:
    if isinstance(exc, FaultError):
        return _make_error(exc.message, exc.error_type, exc.trace, request_id)
    frames = list(traceback.extract_tb(exc.__traceback__))
    # Drop this file's frames so the trace starts in user code, as Lambda's does.
    while frames and frames[0].filename == __file__:
        frames.pop(0)
    return _make_error(str(exc), type(exc).__name__, traceback.format_list(frames), request_id)


def _make_error(message: str, error_type: str, trace: list[str], request_id: str) -> dict[str, Any]:
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": trace,
    }


def _log_error(error: dict[str, Any]) -> None:
    lines = [f"[ERROR] {error['errorType']}: {error['errorMessage']}"]
    lines.append("Traceback (most recent call last):")
    for element in error["stackTrace"]:
        lines.extend(element.splitlines())
    sys.stdout.write("\n".join(lines) + "\n")


def _sync_output(marker: bytes) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a handler may have closed or replaced them
            stream.flush()
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).fflush(None)  # C extensions' stdio buffers
    with contextlib.suppress(OSError):
        os.write(1, marker + b"\n")


def _marshal(response: Any) -> bytes:
    if isinstance(response, bytes):
        return response
    try:
        return json.dumps(response, cls=_Encoder, ensure_ascii=False).encode()
    except Exception as e:
        raise FaultError("Runtime.MarshalError", f"Unable to marshal response: {e}") from e


def _invoke(handler: Any, header: dict[str, Any], body: bytes) -> tuple[bytes, bool]:
    request_id = header["request_id"]
    try:
        try:
            event = json.loads(body) if body.strip() else {}
        except ValueError as e:
            raise FaultError("Runtime.UnmarshalError", f"Unable to unmarshal input: {e}") from e
        context = LambdaContext(
            request_id, header["arn"], header["deadline_ms"], header.get("client_context")
        )
        return _marshal(handler(event, context)), False
    except Exception as e:
        error = _error_from(e, request_id)
        _log_error(error)
        return json.dumps(error).encode(), True


def main(argv: list[str]) -> int:
    global _REQUEST_ID
    config = json.loads(argv[1])
    sock = socket.socket(fileno=config["fd"])
    marker = config["marker"].encode()
    _watch_parent(config["ppid"])
    _isolate_imports(config["code_dirs"], config.get("runtime_dirs", []))
    sys.argv = [argv[0]]
    _setup_logging()

    started = time.perf_counter()
    try:
        handler = _load_handler(config["handler"])
    except Exception as e:
        # Lambda reports init failures with an empty requestId and retries init on a new sandbox.
        error = _error_from(e, "")
        _log_error(error)
        _sync_output(marker)
        _send(sock, {"type": "init_error"}, json.dumps(error).encode())
        return 1
    _sync_output(marker)
    _send(sock, {"type": "ready", "init_ms": (time.perf_counter() - started) * 1000})

    while True:
        message = _recv(sock)
        if message is None:  # parent closed the socket: shut down like a reclaimed sandbox
            return 0
        header, body = message
        _REQUEST_ID = header["request_id"]
        response, failed = _invoke(handler, header, body)
        _sync_output(marker)
        _send(sock, {"type": "result", "error": failed}, response)
        _REQUEST_ID = ""


if __name__ == "__main__":
    sys.exit(main(sys.argv))
