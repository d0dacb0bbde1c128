"""Rejections, failures, the DLQ and redrive, on the real template."""

from __future__ import annotations

import io
import json
import random

import pytest
from PIL import Image

from tests.conftest import CORPUS
from tests.integration.conftest import Pipeline, deploy_pipeline, photo, too_big_for_128_mb

pytestmark = pytest.mark.engine


def _truncated_jpeg() -> bytes:
    return photo(800, 600, "JPEG")[:4000]


def _oversized_png() -> bytes:
    # 10 500 px wide (limit 10 000) of incompressible noise: too large, but honestly so.
    out = io.BytesIO()
    Image.frombytes("L", (10_500, 40), random.Random(7).randbytes(10_500 * 40)).save(out, "PNG")
    return out.getvalue()


def _bomb_png() -> bytes:
    # 12 000 x 12 000: 144 MP, more than twice the budget: treated as a decompression bomb.
    out = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(out, "PNG")
    return out.getvalue()


def _animated_gif(frames: int) -> bytes:
    return photo(64, 64, "GIF", frames=frames)


REJECTIONS = {
    "EMPTY_FILE": lambda: b"",
    "UNSUPPORTED_MEDIA_TYPE": lambda: b'<svg xmlns="http://www.w3.org/2000/svg"></svg>',
    "CORRUPT_IMAGE": _truncated_jpeg,
    "IMAGE_TOO_LARGE": _oversized_png,
    "DECOMPRESSION_BOMB": _bomb_png,
    "TOO_MANY_FRAMES": lambda: _animated_gif(205),
}

CORPUS_REJECTIONS = {
    "DECOMPRESSION_BOMB": "pillow/decompression_bomb.gif",
    "CORRUPT_IMAGE": "pillow/broken.png",
    "UNSUPPORTED_MEDIA_TYPE": "pillow/hopper_jpg.tif",
}


def _assert_rejected(pipeline: Pipeline, pid: str, code: str) -> None:
    record = pipeline.wait_done(pid)
    assert record["status"] == "REJECTED", record
    assert record["rejectionCode"] == code and record["rejectionMessage"]
    assert pipeline.public_keys(pid) == []
    events, sns = pipeline.notifications(pid)
    assert [e["detail-type"] for e in events] == ["Image Rejected"]
    assert events[0]["detail"]["rejection"]["code"] == code and len(sns) == 1


@pytest.mark.parametrize("code", sorted(REJECTIONS))
def test_bad_upload_is_rejected_with_a_code(pipeline: Pipeline, code: str) -> None:
    pid = pipeline.upload(f"uploads/reject-{code.lower()}.jpg", REJECTIONS[code]())
    _assert_rejected(pipeline, pid, code)


@pytest.mark.corpus
@pytest.mark.parametrize("code", sorted(CORPUS_REJECTIONS))
def test_corpus_file_is_rejected_with_a_code(pipeline: Pipeline, code: str) -> None:
    path = CORPUS / CORPUS_REJECTIONS[code]
    if not path.exists():
        pytest.skip(f"corpus not available: {path}")
    pid = pipeline.upload(f"uploads/corpus-{path.name}", path.read_bytes())
    _assert_rejected(pipeline, pid, code)


def test_rerun_of_a_deleted_original_is_rejected_as_source_not_found(pipeline: Pipeline) -> None:
    # GIVEN an upload that was processed, and whose original was then deleted for good
    pid = pipeline.upload("uploads/deleted-later.png", photo(640, 480, "PNG"))
    first = pipeline.wait_done(pid)
    assert first["status"] == "SUCCEEDED"
    source = first["source"]
    pipeline.client("s3").delete_object(
        Bucket=source["bucket"], Key=source["key"], VersionId=source["versionId"]
    )
    # WHEN an operator re-runs it
    assert pipeline.cli("rerun", pid) == 0

    # THEN the attempt is rejected with a code, notified, and nothing reaches the DLQ
    record = pipeline.wait_done(pid, attempt=2)
    assert record["status"] == "REJECTED", record
    assert record["rejectionCode"] == "SOURCE_NOT_FOUND"
    events, sns = pipeline.notifications(pid)
    assert [(e["detail-type"], e["detail"]["attempt"]) for e in events] == [
        ("Image Processed", 1),
        ("Image Rejected", 2),
    ]
    assert [m["attempt"] for m in sns] == [1, 2]
    assert not [m for m in pipeline.dead_letters() if pid in json.dumps(m)]


