"""Bounds on what a client sends, checked before anything parses it."""

from __future__ import annotations

import base64
import binascii
import json
import re
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

from imgpipe_core import keys
from imgpipe_core.api.models import ApiError

# An upload request is well under 2 KiB; API Gateway itself would accept 10 MB.
MAX_BODY_BYTES = 128 * 1024
# Deeper than any request or cursor this API defines; keeps json and pydantic off deep recursion.
MAX_DEPTH = 8
MAX_CURSOR_CHARS = 4096
MAX_ID_CHARS = 32
# An uploadId or a processingId (keys.UPLOAD_ID, keys.PROCESSING_ID): nothing else is looked up.
ID_PATTERN = f"^({keys.UPLOAD_ID.pattern[1:-1]}|{keys.PROCESSING_ID.pattern[1:-1]})$"

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")


def nesting_depth(text: str) -> int:
    """How deeply arrays and objects nest in a JSON text (brackets inside strings ignored)."""
    depth = deepest = 0
    for bracket in _BRACKET.findall(_STRING.sub('""', text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def bounded_json(text: str | bytes, *, max_bytes: int, what: str, code: str) -> Any:
    """Parse JSON no larger than ``max_bytes`` and no deeper than MAX_DEPTH, or refuse it."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if len(text) > max_bytes:
        raise ApiError(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            "BODY_TOO_LARGE" if what == "body" else code,
            f"{what} is over {max_bytes} bytes",
        )
    if nesting_depth(text) > MAX_DEPTH:
        raise ApiError(HTTPStatus.BAD_REQUEST, code, f"{what} nests deeper than {MAX_DEPTH}")
    try:
        return json.loads(text)
    except ValueError as error:
        raise ApiError(HTTPStatus.BAD_REQUEST, code, f"{what} must be JSON") from error


def parse_body(text: str | bytes) -> Any:
    """The resolver's JSON body parser: bounded, and every refusal a 4xx in our error shape."""
    return bounded_json(text, max_bytes=MAX_BODY_BYTES, what="body", code="INVALID_JSON")


def raw_body(event: BaseProxyEvent) -> bytes:
    """The request body as bytes: API Gateway base64-encodes a binary one."""
    body = event.body or ""
    if not event.is_base64_encoded:
        return body.encode()
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ApiError(HTTPStatus.BAD_REQUEST, "INVALID_BODY", "body is not base64") from error
