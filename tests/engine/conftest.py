from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

STACK_TEMPLATE = Path(__file__).parent / "stack" / "template.yaml"


@pytest.fixture(scope="session")
def test_stack(engine: Any) -> dict[str, str]:
    """The small engine test app, deployed once per test process."""
    return dict(engine.deploy(STACK_TEMPLATE, "enginetest").outputs)


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """A bare moto server (no engine) with fake credentials: for one adapter's own tests."""
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            env.setenv(name, "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.delenv("AWS_SESSION_TOKEN", raising=False)
        env.delenv("AWS_PROFILE", raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()
