"""Local Lambda runtime: runs a function's real Python handler in warm worker processes.

Stands in for the Docker-based Invoke of moto. Each worker (:mod:`imgpipe.local.worker`) is one
execution environment: it imports the handler once (cold start) and serves invocations one at a
time. The parent enforces what the Lambda sandbox enforces (timeout, memory size, crashes), frames
the invocation log with START/END/REPORT and keeps it on disk.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import logging
import math
import os
import secrets
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["FunctionSpec", "InvokeResult", "LambdaRuntime", "LogSink"]

_log = logging.getLogger(__name__)

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
INIT_TIMEOUT_S = 10.0  # Lambda's init phase limit; the invoke timeout then covers a slow init too
MAX_RESPONSE_BYTES = 6_291_556  # synchronous invoke response limit
LOG_TAIL_BYTES = 4096
_POLL_S = 0.02  # memory watchdog period while an invocation runs
_SYNC_GRACE_S = 2.0  # how long to wait for a worker's output after its reply
_FRAME = struct.Struct(">II")


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    arn: str
    handler: str  # "app.lambda_handler" or "path/to/module.func"
    code_dirs: tuple[Path, ...]  # function code first, then layers: sys.path in this order
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


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _spec_key(spec: FunctionSpec) -> str:
    """Everything that shapes a worker process; a change means a new execution environment."""
    shape = [
        spec.name,
        spec.code_sha,
        spec.handler,
        [str(d) for d in spec.code_dirs],
        sorted(spec.environment.items()),
        spec.memory_mb,
        spec.runtime,
        spec.version,
    ]
    return hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:16]


def _exit_description(returncode: int | None) -> str:
    """Lambda's (Go) wording for how the runtime process ended."""
    if returncode is None:
        return "signal: killed"
    if returncode < 0:
        name = signal.strsignal(-returncode) or f"signal {-returncode}"
        return f"signal: {name.lower()}"
    return f"exit status {returncode}"


def _decode_client_context(client_context: str | None) -> dict[str, Any] | None:
    # Invoke's ClientContext is base64 JSON; accept plain JSON too.
    if not client_context:
        return None
    for decode in (base64.b64decode, lambda s: s.encode()):
        try:
            value = json.loads(decode(client_context))
        except (ValueError, binascii.Error):
            continue
        if isinstance(value, dict):
            return value
    return None


def _environment(spec: FunctionSpec, log_stream: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "TZ": "UTC",
    }
    env.update(spec.environment)
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    env.setdefault("AWS_REGION", region)
    env.setdefault("AWS_DEFAULT_REGION", region)
    env.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "LAMBDA_TASK_ROOT": str(spec.code_dirs[0]),
            "_HANDLER": spec.handler,
        }
    )
    return env


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


