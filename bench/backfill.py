"""Time and cost of a backfill, measured on the local engine and priced with prices.json.

    .venv/bin/python bench/backfill.py [--images N]

Deploys the stack, uploads N photo-like JPEGs through the real event path, waits for them, then
runs ``imgpipe backfill --wait`` over them and reports: the wall time, each child execution's
duration (from the engine's Distributed Map records), the state transitions a child bills
(Choice, Start Re-run, 4 per poll of Count Poll/Wait/Read Record/Re-run Finished?, Succeed) and the
backfill's own cost per 10 000 images. The re-runs themselves cost what a pipeline run costs
(README "Cost"); they are not repeated here.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import statistics
import sys
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
POLL_SECONDS = 5  # statemachine/backfill.asl.json, "Wait For Re-run"
RERUN_MEMORY_MB = 256  # template.yaml, BackfillRerunFunction
# One record item (2.2 KB, README "Cost") in the table and its 2 indexes that project it.
WRU_PER_RECORD_WRITE = 3 * 3


def photo(seed: int) -> bytes:
    gradient = Image.linear_gradient("L").resize((1600 + seed, 1200))
    image = Image.merge("RGB", (gradient, gradient.rotate(90), gradient))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=20)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    sys.path.insert(0, str(ROOT / "src"))
    from imgpipe.cli import main as cli
    from imgpipe.local.adapters import distributed_map
    from imgpipe.local.engine import Engine
    from imgpipe.pricing import Usage, line_items, load_prices
    from imgpipe_core import clients, keys, records

    with Engine() as engine:
        outputs = engine.deploy(ROOT / "template.yaml", "bench-backfill").outputs
        clients.configure(engine.client)
        s3 = engine.client("s3")
        bucket = outputs["PrivateBucketName"]
        pids = []
        for n in range(args.images):
            put = s3.put_object(Bucket=bucket, Key=f"uploads/bench-{n}.jpg", Body=photo(n))
            pids.append(keys.processing_id(bucket, f"uploads/bench-{n}.jpg", put["VersionId"]))
        deadline = time.monotonic() + 60 * args.images
        while any(
            (r := records.get(outputs["StatusTableName"], pid)) is None
            or r.status.value == "PROCESSING"
            for pid in pids
        ):
            if time.monotonic() > deadline:
                raise SystemExit("uploads did not finish")
            time.sleep(1)
        started = time.monotonic()
        argv = ["backfill", "--wait", "--json", "--endpoint-url", engine.endpoint_url]
        code = cli([*argv, "--stack-name", "bench-backfill"])
        wall = time.monotonic() - started
        sfn = engine.client("stepfunctions")
        (execution,) = sfn.list_executions(stateMachineArn=outputs["BackfillStateMachineArn"])[
            "executions"
        ]
        (run,) = sfn.list_map_runs(executionArn=execution["executionArn"])["mapRuns"]
        children = distributed_map.outcomes(run["mapRunArn"])
    durations = [(c.stop - c.start).total_seconds() for c in children]
    polls = statistics.mean(max(1, math.ceil(d / POLL_SECONDS)) for d in durations)
    transitions = 3 + 4 * polls
    rerun_gb_s = 0.2 * RERUN_MEMORY_MB / 1024  # billed ~200 ms (two reads, a write, a start)
    usage = Usage(
        transitions=transitions,
        lambda_requests=1,
        lambda_gb_s=rerun_gb_s,
        dynamodb_rru=2 + polls,  # two consistent GetItems in Start Re-run, one per poll
        dynamodb_wru=WRU_PER_RECORD_WRITE,  # the re-run claim
    )
    items = line_items(usage, load_prices(), "STANDARD")
    report = {
        "images": args.images,
        "exit": code,
        "wall_seconds": round(wall, 1),
        "child_seconds_mean": round(statistics.mean(durations), 1),
        "child_seconds_max": round(max(durations), 1),
        "polls_per_child": round(polls, 2),
        "transitions_per_image": round(transitions, 2),
        "usd_per_10000": {k: round(v * 10_000, 4) for k, v in items.items()},
        "usd_per_10000_total": round(sum(items.values()) * 10_000, 2),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
