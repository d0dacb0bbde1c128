"""What a successful upload writes to the status table and logs: the short forms (variants,
image facts, the upload rule's input) read back as every reader needs them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from imgpipe import dlq, dynamodb_units
from imgpipe.local.adapters.eventbridge import target_input
from imgpipe_core import keys, records, register
from imgpipe_core.imaging import ImageInfo
from imgpipe_core.models import PublishedVariant, PublishOutput, Status, ValidateOutput, dump
from tests.unit.events import load_event
from tests.unit.test_template import resources

PID = "rnz5de6mceextmcoh2h7egwfqy"
PREFIX = keys.image_prefix(PID)


def _variant(name: str, output: str, extension: str, width: int, size: int) -> PublishedVariant:
    return PublishedVariant(
        variant=name,
        key=keys.public_key(PID, name, "9b871e3704fe954c" * 4, extension),
        width=width,
        height=width * 3 // 4,
        bytes=size,
        format=output,
        contentType=f"image/{output}",
    )


VARIANTS = [
    _variant("thumbnail", "jpeg", "jpg", 300, 11768),
    _variant("medium", "jpeg", "jpg", 800, 63599),
    _variant("large-2x", "png", "png", 1440, 1163355),
    _variant("webp", "webp", "webp", 4000, 559026),
    _variant("avif", "avif", "avif", 4000, 259026),
]
IMAGE = ImageInfo.model_validate(
    {
        "media_type": "jpeg",
        "width": 4000,
        "height": 3000,
        "frames": 1,
        "animated": False,
        "mode": "RGB",
        "has_alpha": False,
        "has_icc": False,
        "orientation": 1,
        "bytes": 2054390,
        "placeholder": {"thumbhash": "GigGHYh0yYbweXephlm4ownphS+o", "dominant_colour": "#3e465d"},
    }
)


def test_publish_output_carries_variants_short_and_reads_them_back_exactly() -> None:
    # GIVEN what Publish returns for variants of every output format
    output = PublishOutput(variants=VARIANTS, manifestKey=keys.manifest_key(PID))
    # WHEN it is the task's JSON (the state, the log, Record Success's variantsJson)
    shown = dump(output)
    # THEN each variant is [file under the image's prefix, width, height, bytes]
    assert shown["variants"][0] == ["thumbnail-9b871e3704fe954c.jpg", 300, 225, 11768]
    assert all(isinstance(v, list) and len(v) == 4 for v in shown["variants"])
    # AND Notify (and anyone parsing the state) reads back the same variants
    assert PublishOutput.model_validate(shown) == output
    assert PublishOutput.model_validate(json.loads(json.dumps(shown))).variants == VARIANTS


@pytest.mark.parametrize(
    "odd",
    [
        {"key": "elsewhere/thumbnail-9b871e3704fe954c.jpg"},  # not under the image's prefix
        {"content_type": "image/pjpeg"},  # a content type the format would not give back
        {"format": "jpg"},
        {"key": f"{PREFIX}nohash.jpg", "variant": "nohash"},
    ],
)
def test_a_variant_the_short_form_would_change_keeps_its_full_form(odd: dict[str, Any]) -> None:
    variant = VARIANTS[0].model_copy(update=odd)
    stored = variant.stored(PREFIX)
    assert isinstance(stored, dict)
    assert PublishedVariant.from_stored(stored, PREFIX) == variant


OLD_ITEM = records._to_item(  # what Register and Record Success wrote before the short forms
    {
        "processingId": PID,
        "status": "SUCCEEDED",
        "attempt": 1,
        "source": {"bucket": "private", "key": "uploads/u", "versionId": "v1", "size": 2054390,
                   "etag": "4fd79609a4e7a41e6d89060641dfd98a"},
        "executionArns": ["arn:aws:states:us-east-1:123456789012:express:m:e:u"],
        "createdAt": "2026-12-02T06:38:36.790Z",
        "updatedAt": "2026-12-02T06:38:37.577Z",
        "completedAt": "2026-12-02T06:38:37.577Z",
        "variantsJson": json.dumps([v.model_dump(mode="json", by_alias=True) for v in VARIANTS]),
        "imageJson": json.dumps(IMAGE.model_dump(mode="json")),
    }
)  # fmt: skip


def test_a_success_record_in_the_short_form_reads_as_the_one_written_before() -> None:
    # GIVEN the record as it is written now: no completedAt, no ETag, short variants and the
    # image facts without their nulls (Validate's output, JsonToString'd by Record Success)
    new = {k: v for k, v in OLD_ITEM.items() if k != "completedAt"}
    new["source"] = {"M": {k: v for k, v in OLD_ITEM["source"]["M"].items() if k != "etag"}}
    new["variantsJson"] = {"S": records.stored_variants(PID, VARIANTS)}
    new["imageJson"] = {"S": json.dumps(dump(ValidateOutput(valid=True, image=IMAGE))["image"])}
    # WHEN both are read
    old_record, new_record = records.from_item(OLD_ITEM), records.from_item(new)
    # THEN readers get the same record but for the ETag nobody reads: completedAt is
    # updatedAt, every variant field is there, the unset image facts are null
    assert new_record == old_record.model_copy(
        update={"source": old_record.source.model_copy(update={"etag": None})}  # type: ignore[union-attr]
    )
    assert new_record.completed_at == "2026-12-02T06:38:37.577Z"
    assert new_record.image is not None and new_record.image["exif"] is None
    # AND the item is smaller by what the short forms leave out
    assert dynamodb_units.item_bytes(OLD_ITEM) - dynamodb_units.item_bytes(new) > 700


def test_completed_at_is_derived_only_for_an_attempt_that_ended() -> None:
    processing = {k: v for k, v in OLD_ITEM.items() if k != "completedAt"}
    processing["status"] = {"S": Status.PROCESSING.value}
    assert records.from_item(processing).completed_at is None
    for status in (Status.SUCCEEDED, Status.REJECTED, Status.FAILED):
        ended = {**processing, "status": {"S": status.value}}
        assert records.from_item(ended).completed_at == "2026-12-02T06:38:37.577Z"


def test_validate_output_keeps_the_paths_the_asl_selects_and_drops_unset_facts() -> None:
    rejected = dump(ValidateOutput(valid=False), exclude_none=False)
    assert rejected["image"] is None and rejected["rejection"] is None  # $.image, $.rejection
    accepted = dump(ValidateOutput(valid=True, image=IMAGE), exclude_none=False)
    assert "exif" not in accepted["image"] and accepted["image"]["placeholder"]
    assert ImageInfo.model_validate(accepted["image"]) == IMAGE


def _started(event: dict[str, Any]) -> Any:
    """The execution input the upload rule's target (from the template) gives ``event``."""
    rules = resources("AWS::Events::Rule")
    target = rules["PipelineStateMachineUploadCreated"]["Properties"]["Targets"][0]
    # EventBridge's own field on a received event (what moto's template parser reads)
    return json.loads(target_input(target, {**event, "ingestion-time": event["time"]}))


def test_upload_rule_starts_executions_with_what_register_reads_only() -> None:
    # GIVEN the S3 event the upload rule matches, and the target input the template gives it
    event = load_event("s3_object_created")
    started = _started(event)
    # THEN the execution input is the event's bucket and object, nothing of its envelope
    assert started == {"bucket": event["detail"]["bucket"], "object": event["detail"]["object"]}
    # AND Register derives the same processingId and source from it as from the whole event
    # (executions started before the change, their dead letters), so at-least-once delivery
    # is still de-duplicated across both
    assert register.identify(started) == register.identify(event)
    assert len(json.dumps(started)) < len(json.dumps(event)) / 2


def test_a_registration_failure_of_the_short_input_is_redriven_by_its_key() -> None:
    event = load_event("s3_object_created")
    started = _started(event)
    body = {"kind": "RegistrationFailed", "input": started, "error": "E", "cause": ""}
    letter = dlq.parse({"MessageId": "m", "ReceiptHandle": "r", "Body": json.dumps(body)})
    assert letter.key == event["detail"]["object"]["key"]
    assert letter.processing_id == register.identify(event)[0]
    assert letter.execution_input == started
