"""Key scheme and task models: pure functions, no AWS."""

from __future__ import annotations

import re

import pytest

from imgpipe_core import keys
from imgpipe_core.models import ObjectCreatedEvent, RerunRequest, Source
from tests.unit.events import load_event


def test_processing_id_is_deterministic_per_version_and_a_valid_execution_name() -> None:
    first = keys.processing_id("b", "uploads/a.jpg", "v1")
    assert first == keys.processing_id("b", "uploads/a.jpg", "v1")
    assert first != keys.processing_id("b", "uploads/a.jpg", "v2")
    assert first != keys.processing_id("b", "uploads/b.jpg", "v1")
    rerun_name = keys.execution_name(first, 99)
    assert re.fullmatch(r"[0-9A-Za-z_-]{1,80}", rerun_name)
    assert keys.PROCESSING_ID.match(first)


def test_public_keys_change_with_content() -> None:
    a = keys.public_key("p", "thumbnail", "aa" * 32, "jpg")
    b = keys.public_key("p", "thumbnail", "bb" * 32, "jpg")
    assert a != b and a.startswith("images/p/thumbnail-")


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("uploads/0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"),
        ("uploads/0123456789abcdef0123456789abcdef.jpg", "0123456789abcdef0123456789abcdef"),
        ("uploads/holiday/cat.jpg", None),
        ("elsewhere/0123456789abcdef0123456789abcdef", None),
    ],
)
def test_upload_id_is_read_only_from_server_generated_keys(key: str, expected: str | None) -> None:
    assert keys.upload_id_from_key(key) == expected


def test_s3_event_fixture_parses_into_a_source() -> None:
    source = ObjectCreatedEvent.model_validate(load_event("s3_object_created")).to_source()
    assert source == Source(
        bucket="imgpipe-private",
        key="uploads/0123456789abcdef0123456789abcdef",
        versionId="IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
        size=5120,
        etag="b1946ac92492d2347c6235b4d2611184",
    )


def test_rerun_request_round_trips_with_aliases() -> None:
    request = RerunRequest.model_validate(
        {"processingId": "p" * 26, "source": {"bucket": "b", "key": "k", "versionId": "v"}}
    )
    assert request.source.version_id == "v"
    dumped = request.model_dump(by_alias=True)
    assert dumped["processingId"] == "p" * 26 and dumped["source"]["versionId"] == "v"
