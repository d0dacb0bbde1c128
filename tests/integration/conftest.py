"""The product's own template.yaml, deployed on an engine, driven through real S3 uploads.

The engine is the embedded one, or any running endpoint given by ``IMGPIPE_TEST_ENDPOINT``
(``make test-localstack`` points it at LocalStack). The tests reach either only through AWS APIs.
"""

from __future__ import annotations

import io
import json
import os
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from imgpipe_core import keys

ROOT = Path(__file__).resolve().parents[2]
ENDPOINT = os.environ.get("IMGPIPE_TEST_ENDPOINT")


def _is_localstack(endpoint: str | None) -> bool:
    if not endpoint:
        return False
    try:
        with urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


ON_LOCALSTACK = _is_localstack(ENDPOINT)


def localstack_xfail(reason: str) -> pytest.MarkDecorator:
    """A documented LocalStack difference: fails there (strictly: a fix must remove the mark)."""
    return pytest.mark.xfail(ON_LOCALSTACK, reason=f"LocalStack: {reason}", strict=True)


def embedded_only(reason: str) -> pytest.MarkDecorator:
    """A test that reaches into the embedded engine's internals: skipped against an endpoint."""
    return pytest.mark.skipif(bool(ENDPOINT), reason=f"needs the embedded engine: {reason}")


@dataclass
class EndpointEngine:
    """A running engine reached only through its endpoint URL, as a user reaches AWS."""

    endpoint_url: str
    region: str = "us-east-1"

    def session(self) -> Any:
        from imgpipe.local.engine import fake_session

        return fake_session(self.region)

    def client(self, service: str) -> Any:
        return self.session().client(service, endpoint_url=self.endpoint_url)

    def deploy(self, template: Path, stack_name: str, overrides: dict[str, str]) -> Any:
        from imgpipe.local.deploy import Deployer

        deployer = Deployer(
            endpoint_url=self.endpoint_url, session=self.session(), log=lambda message: None
        )
        return deployer.deploy(template, stack_name, overrides)


@dataclass
class Pipeline:
    engine: Any
    stack_name: str
    outputs: dict[str, str]
    events_queue: str
    sns_queue: str
    seen_events: list[dict] = field(default_factory=list)
    seen_sns: list[dict] = field(default_factory=list)

    def client(self, service: str) -> Any:
        return self.engine.client(service)

    @property
    def table(self) -> str:
        return self.outputs["StatusTableName"]

    def upload(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        """Put an object into the private bucket; returns its processingId."""
        response = self.client("s3").put_object(
            Bucket=self.outputs["PrivateBucketName"], Key=key, Body=data, ContentType=content_type
        )
        return keys.processing_id(self.outputs["PrivateBucketName"], key, response.get("VersionId"))

    def record(self, pid: str) -> dict | None:
        from imgpipe_core import records

        found = records.get(self.table, pid)
        return found.plain() if found else None

    def wait_done(self, pid: str, *, attempt: int = 1, timeout: float = 90) -> dict:
        """The record once this attempt's outcome is recorded *and* its execution has ended."""
        deadline = time.monotonic() + timeout
        record: dict | None = None
        sfn = self.client("stepfunctions")
        while time.monotonic() < deadline:
            record = self.record(pid)
            done = record and record["status"] != "PROCESSING" and record["attempt"] >= attempt
            if done and self.execution_status(record["executionArns"][-1], sfn) != "RUNNING":
                return record
            time.sleep(0.2)
        raise AssertionError(f"{pid} not finished in {timeout}s: {record}")

    def execution_status(self, arn: str, sfn: Any = None) -> str:
        """Standard: DescribeExecution. Express (AWS refuses that): its CloudWatch log events."""
        from imgpipe_core import executions

        if not executions.is_express(arn):
            sfn = sfn or self.client("stepfunctions")
            return str(sfn.describe_execution(executionArn=arn)["status"])
        group, level = executions.logging_of(self.outputs["StateMachineArn"])
        try:
            return str(executions.read(arn, log_group=group, log_level=level)[0]["status"])
        except executions.NotLogged:
            return "NOT_LOGGED"  # below ExecutionLogLevel=ALL a success logs nothing
        except executions.ExecutionGone:
            return "RUNNING"  # no log event delivered yet

    def history(self, arn: str) -> list[dict]:
        """The execution's history events, from Step Functions or (Express) from its logs."""
        from imgpipe_core import executions

        group = executions.log_group_of(self.outputs["StateMachineArn"])
        return executions.read(arn, log_group=group, sfn=self.client("stepfunctions"))[1]

    @property
    def log_group(self) -> str:
        """The execution log group (its name says its class: see ExecutionLogClass)."""
        from imgpipe_core import executions

        return executions.log_group_of(self.outputs["StateMachineArn"])

    def logged(self, arn: str) -> list[str]:
        """An execution's log messages, read as imgpipe reads them (a Logs Insights query)."""
        import datetime

        from imgpipe_core import executions

        group = self.log_group
        if not group:
            return []  # ExecutionLogLevel=OFF: the state machine has no log destination
        now = datetime.datetime.now(datetime.UTC)
        since = now - datetime.timedelta(hours=1)
        messages = executions.logged_messages(
            arn, group, since=since, until=now, logs=self.client("logs")
        )
        # An engine whose Insights ignores the filter and the sort (LocalStack's moto) returns
        # every event, newest first: keep this execution's, in the order it logged them.
        mine = [m for m in messages if f'"{arn}"' in m]
        return sorted(mine, key=lambda m: int(json.loads(m)["id"]))

    def public_keys(self, pid: str) -> list[str]:
        listed = self.client("s3").list_objects_v2(
            Bucket=self.outputs["PublicBucketName"], Prefix=f"images/{pid}/"
        )
        return sorted(o["Key"] for o in listed.get("Contents", []))

    def _drain(self, queue: str) -> list[dict]:
        sqs = self.client("sqs")
        bodies = []
        while True:
            messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                return bodies
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])

    def notifications(self, pid: str) -> tuple[list[dict], list[dict]]:
        """EventBridge events and SNS messages seen so far for this processingId, deduplicated
        on ``notificationId`` as the README tells consumers to: delivery is at least once, and a
        Notify retried after its publish (a timeout under load) sends the same message again."""
        self.seen_events += self._drain(self.events_queue)
        self.seen_sns += self._drain(self.sns_queue)
        events = _unique(
            (e for e in self.seen_events if e["detail"]["processingId"] == pid),
            lambda e: e["detail"]["notificationId"],
        )
        messages = (json.loads(m["Message"]) for m in self.seen_sns)
        sns = _unique(
            (m for m in messages if m["processingId"] == pid), lambda m: m["notificationId"]
        )
        return events, sns

    def dead_letters(self) -> list[dict]:
        sqs = self.client("sqs")
        found: dict[str, dict] = {}
        for _ in range(3):
            for message in sqs.receive_message(
                QueueUrl=self.outputs["DeadLetterQueueUrl"],
                MaxNumberOfMessages=10,
                VisibilityTimeout=0,
                MessageAttributeNames=["All"],
            ).get("Messages", []):
                found[message["MessageId"]] = json.loads(message["Body"])
        return list(found.values())

    def cli(self, *argv: str) -> int:
        from imgpipe.cli import main

        return main(
            [*argv, "--stack-name", self.stack_name, "--endpoint-url", self.engine.endpoint_url]
        )


