"""``make soak``: a burst of uploads through the local engine under faults, then a DLQ redrive.

Not a test (a short run of it is: tests/integration/test_soak.py). It uploads N images (one in
ten hostile) to the deployed template while a fault plan fails Lambda invocations (transient
errors, crashes after the handler ran), throttles S3 and DynamoDB, and optionally SIGKILLs
worker processes from outside; then it clears the faults, redrives the DLQ, and reports:

- terminal count and lost uploads (must be 0: every upload SUCCEEDED or REJECTED),
- uploads published twice (0), notifications per outcome (at least once, see notifications.py),
- throughput, upload-to-terminal latency p50/p90/p99, engine and worker peak RSS,
- the ratio of throughput to a compute floor measured in the same run: the same images rendered
  in-process (what ``imgpipe render`` does) on all cores, with no engine in between.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime
import io
import json
import os
import resource
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imgpipe_core.records import ProcessingRecord

ROOT = Path(__file__).resolve().parents[1]
if __name__ == "__main__":
    sys.path[:0] = [str(ROOT), str(ROOT / "src"), str(ROOT / "layers" / "core")]

FUNCTIONS = ("Register", "Validate", "Resize", "Publish", "Notify")
TERMINAL = {"SUCCEEDED", "REJECTED", "FAILED"}
HOSTILE = (
    b"",  # EMPTY_FILE
    b'<svg xmlns="http://www.w3.org/2000/svg"></svg>',  # UNSUPPORTED_MEDIA_TYPE
    b"\xff\xd8\xff\xe0 not really a JPEG",  # CORRUPT_IMAGE
)


@dataclass
class SoakConfig:
    uploads: int = 500
    seed: int = 7
    width: int = 2000
    height: int = 1500
    distinct_images: int = 12
    hostile_every: int = 10
    transient_rate: float = 0.10
    crash_rate: float = 0.02
    s3_throttle_rate: float = 0.05
    dynamodb_throttle_rate: float = 0.02
    kill_interval_s: float = 0.0  # 0: no worker processes killed from outside
    upload_threads: int = 4
    # Execution environments per function (the engine's default is 10): on 2 shared cores more
    # workers add memory (~75 MB each) and cold starts, not throughput.
    workers_per_function: int = 4
    timeout_s: float = 1800.0
    floor: bool = True
    floor_sample: int = 120  # uploads rendered for the floor
    stack_name: str = "soak"


@dataclass
class SoakReport:
    uploads: int
    terminal: int
    lost: int
    by_status: dict[str, int]
    failed_before_redrive: int
    redriven: int
    dlq_left: int
    published_twice: int
    notified: dict[str, int]  # final outcomes with at least one notification, per status
    unnotified: int
    duplicate_notifications: int
    workers_killed: int
    faults_injected: int
    seconds: float
    uploads_per_min: float
    latency_s: dict[str, float]
    engine_peak_rss_mb: float
    workers_peak_rss_mb: float
    cpu_per_upload_s: dict[str, float]
    floor_uploads_per_min: float | None = None
    ratio_to_floor: float | None = None
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)
    # On a shared machine the throughput ratio flatters the engine: its ~50 worker processes
    # get a larger share of contended cores than the floor's one per core. CPU per upload
    # (engine + workers against the floor's) does not depend on the share.
    load_average: float = field(default_factory=lambda: os.getloadavg()[0])

    @property
    def cpu_efficiency(self) -> float | None:
        floor = self.cpu_per_upload_s.get("floor")
        spent = self.cpu_per_upload_s["engine"] + self.cpu_per_upload_s["workers"]
        return floor / spent if floor and spent else None

    def lines(self) -> list[str]:
        latency = ", ".join(f"{k} {v:.1f} s" for k, v in self.latency_s.items())
        floor = (
            f"{self.floor_uploads_per_min:.0f}/min, ratio {self.ratio_to_floor:.2f}"
            if self.floor_uploads_per_min and self.ratio_to_floor is not None
            else "not measured"
        )
        return [
            f"uploads        {self.uploads}: terminal {self.terminal}, lost {self.lost} "
            f"{self.by_status}",
            f"failures       {self.failed_before_redrive} FAILED before redrive, "
            f"{self.redriven} redriven, DLQ left {self.dlq_left}",
            f"published      twice: {self.published_twice}",
            f"notified       {self.notified}, without notification {self.unnotified}, "
            f"duplicates {self.duplicate_notifications} (at least once)",
            f"faults         {self.faults_injected} injected, {self.workers_killed} workers killed",
            f"throughput     {self.uploads_per_min:.0f} uploads/min over {self.seconds:.0f} s "
            f"({self.cores} cores)",
            f"latency        {latency} (upload to terminal, first pass)",
            f"memory         engine peak RSS {self.engine_peak_rss_mb:.0f} MB, "
            f"workers peak {self.workers_peak_rss_mb:.0f} MB",
            "cpu per upload "
            + ", ".join(f"{k} {v:.2f} s" for k, v in self.cpu_per_upload_s.items()),
            f"compute floor  {floor}"
            + (f"; CPU efficiency {self.cpu_efficiency:.2f}" if self.cpu_efficiency else "")
            + f" (1-min load average {self.load_average:.1f})",
        ]


def fault_plan(config: SoakConfig) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    for function in FUNCTIONS:
        name = f"{config.stack_name}-{function}Function"
        if config.crash_rate:
            rules.append(
                {"function": name, "error": "crash", "phase": "after", "rate": config.crash_rate}
            )
        if config.transient_rate:
            rules.append(
                {"function": name, "error": "TransientError", "rate": config.transient_rate}
            )
    plan: dict[str, Any] = {"seed": config.seed, "lambda": rules}
    if config.s3_throttle_rate:
        plan["s3"] = [{"resource": config.stack_name, "rate": config.s3_throttle_rate}]
    if config.dynamodb_throttle_rate:
        plan["dynamodb"] = [{"resource": config.stack_name, "rate": config.dynamodb_throttle_rate}]
    return plan


def images(config: SoakConfig) -> list[bytes]:
    """The upload bodies, in order: photo-like JPEGs, every ``hostile_every``-th one hostile."""
    from PIL import Image

    from imgpipe.samples import photo_like

    distinct = []
    for i in range(config.distinct_images):
        out = io.BytesIO()
        pixels = photo_like(config.width, config.height, config.seed + i)
        Image.fromarray(pixels).save(out, "JPEG", quality=90)
        distinct.append(out.getvalue())
    bodies = []
    for i in range(config.uploads):
        hostile = config.hostile_every and i % config.hostile_every == config.hostile_every - 1
        bodies.append(HOSTILE[i % len(HOSTILE)] if hostile else distinct[i % len(distinct)])
    return bodies


def _render_all(body: bytes) -> int:
    """What the pipeline's compute is for one upload: inspect, then every variant."""
    import tempfile

    from imgpipe_core.config import load_settings
    from imgpipe_core.errors import ImageRejected
    from imgpipe_core.imaging import inspect_image, render_variant

    settings = load_settings()
    with tempfile.NamedTemporaryFile(suffix=".img") as handle:
        handle.write(body)
        handle.flush()
        source = Path(handle.name)
        try:
            info = inspect_image(source, settings.limits)
        except ImageRejected:
            return 0
        return sum(
            len(render_variant(source, v, info=info, limits=settings.limits).data)
            for v in settings.catalogue.variants
        )


