"""Backfill selection and requests, and the engine's tolerated-failure rule."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from pydantic import ValidationError

from imgpipe.local.adapters.distributed_map import exceeds_threshold
from imgpipe_core import backfill
from imgpipe_core.models import Source, Status
from tests.helpers import moto_table

TABLE = "records"


@pytest.fixture
def table() -> Iterator[str]:
    with moto_table(TABLE, "processingId", status_index=True) as name:
        yield name


def put(table: str, pid: str, status: Status, updated: str, *, source: bool = True) -> None:
    item = {"processingId": pid, "status": status.value, "attempt": 2, "updatedAt": updated}
    if source:
        item["source"] = Source(bucket="b", key=f"uploads/{pid}").model_dump(exclude_none=True)
    boto3.resource("dynamodb").Table(table).put_item(Item=item)


def test_selection_takes_the_statuses_asked_since_the_date_oldest_first(table: str) -> None:
    put(table, "old", Status.SUCCEEDED, "2026-10-01T00:00:00.000Z")
    put(table, "new", Status.SUCCEEDED, "2026-11-02T00:00:00.000Z")
    put(table, "newer", Status.FAILED, "2026-11-03T00:00:00.000Z")
    put(table, "rejected", Status.REJECTED, "2026-11-04T00:00:00.000Z")
    put(table, "sourceless", Status.SUCCEEDED, "2026-11-05T00:00:00.000Z", source=False)
    request = backfill.BackfillRequest(
        statuses=[Status.SUCCEEDED, Status.FAILED], since="2026-11-01"
    )
    chosen = backfill.selected(table, request)
    assert [(item.processing_id, item.attempt) for item in chosen] == [("new", 2), ("newer", 2)]
    everything = backfill.selected(table, backfill.BackfillRequest())
    assert [item.processing_id for item in everything] == ["old", "new"]


@pytest.mark.parametrize(
    "fields", [{"statuses": []}, {"statuses": ["DONE"]}, {"since": "last week"}]
)
def test_a_bad_request_is_refused(fields: dict) -> None:
    with pytest.raises(ValidationError):
        backfill.BackfillRequest.model_validate(fields)


def test_the_mode_follows_the_variants() -> None:
    assert backfill.BackfillRequest().mode == "rerun"
    assert backfill.BackfillRequest(variants=["square"]).mode == "render"


@pytest.mark.parametrize(
    ("total", "failed", "percentage", "count", "exceeded"),
    [
        (4, 0, 0.0, 0, False),  # nothing failed
        (4, 1, 0.0, 0, True),  # the defaults tolerate no failure
        (4, 1, 25.0, 0, False),  # exactly at the percentage is tolerated
        (4, 2, 25.0, 0, True),
        (4, 2, 0.0, 2, False),  # exactly at the count is tolerated
        (4, 3, 0.0, 2, True),
        (4, 3, 100.0, 2, True),  # either threshold exceeded fails the run
    ],
)
def test_tolerated_failure_threshold(
    total: int, failed: int, percentage: float, count: int, exceeded: bool
) -> None:
    assert exceeds_threshold(total, failed, percentage, count) is exceeded
