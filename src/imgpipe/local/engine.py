"""The embedded local AWS engine: moto's server in this process, plus imgpipe's adapters.

One engine per process (moto's backends are process-global). It binds to loopback only.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any

import boto3

from imgpipe.local import faults
from imgpipe.local.deploy import (
    Deployer,
    DeployError,
    DeployResult,
    function_runtimes,
    load_template,
)

REGION = "us-east-1"
# moto accepts any credentials; fixed fake ones keep real keys from ever leaving the machine.
FAKE_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}

_lock = threading.Lock()
_current: Engine | None = None


class Engine:
    """Start with ``with Engine() as engine:``; ``engine.endpoint_url`` serves every service."""

    def __init__(
        self,
        port: int = 0,
        *,
        state_dir: Path | None = None,
        region: str = REGION,
        max_workers_per_function: int = 10,
    ) -> None:
        self.requested_port = port
        self.max_workers_per_function = max_workers_per_function
        self.region = region
        self._own_state_dir = state_dir is None
        self.state_dir = Path(state_dir or tempfile.mkdtemp(prefix="imgpipe-engine-"))
        self.port = 0
        self._server: Any = None
        self.runtime: Any = None
        self._session: boto3.Session | None = None
        self._client_lock = threading.Lock()
        # Faults to inject (empty until a test or `local up --faults` loads a plan).
        self.faults = faults.active()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Engine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        global _current
        with _lock:
            if _current is not None:
                raise RuntimeError("an imgpipe engine is already running in this process")
            _current = self
        from moto.core.config import default_user_config
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer

        from imgpipe.local import adapters
        from imgpipe.local.adapters import lambda_runtime
        from imgpipe.local.runtime import LambdaRuntime

        self.state_dir.mkdir(parents=True, exist_ok=True)
        # Step Functions executes for real (moto's port of LocalStack's interpreter).
        default_user_config["stepfunctions"]["execute_state_machine"] = True
        # Keep moto's full Lambda backend (the "simple" one only echoes); its Docker path is
        # never reached because the lambda_runtime adapter replaces Invoke.
        default_user_config["lambda"]["use_docker"] = True
        default_user_config["iam"]["load_aws_managed_policies"] = True
        adapters.install_all()
        from imgpipe.local import credentials

        # The engine hands out these fake keys, so signatures made with them verify for real.
        credentials.register(
            FAKE_CREDENTIALS["aws_access_key_id"],
            FAKE_CREDENTIALS["aws_secret_access_key"],
            FAKE_CREDENTIALS["aws_session_token"],
        )
        self.port = self.requested_port or _free_port()
        # The interpreter calls Lambda/DynamoDB/SQS through boto3 on localhost:$MOTO_PORT.
        os.environ["MOTO_PORT"] = str(self.port)
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }.items():
            os.environ.setdefault(key, value)
        # Objects over 256 KiB live in (unlinked) temporary files, not in this process's heap:
        # moto keeps every version of every object, and a burst's images grew the engine by
        # ~3 MB per upload (500 uploads: out of memory on a shared machine).
        os.environ.setdefault("MOTO_S3_DEFAULT_KEY_BUFFER_SIZE", str(256 * 1024))
        self.runtime = LambdaRuntime(
            self.state_dir / "logs",
            log_sink=adapters.forward_logs,
            max_workers_per_function=self.max_workers_per_function,
        )
        lambda_runtime.attach(lambda_runtime.Host(self.runtime, self.endpoint_url))
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()

    def stop(self) -> None:
        global _current
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self.runtime is not None:
            from imgpipe.local.adapters import lambda_runtime

            lambda_runtime.attach(None)
            self.runtime.shutdown()
            self.runtime = None
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()  # drop all state: the next engine in this process starts empty
        self.faults.clear()
        if self._own_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)
        with _lock:
            _current = None

    # -- clients ---------------------------------------------------------------------------

    def session(self) -> boto3.Session:
        return fake_session(self.region)

    def client(self, service: str) -> Any:
        # One session for the engine's clients: a new one parses botocore's endpoint and
        # service models again (~0.1 s of CPU). Sessions are not thread-safe, hence the lock.
        with self._client_lock:
            if self._session is None:
                self._session = self.session()
            session: Any = self._session
            return session.client(service, endpoint_url=self.endpoint_url)

    def deploy(
        self,
        template: Path,
        stack_name: str,
        parameter_overrides: dict[str, str] | None = None,
        *,
        prewarm: bool = False,
    ) -> DeployResult:
        """Deploy the template; ``prewarm``: start and initialise one worker per function of
        the stack too (``local up``, ``demo``), so the first upload pays no cold start."""
        # Refuse before deploying, with the reason, rather than fail every later Invoke.
        from imgpipe.local.runtime import InterpreterNotFoundError, find_interpreter

        try:
            for runtime in function_runtimes(load_template(template)):
                find_interpreter(runtime)
        except InterpreterNotFoundError as error:
            raise DeployError(str(error)) from error
        deployer = Deployer(endpoint_url=self.endpoint_url, session=self.session(), log=_quiet)
        result = deployer.deploy(template, stack_name, parameter_overrides)
        from moto.core import DEFAULT_ACCOUNT_ID

        from imgpipe.local.adapters import lambda_runtime

        lambda_runtime.prepare(DEFAULT_ACCOUNT_ID, self.region)
        if prewarm:
            lambda_runtime.prewarm(
                DEFAULT_ACCOUNT_ID, self.region, self.stack_functions(stack_name)
            )
        return result

    def stack_functions(self, stack_name: str) -> list[str]:
        """The physical names of the stack's Lambda functions."""
        pages = self.client("cloudformation").get_paginator("list_stack_resources")
        return [
            resource["PhysicalResourceId"]
            for page in pages.paginate(StackName=stack_name)
            for resource in page["StackResourceSummaries"]
            if resource["ResourceType"] == "AWS::Lambda::Function"
        ]


def fake_session(region: str = REGION) -> boto3.Session:
    """A session with the engine's fake keys: real credentials never reach a local endpoint."""
    return boto3.Session(
        aws_access_key_id=FAKE_CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=FAKE_CREDENTIALS["aws_secret_access_key"],
        aws_session_token=FAKE_CREDENTIALS["aws_session_token"],
        region_name=region,
    )


def _quiet(message: str) -> None:
    pass


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
