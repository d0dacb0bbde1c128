"""Step Functions' two ways of invoking a Lambda function, as AWS runs them.

``arn:aws:states:::lambda:invoke`` (the optimised integration): moto's interpreter keeps
``StatusCode``, ``ExecutedVersion`` and ``Payload`` of the Invoke response. AWS's also returns
the SDK's view of the HTTP response, ``SdkHttpMetadata`` (every response header, as a list and
as a value, and the status) and ``SdkResponseMetadata`` (the request id). A state that keeps
the whole result carries them, and the TaskSucceeded event (history, and an Express log at
Level ALL) records them, so they count in a state's 256 KiB and in the bytes CloudWatch Logs
ingests.

The function's ARN as ``Resource`` (a Lambda task): the effective input is the event, the
result is the function's return value, and the history records ``LambdaFunctionScheduled``,
``LambdaFunctionStarted`` and ``LambdaFunctionSucceeded``/``Failed``/``TimedOut`` (moto's
interpreter does this). Where moto differs from AWS it is corrected here:

* a function error's ``Cause`` is the error payload as Lambda returned it (AWS histories
  recorded in 2024 show the Python runtime's ``{"errorMessage": ...}``, spaces included; moto
  re-serialises it compactly, which only the optimised integration does);
* Lambda refusing the Invoke (throttled, denied, its own failure) is ``Lambda.<error code>``
  for the errors the Invoke API models and ``Lambda.AWSLambdaException`` otherwise (the Java
  SDK's exception names: ``Lambda.TooManyRequestsException`` for a 429, an AccessDenied as
  ``Lambda.AWSLambdaException`` in public AWS reports), the cause worded
  ``<message> (Service: AWSLambda; Status Code: N; Error Code: C; Request ID: R; Proxy:
  null)``; moto reports every such refusal as ``Exception``, which no retrier matches.
"""

from __future__ import annotations

import contextvars
import email.utils
import functools
import io
import json
import secrets
import uuid
from typing import Any

_installed = False
# The Invoke response's metadata, between moto's invoke and its result on the stack.
_metadata: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "lambda_task_metadata", default=None
)
# The response payload as Lambda sent it, before moto parses it.
_raw_payload: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "lambda_task_raw_payload", default=None
)


@functools.cache
def _modelled_invoke_errors() -> frozenset[str]:
    """The error codes Lambda's Invoke API declares (the SDK has an exception class for each)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("lambda")
    return frozenset(shape.name for shape in model.operation_model("Invoke").error_shapes)


def service_error(code: str, message: str, status: int, request_id: str) -> tuple[str, str]:
    """(error, cause) of a Lambda task whose Invoke Lambda refused, as Step Functions words it."""
    error = f"Lambda.{code}" if code in _modelled_invoke_errors() else "Lambda.AWSLambdaException"
    details = (
        f"Service: AWSLambda; Status Code: {status}; Error Code: {code}; "
        f"Request ID: {request_id}; Proxy: null"
    )
    return error, f"{message} ({details})"


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
    original_from_payload = utils._from_payload

    def from_payload(stream: Any) -> Any:
        data = stream.read()
        _raw_payload.set(data.decode("utf-8", errors="replace"))
        return original_from_payload(io.BytesIO(data))

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
        _raw_payload.set(None)
        try:
            original_integration(
                env=env, parameters=parameters, region=region, state_credentials=state_credentials
            )  # raises on a function error: AWS's error carries no metadata either
        except utils.LambdaFunctionErrorException as error:
            error.raw_payload = _raw_payload.get()  # type: ignore[attr-defined]
            raise
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

    utils._from_payload = from_payload  # type: ignore[assignment]
    utils._invoke_lambda_function = invoke  # type: ignore[assignment]
    utils.execute_lambda_function_integration = integration  # type: ignore[assignment]
    _install_lambda_task_errors(utils)
    _installed = True


def _install_lambda_task_errors(utils: Any) -> None:
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.api import HistoryEventType, LambdaFunctionFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
        CustomErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import (
        StateTaskLambda,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    original_from_error = StateTaskLambda._from_error

    def failed(env: Any, error: str, cause: str) -> Any:
        return FailureEvent(
            env=env,
            error_name=CustomErrorName(error),
            event_type=HistoryEventType.LambdaFunctionFailed,
            event_details=EventDetails(  # type: ignore[typeddict-item]
                lambdaFunctionFailedEventDetails=LambdaFunctionFailedEventDetails(
                    error=error, cause=cause
                )
            ),
        )

    def from_error(self: Any, env: Any, ex: Exception) -> Any:
        if isinstance(ex, ClientError):
            response = ex.response
            error, cause = service_error(
                str(response.get("Error", {}).get("Code", "")),
                str(response.get("Error", {}).get("Message", "")),
                int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)),
                str(response.get("ResponseMetadata", {}).get("RequestId", "")),
            )
            return failed(env, error, cause)
        raw = getattr(ex, "raw_payload", None)
        if isinstance(ex, utils.LambdaFunctionErrorException) and raw is not None:
            try:
                error = str(json.loads(raw)["errorType"])
            except (ValueError, KeyError, TypeError):
                error = "Exception"  # moto's name for it; what AWS names it is not established
            return failed(env, error, raw)
        return original_from_error(self, env, ex)

    StateTaskLambda._from_error = from_error  # type: ignore[method-assign]
