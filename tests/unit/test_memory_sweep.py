"""The bench's memory sweep: Lambda's CPU share per MemorySize, priced, and the pick."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRICE = 0.0000166667


@pytest.fixture(scope="module")
def memory() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_memory", ROOT / "bench" / "memory.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_memory"] = module
    spec.loader.exec_module(module)
    return module


def _case(cpu_s: float, wall_s: float, peak_mb: float) -> dict[str, float]:
    return {"cpu_s": cpu_s, "wall_s": wall_s, "peak_rss_mb": peak_mb}


def test_single_threaded_work_is_cheapest_at_one_full_vcpu(memory: ModuleType) -> None:
    rows = {r["memory_mb"]: r for r in memory.sweep([_case(1.0, 1.0, 100)], PRICE)}
    # Below 1769 MB the same GB-s buy a slower run; above it only cost more
    assert rows[1024]["latency_s"] == pytest.approx(1769 / 1024)
    assert rows[1024]["usd_per_million"] == pytest.approx(rows[1769]["usd_per_million"])
    assert rows[3538]["latency_s"] == pytest.approx(1.0)
    assert rows[3538]["usd_per_million"] == pytest.approx(2 * rows[1769]["usd_per_million"])
    assert memory.pick(list(rows.values()))["memory_mb"] == 1769


def test_two_busy_threads_are_worth_two_vcpus(memory: ModuleType) -> None:
    # Twice the memory halves the latency for the same GB-s: latency at no extra cost is taken
    rows = memory.sweep([_case(2.0, 1.0, 100)], PRICE)
    assert memory.pick(rows)["memory_mb"] == 3538


def test_latency_bought_at_a_higher_price_per_image_is_not_the_pick(memory: ModuleType) -> None:
    # GIVEN work that keeps 1.3 threads busy (an encoder's helper thread)
    rows = {r["memory_mb"]: r for r in memory.sweep([_case(1.3, 1.0, 100)], PRICE)}
    # THEN 3008 MB (1.7 vCPUs) is 23 % faster than one vCPU but 31 % dearer per image
    assert rows[3008]["latency_s"] == pytest.approx(rows[1769]["latency_s"] / 1.3)
    assert rows[3008]["usd_per_million"] == pytest.approx(
        rows[1769]["usd_per_million"] * 3008 / 1769 / 1.3, rel=0.01
    )
    assert memory.fastest(list(rows.values()))["memory_mb"] == 3008
    # AND the pick is 2048 MB: its 1.16 vCPUs are still all busy, so it is faster at one
    # vCPU's price; from there on latency costs more
    assert rows[2048]["usd_per_million"] == pytest.approx(rows[1769]["usd_per_million"], rel=0.01)
    assert memory.pick(list(rows.values()))["memory_mb"] == 2048


def test_a_size_the_peak_does_not_fit_with_headroom_is_never_picked(memory: ModuleType) -> None:
    rows = {r["memory_mb"]: r for r in memory.sweep([_case(0.1, 0.1, 1500)], PRICE)}
    assert not rows[1769]["feasible"] and rows[2048]["feasible"]
    assert memory.pick(list(rows.values()))["memory_mb"] == 2048


def test_waiting_on_aws_is_billed_at_any_size_so_io_bound_work_picks_a_small_one(
    memory: ModuleType,
) -> None:
    # GIVEN 1 ms of CPU and 100 ms waiting for AWS per image, 60 MB peak
    case = {**_case(0.001, 0.001, 60), "wait_s": 0.1}

    rows = {r["memory_mb"]: r for r in memory.sweep([case], PRICE)}

    # THEN the wait is in the latency at every size, and the cheapest size within 5 % of one
    # vCPU's latency wins: 512 MB (256 MB would be 6 % slower)
    assert rows[1769]["latency_s"] == pytest.approx(0.101)
    assert rows[256]["latency_s"] == pytest.approx(0.1 + 0.001 * 1769 / 256)
    assert memory.pick(list(rows.values()))["memory_mb"] == 512


def test_more_cpu_between_the_waits_needs_more_memory_for_equal_latency(
    memory: ModuleType,
) -> None:
    case = {**_case(0.02, 0.02, 60), "wait_s": 0.1}
    assert memory.pick(memory.sweep([case], PRICE))["memory_mb"] == 1536
