"""Domain errors, named once.

Lambda reports an unhandled exception's class name as the error type, and the ASL's
Retry/Catch blocks match on exactly these names, so renaming a class is a contract change.
Business rejections (a bad upload) are *not* exceptions at the handler boundary: they are
returned as data (see ``Rejection``) and routed by a Choice state.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import StrEnum
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


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
    """Publishing the rendered variants failed in a way a retry will not fix."""


class AttemptSuperseded(ImgpipeError):
    """A newer attempt owns the record: this one must not write its outcome (the ASL ends it
    as *Superseded By Another Attempt*)."""


class BackfillItemSkipped(ImgpipeError):
    """A backfill item cannot be processed: its record is gone or not in a state to render."""


class TransientError(Exception):
    """A failure worth retrying (throttling, a dependency briefly unavailable).

    Raised by :func:`surface_transient` for what botocore's own retries did not absorb, so
    the state machine's retrier takes over instead of failing the upload.
    """


@functools.lru_cache(maxsize=1)
def _retryable() -> tuple[frozenset[str], frozenset[str], frozenset[int]]:
    """botocore's own notion of "retry this" (standard retry mode), not a list of our own.

    Read when first needed: botocore.retries.standard loads botocore.utils (~10 MB of
    modules), which the image engine (render, validate, the bench) has no use for.
    """
    from botocore.retries import standard

    checkers = standard.ThrottledRetryableChecker, standard.TransientRetryableChecker
    throttled: list[str] = checkers[0]._THROTTLED_ERROR_CODES  # type: ignore[attr-defined]
    transient: list[str] = checkers[1]._TRANSIENT_ERROR_CODES  # type: ignore[attr-defined]
    status: list[int] = checkers[1]._TRANSIENT_STATUS_CODES  # type: ignore[attr-defined]
    return frozenset(throttled), frozenset(transient), frozenset(status) | {429}


def is_transient(error: BaseException) -> bool:
    from botocore.exceptions import ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    if isinstance(error, ClientError):
        throttled, transient, transient_status = _retryable()
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in throttled or code in transient or status in transient_status
    return isinstance(error, BotoConnectionError | HTTPClientError)


def surface_transient(handler: Callable[P, R]) -> Callable[P, R]:
    """Handler decorator: an AWS call that is still throttled or failing after botocore's
    retries leaves the handler as ``TransientError``, the name the ASL retries."""

    @functools.wraps(handler)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return handler(*args, **kwargs)
        except Exception as error:
            if is_transient(error):
                raise TransientError(f"{type(error).__name__}: {error}") from error
            raise

    return wrapper
