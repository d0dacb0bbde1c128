"""LocalStack as a second, independent engine: installed, started and stopped without Docker.

LocalStack 2026.3.0 (the last community release) runs in host mode from its own virtualenv on
Python >= 3.13 (it uses PEP 695 syntax and warnings.deprecated), with its published pins (newer
cbor2 and pyopenssl break it) and imgpipe installed beside it for its plugins
(:mod:`imgpipe.localstack_plugins`):
DynamoDB through moto (stock LocalStack downloads Java and DynamoDB Local) and Lambda in imgpipe's
worker runtime (stock LocalStack needs Docker).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import imgpipe.localstack_plugins

VERSION = "2026.3.0"
REQUIREMENT = f"localstack-core[runtime]=={VERSION}"
# LocalStack reads ASL variables through JSONata on a JVM it downloads; this is the same
# library in Python (localstack_plugins/parity.py plugs it in). Pinned as in requirements-dev.txt.
JSONATA = "jsonata-python==0.7.1"
CONSTRAINTS = Path(imgpipe.localstack_plugins.__file__).with_name(f"constraints-{VERSION}.txt")
PROJECT = Path(__file__).resolve().parents[3]  # the checkout: installed editable beside LocalStack
MIN_PYTHON = (3, 13)  # 3.12 has PEP 695 but not warnings.deprecated, which it imports
START_TIMEOUT_S = 120.0

Log = Callable[[str], None]


class LocalStackError(Exception):
    """LocalStack could not be installed, started or stopped."""


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- interpreter and virtualenv --------------------------------------------------------------


def _version_of(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    parts = out.stdout.split()
    if out.returncode != 0 or len(parts) != 2:
        return None  # e.g. a pyenv shim for a version that is installed but not selected
    return int(parts[0]), int(parts[1])


def _pyenv_pythons() -> list[str]:
    roots = [os.environ.get("PYENV_ROOT", ""), str(Path.home() / ".pyenv")]
    if shutil.which("pyenv"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            roots.insert(
                0, subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout
            )
    found: list[str] = []
    for root in filter(None, (r.strip() for r in roots)):
        for version in sorted(Path(root, "versions").glob("3.1[3-9]*"), reverse=True):
            python = version / "bin" / "python"
            if python.is_file() and str(python) not in found:
                found.append(str(python))
    return found


def find_python() -> tuple[str, tuple[int, int]]:
    """``IMGPIPE_LOCALSTACK_PYTHON``, else python3.13/python3.14 on PATH, else a pyenv install."""
    explicit = os.environ.get("IMGPIPE_LOCALSTACK_PYTHON")
    candidates = [explicit] if explicit else []
    candidates += [p for name in ("python3.13", "python3.14") if (p := shutil.which(name))]
    candidates += _pyenv_pythons()
    for python in candidates:
        version = _version_of(python)
        if version and version >= MIN_PYTHON:
            return python, version
        if explicit and python == explicit:
            raise LocalStackError(f"IMGPIPE_LOCALSTACK_PYTHON={explicit} is not Python >= 3.13")
    raise LocalStackError(
        "LocalStack needs Python >= 3.13: none found (tried python3.13, python3.14 on PATH and "
        "pyenv's versions); install one or set IMGPIPE_LOCALSTACK_PYTHON"
    )


def _install_key() -> str:
    """What the virtualenv's contents depend on: pins and imgpipe's entry points."""
    digest = hashlib.sha256(f"{REQUIREMENT} {JSONATA}".encode())
    for path in (CONSTRAINTS, PROJECT / "pyproject.toml"):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def ensure_venv(venv: Path, log: Log = _stderr) -> Path:
    """LocalStack's virtualenv, created and installed once per set of pins; returns its python."""
    python = venv / "bin" / "python"
    stamp = venv / f".installed-{_install_key()}"
    if stamp.exists() and python.exists():
        return python
    interpreter, version = find_python()
    if not python.exists() or _version_of(str(python)) is None:
        log(f"localstack: creating {venv} with Python {version[0]}.{version[1]} ({interpreter})")
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([interpreter, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    log(f"localstack: installing {REQUIREMENT} (constraints {CONSTRAINTS.name})")
    subprocess.run([*pip, "-c", str(CONSTRAINTS), REQUIREMENT, JSONATA], check=True)
    # imgpipe itself, for its plugins' entry points; no dependencies: they come from LocalStack's
    # pins, and the functions' own come from their built layers.
    subprocess.run([*pip, "--no-deps", "-e", str(PROJECT)], check=True)
    for old in venv.glob(".installed-*"):
        old.unlink()
    stamp.touch()
    return python


# -- the LocalStack process ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(port: int, state_dir: Path) -> dict[str, str]:
    """LocalStack's settings for host mode on this machine (each one found necessary)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOCALSTACK_"))}
    tmp = state_dir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "GATEWAY_LISTEN": f"127.0.0.1:{port}",
            # The default (twisted) server ignores the host of GATEWAY_LISTEN and binds 0.0.0.0.
            "GATEWAY_SERVER": "hypercorn",
            "LOCALSTACK_HOST": f"127.0.0.1:{port}",
            "DNS_ADDRESS": "0",  # no DNS server: it would want port 53
            # Queue URLs under the gateway's own host:port, not a *.localhost.localstack.cloud name.
            "SQS_ENDPOINT_STRATEGY": "path",
            "PROVIDER_OVERRIDE_DYNAMODB": "moto",
            "LAMBDA_RUNTIME_EXECUTOR": "imgpipe",
            "FILESYSTEM_ROOT": str(state_dir / "filesystem"),
            "TMPDIR": str(tmp),  # Lambda code is unzipped under tempfile.gettempdir()
            "DISABLE_EVENTS": "1",  # no analytics: nothing leaves the machine
            "SKIP_SSL_CERT_DOWNLOAD": "1",
        }
    )
    return env


def _ready(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=2) as response:
            return response.status == 200 and "services" in json.load(response)
    except (OSError, ValueError, urllib.error.URLError):
        return False


class LocalStack:
    """One LocalStack process, its state under ``state_dir`` (pid, endpoint, log, filesystem)."""

    def __init__(self, state_dir: Path, venv: Path, *, log: Log = _stderr) -> None:
        self.state_dir = state_dir.resolve()
        self.venv = venv.resolve()
        self._log = log

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "localstack.pid"

    @property
    def endpoint_file(self) -> Path:
        return self.state_dir / "endpoint"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "localstack.log"

    def start(self, port: int = 0) -> str:
        """Install if needed, start, wait until the gateway answers; returns the endpoint URL."""
        if self.running_pid() is not None:
            raise LocalStackError(f"LocalStack already running (pid file {self.pid_file})")
        python = ensure_venv(self.venv, self._log)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        port = port or _free_port()
        endpoint = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                [str(python), "-m", "localstack.runtime.main"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.state_dir,  # not the checkout: `-m` puts the cwd on sys.path
                env=environment(port, self.state_dir),
                start_new_session=True,  # its own process group, stopped as one
            )
        self.pid_file.write_text(str(process.pid))
        while not _ready(endpoint):
            if process.poll() is not None or time.monotonic() - started > START_TIMEOUT_S:
                self.stop()
                tail = self.log_file.read_text(errors="replace")[-3000:]
                raise LocalStackError(f"LocalStack did not start; {self.log_file}:\n{tail}")
            time.sleep(0.5)
        self.endpoint_file.write_text(endpoint)
        self._log(f"localstack: {endpoint} ready in {time.monotonic() - started:.1f}s")
        return endpoint

    def running_pid(self) -> int | None:
        """The pid in the pid file if that process is still this LocalStack."""
        try:
            pid = int(self.pid_file.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        return pid if b"localstack.runtime.main" in cmdline else None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (LocalStack stops its Lambda workers), then SIGKILL what is left."""
        pid = self.running_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while self.running_pid() is not None and time.monotonic() < deadline:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
                time.sleep(0.2)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self.pid_file.unlink(missing_ok=True)
        self.endpoint_file.unlink(missing_ok=True)

    @contextlib.contextmanager
    def running(self, port: int = 0) -> Iterator[str]:
        endpoint = self.start(port)
        try:
            yield endpoint
        finally:
            self.stop()
