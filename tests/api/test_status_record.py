"""The smaller status record (README, Cost, "DynamoDB request units") through the HTTP API:
what `GET /images/{id}` and the listing show of a success is what they showed before."""

from __future__ import annotations

from typing import Any

import pytest

from imgpipe_core import keys
from tests.api.conftest import Api, image_bytes

pytestmark = pytest.mark.engine

VARIANT_FIELDS = {"variant", "key", "width", "height", "bytes", "format", "contentType", "url"}


@pytest.fixture(scope="module")
def succeeded(api: Api) -> dict[str, Any]:
    upload_id = api.upload(image_bytes(1200, 900, "JPEG"), "image/jpeg", "record.jpg")
    return api.wait(upload_id)


def test_a_success_shows_every_variant_field_and_when_it_completed(
    api: Api, succeeded: dict[str, Any]
) -> None:
    # GIVEN a success WHEN it is read by its uploadId THEN each variant has all its fields
    pid = succeeded["processingId"]
    assert succeeded["status"] == "SUCCEEDED" and succeeded["filename"] == "record.jpg"
    assert {v["variant"] for v in succeeded["variants"]} == {"thumbnail", "medium", "large", "webp"}
    for variant in succeeded["variants"]:
        assert set(variant) == VARIANT_FIELDS, variant
        assert variant["url"] == f"{api.url}/cdn/{variant['key']}"
        assert variant["key"].startswith(keys.image_prefix(pid))
        assert variant["contentType"] == f"image/{variant['format']}"
    # AND the image facts with their unset ones null, the source, and the times
    image = succeeded["image"]
    assert (image["width"], image["height"], image["media_type"]) == (1200, 900, "jpeg")
    assert image["exif"] is None and image["placeholder"]["dominant_colour"].startswith("#")
    assert succeeded["sourceKey"] == f"uploads/{succeeded['uploadId']}"
    assert succeeded["sourceSize"] > 0
    assert succeeded["completedAt"] == succeeded["updatedAt"] >= succeeded["createdAt"]
    assert succeeded["responsive"] and succeeded["manifestUrl"].endswith(keys.manifest_key(pid))
    # AND by its processingId it is the same record
    assert api.get(f"/images/{pid}").json() == succeeded


def test_the_listing_shows_the_same_success(api: Api, succeeded: dict[str, Any]) -> None:
    listed = api.get("/images", params={"status": "SUCCEEDED", "limit": 50}).json()["items"]
    mine = next(i for i in listed if i["processingId"] == succeeded["processingId"])
    assert mine == succeeded
