"""One execution environment as a process: spawn it on the function's interpreter, talk to it
over its control socket, collect its fd 1/2 as the invocation log, watch its memory, kill it.

The worker (``worker.py`` here, stdlib only) is started with ``-I -S``: no PYTHON* variables, no
site-packages of that interpreter, no current directory. Its sys.path is built from the
config: the function's code and layers, the managed runtime's packages, the standard library.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import select
import signal
import socket
import struct
import subprocess
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imgpipe.local.runtime.spec import FunctionSpec

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
POLL_S = 0.02  # memory watchdog period while an invocation runs
SYNC_GRACE_S = 2.0  # how long to wait for a worker's output after its reply
# Lambda's PATH, less its /var/lang/bin (the interpreter's own bin dir stands in for it).
_LAMBDA_PATH = ("/usr/local/bin", "/usr/bin", "/bin")
_FRAME = struct.Struct(">II")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _environment(spec: FunctionSpec, log_stream: str, interpreter: Path) -> dict[str, str]:
    """Lambda's reserved variables over the function's own (which carry its credentials)."""
    env = {
        "PATH": os.pathsep.join((str(interpreter.parent), *_LAMBDA_PATH)),
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


class Worker:
    """One worker process, its control socket and the reader of its fd 1/2."""

    def __init__(
        self, spec: FunctionSpec, key: str, interpreter: Path, runtime_dirs: tuple[Path, ...]
    ) -> None:
        self.key = key
        self.log_stream = f"{datetime.now(UTC):%Y/%m/%d}/[{spec.version}]{uuid.uuid4().hex}"
        self.marker = ("\x1eimgpipe-sync-" + secrets.token_hex(8)).encode()
        self.init_ms: float | None = None  # None until the handler module is imported
        self.init_lines: list[tuple[int, str]] = []  # a pre-warmed worker's INIT phase log
        self.peak_kb = 0
        self.idle_since = 0.0  # monotonic time it last went idle (the pool reaps old ones)
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
            "runtime_dirs": [str(d) for d in runtime_dirs],
        }
        try:
            # -I: no PYTHON* env vars, no cwd or script dir on sys.path; -S: none of that
            # interpreter's site-packages; -B: no bytecode written, as on Lambda's read-only
            # /var/task and /opt (what the zip lacks is compiled on every cold start);
            # -u: prints reach the log before a crash. A new session
            # keeps terminal signals away and makes a process group to kill, including anything
            # the handler spawned.
            self.proc = subprocess.Popen(
                [str(interpreter), "-I", "-S", "-B", "-u", str(WORKER_SCRIPT), json.dumps(config)],
                stdin=subprocess.DEVNULL,
                stdout=write_fd,
                stderr=write_fd,
                pass_fds=(child_sock.fileno(),),
                cwd=spec.code_dirs[0],
                env=_environment(spec, self.log_stream, interpreter),
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
        self.spawned_ms = now_ms()
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
                now = now_ms()
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
                    self._take_line(pending, now_ms())
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
            self._cond.wait_for(lambda: self._markers >= self._messages or self._eof, SYNC_GRACE_S)
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
                ready, _, _ = select.select([self.sock], [], [], min(POLL_S, remaining))
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
        self._reader.join(timeout=SYNC_GRACE_S)

    def close(self) -> None:
        self.kill()
        self.sock.close()