@pytest.fixture(scope="module")
def strict(engine) -> Pipeline:
    """A stack with small limits, so size rejections need no huge files."""
    return deploy_pipeline(engine, "strict", {"MaxUploadBytes": "20000", "MaxImageSide": "1000"})


def test_file_over_the_byte_limit_is_rejected_before_download(strict: Pipeline) -> None:
    pid = strict.upload("uploads/big.png", photo(900, 900, "PNG"))
    record = strict.wait_done(pid)
    assert record["status"] == "REJECTED" and record["rejectionCode"] == "FILE_TOO_LARGE"


def test_side_over_the_limit_is_rejected(strict: Pipeline) -> None:
    pid = strict.upload("uploads/wide.jpg", photo(1200, 10, "JPEG"))
    record = strict.wait_done(pid)
    assert record["status"] == "REJECTED" and record["rejectionCode"] == "IMAGE_TOO_LARGE"


def test_rejected_original_is_tagged_for_lifecycle_expiry(strict: Pipeline) -> None:
    response = strict.client("s3").put_object(
        Bucket=strict.outputs["PrivateBucketName"], Key="uploads/tagged.bin", Body=b"not an image"
    )
    from imgpipe_core import keys

    pid = keys.processing_id(
        strict.outputs["PrivateBucketName"], "uploads/tagged.bin", response["VersionId"]
    )
    assert strict.wait_done(pid)["rejectionCode"] == "UNSUPPORTED_MEDIA_TYPE"
    tags = strict.client("s3").get_object_tagging(
        Bucket=strict.outputs["PrivateBucketName"], Key="uploads/tagged.bin"
    )["TagSet"]
    assert {"Key": "imgpipe-status", "Value": "rejected"} in tags


@pytest.fixture(scope="module")
def fragile(engine) -> Pipeline:
    return deploy_pipeline(engine, "fragile")


def _function(pipeline: Pipeline, logical_id: str) -> str:
    resources = pipeline.client("cloudformation").describe_stack_resources(
        StackName=pipeline.stack_name
    )["StackResources"]
    return next(r["PhysicalResourceId"] for r in resources if r["LogicalResourceId"] == logical_id)


