"""What a rule hands a state machine: Input, InputPath, InputTransformer, or the event."""

from __future__ import annotations

import json

import pytest

from imgpipe.local.adapters.eventbridge import target_input
from tests.unit.events import load_event

pytestmark = pytest.mark.engine


def test_whole_event_by_default_with_an_iso_time() -> None:
    # moto keeps event times as epoch seconds; targets must see EventBridge's ISO form
    event = {**load_event("s3_object_created"), "time": 1_700_000_000.0}
    delivered = json.loads(target_input({"Arn": "x"}, event))
    assert delivered["detail"] == event["detail"]
    assert delivered["time"] == "2023-11-14T22:13:20Z"


def test_input_path_selects_a_part() -> None:
    event = load_event("s3_object_created")
    assert (
        json.loads(target_input({"InputPath": "$.detail.object"}, event))
        == event["detail"]["object"]
    )


def test_constant_input_replaces_the_event() -> None:
    assert target_input({"Input": '{"fixed": true}'}, load_event("s3_object_created")) == (
        '{"fixed": true}'
    )


def test_input_transformer_fills_its_template() -> None:
    transformer = {
        "InputPathsMap": {"key": "$.detail.object.key", "bucket": "$.detail.bucket.name"},
        "InputTemplate": '{"object": "<bucket>/<key>"}',
    }
    event = {**load_event("s3_object_created"), "ingestion-time": 1_700_000_000.0}
    delivered = target_input({"InputTransformer": transformer}, event)
    assert json.loads(delivered) == {
        "object": "imgpipe-private/uploads/0123456789abcdef0123456789abcdef"
    }
