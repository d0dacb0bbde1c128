"""The README's two-step upgrade of the status table's upload index (ByUpload, ALL, to
UploadKeys, KEYS_ONLY): the product template with LegacyUploadIndex=keep, then drop."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from imgpipe_core import records
from imgpipe_core.models import Source
from tests.integration.conftest import ROOT, localstack_xfail, stack_name

# One stack for the module, so one worker: keep → checks → drop → checks, in this order.
pytestmark = [pytest.mark.engine, pytest.mark.xdist_group("status-table-upgrade")]


@dataclass
class Upgrade:
    table: str
    upload_id: str
    pid: str
    first: dict[str, Any]  # indexes, API index and lookups after step 1
    second: dict[str, Any]  # the same after step 2


def _state(engine: Any, outputs: dict[str, str], upload_id: str) -> dict[str, Any]:
    described = engine.client("dynamodb").describe_table(TableName=outputs["StatusTableName"])
    config = engine.client("lambda").get_function_configuration(
        FunctionName=outputs["ApiFunctionName"]
    )
    index = config["Environment"]["Variables"]["UPLOAD_INDEX"]
    found = records.of_upload(outputs["StatusTableName"], upload_id, index)
    return {
        "indexes": {
            i["IndexName"]: i["Projection"]["ProjectionType"]
            for i in described["Table"].get("GlobalSecondaryIndexes", [])
        },
        "api_index": index,
        "found": [r.processing_id for r in found],
    }


@pytest.fixture(scope="module")
def upgrade(engine: Any) -> Upgrade:
    from imgpipe_core import clients

    clients.configure(engine.client)
    name = stack_name("tableupgrade")
    # GIVEN the stack in the upgrade's first step, and a record of an API upload
    first = engine.deploy(ROOT / "template.yaml", name, {"LegacyUploadIndex": "keep"}).outputs
    table, upload_id = first["StatusTableName"], uuid.uuid4().hex
    source = Source(bucket=first["PrivateBucketName"], key=f"uploads/{upload_id}", versionId="1")
    claim = records.claim(
        table, "abcdefghijklmnopqrstuvwxyz", source, "arn:aws:states:::execution:x:y",
        rerun=False, upload_id=upload_id, ttl_days=1,
    )  # fmt: skip
    before = _state(engine, first, upload_id)
    # WHEN it is deployed again with LegacyUploadIndex=drop (the default)
    second = engine.deploy(ROOT / "template.yaml", name, {"LegacyUploadIndex": "drop"}).outputs
    return Upgrade(
        table, upload_id, claim.job.processing_id, before, _state(engine, second, upload_id)
    )


def test_step_one_adds_the_keys_only_index_and_the_api_keeps_the_old_one(upgrade: Upgrade) -> None:
    assert upgrade.first["indexes"] == {
        "ByStatus": "ALL",
        "UploadKeys": "KEYS_ONLY",
        "ByUpload": "ALL",
    }
    assert upgrade.first["api_index"] == "ByUpload" and upgrade.first["found"] == [upgrade.pid]
    found = records.find_by_upload(upgrade.table, upgrade.upload_id, "UploadKeys")
    assert found is not None and found.processing_id == upgrade.pid


def test_step_two_moves_the_api_to_the_keys_only_index(upgrade: Upgrade) -> None:
    assert upgrade.second["api_index"] == "UploadKeys"
    assert upgrade.second["found"] == [upgrade.pid]


@localstack_xfail(
    "AWS::DynamoDB::Table has no update handler (NotImplementedError in its resource provider); "
    "the stack still ends UPDATE_COMPLETE with the table unchanged"
)
def test_step_two_deletes_the_old_index(upgrade: Upgrade) -> None:
    assert upgrade.second["indexes"] == {"ByStatus": "ALL", "UploadKeys": "KEYS_ONLY"}
