"""Bulk re-processing (statemachine/backfill.asl.json): select, then one item at a time.

``write_manifest`` turns the status index into an S3 manifest the Distributed Map reads;
each child either re-runs its image through the one re-run path (``reruns.start_rerun``: a new
pipeline execution, a raised attempt) or, when variants are named, renders only those and
merges them into the image's manifest and record, leaving every other variant as it is.
"""

from __future__ import annotations

import datetime
import json
import uuid
from typing import Literal

from pydantic import Field, field_validator

from imgpipe_core import executions, publishing, records, reruns, storage
from imgpipe_core.config import Settings
from imgpipe_core.errors import BackfillItemSkipped, VariantNotFound
from imgpipe_core.imaging import ImageInfo
from imgpipe_core.models import Job, Model, PublishedVariant, PublishInput, ResizeInput, Status

MANIFEST_PREFIX = "backfills/"
Mode = Literal["rerun", "render"]


class BackfillRequest(Model):
    """What ``imgpipe backfill`` and ``POST /backfills`` ask for (the execution input)."""

    statuses: list[Status] = Field(default_factory=lambda: [Status.SUCCEEDED], min_length=1)
    since: str | None = None  # ISO date or timestamp: records updated at or after it
    variants: list[str] = Field(default_factory=list)

    @field_validator("since")
    @classmethod
    def _iso(cls, value: str | None) -> str | None:
        if value:
            datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return value

    @property
    def mode(self) -> Mode:
        return "render" if self.variants else "rerun"


class ManifestItem(Model):
    processing_id: str = Field(alias="processingId")
    attempt: int


class SelectInput(Model):
    request: BackfillRequest
    backfill_id: str = Field(alias="backfillId", min_length=1)


class ManifestWritten(Model):
    bucket: str
    key: str
    count: int
    mode: Mode
    variants: list[str]


class ItemInput(Model):
    processing_id: str = Field(alias="processingId")
    mode: Mode = "rerun"
    variants: list[str] = Field(default_factory=list)


class RerunOutput(Model):
    processing_id: str = Field(alias="processingId")
    # The attempt whose outcome the child waits for (the running one if one was in flight).
    expected_attempt: int = Field(alias="expectedAttempt")
    execution_arn: str | None = Field(default=None, alias="executionArn")
    already_running: bool = Field(default=False, alias="alreadyRunning")


class RenderOutput(Model):
    processing_id: str = Field(alias="processingId")
    rendered: list[str]
    merged: bool  # False: a newer attempt took the record meanwhile (it renders everything)


def selected(table: str, request: BackfillRequest) -> list[ManifestItem]:
    """The records a request names, oldest first, each once."""
    chosen: dict[str, records.ProcessingRecord] = {}
    for status in request.statuses:
        for record in records.select(table, status, request.since):
            if record.source is not None:
                chosen[record.processing_id] = record
    ordered = sorted(chosen.values(), key=lambda record: record.updated_at)
    return [ManifestItem(processingId=r.processing_id, attempt=r.attempt) for r in ordered]


def check_variants(request: BackfillRequest, settings: Settings) -> None:
    for name in request.variants:
        settings.catalogue.get(name)  # raises VariantNotFound, before anything is written


def manifest_key(backfill_id: str) -> str:
    return f"{MANIFEST_PREFIX}{backfill_id}/items.json"


def write_manifest(task: SelectInput, settings: Settings) -> ManifestWritten:
    check_variants(task.request, settings)
    items = selected(settings.table_name, task.request)
    key = manifest_key(task.backfill_id)
    storage.put_json(
        settings.private_bucket, key, [item.model_dump(by_alias=True) for item in items]
    )
    return ManifestWritten(
        bucket=settings.private_bucket,
        key=key,
        count=len(items),
        mode=task.request.mode,
        variants=task.request.variants,
    )


def rerun_item(item: ItemInput, settings: Settings, reason: str = "backfill") -> RerunOutput:
    before = records.get(settings.table_name, item.processing_id)
    if before is None:
        raise BackfillItemSkipped(f"{item.processing_id}: no such record")
    try:
        started = reruns.start_rerun(
            settings.table_name, settings.state_machine_arn, item.processing_id, reason=reason
        )
    except reruns.RecordNotFound as error:
        raise BackfillItemSkipped(f"{item.processing_id}: no source to re-run") from error
    return RerunOutput(
        processingId=item.processing_id,
        expectedAttempt=before.attempt if started.already_running else before.attempt + 1,
        executionArn=started.execution_arn,
        alreadyRunning=started.already_running,
    )


