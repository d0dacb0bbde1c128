"""Step Functions' ``lambda:invoke`` result as AWS returns it.

moto's interpreter keeps ``StatusCode``, ``ExecutedVersion`` and ``Payload`` of the Invoke
response. AWS's optimised integration also returns the SDK's view of the HTTP response,
``SdkHttpMetadata`` (every response header, as a list and as a value, and the status) and
``SdkResponseMetadata`` (the request id). A state that keeps the whole result carries them,
and the TaskSucceeded event (history, and an Express log at Level ALL) records them, so they
count in a state's 256 KiB and in the bytes CloudWatch Logs ingests.
"""

from __future__ import annotations

import contextvars
import email.utils
import json
import secrets
import uuid
from typing import Any

_installed = False
# The Invoke response's metadata, between moto's invoke and its result on the stack.
_metadata: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "lambda_task_metadata", default=None
)


def sdk_metadata(payload: Any, executed_version: str, request_id: str) -> dict[str, Any]:
    """The two fields AWS adds to a ``lambda:invoke`` result, in its header order."""
    body = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    trace = f"root=1-{secrets.token_hex(4)}-{secrets.token_hex(12)};sampled=0"
    headers = {
        "X-Amz-Executed-Version": executed_version,
        "x-amzn-Remapped-Content-Length": "0",
        "Connection": "keep-alive",
        "x-amzn-RequestId": request_id,
        "Content-Length": str(len(body.encode())),
        "Date": email.utils.formatdate(usegmt=True),
        "X-Amzn-Trace-Id": trace,
        "Content-Type": "application/json",
    }
    return {
        "SdkHttpMetadata": {
            "AllHttpHeaders": {name: [value] for name, value in headers.items()},
            "HttpHeaders": dict(sorted(headers.items(), key=lambda item: item[0].lower())),
            "HttpStatusCode": 200,
        },
        "SdkResponseMetadata": {"RequestId": request_id},
    }


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
        lambda_eval_utils as utils,
    )

    original_invoke = utils._invoke_lambda_function
    original_integration = utils.execute_lambda_function_integration

    def invoke(parameters: dict[str, Any], region: str, state_credentials: Any) -> Any:
        response = original_invoke(
            parameters=parameters, region=region, state_credentials=state_credentials
        )
        metadata = response.get("ResponseMetadata") or {}
        _metadata.set({"RequestId": metadata.get("RequestId") or str(uuid.uuid4())})
        return response

    def integration(
        env: Any, parameters: dict[str, Any], region: str, state_credentials: Any
    ) -> None:
        _metadata.set(None)
        original_integration(
            env=env, parameters=parameters, region=region, state_credentials=state_credentials
        )  # raises on a function error: AWS's error carries no metadata either
        found = _metadata.get()
        if found is None:  # a mocked response (TestState): nothing was invoked
            return
        result = env.stack.pop()
        added = sdk_metadata(
            result.get("Payload"), str(result.get("ExecutedVersion", "$LATEST")), found["RequestId"]
        )
        # AWS's order: ExecutedVersion, Payload, the SDK's metadata, StatusCode.
        ordered = {key: result[key] for key in ("ExecutedVersion", "Payload") if key in result}
        ordered.update(added)
        ordered.update({key: value for key, value in result.items() if key not in ordered})
        env.stack.append(ordered)

    utils._invoke_lambda_function = invoke  # type: ignore[assignment]
    utils.execute_lambda_function_integration = integration  # type: ignore[assignment]
    _installed = True
