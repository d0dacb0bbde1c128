"""Cold start of every Lambda handler on the Lambda Python, as Lambda would run it.

Each run is a new interpreter of the function's runtime (``IMGPIPE_LAMBDA_PYTHON``, python3.12
on PATH, or pyenv) whose sys.path holds only the function's code, the built core layer and the
managed runtime's boto3, in that order. Measured from just before the interpreter is spawned
to the end of the init a first invocation pays: the handler module imported and the boto3
clients it uses built (they are built on first use). The interpreter's own start is included,
as Lambda's Init Duration includes its runtime's bootstrap. Prints each handler's CPU time
(least of several runs) with the median wall and CPU times, and ends with
``cold start max: N ms``, the largest of those least CPU times.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = "python3.12"
# The clients each handler builds on its first invocation (imgpipe_core.clients); a handler
# missing here is measured without its clients, and says so.
SERVICES = {
    "register": ["dynamodb"],
    "validate": ["s3"],
    "resize": ["s3"],
    "publish": ["s3"],
    "notify": ["events", "sns", "dynamodb"],
    "api": ["s3", "dynamodb", "stepfunctions"],
    "authorizer": ["dynamodb"],
    "retention": ["s3", "dynamodb"],
    "backfill_select": ["dynamodb", "s3"],
    "backfill_rerun": ["dynamodb", "stepfunctions"],
    "backfill_render": ["s3", "dynamodb"],
}
# What the template gives every function, with placeholder resource names.
ENVIRONMENT = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "AWS_EXECUTION_ENV": f"AWS_Lambda_{RUNTIME}",
    "POWERTOOLS_SERVICE_NAME": "imgpipe",
    "POWERTOOLS_METRICS_NAMESPACE": "imgpipe",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "PYDANTIC_DISABLE_PLUGINS": "__all__",
    "TABLE_NAME": "status",
    "API_KEY_TABLE": "api-keys",
    "PRIVATE_BUCKET": "private",
    "PUBLIC_BUCKET": "public",
    "PUBLIC_BASE_URL": "https://cdn.example",
    "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:topic",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:pipeline",
    "CDN_DISTRIBUTION_ID": "E123",
    "HOME": "/tmp",
    "LANG": "C.UTF-8",
}
_CHILD = """
import importlib.util, json, sys, time
spawned, app, services = float(sys.argv[1]), sys.argv[2], filter(None, sys.argv[3].split(","))
entered = time.time()
spec = importlib.util.spec_from_file_location("app", app)
module = importlib.util.module_from_spec(spec)
sys.modules["app"] = module
spec.loader.exec_module(module)
imported = time.time()
from imgpipe_core import clients
for service in services:
    clients.client(service)
ready = time.time()
# VmHWM, not ru_maxrss: that one keeps the parent's peak across fork and exec.
status = open("/proc/self/status").read().split("VmHWM:")[1]
peak_kb = int(status.split()[0])
print(json.dumps({"startup": entered - spawned, "import": imported - entered,
                  "clients": ready - imported, "total": ready - spawned,
                  "cpu": time.process_time(), "modules": len(sys.modules),
                  "peak_rss_mb": peak_kb / 1024}))
"""


def lambda_paths(runtime: str = RUNTIME) -> tuple[Path, list[Path]]:
    """The runtime's interpreter and what is on sys.path besides a function's code."""
    try:
        from imgpipe.local import build  # type: ignore[attr-defined,unused-ignore]
        from imgpipe.local.runtime.interpreter import (  # type: ignore[import-not-found,unused-ignore]
            find_interpreter,
            managed_packages,
        )
    except ImportError as error:
        raise SystemExit(f"cold start needs the engine's Lambda sandbox builds: {error}") from error

    interpreter = find_interpreter(runtime)
    layer = build.build_layer(ROOT / "layers" / "core", runtime)
    return interpreter.path, [layer.tree / "python", managed_packages(runtime)]


def sample(python: Path, paths: list[Path], handler: str) -> dict[str, float]:
    """One cold start of ``handler`` in a fresh interpreter."""
    code = ROOT / "functions" / handler
    env = {**ENVIRONMENT, "AWS_LAMBDA_FUNCTION_NAME": handler, "LAMBDA_TASK_ROOT": str(code)}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in [code, *paths])
    # -S: no site-packages of the interpreter's own; only code, layer and runtime boto3.
    # -B: nothing written next to the code, as on Lambda's read-only /var/task and /opt: what
    # the artifacts do not ship compiled is compiled in every sample.
    # -P: no "" (the code's directory again) in front: Lambda's sys.path names /var/task once,
    # and every import of the stdlib looks in each directory before it.
    command = [str(python), "-S", "-B", "-P", "-c", _CHILD, repr(time.time()), str(code / "app.py")]
    done = subprocess.run(
        [*command, ",".join(SERVICES.get(handler, []))],
        env=env,
        cwd=code,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{handler}: cold start failed:\n{done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def summarise(samples: list[dict[str, float]]) -> dict[str, Any]:
    result: dict[str, Any] = {
        key: statistics.median(s[key] * 1000 for s in samples)
        for key in ("startup", "import", "clients", "total", "cpu")
    }
    result["min_total"] = min(s["total"] * 1000 for s in samples)
    result["min_cpu"] = min(s["cpu"] * 1000 for s in samples)
    result["modules"] = samples[-1]["modules"]
    result["peak_rss_mb"] = max(s["peak_rss_mb"] for s in samples)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=9, help="fresh interpreters per handler")
    parser.add_argument("--report", type=Path, help="write the JSON results here")
    handlers = sorted(p.parent.name for p in (ROOT / "functions").glob("*/app.py"))
    parser.add_argument("handlers", nargs="*", default=handlers, help="default: all")
    args = parser.parse_args(argv)
    python, paths = lambda_paths()
    print(f"cold start on {python} (sys.path: function code, core layer, runtime boto3)")
    samples: dict[str, list[dict[str, float]]] = {handler: [] for handler in args.handlers}
    # Round robin, so a burst of load from the machine's other work is spread over handlers.
    for _ in range(args.runs):
        for handler in args.handlers:
            samples[handler].append(sample(python, paths, handler))
    results = {handler: summarise(runs) for handler, runs in samples.items()}
    for handler, r in results.items():
        print(
            f"cold start {handler:<15} {r['min_cpu']:6.0f} ms (CPU, min of {args.runs}; median "
            f"{r['cpu']:.0f}; median wall {r['total']:.0f}: interpreter {r['startup']:.0f}, "
            f"import {r['import']:.0f}, clients {r['clients']:.0f}; {r['modules']} modules"
            f"{'' if handler in SERVICES else '; its clients are not in SERVICES'})"
        )
    load = os.getloadavg()[0]
    if args.report:
        args.report.write_text(json.dumps({"load1": load, "handlers": results}, indent=2) + "\n")
    # On a shared machine wall time measures the run queue, and even CPU time grows with the
    # other work (caches, frequency); that noise only ever adds, so the least CPU time of
    # several runs is the closest to what the cold start costs (wall equals it when quiet).
    wall = max(r["total"] for r in results.values())
    print(
        f"cold start wall max: {wall:.0f} ms (median; "
        f"1-min load average {load:.2f} on {os.cpu_count()} cores)"
    )
    print(f"cold start max: {max(r['min_cpu'] for r in results.values()):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
