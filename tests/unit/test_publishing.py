"""Variants written in place and published by one manifest, on moto's S3.

Resize writes each variant at its content-addressed public key; the manifest is the commit
point; ``withdraw`` deletes what no manifest names (the failure path's state).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from PIL import Image

from imgpipe_core import keys, publishing
from imgpipe_core.config import Settings
from imgpipe_core.errors import RenderError
from imgpipe_core.models import Job, PublishedVariant, PublishInput, ResizeInput, Source
from imgpipe_core.resizing import resize
from tests.helpers import moto_buckets

PID = "b" * 26
PRIVATE, PUBLIC, TABLE = "private", "public", "records"


def _jpeg(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.radial_gradient("L").resize((width, height)).convert("RGB").save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def settings() -> Iterator[Settings]:
    with moto_buckets(PRIVATE, PUBLIC) as s3:
        s3.put_object(Bucket=PRIVATE, Key="uploads/a.jpg", Body=_jpeg(900, 600))
        boto3.client("dynamodb").create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "processingId", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "processingId", "KeyType": "HASH"}],
        )
        yield Settings(
            PRIVATE_BUCKET=PRIVATE,
            PUBLIC_BUCKET=PUBLIC,
            PUBLIC_BASE_URL="https://cdn.example",
            TABLE_NAME=TABLE,
        )


def _job(attempt: int = 1) -> Job:
    return Job(
        processingId=PID,
        attempt=attempt,
        source=Source(bucket=PRIVATE, key="uploads/a.jpg"),
        executionArn="arn:x",
    )


def _processing(attempt: int = 1) -> None:
    """The record as Register (or a re-run's claim) leaves it for ``attempt``."""
    boto3.client("dynamodb").put_item(
        TableName=TABLE,
        Item={
            "processingId": {"S": PID},
            "status": {"S": "PROCESSING"},
            "attempt": {"N": str(attempt)},
            "updatedAt": {"S": "2026-01-01T00:00:00.000Z"},
        },
    )


def _publish(settings: Settings, variants: list[PublishedVariant], attempt: int = 1) -> Any:
    _processing(attempt)
    return publishing.publish(PublishInput(job=_job(attempt), variants=variants), settings)


def _public() -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=PUBLIC, Prefix=keys.image_prefix(PID))
    return sorted(item["Key"] for item in listed.get("Contents", []))


def _render(settings: Settings, attempt: int = 1) -> list[PublishedVariant]:
    return [
        resize(ResizeInput(job=_job(attempt), variant=name), settings)
        for name in settings.catalogue.names
    ]


def _stray(name: str = "thumb-0123456789abcdef.webp") -> str:
    """A variant an earlier or failed attempt wrote (other bytes, so another key)."""
    key = f"{keys.image_prefix(PID)}{name}"
    boto3.client("s3").put_object(Bucket=PUBLIC, Key=key, Body=b"old")
    return key


def test_resize_writes_its_variant_at_the_final_key_with_the_published_metadata(
    settings: Settings,
) -> None:
    # WHEN one variant is rendered
    name = settings.catalogue.names[0]
    result = resize(ResizeInput(job=_job(), variant=name), settings)
    # THEN it sits at its content-addressed public key, as Publish's copy used to write it
    obj = boto3.client("s3").get_object(Bucket=PUBLIC, Key=result.key)
    body = obj["Body"].read()
    checksum = hashlib.sha256(body).hexdigest()
    assert result.key == keys.public_key(PID, name, checksum, result.key.rsplit(".", 1)[1])
    assert obj["ContentType"] == result.content_type
    assert obj["CacheControl"] == "public, max-age=31536000, immutable"
    assert obj["Metadata"] == {"processing-id": PID, "sha256": checksum}
    assert len(body) == result.bytes
    # AND nothing was written to the private bucket (no staging)
    assert "Contents" not in boto3.client("s3").list_objects_v2(Bucket=PRIVATE, Prefix="staging/")


def test_a_redelivered_resize_rewrites_the_same_key(settings: Settings) -> None:
    # GIVEN a variant rendered once
    name = settings.catalogue.names[0]
    first = resize(ResizeInput(job=_job(), variant=name), settings)
    # WHEN the same invocation is delivered again (a retry after a lost reply)
    again = resize(ResizeInput(job=_job(), variant=name), settings)
    # THEN the same bytes went to the same key: one object, nothing unreferenced
    assert again == first
    assert _public() == [first.key]