class _Worker:
    """One worker process, its control socket and the reader of its fd 1/2."""

    def __init__(self, spec: FunctionSpec, key: str) -> None:
        self.key = key
        self.log_stream = f"{datetime.now(UTC):%Y/%m/%d}/[{spec.version}]{uuid.uuid4().hex}"
        self.marker = ("\x1eimgpipe-sync-" + secrets.token_hex(8)).encode()
        self.init_ms: float | None = None  # None until the handler module is imported
        self.peak_kb = 0
        self._messages = 0
        self._markers = 0
        self._eof = False
        self._lines: list[tuple[int, str]] = []
        self._cond = threading.Condition()

        parent_sock, child_sock = socket.socketpair()
        read_fd, write_fd = os.pipe()
        config = {
            "fd": child_sock.fileno(),
            "marker": self.marker.decode(),
            "ppid": os.getpid(),
            "handler": spec.handler,
            "code_dirs": [str(d) for d in spec.code_dirs],
        }
        try:
            # -I: no PYTHON* env vars, no cwd or script dir on sys.path; -u: prints reach the log
            # before a crash. A new session keeps terminal signals away and makes a process group
            # to kill, including anything the handler spawned.
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-u", str(WORKER_SCRIPT), json.dumps(config)],
                stdin=subprocess.DEVNULL,
                stdout=write_fd,
                stderr=write_fd,
                pass_fds=(child_sock.fileno(),),
                cwd=spec.code_dirs[0],
                env=_environment(spec, self.log_stream),
                start_new_session=True,
            )
        except BaseException:
            os.close(read_fd)
            parent_sock.close()
            raise
        finally:
            os.close(write_fd)
            child_sock.close()
        self.spawned_at = time.monotonic()
        self.spawned_ms = _now_ms()
        self.sock = parent_sock
        self._reader = threading.Thread(
            target=self._read_output, args=(read_fd,), name=f"lambda-log-{spec.name}", daemon=True
        )
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    # -- output -------------------------------------------------------------------------------

    def _read_output(self, fd: int) -> None:
        pending = b""
        try:
            while chunk := os.read(fd, 65536):
                now = _now_ms()
                pending += chunk
                *complete, pending = pending.split(b"\n")
                with self._cond:
                    for raw in complete:
                        self._take_line(raw, now)
                    self._cond.notify_all()
        finally:
            os.close(fd)
            with self._cond:
                if pending:
                    self._take_line(pending, _now_ms())
                self._eof = True
                self._cond.notify_all()

    def _take_line(self, raw: bytes, ts: int) -> None:
        if raw.endswith(self.marker):
            raw = raw[: -len(self.marker)]
            self._markers += 1
            if not raw:
                return
        self._lines.append((ts, raw.decode("utf-8", "replace").rstrip("\r")))

    def take_lines(self) -> list[tuple[int, str]]:
        """Output up to the worker's last reply (waits briefly for it to drain)."""
        with self._cond:
            self._cond.wait_for(lambda: self._markers >= self._messages or self._eof, _SYNC_GRACE_S)
            lines, self._lines = self._lines, []
        return lines

    # -- control ------------------------------------------------------------------------------

    def send(self, header: dict[str, Any], body: bytes) -> bool:
        head = json.dumps(header).encode()
        try:
            self.sock.sendall(_FRAME.pack(len(head), len(body)) + head + body)
        except OSError:
            return False
        return True

    def await_reply(
        self, deadline: float, limit_kb: int
    ) -> tuple[str, dict[str, Any] | None, bytes]:
        """("reply", header, body), or ("timeout" | "oom" | "exit", None, b"")."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timeout", None, b""
            try:
                ready, _, _ = select.select([self.sock], [], [], min(_POLL_S, remaining))
            except (OSError, ValueError):
                return "exit", None, b""
            if self.memory_kb() > limit_kb:
                return "oom", None, b""
            if ready:
                return self._recv()

    def _recv(self) -> tuple[str, dict[str, Any] | None, bytes]:
        try:
            prefix = _recv_exact(self.sock, _FRAME.size)
            if prefix is None:
                return "exit", None, b""
            head_len, body_len = _FRAME.unpack(prefix)
            head = _recv_exact(self.sock, head_len)
            body = _recv_exact(self.sock, body_len) if body_len else b""
        except OSError:
            return "exit", None, b""
        if head is None or body is None:
            return "exit", None, b""
        self._messages += 1
        return "reply", json.loads(head), body

    def memory_kb(self) -> int:
        """Current RSS in KiB; also tracks the lifetime peak (VmHWM) for REPORT."""
        try:
            with open(f"/proc/{self.proc.pid}/status", "rb") as f:
                status = f.read()
        except OSError:
            return 0
        rss = 0
        for line in status.splitlines():
            if line.startswith(b"VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith(b"VmHWM:"):
                self.peak_kb = max(self.peak_kb, int(line.split()[1]))
        self.peak_kb = max(self.peak_kb, rss)
        return rss

    def kill(self) -> None:
        """SIGKILL the worker's process group and reap it; idempotent."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._reader.join(timeout=_SYNC_GRACE_S)

    def close(self) -> None:
        self.kill()
        self.sock.close()


@dataclass
class _Pool:
    key: str
    idle: list[_Worker] = field(default_factory=list)
    size: int = 0  # idle + busy + being spawned


@dataclass
class _Outcome:
    payload: bytes
    error_type: str | None
    report_status: str = ""  # extra REPORT fields after a sandbox failure
    keep_worker: bool = True


