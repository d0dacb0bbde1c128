"""The Lambda sandbox as each engine runs it: interpreter, packages, limits and error types.

On the embedded engine this is imgpipe's worker runtime behind moto's Lambda; on LocalStack the
same runtime behind LocalStack's Lambda service, through imgpipe's RuntimeExecutor plugin.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import stack_name

pytestmark = [pytest.mark.engine, pytest.mark.xdist_group("lambda-sandbox")]
PROBE = Path(__file__).with_name("probe") / "template.yaml"


@pytest.fixture(scope="module")
def probe(engine: Any) -> Any:
    name = engine.deploy(PROBE, stack_name("probe"), {}).outputs["ProbeFunctionName"]
    lam = engine.client("lambda")

    def invoke(event: dict[str, Any]) -> tuple[str | None, Any]:
        response = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
        result = json.loads(response["Payload"].read())
        if isinstance(result, dict) and "request_id" in result:
            # the id the caller got is the one the handler saw, as on Lambda
            assert result.pop("request_id") == response["ResponseMetadata"]["RequestId"]
        return response.get("FunctionError"), result

    return invoke


def test_a_function_runs_on_its_runtime_with_only_what_lambda_provides(probe: Any) -> None:
    # WHEN the python3.12 function reports its interpreter and what it can import
    error, result = probe(
        {"action": "describe", "modules": ["boto3", "json", "PIL", "moto", "pytest", "imgpipe"]}
    )
    # THEN it is Python 3.12 with the managed runtime's boto3, and nothing of the engine's
    assert error is None, result
    assert result["python"] == "3.12" and result["memory"] == "128"
    assert result["modules"] == {
        "boto3": True,
        "json": True,
        "PIL": False,
        "moto": False,
        "pytest": False,
        "imgpipe": False,
    }


def test_a_function_calls_aws_as_a_session_of_its_execution_role(probe: Any) -> None:
    # WHEN the function asks STS who it is, with the credentials its sandbox gave it
    error, result = probe({"action": "identity"})
    # THEN it is its execution role's session named after the function, as on Lambda
    assert error is None, result
    role_name, session = result["arn"].split(":assumed-role/")[1].split("/")
    assert "Probe" in role_name and session.startswith(stack_name("probe")), result


def test_an_exception_is_reported_with_its_class_name(probe: Any) -> None:
    error, result = probe({"action": "raise"})
    assert error == "Unhandled"
    assert result["errorType"] == "ProbeError" and result["errorMessage"] == "raised on request"


def test_past_its_timeout_the_invocation_fails_as_sandbox_timedout(probe: Any) -> None:
    error, result = probe({"action": "sleep"})
    assert error == "Unhandled" and result["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 8.00 seconds" in result["errorMessage"]


def test_over_its_memory_size_the_invocation_fails_as_out_of_memory(probe: Any) -> None:
    error, result = probe({"action": "allocate"})
    assert error == "Unhandled" and result["errorType"] == "Runtime.OutOfMemory"
    # AND the next invocation gets a fresh sandbox that works
    assert probe({"action": "describe", "modules": []})[0] is None
