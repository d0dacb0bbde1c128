"""``POST /backfills`` and ``GET /backfills/{id}``: start and follow bulk re-processing."""

from __future__ import annotations

from http import HTTPStatus

from imgpipe_core import backfill, records
from imgpipe_core.api.models import ApiError, BackfillBody, BackfillStarted, BackfillView
from imgpipe_core.config import Settings
from imgpipe_core.errors import VariantNotFound
from imgpipe_core.models import dump


def start(settings: Settings, body: BackfillBody) -> BackfillStarted:
    try:
        since = body.since_utc()
    except (ValueError, OverflowError) as error:
        raise ApiError(HTTPStatus.BAD_REQUEST, "INVALID_SINCE", f"since: {error}") from error
    request = backfill.BackfillRequest(
        statuses=body.statuses,
        since=records.iso(since) if since else None,
        variants=body.variants,
    )
    try:
        backfill.check_variants(request, settings)
    except VariantNotFound as error:
        raise ApiError(HTTPStatus.BAD_REQUEST, "UNKNOWN_VARIANT", str(error)) from error
    backfill_id = backfill.start(settings.backfill_state_machine_arn, request)
    base = settings.api_base_url.rstrip("/")
    return BackfillStarted(backfillId=backfill_id, statusUrl=f"{base}/backfills/{backfill_id}")


def progress(settings: Settings, backfill_id: str) -> BackfillView:
    found = backfill.progress(settings.backfill_state_machine_arn, backfill_id)
    if found is None:
        raise ApiError(HTTPStatus.NOT_FOUND, "NOT_FOUND", f"no backfill {backfill_id!r}")
    return BackfillView.model_validate(dump(found))
