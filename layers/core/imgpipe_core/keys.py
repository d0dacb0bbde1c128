"""The key scheme: processing ids, and where uploads and published variants live."""

from __future__ import annotations

import base64
import hashlib
import re

# Execution names allow 80 chars of [0-9A-Za-z_-]; ids are 26 chars, leaving room for "-r<n>".
PROCESSING_ID = re.compile(r"^[a-z2-7]{26}$")
UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")


def processing_id(bucket: str, key: str, version_id: str | None) -> str:
    """Deterministic per object *version*: S3 delivers events at least once."""
    material = "\n".join((bucket, key, version_id or "null")).encode()
    digest = hashlib.sha256(material).digest()
    return base64.b32encode(digest).decode().lower()[:26]


def execution_name(pid: str, attempt: int) -> str:
    return pid if attempt <= 1 else f"{pid}-r{attempt}"


def upload_id_from_key(key: str, upload_prefix: str = "uploads/") -> str | None:
    """The server-generated id of an API upload (``uploads/<id>``), if the key has one."""
    rest = key.removeprefix(upload_prefix)
    candidate = rest.split("/", 1)[0].split(".", 1)[0]
    return candidate if rest != key and UPLOAD_ID.match(candidate) else None


def image_prefix(pid: str) -> str:
    """Everything published for one image: its variants and its manifest."""
    return f"images/{pid}/"


def public_key(pid: str, variant: str, checksum: str, extension: str) -> str:
    # Content-addressed: a re-run that changes a variant publishes a new key, so a CDN can
    # cache every key forever and never serve a stale variant; the same bytes, the same key.
    return f"{image_prefix(pid)}{variant}-{checksum[:16]}.{extension}"


def manifest_key(pid: str) -> str:
    return f"{image_prefix(pid)}manifest.json"


def public_url(base_url: str, key: str) -> str:
    """Where a published key is read (the CDN or PublicBaseUrl): derived, never stored, so the
    record and the state carry keys only and a new domain needs no rewrite of old records."""
    return f"{base_url.rstrip('/')}/{key}"
