"""A watermark kept in the private bucket: read with a size bound, and a missing or oversized
one fails the render as RenderError (caught by name in the ASL), never as an unnamed crash."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from imgpipe_core import resizing
from imgpipe_core.catalogue import Variant, Watermark
from imgpipe_core.config import Settings
from imgpipe_core.errors import RenderError
from imgpipe_core.imaging.watermark import MAX_WATERMARK_BYTES
from tests.helpers import moto_buckets

BUCKET = "private"
KEY = "watermarks/logo.png"
VARIANT = Variant(name="marked", width=100, watermark=Watermark(image=KEY))
SETTINGS = Settings(PRIVATE_BUCKET=BUCKET)


@pytest.fixture
def bucket() -> Iterator[Any]:
    with moto_buckets(BUCKET) as s3:
        yield s3


def test_a_bucket_watermark_is_read(bucket: Any) -> None:
    bucket.put_object(Bucket=BUCKET, Key=KEY, Body=b"\x89PNG mark")
    assert resizing._watermark_png(VARIANT, SETTINGS) == b"\x89PNG mark"


def test_a_missing_watermark_is_a_render_error(bucket: Any) -> None:
    with pytest.raises(RenderError, match=KEY):
        resizing._watermark_png(VARIANT, SETTINGS)


def test_an_oversized_watermark_is_a_render_error_read_no_further(bucket: Any) -> None:
    body = b"\0" * (MAX_WATERMARK_BYTES + 1)
    bucket.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    with pytest.raises(RenderError, match="bytes"):
        resizing._watermark_png(VARIANT, SETTINGS)


def test_text_watermarks_and_bundled_images_read_nothing_from_the_bucket() -> None:
    text = Variant(name="t", width=100, watermark=Watermark(text="imgpipe"))
    assert resizing._watermark_png(text, SETTINGS) is None
