"""S3 and DynamoDB faults from the engine's plan, answered in front of moto's server.

A faulted request never reaches moto: it gets the service's own throttling response (S3's
``503 SlowDown``, DynamoDB's ``ProvisionedThroughputExceededException``), which botocore retries
like the real thing, so only a run of failures longer than the client's retries reaches code.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from moto.core.exceptions import JsonRESTError
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

from imgpipe.local import faults as plan
from imgpipe.local.faults import CRASH, TIMEOUT, TOO_MANY_REQUESTS, LambdaFault, sleep_ms
from imgpipe.local.runtime import InvokeResult

_installed = False
_SERVICE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/")


def install() -> None:
    global _installed
    if _installed:
        return
    original = DomainDispatcherApplication.__call__

    def __call__(
        self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Any
    ) -> Any:
        active = plan.active()
        if active.active:
            refused = _refusal(active, environ)
            if refused is not None:
                status, headers, body = refused
                start_response(status, headers)
                return [body]
        return original(self, environ, start_response)

    DomainDispatcherApplication.__call__ = __call__  # type: ignore[method-assign]
    _installed = True


def _refusal(
    faults: Any, environ: dict[str, Any]
) -> tuple[str, list[tuple[str, str]], bytes] | None:
    match = _SERVICE.search(environ.get("HTTP_AUTHORIZATION", ""))
    service = match.group(1) if match else ""
    request_id = uuid.uuid4().hex.upper()[:16]
    if service == "s3":
        bucket, operation = _s3_operation(environ)
        if not faults.for_request("s3", operation, bucket):
            return None
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
            "<Message>Please reduce your request rate.</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        ).encode()
        headers = [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)]
        return "503 Slow Down", [*headers, ("Content-Length", str(len(body)))], body
    if service == "dynamodb":
        operation = environ.get("HTTP_X_AMZ_TARGET", "").rpartition(".")[2]
        if not faults.for_request("dynamodb", operation, _table(environ)):
            return None
        body = json.dumps(
            {
                "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "message": "The level of configured provisioned throughput for the table was "
                "exceeded. Consider increasing your provisioning level with the UpdateTable API.",
            }
        ).encode()
        headers = [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", request_id)]
        return "400 Bad Request", [*headers, ("Content-Length", str(len(body)))], body
    return None


def _s3_operation(environ: dict[str, Any]) -> tuple[str, str]:
    """(bucket, the S3 operation's name) of a path-style request, as far as rules need it."""
    path = unquote(environ.get("PATH_INFO", "/")).lstrip("/")
    bucket, _, key = path.partition("/")
    method = environ.get("REQUEST_METHOD", "GET")
    query = environ.get("QUERY_STRING", "")
    if not key:
        names = {
            "GET": "ListObjectsV2" if "list-type=2" in query else "ListObjects",
            "POST": "DeleteObjects" if "delete" in query else "PostObject",
        }
        return bucket, names.get(method, f"{method.title()}Bucket")
    if method == "PUT" and "HTTP_X_AMZ_COPY_SOURCE" in environ:
        return bucket, "CopyObject"
    if "tagging" in query:
        return bucket, {"GET": "GetObjectTagging", "PUT": "PutObjectTagging"}.get(method, method)
    names = {"GET": "GetObject", "HEAD": "HeadObject", "PUT": "PutObject", "DELETE": "DeleteObject"}
    return bucket, names.get(method, f"{method.title()}Object")


def _table(environ: dict[str, Any]) -> str:
    """The TableName of a DynamoDB request, read without consuming the body moto still needs."""
    import io

    length = int(environ.get("CONTENT_LENGTH") or 0)
    stream = environ.get("wsgi.input")
    if not length or stream is None:
        return ""
    body = stream.read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    try:
        return str(json.loads(body).get("TableName", ""))
    except (ValueError, AttributeError):
        return ""


class TooManyRequests(JsonRESTError):
    """Invoke's own throttling answer (HTTP 429): the handler never runs."""

    code = 429

    def __init__(self) -> None:
        super().__init__("TooManyRequestsException", "Rate Exceeded.")


def invoke_with_faults(
    rules: list[LambdaFault], run: Callable[[], InvokeResult], timeout_s: float
) -> InvokeResult:
    """Run one invocation under the rules that fired for it (see ``Faults.for_invocation``)."""
    for rule in rules:
        if rule.phase == "before":
            sleep_ms(rule.latency_ms)
    error = next((rule for rule in rules if rule.error), None)
    if error is not None and error.error == TOO_MANY_REQUESTS:
        raise TooManyRequests()
    result = run() if error is None or error.phase == "after" else None
    for rule in rules:
        if rule.phase == "after":
            sleep_ms(rule.latency_ms)  # the handler's work is done; its reply is late
    if error is None:
        assert result is not None
        return result
    request_id = result.request_id if result else str(uuid.uuid4())
    if error.error == CRASH:
        message = f"RequestId: {request_id} Error: Runtime exited with error: signal: killed"
    elif error.error == TIMEOUT:
        message = f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds"
    else:
        message = f"injected fault ({error.phase} the handler ran)"
    payload = json.dumps({"errorType": error.error, "errorMessage": message}).encode()
    return InvokeResult(
        payload=payload,
        function_error="Unhandled",
        request_id=request_id,
        log_tail=result.log_tail if result else "",
        duration_ms=result.duration_ms if result else 0.0,
        max_memory_mb=result.max_memory_mb if result else 0,
        error_type=error.error,
    )
