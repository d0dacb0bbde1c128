"""Memory sweep: the MemorySize that gives the lowest $ per image at equal latency.

Measures, in fresh processes on the bench inputs, what each image function does per image:
Validate (sniff, bound, full decode) and Resize (each default variant): wall time on this
machine, CPU time and peak RSS. Lambda allocates CPU in proportion to memory (one full vCPU at
1769 MB), so at memory M a case takes CPU / min(M / 1769, p), with p = max(1, CPU / wall) the
threads it kept busy here (on a loaded machine wall time includes waiting for a core, so p is
then 1, as if single-threaded: conservative for sizes above 1769 MB), and costs that duration x M
in GB-s. A size is feasible when the case's peak RSS fits with 25 % headroom. Per function
the pick is the cheapest feasible size at equal latency (within 5 % of its latency with one
full vCPU, 1769 MB), the fastest of those within 1 % of that price. A larger size that buys
latency at a higher price per image is printed beside the pick, with what it would cost, but
is not a default.

Register, Publish, Notify and the API only call AWS: per image, the calls each makes (counted
from the code, default catalogue) cost the client CPU measured here against a local moto
server from the Lambda Python, plus a typical in-region wait per call that memory does not
change (assumed: it cannot be measured without AWS). Their peak RSS is a cold start's (handler
imported, clients built), from bench/coldstart.py. Same rule, same prices.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent / "layers" / "core")]

import coldstart  # noqa: E402

from imgpipe.pricing import lambda_gb_seconds, load_prices  # noqa: E402
from imgpipe.samples import DEFAULT_CACHE, INPUTS, generate  # noqa: E402
from imgpipe_core.catalogue import load_catalogue  # noqa: E402

FULL_VCPU_MB = 1769
SIZES = (128, 256, 512, 1024, 1536, 1769, 2048, 3008, 3538)
HEADROOM = 1.25
EQUAL_LATENCY = 1.05
SAME_PRICE = 1.01
REPEATS = 3
# Per image (default catalogue: 4 variants), the AWS calls of the functions that only call AWS.
CALLS = {
    "register": {"dynamodb.PutItem": 1},  # the claim
    "publish": {"s3.PutObject": 1},  # the manifest: Resize wrote the variants in place
    "notify": {"events.PutEvents": 1, "sns.Publish": 1},
    "api": {"dynamodb.GetItem": 2},  # POST /uploads signs locally; a status read or two
}
# Typical in-region waits per call (assumed, see the docstring).
WAIT_S = {"dynamodb": 0.006, "s3": 0.025, "sns": 0.02, "events": 0.02}
_CALLER = """
import json, sys, time
import boto3
from imgpipe_core import clients
# Setup through stock boto3: the functions' clients (the layer's trimmed botocore data) have
# only the operations imgpipe calls, and creating tables and topics is not one of them.
setup = {name: boto3.client(name) for name in ("s3", "dynamodb", "sns")}
s3, ddb = clients.client("s3"), clients.client("dynamodb")
bucket, table = f"bench-{sys.argv[1]}", f"bench-{sys.argv[1]}"
setup["s3"].create_bucket(Bucket=bucket)
setup["dynamodb"].create_table(TableName=table,
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    BillingMode="PAY_PER_REQUEST")
topic = setup["sns"].create_topic(Name=table)["TopicArn"]
item = {"pk": {"S": "k"}, "status": {"S": "PROCESSING"}, "attempt": {"N": "1"}}
calls = {
    "dynamodb.PutItem": lambda: ddb.put_item(TableName=table, Item=item),
    "dynamodb.GetItem": lambda: ddb.get_item(TableName=table, Key={"pk": {"S": "k"}}),
    "s3.PutObject": lambda: s3.put_object(Bucket=bucket, Key="m", Body=b"{}" * 1000),
    "sns.Publish": lambda: clients.client("sns").publish(TopicArn=topic, Message="{}"),
    "events.PutEvents": lambda: clients.client("events").put_events(
        Entries=[{"Source": "imgpipe", "DetailType": "x", "Detail": "{}"}]),
}
cpu = {}
for name, call in calls.items():
    call()  # the first call of an operation builds its model: a cold start's cost
    start = time.process_time()
    for _ in range(20):
        call()
    cpu[name] = (time.process_time() - start) / 20
