"""Function configuration: environment variables parsed once, at cold start, into typed models."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from imgpipe_core.catalogue import Catalogue, load_catalogue
from imgpipe_core.imaging import Limits


class Settings(BaseModel):
    """Every knob a function reads. Unset values keep the defaults of a production deployment."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    table_name: str = Field(default="", alias="TABLE_NAME")
    private_bucket: str = Field(default="", alias="PRIVATE_BUCKET")
    public_bucket: str = Field(default="", alias="PUBLIC_BUCKET")
    public_base_url: str = Field(default="", alias="PUBLIC_BASE_URL")
    upload_prefix: str = Field(default="uploads/", alias="UPLOAD_PREFIX")
    event_bus_name: str = Field(default="default", alias="EVENT_BUS_NAME")
    topic_arn: str = Field(default="", alias="TOPIC_ARN")
    resize_concurrency: int = Field(default=0, ge=0, le=40, alias="RESIZE_CONCURRENCY")
    record_ttl_days: int = Field(default=365, ge=1, alias="RECORD_TTL_DAYS")
    # Variant catalogue: JSON text (stack parameter) or empty for the packaged default.
    variants_json: str = Field(default="", alias="VARIANTS_JSON")
    max_bytes: int = Field(default=25 * 1024 * 1024, ge=1, alias="MAX_UPLOAD_BYTES")
    max_side: int = Field(default=10_000, ge=1, alias="MAX_IMAGE_SIDE")
    max_pixels: int = Field(default=40_000_000, ge=1, alias="MAX_IMAGE_PIXELS")
    max_frames: int = Field(default=200, ge=1, alias="MAX_FRAMES")
    max_total_pixels: int = Field(default=400_000_000, ge=1, alias="MAX_TOTAL_PIXELS")
    # Where a photo was taken is personal data: on the record only when the stack says so.
    exif_gps: bool = Field(default=False, alias="EXIF_GPS")
    # HTTP API (functions/api): re-runs, CDN invalidation on delete, presigned POST lifetime,
    # and the origins its CORS answers (comma-separated, "*" for any).
    state_machine_arn: str = Field(default="", alias="STATE_MACHINE_ARN")
    # Register (WorkflowType=EXPRESS only): where attempts nobody finished are dead-lettered.
    dead_letter_queue_url: str = Field(default="", alias="DEAD_LETTER_QUEUE_URL")
    # The pipeline's execution log group: an Express execution's trace is read from it.
    pipeline_log_group: str = Field(default="", alias="PIPELINE_LOG_GROUP")
    # Its LoggingConfiguration level: below ALL, a successful Express execution has no trace.
    pipeline_log_level: Literal["ALL", "ERROR", "FATAL", "OFF"] = Field(
        default="ALL", alias="PIPELINE_LOG_LEVEL"
    )
    backfill_state_machine_arn: str = Field(default="", alias="BACKFILL_STATE_MACHINE_ARN")
    cdn_distribution_id: str = Field(default="", alias="CDN_DISTRIBUTION_ID")
    presign_expires: int = Field(default=300, ge=1, le=604800, alias="PRESIGN_EXPIRES")
    allowed_origins: str = Field(default="*", alias="ALLOWED_ORIGINS")
    # Where clients reach the API (stack parameter ApiBaseUrl): statusUrl is built from it,
    # never from request headers; empty = statusUrl is a path relative to the API.
    api_base_url: str = Field(default="", alias="API_BASE_URL", pattern=r"^(https?://[^\s]+)?$")
    # The index of records by upload id: ByUpload only while a stack upgrades to UploadKeys.
    upload_index: Literal["UploadKeys", "ByUpload"] = Field(
        default="UploadKeys", alias="UPLOAD_INDEX"
    )
    # Delivery=private (stack parameters Delivery, SignedUrlExpiresSeconds): variant URLs are
    # CloudFront signed URLs with the key pair of the CDN's key group, the private key in SSM.
    delivery: Literal["public", "private"] = Field(default="public", alias="DELIVERY")
    signed_url_expires: int = Field(default=3600, ge=1, le=604800, alias="SIGNED_URL_EXPIRES")
    cdn_key_pair_id: str = Field(default="", alias="CDN_KEY_PAIR_ID")
    cdn_signing_key_parameter: str = Field(default="", alias="CDN_SIGNING_KEY_PARAMETER")
    # OriginalRetention: what Apply Original Retention does once the variants are published.
    original_retention: Literal["keep", "delete", "expire"] = Field(
        default="keep", alias="ORIGINAL_RETENTION"
    )
    original_expire_days: int = Field(default=30, ge=1, alias="ORIGINAL_EXPIRE_DAYS")

    @property
    def limits(self) -> Limits:
        return Limits(
            max_bytes=self.max_bytes,
            max_side=self.max_side,
            max_pixels=self.max_pixels,
            max_frames=self.max_frames,
            max_total_pixels=self.max_total_pixels,
        )

    @property
    def catalogue(self) -> Catalogue:
        return _catalogue(self.variants_json)

    @field_validator("variants_json")
    @classmethod
    def _valid_catalogue(cls, variants_json: str) -> str:
        # A bad VariantCatalogue fails the cold start, not the first upload; the packaged
        # default (empty) is checked by the tests, so a default deployment does not pay for it.
        if variants_json.strip():
            _catalogue(variants_json)
        return variants_json


@lru_cache(maxsize=4)
def _catalogue(variants_json: str) -> Catalogue:
    if not variants_json.strip():
        return load_catalogue()
    return Catalogue.model_validate(json.loads(variants_json))


def load_settings() -> Settings:
    """Parse the environment (call once per cold start; tests call it after setting env)."""
    return Settings.model_validate(dict(os.environ))


class AuthorizerSettings(BaseModel):
    """functions/authorizer (ApiAuth=API_KEY): the key table is all it reads."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    api_key_table: str = Field(min_length=1, alias="API_KEY_TABLE")


def load_authorizer_settings() -> AuthorizerSettings:
    return AuthorizerSettings.model_validate(dict(os.environ))