def test_publish_writes_the_manifest_naming_the_variants_in_place(settings: Settings) -> None:
    rendered = _render(settings)
    # WHEN the attempt is published
    out = _publish(settings, rendered)
    # THEN the manifest names every variant by its key and URL; the variants were not moved
    manifest_key = keys.manifest_key(PID)
    assert out.manifest_key == manifest_key
    obj = boto3.client("s3").get_object(Bucket=PUBLIC, Key=manifest_key)
    assert obj["ContentType"] == "application/json"
    assert obj["CacheControl"] == publishing.MANIFEST_CACHE
    manifest = json.loads(obj["Body"].read())
    assert [v["key"] for v in manifest["variants"]] == [v.key for v in rendered]
    assert all(v["url"] == f"https://cdn.example/{v['key']}" for v in manifest["variants"])
    assert _public() == sorted([*(v.key for v in rendered), manifest_key])


def test_withdraw_without_a_manifest_removes_every_variant(settings: Settings) -> None:
    # GIVEN an attempt whose variants were written but never published (its Map failed)
    _render(settings)
    # WHEN its failure path withdraws
    out = publishing.withdraw(PID, settings)
    # THEN nothing of the image stays public
    assert out.withdrawn == len(settings.catalogue.names)
    assert _public() == []


def test_withdraw_keeps_what_the_current_manifest_names(settings: Settings) -> None:
    # GIVEN a published attempt, and a later failed one that wrote another variant
    rendered = _render(settings)
    _publish(settings, rendered)
    published = _public()
    _stray()
    # WHEN the failed attempt withdraws
    publishing.withdraw(PID, settings)
    # THEN the published image is intact, the stray variant gone
    assert _public() == published


def test_withdraw_of_named_keys_touches_no_other(settings: Settings) -> None:
    # GIVEN two unreferenced variants
    mine, other = _stray("a-0000000000000000.webp"), _stray("b-1111111111111111.webp")
    # WHEN only one of them is withdrawn (a backfill item's own)
    assert publishing.withdraw(PID, settings, only={mine}).withdrawn == 1
    # THEN the other stays
    assert _public() == [other]


def test_a_rerun_deletes_the_old_variants_after_its_manifest(settings: Settings) -> None:
    # GIVEN attempt 1 published, with a variant attempt 2 will render differently
    first = _render(settings)
    _publish(settings, first)
    old = _stray()
    # WHEN attempt 2 publishes
    second = _render(settings, attempt=2)
    _publish(settings, second, 2)
    # THEN only what its manifest names stays
    assert old not in _public()
    assert _public() == sorted([*(v.key for v in second), keys.manifest_key(PID)])


def test_merge_adds_new_variants_and_drops_the_replaced_one(settings: Settings) -> None:
    # GIVEN a published image
    rendered = _render(settings)
    published = _publish(settings, rendered)
    name = rendered[0].variant
    stale = published.variants[0].model_copy(update={"key": _stray(f"{name}-0123456789abcdef.x")})
    existing = [stale, *published.variants[1:]]
    # WHEN a backfill re-renders one variant and merges it
    fresh = resize(ResizeInput(job=_job(), variant=name), settings)
    merged = publishing.merge(PublishInput(job=_job(), variants=[fresh]), existing, settings)
    # THEN the manifest names the new variant and the others, and the replaced one is gone
    assert {v.key for v in merged.variants} == {fresh.key, *(v.key for v in existing[1:])}
    assert stale.key not in _public()


