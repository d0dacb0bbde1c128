"""A deploy with ``prewarm`` (what `imgpipe local up` and `make demo` do) leaves one initialised
worker per function, so the first invocation finds it warm instead of paying a cold start."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.engine.conftest import STACK_TEMPLATE

pytestmark = pytest.mark.engine


def test_first_invocation_after_a_prewarmed_deploy_runs_on_the_prewarmed_worker(
    engine: Any,
) -> None:
    # GIVEN the engine test stack deployed with prewarm
    outputs = engine.deploy(STACK_TEMPLATE, "prewarmtest", prewarm=True).outputs
    name = outputs["WorkerFunctionName"]
    assert engine.stack_functions("prewarmtest") == [name]
    # THEN right after the deploy one worker process of the function is running
    warm = engine.runtime.worker_pids(name)
    assert len(warm) == 1

    # WHEN the function is invoked for the first time
    response = engine.client("lambda").invoke(
        FunctionName=name, Payload=json.dumps({"action": "square", "value": 3}), LogType="Tail"
    )

    # THEN it ran on that worker: no new process, no init on its critical path
    assert json.loads(response["Payload"].read()) == 9
    assert engine.runtime.worker_pids(name) == warm
    log = base64.b64decode(response["LogResult"]).decode()
    report = next(line for line in log.splitlines() if line.startswith("REPORT"))
    assert "Init Duration" not in report
    # AND its log still shows the init phase the worker ran before it, as Lambda's does
    assert log.index("INIT_START") < log.index("START RequestId")