def _unique(items: Iterable[dict], key: Callable[[dict], str]) -> list[dict]:
    seen: dict[str, dict] = {}
    for item in items:
        seen.setdefault(key(item), item)
    return list(seen.values())


def _allow_rule(sqs: Any, queue_url: str, queue_arn: str, rule_arn: str) -> None:
    # EventBridge delivers to a queue only if the queue's policy allows the rule, as on AWS.
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
    }
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})


def stack_name(name: str) -> str:
    """One shared endpoint serves every pytest-xdist worker: each gets its own stacks."""
    return f"{name}-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}" if ENDPOINT else name


def deploy_pipeline(
    engine: Any,
    name: str,
    overrides: dict[str, str] | None = None,
    template: Path = ROOT / "template.yaml",
) -> Pipeline:
    from imgpipe_core import clients

    name = stack_name(name)
    clients.configure(engine.client)  # the domain helpers tests use talk to the engine
    outputs = dict(engine.deploy(template, name, overrides or {}).outputs)
    sqs, events, sns = engine.client("sqs"), engine.client("events"), engine.client("sns")
    events_queue = sqs.create_queue(QueueName=f"{name}-notified-events")["QueueUrl"]
    events_arn = sqs.get_queue_attributes(QueueUrl=events_queue, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    rule_arn = events.put_rule(
        Name=f"{name}-capture", EventPattern=json.dumps({"source": ["imgpipe"]})
    )["RuleArn"]
    _allow_rule(sqs, events_queue, events_arn, rule_arn)
    events.put_targets(Rule=f"{name}-capture", Targets=[{"Id": "q", "Arn": events_arn}])
    sns_queue = sqs.create_queue(QueueName=f"{name}-notified-sns")["QueueUrl"]
    sns_arn = sqs.get_queue_attributes(QueueUrl=sns_queue, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=outputs["NotificationTopicArn"], Protocol="sqs", Endpoint=sns_arn)
    return Pipeline(engine, name, outputs, events_queue, sns_queue)


@pytest.fixture(scope="session")
def pipeline(engine: Any) -> Pipeline:
    return deploy_pipeline(engine, "pipeline")


def too_big_for_128_mb() -> bytes:
    """A PNG whose full-size variant does not fit a 128 MB Resize (Runtime.OutOfMemory).

    27 MP: a 12 MP one fits since the render loads its native libraries lazily and the layer's
    botocore data is trimmed (~100 MB peak)."""
    return photo(6000, 4500, "PNG")


def photo(width: int, height: int, fmt: str, *, mode: str = "RGB", frames: int = 1) -> bytes:
    """A photo-like test image (gradients and edges), encoded in ``fmt``."""

    def frame(shift: int) -> Image.Image:
        gradient = Image.linear_gradient("L").resize((width, height))
        other = Image.radial_gradient("L").resize((width, height))
        image = Image.merge("RGB", (gradient, other, gradient.rotate(90 + shift)))
        if mode != "RGB":
            image = image.convert(mode)
        return image

    out = io.BytesIO()
    images = [frame(i * 10) for i in range(frames)]
    extra: dict[str, Any] = {}
    if frames > 1:
        extra = {"save_all": True, "append_images": images[1:], "duration": 100, "loop": 0}
    images[0].save(out, fmt, **extra)
    return out.getvalue()
