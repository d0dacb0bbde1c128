"""Domain errors, named once.

Lambda reports an unhandled exception's class name as the error type, and the ASL's
Retry/Catch blocks match on exactly these names, so renaming a class is a contract change.
Business rejections (a bad upload) are *not* exceptions at the handler boundary: they are
returned as data (see ``Rejection``) and routed by a Choice state.
"""

from __future__ import annotations

from enum import StrEnum


class RejectionCode(StrEnum):
    """Machine-readable reasons an upload is refused. Stable: clients switch on them."""

    EMPTY_FILE = "EMPTY_FILE"
    FILE_TOO_LARGE = "FILE_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    IMAGE_TOO_LARGE = "IMAGE_TOO_LARGE"  # a side or the pixel count is over the limit
    TOO_MANY_FRAMES = "TOO_MANY_FRAMES"  # animation over the frame or total-pixel budget
    DECOMPRESSION_BOMB = "DECOMPRESSION_BOMB"
    CORRUPT_IMAGE = "CORRUPT_IMAGE"
    SOURCE_NOT_FOUND = "SOURCE_NOT_FOUND"  # object deleted/overwritten before we read it


class ImageRejected(Exception):
    """Raised inside the domain layer; handlers turn it into a ``Rejection`` value."""

    def __init__(self, code: RejectionCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ImgpipeError(Exception):
    """Base of the deterministic failures the state machine catches (never retried)."""


class RenderError(ImgpipeError):
    """A variant could not be produced from an image that passed validation."""


class VariantNotFound(ImgpipeError):
    """The task asked for a variant the catalogue does not define."""


class PublishError(ImgpipeError):
    """Publishing the staged variants failed in a way a retry will not fix."""


class StagedVariantMissing(ImgpipeError):
    """A variant listed in the task input is not in staging (lost or tampered with)."""


class TransientError(Exception):
    """A failure worth retrying (throttling, a dependency briefly unavailable)."""
