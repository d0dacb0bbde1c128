"""`imgpipe local up` as a user runs it, and the AWS CLI (a real client) talking to it."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import BIN, ROOT, local_up

pytestmark = pytest.mark.engine


def _session_processes(sid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                pids.append(int(entry.name))
    return pids


def test_aws_cli_talks_to_local_up_and_nothing_is_left_running(tmp_path):
    env = {**os.environ, "IMGPIPE_STATE_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    up_args = ("--template", "tests/engine/stack/template.yaml", "--stack-name", "clitest")
    with local_up(*up_args, env=env, timeout=60) as up:
        endpoint = up.value("endpoint:")
        assert endpoint.startswith("http://127.0.0.1:")
        bucket = up.value("BucketName")
        assert "stack: clitest (CREATE_COMPLETE)" in "".join(up.lines)
        # It says which interpreter runs the template's Runtime (never the engine's own).
        (chosen,) = [line for line in up.lines if line.startswith("lambda python3.12: ")]
        assert "(Python 3.12." in chosen
        aws_env = {**env, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}

        def aws(*args: str) -> str:
            return subprocess.run(
                [str(BIN / "aws"), "--endpoint-url", endpoint, "--region", "us-east-1", *args],
                env=aws_env, capture_output=True, text=True, check=True, timeout=60,
            ).stdout  # fmt: skip

        assert bucket in aws("s3", "ls")
        (tmp_path / "hello.txt").write_text("hi")
        aws("s3", "cp", str(tmp_path / "hello.txt"), f"s3://{bucket}/jobs/ok/cli.txt")
        assert "cli.txt" in aws("s3", "ls", f"s3://{bucket}/jobs/ok/")
        assert "clitest-Machine" in aws("stepfunctions", "list-state-machines")

        def imgpipe(*args: str) -> str:
            return subprocess.run(
                [str(BIN / "imgpipe"), *args], cwd=ROOT, env=env, capture_output=True,
                text=True, check=True, timeout=60,
            ).stdout  # fmt: skip

        # `local deploy` finds the running engine and deploys a second stack to it
        deployed = imgpipe(
            "local", "deploy", "--template", "tests/engine/stack/template.yaml",
            "--stack-name", "second", "--parameter-overrides", "Greeting=bonjour",
        )  # fmt: skip
        assert "stack: second (CREATE_COMPLETE)" in deployed and "BucketName" in deployed
        # `local logs` reads a function's invocation logs (the cli.txt upload invoked it)
        deadline = time.monotonic() + 30
        logs = ""
        while "REPORT RequestId" not in logs and time.monotonic() < deadline:
            time.sleep(0.5)
            logs = imgpipe("local", "logs", "clitest-WorkerFunction")
        assert "START RequestId" in logs and "REPORT RequestId" in logs
    # Nothing the engine started (Lambda workers included) outlives it.
    time.sleep(0.5)
    assert _session_processes(up.process.pid) == []


def test_local_up_injects_a_fault_plan_and_keeps_its_output_readable(tmp_path):
    import json

    import boto3

    # GIVEN a plan failing the worker's next invocation and throttling the next S3 GetObject
    plan = tmp_path / "faults.json"
    plan.write_text(
        json.dumps(
            {"seed": 3, "lambda": [{"function": "Worker", "error": "TransientError", "next": 1}]}
        )
    )
    env = {**os.environ, "IMGPIPE_STATE_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    up_args = ("--template", "tests/engine/stack/template.yaml", "--stack-name", "faultcli")
    with local_up(*up_args, "--faults", str(plan), env=env, timeout=60) as up:
        assert "faults: 1 rule(s)" in "".join(up.lines)
        # moto's request log is off by default: deploying made hundreds of requests
        assert not [line for line in up.lines if "HTTP/1.1" in line], up.lines
        lam = boto3.client(
            "lambda", endpoint_url=up.value("endpoint:"), region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip
        name = up.value("WorkerFunctionName")

        def invoke() -> tuple[str | None, dict]:
            response = lam.invoke(FunctionName=name, Payload=b'{"action": "square", "value": 3}')
            return response.get("FunctionError"), json.loads(response["Payload"].read())

        # WHEN the worker is invoked twice THEN only the first fails, by the plan's error name
        error, payload = invoke()
        assert error == "Unhandled" and payload["errorType"] == "TransientError"
        assert invoke() == (None, 9)
