"""Lambda ``Invoke`` runs the deployed handler for real, in imgpipe's worker runtime.

moto's own Invoke needs Docker. Here every invocation path that reaches
``LambdaFunction.invoke`` (the API, Step Functions tasks, EventBridge targets) is routed to
:class:`imgpipe.local.runtime.LambdaRuntime`, with the function's deployed zip and its layers
unpacked once per code hash: the function sees exactly what was uploaded. Layers of other
accounts are accepted by CreateFunction but cannot be fetched here, so their packages are
missing, and an import of them fails as it would on Lambda without the layer.

The engine attaches its runtime with :func:`attach` (this module never imports the engine).
"""

from __future__ import annotations

import base64
import concurrent.futures
import datetime
import functools
import hashlib
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any

from moto.awslambda.models import LambdaFunction, lambda_backends
from moto.core.exceptions import JsonRESTError
from moto.core.responses import BaseResponse

from imgpipe.local import build
from imgpipe.local import faults as fault_plan
from imgpipe.local.adapters import faults
from imgpipe.local.runtime import FunctionSpec, LambdaRuntime, find_interpreter

_log = logging.getLogger(__name__)
_installed = False
# Lambda's quota on a synchronous invocation's request payload (6 MiB), in its own words.
SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024


class RequestTooLarge(JsonRESTError):
    code = 413

    def __init__(self) -> None:
        super().__init__(
            "RequestEntityTooLargeException",
            f"Request must be smaller than {SYNC_PAYLOAD_BYTES} bytes for the InvokeFunction "
            "operation",
        )


@dataclass(frozen=True)
class Host:
    """What Invoke needs from the running engine."""

    runtime: LambdaRuntime
    endpoint_url: str


_host: Host | None = None


def attach(host: Host | None) -> None:
    """Route Invoke to this engine's runtime (``None`` when the engine stops)."""
    global _host
    _host = host


def _current() -> Host:
    if _host is None:
        raise RuntimeError("no imgpipe engine is attached to the Lambda runtime adapter")
    return _host


def install() -> None:
    global _installed
    if _installed:
        return
    LambdaFunction.invoke = _invoke  # type: ignore[method-assign]
    LambdaFunction._get_layers_data = _get_layers_data  # type: ignore[method-assign,assignment]
    BaseResponse._enrich_response = staticmethod(_keep_request_id)  # type: ignore[method-assign]
    _installed = True


_original_enrich_response = BaseResponse._enrich_response