def test_failing_variant_fails_the_upload_and_dlq_redrive_recovers_it(fragile: Pipeline) -> None:
    lam = fragile.client("lambda")
    resize = _function(fragile, "ResizeFunction")
    # GIVEN the resize function misconfigured with too little memory for a 12 MP PNG
    lam.update_function_configuration(FunctionName=resize, MemorySize=128)
    pid = fragile.upload("uploads/heavy.png", too_big_for_128_mb())
    # WHEN the upload is processed
    record = fragile.wait_done(pid)
    # THEN it FAILED with the runtime's error, nothing is public, and one DLQ message says why
    assert record["status"] == "FAILED", record
    assert record["error"] == "Runtime.OutOfMemory"
    assert fragile.public_keys(pid) == []
    letters = [m for m in fragile.dead_letters() if m.get("processingId") == pid]
    assert len(letters) == 1
    letter = letters[0]
    assert letter["kind"] == "ProcessingFailed" and letter["error"] == "Runtime.OutOfMemory"
    assert letter["source"]["key"] == "uploads/heavy.png" and letter["executionArn"]
    # AND the runtime's deterministic error was not retried: one resize per variant, no more
    history = fragile.client("stepfunctions").get_execution_history(
        executionArn=record["executionArns"][0], maxResults=1000
    )["events"]
    entered = [
        e for e in history if e.get("stateEnteredEventDetails", {}).get("name") == "Resize Variant"
    ]
    invoked = [
        e
        for e in history
        if e["type"] == "LambdaFunctionScheduled"
        and e["lambdaFunctionScheduledEventDetails"]["resource"].endswith(f":function:{resize}")
    ]
    assert entered and len(invoked) == len(entered)
    # AND the failed execution did not add a second message through the status-change rule
    assert len(fragile.dead_letters()) == 1
    events, _ = fragile.notifications(pid)
    assert [e["detail-type"] for e in events] == ["Image Processing Failed"]
    # WHEN the operator fixes the function and redrives the DLQ
    lam.update_function_configuration(FunctionName=resize, MemorySize=2048)
    assert fragile.cli("dlq", "redrive") == 0
    # THEN the upload succeeds on attempt 2 and the DLQ is empty
    recovered = fragile.wait_done(pid, attempt=2)
    assert recovered["status"] == "SUCCEEDED" and "error" not in recovered
    assert len(fragile.public_keys(pid)) == len(recovered["variants"]) + 1  # + manifest
    assert fragile.dead_letters() == []


def test_status_list_and_trace_commands(pipeline: Pipeline, capsys: pytest.CaptureFixture) -> None:
    pid = pipeline.upload("uploads/ops.jpg", photo(500, 400, "JPEG"))
    pipeline.wait_done(pid)
    capsys.readouterr()
    assert pipeline.cli("status", pid, "--json") == 0
    status = json.loads(capsys.readouterr().out)
    assert status["processingId"] == pid and status["status"] == "SUCCEEDED"
    assert pipeline.cli("list", "--status", "SUCCEEDED", "--json") == 0
    assert pid in [r["processingId"] for r in json.loads(capsys.readouterr().out)]
    assert pipeline.cli("trace", pid) == 0
    trace = capsys.readouterr().out
    for state in ("Register Upload", "Validate Upload", "Resize Variants", "Publish Variants"):
        assert state in trace


def test_unknown_id_is_a_clear_error(pipeline: Pipeline, capsys: pytest.CaptureFixture) -> None:
    assert pipeline.cli("status", "a" * 26) == 2
    assert "no upload with id" in capsys.readouterr().err


def test_stopped_execution_reaches_the_dlq_and_is_listed(
    fragile: Pipeline, capsys: pytest.CaptureFixture
) -> None:
    from tests.helpers import wait_for

    # GIVEN an upload whose validation takes a while (a 6000x4000 PNG to decode)
    sfn = fragile.client("stepfunctions")
    pid = fragile.upload("uploads/stopped.png", photo(6000, 4000, "PNG"))
    record = wait_for(lambda: fragile.record(pid))
    arn = record["executionArns"][0]

    def validating() -> bool:
        history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        return any(
            e.get("stateEnteredEventDetails", {}).get("name") == "Validate Upload" for e in history
        )

    # WHEN an operator stops the execution mid-flight (it records nothing itself)
    wait_for(validating, interval=0.02)
    sfn.stop_execution(executionArn=arn, error="Operator", cause="stopped by a test")
    # THEN the abandoned-execution rule puts its status-change event in the DLQ
    letter = wait_for(
        lambda: next(
            (m for m in fragile.dead_letters() if m.get("detail", {}).get("executionArn") == arn),
            None,
        )
    )
    assert letter["detail"]["status"] == "ABORTED"
    assert json.loads(letter["detail"]["input"])["object"]["key"] == "uploads/stopped.png"
    # AND `imgpipe dlq list` shows it with the object key it would re-run
    capsys.readouterr()
    assert fragile.cli("dlq", "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    entry = next(m for m in listed if m["executionArn"] == arn)
    assert entry["kind"] == "ExecutionAborted" and entry["key"] == "uploads/stopped.png"
