"""LocalStack as the second engine: how it is found, configured, and what the deployer does there.

The plugins themselves run inside LocalStack's own virtualenv; ``make test-localstack`` proves
them with the whole integration suite.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from imgpipe.local import localstack
from imgpipe.local.deploy import Deployer


class FakeCloudFormation:
    """The CloudFormation calls the deployer makes, against one stack in a given state."""

    def __init__(self, status: str | None) -> None:
        self.status = status
        self.calls: list[str] = []

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        if self.status is None:
            error = {"Error": {"Code": "ValidationError", "Message": f"{StackName} does not exist"}}
            raise ClientError(error, "DescribeStacks")  # type: ignore[arg-type]
        return {"Stacks": [{"StackStatus": self.status, "StackId": "stack-id"}]}

    def delete_stack(self, StackName: str) -> None:
        self.calls.append("delete")
        self.status = None

    def create_stack(self, **kwargs: Any) -> dict[str, str]:
        self.calls.append("create")
        self.status = "CREATE_COMPLETE"
        return {"StackId": "stack-id"}

    def update_stack(self, **kwargs: Any) -> dict[str, str]:
        self.calls.append("update")
        self.status = "UPDATE_COMPLETE"
        return {"StackId": "stack-id"}


def _apply(status: str | None) -> tuple[str, list[str]]:
    cfn = FakeCloudFormation(status)
    deployer = Deployer(region="us-east-1", log=lambda _: None)
    deployer.client = lambda service: cfn  # type: ignore[method-assign]
    result, _ = deployer._apply_stack({"Resources": {}}, "s", {}, "artifacts")
    return result, cfn.calls


@pytest.mark.parametrize("status", ["CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED"])
def test_a_stack_whose_creation_failed_is_deleted_and_created_again(status: str) -> None:
    # GIVEN a stack left CREATE_FAILED (LocalStack) or rolled back (AWS): only deletable
    # WHEN the template is deployed again
    result, calls = _apply(status)
    # THEN it is deleted and created, never updated (CloudFormation would refuse the update)
    assert calls == ["delete", "create"] and result == "CREATE_COMPLETE"


@pytest.mark.parametrize("status", ["CREATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"])
def test_a_stack_that_exists_is_updated_in_place(status: str) -> None:
    result, calls = _apply(status)
    assert calls == ["update"] and result == "UPDATE_COMPLETE"


def test_no_interpreter_for_localstack_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a machine with no Python >= 3.13 on PATH and no pyenv
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("IMGPIPE_LOCALSTACK_PYTHON", raising=False)
    # WHEN LocalStack's interpreter is looked for THEN it says what it needs and where it looked
    with pytest.raises(localstack.LocalStackError, match=r"Python >= 3\.13.*pyenv"):
        localstack.find_python()


def test_an_explicit_interpreter_that_is_too_old_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if sys.version_info >= localstack.MIN_PYTHON:
        pytest.skip("the test interpreter is new enough for LocalStack")
    monkeypatch.setenv("IMGPIPE_LOCALSTACK_PYTHON", sys.executable)
    with pytest.raises(localstack.LocalStackError, match="IMGPIPE_LOCALSTACK_PYTHON"):
        localstack.find_python()


def test_localstack_listens_on_loopback_with_imgpipes_plugins_and_no_aws_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "a-real-looking-secret")
    env = localstack.environment(4599, tmp_path)
    assert env["GATEWAY_LISTEN"] == "127.0.0.1:4599" and env["GATEWAY_SERVER"] == "hypercorn"
    assert env["LOCALSTACK_HOST"] == "127.0.0.1:4599" and env["DNS_ADDRESS"] == "0"
    assert env["PROVIDER_OVERRIDE_DYNAMODB"] == "moto"
    assert env["LAMBDA_RUNTIME_EXECUTOR"] == "imgpipe"
    assert env["SQS_ENDPOINT_STRATEGY"] == "path"
    # the developer's credentials never reach the emulator (nor the functions it runs)
    assert not [key for key in env if key.startswith("AWS_")]
    assert Path(env["FILESYSTEM_ROOT"]).is_relative_to(tmp_path)


def test_the_plugins_are_declared_where_localstack_looks_for_them() -> None:
    from importlib.metadata import entry_points

    declared = {
        (ep.group, ep.name): ep.value
        for group in (
            "localstack.aws.provider",
            "localstack.lambda.runtime_executor",
            "localstack.hooks.on_infra_start",
        )
        for ep in entry_points(group=group)
        if ep.value.startswith("imgpipe.")
    }
    assert declared[("localstack.aws.provider", "dynamodb:moto")].endswith(":dynamodb_moto")
    assert ("localstack.lambda.runtime_executor", "imgpipe") in declared
    # every declared object exists in the package LocalStack will import
    for value in declared.values():
        module, _, name = value.partition(":")
        source = Path(__file__).resolve().parents[2] / "src" / Path(*module.split("."))
        assert f"def {name}" in source.with_suffix(".py").read_text() or (
            f"class {name}" in source.with_suffix(".py").read_text()
        )
