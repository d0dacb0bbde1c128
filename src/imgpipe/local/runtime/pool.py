"""Warm pools of Lambda execution environments, and one invocation from START to REPORT.

Stands in for the Docker-based Invoke of moto (and, through an executor plugin, LocalStack's).
Each worker (:mod:`.process`) is one execution environment on the interpreter of the function's
Runtime: it imports the handler once (cold start) and serves invocations one at a time. This
module enforces what the Lambda sandbox enforces (timeout, memory size, crashes), frames the
invocation log with START/END/REPORT and keeps it on disk.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imgpipe.local.runtime import reporting
from imgpipe.local.runtime.interpreter import find_interpreter, managed_packages
from imgpipe.local.runtime.process import Worker, now_ms
from imgpipe.local.runtime.spec import FunctionSpec, InvokeResult, LogSink

_log = logging.getLogger(__name__)

INIT_TIMEOUT_S = 10.0  # Lambda's init phase limit; the invoke timeout then covers a slow init too
LOG_TAIL_BYTES = 4096
# Lambda reclaims idle execution environments (after minutes, or sooner under pressure); the
# engine does too, or a long session's idle workers (tens of MB each) would exhaust memory.
IDLE_TIMEOUT_S = 300.0
MAX_IDLE_WORKERS = 48  # across all functions; the least recently used go first


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


@dataclass
class _Pool:
    key: str
    idle: list[Worker] = field(default_factory=list)
    size: int = 0  # idle + busy + being spawned


class LambdaRuntime:
    """Warm pools of worker processes, one pool per function name. Thread-safe."""

    def __init__(
        self,
        log_dir: Path,
        *,
        log_sink: LogSink | None = None,
        max_workers_per_function: int = 10,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        max_idle_workers: int = MAX_IDLE_WORKERS,
    ) -> None:
        self.log_dir = Path(log_dir)
        self.log_sink = log_sink
        self.max_workers_per_function = max_workers_per_function
        self.idle_timeout_s = idle_timeout_s
        self.max_idle_workers = max_idle_workers
        # By (name, version): published versions are separate environments, as on Lambda.
        self._pools: dict[tuple[str, str], _Pool] = {}
        self._busy: set[Worker] = set()
        self._sandboxes: dict[str, tuple[Path, tuple[Path, ...]]] = {}
        self._cond = threading.Condition()
        self._closed = False

    def __enter__(self) -> LambdaRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # -- public -------------------------------------------------------------------------------

    def invoke(
        self,
        spec: FunctionSpec,
        payload: bytes,
        *,
        client_context: str | None = None,
        request_id: str | None = None,
    ) -> InvokeResult:
        """Run one invocation; blocks while all of the function's workers are busy.

        ``request_id``: the id the engine already gave the caller (LocalStack does), else a new one.
        """
        if not spec.code_dirs:
            raise ValueError(f"function {spec.name} has no code dirs")
        request_id = request_id or str(uuid.uuid4())
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

    def prewarm(self, spec: FunctionSpec) -> bool:
        """Start one execution environment of the function and run its init phase now.

        What a deploy calls so that the first invocation finds a warm worker instead of paying
        the cold start (interpreter, boto3, Powertools, the handler's imports). Does nothing if
        the function already has a worker; returns whether a warm worker is idle afterwards.
        An init that fails is not kept: the first invocation then fails as Lambda's would.
        """
        if not spec.code_dirs:
            raise ValueError(f"function {spec.name} has no code dirs")
        key = _spec_key(spec)
        with self._cond:
            if self._closed:
                return False
            stale: list[Worker] = []
            pool = self._current_pool(spec, key, stale)
            if pool.size:
                return bool(pool.idle)
            pool.size += 1
        for w in stale:
            w.close()
        try:
            worker = self._spawn(spec, key, pool)
        except RuntimeError:  # shut down meanwhile
            return False
        lines: list[tuple[int, str]] = []
        _, outcome = self._init(worker, spec, "prewarm", lines)
        ready = outcome is None
        if ready:
            # Shown in the first invocation's log, as the INIT phase precedes its START.
            worker.init_lines = lines
        self._release(spec, worker, ready)
        return ready

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

    def _sandbox(self, runtime: str) -> tuple[Path, tuple[Path, ...]]:
        """The Runtime's interpreter and the managed runtime's packages (built once, cached)."""
        with self._cond:
            found = self._sandboxes.get(runtime)
        if found is None:
            interpreter = find_interpreter(runtime)  # raises InterpreterNotFoundError
            found = (interpreter.path, (managed_packages(runtime),))
            with self._cond:
                self._sandboxes[runtime] = found
        return found

    def _current_pool(self, spec: FunctionSpec, key: str, stale: list[Worker]) -> _Pool:
        """The function's pool for this spec (call with the lock held); a redeploy (code, env,
        memory) retires the old environments into ``stale``, for the caller to close."""
        pool = self._pools.get((spec.name, spec.version))
        if pool is None or pool.key != key:
            if pool is not None:
                stale.extend(pool.idle)
            pool = self._pools[(spec.name, spec.version)] = _Pool(key)
        return pool

    def _acquire(self, spec: FunctionSpec) -> Worker:
        key = _spec_key(spec)
        stale: list[Worker] = []
        try:
            with self._cond:
                while True:
                    if self._closed:
                        raise RuntimeError("LambdaRuntime is shut down")
                    pool = self._current_pool(spec, key, stale)
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
        return self._spawn(spec, key, pool)

    def _spawn(self, spec: FunctionSpec, key: str, pool: _Pool) -> Worker:
        """A new worker for a slot already counted in ``pool.size``, marked busy (so that
        shutdown() kills it while it initialises); the slot is given back if it cannot start."""
        try:
            worker = Worker(spec, key, *self._sandbox(spec.runtime))
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

    def _release(self, spec: FunctionSpec, worker: Worker, keep: bool) -> None:
        with self._cond:
            self._busy.discard(worker)
            pool = self._pools.get((spec.name, spec.version))
            current = pool is not None and pool.key == worker.key
            keep = keep and current and not self._closed and worker.alive()
            if pool is not None and keep:
                worker.idle_since = time.monotonic()
                pool.idle.append(worker)
            elif pool is not None and current:
                pool.size -= 1
            reaped = self._reap_idle()
            self._cond.notify_all()
        if not keep:
            worker.close()
        for w in reaped:
            w.close()

    def _reap_idle(self) -> list[Worker]:
        """Take out idle workers past the idle timeout, and the least recently used beyond
        ``max_idle_workers`` (call with the lock held; the caller closes them)."""
        now = time.monotonic()
        idle = sorted(
            ((w.idle_since, id(w), pool, w) for pool in self._pools.values() for w in pool.idle),
            key=lambda entry: entry[:2],
        )
        excess = len(idle) - self.max_idle_workers
        reaped = []
        for index, (since, _, pool, worker) in enumerate(idle):
            if index < excess or now - since > self.idle_timeout_s:
                pool.idle.remove(worker)
                pool.size -= 1
                reaped.append(worker)
        return reaped

    # -- one invocation -----------------------------------------------------------------------

    def _run(
        self,
        worker: Worker,
        spec: FunctionSpec,
        request_id: str,
        payload: bytes,
        client_context: str | None,
    ) -> tuple[InvokeResult, list[tuple[int, str]], bool]:
        limit_kb = spec.memory_mb * 1024
        lines: list[tuple[int, str]] = []
        init_ms: float | None = None
        outcome: reporting.Outcome | None = None

        if worker.init_ms is None:
            init_ms, outcome = self._init(worker, spec, request_id, lines)
        else:
            # A pre-warmed worker: its init already ran, outside of any invocation's duration.
            lines.extend(worker.init_lines)
            worker.init_lines = []

        start_ms = now_ms()
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
                outcome = reporting.reply_outcome(header or {}, body)
            else:
                kind = "oom" if kind == "reply" else kind
                outcome = self._sandbox_failure(worker, spec, request_id, kind, lines)
        duration_ms = (time.monotonic() - started) * 1000
        if outcome.error_type == "Sandbox.Timedout":
            duration_ms = max(duration_ms, spec.timeout_s * 1000)

        end_ms = now_ms()
        max_mb = math.ceil(worker.peak_kb / 1024)
        report = reporting.report_line(
            request_id, duration_ms, spec.memory_mb, max_mb, init_ms, outcome.report_status
        )
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

    def _init(
        self, worker: Worker, spec: FunctionSpec, request_id: str, lines: list[tuple[int, str]]
    ) -> tuple[float, reporting.Outcome | None]:
        """The init phase of a new worker: (its duration, the failure outcome or None)."""
        lines.append((worker.spawned_ms, f"INIT_START Runtime Version: {spec.runtime}"))
        kind, header, body = worker.await_reply(
            worker.spawned_at + INIT_TIMEOUT_S + spec.timeout_s, spec.memory_mb * 1024
        )
        init_ms = (time.monotonic() - worker.spawned_at) * 1000
        if kind == "reply" and header and header["type"] == "ready":
            worker.init_ms = init_ms
            lines.extend(worker.take_lines())
            return init_ms, None
        if kind == "reply":
            worker.kill()
            lines.extend(worker.take_lines())
            outcome, init_report = reporting.init_failure(body, init_ms)
            lines.append((now_ms(), init_report))
            return init_ms, outcome
        return init_ms, self._sandbox_failure(worker, spec, request_id, kind, lines)

    @staticmethod
    def _sandbox_failure(
        worker: Worker,
        spec: FunctionSpec,
        request_id: str,
        kind: str,
        lines: list[tuple[int, str]],
    ) -> reporting.Outcome:
        """The worker timed out, went over its memory or died: kill it and say so as Lambda does."""
        worker.kill()
        lines.extend(worker.take_lines())
        outcome, failure_lines = reporting.sandbox_failure(
            kind, request_id, spec.timeout_s, worker.proc.returncode, now_ms()
        )
        lines.extend(failure_lines)
        return outcome

    def _keep_log(self, spec: FunctionSpec, request_id: str, start_ms: int, text: str) -> None:
        day = datetime.fromtimestamp(start_ms / 1000, UTC).strftime("%Y-%m-%d")
        path = self.log_dir / _safe(spec.name) / day / f"{request_id}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _safe(name: str) -> str:
    """A path component from a function name or request id (they never hold "/" on AWS)."""
    return "".join(c if c.isalnum() or c in "-_.$" else "_" for c in name) or "_"
