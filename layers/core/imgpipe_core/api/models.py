"""The API's wire shapes: request bodies, responses and the one error shape.

These models are the contract: the resolver validates requests against them and the OpenAPI
document (api/openapi.json) is generated from them.
"""

from __future__ import annotations

import datetime
from http import HTTPStatus
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from imgpipe_core import models
from imgpipe_core.models import Status
from imgpipe_core.responsive import Responsive
from imgpipe_core.trace import StateSpan

ContentType = Literal[
    "image/jpeg", "image/png", "image/webp", "image/gif", "image/heic", "image/heif", "image/avif"
]
CONTENT_TYPES: Final[tuple[str, ...]] = get_args(ContentType)
PENDING: Final = "PENDING"  # uploaded (or about to be), not registered by the pipeline yet
ImageStatus = Literal["PENDING", "PROCESSING", "SUCCEEDED", "REJECTED", "FAILED"]
assert set(ImageStatus.__args__) == {PENDING, *Status}  # type: ignore[attr-defined]


class ApiError(Exception):
    """Answered as ``{"error": {"code", "message"}}`` with ``status``."""

    def __init__(self, status: HTTPStatus, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def not_found(ident: str) -> ApiError:
    return ApiError(HTTPStatus.NOT_FOUND, "NOT_FOUND", f"no image with id {ident!r}")


class ApiModel(BaseModel):
    # defer_build: a request validates one or two of these; building every schema at import
    # was ~25 ms of the API's cold start (as for imgpipe_core.models.Model).
    model_config = ConfigDict(populate_by_name=True, extra="ignore", defer_build=True)


class ErrorDetail(ApiModel):
    code: str
    message: str


class ErrorBody(ApiModel):
    error: ErrorDetail


class GatewayMessage(ApiModel):
    """API Gateway's own refusals (before the function): ``{"message": ...}``."""

    message: str


class UploadRequest(ApiModel):
    # Unknown fields are refused: the contract says exactly what a request may hold.
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    # Strict: JSON true, "1000" and 1000.0 are not sizes.
    filename: str = Field(min_length=1, max_length=1024)
    content_type: ContentType = Field(alias="contentType")
    size: int = Field(strict=True, ge=1, description="Bytes; at most the response's maxBytes.")


class PresignedPost(ApiModel):
    url: str
    fields: dict[str, str]


class UploadResponse(ApiModel):
    upload_id: str = Field(alias="uploadId")
    key: str
    upload: PresignedPost
    expires_at: str = Field(alias="expiresAt")
    max_bytes: int = Field(alias="maxBytes")
    status_url: str = Field(alias="statusUrl")


class DirectUploadResponse(ApiModel):
    upload_id: str = Field(alias="uploadId")
    key: str
    size: int
    max_bytes: int = Field(alias="maxBytes")
    status_url: str = Field(alias="statusUrl")


class Rejection(ApiModel):
    code: str
    message: str | None = None


class Failure(ApiModel):
    error: str | None = None
    cause: str | None = None


class PublishedVariant(models.PublishedVariant):
    """A published variant with the URL it is read at (derived from its key on every answer;
    signed in Delivery=private)."""

    url: str


class ImageView(ApiModel):
    status: ImageStatus
    processing_id: str | None = Field(default=None, alias="processingId")
    upload_id: str | None = Field(default=None, alias="uploadId")
    attempt: int | None = None
    filename: str | None = None
    source_key: str | None = Field(default=None, alias="sourceKey")
    source_size: int | None = Field(default=None, alias="sourceSize")
    image: dict[str, Any] | None = None  # the original's dimensions, format, frames...
    variants: list[PublishedVariant] = Field(default_factory=list)
    responsive: Responsive | None = None  # srcset lists and a <picture> snippet
    manifest_url: str | None = Field(default=None, alias="manifestUrl")
    # OriginalRetention: when every version of the original was deleted / is due to expire.
    original_deleted_at: str | None = Field(default=None, alias="originalDeletedAt")
    original_expires_at: str | None = Field(default=None, alias="originalExpiresAt")
    rejection: Rejection | None = None
    failure: Failure | None = None
    execution_arns: list[str] = Field(default_factory=list, alias="executionArns")
    created_at: str | None = Field(default=None, alias="createdAt")
    updated_at: str | None = Field(default=None, alias="updatedAt")
    completed_at: str | None = Field(default=None, alias="completedAt")


class ImageList(ApiModel):
    items: list[ImageView]
    cursor: str | None = None


class RerunResponse(ApiModel):
    started: bool
    processing_id: str = Field(alias="processingId")
    execution_arn: str | None = Field(default=None, alias="executionArn")
    reason: str | None = None


class TraceResponse(ApiModel):
    processing_id: str = Field(alias="processingId")
    execution_arn: str = Field(alias="executionArn")
    status: str
    start: str | None = None
    end: str | None = None
    states: list[StateSpan]
    error: str | None = None
    cause: str | None = None
    # Express only: the log level the states were read at (below ALL: failure events only).
    log_level: str | None = Field(default=None, alias="logLevel")


class Health(ApiModel):
    status: Literal["ok"] = "ok"


BACKFILL_ID_PATTERN: Final = r"^backfill-[0-9]{8}T[0-9]{6}-[0-9a-f]{8}$"
VariantName = Annotated[str, Field(min_length=1, max_length=64)]


class BackfillBody(ApiModel):
    """``POST /backfills``: which stored images to re-process, and how."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    statuses: list[Status] = Field(
        default_factory=lambda: [Status.SUCCEEDED],
        min_length=1,
        max_length=len(Status),
        description="Records in these statuses (default SUCCEEDED).",
    )
    # A string, not a datetime: pydantic would take 0 or 1.7e9 as a Unix time, which the
    # contract does not offer. Parsed and put in UTC by ``since_utc``.
    since: str | None = Field(
        default=None,
        max_length=40,
        pattern=r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?)?$",
        description="Only records updated at or after this time (ISO 8601 date or date-time; "
        "UTC unless it has an offset).",
        examples=["2026-12-01", "2026-12-01T08:00:00Z"],
    )

    def since_utc(self) -> datetime.datetime | None:
        """``since`` as a naive UTC time; ValueError when it names no real moment after 1970."""
        if self.since is None:
            return None
        moment = datetime.datetime.fromisoformat(self.since.replace("Z", "+00:00"))
        if moment.tzinfo is not None:
            moment = moment.astimezone(datetime.UTC).replace(tzinfo=None)
        if moment.year < 1970:
            raise ValueError("since must be after 1970")
        return moment

    variants: list[VariantName] = Field(
        default_factory=list,
        max_length=20,
        description="Render only these catalogue variants and merge them into each manifest; "
        "empty: re-run each image through the pipeline (a new attempt).",
    )


class BackfillStarted(ApiModel):
    backfill_id: str = Field(alias="backfillId")
    status_url: str = Field(alias="statusUrl")


class BackfillView(ApiModel):
    """A backfill's progress: its execution's status and its Map Run's item counts."""

    backfill_id: str = Field(alias="backfillId")
    status: str
    total: int
    succeeded: int
    failed: int
    running: int
    pending: int
    error: str | None = None
    cause: str | None = None
    results: str | None = Field(default=None, description="s3:// of the ResultWriter manifest")
    redrives: int = Field(
        default=0, alias="redriveCount", description="Times it was resumed (redriven)"
    )
