"""Lambda ``Invoke`` runs the deployed handler for real, in imgpipe's worker runtime.

moto's own Invoke needs Docker. Here every invocation path that reaches
``LambdaFunction.invoke`` (the API, Step Functions tasks, EventBridge targets) is routed to
:class:`imgpipe.local.runtime.LambdaRuntime`, with the function's deployed zip and its layers
unpacked once per code hash. Layers from other accounts (e.g. Powertools' public layer) are
accepted and skipped: the engine's virtualenv already provides those packages.
"""

from __future__ import annotations

import base64
import datetime
import functools
import hashlib
import io
import json
import threading
import zipfile
from pathlib import Path
from typing import Any

from moto.awslambda.models import LambdaFunction, lambda_backends

from imgpipe.local import engine as engine_module
from imgpipe.local import faults as fault_plan
from imgpipe.local.adapters import faults
from imgpipe.local.runtime import FunctionSpec

_installed = False
_unpack_lock = threading.Lock()


def install() -> None:
    global _installed
    if _installed:
        return
    LambdaFunction.invoke = _invoke  # type: ignore[method-assign]
    LambdaFunction._get_layers_data = _get_layers_data  # type: ignore[method-assign,assignment]
    _installed = True


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
    engine = engine_module.current()
    spec = function_spec(self, engine)
    if invocation_type == "Event":
        # Asynchronous invoke: accepted now, run in the background (retries are out of scope).
        threading.Thread(target=engine.runtime.invoke, args=(spec, payload), daemon=True).start()
        return b""
    rules = fault_plan.active().for_invocation(self.function_name, payload)
    if rules:
        run = functools.partial(engine.runtime.invoke, spec, payload)
        result = faults.invoke_with_faults(rules, run, spec.timeout_s)
    else:
        result = engine.runtime.invoke(spec, payload)
    if result.function_error:
        response_headers["x-amz-function-error"] = result.function_error
    response_headers["x-amz-executed-version"] = spec.version
    response_headers["x-amz-request-id"] = result.request_id
    response_headers["x-amz-log-result"] = base64.b64encode(result.log_tail.encode()).decode()
    return bytes(result.payload)


def function_spec(fn: LambdaFunction, engine: Any) -> FunctionSpec:
    code_root = engine.state_dir / "code"
    code_dir = _unpack(fn.code_bytes, code_root / f"{fn.function_name}-{fn.code_sha_256[:16]}")
    dirs = [code_dir]
    backend = lambda_backends[fn.account_id][fn.region]
    for layer in fn.layers:
        version = backend.layers_versions_by_arn(layer["Arn"]) if layer.get("CodeSize") else None
        if version is None:
            continue
        target = _unpack(version.code_bytes, code_root / "layers" / _safe(version.arn))
        # Lambda unpacks layers into /opt and puts /opt/python on sys.path.
        dirs.append(target / "python" if (target / "python").is_dir() else target)
    environment = {
        **{k: str(v) for k, v in (fn.environment_vars or {}).items()},
        "AWS_ENDPOINT_URL": engine.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": fn.region,
        "AWS_DEFAULT_REGION": fn.region,
    }
    # No X-Ray daemon locally; Powertools would otherwise warn on every subsegment.
    environment.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    env_hash = hashlib.sha256(json.dumps(environment, sort_keys=True).encode()).hexdigest()
    return FunctionSpec(
        name=fn.function_name,
        arn=fn.function_arn,
        handler=fn.handler or "app.lambda_handler",
        code_dirs=tuple(dirs),
        environment=environment,
        timeout_s=float(fn.timeout or 3),
        memory_mb=int(fn.memory_size or 128),
        runtime=fn.run_time or "python3.12",
        code_sha=f"{fn.code_sha_256}:{env_hash[:16]}:{fn.timeout}:{fn.memory_size}:{fn.handler}",
    )


def _unpack(data: bytes, target: Path) -> Path:
    with _unpack_lock:
        if not target.exists():
            staging = target.with_name(target.name + ".tmp")
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                archive.extractall(staging)
            staging.rename(target)
    return target


def _safe(arn: str) -> str:
    return arn.split(":layer:", 1)[-1].replace(":", "-")


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
