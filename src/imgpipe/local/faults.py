"""Fault injection for the local engine: make Lambda, S3 and DynamoDB fail on purpose.

A plan is data (JSON, see the README's "Fault injection" section), loaded from tests with
``engine.faults.load(...)`` or from the command line with ``imgpipe local up --faults FILE``.
Each rule picks the calls it matches and then fails the next N of them, a fraction of them, or
all of them. Every rule draws from its own random generator seeded from the plan's seed, so the
sequence of decisions a rule makes is the same on every run.

Lambda faults are applied where the engine's Invoke runs a handler
(:mod:`imgpipe.local.adapters.lambda_runtime`); S3 and DynamoDB faults in front of moto's server
(:mod:`imgpipe.local.adapters.faults`), so they hit every caller: handlers, the state machine's
own DynamoDB/SQS tasks and the CLI alike.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# What a Lambda rule can make an invocation end with. Any other name is reported as a function
# error of that type (as if the handler raised an exception of that class).
CRASH = "Runtime.ExitError"
TOO_MANY_REQUESTS = "Lambda.TooManyRequestsException"
TIMEOUT = "Sandbox.Timedout"


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    next: int | None = Field(default=None, ge=0, description="fail only the next N matches")
    skip: int = Field(default=0, ge=0, description="let this many matches through first")
    rate: float | None = Field(default=None, ge=0, le=1, description="fail this fraction")


class LambdaFault(_Rule):
    function: str = Field(min_length=1, description="function name, or a part of it")
    error: str | None = Field(
        default=None,
        description="TransientError, Lambda.TooManyRequestsException, Sandbox.Timedout, "
        "crash (Runtime.ExitError), or any error type name",
    )
    phase: Literal["before", "after"] = Field(
        default="before",
        description="before: the handler never runs (latency: it starts late); "
        "after: it runs, then its reply is lost (latency: its reply is late)",
    )
    latency_ms: int = Field(default=0, ge=0, alias="latencyMs")
    payload_contains: str | None = Field(default=None, alias="payloadContains")

    @model_validator(mode="after")
    def _does_something(self) -> LambdaFault:
        if self.error == "crash":
            self.error = CRASH
        if self.error is None and not self.latency_ms:
            raise ValueError("a Lambda fault needs an error or latencyMs")
        if self.error == TOO_MANY_REQUESTS and self.phase == "after":
            raise ValueError("a throttled Invoke never runs the handler: use phase 'before'")
        return self


class StorageFault(_Rule):
    operations: list[str] = Field(default_factory=list, description="e.g. GetObject; [] = all")
    resource: str | None = Field(default=None, description="part of the bucket or table name")


class FaultPlan(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    seed: int = 0
    lambda_: list[LambdaFault] = Field(default_factory=list, alias="lambda")
    s3: list[StorageFault] = Field(default_factory=list)
    dynamodb: list[StorageFault] = Field(default_factory=list)


class _Counter:
    """One rule's state: how many matches it has seen and its own seeded generator."""

    def __init__(self, rule: _Rule, seed: int) -> None:
        self.rule = rule
        self.random = random.Random(seed)
        self.matched = 0
        self.injected = 0

    def fire(self) -> bool:
        self.matched += 1
        if self.matched <= self.rule.skip:
            return False
        if self.rule.next is not None and self.injected >= self.rule.next:
            return False
        if self.rule.rate is not None and self.random.random() >= self.rule.rate:
            return False
        self.injected += 1
        return True


class Faults:
    """The engine's active plan. Thread-safe; an empty plan costs one attribute check."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lambda: list[_Counter] = []
        self._storage: dict[str, list[_Counter]] = {"s3": [], "dynamodb": []}
        self.active = False

    def load(self, plan: FaultPlan | dict[str, Any] | Path | str) -> FaultPlan:
        """Replace the active plan (a model, a dict, or a JSON file's path)."""
        if isinstance(plan, Path | str):
            plan = json.loads(Path(plan).read_text())
        parsed = plan if isinstance(plan, FaultPlan) else FaultPlan.model_validate(plan)
        rules: list[_Rule] = [*parsed.lambda_, *parsed.s3, *parsed.dynamodb]
        counters = [_Counter(rule, parsed.seed * 1_000 + i) for i, rule in enumerate(rules)]
        with self._lock:
            self._lambda = counters[: len(parsed.lambda_)]
            self._storage = {
                "s3": counters[len(parsed.lambda_) : len(parsed.lambda_) + len(parsed.s3)],
                "dynamodb": counters[len(parsed.lambda_) + len(parsed.s3) :],
            }
            self.active = bool(counters)
        return parsed

    def clear(self) -> None:
        self.load(FaultPlan())

    def injected(self) -> list[int]:
        """Faults injected so far, per rule in plan order (lambda, s3, dynamodb)."""
        with self._lock:
            counters = [*self._lambda, *self._storage["s3"], *self._storage["dynamodb"]]
            return [c.injected for c in counters]

    def for_invocation(self, function_name: str, payload: bytes) -> list[LambdaFault]:
        """The Lambda rules that fire for this invocation (latency first, then one error)."""
        if not self.active:
            return []
        text: str | None = None
        fired: list[LambdaFault] = []
        with self._lock:
            for counter in self._lambda:
                rule = counter.rule
                assert isinstance(rule, LambdaFault)
                if rule.function not in function_name:
                    continue
                if rule.payload_contains is not None:
                    text = text if text is not None else payload.decode("utf-8", "replace")
                    if rule.payload_contains not in text:
                        continue
                if rule.error and any(f.error for f in fired):
                    continue  # one error per invocation; later rules keep their turn
                if counter.fire():
                    fired.append(rule)
        return fired

    def for_request(self, service: str, operation: str, resource: str) -> bool:
        """Whether this S3/DynamoDB request should fail with the service's throttling error."""
        if not self.active:
            return False
        with self._lock:
            for counter in self._storage.get(service, []):
                rule = counter.rule
                assert isinstance(rule, StorageFault)
                if rule.operations and operation not in rule.operations:
                    continue
                if rule.resource and rule.resource not in resource:
                    continue
                if counter.fire():
                    return True
        return False


class WorkerKiller:
    """SIGKILLs a random live Lambda worker every ``interval`` seconds, as a host failure would.

    ``pids`` is the runtime's ``worker_pids``; the choice is seeded, the timing is not (which
    worker is busy at a given moment depends on the machine).
    """

    def __init__(self, pids: Callable[[], list[int]], interval: float, *, seed: int = 0) -> None:
        self._pids = pids
        self._interval = interval
        self._random = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker-killer", daemon=True)
        self.killed: list[int] = []

    def __enter__(self) -> WorkerKiller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            pids = self._pids()
            if not pids:
                continue
            pid = self._random.choice(pids)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            self.killed.append(pid)


# One engine per process (moto's backends are process-global), so one plan per process: the
# adapters read it here rather than through the engine.
_ACTIVE = Faults()


def active() -> Faults:
    """The process's fault plan (``Engine.faults`` is this object)."""
    return _ACTIVE


def sleep_ms(milliseconds: int) -> None:
    if milliseconds:
        time.sleep(milliseconds / 1000)
