"""POST /uploads: a presigned POST for a server-generated key."""

from __future__ import annotations

import datetime
import re
import unicodedata
import uuid
from http import HTTPStatus
from typing import Any

from imgpipe_core import records, storage
from imgpipe_core.api.models import ApiError, PresignedPost, UploadRequest, UploadResponse
from imgpipe_core.config import Settings

_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


def sanitise_filename(name: str) -> str:
    """Only for metadata: ASCII letters, digits and ``._ -``; never part of a key."""
    base = re.split(r"[\\/]", name)[-1]
    ascii_name = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    cleaned = _FILENAME_UNSAFE.sub("_", ascii_name).strip(" .")[:200]
    return cleaned or "upload"


def status_url(settings: Settings, upload_id: str) -> str:
    """From configuration only: a request's Host or X-Forwarded-* headers are the client's."""
    return f"{settings.api_base_url.rstrip('/')}/images/{upload_id}"


def presign_upload(request: UploadRequest, settings: Settings) -> UploadResponse:
    if request.size > settings.max_bytes:
        raise ApiError(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            "FILE_TOO_LARGE",
            f"size {request.size} is over the limit of {settings.max_bytes} bytes",
        )
    upload_id = uuid.uuid4().hex
    key = f"{settings.upload_prefix}{upload_id}"
    filename = sanitise_filename(request.filename)
    fields = {"Content-Type": request.content_type, "x-amz-meta-filename": filename}
    # S3 itself enforces these: the declared size and type are only a courtesy check.
    conditions: list[Any] = [
        ["content-length-range", 1, settings.max_bytes],
        {"Content-Type": request.content_type},
        {"x-amz-meta-filename": filename},
    ]
    url, signed = storage.presign_post(
        settings.private_bucket, key, fields, conditions, settings.presign_expires
    )
    expires = records.now() + datetime.timedelta(seconds=settings.presign_expires)
    return UploadResponse(
        uploadId=upload_id,
        key=key,
        upload=PresignedPost(url=url, fields=signed),
        expiresAt=records.iso(expires),
        maxBytes=settings.max_bytes,
        statusUrl=status_url(settings, upload_id),
    )