def _keep_request_id(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
    """moto gives every response a new x-amzn-requestid; Invoke's must stay the invocation's."""
    given = headers.get("x-amzn-requestid")
    headers, body = _original_enrich_response(headers, body)
    if given:
        headers["x-amzn-requestid"] = given
    return headers, body


_original_get_layers_data = LambdaFunction._get_layers_data


def _get_layers_data(self: LambdaFunction, arns: list[str]) -> list[Any]:
    local = [arn for arn in arns if arn.split(":")[4] == self.account_id]
    data: list[Any] = _original_get_layers_data(self, local)
    foreign = [{"Arn": arn, "CodeSize": 0} for arn in arns if arn not in local]
    return data + foreign


def _invoke(self: LambdaFunction, body: Any, request_headers: Any, response_headers: Any) -> bytes:
    invocation_type = request_headers.get("x-amz-invocation-type", "RequestResponse")
    if invocation_type == "DryRun":
        return b""
    payload = body.encode() if isinstance(body, str) else (body or b"{}")
    if invocation_type == "RequestResponse" and len(payload) > SYNC_PAYLOAD_BYTES:
        raise RequestTooLarge()
    host = _current()
    spec = function_spec(self, host)
    if invocation_type == "Event":
        # Asynchronous invoke: accepted now, run in the background (retries are out of scope).
        threading.Thread(target=host.runtime.invoke, args=(spec, payload), daemon=True).start()
        return b""
    rules = fault_plan.active().for_invocation(self.function_name, payload)
    if rules:
        run = functools.partial(host.runtime.invoke, spec, payload)
        result = faults.invoke_with_faults(rules, run, spec.timeout_s)
    else:
        result = host.runtime.invoke(spec, payload)
    if result.function_error:
        response_headers["x-amz-function-error"] = result.function_error
    response_headers["x-amz-executed-version"] = spec.version
    response_headers["x-amz-request-id"] = result.request_id
    # What boto3 reads as the RequestId: the handler's context.aws_request_id, as on Lambda.
    response_headers["x-amzn-requestid"] = result.request_id
    response_headers["x-amz-log-result"] = base64.b64encode(result.log_tail.encode()).decode()
    return bytes(result.payload)


def function_spec(fn: LambdaFunction, host: Host) -> FunctionSpec:
    runtime = fn.run_time or "python3.12"
    find_interpreter(runtime)  # raises InterpreterNotFoundError
    dirs = [build.unpack(fn.code_bytes, sha256=fn.code_sha_256)]
    backend = lambda_backends[fn.account_id][fn.region]
    for layer in fn.layers:
        version = backend.layers_versions_by_arn(layer["Arn"]) if layer.get("CodeSize") else None
        if version is None:
            _log.warning("%s: layer %s is not in this account; not provided", fn.function_name,
                         layer["Arn"])  # fmt: skip
            continue
        target = build.unpack(version.code_bytes, sha256=version.code_sha_256)
        # Lambda unpacks layers into /opt and puts /opt/python on sys.path.
        dirs.append(target / "python" if (target / "python").is_dir() else target)
    environment = worker_environment(fn, host.endpoint_url)
    env_hash = hashlib.sha256(json.dumps(environment, sort_keys=True).encode()).hexdigest()
    return FunctionSpec(
        name=fn.function_name,
        arn=fn.function_arn,
        handler=fn.handler or "app.lambda_handler",
        code_dirs=tuple(dirs),
        environment=environment,
        timeout_s=float(fn.timeout or 3),
        memory_mb=int(fn.memory_size or 128),
        runtime=runtime,
        code_sha=f"{fn.code_sha_256}:{env_hash[:16]}:{fn.timeout}:{fn.memory_size}:{fn.handler}",
    )


def prepare(account_id: str, region: str) -> None:
    """Unpack every function's code and layers now, not in its first Invoke.

    Unpacking a new 30 MB layer takes a while on a busy machine; a deploy can wait for that, a
    client's first request should not.
    """
    for fn in list(lambda_backends[account_id][region].list_functions()):
        if (fn.run_time or "python3.12").startswith("python"):
            function_spec(fn, _current())


def prewarm(account_id: str, region: str, names: list[str]) -> dict[str, bool]:
    """One warm worker per named function, initialised in parallel; {name: warm}.

    After ``local up`` or ``demo`` the first upload should cost what a warm one does, not
    seven cold starts in a row on the critical path.
    """
    host = _current()
    backend = lambda_backends[account_id][region]
    functions = [backend.get_function(name) for name in names]
    specs = [
        function_spec(fn, host)
        for fn in functions
        if (fn.run_time or "python3.12").startswith("python")
    ]
    with concurrent.futures.ThreadPoolExecutor(max(1, len(specs))) as pool:
        warm = list(pool.map(host.runtime.prewarm, specs))
    return {spec.name: ok for spec, ok in zip(specs, warm, strict=True)}


def worker_credentials(fn: LambdaFunction) -> dict[str, str]:
    """A session of the function's execution role, as Lambda gives it (IAM is enforced)."""
    from imgpipe.local.adapters.iam import role_credentials

    return role_credentials(str(fn.role), fn.function_name, fn.region)


def worker_environment(fn: LambdaFunction, endpoint_url: str) -> dict[str, str]:
    """The function's variables, the engine's endpoint and the credentials the worker gets.

    The one place a worker's credentials come from: as on Lambda, a session of the execution
    role, so every call the handler makes is authorised against the role's policies.
    """
    environment = {
        **{k: str(v) for k, v in (fn.environment_vars or {}).items()},
        "AWS_ENDPOINT_URL": endpoint_url,
        **worker_credentials(fn),
        "AWS_REGION": fn.region,
        "AWS_DEFAULT_REGION": fn.region,
    }
    # No X-Ray daemon locally; Powertools would otherwise warn on every subsegment.
    environment.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    return environment


def put_log_events(spec: FunctionSpec, request_id: str, lines: list[tuple[int, str]]) -> None:
    """Mirror each invocation's log into CloudWatch Logs so `aws logs tail` works locally."""
    from moto.logs.models import logs_backends

    arn = spec.arn.split(":")
    backend = logs_backends[arn[4]][arn[3]]
    group = f"/aws/lambda/{spec.name}"
    stream = datetime.datetime.now(datetime.UTC).strftime("%Y/%m/%d/[$LATEST]") + request_id
    if group not in backend.groups:
        backend.create_log_group(group, {})
    backend.create_log_stream(group, stream)
    # PutLogEvents wants chronological order; an init line can be stamped after START's.
    ordered = sorted(lines, key=lambda entry: entry[0])
    events = [{"timestamp": ts, "message": line} for ts, line in ordered] or [
        {"timestamp": int(datetime.datetime.now().timestamp() * 1000), "message": ""}
    ]
    backend.put_log_events(group, stream, events)
