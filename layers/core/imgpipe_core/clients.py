"""AWS clients, created once per execution environment (they honour AWS_ENDPOINT_URL)."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import botocore.loaders
import botocore.session
from botocore.config import Config

_CONFIG = Config(
    retries={"max_attempts": 5, "mode": "adaptive"}, connect_timeout=5, read_timeout=30
)
_factory: Callable[[str], Any] | None = None
# The trimmed data the layer build writes (layers/core/trim_botocore.py): only the services,
# operations and endpoints the code calls. Absent from a source checkout (unit tests, the CLI).
TRIMMED_DATA = Path(__file__).with_name("botocore_data")


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


class _ModelLoader(botocore.loaders.Loader):
    """botocore's loader, less a scan: to check that a service exists before loading its model,
    botocore lists all ~420 service directories and looks inside each for that model type,
    once per type (twice a cold start, ~20 ms). A directory of that name says as much; a
    service without that model still fails, when the model is read."""

    @botocore.loaders.instance_cache  # type: ignore[misc]
    def list_available_services(self, type_name: str) -> list[str]:
        # Files beside the service directories (endpoints.json, ...) have a suffix; services not.
        paths = [path for path in self.search_paths if os.path.isdir(path)]
        names = {name for path in paths for name in os.listdir(path)}
        return sorted(name for name in names if "." not in name)

    def is_builtin_path(self, path: str) -> bool:
        # The trimmed data is botocore's own: endpoints.json from elsewhere would make botocore
        # pass its legacy endpoint to the endpoint rules as a custom one (S3: another URL).
        return bool(super().is_builtin_path(path)) or path.startswith(str(TRIMMED_DATA))


@cache
def _session() -> botocore.session.Session:
    session = botocore.session.get_session()
    # Searched as botocore's own loader searches: AWS_DATA_PATH's directories first.
    extra = session.get_config_variable("data_path") or ""
    paths = [os.path.expanduser(os.path.expandvars(p)) for p in extra.split(os.pathsep) if p]
    # In the layer, the trimmed data instead of botocore's own (~25 ms for endpoints.json, 15
    # for S3's model): an operation the code does not call fails, it is not loaded elsewhere.
    trimmed = TRIMMED_DATA.is_dir()
    loader = _ModelLoader(
        extra_search_paths=[*paths, str(TRIMMED_DATA)] if trimmed else paths or None,
        include_default_search_paths=not trimmed,
    )
    session.register_component("data_loader", loader)
    return session


@cache
def _default(service: str) -> Any:
    return create(service)
