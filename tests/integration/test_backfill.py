"""Bulk re-processing through the real path: uploads processed by the pipeline, then the backfill
state machine's Distributed Map (ItemReader over its S3 manifest, ResultWriter) over them."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.integration.conftest import Pipeline, deploy_pipeline, embedded_only, photo
from tests.integration.test_least_privilege import template_without

pytestmark = [
    pytest.mark.engine,
    # Checked once on LocalStack 2026.3.0: the backfill runs and raises every attempt, but its
    # ResultWriter writes a manifest that lists no result files.
    embedded_only("LocalStack's ResultWriter lists no result files; the engine's adapters do"),
]

BEFORE = {
    "variants": [
        {"name": "thumbnail", "width": 300, "height": 300, "format": "jpeg", "quality": 80},
        {"name": "medium", "width": 800, "height": 600, "format": "jpeg", "quality": 82},
    ]
}
NEW_VARIANT = {"name": "tiny", "width": 64, "height": 64, "format": "png"}
AFTER = {"variants": [*BEFORE["variants"], NEW_VARIANT]}
IMAGES = 3


@pytest.fixture(scope="module")
def stored(engine: Any) -> tuple[Pipeline, list[str]]:
    """A stack whose catalogue is BEFORE, with IMAGES uploads processed by it."""
    pipeline = deploy_pipeline(engine, "backfill", {"VariantCatalogue": json.dumps(BEFORE)})
    pids = [
        pipeline.upload(f"uploads/backfill-{n}.jpg", photo(640 + n * 8, 480, "JPEG"))
        for n in range(IMAGES)
    ]
    for pid in pids:
        assert pipeline.wait_done(pid)["status"] == "SUCCEEDED"
    return pipeline, pids


def run_cli(pipeline: Pipeline, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    capsys.readouterr()
    code = pipeline.cli("backfill", "--json", *argv)
    return code, json.loads(capsys.readouterr().out)


def backfill_executions(pipeline: Pipeline) -> list[dict]:
    sfn = pipeline.client("stepfunctions")
    machine = pipeline.outputs["BackfillStateMachineArn"]
    return sfn.list_executions(stateMachineArn=machine)["executions"]


def read_json(pipeline: Pipeline, bucket: str, key: str) -> Any:
    return json.loads(pipeline.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def test_dry_run_lists_the_stored_images_and_starts_nothing(
    stored: tuple[Pipeline, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline, pids = stored
    before = len(backfill_executions(pipeline))
    # WHEN a dry run selects the SUCCEEDED images
    code, out = run_cli(pipeline, capsys, "--dry-run")
    # THEN it lists every stored image, and no backfill (and no re-run) was started
    assert code == 0
    assert sorted(item["processingId"] for item in out["items"]) == sorted(pids)
    assert len(backfill_executions(pipeline)) == before
    assert all(pipeline.record(pid)["attempt"] == 1 for pid in pids)


def test_backfill_reruns_every_stored_image_and_writes_its_results(
    stored: tuple[Pipeline, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline, pids = stored
    attempts = {pid: pipeline.record(pid)["attempt"] for pid in pids}
    # WHEN a backfill over the SUCCEEDED images runs to its end
    code, out = run_cli(pipeline, capsys, "--wait", "--timeout", "240")
    # THEN it SUCCEEDED with every item, and every image has a new, SUCCEEDED attempt
    assert code == 0, out
    assert out["status"] == "SUCCEEDED", out
    assert (out["total"], out["succeeded"], out["failed"]) == (IMAGES, IMAGES, 0), out
    for pid in pids:
        record = pipeline.wait_done(pid, attempt=attempts[pid] + 1)
        assert record["attempt"] == attempts[pid] + 1
        assert record["status"] == "SUCCEEDED"
    # AND the ResultWriter's manifest and SUCCEEDED_0.json are in S3, one entry per image
    bucket, key = out["results"].removeprefix("s3://").split("/", 1)
    assert bucket == pipeline.outputs["PrivateBucketName"]
    manifest = read_json(pipeline, bucket, key)
    assert manifest["ResultFiles"]["FAILED"] == []
    (succeeded,) = manifest["ResultFiles"]["SUCCEEDED"]
    entries = read_json(pipeline, bucket, succeeded["Key"])
    assert sorted(json.loads(e["Input"])["processingId"] for e in entries) == sorted(pids)
    assert all(e["Status"] == "SUCCEEDED" for e in entries)
    # AND the manifest the Map read is there too
    listed = pipeline.client("s3").list_objects_v2(
        Bucket=bucket, Prefix=f"backfills/{out['backfillId']}/"
    )
    assert [o["Key"] for o in listed["Contents"]] == [f"backfills/{out['backfillId']}/items.json"]


def test_variant_backfill_adds_one_variant_without_rendering_the_others(
    engine: Any, stored: tuple[Pipeline, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline, pids = stored
    public = pipeline.outputs["PublicBucketName"]
    before = {pid: pipeline.record(pid) for pid in pids}
    s3 = pipeline.client("s3")

    def written(key: str) -> Any:
        return s3.head_object(Bucket=public, Key=key)["LastModified"]

    old_objects = {
        v["key"]: written(v["key"]) for record in before.values() for v in record["variants"]
    }
    # GIVEN the catalogue gains a variant (a stack update)
    deploy_pipeline(engine, "backfill", {"VariantCatalogue": json.dumps(AFTER)})
    # WHEN a backfill renders only that variant
    code, out = run_cli(pipeline, capsys, "--variant", "tiny", "--wait", "--timeout", "240")
    assert code == 0 and out["status"] == "SUCCEEDED", out
    for pid in pids:
        old = before[pid]
        record = pipeline.record(pid)
        # THEN no new attempt ran, the others' keys are unchanged, and the new one is published
        assert record["attempt"] == old["attempt"]
        variants = {v["variant"]: v for v in record["variants"]}
        assert set(variants) == {"thumbnail", "medium", "tiny"}
        for name in ("thumbnail", "medium"):
            assert variants[name] == next(v for v in old["variants"] if v["variant"] == name)
        manifest = read_json(pipeline, public, f"images/{pid}/manifest.json")
        assert {v["variant"]: v["key"] for v in manifest["variants"]} == {
            name: v["key"] for name, v in variants.items()
        }
        data = pipeline.client("s3").get_object(Bucket=public, Key=variants["tiny"]["key"])
        with Image.open(io.BytesIO(data["Body"].read())) as image:
            assert image.format == "PNG" and max(image.size) <= 64
        assert data["CacheControl"] == "public, max-age=31536000, immutable"
        # AND the image holds what its manifest names, nothing else (rendered in place)
        assert sorted(pipeline.public_keys(pid)) == sorted(
            [f"images/{pid}/manifest.json", *(v["key"] for v in variants.values())]
        )
    # AND the older variants' objects are the very same (not withdrawn, not written again)
    assert {key: written(key) for key in old_objects} == old_objects


def test_without_its_manifest_grant_the_backfill_reads_nothing_and_reruns_nothing(
    engine: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the backfill state machine may not s3:GetObject its manifest (the ItemReader's call)
    template = template_without(tmp_path, "BackfillStateMachine", "s3:GetObject")
    pipeline = deploy_pipeline(engine, "lp-backfill", template=template)
    pid = pipeline.upload("uploads/lp.jpg", photo(320, 240, "JPEG"))
    assert pipeline.wait_done(pid)["status"] == "SUCCEEDED"
    # WHEN a backfill runs
    code, out = run_cli(pipeline, capsys, "--wait", "--timeout", "120")
    # THEN it fails on the ItemReader's refused read, and no image was re-run
    assert code == 1 and out["status"] == "FAILED", out
    assert "AccessDenied" in (out.get("cause") or ""), out
    assert out["total"] == 0
    assert pipeline.record(pid)["attempt"] == 1


def test_a_failed_backfill_resumed_through_the_cli_reruns_only_the_image_that_failed(
    engine: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline = deploy_pipeline(engine, "backfill-resume", {"VariantCatalogue": json.dumps(BEFORE)})
    fine, broken = (
        pipeline.upload(f"uploads/resume-{n}.jpg", photo(480, 360 + n * 8, "JPEG"))
        for n in range(2)
    )
    for pid in (fine, broken):
        assert pipeline.wait_done(pid)["status"] == "SUCCEEDED"
    validate = next(
        r["PhysicalResourceId"]
        for r in pipeline.client("cloudformation").describe_stack_resources(
            StackName=pipeline.stack_name
        )["StackResources"]
        if r["LogicalResourceId"] == "ValidateFunction"
    )
    # GIVEN Validate running out of memory on one image's re-run (deterministic: not retried)
    fault = {"function": validate, "payloadContains": broken, "error": "Runtime.OutOfMemory"}
    engine.faults.load({"lambda": [fault]})
    try:
        # WHEN a backfill re-runs both: 1 of 2 failed is past ToleratedFailurePercentage
        code, failed = run_cli(pipeline, capsys, "--wait", "--timeout", "240")
    finally:
        engine.faults.clear()
    # THEN it FAILED with that image's re-run FAILED, the other's SUCCEEDED
    assert code == 1 and failed["status"] == "FAILED", failed
    assert failed["error"] == "States.ExceedToleratedFailureThreshold", failed
    assert (failed["succeeded"], failed["failed"], failed["redriveCount"]) == (1, 1, 0), failed
    assert pipeline.wait_done(broken, attempt=2)["status"] == "FAILED"
    assert pipeline.wait_done(fine, attempt=2)["status"] == "SUCCEEDED"

    # WHEN the cause is gone and the operator resumes the backfill through the CLI
    code, resumed = run_cli(
        pipeline, capsys, "--resume", failed["backfillId"], "--wait", "--timeout", "240"
    )
    # THEN the same execution, redriven, SUCCEEDED with both items
    assert code == 0 and resumed["status"] == "SUCCEEDED", resumed
    assert resumed["backfillId"] == failed["backfillId"]
    assert (resumed["total"], resumed["succeeded"], resumed["failed"]) == (2, 2, 0), resumed
    assert resumed["redriveCount"] == 1, resumed
    assert [e["status"] for e in backfill_executions(pipeline)] == ["SUCCEEDED"]
    # AND only the image that failed ran again: attempt 3 SUCCEEDED, the other still on 2
    recovered = pipeline.wait_done(broken, attempt=3)
    assert (recovered["attempt"], recovered["status"]) == (3, "SUCCEEDED"), recovered
    assert len(pipeline.public_keys(broken)) == len(recovered["variants"]) + 1  # + manifest
    assert pipeline.record(fine)["attempt"] == 2