def compute_floor(bodies: list[bytes]) -> tuple[float, float]:
    """Uploads per minute when nothing but the rendering runs, on every core; and the CPU
    seconds that rendering takes per upload."""
    cores = os.cpu_count() or 1
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    with concurrent.futures.ProcessPoolExecutor(cores) as pool:
        list(pool.map(_render_all, bodies, chunksize=4))
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return len(bodies) / wall * 60, cpu / len(bodies)


class _Capture:
    """Queues that receive every notification of the stack (EventBridge rule + SNS topic)."""

    def __init__(self, engine: Any, stack: str, topic_arn: str) -> None:
        sqs, events, sns = engine.client("sqs"), engine.client("events"), engine.client("sns")
        self.sqs = sqs
        self.events_queue = sqs.create_queue(QueueName=f"{stack}-soak-events")["QueueUrl"]
        self.sns_queue = sqs.create_queue(QueueName=f"{stack}-soak-sns")["QueueUrl"]
        events_arn = self._arn(self.events_queue)
        rule_arn = events.put_rule(
            Name=f"{stack}-soak", EventPattern=json.dumps({"source": ["imgpipe"]})
        )["RuleArn"]
        # EventBridge delivers to a queue only if the queue's policy allows the rule.
        statement = {
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": events_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
        }
        policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
        sqs.set_queue_attributes(QueueUrl=self.events_queue, Attributes={"Policy": policy})
        events.put_targets(Rule=f"{stack}-soak", Targets=[{"Id": "q", "Arn": events_arn}])
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=self._arn(self.sns_queue))
        self.events: list[dict[str, Any]] = []
        self.sns: list[dict[str, Any]] = []

    def _arn(self, url: str) -> str:
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attributes["Attributes"]["QueueArn"])

    def drain(self) -> None:
        for url, sink, unwrap in (
            (self.events_queue, self.events, lambda b: b["detail"]),
            (self.sns_queue, self.sns, lambda b: json.loads(b["Message"])),
        ):
            while messages := self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
                "Messages", []
            ):
                for message in messages:
                    sink.append(unwrap(json.loads(message["Body"])))
                    self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