class LambdaRuntime:
    """Warm pools of worker processes, one pool per function name. Thread-safe."""

    def __init__(
        self,
        log_dir: Path,
        *,
        log_sink: LogSink | None = None,
        max_workers_per_function: int = 10,
    ) -> None:
        self.log_dir = Path(log_dir)
        self.log_sink = log_sink
        self.max_workers_per_function = max_workers_per_function
        # By (name, version): published versions are separate environments, as on Lambda.
        self._pools: dict[tuple[str, str], _Pool] = {}
        self._busy: set[_Worker] = set()
        self._cond = threading.Condition()
        self._closed = False

    def __enter__(self) -> LambdaRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # -- public -------------------------------------------------------------------------------

    def invoke(
        self, spec: FunctionSpec, payload: bytes, *, client_context: str | None = None
    ) -> InvokeResult:
        """Run one invocation; blocks while all of the function's workers are busy."""
        if not spec.code_dirs:
            raise ValueError(f"function {spec.name} has no code dirs")
        request_id = str(uuid.uuid4())
        worker = self._acquire(spec)
        keep = False
        try:
            result, lines, keep = self._run(worker, spec, request_id, payload, client_context)
        finally:
            self._release(spec, worker, keep)
        text = "".join(line + "\n" for _, line in lines)
        result.log_tail = text.encode()[-LOG_TAIL_BYTES:].decode("utf-8", "ignore")
        self._keep_log(spec, request_id, lines[0][0], text)
        if self.log_sink is not None:
            try:
                self.log_sink(spec, request_id, lines)
            except Exception:  # logging must never fail an invocation
                _log.exception("log sink failed for %s %s", spec.name, request_id)
        return result

    def logs(self, function_name: str, request_id: str | None = None) -> str:
        """Kept log of one invocation, or of all of a function's invocations, oldest first."""
        base = self.log_dir / _safe(function_name)
        pattern = f"*/{_safe(request_id)}.log" if request_id else "*/*.log"
        paths = sorted(base.glob(pattern), key=lambda p: (p.stat().st_mtime_ns, p.name))
        return "".join(p.read_text(encoding="utf-8") for p in paths)

    def worker_pids(self, function_name: str | None = None) -> list[int]:
        """Pids of live workers (idle and busy); for tests and diagnostics."""
        with self._cond:
            workers = [w for p in self._pools.values() for w in p.idle] + list(self._busy)
            if function_name is not None:
                keys = {p.key for (name, _), p in self._pools.items() if name == function_name}
                workers = [w for w in workers if w.key in keys]
        return sorted(w.pid for w in workers if w.alive())

    def shutdown(self) -> None:
        """Kill every worker. Invocations still running end with Runtime.ExitError."""
        with self._cond:
            self._closed = True
            workers = [w for p in self._pools.values() for w in p.idle] + list(self._busy)
            self._pools.clear()
            self._cond.notify_all()
        for w in workers:
            w.kill()

    # -- pool ---------------------------------------------------------------------------------

    def _acquire(self, spec: FunctionSpec) -> _Worker:
        key = _spec_key(spec)
        stale: list[_Worker] = []
        try:
            with self._cond:
                while True:
                    if self._closed:
                        raise RuntimeError("LambdaRuntime is shut down")
                    pool = self._pools.get((spec.name, spec.version))
                    if pool is None or pool.key != key:
                        # Redeployed (code, env, memory): retire the old environments.
                        if pool is not None:
                            stale.extend(pool.idle)
                        pool = self._pools[(spec.name, spec.version)] = _Pool(key)
                    while pool.idle:
                        worker = pool.idle.pop()  # most recently used: keeps one worker hot
                        if worker.alive():
                            self._busy.add(worker)
                            return worker
                        pool.size -= 1
                        stale.append(worker)
                    if pool.size < self.max_workers_per_function:
                        pool.size += 1
                        break
                    self._cond.wait()
        finally:
            for w in stale:
                w.close()
        try:
            worker = _Worker(spec, key)
        except BaseException:
            with self._cond:
                pool.size -= 1
                self._cond.notify_all()
            raise
        with self._cond:
            closed = self._closed
            if not closed:
                self._busy.add(worker)
        if closed:  # shutdown() ran while this worker was starting
            worker.close()
            raise RuntimeError("LambdaRuntime is shut down")
        return worker

    def _release(self, spec: FunctionSpec, worker: _Worker, keep: bool) -> None:
        with self._cond:
            self._busy.discard(worker)
            pool = self._pools.get((spec.name, spec.version))
            current = pool is not None and pool.key == worker.key
            keep = keep and current and not self._closed and worker.alive()
            if pool is not None and keep:
                pool.idle.append(worker)
            elif pool is not None and current:
                pool.size -= 1
            self._cond.notify_all()
        if not keep:
            worker.close()

    # -- one invocation -----------------------------------------------------------------------

    def _run(
        self,
        worker: _Worker,
        spec: FunctionSpec,
        request_id: str,
        payload: bytes,
        client_context: str | None,
    ) -> tuple[InvokeResult, list[tuple[int, str]], bool]:
        limit_kb = spec.memory_mb * 1024
        lines: list[tuple[int, str]] = []
        init_ms: float | None = None
        outcome: _Outcome | None = None

        if worker.init_ms is None:
            lines.append((worker.spawned_ms, f"INIT_START Runtime Version: {spec.runtime}"))
            kind, header, body = worker.await_reply(
                worker.spawned_at + INIT_TIMEOUT_S + spec.timeout_s, limit_kb
            )
            init_ms = (time.monotonic() - worker.spawned_at) * 1000
            if kind == "reply" and header and header["type"] == "ready":
                worker.init_ms = init_ms
                lines.extend(worker.take_lines())
            elif kind == "reply":
                error_type = json.loads(body).get("errorType", "Runtime.Unknown")
                worker.kill()
                lines.extend(worker.take_lines())
                status = f"Status: error\tError Type: {error_type}"
                report = f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: init\t{status}"
                lines.append((_now_ms(), report))
                outcome = _Outcome(body, error_type, status, keep_worker=False)
            else:
                outcome = self._sandbox_failure(worker, spec, request_id, kind, lines)

        start_ms = _now_ms()
        started = time.monotonic()
        lines.append((start_ms, f"START RequestId: {request_id} Version: {spec.version}"))
        if outcome is None:
            header_out = {
                "request_id": request_id,
                "arn": spec.arn,
                "deadline_ms": start_ms + int(spec.timeout_s * 1000),
                "client_context": _decode_client_context(client_context),
            }
            kind, header, body = "exit", None, b""
            if worker.send(header_out, payload):
                kind, header, body = worker.await_reply(started + spec.timeout_s, limit_kb)
            if kind == "reply" and worker.memory_kb() <= limit_kb and worker.peak_kb <= limit_kb:
                lines.extend(worker.take_lines())
                outcome = self._reply_outcome(header or {}, body)
            else:
                kind = "oom" if kind == "reply" else kind
                outcome = self._sandbox_failure(worker, spec, request_id, kind, lines)
        duration_ms = (time.monotonic() - started) * 1000
        if outcome.error_type == "Sandbox.Timedout":
            duration_ms = max(duration_ms, spec.timeout_s * 1000)

        end_ms = _now_ms()
        max_mb = math.ceil(worker.peak_kb / 1024)
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {math.ceil(duration_ms)} ms\tMemory Size: {spec.memory_mb} MB\t"
            f"Max Memory Used: {max_mb} MB"
        )
        if init_ms is not None:
            report += f"\tInit Duration: {init_ms:.2f} ms"
        if outcome.report_status:
            report += "\t" + outcome.report_status
        lines.append((end_ms, f"END RequestId: {request_id}"))
        lines.append((end_ms, report))

        result = InvokeResult(
            payload=outcome.payload,
            function_error="Unhandled" if outcome.error_type else None,
            request_id=request_id,
            log_tail="",
            duration_ms=duration_ms,
            max_memory_mb=max_mb,
            init_duration_ms=init_ms,
            error_type=outcome.error_type,
            log_stream=worker.log_stream,
        )
        return result, lines, outcome.keep_worker

    @staticmethod
    def _reply_outcome(header: dict[str, Any], body: bytes) -> _Outcome:
        if header.get("error"):
            return _Outcome(body, json.loads(body).get("errorType"))
        if len(body) > MAX_RESPONSE_BYTES:
            error = {
                "errorMessage": "Response payload size exceeded maximum allowed payload size "
                f"({MAX_RESPONSE_BYTES} bytes).",
                "errorType": "Function.ResponseSizeTooLarge",
            }
            return _Outcome(json.dumps(error).encode(), error["errorType"])
        return _Outcome(body, None)

    @staticmethod
    def _sandbox_failure(
        worker: _Worker,
        spec: FunctionSpec,
        request_id: str,
        kind: str,
        lines: list[tuple[int, str]],
    ) -> _Outcome:
        """The worker timed out, went over its memory or died: kill it and say so as Lambda does."""
        worker.kill()
        lines.extend(worker.take_lines())
        now = _now_ms()
        if kind == "timeout":
            error_type = "Sandbox.Timedout"
            message = (
                f"RequestId: {request_id} Error: Task timed out after {spec.timeout_s:.2f} seconds"
            )
            lines.append(
                (now, f"{_iso(now)} {request_id} Task timed out after {spec.timeout_s:.2f} seconds")
            )
            status = "Status: timeout"
        else:
            reason = (
                "signal: killed" if kind == "oom" else _exit_description(worker.proc.returncode)
            )
            error_type = "Runtime.OutOfMemory" if kind == "oom" else "Runtime.ExitError"
            message = f"RequestId: {request_id} Error: Runtime exited with error: {reason}"
            lines.append((now, message))
            lines.append((now, error_type))
            status = f"Status: error\tError Type: {error_type}"
        error = {"errorType": error_type, "errorMessage": message}
        return _Outcome(json.dumps(error).encode(), error_type, status, keep_worker=False)

    def _keep_log(self, spec: FunctionSpec, request_id: str, start_ms: int, text: str) -> None:
        day = datetime.fromtimestamp(start_ms / 1000, UTC).strftime("%Y-%m-%d")
        path = self.log_dir / _safe(spec.name) / day / f"{request_id}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _safe(name: str) -> str:
    """A path component from a function name or request id (they never hold "/" on AWS)."""
    return "".join(c if c.isalnum() or c in "-_.$" else "_" for c in name) or "_"
