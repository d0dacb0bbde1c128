"""The README's two-step upgrade of the status table's upload index (ByUpload, ALL, to
UploadKeys, KEYS_ONLY): the product template with LegacyUploadIndex=keep, then the default."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from imgpipe_core import records
from imgpipe_core.models import Source
from tests.integration.conftest import ROOT, stack_name

pytestmark = [pytest.mark.engine, pytest.mark.xdist_group("status-table-upgrade")]


def _indexes(engine: Any, table: str) -> dict[str, str]:
    described = engine.client("dynamodb").describe_table(TableName=table)["Table"]
    return {
        index["IndexName"]: index["Projection"]["ProjectionType"]
        for index in described.get("GlobalSecondaryIndexes", [])
    }


def _upload_index(engine: Any, outputs: dict[str, str]) -> str:
    config = engine.client("lambda").get_function_configuration(
        FunctionName=outputs["ApiFunctionName"]
    )
    return str(config["Environment"]["Variables"]["UPLOAD_INDEX"])


def test_the_upload_index_upgrades_in_two_updates(engine: Any) -> None:
    from imgpipe_core import clients

    clients.configure(engine.client)
    name = stack_name("tableupgrade")
    # GIVEN the stack in the upgrade's first step: both upload indexes, the API on the old one
    first = engine.deploy(ROOT / "template.yaml", name, {"LegacyUploadIndex": "keep"}).outputs
    table = first["StatusTableName"]
    assert _indexes(engine, table) == {
        "ByStatus": "ALL",
        "UploadKeys": "KEYS_ONLY",
        "ByUpload": "ALL",
    }
    assert _upload_index(engine, first) == "ByUpload"
    # AND a record of an API upload, found through either index
    upload_id = uuid.uuid4().hex
    source = Source(bucket=first["PrivateBucketName"], key=f"uploads/{upload_id}", versionId="v1")
    pid = records.claim(
        table, "abcdefghijklmnopqrstuvwxyz", source, "arn:aws:states:::execution:x:y",
        rerun=False, upload_id=upload_id, ttl_days=1,
    ).job.processing_id  # fmt: skip
    for index in ("ByUpload", "UploadKeys"):
        found = records.find_by_upload(table, upload_id, index)
        assert found is not None and found.processing_id == pid
    # WHEN it is deployed again with LegacyUploadIndex=drop (the default)
    second = engine.deploy(ROOT / "template.yaml", name, {"LegacyUploadIndex": "drop"}).outputs
    # THEN the old index is gone, the API reads the new one, and the record is still found
    assert _indexes(engine, table) == {"ByStatus": "ALL", "UploadKeys": "KEYS_ONLY"}
    assert _upload_index(engine, second) == "UploadKeys"
    assert [r.processing_id for r in records.of_upload(table, upload_id)] == [pid]
