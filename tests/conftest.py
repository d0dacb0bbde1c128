"""Shared fixtures. Fake credentials are set before anything imports boto3 clients."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

for _key, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}.items():
    os.environ[_key] = _value  # never real AWS, whatever the developer's shell has
os.environ.pop("AWS_PROFILE", None)
os.environ.pop("AWS_ENDPOINT_URL", None)

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
FIXTURES = ROOT / "tests" / "fixtures"

logging.getLogger("werkzeug").setLevel(logging.ERROR)


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One local AWS engine per test process (moto's backends are process-global), or the
    running endpoint ``IMGPIPE_TEST_ENDPOINT`` names (LocalStack: `make test-localstack`)."""
    endpoint = os.environ.get("IMGPIPE_TEST_ENDPOINT")
    if endpoint:
        from tests.integration.conftest import EndpointEngine

        yield EndpointEngine(endpoint)
        return
    from imgpipe.local.engine import Engine

    with Engine(state_dir=tmp_path_factory.mktemp("engine")) as running:
        yield running
