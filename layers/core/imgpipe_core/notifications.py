"""Notify: one EventBridge event and one SNS message per outcome of an attempt."""

from __future__ import annotations

import json
from typing import Any

from imgpipe_core import records
from imgpipe_core.clients import client
from imgpipe_core.config import Settings
from imgpipe_core.models import NotifyInput, NotifyOutput, Status

EVENT_SOURCE = "imgpipe"
DETAIL_TYPES = {
    Status.SUCCEEDED: "Image Processed",
    Status.REJECTED: "Image Rejected",
    Status.FAILED: "Image Processing Failed",
}


def build_detail(task: NotifyInput) -> dict[str, Any]:
    job = task.job
    detail: dict[str, Any] = {
        "processingId": job.processing_id,
        "status": task.outcome.value,
        "attempt": job.attempt,
        "uploadId": job.upload_id,
        "source": {"bucket": job.source.bucket, "key": job.source.key},
        "executionArn": job.execution_arn,
    }
    if task.published:
        detail["variants"] = {v.variant: v.url for v in task.published.variants}
        detail["manifestUrl"] = task.published.manifest_url
    if task.rejection:
        detail["rejection"] = {"code": task.rejection.code.value, "message": task.rejection.message}
    if task.failure:
        detail["error"] = {"error": task.failure.get("Error"), "cause": task.failure.get("Cause")}
    return detail


def notify(task: NotifyInput, settings: Settings) -> NotifyOutput:
    job = task.job
    # Exactly once per outcome of an attempt, even if this task is retried or re-entered.
    if not records.mark_notified(settings.table_name, job.processing_id, job.attempt, task.outcome):
        return NotifyOutput(sent=False)
    detail = build_detail(task)
    try:
        result = client("events").put_events(
            Entries=[
                {
                    "Source": EVENT_SOURCE,
                    "DetailType": DETAIL_TYPES[task.outcome],
                    "Detail": json.dumps(detail),
                    "EventBusName": settings.event_bus_name,
                    "Resources": [job.execution_arn],
                }
            ]
        )
        if result.get("FailedEntryCount"):
            raise RuntimeError(f"EventBridge refused the event: {result['Entries']}")
        message_id = None
        if settings.topic_arn:
            message_id = client("sns").publish(
                TopicArn=settings.topic_arn,
                Subject=f"{DETAIL_TYPES[task.outcome]}: {job.processing_id}"[:100],
                Message=json.dumps(detail),
                MessageAttributes={
                    "status": {"DataType": "String", "StringValue": task.outcome.value}
                },
            )["MessageId"]
    except Exception:
        records.unmark_notified(settings.table_name, job.processing_id)  # let a retry send it
        raise
    return NotifyOutput(
        sent=True, eventId=result["Entries"][0].get("EventId"), messageId=message_id
    )