def render_item(item: ItemInput, settings: Settings) -> RenderOutput:
    # Imported here: the API and the other backfill steps use this module without Pillow.
    from imgpipe_core.resizing import resize

    record = records.get(settings.table_name, item.processing_id)
    if record is None or record.source is None or record.status is not Status.SUCCEEDED:
        state = record.status.value if record else "missing"
        raise BackfillItemSkipped(f"{item.processing_id}: {state}, only SUCCEEDED is rendered")
    for name in item.variants:
        settings.catalogue.get(name)
    if not item.variants:
        raise VariantNotFound("a render backfill names at least one variant")
    job = Job(
        processingId=record.processing_id,
        attempt=record.attempt,
        source=record.source,
        executionArn=record.execution_arns[-1] if record.execution_arns else "backfill",
        uploadId=record.upload_id,
    )
    image = ImageInfo.model_validate(record.image) if record.image else None
    rendered: list[PublishedVariant] = []
    try:
        for name in item.variants:
            media_type = image.media_type if image else None
            rendered.append(
                resize(ResizeInput(job=job, variant=name, mediaType=media_type), settings)
            )
        task = PublishInput(job=job, variants=rendered, image=image)
        published = publishing.merge(task, record.variants, settings)
    except Exception:
        # Resize wrote in place: what this item wrote and the manifest does not name goes.
        publishing.withdraw(record.processing_id, settings, only={v.key for v in rendered})
        raise
    merged = records.merge_variants(settings.table_name, record, published.variants)
    return RenderOutput(processingId=record.processing_id, rendered=item.variants, merged=merged)


# -- starting and following a backfill (CLI, API) ------------------------------------------


class Progress(Model):
    """A backfill as ``imgpipe backfill --wait`` and ``GET /backfills/{id}`` show it."""

    backfill_id: str = Field(alias="backfillId")
    status: str  # the backfill execution's: RUNNING | SUCCEEDED | FAILED | TIMED_OUT | ABORTED
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    running: int = 0
    pending: int = 0
    error: str | None = None
    cause: str | None = None
    results: str | None = None  # s3://… of the ResultWriter's manifest.json, once written
    redrives: int = Field(0, alias="redriveCount")  # times it was resumed (RedriveExecution)

    @property
    def done(self) -> int:
        return self.succeeded + self.failed


def new_backfill_id() -> str:
    moment = records.now().strftime("%Y%m%dT%H%M%S")
    return f"backfill-{moment}-{uuid.uuid4().hex[:8]}"


def start(state_machine_arn: str, request: BackfillRequest) -> str:
    """Start a backfill execution (its name is the backfill id); returns the id.

    Variant names are checked by Write Manifest against the stack's own catalogue.
    """
    backfill_id = new_backfill_id()
    payload = json.dumps(request.model_dump(mode="json", by_alias=True, exclude_none=True))
    if executions.start(state_machine_arn, backfill_id, payload) is None:
        raise RuntimeError(f"backfill {backfill_id} exists already")
    return backfill_id


def execution_arn(state_machine_arn: str, backfill_id: str) -> str:
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:')}:{backfill_id}"


def progress(state_machine_arn: str, backfill_id: str) -> Progress | None:
    arn = execution_arn(state_machine_arn, backfill_id)
    described = executions.describe(arn)
    if described is None:
        return None
    found = Progress(
        backfillId=backfill_id,
        status=described["status"],
        error=described.get("error"),
        cause=described.get("cause"),
        redriveCount=int(described.get("redriveCount") or 0),
    )
    output = json.loads(described.get("output") or "{}")
    details = (output.get("results") or {}).get("ResultWriterDetails")
    if details:
        found = found.model_copy(update={"results": f"s3://{details['Bucket']}/{details['Key']}"})
    total = int((output.get("manifest") or {}).get("count") or 0)
    counts = {"succeeded": 0, "failed": 0, "running": 0, "pending": 0, "total": total}
    for run in executions.map_runs(arn):
        items = run.get("itemCounts", {})
        counts["total"] = max(total, int(items.get("total", 0)))
        counts["succeeded"] += int(items.get("succeeded", 0))
        counts["failed"] += sum(int(items.get(k, 0)) for k in ("failed", "timedOut", "aborted"))
        counts["running"] += int(items.get("running", 0))
        counts["pending"] += int(items.get("pending", 0))
    return found.model_copy(update=counts)
