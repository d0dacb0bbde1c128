"""S3 access for the functions: bounded downloads, variant and manifest writes, cleanup."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from imgpipe_core.clients import client, create
from imgpipe_core.models import Source

CHUNK = 1024 * 1024
# Content-addressed keys never change content, so caches may keep them forever.
IMMUTABLE = "public, max-age=31536000, immutable"


class ObjectMissing(Exception):
    """The object (version) is gone: deleted or overwritten before we read it."""


class ObjectTooLarge(Exception):
    """More bytes than the caller allowed: refused from GetObject's Content-Length before a
    byte of the body is read, or, when S3 says nothing of the size, once the bytes read exceed
    it (Validate turns it into FILE_TOO_LARGE, Resize into RenderError)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"object is {size} bytes")
        self.size = size


def _version(source: Source) -> dict[str, str]:
    return {"VersionId": source.version_id} if source.version_id else {}


def head(source: Source) -> dict[str, Any]:
    try:
        return dict(
            client("s3").head_object(Bucket=source.bucket, Key=source.key, **_version(source))
        )
    except ClientError as error:
        # Not 403: the role may list the bucket, so S3 says 404 for a missing key and 403
        # only for a real AccessDenied, which must fail the step rather than reject the upload.
        if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NoSuchVersion"):
            raise ObjectMissing(f"s3://{source.bucket}/{source.key}") from error
        raise


@contextlib.contextmanager
def downloaded(source: Source, max_bytes: int) -> Iterator[Path]:
    """Stream the exact version to /tmp, refusing more than ``max_bytes``: from the response's
    Content-Length before the body is read (no HeadObject first: one request fewer per upload),
    and by counting the bytes read, whatever the header said."""
    try:
        response = client("s3").get_object(Bucket=source.bucket, Key=source.key, **_version(source))
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchKey", "NoSuchVersion", "404"):
            raise ObjectMissing(f"s3://{source.bucket}/{source.key}") from error
        raise
    body = response["Body"]
    if int(response.get("ContentLength") or 0) > max_bytes:
        body.close()  # closing the stream unread: the rest is never transferred
        raise ObjectTooLarge(int(response["ContentLength"]))
    handle, name = tempfile.mkstemp(prefix="imgpipe-", suffix=".src")
    path = Path(name)
    try:
        written = 0
        with os.fdopen(handle, "wb") as out:
            for chunk in iter(lambda: body.read(CHUNK), b""):
                written += len(chunk)
                if written > max_bytes:
                    raise ObjectTooLarge(written)
                out.write(chunk)
        yield path
    finally:
        body.close()
        path.unlink(missing_ok=True)


def tag(source: Source, tags: dict[str, str]) -> None:
    client("s3").put_object_tagging(
        Bucket=source.bucket,
        Key=source.key,
        Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]},
        **_version(source),
    )


def put_variant(
    bucket: str, key: str, data: bytes, content_type: str, metadata: dict[str, str]
) -> None:
    """A rendered variant at its final, content-addressed key (``keys.public_key``)."""
    client("s3").put_object(
        Bucket=bucket,
        Key=key,
        Body=data,
        ContentType=content_type,
        CacheControl=IMMUTABLE,
        Metadata=metadata,
    )


def get_json(bucket: str, key: str) -> Any:
    """A JSON document, or None if there is no such object."""
    try:
        body = client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise
    with contextlib.closing(body):
        return json.loads(body.read())


def put_json(
    bucket: str, key: str, document: Any, *, indent: int | None = None, cache_control: str = ""
) -> None:
    client("s3").put_object(
        Bucket=bucket,
        Key=key,
        Body=json.dumps(document, indent=indent).encode(),
        ContentType="application/json",
        **({"CacheControl": cache_control} if cache_control else {}),
    )


def delete_keys(bucket: str, keys: list[str]) -> None:
    for start in range(0, len(keys), 1000):
        batch = keys[start : start + 1000]
        if batch:
            client("s3").delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
            )


def list_keys(bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    paginator = client("s3").get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return keys


@cache
def _presigner() -> Any:
    # SigV4: botocore's default for presigned POST is still SigV2, which new regions refuse.
    return create("s3", Config(signature_version="s3v4"))


def presign_post(
    bucket: str, key: str, fields: dict[str, str], conditions: list[Any], expires: int
) -> tuple[str, dict[str, str]]:
    """(url, form fields) of a presigned POST for exactly ``key``."""
    post = _presigner().generate_presigned_post(
        Bucket=bucket, Key=key, Fields=fields, Conditions=conditions, ExpiresIn=expires
    )
    return str(post["url"]), dict(post["fields"])


def head_key(bucket: str, key: str) -> dict[str, Any] | None:
    """The latest version's metadata, or ``None`` if there is no such object."""
    try:
        return head(Source(bucket=bucket, key=key))
    except ObjectMissing:
        return None


def delete_all_versions(bucket: str, key: str) -> None:
    s3 = client("s3")
    doomed: list[dict[str, str]] = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
        for entry in page.get("Versions", []) + page.get("DeleteMarkers", []):
            if entry["Key"] == key:
                doomed.append({"Key": key, "VersionId": entry["VersionId"]})
    for start in range(0, len(doomed), 1000):
        s3.delete_objects(
            Bucket=bucket, Delete={"Objects": doomed[start : start + 1000], "Quiet": True}
        )


def put_upload(bucket: str, key: str, data: bytes, content_type: str, filename: str) -> None:
    """An original received through the API itself, stored as a presigned POST would store it
    (same key scheme, Content-Type and ``x-amz-meta-filename``), so the pipeline cannot tell."""
    client("s3").put_object(
        Bucket=bucket,
        Key=key,
        Body=data,
        ContentType=content_type,
        Metadata={"filename": filename},
    )
