"""LocalStack's Lambda runs functions in imgpipe's worker runtime instead of Docker.

LocalStack creates one :class:`RuntimeExecutor` per execution environment and sends it one
invocation at a time; its Docker executor forwards each over HTTP to Lambda's runtime-init inside
a container (``executor_endpoint.py``). This one hands the invocation to
:class:`imgpipe.local.runtime.LambdaRuntime`, the same sandbox the embedded engine uses, so the
function gets what the embedded engine gives it: its Runtime's interpreter, only its code and
layers, Timeout, MemorySize as a memory limit and Lambda's error types (Sandbox.Timedout,
Runtime.OutOfMemory, Runtime.ImportModuleError, ...). The environment holds at most one worker;
LocalStack does the pooling and the keep-alive, as Lambda's service does.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from localstack import config
from localstack.services.lambda_.invocation.executor_endpoint import NAMESPACE
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import RuntimeExecutor

from imgpipe.local.runtime import FunctionSpec, LambdaRuntime, find_interpreter

HOST = "127.0.0.1"  # host mode: functions reach LocalStack on loopback, never through Docker DNS


def code_dirs(function_version: FunctionVersion) -> tuple[Path, ...]:
    """The function's unzipped code, then each layer's, as Lambda puts /opt/python on sys.path."""
    dirs = [Path(function_version.config.code.get_unzipped_code_location())]
    for layer in function_version.config.layers or []:
        unzipped = Path(layer.code.get_unzipped_code_location())
        dirs.append(unzipped / "python" if (unzipped / "python").is_dir() else unzipped)
    return tuple(dirs)


def function_spec(function_version: FunctionVersion, env_vars: dict[str, Any]) -> FunctionSpec:
    cfg = function_version.config
    return FunctionSpec(
        name=function_version.id.function_name,
        arn=function_version.qualified_arn,
        handler=cfg.handler or "app.lambda_handler",
        code_dirs=code_dirs(function_version),
        environment={k: str(v) for k, v in env_vars.items()},
        timeout_s=float(cfg.timeout),
        memory_mb=int(cfg.memory_size),
        runtime=str(cfg.runtime or "python3.12"),
        version=function_version.id.qualifier,
        code_sha=cfg.code.code_sha256 if cfg.code else "",
    )


class ImgpipeRuntimeExecutor(RuntimeExecutor):
    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id, function_version)
        self._log_dir = Path(tempfile.mkdtemp(prefix=f"imgpipe-lambda-{id}-"))
        self._runtime = LambdaRuntime(self._log_dir, max_workers_per_function=1)
        self._spec: FunctionSpec | None = None

    def start(self, env_vars: dict[str, str]) -> None:
        # The worker starts (and imports the handler) on the first invoke, which then reports the
        # init duration or the init error the way Lambda reports them to the caller.
        self._spec = function_spec(self.function_version, env_vars)

    def stop(self) -> None:
        self._runtime.shutdown()
        shutil.rmtree(self._log_dir, ignore_errors=True)

    def get_address(self) -> str:
        return HOST

    def get_endpoint_from_executor(self) -> str:
        return HOST

    def get_runtime_endpoint(self) -> str:
        # Part of the interface for runtime-init's callbacks; the worker talks over a socketpair.
        return f"http://{HOST}:{config.GATEWAY_LISTEN[0].port}{NAMESPACE}/{self.id}"

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        if self._spec is None:
            raise RuntimeError(f"execution environment {self.id} was not started")
        body = payload.get("payload") or "{}"
        # The handler's context.aws_request_id is the id LocalStack returns to the caller.
        result = self._runtime.invoke(
            self._spec, body.encode(), request_id=payload.get("invoke-id")
        )
        logs = self._runtime.logs(self._spec.name, result.request_id)
        # An error's errorType travels in the payload, as from runtime-init's /error callback.
        return InvocationResult(
            request_id=result.request_id,
            payload=result.payload,
            is_error=result.function_error is not None,
            logs=logs,
        )

    def get_logs(self) -> str:
        return self._runtime.logs(self._spec.name) if self._spec else ""

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        # No interpreter for the Runtime: the function goes to State Failed with this reason,
        # rather than running on another Python.
        find_interpreter(str(function_version.config.runtime or "python3.12"))
        # Unzip code and layers once per version, before the first environment starts.
        if function_version.config.code:
            function_version.config.code.prepare_for_execution()
        for layer in function_version.config.layers or []:
            layer.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        # LocalStack's code store owns the unzipped archives and deletes them with the version.
        pass

    @classmethod
    def validate_environment(cls) -> bool:
        return True


class ImgpipeRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "imgpipe"

    def load(self, *args: Any, **kwargs: Any) -> type[RuntimeExecutor]:
        return ImgpipeRuntimeExecutor
