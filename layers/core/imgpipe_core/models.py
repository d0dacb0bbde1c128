"""Task inputs and outputs: the contract between the ASL and the functions.

Everything here is small metadata. Image bytes never travel through state data; they stay in
S3 and tasks pass keys.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    field_serializer,
    model_serializer,
    model_validator,
)

from imgpipe_core import keys
from imgpipe_core.catalogue import OutputFormat
from imgpipe_core.errors import RejectionCode
from imgpipe_core.imaging import ImageInfo, MediaType


class Model(BaseModel):
    # defer_build: a handler validates two or three of these models; building the schema of
    # every one at import was cold-start time (each is built on its first use instead).
    model_config = ConfigDict(populate_by_name=True, extra="ignore", defer_build=True)


class Status(StrEnum):
    PROCESSING = "PROCESSING"
    SUCCEEDED = "SUCCEEDED"
    REJECTED = "REJECTED"
    FAILED = "FAILED"


class Source(Model):
    """One version of one uploaded object in the private bucket."""

    bucket: str
    key: str
    version_id: str | None = Field(default=None, alias="versionId")
    size: int | None = None
    etag: str | None = None


# -- Register ----------------------------------------------------------------------------------


class S3ObjectDetail(Model):
    key: str
    size: int | None = None
    etag: str | None = None
    version_id: str | None = Field(default=None, alias="version-id")


class S3BucketDetail(Model):
    name: str


class ObjectCreatedDetail(Model):
    """The execution input of automatic runs: the S3 event's ``bucket`` and ``object`` (the
    upload rule's InputTransformer keeps only these, so the execution log holds no envelope)."""

    bucket: S3BucketDetail
    object: S3ObjectDetail

    def to_source(self) -> Source:
        obj = self.object
        return Source(
            bucket=self.bucket.name,
            key=obj.key,
            versionId=obj.version_id,
            size=obj.size,
            etag=obj.etag,
        )


class ObjectCreatedEvent(Model):
    """EventBridge "Object Created" from S3, whole: the input of executions started before the
    upload rule had its InputTransformer (their dead letters are still redriven)."""

    id: str | None = None
    detail_type: str = Field(alias="detail-type")
    source: str
    time: str | None = None
    detail: ObjectCreatedDetail

    def to_source(self) -> Source:
        return self.detail.to_source()


class RerunRequest(Model):
    """Execution input of a manual re-run (``imgpipe rerun``, the API, DLQ redrive)."""

    processing_id: str = Field(alias="processingId")
    source: Source
    reason: str = "manual"


class RegisterInput(Model):
    """What the ASL hands Register: the raw execution input plus the execution's identity."""

    input: dict[str, Any]
    execution_arn: str = Field(alias="executionArn")
    start_time: str | None = Field(default=None, alias="startTime")
    # Set when Register itself failed: the ASL then asks it to release the claim, if any.
    failure: dict[str, Any] | None = None


class Job(Model):
    """Identity of one processing attempt; every later task receives it."""

    processing_id: str = Field(alias="processingId")
    attempt: int = 1
    source: Source
    # Register records it, Notify reports it (from $$.Execution.Id); the ASL's $job leaves it out.
    execution_arn: str | None = Field(default=None, alias="executionArn")
    duplicate: bool = False
    upload_id: str | None = Field(default=None, alias="uploadId")
    # Set on a re-run of a record whose original OriginalRetention=delete removed: Validate
    # then says why the source is gone.
    original_deleted_at: str | None = Field(default=None, alias="originalDeletedAt")


class ReleaseOutput(Model):
    """The attempt a failed registration ended as FAILED; None when it never claimed one."""

    job: Job | None = None


# -- Validate ---------------------------------------------------------------------------------


class Rejection(Model):
    code: RejectionCode
    message: str


class ValidateInput(Model):
    job: Job


class ValidateOutput(Model):
    valid: bool
    image: ImageInfo | None = None
    variants: list[str] = Field(default_factory=list)
    rejection: Rejection | None = None
    concurrency: int = 0  # the Map's MaxConcurrency (0 = all variants at once)

    @field_serializer("image")
    def _image(self, image: ImageInfo | None, info: SerializationInfo) -> Any:
        # Without its unset facts (``exif``/``placeholder``: null): $image is logged with every
        # task that reads it and stored as the record's imageJson.
        if image is None:
            return None
        return image.model_dump(mode=info.mode, exclude_none=True)


# -- Resize -----------------------------------------------------------------------------------


