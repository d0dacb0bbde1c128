"""Memory sweep: the MemorySize that gives the lowest $ per image at equal latency.

Measures, in fresh processes on the bench inputs, what each image function does per image:
Validate (sniff, bound, full decode) and Resize (each default variant): wall time on this
machine, CPU time and peak RSS. Lambda allocates CPU in proportion to memory (one full vCPU at
1769 MB), so at memory M a case takes CPU / min(M / 1769, p), with p = max(1, CPU / wall) the
threads it kept busy here (on a loaded machine wall time includes waiting for a core, so p is
then 1, as if single-threaded: conservative for sizes above 1769 MB), and costs that duration x M
in GB-s. A size is feasible when the case's peak RSS fits with 25 % headroom. Per function
the pick is the cheapest feasible size whose latency is within 5 % of the fastest.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "layers" / "core"))

from imgpipe.pricing import lambda_gb_seconds, load_prices  # noqa: E402
from imgpipe.samples import DEFAULT_CACHE, INPUTS, generate  # noqa: E402
from imgpipe_core.catalogue import load_catalogue  # noqa: E402

FULL_VCPU_MB = 1769
SIZES = (512, 1024, 1536, 1769, 2048, 3008, 3538)
HEADROOM = 1.25
EQUAL_LATENCY = 1.05
REPEATS = 3


def _run(library: str, source: Path, variant_json: str, output: Path) -> dict[str, Any]:
    command = [sys.executable, str(BENCH / "worker.py"), library, str(source), variant_json]
    done = subprocess.run(
        [*command, str(output), str(REPEATS)], check=True, capture_output=True, text=True
    )
    run = json.loads(done.stdout)
    return {
        "wall_s": statistics.median(run["wall_s"]),
        "cpu_s": statistics.median(run["cpu_s"]),
        "peak_rss_mb": run["peak_rss_mb"],
    }


def measure(cache: Path, scratch: Path) -> dict[str, list[dict[str, Any]]]:
    """Per function, one measured case per image (Validate) or per image and variant (Resize)."""
    cases: dict[str, list[dict[str, Any]]] = {"validate": [], "resize": []}
    for spec in INPUTS:
        source = generate(spec, cache)
        case = _run("validate", source, "{}", scratch / f"{spec.name}.validate")
        cases["validate"].append({"input": spec.name, **case})
        print(f"validate {spec.name:>15}: {_show(case)}", flush=True)
        for variant in load_catalogue().variants:
            output = scratch / f"{spec.name}.{variant.name}"
            case = _run("imgpipe", source, variant.model_dump_json(), output)
            cases["resize"].append({"input": spec.name, "variant": variant.name, **case})
            print(f"resize   {spec.name:>15} {variant.name:>9}: {_show(case)}", flush=True)
    return cases


def _show(case: dict[str, Any]) -> str:
    return (
        f"wall {case['wall_s'] * 1000:6.0f} ms, CPU {case['cpu_s'] * 1000:6.0f} ms, "
        f"peak {case['peak_rss_mb']:5.0f} MB"
    )


def sweep(cases: list[dict[str, Any]], gb_second_usd: float) -> list[dict[str, Any]]:
    """Latency and $ per image (mean over the cases) at each memory size."""
    rows = []
    for size in SIZES:
        vcpus = size / FULL_VCPU_MB
        durations = [c["cpu_s"] / min(vcpus, max(1.0, c["cpu_s"] / c["wall_s"])) for c in cases]
        peak = max(c["peak_rss_mb"] for c in cases)
        rows.append(
            {
                "memory_mb": size,
                "feasible": peak * HEADROOM <= size,
                "latency_s": statistics.mean(durations),
                "usd_per_million": statistics.mean(
                    lambda_gb_seconds(d * 1000, size) * gb_second_usd * 1_000_000 for d in durations
                ),
            }
        )
    return rows


def pick(rows: list[dict[str, Any]]) -> dict[str, Any]:
    feasible = [r for r in rows if r["feasible"]]
    fastest = min(r["latency_s"] for r in feasible)
    equal = [r for r in feasible if r["latency_s"] <= fastest * EQUAL_LATENCY]
    return min(equal, key=lambda r: (r["usd_per_million"], r["memory_mb"]))


def main(argv: list[str] | None = None) -> int:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--report", type=Path)
    args = parser.parse_args(argv)
    price = load_prices()["lambda_gb_second"]
    with tempfile.TemporaryDirectory(prefix="imgpipe-memory-") as scratch:
        cases = measure(args.cache, Path(scratch))
    report: dict[str, Any] = {}
    for function, measured in cases.items():
        rows = sweep(measured, price)
        chosen = pick(rows)
        report[function] = {"cases": measured, "sweep": rows, "pick": chosen}
        for row in rows:
            mark = " <- pick" if row is chosen else ("" if row["feasible"] else " (too small)")
            print(
                f"{function:>8} {row['memory_mb']:5d} MB: latency {row['latency_s'] * 1000:6.0f} "
                f"ms, ${row['usd_per_million']:7.2f} per million images{mark}"
            )
    if args.report:
        args.report.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(
        "memory pick: " + ", ".join(f"{fn} {r['pick']['memory_mb']} MB" for fn, r in report.items())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
