"""boto3 clients, created once per execution environment (they honour AWS_ENDPOINT_URL)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(
    retries={"max_attempts": 5, "mode": "adaptive"}, connect_timeout=5, read_timeout=30
)
_factory: Callable[[str], Any] | None = None


def configure(factory: Callable[[str], Any] | None) -> None:
    """Let a caller outside Lambda (the CLI) bind the domain code to its own stack/endpoint."""
    global _factory
    _factory = factory
    _default.cache_clear()


def client(service: str) -> Any:
    if _factory is not None:
        return _factory(service)
    return _default(service)


@cache
def _default(service: str) -> Any:
    return boto3.client(service, config=_CONFIG)  # type: ignore[call-overload]
