"""``imgpipe cost``: $ per million uploads, from counts measured on real local runs.

The stack is deployed on the embedded engine and real uploads go through the real event path.
Per upload it measures state transitions (execution history), Lambda billed duration x memory
(the REPORT lines in CloudWatch Logs), and the S3/DynamoDB/EventBridge/SNS/SQS requests the
engine served (``adapters/request_counter``); :mod:`imgpipe.pricing` prices them. The seeds'
single-Lambda design (one function, one read, every variant, one PUT each) is priced with the
same table, its compute measured by running ``imgpipe render`` in this process on the same files.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import math
import os
import re
import statistics
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from imgpipe import pricing
from imgpipe.cli import CliError
from imgpipe.text import table
from imgpipe_core import executions

ROOT = Path(__file__).resolve().parents[3]
COST_INPUTS = ("jpeg-12mp", "jpeg-24mp", "png-alpha-12mp", "webp-12mp")
_REPORT = re.compile(
    r"^REPORT RequestId: \S+\tDuration: [\d.]+ ms\tBilled Duration: (\d+) ms\t"
    r"Memory Size: (\d+) MB\tMax Memory Used: \d+ MB(?:\tInit Duration: ([\d.]+) ms)?"
)
_PLATFORM = ("START RequestId:", "END RequestId:", "REPORT RequestId:")
S3_TIER1 = {"PutObject", "CopyObject", "PostObject", "ListObjects", "ListObjectVersions"}
S3_TIER1 |= {"PutObjectTagging", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"}
S3_FREE = {"DeleteObject", "DeleteObjects"}


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "cost",
        help="measured $ per million uploads, against the single-Lambda design",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("--uploads", type=int, default=3, help="measured uploads per input")
    parser.add_argument(
        "--input", action="append", dest="inputs", choices=COST_INPUTS, help="default: all"
    )
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--cache", type=Path, help="generated inputs (default: the bench's cache)")
    parser.add_argument("--report", type=Path, help="also write the measurements as JSON")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per upload")
    parser.add_argument(
        "--workflow-type",
        choices=("EXPRESS", "STANDARD"),
        default="EXPRESS",
        help="the stack's WorkflowType to measure (default: EXPRESS, the cheaper one)",
    )
    parser.add_argument(
        "--parameter-overrides",
        nargs="*",
        metavar="KEY=VALUE",
        default=[],
        help="stack parameters of the configuration to measure, as `imgpipe local up` takes "
        "them (e.g. ExecutionLogLevel=ERROR ExecutionLogData=false)",
    )
    parser.set_defaults(func=run)


# -- measurement ------------------------------------------------------------------------------


@dataclass
class Measured:
    """One input kind: usage per upload (means) and the raw evidence behind it."""

    name: str
    uploads: int
    usage: pricing.Usage
    requests: dict[str, float]  # "service:Action" -> per upload, as the engine counted them
    gb_s_by_function: dict[str, float]
    lambda_tasks_in_history: float  # Lambda tasks scheduled per execution (history)
    reports: float  # REPORT lines per upload (CloudWatch Logs)
    execution_s: float  # mean execution duration
    platform_log_bytes: float  # START/END/REPORT bytes per invocation
    single_lambda: pricing.Usage | None = None
    single_lambda_s: float = 0.0
    # DynamoDB request units per upload by action, unit and table/index, as the engine metered
    # them: {"UpdateItem": {"WRU": {"table": 3, "ByStatus": 3}}}
    dynamodb_units: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class Observer:
    """Clients whose calls the request counter ignores (polling, histories, logs)."""

    def __init__(self, engine: Any) -> None:
        from botocore.config import Config

        from imgpipe.local.adapters.request_counter import OBSERVER

        self._engine = engine
        self._config = Config(user_agent_extra=OBSERVER)
        self._clients: dict[str, Any] = {}

    def __call__(self, service: str) -> Any:
        if service not in self._clients:
            session: Any = self._engine.session()
            self._clients[service] = session.client(
                service, endpoint_url=self._engine.endpoint_url, config=self._config
            )
        return self._clients[service]


def measure_pipeline(
    engine: Any,
    stack_name: str,
    outputs: dict[str, str],
    name: str,
    data: bytes,
    uploads: int,
    timeout: float = 300,
) -> Measured:
    """Upload ``data`` ``uploads`` times, one after the other, and measure what each cost."""
    from imgpipe.local.adapters import request_counter

    observe = Observer(engine)
    functions = _functions(observe, stack_name)
    s3 = engine.client("s3")  # the app's upload is a billed request, so it is counted
    bucket, table_name = outputs["PrivateBucketName"], outputs["StatusTableName"]
    before = request_counter.snapshot()
    units_before = request_counter.units_snapshot(table_name)
    start_ms = int(time.time() * 1000)
    records = []
    for _ in range(uploads):
        key = f"uploads/{uuid.uuid4().hex}"
        version = s3.put_object(Bucket=bucket, Key=key, Body=data).get("VersionId")
        records.append(
            _wait(observe, bucket, key, version, table_name, outputs["StateMachineArn"], timeout)
        )
    end_ms = int(time.time() * 1000) + 1
    counted = request_counter.snapshot() - before
    units_after = request_counter.units_snapshot(table_name)

    group = executions.log_group_of(outputs["StateMachineArn"], sfn=observe("stepfunctions"))
    read = [_read(observe, r["executionArns"][-1], group) for r in records]
    histories = [events for _, events in read]
    durations = [_duration_s(described) for described, _ in read]
    express_log_bytes = statistics.mean(
        _execution_log_bytes(observe, group, r["executionArns"][-1], start_ms, end_ms)
        if executions.is_express(r["executionArns"][-1])
        else sum(len(json.dumps(e, default=str)) for e in h)  # what ALL logging would send
        for r, h in zip(records, histories, strict=True)
    )
    # A Standard run's log is modelled: priced as the template's execution log group would be.
    in_ia = log_class(observe, group) == "INFREQUENT_ACCESS"
    reports, log_bytes, platform_bytes = _reports(observe, functions, start_ms, end_ms)

    per = 1 / uploads
    requests = {f"{svc}:{action}": n * per for (svc, action), n in sorted(counted.items())}
    transitions = statistics.mean(_transitions(h) for h in histories)
    lambda_tasks = statistics.mean(_lambda_tasks(h) for h in histories)
    gb_s: dict[str, float] = {}
    ephemeral = 0.0
    for function, billed_ms, memory_mb, init_ms in reports:
        billed = billed_ms + math.ceil(init_ms or 0)  # INIT is billed too (since August 2025)
        gb_s[function] = (
            gb_s.get(function, 0.0) + pricing.lambda_gb_seconds(billed, memory_mb) * per
        )
        ephemeral += pricing.ephemeral_gb_seconds(billed, functions[function]["ephemeral"]) * per
    units = _units_per_upload(units_before, units_after, per)
    s3_tier1 = sum(n for (svc, a), n in counted.items() if svc == "s3" and a in S3_TIER1)
    s3_tier2 = sum(
        n
        for (svc, a), n in counted.items()
        if svc == "s3" and a not in S3_TIER1 and a not in S3_FREE
    )
    usage = pricing.Usage(
        transitions=transitions,
        executions=1.0,
        express_gb_s=statistics.mean(pricing.express_gb_seconds(d) for d in durations),
        express_log_bytes=express_log_bytes,
        express_log_ia_bytes=express_log_bytes if in_ia else 0.0,
        lambda_requests=len(reports) * per,
        lambda_gb_s=sum(gb_s.values()),
        lambda_ephemeral_gb_s=ephemeral,
        s3_tier1=s3_tier1 * per,
        s3_tier2=s3_tier2 * per,
        dynamodb_wru=_total(units, "WRU"),
        dynamodb_rru=_total(units, "RRU"),
        eventbridge_events=counted[("events", "PutEvents")] * per,
        sns_requests=counted[("sns", "Publish")] * per,
        sqs_requests=sum(n for (svc, _), n in counted.items() if svc == "sqs") * per,
        lambda_log_bytes=log_bytes * per,
    )
    return Measured(
        name=name,
        uploads=uploads,
        usage=usage,
        requests=requests,
        dynamodb_units=units,
        gb_s_by_function=dict(sorted(gb_s.items())),
        lambda_tasks_in_history=lambda_tasks,
        reports=len(reports) * per,
        execution_s=statistics.mean(durations),
        platform_log_bytes=platform_bytes / max(1, len(reports)),
        extra={
            "record_bytes": _record_bytes(observe, table_name, records[-1]["processingId"]),
            "statuses": [r["status"] for r in records],
        },
    )


def measure_single_lambda(
    path: Path, runs: int, s3: Any = None, bucket: str = "", *, memory_mb: int = 1769
) -> float:
    """Median wall seconds of the single-Lambda design's work: ``imgpipe render`` (one inspect,
    every variant) in this process, plus, given an S3 client, its GET of the upload and one PUT
    per variant against the same engine, so both designs pay the same S3 latency. Imaging
    runs as in a function of ``memory_mb``: below two vCPUs' worth one thread, as in Resize
    (a second core here would shorten the single Lambda's billed time as Lambda would not)."""
    from imgpipe.commands import render

    timings = []
    with tempfile.TemporaryDirectory(prefix="imgpipe-cost-") as out:
        # The command's own parser: every option at its default, whatever render grows.
        parser = argparse.ArgumentParser()
        render.register(parser.add_subparsers())
        args = parser.parse_args(["render", str(path), "--out", out])
        key = f"staging/cost-single-lambda/{uuid.uuid4().hex}"
        if s3 is not None:
            s3.put_object(Bucket=bucket, Key=f"{key}/source", Body=path.read_bytes())
        with _as_function_of(memory_mb):
            for index in range(runs + 1):
                started = time.perf_counter()
                if s3 is not None:
                    s3.get_object(Bucket=bucket, Key=f"{key}/source")["Body"].read()
                if render.run(args, stdout=io.StringIO()) != 0:
                    raise CliError(f"imgpipe render failed on {path}")
                if s3 is not None:
                    for output in sorted(Path(out).rglob("*.*")):
                        s3.put_object(
                            Bucket=bucket, Key=f"{key}/{output.name}", Body=output.read_bytes()
                        )
                if index:  # the first run imports and warms up, as a cold start would
                    timings.append(time.perf_counter() - started)
    return statistics.median(timings)


@contextlib.contextmanager
def _as_function_of(memory_mb: int) -> Any:
    """This process seen as a function of ``memory_mb`` (imaging's thread count reads
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE) for the block's duration."""
    saved = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
    os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(memory_mb)
    try:
        yield
    finally:
        if saved is None:
            del os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        else:
            os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = saved


def _functions(observe: Observer, stack_name: str) -> dict[str, dict[str, Any]]:
    resources = observe("cloudformation").describe_stack_resources(StackName=stack_name)
    found = {}
    for resource in resources["StackResources"]:
        if resource["ResourceType"] == "AWS::Lambda::Function":
            name = resource["PhysicalResourceId"]
            config = observe("lambda").get_function_configuration(FunctionName=name)
            found[name] = {
                "logical": resource["LogicalResourceId"],
                "memory": config["MemorySize"],
                "ephemeral": config.get("EphemeralStorage", {}).get("Size", 512),
            }
    return found


def _wait(
    observe: Observer,
    bucket: str,
    key: str,
    version: str | None,
    table_name: str,
    state_machine_arn: str,
    timeout: float,
) -> dict[str, Any]:
    from imgpipe_core import keys, records
    from imgpipe_core.models import Status

    pid = keys.processing_id(bucket, key, version)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = records.get(table_name, pid)
        if record and record.status is not Status.PROCESSING:
            arn = record.execution_arns[-1]
            group = executions.log_group_of(state_machine_arn, sfn=observe("stepfunctions"))
            with contextlib.suppress(executions.ExecutionGone):  # no log event delivered yet
                if _read(observe, arn, group)[0]["status"] != "RUNNING":
                    return record.plain()
        time.sleep(0.1)
    raise CliError(f"upload {key} did not finish within {timeout:.0f}s")


def _read(observe: Observer, arn: str, group: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Description and history: Step Functions' (Standard) or, for Express, the engine's record
    of what ran (its log holds only failures below Level ALL; its bytes are measured apart)."""
    if executions.is_express(arn):
        from imgpipe.local.adapters import express

        return express.recorded(arn)
    return executions.read(arn, log_group=group, sfn=observe("stepfunctions"), logs=observe("logs"))


def _duration_s(described: dict[str, Any]) -> float:
    return float((described["stopDate"] - described["startDate"]).total_seconds())


def _execution_log_bytes(
    observe: Observer, group: str, arn: str, start_ms: int, end_ms: int
) -> int:
    """Bytes of one Express execution's log events (what CloudWatch Logs ingests), read as
    every reader does, by Logs Insights (an Infrequent Access group has no FilterLogEvents)."""
    if not group:
        return 0
    with contextlib.suppress(executions.ExecutionGone):  # nothing logged (ERROR, a success)
        messages = executions.logged_messages(
            arn,
            group,
            since=datetime.datetime.fromtimestamp(start_ms / 1000 - 1, datetime.UTC),
            until=datetime.datetime.fromtimestamp(end_ms / 1000 + 1, datetime.UTC),
            logs=observe("logs"),
        )
        return sum(len(message.encode()) for message in messages)
    return 0


def log_class(observe: Observer, group: str) -> str:
    """The class of the execution log group ("" without one)."""
    if not group:
        return ""
    found = observe("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    return next(
        (str(g.get("logGroupClass", "STANDARD")) for g in found if g["logGroupName"] == group), ""
    )


def _transitions(history: list[dict[str, Any]]) -> int:
    """Step Functions bills each state entered, and each retry as one more transition."""
    from imgpipe_core.trace import build_timeline

    entered = sum(1 for event in history if event["type"].endswith("StateEntered"))
    return entered + sum(span.retries for span in build_timeline(history))


def _lambda_tasks(history: list[dict[str, Any]]) -> int:
    """Lambda invocations the history scheduled: Lambda tasks and ``lambda:invoke`` tasks."""
    return sum(
        1
        for event in history
        if event["type"] == "LambdaFunctionScheduled"
        or (
            event["type"] == "TaskScheduled"
            and event.get("taskScheduledEventDetails", {}).get("resourceType") == "lambda"
        )
    )


def _reports(
    observe: Observer, functions: dict[str, dict[str, Any]], start_ms: int, end_ms: int
) -> tuple[list[tuple[str, int, int, float | None]], int, int]:
    """REPORT lines (function, billed ms, memory MB, init ms), all log bytes, platform bytes."""
    logs = observe("logs")
    reports: list[tuple[str, int, int, float | None]] = []
    total = platform = 0
    for function in functions:
        pages = logs.get_paginator("filter_log_events")
        with contextlib.suppress(logs.exceptions.ResourceNotFoundException):
            for page in pages.paginate(
                logGroupName=f"/aws/lambda/{function}", startTime=start_ms, endTime=end_ms
            ):
                for event in page["events"]:
                    message = event["message"]
                    size = len(message.encode())
                    total += size
                    if message.startswith(_PLATFORM):
                        platform += size
                    match = _REPORT.match(message)
                    if match:
                        init = float(match.group(3)) if match.group(3) else None
                        reports.append((function, int(match.group(1)), int(match.group(2)), init))
    return reports, total, platform


def _units_per_upload(
    before: dict[tuple[str, str, str], float], after: dict[tuple[str, str, str], float], per: float
) -> dict[str, dict[str, dict[str, float]]]:
    """The request units metered between two snapshots, per upload, nested for the report."""
    nested: dict[str, dict[str, dict[str, float]]] = {}
    for (action, unit, target), amount in sorted(after.items()):
        spent = (amount - before.get((action, unit, target), 0.0)) * per
        if spent:
            nested.setdefault(action, {}).setdefault(unit, {})[target] = spent
    return nested


def _total(units: dict[str, dict[str, dict[str, float]]], unit: str) -> float:
    return sum(sum(by.get(unit, {}).values()) for by in units.values())


def _record_bytes(observe: Observer, table_name: str, pid: str) -> int:
    """The final status record's size by DynamoDB's rules (for the report)."""
    from imgpipe import dynamodb_units

    item = observe("dynamodb").get_item(TableName=table_name, Key={"processingId": {"S": pid}})
    return dynamodb_units.item_bytes(item.get("Item"))


# -- the command -----------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    import logging

    from imgpipe.local.deploy import DeployError, parse_overrides
    from imgpipe.local.engine import Engine
    from imgpipe.samples import DEFAULT_CACHE, INPUTS, generate  # numpy: only when run
    from imgpipe_core import clients

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    prices = pricing.load_prices()
    specs = [s for s in INPUTS if s.name in (args.inputs or COST_INPUTS)]
    files = {spec.name: generate(spec, args.cache or DEFAULT_CACHE) for spec in specs}
    started = time.monotonic()
    print(f"measuring {args.uploads} upload(s) of each of {len(specs)} inputs…", flush=True)
    # One resize at a time: each Lambda has its own CPU on AWS; here they would share two.
    parameters = {"ResizeConcurrency": "1", "WorkflowType": args.workflow_type}
    try:
        parameters.update(parse_overrides(args.parameter_overrides))
    except DeployError as error:
        raise CliError(str(error)) from error
    with Engine() as engine:
        stack = "imgpipe-cost"
        deployed = engine.deploy(args.template, stack, parameters)
        outputs = dict(deployed.outputs)
        observe = Observer(engine)
        clients.configure(observe)  # records.get polling is the observer's, not the pipeline's
        machine = observe("stepfunctions").describe_state_machine(
            stateMachineArn=outputs["StateMachineArn"]
        )
        workflow = str(machine.get("type", "STANDARD"))
        group = executions.log_group_of(outputs["StateMachineArn"], sfn=observe("stepfunctions"))
        configuration = _configuration(parameters, machine, log_class(observe, group))
        resize_memory = next(
            f["memory"]
            for f in _functions(observe, stack).values()
            if f["logical"] == "ResizeFunction"
        )
        catalogue_size = _catalogue_size()
        measured = []
        for spec in specs:
            data = files[spec.name].read_bytes()
            # Warm-up upload (not counted): at volume nearly every invocation is warm.
            measure_pipeline(engine, stack, outputs, spec.name, data, 1, args.timeout)
            result = measure_pipeline(
                engine, stack, outputs, spec.name, data, args.uploads, args.timeout
            )
            result.single_lambda_s = measure_single_lambda(
                files[spec.name],
                args.uploads,
                observe("s3"),
                outputs["PrivateBucketName"],
                memory_mb=resize_memory,
            )
            result.single_lambda = pricing.single_lambda_usage(
                compute_s=result.single_lambda_s,
                memory_mb=resize_memory,
                variants=catalogue_size,
                log_bytes=result.platform_log_bytes,
            )
            measured.append(result)
            print(f"  {spec.name}: done ({time.monotonic() - started:.0f}s)", flush=True)
        clients.configure(None)
    lines = report_lines(measured, prices, workflow, resize_memory, configuration)
    print("\n".join(lines))
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(
            json.dumps(
                {
                    "machine": _machine(),
                    "prices": asdict(prices),
                    "workflow": workflow,
                    "configuration": configuration,
                    "inputs": [asdict(m) for m in measured],
                },
                indent=2,
                default=str,
            )
            + "\n",
            encoding="utf-8",
        )
    return 0


def _configuration(
    parameters: dict[str, str], machine: dict[str, Any], group_class: str = ""
) -> dict[str, Any]:
    """What was measured: the parameters given (the rest at their defaults) and the execution
    log they gave the state machine, with the class of its log group (what its bytes cost)."""
    logging = machine.get("loggingConfiguration", {})
    return {
        "parameters": dict(parameters),
        "executionLog": {
            "level": logging.get("level", "OFF"),
            "includeExecutionData": bool(logging.get("includeExecutionData", False)),
            "logGroupClass": group_class or None,
        },
    }


def configuration_line(configuration: dict[str, Any] | None) -> str:
    if not configuration:
        return "configuration: the template's defaults"
    given = " ".join(f"{k}={v}" for k, v in sorted(configuration["parameters"].items()))
    log = configuration["executionLog"]
    data = "with" if log["includeExecutionData"] else "without"
    group_class = log.get("logGroupClass")
    where = f"; log group class {group_class}" if group_class else ""
    return (
        f"configuration: {given} (other parameters at their defaults); execution log: "
        f"Level {log['level']}, {data} execution data{where}"
    )


def report_lines(
    measured: list[Measured],
    prices: pricing.PriceTable,
    workflow: str,
    resize_memory: int,
    configuration: dict[str, Any] | None = None,
) -> list[str]:
    rows = []
    totals: dict[str, list[float]] = {"STANDARD": [], "EXPRESS": [], "NONE": []}
    for m in measured:
        u = m.usage
        single = m.single_lambda or pricing.Usage()
        standard = pricing.per_million(u, prices, "STANDARD")
        express = pricing.per_million(u, prices, "EXPRESS")
        alone = pricing.per_million(single, prices, "NONE")
        totals["STANDARD"].append(standard)
        totals["EXPRESS"].append(express)
        totals["NONE"].append(alone)
        rows.append(
            (
                m.name,
                f"{u.transitions:.0f}",
                f"{u.lambda_requests:.0f}",
                f"{u.lambda_gb_s:.2f}",
                f"{u.s3_tier1:.0f}/{u.s3_tier2:.0f}",
                f"{u.dynamodb_wru:.0f}/{u.dynamodb_rru:.0f}",
                f"{u.eventbridge_events:.0f}/{u.sns_requests:.0f}/{u.sqs_requests:.0f}",
                f"{u.lambda_log_bytes / 1024:.1f}",
                f"{u.express_log_bytes / 1024:.1f}",
                f"{standard:,.0f}",
                f"{express:,.0f}",
                f"{single.lambda_gb_s:.2f}",
                f"{alone:,.0f}",
            )
        )
    header = (
        "input",
        "transitions",
        "fn req",
        "fn GB-s",
        "S3 t1/t2",
        "DDB WRU/RRU",
        "EB/SNS/SQS",
        "logs KB",
        "exec log KB",
        "$/M Standard",
        "$/M Express",
        "single fn GB-s",
        "$/M single fn",
    )
    mean = {kind: statistics.mean(values) for kind, values in totals.items()}
    lines = [
        "",
        f"per upload, measured on the local engine; prices {prices.region} list, retrieved "
        f"{prices.retrieved} (src/imgpipe/prices.json); $/M = USD per million uploads",
        configuration_line(configuration),
        *table(rows, header),
        "",
        "line items, USD per million uploads (mean over inputs):",
    ]
    kinds = (("STANDARD", "Standard"), ("EXPRESS", "Express"), ("NONE", "single fn"))
    for kind, name in kinds:
        items: dict[str, float] = {}
        for m in measured:
            usage = m.usage if kind != "NONE" else (m.single_lambda or pricing.Usage())
            for item, usd in pricing.line_items(usage, prices, kind).items():
                items[item] = items.get(item, 0.0) + usd * 1_000_000 / len(measured)
        shown = ", ".join(f"{item} {usd:,.2f}" for item, usd in items.items() if usd)
        lines.append(f"  {name:<9} {shown}")
    other = "STANDARD" if workflow == "EXPRESS" else "EXPRESS"
    label = {"STANDARD": "Standard", "EXPRESS": "Express"}
    lines += [
        "",
        f"* the stack ran {label[workflow]}: its figure is measured. {label[other]} is priced "
        "from the same run's counts (transitions from the history; Express: $1.00/M executions, "
        "the measured duration in 100 ms steps at 64 MB, its history logged at Level ALL).",
        f"single fn: one invocation at the Resize function's {resize_memory} MB, billed for "
        "`imgpipe render` of every variant measured in-process; 1 GET, 1 PUT per variant, "
        "the upload PUT, platform log lines.",
        f"imgpipe Standard: ${mean['STANDARD']:,.0f}/M, Express: ${mean['EXPRESS']:,.0f}/M, "
        f"single-lambda: ${mean['NONE']:,.0f}/M",
        f"cost ratio imgpipe/single-lambda ({label[other]}, modelled): "
        f"{mean[other] / mean['NONE']:.2f}",
        # The workflow type the stack really runs: only a measured figure is the headline.
        f"cost ratio imgpipe/single-lambda: {mean[workflow] / mean['NONE']:.2f}",
    ]
    return lines


def _catalogue_size() -> int:
    from imgpipe_core.config import load_settings

    return len(load_settings().catalogue.names)


def _machine() -> dict[str, Any]:
    import platform

    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
        "load1": os.getloadavg()[0],
    }


__all__ = ["Measured", "measure_pipeline", "measure_single_lambda", "register"]
