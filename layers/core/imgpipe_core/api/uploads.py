"""POST /uploads: a presigned POST for a server-generated key; POST /uploads/direct: the bytes
in the request body, stored under a key generated the same way."""

from __future__ import annotations

import datetime
import re
import unicodedata
import uuid
from http import HTTPStatus
from typing import Any

from imgpipe_core import records, storage
from imgpipe_core.api.models import (
    CONTENT_TYPES,
    ApiError,
    DirectUploadResponse,
    PresignedPost,
    UploadRequest,
    UploadResponse,
)
from imgpipe_core.config import Settings

_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")

# Direct uploads arrive inside the Lambda event: API Gateway base64-encodes a binary body
# (4 bytes per 3), and a synchronous Invoke takes at most 6 MiB of event, whose envelope
# (headers within the 10 KiB HTTP API quota, requestContext) is kept a reserve of 32 KiB.
LAMBDA_SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024
EVENT_ENVELOPE_RESERVE_BYTES = 32 * 1024
DIRECT_MAX_BYTES = (LAMBDA_SYNC_PAYLOAD_BYTES - EVENT_ENVELOPE_RESERVE_BYTES) * 3 // 4


def sanitise_filename(name: str) -> str:
    """Only for metadata: ASCII letters, digits and ``._ -``; never part of a key."""
    base = re.split(r"[\\/]", name)[-1]
    ascii_name = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    cleaned = _FILENAME_UNSAFE.sub("_", ascii_name).strip(" .")[:200]
    return cleaned or "upload"


def status_url(settings: Settings, upload_id: str) -> str:
    """From configuration only: a request's Host or X-Forwarded-* headers are the client's."""
    return f"{settings.api_base_url.rstrip('/')}/images/{upload_id}"


def _check_size(size: int, limit: int) -> None:
    if size > limit:
        raise ApiError(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            "FILE_TOO_LARGE",
            f"size {size} is over the limit of {limit} bytes",
        )


def new_upload(settings: Settings) -> tuple[str, str]:
    """(uploadId, key): the one key scheme of every upload, from the server only."""
    upload_id = uuid.uuid4().hex
    return upload_id, f"{settings.upload_prefix}{upload_id}"


def direct_limit(settings: Settings) -> int:
    return min(settings.max_bytes, DIRECT_MAX_BYTES)


def presign_upload(request: UploadRequest, settings: Settings) -> UploadResponse:
    _check_size(request.size, settings.max_bytes)
    upload_id, key = new_upload(settings)
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


def direct_upload(
    data: bytes, content_type: str, filename: str | None, settings: Settings
) -> DirectUploadResponse:
    """Store the body as the original; the pipeline then validates it like any upload."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in CONTENT_TYPES:
        raise ApiError(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            f"Content-Type must be one of {', '.join(CONTENT_TYPES)}",
        )
    if not data:
        raise ApiError(HTTPStatus.BAD_REQUEST, "INVALID_SIZE", "the body holds no image")
    limit = direct_limit(settings)
    _check_size(len(data), limit)
    upload_id, key = new_upload(settings)
    storage.put_upload(
        settings.private_bucket, key, data, media_type, sanitise_filename(filename or "")
    )
    return DirectUploadResponse(
        uploadId=upload_id,
        key=key,
        size=len(data),
        maxBytes=limit,
        statusUrl=status_url(settings, upload_id),
    )
