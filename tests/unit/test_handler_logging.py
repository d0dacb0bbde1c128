"""What a function logs: at the default level (WARNING) nothing but its metrics on success; a
failure leaves one ERROR line with the invocation's processingId, never a previous one's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from imgpipe.local.deploy import load_template

ROOT = Path(__file__).resolve().parents[2]
PID = "p" * 26
# The Publish handler invoked three times in one interpreter, as a warm execution environment
# runs them: withdraw (succeeds), publish no variants (fails, PublishError, with the
# processingId known), then an event without a job (fails before any processingId is known).
_INVOCATIONS = """
import importlib.util, json, sys
from moto import mock_aws

with mock_aws():
    import boto3
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="public")
    spec = importlib.util.spec_from_file_location("app", sys.argv[1])
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)

    class Context:
        function_name = "publish"
        function_version = "$LATEST"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:publish"
        memory_limit_in_mb = 1024
        aws_request_id = "req"

    job = {"processingId": sys.argv[2], "source": {"bucket": "private", "key": "uploads/a"}}
    events = [
        {"action": "withdraw", "job": job},
        {"job": job, "variants": []},
        {"variants": []},
    ]
    for event in events:
        print("--- invocation", flush=True)
        try:
            app.lambda_handler(event, Context())
        except Exception:
            pass
        sys.stdout.flush()
"""


def _invocations(**env: str) -> list[list[dict[str, object]]]:
    """The JSON lines each invocation printed (Powertools logs to stdout, as on Lambda)."""
    code = ROOT / "functions" / "publish"
    done = subprocess.run(
        [sys.executable, "-c", _INVOCATIONS, str(code / "app.py"), PID],
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(code), str(ROOT / "layers" / "core")]),
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "TABLE_NAME": "status",
            "PRIVATE_BUCKET": "private",
            "PUBLIC_BUCKET": "public",
            "POWERTOOLS_SERVICE_NAME": "imgpipe",
            "POWERTOOLS_TRACE_DISABLED": "true",
            **env,
        },
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    chunks = done.stdout.split("--- invocation\n")[1:]
    return [
        [json.loads(line) for line in chunk.splitlines() if line.startswith("{")]
        for chunk in chunks
    ]


def _app_lines(lines: list[dict[str, object]]) -> list[dict[str, object]]:
    return [line for line in lines if "_aws" not in line]  # "_aws": an EMF metrics line


def test_at_the_default_level_a_success_logs_only_its_metrics_and_a_failure_its_id() -> None:
    # WHEN Publish runs a success and two failures at the template's default level
    default = _template_default_log_level()
    success, failed, unparsed = _invocations(POWERTOOLS_LOG_LEVEL=default)

    # THEN the success logged its metric and no line of its own
    assert _app_lines(success) == [] and any("_aws" in line for line in success)
    # AND the failure one ERROR line with its processingId, error type and traceback
    [error] = _app_lines(failed)
    assert error["level"] == "ERROR" and error["message"] == "invocation failed"
    assert error["processingId"] == PID
    assert error["errorType"] == "PublishError" and "Traceback" in str(error["exception"])
    assert error["function_request_id"] == "req"
    # AND a failure before the job was read carries no processingId, not the previous one's
    [error] = _app_lines(unparsed)
    assert error["errorType"] == "ValidationError" and "processingId" not in error


def test_the_log_level_is_the_stack_parameter() -> None:
    # GIVEN the template
    template = load_template(ROOT / "template.yaml")
    environment = template["Globals"]["Function"]["Environment"]["Variables"]

    # THEN every function's Powertools level is FunctionLogLevel, WARNING unless told otherwise
    assert environment["POWERTOOLS_LOG_LEVEL"] == {"Ref": "FunctionLogLevel"}
    assert _template_default_log_level() == "WARNING"


def _template_default_log_level() -> str:
    template = load_template(ROOT / "template.yaml")
    return str(template["Parameters"]["FunctionLogLevel"]["Default"])