class _RssSampler(threading.Thread):
    """Peak total RSS of the Lambda workers, and the CPU time each one was last seen with."""

    def __init__(self, pids: Any) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self._pids = pids
        self._done = threading.Event()
        self.peak_kb = 0
        self.cpu_ticks: dict[int, int] = {}

    def run(self) -> None:
        while not self._done.wait(0.5):
            total = 0
            for pid in self._pids():
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                self.cpu_ticks[pid] = int(stat[11]) + int(stat[12])  # utime + stime
                rss = [
                    int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")
                ]
                total += sum(rss)
            self.peak_kb = max(self.peak_kb, total)

    @property
    def cpu_seconds(self) -> float:
        return sum(self.cpu_ticks.values()) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self._done.set()
        self.join()


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _epoch(iso: str) -> float:
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def run(engine: Any, config: SoakConfig, *, log: Any = print) -> SoakReport:
    from imgpipe import dlq
    from imgpipe.local.faults import WorkerKiller
    from imgpipe_core import clients, keys, records

    bodies = images(config)
    # The bodies cycle through a few distinct images, so a prefix has the same per-upload cost.
    sample = bodies[: max(config.floor_sample, config.hostile_every)]
    floor, floor_cpu = compute_floor(sample) if config.floor else (None, None)
    if floor:
        log(f"compute floor: {floor:.0f} uploads/min on {os.cpu_count()} cores")

    clients.configure(engine.client)
    outputs = engine.deploy(ROOT / "template.yaml", config.stack_name).outputs
    capture = _Capture(engine, config.stack_name, outputs["NotificationTopicArn"])
    bucket, table = outputs["PrivateBucketName"], outputs["StatusTableName"]
    sfn, s3 = engine.client("stepfunctions"), engine.client("s3")

    engine.faults.load(fault_plan(config))
    sampler = _RssSampler(lambda: engine.runtime.worker_pids())
    sampler.start()
    killer = WorkerKiller(
        engine.runtime.worker_pids, config.kill_interval_s or 1e9, seed=config.seed
    )
    uploaded: dict[str, float] = {}
    lock = threading.Lock()

    def upload(index: int) -> None:
        key = f"uploads/soak-{index:05d}.jpg"
        started = time.time()
        response = s3.put_object(Bucket=bucket, Key=key, Body=bodies[index])
        pid = keys.processing_id(bucket, key, response.get("VersionId"))
        with lock:
            uploaded[pid] = started

    started = time.time()
    engine_cpu = time.process_time()
    try:
        with killer if config.kill_interval_s else contextlib.nullcontext():
            with concurrent.futures.ThreadPoolExecutor(config.upload_threads) as pool:
                list(pool.map(upload, range(config.uploads)))
            log(f"uploaded {len(uploaded)} in {time.time() - started:.1f} s")
            first_pass = _wait_settled(
                sfn, outputs["StateMachineArn"], table, uploaded, config, log
            )
    finally:  # the plan is the process's: never leave it to whatever runs next
        faults_injected = sum(engine.faults.injected())
        engine.faults.clear()
    finished = time.time()
    engine_cpu = time.process_time() - engine_cpu

    # The operator's side: faults gone, redrive whatever reached the DLQ until it is empty.
    sqs = engine.client("sqs")
    redriven = 0
    for _ in range(3):
        letters = dlq.receive_all(sqs, outputs["DeadLetterQueueUrl"], visibility=60)
        if not letters:
            break
        for letter in letters:
            result = dlq.redrive_one(
                letter, table=table, state_machine_arn=outputs["StateMachineArn"], sfn=sfn
            )
            if result.started:
                redriven += 1
                sqs.delete_message(
                    QueueUrl=outputs["DeadLetterQueueUrl"], ReceiptHandle=letter.receipt_handle
                )
        _wait_settled(sfn, outputs["StateMachineArn"], table, uploaded, config, log)
    sampler.stop()

    final = {pid: records.get(table, pid) for pid in uploaded}
    by_status: dict[str, int] = {}
    for record in final.values():
        status = record.status.value if record else "MISSING"
        by_status[status] = by_status.get(status, 0) + 1
    lost = sum(
        1 for r in final.values() if not r or r.status.value not in ("SUCCEEDED", "REJECTED")
    )
    published_twice = sum(
        1
        for pid, r in final.items()
        if r
        and r.status.value == "SUCCEEDED"
        and len(_public_keys(s3, outputs["PublicBucketName"], pid)) != len(r.variants) + 1
    )
    time.sleep(1)  # the last notifications are on their way through EventBridge and SNS
    capture.drain()
    ids = [e["notificationId"] for e in capture.events]
    notified: dict[str, int] = {}
    unnotified = 0
    for pid, r in final.items():
        wanted = f"{pid}:{r.attempt}:{r.status.value}" if r else None
        if r and wanted in ids and any(m["notificationId"] == wanted for m in capture.sns):
            notified[r.status.value] = notified.get(r.status.value, 0) + 1
        else:
            unnotified += 1
    latencies = [_epoch(first_pass[pid][1]) - uploaded[pid] for pid in first_pass]
    seconds = max(finished - started, 1e-9)
    throughput = len(uploaded) / seconds * 60
    return SoakReport(
        uploads=len(uploaded),
        terminal=sum(1 for r in final.values() if r and r.status.value in TERMINAL),
        lost=lost,
        by_status=by_status,
        failed_before_redrive=sum(1 for status, _ in first_pass.values() if status == "FAILED"),
        redriven=redriven,
        dlq_left=len(dlq.receive_all(sqs, outputs["DeadLetterQueueUrl"], visibility=0)),
        published_twice=published_twice,
        notified=notified,
        unnotified=unnotified,
        duplicate_notifications=len(ids) - len(set(ids)),
        workers_killed=len(killer.killed),
        faults_injected=faults_injected,
        seconds=seconds,
        uploads_per_min=throughput,
        latency_s={
            "p50": _percentile(latencies, 0.5),
            "p90": _percentile(latencies, 0.9),
            "p99": _percentile(latencies, 0.99),
        },
        engine_peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        workers_peak_rss_mb=sampler.peak_kb / 1024,
        cpu_per_upload_s={
            "engine": engine_cpu / len(uploaded),
            "workers": sampler.cpu_seconds / len(uploaded),
            **({"floor": floor_cpu} if floor_cpu else {}),
        },
        floor_uploads_per_min=floor,
        ratio_to_floor=throughput / floor if floor else None,
    )


