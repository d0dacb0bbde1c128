"""AWS clients, created once per execution environment (they honour AWS_ENDPOINT_URL)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import botocore.session
from botocore.config import Config

_CONFIG = Config(
    retries={"max_attempts": 5, "mode": "adaptive"}, connect_timeout=5, read_timeout=30
)
_factory: Callable[[str], Any] | None = None


def configure(factory: Callable[[str], Any] | None) -> None:
    """Let a caller outside Lambda (the CLI) bind the domain code to its own stack/endpoint."""
    global _factory
    # One client per service, as in a Lambda: a factory may build a session per call, and each
    # new session parses botocore's JSON models again (~0.1 s of CPU per client).
    _factory = cache(factory) if factory is not None else None
    _default.cache_clear()


def client(service: str) -> Any:
    if _factory is not None:
        return _factory(service)
    return _default(service)


def create(service: str, config: Config | None = None) -> Any:
    """A client from botocore's session, not boto3's: boto3's S3 client also loads s3transfer
    and multiprocessing for managed transfers imgpipe never uses (~30 ms of a cold start)."""
    return _session().create_client(service, config=_CONFIG.merge(config) if config else _CONFIG)


@cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def _default(service: str) -> Any:
    return create(service)
