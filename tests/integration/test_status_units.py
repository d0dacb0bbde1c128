"""What a successful upload costs in DynamoDB (the engine meters request units by DynamoDB's
rules) and what its record still shows through the CLI: README, Cost, "DynamoDB request units"."""

from __future__ import annotations

import contextlib
import io
import json
import uuid
from typing import Any

import pytest

from imgpipe.cli import main
from imgpipe_core import keys
from tests.integration.conftest import Pipeline, deploy_pipeline, embedded_only, photo

pytestmark = pytest.mark.engine

FIELDS = {"variant", "key", "width", "height", "bytes", "format", "contentType", "url"}


@pytest.fixture(scope="module")
def units(engine: Any) -> Pipeline:
    # Its own stack: nothing else writes to its table while an upload is metered.
    return deploy_pipeline(engine, "units")


def _status(pipeline: Pipeline, ident: str) -> dict[str, Any]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert pipeline.cli("status", ident, "--json") == 0
    return dict(json.loads(out.getvalue()))


@embedded_only("request units come from its request_counter adapter, in the test's process")
def test_a_successful_upload_writes_six_request_units(units: Pipeline) -> None:
    from imgpipe import dynamodb_units
    from imgpipe.local.adapters import request_counter

    # GIVEN an API-style upload (its record is in the upload index too) of a 12 MP photo
    before = request_counter.units_snapshot(units.table)
    pid = units.upload(f"uploads/{uuid.uuid4().hex}", photo(4000, 3000, "JPEG"), "image/jpeg")
    # WHEN it succeeds
    assert units.wait_done(pid)["status"] == "SUCCEEDED"
    after = request_counter.units_snapshot(units.table)
    spent = {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0)}
    # THEN Register's claim wrote 1 unit each in the table, ByStatus and UploadKeys, and
    # Publish's success 1 in the table and 2 in ByStatus (its key changed: a delete and a put
    # of an entry under 1 KB); UploadKeys projects keys only, so the success leaves it alone
    writes = {(action, target): v for (action, unit, target), v in spent.items() if unit == "WRU"}
    assert writes == {
        ("PutItem", "table"): 1,
        ("PutItem", "ByStatus"): 1,
        ("PutItem", "UploadKeys"): 1,
        ("UpdateItem", "table"): 1,
        ("UpdateItem", "ByStatus"): 2,
    }
    # AND the reason: the record is under 1 KB by DynamoDB's rules
    item = units.client("dynamodb").get_item(
        TableName=units.table, Key={"processingId": {"S": pid}}
    )["Item"]
    assert dynamodb_units.item_bytes(item) < 1024, item


def test_the_smaller_record_shows_every_field_through_the_cli(units: Pipeline) -> None:
    # GIVEN a successful API-style upload
    upload_id = uuid.uuid4().hex
    pid = units.upload(f"uploads/{upload_id}", photo(1600, 1200, "JPEG"), "image/jpeg")
    units.wait_done(pid)
    # WHEN `imgpipe status` shows it, by its uploadId and by its processingId
    shown, by_pid = _status(units, upload_id), _status(units, pid)
    assert shown == by_pid
    # THEN every variant has its name, key, size, format, content type and URL
    assert shown["status"] == "SUCCEEDED" and shown["uploadId"] == upload_id
    assert {v["variant"] for v in shown["variants"]} == {"thumbnail", "medium", "large", "webp"}
    for variant in shown["variants"]:
        assert set(variant) == FIELDS, variant
        assert variant["key"].startswith(keys.image_prefix(pid)) and variant["bytes"] > 0
        assert variant["contentType"] == f"image/{variant['format']}"
        assert variant["url"].endswith(variant["key"])
    webp = next(v for v in shown["variants"] if v["variant"] == "webp")
    assert (webp["format"], webp["key"][-5:]) == ("webp", ".webp")
    # AND the image facts, unset ones null as before, and when it completed
    assert (shown["image"]["width"], shown["image"]["height"]) == (1600, 1200)
    assert "exif" in shown["image"] and shown["image"]["placeholder"]["thumbhash"]
    assert shown["completedAt"] == shown["updatedAt"] and shown["createdAt"]
    assert shown["manifestUrl"].endswith(keys.manifest_key(pid))
    assert shown["source"]["key"] == f"uploads/{upload_id}" and shown["source"]["versionId"]
    # AND the variants the record names are the ones the manifest names
    manifest = json.loads(
        units.client("s3")
        .get_object(Bucket=units.outputs["PublicBucketName"], Key=keys.manifest_key(pid))["Body"]
        .read()
    )
    assert [v["key"] for v in manifest["variants"]] == [v["key"] for v in shown["variants"]]


def test_a_rerun_and_a_duplicate_event_work_from_the_shorter_execution_input(
    units: Pipeline,
) -> None:
    # GIVEN an upload started by the upload rule with the event's bucket and object only
    pid = units.upload("uploads/short-input.png", photo(640, 480, "PNG"))
    first = units.wait_done(pid)
    sfn = units.client("stepfunctions")
    arn = first["executionArns"][0]
    if ":express:" not in arn:  # Standard: the input is in its history
        started = json.loads(sfn.describe_execution(executionArn=arn)["input"])
        assert set(started) == {"bucket", "object"}, started
    # WHEN S3 delivers the same event again, and an operator re-runs it
    again = {
        "bucket": {"name": units.outputs["PrivateBucketName"]},
        "object": {"key": "uploads/short-input.png", "version-id": first["source"]["versionId"]},
    }
    sfn.start_execution(stateMachineArn=units.outputs["StateMachineArn"], input=json.dumps(again))
    assert main(["rerun", pid, "--stack-name", units.stack_name,
                 "--endpoint-url", units.engine.endpoint_url]) == 0  # fmt: skip
    second = units.wait_done(pid, attempt=2)
    # THEN the duplicate changed nothing and the re-run is attempt 2 of the same record
    assert second["status"] == "SUCCEEDED" and second["attempt"] == 2
    assert len(second["executionArns"]) == 2 and second["executionArns"][1].endswith(f"{pid}-r2")
    assert second["completedAt"] == second["updatedAt"] > first["updatedAt"]
