"""The short soak: a burst under faults and worker kills loses nothing (``make soak``: 500)."""

from __future__ import annotations

from typing import Any

import pytest

from bench.soak import SoakConfig, run
from tests.integration.conftest import embedded_only

pytestmark = [
    pytest.mark.engine,
    pytest.mark.xdist_group("soak"),
    embedded_only("its fault plan and worker kills act on the embedded engine's processes"),
]


def test_a_burst_under_faults_and_worker_kills_ends_with_nothing_lost(engine: Any) -> None:
    # GIVEN 50 uploads (one in ten hostile) with 10 % transient failures and 2 % crashes per
    # function, S3 and DynamoDB throttling, and a worker process SIGKILLed every 3 s
    config = SoakConfig(
        uploads=50, width=480, height=360, distinct_images=4, kill_interval_s=3.0,
        floor=False, stack_name="soaktest", timeout_s=600,
    )  # fmt: skip
    report = run(engine, config, log=lambda line: None)
    # THEN after a redrive every upload SUCCEEDED or REJECTED, the DLQ is empty, nothing was
    # published twice and every final outcome was notified (at least once)
    assert report.lost == 0, report
    assert report.by_status == {"SUCCEEDED": 45, "REJECTED": 5}, report
    assert report.dlq_left == 0 and report.published_twice == 0, report
    assert report.unnotified == 0, report
    # AND faults really were injected
    assert report.faults_injected > 0 and report.workers_killed > 0, report
