"""Notify: an EventBridge event and an SNS message per outcome of an attempt, at least once.

At least once, not exactly once: a Notify killed, timed out or failing between its two sends is
retried and sends again (an exactly-once marker would instead lose the notification whenever
the process died after setting it). Every message carries ``notificationId``, the same on each
retry of the same outcome of the same attempt, for consumers to deduplicate on.
"""

from __future__ import annotations

import json
from typing import Any

from imgpipe_core import keys
from imgpipe_core.clients import client
from imgpipe_core.config import Settings
from imgpipe_core.errors import TransientError
from imgpipe_core.models import NotifyInput, NotifyOutput, Status

EVENT_SOURCE = "imgpipe"
DETAIL_TYPES = {
    Status.SUCCEEDED: "Image Processed",
    Status.REJECTED: "Image Rejected",
    Status.FAILED: "Image Processing Failed",
}


def notification_id(task: NotifyInput) -> str:
    """Stable across retries of one outcome of one attempt; a re-run has a new attempt."""
    return f"{task.job.processing_id}:{task.job.attempt}:{task.outcome.value}"


def build_detail(task: NotifyInput, *, private: bool = False, base_url: str = "") -> dict[str, Any]:
    """The event's detail, also the SNS message. ``private`` (Delivery=private): no URLs, only
    keys: an unsigned URL is refused by the CDN, and a signed one would give every subscriber
    access and go stale; consumers ask ``GET /images/{id}`` for signed URLs. Public URLs are
    derived here from the keys and ``base_url`` (PublicBaseUrl): the state carries keys only."""
    job = task.job
    detail: dict[str, Any] = {
        "notificationId": notification_id(task),
        "processingId": job.processing_id,
        "status": task.outcome.value,
        "attempt": job.attempt,
        "uploadId": job.upload_id,
        "source": {"bucket": job.source.bucket, "key": job.source.key},
        "executionArn": job.execution_arn,
    }
    if task.published:
        detail["renditions"] = {
            v.variant: v.model_dump(by_alias=True, exclude={"variant"})
            for v in task.published.variants
        }
        detail["manifestKey"] = task.published.manifest_key
        if not private:
            detail["variants"] = {
                v.variant: keys.public_url(base_url, v.key) for v in task.published.variants
            }
            detail["manifestUrl"] = keys.public_url(base_url, task.published.manifest_key)
    if task.rejection:
        detail["rejection"] = {"code": task.rejection.code.value, "message": task.rejection.message}
    if task.failure:
        detail["error"] = {"error": task.failure.get("Error"), "cause": task.failure.get("Cause")}
    return detail


def notify(task: NotifyInput, settings: Settings) -> NotifyOutput:
    job = task.job
    detail = build_detail(
        task, private=settings.delivery == "private", base_url=settings.public_base_url
    )
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
        # PutEvents answers 200 with per-entry errors (throttling among them): retry the task.
        raise TransientError(f"EventBridge refused the event: {result['Entries']}")
    message_id = None
    if settings.topic_arn:
        message_id = client("sns").publish(
            TopicArn=settings.topic_arn,
            Subject=f"{DETAIL_TYPES[task.outcome]}: {job.processing_id}"[:100],
            Message=json.dumps(detail),
            MessageAttributes={
                "status": {"DataType": "String", "StringValue": task.outcome.value},
                "notificationId": {"DataType": "String", "StringValue": detail["notificationId"]},
            },
        )["MessageId"]
    return NotifyOutput(
        sent=True, eventId=result["Entries"][0].get("EventId"), messageId=message_id
    )