def test_a_backfill_item_that_fails_withdraws_what_it_wrote(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imgpipe_core import backfill, records, resizing
    from imgpipe_core.errors import RenderError
    from imgpipe_core.models import Status

    # GIVEN a published image whose record SUCCEEDED
    records.claim("records", PID, _job().source, "arn:x", rerun=False, upload_id=None, ttl_days=1)
    boto3.client("dynamodb").update_item(
        TableName="records",
        Key={"processingId": {"S": PID}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": Status.SUCCEEDED.value}},
    )
    first, second = settings.catalogue.names[:2]
    rendered = resize(ResizeInput(job=_job(), variant=first), settings)
    boto3.client("s3").delete_object(Bucket=PUBLIC, Key=rendered.key)
    # (published from other bytes than a render gives now, e.g. an older catalogue)
    old = rendered.model_copy(update={"key": _stray(f"{first}-0123456789abcdef.jpg")})
    publishing.publish(PublishInput(job=_job(), variants=[old]), settings)
    published = _public()
    # AND Resize failing on the item's second variant, after the first was written in place
    calls: list[str] = []

    def flaky(task: ResizeInput, settings: Settings) -> PublishedVariant:
        calls.append(task.variant)
        if task.variant == second:
            raise RenderError("boom")
        return resize(task, settings)

    monkeypatch.setattr(resizing, "resize", flaky)
    # WHEN a render backfill of both variants runs over it
    with pytest.raises(RenderError):
        backfill.render_item(
            backfill.ItemInput(processingId=PID, mode="render", variants=[first, second]), settings
        )
    # THEN the variant it wrote in place is withdrawn, the published image left as it was
    assert calls == [first, second]
    assert rendered.key not in _public()
    assert _public() == published


def test_publish_reads_the_short_form_resize_returns(settings: Settings) -> None:
    # GIVEN the variants as the Resize task returns them to the Map: [file, width, height, bytes]
    rendered = _render(settings)
    short = [v.stored(keys.image_prefix(PID)) for v in rendered]
    assert all(isinstance(entry, list) and len(entry) == 4 for entry in short)
    # WHEN Publish gets them as the ASL passes them (the job's JSON, the Map's list)
    task = PublishInput.model_validate(
        {"job": _job().model_dump(mode="json", by_alias=True), "variants": short}
    )
    _processing()
    out = publishing.publish(task, settings)
    # THEN it derives the same variants (key, name, format, content type) and the manifest
    # names the objects Resize wrote, with their content types
    assert task.variants == rendered
    manifest = json.loads(
        boto3.client("s3").get_object(Bucket=PUBLIC, Key=out.manifest_key)["Body"].read()
    )
    for entry in manifest["variants"]:
        obj = boto3.client("s3").head_object(Bucket=PUBLIC, Key=entry["key"])
        assert obj["ContentType"] == entry["contentType"]
        assert obj["ContentLength"] == entry["bytes"]
    assert {v["variant"] for v in manifest["variants"]} == set(settings.catalogue.names)


def test_resize_refuses_a_source_whose_type_changed_since_validation(settings: Settings) -> None:
    # GIVEN validation sniffed a PNG, but the object Resize reads is a JPEG
    task = ResizeInput.model_validate(
        {
            "job": _job().model_dump(mode="json", by_alias=True),
            "variant": "thumbnail",
            "mediaType": "png",
        }
    )
    # WHEN it renders THEN it fails, and writes nothing public
    with pytest.raises(RenderError, match="source changed since validation"):
        resize(task, settings)
    assert _public() == []


def _record() -> Any:
    from imgpipe_core import records

    return records.get(TABLE, PID)


def test_publish_records_the_attempt_succeeded_with_its_variants(settings: Settings) -> None:
    from imgpipe_core.imaging import ImageInfo

    # GIVEN attempt 1 processing, its variants rendered
    rendered = _render(settings)
    image = ImageInfo(
        media_type="jpeg", width=900, height=600, frames=1, animated=False, mode="RGB",
        has_alpha=False, has_icc=False, orientation=1, bytes=1000,
    )  # fmt: skip
    _processing()
    # WHEN it is published
    publishing.publish(PublishInput(job=_job(), variants=rendered, image=image), settings)
    # THEN the record is SUCCEEDED with the variants and image facts, in the stored short forms
    record = _record()
    assert record.status == "SUCCEEDED" and record.attempt == 1
    assert record.variants == rendered and record.completed_at == record.updated_at
    assert (record.image["width"], record.image["height"]) == (900, 600)
    item = boto3.client("dynamodb").get_item(TableName=TABLE, Key={"processingId": {"S": PID}})
    assert json.loads(item["Item"]["variantsJson"]["S"])[0][0] == rendered[0].key.rsplit("/")[-1]
    assert "null" not in item["Item"]["imageJson"]["S"]  # without its unset facts


def test_a_retried_publish_keeps_the_outcome_it_wrote(settings: Settings) -> None:
    # GIVEN an attempt published and recorded (its reply then lost)
    rendered = _render(settings)
    _publish(settings, rendered)
    written = _record()
    # WHEN the same attempt's Publish runs again
    publishing.publish(PublishInput(job=_job(), variants=rendered), settings)
    # THEN it succeeds and the record is the one it wrote the first time
    assert _record() == written


def test_publish_of_an_attempt_a_newer_one_replaced_is_superseded(settings: Settings) -> None:
    from imgpipe_core.errors import AttemptSuperseded

    # GIVEN attempt 2 claimed the record while attempt 1 was rendering
    rendered = _render(settings)
    _processing(attempt=2)
    # WHEN attempt 1 publishes THEN it is told by name, and the record is attempt 2's
    with pytest.raises(AttemptSuperseded):
        publishing.publish(PublishInput(job=_job(), variants=rendered), settings)
    assert _record().status == "PROCESSING" and _record().attempt == 2
