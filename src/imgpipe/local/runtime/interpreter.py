"""Which Python runs a function, and what the managed runtime puts beside it on sys.path.

A function with ``Runtime: python3.12`` runs on a CPython 3.12 found, in this order, at
``IMGPIPE_LAMBDA_PYTHON``, as ``python3.12`` on PATH, or among pyenv's installs. Nothing else
is tried: a handler that only works on the engine's own Python would break on Lambda, so a
missing interpreter is an error, never a fallback.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from imgpipe.local import build

__all__ = ["Interpreter", "InterpreterNotFoundError", "find_interpreter", "managed_packages"]

ENV_VAR = "IMGPIPE_LAMBDA_PYTHON"
_log = logging.getLogger(__name__)
_PROBE = (
    "import json, sys; print(json.dumps({'version': '%d.%d.%d' % sys.version_info[:3], "
    "'executable': sys.executable, 'implementation': sys.implementation.name}))"
)
_lock = threading.Lock()
_found: dict[tuple[str, str, str], Interpreter] = {}


class InterpreterNotFoundError(RuntimeError):
    """No interpreter of the function's Runtime exists on this machine."""


@dataclass(frozen=True)
class Interpreter:
    runtime: str  # "python3.12"
    path: Path  # the real executable (never a pyenv shim: it would run the default Python)
    version: str  # "3.12.1"
    source: str  # where it was found: IMGPIPE_LAMBDA_PYTHON, PATH or pyenv

    def describe(self) -> str:
        return f"{self.runtime}: {self.path} (Python {self.version}, from {self.source})"


def find_interpreter(runtime: str) -> Interpreter:
    """The interpreter for a ``pythonX.Y`` Runtime; raises InterpreterNotFoundError."""
    wanted = build.python_version(runtime)
    key = (runtime, os.environ.get(ENV_VAR, ""), os.environ.get("PATH", ""))
    with _lock:
        if key in _found:
            return _found[key]
        interpreter = _search(runtime, wanted)
        _found[key] = interpreter
    _log.info("Lambda %s", interpreter.describe())
    return interpreter


def managed_packages(runtime: str) -> Path:
    """What Lambda's managed runtime provides besides the stdlib (boto3 and its dependencies)."""
    pins = Path(__file__).with_name(f"{runtime}.txt")
    if not pins.is_file():
        raise InterpreterNotFoundError(
            f"no managed-runtime package list for {runtime} ({pins.name} is missing)"
        )
    return build.build_requirements(pins, runtime).tree


def _search(runtime: str, wanted: str) -> Interpreter:
    tried: list[str] = []
    configured = os.environ.get(ENV_VAR)
    if configured:
        # Set means chosen: a wrong value is an error, not a reason to look elsewhere.
        found = _probe(configured, wanted, ENV_VAR, runtime, tried)
        if found is None:
            raise InterpreterNotFoundError(
                f"{ENV_VAR}={configured} is not a Python {wanted} interpreter "
                f"(needed for Runtime {runtime}): {'; '.join(tried)}"
            )
        return found
    tried.append(f"{ENV_VAR} is not set")
    on_path = shutil.which(f"python{wanted}")
    if on_path:
        found = _probe(on_path, wanted, "PATH", runtime, tried)
        if found is not None:
            return found
    else:
        tried.append(f"no python{wanted} on PATH")
    for candidate in _pyenv_candidates(wanted, tried):
        found = _probe(str(candidate), wanted, "pyenv", runtime, tried)
        if found is not None:
            return found
    raise InterpreterNotFoundError(
        f"no Python {wanted} interpreter for Runtime {runtime}: {'; '.join(tried)}. "
        f"Install one (e.g. `pyenv install {wanted}`) or point {ENV_VAR} at it; the engine "
        "does not run a function on another Python version."
    )


def _probe(
    command: str, wanted: str, source: str, runtime: str, tried: list[str]
) -> Interpreter | None:
    try:
        done = subprocess.run(
            [command, "-I", "-S", "-c", _PROBE], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        tried.append(f"{command} does not run ({error})")
        return None
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[0]
        tried.append(f"{command} does not run ({first})")  # e.g. a pyenv shim of another version
        return None
    facts = json.loads(done.stdout)
    version = str(facts["version"])
    if facts["implementation"] != "cpython" or not version.startswith(wanted + "."):
        tried.append(f"{command} is {facts['implementation']} {version}")
        return None
    return Interpreter(runtime, Path(facts["executable"]), version, source)


def _pyenv_candidates(wanted: str, tried: list[str]) -> list[Path]:
    pyenv = shutil.which("pyenv")
    root = None
    if pyenv:
        done = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)
        root = Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else None
    if root is None and os.environ.get("PYENV_ROOT"):
        root = Path(os.environ["PYENV_ROOT"])
    if root is None:
        tried.append("no pyenv")
        return []
    pattern = re.compile(rf"^{re.escape(wanted)}\.(\d+)$")
    versions = sorted(
        (int(m.group(1)), d)
        for d in (root / "versions").glob(f"{wanted}.*")
        if (m := pattern.match(d.name))
    )
    if not versions:
        tried.append(f"no pyenv version {wanted}.x under {root / 'versions'}")
    # Newest patch release first: Lambda's runtimes track the latest one.
    return [d / "bin" / f"python{wanted}" for _, d in reversed(versions)]
