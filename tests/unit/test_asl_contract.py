"""The state machine's error contract, read from the ASL file itself."""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import imgpipe_core
from imgpipe_core import errors

ASL = Path(__file__).resolve().parents[2] / "statemachine" / "pipeline.asl.json"
TRANSIENT = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}
# A killed or stalled execution environment: retried on a fresh one, a bounded number of times.
ENVIRONMENT = {"Runtime.ExitError", "Sandbox.Timedout"}


def _every_domain_error() -> set[type[BaseException]]:
    """Every ImgpipeError subclass, however deep, once every module that may define one is
    imported (so the answer does not depend on which tests ran first)."""
    for module in pkgutil.walk_packages(imgpipe_core.__path__, "imgpipe_core."):
        importlib.import_module(module.name)
    found: set[type[BaseException]] = set()
    pending: list[type[BaseException]] = [errors.ImgpipeError]
    while pending:
        for sub in pending.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                pending.append(sub)
    return found


def _states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        yield name, state
        if "ItemProcessor" in state:
            yield from _states(state["ItemProcessor"]["States"])


def _is_lambda_task(state: dict[str, Any]) -> bool:
    """A Lambda task: the function's ARN (a DefinitionSubstitutions placeholder) as Resource."""
    resource = str(state.get("Resource", ""))
    return resource.startswith("${") and resource.endswith("FunctionArn}")


def test_every_lambda_function_is_invoked_as_a_lambda_task_not_through_lambda_invoke() -> None:
    # lambda:invoke wraps each result in Payload with the SDK's HTTP metadata, which an
    # Express log at Level ALL records for every task (~7 KB per upload).
    definition = json.loads(ASL.read_text())
    resources = {str(state.get("Resource", "")) for _, state in _states(definition["States"])}
    assert not {r for r in resources if r.startswith("arn:aws:states:::lambda")}, resources


def test_every_lambda_task_retries_transient_errors_with_jittered_backoff() -> None:
    definition = json.loads(ASL.read_text())
    lambda_tasks = [
        (name, state) for name, state in _states(definition["States"]) if _is_lambda_task(state)
    ]
    assert len(lambda_tasks) >= 6
    for name, state in lambda_tasks:
        retried = {e for retry in state.get("Retry", []) for e in retry["ErrorEquals"]}
        assert retried >= TRANSIENT | ENVIRONMENT | {errors.TransientError.__name__}, name
        # Running out of memory is deterministic for a given image: never retried.
        assert "Runtime.OutOfMemory" not in retried, name
        for retry in state["Retry"]:
            assert retry["BackoffRate"] > 1 and retry["JitterStrategy"] == "FULL", name


def test_deterministic_errors_are_never_retried() -> None:
    definition = json.loads(ASL.read_text())
    domain = {cls.__name__ for cls in _every_domain_error()}
    # The walk must find the errors defined outside errors.py too (InvalidExecutionInput).
    assert {"RenderError", "PublishError", "InvalidExecutionInput"} <= domain
    deterministic = {"States.ALL", "States.TaskFailed"} | domain
    for name, state in _states(definition["States"]):
        for retry in state.get("Retry", []):
            if state.get("Resource") == "arn:aws:states:::sqs:sendMessage":
                continue  # the DLQ send itself: retrying it is the only way not to lose a failure
            assert not deterministic & set(retry["ErrorEquals"]), name


def test_every_task_outside_the_failure_path_is_caught() -> None:
    definition = json.loads(ASL.read_text())
    for name, state in definition["States"].items():
        if state["Type"] in ("Task", "Map"):
            caught = {e for c in state.get("Catch", []) for e in c["ErrorEquals"]}
            assert "States.ALL" in caught, name
