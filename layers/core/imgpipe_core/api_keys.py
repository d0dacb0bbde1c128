"""API keys (ApiAuth=API_KEY): issued once, stored only as a SHA-256, checked in constant time.

A key is ``ipk_<keyId>_<secret>``: the keyId (16 hex) finds the record, the secret (32 random
bytes, URL-safe base64) is what proves possession. A SHA-256 of a 256-bit random secret needs
no salt or slow hash: nothing can be guessed from it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from imgpipe_core import key_store, records
from imgpipe_core.key_store import ApiKeyRecord

HEADER = "x-api-key"
_KEY = re.compile(r"^ipk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
# Compared against when the keyId is unknown, so a miss costs what a hit costs.
_NO_SECRET = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    key: str  # shown once, never stored
    record: ApiKeyRecord


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create(table: str, name: str = "") -> IssuedKey:
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    record = ApiKeyRecord(
        keyId=key_id,
        secretSha256=digest(secret),
        name=name,
        createdAt=records.iso(records.now()),
    )
    key_store.put_new(table, record)
    return IssuedKey(f"ipk_{key_id}_{secret}", record)


def parse(presented: str) -> tuple[str, str] | None:
    """(keyId, secret) of a key in the issued format, else None."""
    match = _KEY.match(presented)
    return (match.group(1), match.group(2)) if match else None


def matches(presented: str, record: ApiKeyRecord | None) -> bool:
    """Whether a presented key is the record's live key (constant time in the secret)."""
    parts = parse(presented)
    secret = parts[1] if parts else ""
    expected = record.secret_sha256 if record is not None else _NO_SECRET
    same = hmac.compare_digest(digest(secret), expected)
    return parts is not None and record is not None and record.revoked_at is None and same


def check(table: str, presented: str) -> ApiKeyRecord | None:
    """The live key record a presented key proves, else None."""
    parts = parse(presented)
    record = key_store.get(table, parts[0]) if parts else None
    return record if matches(presented, record) else None


def list_keys(table: str) -> list[ApiKeyRecord]:
    return key_store.all_keys(table)


def revoke(table: str, key_id: str) -> bool:
    return key_store.mark_revoked(table, key_id, records.iso(records.now()))
