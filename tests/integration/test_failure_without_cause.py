"""A caught error without a Cause still ends FAILED, recorded and dead-lettered.

The States Language requires an error output's ``Error`` but only recommends its ``Cause``
("SHOULD"), and the engine always binds one. So the test takes the Cause out of the error that
the Catch hands on, as a service that omits it would, and follows the failure path from there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.conftest import (
    Pipeline,
    deploy_pipeline,
    embedded_only,
    too_big_for_128_mb,
)

pytestmark = [
    pytest.mark.engine,
    embedded_only("it patches the engine's Step Functions interpreter to drop the Cause"),
]


@pytest.fixture(scope="module")
def causeless(engine: Any) -> Pipeline:
    return deploy_pipeline(engine, "causeless")


@pytest.fixture
def errors_without_cause() -> Iterator[str]:
    """Caught Runtime.OutOfMemory errors reach the Catch as ``{"Error": ...}`` only."""
    from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState

    error = "Runtime.OutOfMemory"
    original = ExecutionState._construct_error_output_value

    def without_cause(failure_event: Any) -> Any:
        output = original(failure_event)
        if output.get("Error") == error:
            output.pop("Cause", None)
        return output

    ExecutionState._construct_error_output_value = staticmethod(without_cause)  # type: ignore[method-assign]
    try:
        yield error
    finally:
        ExecutionState._construct_error_output_value = staticmethod(original)  # type: ignore[method-assign]


def _function(pipeline: Pipeline, logical_id: str) -> str:
    resources = pipeline.client("cloudformation").describe_stack_resources(
        StackName=pipeline.stack_name
    )["StackResources"]
    return next(r["PhysicalResourceId"] for r in resources if r["LogicalResourceId"] == logical_id)


def test_failure_without_a_cause_is_recorded_and_dead_lettered(
    causeless: Pipeline, errors_without_cause: str
) -> None:
    # GIVEN a resize that runs out of memory, and its caught error carries no Cause
    resize = _function(causeless, "ResizeFunction")
    causeless.client("lambda").update_function_configuration(FunctionName=resize, MemorySize=128)
    pid = causeless.upload("uploads/causeless.png", too_big_for_128_mb())
    # WHEN the upload is processed
    record = causeless.wait_done(pid)
    # THEN the record is FAILED with the error and an empty cause
    assert record["status"] == "FAILED", record
    assert record["error"] == errors_without_cause
    assert record.get("cause", "") == ""
    # AND one DLQ message says which upload failed and why, enough to re-run it
    letters = [m for m in causeless.dead_letters() if m.get("processingId") == pid]
    assert len(letters) == 1, causeless.dead_letters()
    assert letters[0]["kind"] == "ProcessingFailed"
    assert letters[0]["error"] == errors_without_cause
    assert letters[0]["source"]["key"] == "uploads/causeless.png"
    # AND the execution ended through the failure path, not in States.Runtime past every Catch
    execution = causeless.client("stepfunctions").describe_execution(
        executionArn=record["executionArns"][-1]
    )
    assert execution["status"] == "FAILED"
    assert execution["error"] == "ImageProcessingFailed"