class PublishedVariant(Model):
    """A variant as Resize renders it and the record and Publish's output hold it: its key, no
    URL (readers derive it from the key: ``keys.public_url``, signed on read in
    Delivery=private), nothing a later state does not read (the sha256 is in the key and the
    object's metadata): each copy of it is logged several times in an Express execution."""

    variant: str
    key: str
    width: int
    height: int
    bytes: int
    format: str
    content_type: str = Field(alias="contentType")

    def stored(self, prefix: str) -> StoredVariant:
        """The variant as Publish's output and the record carry it: ``[file, width, height,
        bytes]``, ``file`` its key under the image's ``prefix`` (``<variant>-<hash>.<ext>``);
        name, format and content type follow from it. Short, so the status item stays under
        1 KB (each started KB is one more write unit, in the table and in ByStatus); the dict
        form only for a variant the short form would not give back exactly."""
        entry: list[str | int] = [
            self.key.removeprefix(prefix),
            self.width,
            self.height,
            self.bytes,
        ]
        try:
            if PublishedVariant.from_stored(entry, prefix) == self:
                return entry
        except ValueError:
            pass
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def from_stored(cls, entry: StoredVariant, prefix: str) -> PublishedVariant:
        """Either form :meth:`stored` writes (and the dict of records written before it)."""
        if isinstance(entry, dict):
            return cls.model_validate(entry)
        file, width, height, size = entry
        name, _, rest = str(file).rpartition("-")
        extension = rest.rpartition(".")[2]
        output = OutputFormat("jpeg" if extension == "jpg" else extension)
        return cls(
            variant=name,
            key=f"{prefix}{file}",
            width=int(width),
            height=int(height),
            bytes=int(size),
            format=output.value,
            contentType=output.content_type,
        )


StoredVariant = list[str | int] | dict[str, Any]


class ResizeInput(Model):
    """What rendering reads: the source's location, the variant, and the media type validation
    sniffed (rendering re-reads every other fact from the header it checks again)."""

    job: Job
    variant: str
    media_type: MediaType | None = Field(default=None, alias="mediaType")


# -- Publish ----------------------------------------------------------------------------------


class PublishInput(Model):
    job: Job
    # As each Resize returned it: the short stored form, its key under the job's image prefix.
    variants: list[PublishedVariant]
    image: ImageInfo | None = None  # the source's facts, for the manifest

    @model_validator(mode="before")
    @classmethod
    def _expand(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("variants"), list):
            return data
        job = data.get("job")
        pid = job.processing_id if isinstance(job, Job) else (job or {}).get("processingId")
        if not isinstance(pid, str):
            return data
        return {**data, "variants": _expanded(data["variants"], keys.image_prefix(pid))}


class PublishOutput(Model):
    variants: list[PublishedVariant]
    manifest_key: str = Field(alias="manifestKey")

    @property
    def prefix(self) -> str:
        return _manifest_prefix(self.manifest_key)

    @model_validator(mode="before")
    @classmethod
    def _expand(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        manifest_key = data.get("manifestKey", data.get("manifest_key"))
        entries = data.get("variants")
        if not isinstance(manifest_key, str) or not isinstance(entries, list):
            return data
        return {**data, "variants": _expanded(entries, _manifest_prefix(manifest_key))}

    @model_serializer(mode="wrap")
    def _compact(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        # The task's JSON (the state, the execution log, Record Success's variantsJson) in the
        # short form; Python-mode dumps keep the models.
        shown = handler(self)
        if info.mode_is_json() and isinstance(shown, dict) and "variants" in shown:
            shown["variants"] = [v.stored(self.prefix) for v in self.variants]
        return shown


def _expanded(entries: list[Any], prefix: str) -> list[Any]:
    """Short stored entries (lists) as models; dicts and models are left to validation."""
    return [PublishedVariant.from_stored(e, prefix) if isinstance(e, list) else e for e in entries]


def _manifest_prefix(manifest_key: str) -> str:
    """The image's prefix (``images/<id>/``) from its manifest's key."""
    return manifest_key.rpartition("/")[0] + "/"


class WithdrawInput(Model):
    """Withdraw Unpublished Variants, on the failure path: the Publish function's other task."""

    action: Literal["withdraw"]
    job: Job


class WithdrawOutput(Model):
    withdrawn: int  # objects deleted: variants of this image that no manifest names


# -- Notify -----------------------------------------------------------------------------------


class RetentionInput(Model):
    job: Job


class RetentionOutput(Model):
    """What Apply Original Retention did: deleted the original now, or when it will expire."""

    deleted_at: str | None = Field(default=None, alias="deletedAt")
    expires_at: str | None = Field(default=None, alias="expiresAt")


class NotifyInput(Model):
    job: Job
    # The ASL passes $$.Execution.Id here rather than in every task's job.
    execution_arn: str | None = Field(default=None, alias="executionArn")
    outcome: Status
    published: PublishOutput | None = None
    rejection: Rejection | None = None
    failure: dict[str, Any] | None = None  # {"Error": ..., "Cause": ...} from a Catch

    @model_validator(mode="after")
    def _job_execution(self) -> NotifyInput:
        if self.job.execution_arn is None and self.execution_arn:
            self.job = self.job.model_copy(update={"execution_arn": self.execution_arn})
        return self


class NotifyOutput(Model):
    sent: bool
    event_id: str | None = Field(default=None, alias="eventId")
    message_id: str | None = Field(default=None, alias="messageId")


def dump(model: BaseModel, *, exclude_none: bool = True) -> dict[str, Any]:
    """The JSON shape a task returns. Keep ``None`` where the ASL selects the field by path."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=exclude_none)
