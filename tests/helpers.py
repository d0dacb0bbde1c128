"""Small helpers shared by tests (polling the engine, finding executions)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def execution_for_key(sfn: Any, machine_arn: str, key: str, *, finished: bool = True) -> dict:
    """The execution whose input (the S3 event's detail) names this object key."""

    def find() -> dict | None:
        for summary in sfn.list_executions(stateMachineArn=machine_arn)["executions"]:
            described = sfn.describe_execution(executionArn=summary["executionArn"])
            same_key = json.loads(described["input"])["object"]["key"] == key
            if same_key and (not finished or described["status"] != "RUNNING"):
                return described
        return None

    return wait_for(find)
