"""Small helpers shared by tests (polling the engine, finding executions)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def states_role(iam: Any, name: str) -> str:
    """A role Step Functions may assume, with no policy yet; its ARN."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "states.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    return str(role["Role"]["Arn"])


def execution_ended(sfn: Any, arn: str, timeout: float = 60) -> dict:
    """DescribeExecution once the execution is no longer RUNNING."""

    def ended() -> dict | None:
        described = sfn.describe_execution(executionArn=arn)
        return None if described["status"] == "RUNNING" else dict(described)

    return wait_for(ended, timeout=timeout, interval=0.1)


def execution_for_key(sfn: Any, machine_arn: str, key: str, *, finished: bool = True) -> dict:
    """The execution whose input (the S3 event's detail) names this object key."""

    def find() -> dict | None:
        pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=machine_arn)
        for summary in (s for page in pages for s in page["executions"]):
            described = sfn.describe_execution(executionArn=summary["executionArn"])
            same_key = json.loads(described["input"])["object"]["key"] == key
            if same_key and (not finished or described["status"] != "RUNNING"):
                return described
        return None

    return wait_for(find)


BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class LocalUp:
    process: subprocess.Popen[str]
    lines: list[str]

    def value(self, label: str) -> str:
        """The value printed after ``label`` (``endpoint:``, ``api:``, an output name)."""
        return next(x.split()[1] for x in self.lines if x.strip().startswith(label))


@contextlib.contextmanager
def local_up(*args: str, env: dict[str, str], timeout: float = 90) -> Iterator[LocalUp]:
    """Run `imgpipe local up ARGS` until it prints "ready"; SIGINT it on exit, expect rc 0."""
    process = subprocess.Popen(
        [str(BIN / "imgpipe"), "local", "up", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + timeout
        while not (lines and lines[-1].startswith("ready")):
            line = process.stdout.readline()
            assert line and time.monotonic() < deadline, "local up failed:\n" + "".join(lines)
            lines.append(line)
        yield LocalUp(process, lines)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    assert process.returncode == 0


@contextlib.contextmanager
def moto_table(name: str, hash_key: str, *, status_index: bool = False) -> Iterator[str]:
    """An on-demand DynamoDB table with a string hash key, on moto's in-process mock; with
    ``status_index``, also the records table's status index (status, updatedAt)."""
    import boto3
    from moto import mock_aws

    from imgpipe_core.records import STATUS_INDEX

    keys = (hash_key, "status", "updatedAt") if status_index else (hash_key,)
    table: dict[str, Any] = {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": k, "AttributeType": "S"} for k in keys],
        "KeySchema": [{"AttributeName": hash_key, "KeyType": "HASH"}],
    }
    if status_index:
        table["GlobalSecondaryIndexes"] = [
            {
                "IndexName": STATUS_INDEX,
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "updatedAt", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ]
    with mock_aws():
        boto3.client("dynamodb").create_table(**table)
        yield name


@contextlib.contextmanager
def moto_buckets(*names: str) -> Iterator[Any]:
    """S3 buckets on moto's in-process mock, yielding its client; imgpipe_core's cached
    clients are rebuilt inside the mock (not reused from another test) and after it."""
    import boto3
    from moto import mock_aws

    from imgpipe_core import clients

    with mock_aws():
        clients.configure(None)
        s3 = boto3.client("s3", region_name="us-east-1")
        for name in names:
            s3.create_bucket(Bucket=name)
        yield s3
    clients.configure(None)


class FakeInsights:
    """A CloudWatch Logs client answering Logs Insights queries over fixed messages: each
    query is ``Running`` on its first GetQueryResults, as AWS's often are, then ``Complete``
    with every message (a filter it does not apply, as moto's own Insights does not)."""

    def __init__(self, messages: list[str], *, final: str = "Complete", polls: int = 1) -> None:
        self.messages, self.final, self.polls = messages, final, polls
        self.queries: list[dict[str, Any]] = []
        self.results_calls = 0

    @property
    def calls(self) -> int:
        return len(self.queries)

    def start_query(self, **kwargs: Any) -> dict[str, str]:
        self.queries.append(kwargs)
        return {"queryId": str(len(self.queries))}

    def get_query_results(self, *, queryId: str) -> dict[str, Any]:
        self.results_calls += 1
        if self.results_calls <= self.polls:
            return {"status": "Running", "results": []}
        rows = [
            [
                {"field": "@timestamp", "value": "2026-01-01 00:00:00.000"},
                {"field": "@message", "value": m},
                {"field": "@ptr", "value": str(i)},
            ]
            for i, m in enumerate(self.messages)
        ]
        return {"status": self.final, "results": rows}
