"""The status record has one shape: what Publish Variants (the success) and the state machine's
Record Rejection / Record Failure tasks write is exactly what ``records.ProcessingRecord``
describes."""

from __future__ import annotations

from typing import Any

import pytest

from imgpipe_core import records
from imgpipe_core.models import Status
from tests.integration.conftest import Pipeline, deploy_pipeline, photo, too_big_for_128_mb

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def shapes(engine: Any) -> Pipeline:
    return deploy_pipeline(engine, "shapes")


def _item(pipeline: Pipeline, pid: str) -> dict[str, Any]:
    return dict(
        pipeline.client("dynamodb").get_item(
            TableName=pipeline.table, Key={"processingId": {"S": pid}}, ConsistentRead=True
        )["Item"]
    )


def _parsed(pipeline: Pipeline, pid: str) -> records.ProcessingRecord:
    item = _item(pipeline, pid)
    # Every attribute a writer stores is one the model knows: no field only one writer has
    assert set(item) <= records.known_attributes(), set(item) - records.known_attributes()
    return records.from_item(item)


def test_record_success_and_rejection_parse_as_processing_records(shapes: Pipeline) -> None:
    # GIVEN an image and a non-image processed by the pipeline
    good = shapes.upload("uploads/shape.png", photo(320, 200, "PNG"))
    bad = shapes.upload("uploads/shape.txt", b"plain text, not an image")
    shapes.wait_done(good)
    shapes.wait_done(bad)
    # WHEN the records the ASL wrote are read as models
    succeeded, rejected = _parsed(shapes, good), _parsed(shapes, bad)
    # THEN the success's JSON attributes are typed variants and the original's description
    assert succeeded.status is Status.SUCCEEDED and succeeded.completed_at
    assert {v.variant for v in succeeded.variants} == {"thumbnail", "medium", "large", "webp"}
    assert all(v.key.startswith(f"images/{good}/") and v.bytes > 0 for v in succeeded.variants)
    assert succeeded.image and (succeeded.image["width"], succeeded.image["height"]) == (320, 200)
    assert succeeded.source and succeeded.source.key.endswith(".png")
    # AND it stores keys, never a URL: readers derive those from the keys
    assert "http" not in str(_item(shapes, good)), _item(shapes, good)
    # AND Record Rejection's code and message land in the model's fields
    assert rejected.status is Status.REJECTED
    assert rejected.rejection_code == "UNSUPPORTED_MEDIA_TYPE" and rejected.rejection_message
    assert rejected.variants == [] and rejected.attempt == 1


def test_record_failure_parses_as_a_processing_record(shapes: Pipeline) -> None:
    # GIVEN a resize function with too little memory for a 12 MP PNG
    lam = shapes.client("lambda")
    resources = shapes.client("cloudformation").describe_stack_resources(
        StackName=shapes.stack_name
    )["StackResources"]
    resize = next(
        r["PhysicalResourceId"] for r in resources if r["LogicalResourceId"] == "ResizeFunction"
    )
    lam.update_function_configuration(FunctionName=resize, MemorySize=128)
    pid = shapes.upload("uploads/heavy.png", too_big_for_128_mb())
    shapes.wait_done(pid)
    # WHEN Record Failure's record is read as a model THEN error and cause are its fields
    failed = _parsed(shapes, pid)
    assert failed.status is Status.FAILED
    assert failed.error == "Runtime.OutOfMemory" and failed.cause
    assert failed.variants == [] and failed.completed_at
