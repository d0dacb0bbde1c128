"""The pipeline through the real event path: S3 put → EventBridge → Step Functions → Lambdas."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from PIL import Image

from imgpipe_core.catalogue import load_catalogue
from tests.integration.conftest import Pipeline, photo

pytestmark = pytest.mark.engine

FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "gif": "GIF"}
PILLOW_FORMAT = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "avif": "AVIF"}


def expected_size(width: int, height: int, box_w: int | None, box_h: int | None) -> tuple[int, int]:
    scale = min((box_w or width) / width, (box_h or height) / height, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


@pytest.mark.parametrize("kind", ["jpeg", "png", "webp", "gif"])
def test_happy_path_publishes_every_variant(pipeline: Pipeline, kind: str) -> None:
    # GIVEN a 1600x1200 image of this format
    pid = pipeline.upload(f"uploads/happy-{kind}.{kind}", photo(1600, 1200, FORMATS[kind]))
    # WHEN the pipeline has run
    record = pipeline.wait_done(pid)
    # THEN the record says SUCCEEDED, with the source, its sniffed type and original size
    assert record["status"] == "SUCCEEDED", record
    assert record["source"]["key"] == f"uploads/happy-{kind}.{kind}"
    assert record["source"]["versionId"]
    assert record["image"]["media_type"] == kind
    assert (record["image"]["width"], record["image"]["height"]) == (1600, 1200)
    assert record["executionArns"] and record["attempt"] == 1 and record["expiresAt"] > 0
    # AND every catalogue variant is public, decodable, in its format and within its box
    s3 = pipeline.client("s3")
    catalogue = load_catalogue()
    published = {v["variant"]: v for v in record["variants"]}
    assert set(published) == set(catalogue.names)
    for variant in catalogue.variants:
        entry = published[variant.name]
        obj = s3.get_object(Bucket=pipeline.outputs["PublicBucketName"], Key=entry["key"])
        data = obj["Body"].read()
        assert obj["ContentType"] == entry["contentType"]
        assert obj["CacheControl"] == "public, max-age=31536000, immutable"
        # content-addressed: the key carries the bytes' sha256, the metadata all of it
        sha256 = hashlib.sha256(data).hexdigest()
        assert obj["Metadata"] == {"processing-id": pid, "sha256": sha256}
        assert (
            entry["key"]
            == f"images/{pid}/{variant.name}-{sha256[:16]}.{entry['key'].rsplit('.')[-1]}"
        )
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == PILLOW_FORMAT[variant.format.value]
            want = expected_size(1600, 1200, variant.width, variant.height)
            assert abs(image.width - want[0]) <= 1 and abs(image.height - want[1]) <= 1
            assert (image.width, image.height) == (entry["width"], entry["height"])
        assert len(data) == entry["bytes"]
        # the record stores keys, no URL (readers derive it from the key)
        assert "url" not in entry
    # AND a manifest lists them, and the image has nothing else (Resize wrote in place)
    manifest_key = f"images/{pid}/manifest.json"
    assert sorted(pipeline.public_keys(pid)) == sorted(
        [manifest_key, *(v["key"] for v in published.values())]
    )
    manifest = s3.get_object(Bucket=pipeline.outputs["PublicBucketName"], Key=manifest_key)
    assert manifest["ContentType"] == "application/json"
    assert manifest["CacheControl"] == "public, max-age=60"
    document = json.loads(manifest["Body"].read())
    assert {v["key"] for v in document["variants"]} == {v["key"] for v in published.values()}
    staging = s3.list_objects_v2(Bucket=pipeline.outputs["PrivateBucketName"], Prefix="staging/")
    assert staging.get("KeyCount", 0) == 0
    # AND exactly one EventBridge event and one SNS message announced it
    events, sns = pipeline.notifications(pid)
    assert [e["detail-type"] for e in events] == ["Image Processed"]
    assert set(events[0]["detail"]["variants"]) == set(catalogue.names)
    assert len(sns) == 1 and sns[0]["status"] == "SUCCEEDED"


def test_same_event_twice_publishes_and_notifies_once(pipeline: Pipeline) -> None:
    # GIVEN an upload that has been processed
    pid = pipeline.upload("uploads/twice.jpg", photo(640, 480, "JPEG"))
    first = pipeline.wait_done(pid)
    sfn = pipeline.client("stepfunctions")
    original = sfn.describe_execution(executionArn=first["executionArns"][0])
    published_before = pipeline.public_keys(pid)
    # WHEN S3 delivers the same event again (at-least-once delivery)
    again = sfn.start_execution(
        stateMachineArn=pipeline.outputs["StateMachineArn"], input=original["input"]
    )["executionArn"]
    from tests.helpers import wait_for

    described = wait_for(
        lambda: (d := sfn.describe_execution(executionArn=again))["status"] != "RUNNING" and d
    )
    # THEN it ends quietly as a duplicate: no second publish, no second notification
    assert described["status"] == "SUCCEEDED"
    history = sfn.get_execution_history(executionArn=again)["events"]
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e
    ]
    assert "Ignore Duplicate" in entered
    assert "Publish Variants" not in entered and "Notify Success" not in entered
    assert pipeline.public_keys(pid) == published_before
    record = pipeline.record(pid)
    assert record["attempt"] == 1 and len(record["executionArns"]) == 1
    events, sns = pipeline.notifications(pid)
    assert len(events) == 1 and len(sns) == 1


def test_rerun_starts_a_new_execution_for_the_same_processing_id(pipeline: Pipeline) -> None:
    pid = pipeline.upload("uploads/rerun.png", photo(900, 700, "PNG"))
    first = pipeline.wait_done(pid)
    # WHEN an operator re-runs it by processingId
    assert pipeline.cli("rerun", pid) == 0
    second = pipeline.wait_done(pid, attempt=2)
    # THEN a new execution named from the processingId updated the same record
    assert second["status"] == "SUCCEEDED" and second["attempt"] == 2
    assert len(second["executionArns"]) == 2
    assert second["executionArns"][1].endswith(f":{pid}-r2")
    assert second["updatedAt"] > first["updatedAt"]
    # AND the published variants are the current ones (same content → same keys here)
    assert {v["key"] for v in second["variants"]} <= set(pipeline.public_keys(pid))
    events, _ = pipeline.notifications(pid)
    assert [e["detail"]["attempt"] for e in events] == [1, 2]


def test_no_state_carries_more_than_small_metadata(pipeline: Pipeline) -> None:
    # A 6 MB PNG must not leak into state data: every state input/output stays tiny.
    pid = pipeline.upload("uploads/state-size.png", photo(2000, 1500, "PNG"))
    record = pipeline.wait_done(pid)
    assert record["status"] == "SUCCEEDED"
    history = pipeline.client("stepfunctions").get_execution_history(
        executionArn=record["executionArns"][0], maxResults=1000
    )["events"]
    sizes = []
    for event in history:
        for details in event.values():
            if isinstance(details, dict):
                for field in ("input", "output", "parameters", "result"):
                    if isinstance(details.get(field), str):
                        sizes.append(len(details[field]))
    assert sizes and max(sizes) < 8 * 1024, max(sizes)
    # AND the JSON is metadata: no field anywhere looks like encoded image data
    assert all('"data"' not in json.dumps(e, default=str) for e in history)
