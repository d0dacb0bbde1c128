"""The listing cursor: where a page stopped in each status, opaque to clients."""

from __future__ import annotations

import base64
import binascii
import json
from http import HTTPStatus

from imgpipe_core import records
from imgpipe_core.api.inputs import MAX_CURSOR_CHARS, bounded_json
from imgpipe_core.api.models import ApiError
from imgpipe_core.models import Status

_KEYS = {"processingId", "status", "updatedAt"}


def encode(positions: records.Positions | None) -> str | None:
    if not positions:
        return None
    plain = {status.value: position for status, position in positions.items()}
    return base64.urlsafe_b64encode(json.dumps(plain, sort_keys=True).encode()).decode()


def decode(cursor: str, status: Status | None) -> records.Positions:
    """Positions from a cursor this API issued for the same filter; anything else is refused."""
    invalid = ApiError(HTTPStatus.BAD_REQUEST, "INVALID_CURSOR", "cursor is not valid")
    if len(cursor) > MAX_CURSOR_CHARS:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4))
        plain = bounded_json(
            raw.decode("utf-8"), max_bytes=MAX_CURSOR_CHARS, what="cursor", code="INVALID_CURSOR"
        )
    except (binascii.Error, ValueError, UnicodeError) as error:
        raise invalid from error
    except ApiError as error:
        raise invalid from error
    allowed = {status.value} if status else {one.value for one in Status}
    if not (isinstance(plain, dict) and plain and set(plain) <= allowed):
        raise invalid
    positions: records.Positions = {}
    for name, position in plain.items():
        if position != records.LISTING_DONE and not _is_index_key(position, name):
            raise invalid
        positions[Status(name)] = position
    return positions


def _is_index_key(key: object, status: str) -> bool:
    return (
        isinstance(key, dict)
        and set(key) == _KEYS
        and all(
            # DynamoDB refuses empty key values with a 400 of its own: refuse them here.
            isinstance(value, dict)
            and list(value) == ["S"]
            and isinstance(value["S"], str)
            and value["S"] != ""
            for value in key.values()
        )
        and key["status"]["S"] == status
    )