print(json.dumps(cpu))
"""


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


def call_cpu() -> dict[str, float]:
    """Client CPU seconds per AWS call on the Lambda Python (least of 3 runs; moto serves)."""
    from moto.server import ThreadedMotoServer

    python, paths = coldstart.lambda_paths()
    server = ThreadedMotoServer(port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        env = {**coldstart.ENVIRONMENT, "AWS_ENDPOINT_URL": f"http://{host}:{port}"}
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in paths)
        runs = [
            json.loads(
                subprocess.run(
                    [str(python), "-S", "-c", _CALLER, str(run)],
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            for run in range(3)
        ]
    finally:
        server.stop()
    return {name: min(run[name] for run in runs) for name in runs[0]}


def measure_light(per_call: dict[str, float]) -> dict[str, list[dict[str, Any]]]:
    """One case per function: a warm invocation's calls, with a cold start's peak RSS."""
    python, paths = coldstart.lambda_paths()
    cases: dict[str, list[dict[str, Any]]] = {}
    for function, calls in CALLS.items():
        peak = max(coldstart.sample(python, paths, function)["peak_rss_mb"] for _ in range(3))
        cpu = sum(n * per_call[call] for call, n in calls.items())
        wait = sum(n * WAIT_S.get(call, WAIT_S[call.split(".")[0]]) for call, n in calls.items())
        case = {"cpu_s": cpu, "wall_s": cpu, "wait_s": wait, "peak_rss_mb": peak}
        cases[function] = [case]
        print(f"{function:<8} {_show(case)}, AWS waits {wait * 1000:.0f} ms", flush=True)
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
        durations = [
            c["cpu_s"] / min(vcpus, max(1.0, c["cpu_s"] / c["wall_s"])) + c.get("wait_s", 0.0)
            for c in cases
        ]
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
    (one_vcpu,) = (r for r in rows if r["memory_mb"] == FULL_VCPU_MB)
    equal = [r for r in feasible if r["latency_s"] <= one_vcpu["latency_s"] * EQUAL_LATENCY]
    cheapest = min(r["usd_per_million"] for r in equal)
    # Latency that costs (next to) nothing more is taken: work that keeps two threads busy
    # runs twice as fast at twice the memory for the same GB-s.
    free = [r for r in equal if r["usd_per_million"] <= cheapest * SAME_PRICE]
    return min(free, key=lambda r: (r["latency_s"], r["memory_mb"]))


def fastest(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return min(
        (r for r in rows if r["feasible"]), key=lambda r: (r["latency_s"], r["usd_per_million"])
    )


def main(argv: list[str] | None = None) -> int:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--report", type=Path)
    args = parser.parse_args(argv)
    price = load_prices()["lambda_gb_second"]
    with tempfile.TemporaryDirectory(prefix="imgpipe-memory-") as scratch:
        cases = measure(args.cache, Path(scratch))
    cases.update(measure_light(call_cpu()))
    report: dict[str, Any] = {}
    for function, measured in cases.items():
        rows = sweep(measured, price)
        chosen, quickest = pick(rows), fastest(rows)
        report[function] = {"cases": measured, "sweep": rows, "pick": chosen, "fastest": quickest}
        for row in rows:
            mark = " <- pick" if row is chosen else ("" if row["feasible"] else " (too small)")
            if row is quickest and row is not chosen:
                more = row["usd_per_million"] / chosen["usd_per_million"] - 1
                less = 1 - row["latency_s"] / chosen["latency_s"]
                mark = f" <- fastest: {less:.0%} less latency for {more:+.0%} $ (not a default)"
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
