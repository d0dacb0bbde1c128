"""schemathesis against the local API, with the contract generated from the code.

Every check but one (see schemathesis.toml) and every phase (examples, coverage, fuzzing,
stateful over the contract's links), on a stack of its own so its re-runs and deletes never
touch another test's images. Seeded and bounded (``--max-examples``, ``--max-time``) so it fits
``make test``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from imgpipe.commands.openapi import CONTRACT
from tests.api.conftest import ROOT, Api, image_bytes

pytestmark = [
    pytest.mark.engine,
    pytest.mark.xdist_group("api"),
    pytest.mark.filterwarnings("ignore:Tried to parse AWS::ApiGatewayV2"),
]

CONFIG = Path(__file__).with_name("schemathesis.toml")
BUDGET_SECONDS = 45


@pytest.fixture(scope="module")
def fuzzed(engine: object) -> Iterator[Api]:
    from imgpipe.local import api_server

    url = api_server.bind()
    result = engine.deploy(  # type: ignore[attr-defined]
        ROOT / "template.yaml",
        "apifuzz",
        # Open, as tests/api/conftest.py's stack: the authorizers have tests of their own.
        {
            "PublicBaseUrl": f"{url}/cdn",
            "ApiBaseUrl": url,
            "MaxUploadBytes": "200000",
            "ApiAuth": "NONE",
        },
    )
    api_server.start(engine, "apifuzz", result.outputs)
    api = Api(url, engine, result.outputs)
    # Something to list, follow links to, re-run and delete.
    for name in ("one.png", "two.png"):
        api.wait(api.upload(image_bytes(64, 48), "image/png", name))
    yield api


def test_schemathesis_finds_nothing(fuzzed: Api, tmp_path: Path) -> None:
    schemathesis = Path(sys.executable).with_name("schemathesis")
    command = [
        str(schemathesis),
        "--config-file",
        str(CONFIG),
        "--no-color",
        "run",
        str(CONTRACT),
        "--url",
        fuzzed.url,
        "--checks",
        "all",
        # API Gateway answers methods no route has (404, as on AWS): see schemathesis.toml
        "--exclude-checks",
        "unsupported_method",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        "15",
        "--max-time",
        str(BUDGET_SECONDS),
        "--seed",
        "20261201",
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--report-dir",
        str(tmp_path),
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=BUDGET_SECONDS * 4)
    log = ROOT / "out" / "schemathesis.log"  # the full report, kept for a failing run
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(run.stdout + run.stderr)
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-3000:]
    assert "No issues found" in run.stdout or "passed" in run.stdout, run.stdout[-3000:]
