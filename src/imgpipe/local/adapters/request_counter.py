"""Counts every request the engine serves, by service and API action, as AWS would bill them.

``imgpipe cost`` reads the counts around real uploads. A client whose User-Agent carries
:data:`OBSERVER` (the cost command's own polling and history reads) is not counted: those calls
would not exist in production. The service comes from the SigV4 credential scope, the action
from the protocol (JSON ``X-Amz-Target``, query ``Action=``, Lambda's and S3's REST paths).
"""

from __future__ import annotations

import io
import re
import threading
from collections import Counter
from typing import Any
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import DomainDispatcherApplication

OBSERVER = "imgpipe-cost-observer"
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_LAMBDA_INVOKE = re.compile(r"^/2015-03-31/functions/[^/]+/invocations$")

_installed = False
_lock = threading.Lock()
_counts: Counter[tuple[str, str]] = Counter()


def install() -> None:
    global _installed
    if _installed:
        return
    original = DomainDispatcherApplication.__call__

    def counted(
        self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Any
    ) -> Any:
        if OBSERVER not in environ.get("HTTP_USER_AGENT", ""):
            found = classify(environ)
            if found is not None:
                with _lock:
                    _counts[found] += 1
        return original(self, environ, start_response)

    DomainDispatcherApplication.__call__ = counted  # type: ignore[method-assign]
    _installed = True


def snapshot() -> Counter[tuple[str, str]]:
    """A copy of the counts so far; subtract two snapshots to count a window."""
    with _lock:
        return Counter(_counts)


def classify(environ: dict[str, Any]) -> tuple[str, str] | None:
    """(service, action) of one request, or None for what is not an AWS API call."""
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "")
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", "")) or _SCOPE.search(
        "Credential=" + "".join(query.get("X-Amz-Credential", [""]))
    )
    content_type = environ.get("CONTENT_TYPE", "")
    if scope is None:
        # A presigned POST carries its signature in the form: an S3 upload.
        if method == "POST" and content_type.startswith("multipart/form-data"):
            return "s3", "PostObject"
        return None
    service = scope.group(1)
    if service == "s3":
        return service, _s3_action(method, path, query, environ)
    if service == "lambda":
        return service, "Invoke" if _LAMBDA_INVOKE.match(path) else f"{method} {path}"
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return service, target.rsplit(".", 1)[-1]
    if content_type.startswith("application/x-www-form-urlencoded"):
        action = parse_qs(_peek_body(environ)).get("Action", [""])[0]
        return service, action or "unknown"
    return service, f"{method} {path}"


def _s3_action(method: str, path: str, query: dict[str, list[str]], environ: dict[str, Any]) -> str:
    has_key = "/" in path.strip("/")
    if method == "PUT":
        if not has_key:
            return "CreateBucket" if not query else "PutBucketConfiguration"
        if "tagging" in query:
            return "PutObjectTagging"
        return "CopyObject" if environ.get("HTTP_X_AMZ_COPY_SOURCE") else "PutObject"
    if method == "POST":
        if "delete" in query:
            return "DeleteObjects"
        return "PostObject"
    if method == "DELETE":
        return "DeleteObject"
    if method == "HEAD":
        return "HeadObject" if has_key else "HeadBucket"
    if not has_key:
        if "versions" in query:
            return "ListObjectVersions"
        return "ListObjects" if not query or "list-type" in query or "prefix" in query else "Get"
    return "GetObjectTagging" if "tagging" in query else "GetObject"


def _peek_body(environ: dict[str, Any]) -> str:
    """The form body, put back so the service still reads it."""
    try:
        size = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return ""
    body = environ["wsgi.input"].read(size) if size else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body.decode("utf-8", "replace")
