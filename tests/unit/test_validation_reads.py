"""Validate reads an upload with one GetObject: its Content-Length refuses an oversized upload
before a byte of the body is read, and no HeadObject comes first (one S3 request per upload)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from imgpipe_core import clients, validation
from imgpipe_core.config import Settings
from imgpipe_core.errors import RejectionCode
from imgpipe_core.models import Job, Source
from tests.helpers import moto_buckets

BUCKET = "private"


@pytest.fixture
def s3() -> Iterator[Any]:
    with moto_buckets(BUCKET) as s3:
        yield s3


def _calls(operations: list[str]) -> None:
    def record(**kwargs: Any) -> None:
        operations.append(kwargs["model"].name)

    clients.client("s3").meta.events.register("before-call.s3", record)


def _job(key: str) -> Job:
    return Job(processingId="p1", source=Source(bucket=BUCKET, key=key))


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "teal").save(out, "JPEG")
    return out.getvalue()


def test_a_good_upload_costs_one_get_and_no_head(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="uploads/a.jpg", Body=_jpeg())
    operations: list[str] = []
    _calls(operations)
    result = validation.validate(_job("uploads/a.jpg"), Settings(PRIVATE_BUCKET=BUCKET))
    assert result.valid and result.image and result.image.width == 64
    assert operations == ["GetObject"]


def test_an_oversized_upload_is_refused_from_its_length_unread(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="uploads/big.jpg", Body=b"\xff\xd8" + b"\0" * 5000)
    bodies: list[Any] = []
    clients.client("s3").meta.events.register(
        "after-call.s3.GetObject", lambda parsed, **_: bodies.append(parsed["Body"])
    )
    settings = Settings(PRIVATE_BUCKET=BUCKET, MAX_UPLOAD_BYTES=1000)
    result = validation.validate(_job("uploads/big.jpg"), settings)
    assert result.rejection and result.rejection.code is RejectionCode.FILE_TOO_LARGE
    assert "5002 bytes" in result.rejection.message
    # AND not a byte of the body was read (StreamingBody counts what it hands out)
    assert len(bodies) == 1 and bodies[0]._amount_read == 0
    tags = s3.get_object_tagging(Bucket=BUCKET, Key="uploads/big.jpg")["TagSet"]
    assert tags == [{"Key": "imgpipe-status", "Value": "rejected"}]


def test_an_empty_upload_and_a_missing_one_are_rejected_by_name(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="uploads/empty.jpg", Body=b"")
    settings = Settings(PRIVATE_BUCKET=BUCKET)
    empty = validation.validate(_job("uploads/empty.jpg"), settings)
    assert empty.rejection and empty.rejection.code is RejectionCode.EMPTY_FILE
    missing = validation.validate(_job("uploads/gone.jpg"), settings)
    assert missing.rejection and missing.rejection.code is RejectionCode.SOURCE_NOT_FOUND
