"""Apply Original Retention: what becomes of an original once its variants are published."""

from __future__ import annotations

import datetime

from imgpipe_core import records, storage
from imgpipe_core.config import Settings
from imgpipe_core.models import Job, RetentionOutput


def apply(job: Job, settings: Settings) -> RetentionOutput:
    """Runs only after Record Success: a rejected or failed upload keeps its original."""
    if settings.original_retention == "delete":
        # Every version and delete marker of the key: nothing of the original is left behind.
        storage.delete_all_versions(job.source.bucket, job.source.key)
        deleted = records.iso(records.now())
        records.mark_original(settings.table_name, job, deleted_at=deleted)
        return RetentionOutput(deletedAt=deleted)
    if settings.original_retention == "expire":
        try:
            created = storage.head(job.source)["LastModified"]
        except storage.ObjectMissing:
            return RetentionOutput()
        expires = records.iso(lifecycle_expiry(created, settings.original_expire_days))
        records.mark_original(settings.table_name, job, expires_at=expires)
        return RetentionOutput(expiresAt=expires)
    return RetentionOutput()


def lifecycle_expiry(created: datetime.datetime, days: int) -> datetime.datetime:
    """When an S3 lifecycle rule of ``days`` expires an object: creation + days, rounded up
    to the next midnight UTC (S3 User Guide, "Lifecycle configuration elements")."""
    due = created.astimezone(datetime.UTC) + datetime.timedelta(days=days)
    midnight = due.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight if midnight == due else midnight + datetime.timedelta(days=1)
