"""Where a running ``imgpipe local up`` can be found by other commands on this machine."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def _path() -> Path:
    base = os.environ.get("IMGPIPE_STATE_DIR") or Path.home() / ".imgpipe"
    return Path(base) / "engine.json"


def write(endpoint: str, stack: str, outputs: dict[str, str]) -> None:
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"endpoint": endpoint, "stack": stack, "outputs": outputs, "pid": os.getpid()}
    path.write_text(json.dumps(record, indent=2))


def read() -> dict[str, Any] | None:
    try:
        record: dict[str, Any] = json.loads(_path().read_text())
    except (OSError, ValueError):
        return None
    try:
        os.kill(int(record["pid"]), 0)
    except (OSError, KeyError, ValueError):
        return None  # stale: that engine is gone
    return record


def endpoint() -> str | None:
    record = read()
    return str(record["endpoint"]) if record else None


def is_engine(url: str) -> bool:
    record = read()
    return bool(record and record["endpoint"] == url)


def clear(endpoint_url: str) -> None:
    record = read()
    if record and record["endpoint"] == endpoint_url:
        _path().unlink(missing_ok=True)