def _public_keys(s3: Any, bucket: str, pid: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"images/{pid}/")
    return [o["Key"] for o in listed.get("Contents", [])]


def _wait_settled(
    sfn: Any, machine: str, table: str, uploaded: dict[str, float], config: SoakConfig, log: Any
) -> dict[str, tuple[str, str]]:
    """Wait until no execution runs and every upload is terminal (or quietly in the DLQ,
    never registered); returns (status, completedAt) of the terminal ones."""
    deadline = time.monotonic() + config.timeout_s
    done: dict[str, tuple[str, str]] = {}
    last_log = 0.0
    while time.monotonic() < deadline:
        # One scan per round, not a read per upload: the poller must not load the engine.
        for record in _scan(table):
            pid = record.processing_id
            if pid in uploaded and pid not in done and record.status.value in TERMINAL:
                done[pid] = (record.status.value, record.completed_at or record.updated_at)
        running = sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")["executions"]
        if not running and (len(done) == len(uploaded) or _quiet_for(sfn, machine, 5)):
            break
        if time.monotonic() - last_log > 15:
            log(f"  {len(done)}/{len(uploaded)} terminal, {len(running)} running")
            last_log = time.monotonic()
        time.sleep(2)
    return done


def _scan(table: str) -> list[ProcessingRecord]:
    from imgpipe_core import records
    from imgpipe_core.clients import client

    items: list[ProcessingRecord] = []
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = client("dynamodb").scan(**kwargs)
        items += [records.from_item(item) for item in page.get("Items", [])]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _quiet_for(sfn: Any, machine: str, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")["executions"]:
            return False
        time.sleep(0.5)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    defaults = SoakConfig()
    for name, value in asdict(defaults).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=value)
        else:
            parser.add_argument(flag, type=type(value), default=value)
    parser.add_argument("--report", type=Path, help="also write the report as JSON here")
    args = vars(parser.parse_args(argv))
    report_path = args.pop("report")
    config = SoakConfig(**args)

    import logging

    from imgpipe.local.engine import Engine

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # The interpreter logs every failed execution with its whole state; the report counts them.
    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
    with Engine(max_workers_per_function=config.workers_per_function) as engine:
        report = run(engine, config)
    for line in report.lines():
        print(line)
    if report_path:
        report_path.write_text(json.dumps(asdict(report), indent=2) + "\n")
    return 0 if report.lost == 0 and report.published_twice == 0 and report.unnotified == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
