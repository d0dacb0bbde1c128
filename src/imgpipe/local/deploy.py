"""Deploy any SAM template through plain AWS APIs: package → SAM transform → CloudFormation.

This is the client side of ``imgpipe local deploy``. It talks to an endpoint only through boto3
(S3, STS, IAM, CloudFormation), so the same code deploys to the embedded engine, to LocalStack
(``--endpoint-url http://localhost:4566``) or to AWS. Anything moto gets wrong is fixed on the
server side, in ``imgpipe.local.adapters``, never here. Functions and layers are always built as
``sam build`` builds them (:mod:`imgpipe.local.build`): every target gets the same artifacts.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from imgpipe.local import build

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
# CloudFormation refuses inline template bodies above this size; larger ones go through S3.
MAX_TEMPLATE_BODY = 51_200
# A stack whose creation failed can only be deleted. AWS rolls it back to ROLLBACK_COMPLETE;
# LocalStack leaves it CREATE_FAILED.
ONLY_DELETABLE = {"CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED"}


class DeployError(Exception):
    """The template could not be packaged or the stack did not reach a complete state."""


@dataclass
class DeployResult:
    stack_name: str
    stack_id: str
    status: str
    outputs: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def load_template(path: Path) -> dict[str, Any]:
    """Parse a SAM/CloudFormation YAML or JSON template, short-form intrinsics included."""
    parsed = yaml_parse(path.read_text())
    if not isinstance(parsed, dict) or "Resources" not in parsed:
        raise DeployError(f"{path}: not a CloudFormation template (no Resources)")
    return parsed


def function_runtimes(template: dict[str, Any]) -> list[str]:
    """The Python runtimes a template's functions use (Globals included), sorted."""
    default = template.get("Globals", {}).get("Function", {}).get("Runtime")
    runtimes = {
        resource.get("Properties", {}).get("Runtime", default)
        for resource in template["Resources"].values()
        if resource.get("Type") in ("AWS::Serverless::Function", "AWS::Lambda::Function")
    }
    return sorted(r for r in runtimes if isinstance(r, str) and r.startswith("python"))


class Deployer:
    """Packages local code for one template and creates or updates its stack."""

    def __init__(
        self,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        session: boto3.Session | None = None,
        log: Any = None,
    ) -> None:
        self.session = session or boto3.Session(region_name=region or _default_region())
        self.region = self.session.region_name or "us-east-1"
        self.endpoint_url = endpoint_url
        self._log = log or (lambda message: print(message, file=sys.stderr))

    def client(self, service: str) -> Any:
        session: Any = self.session
        return session.client(service, endpoint_url=self.endpoint_url, region_name=self.region)

    # -- public API -----------------------------------------------------------------------

    def deploy(
        self,
        template_path: Path,
        stack_name: str,
        parameter_overrides: Mapping[str, str] | None = None,
        *,
        artifacts_bucket: str | None = None,
    ) -> DeployResult:
        started = time.monotonic()
        template_path = template_path.resolve()
        template = load_template(template_path)
        overrides = dict(parameter_overrides or {})
        unknown = set(overrides) - set(template.get("Parameters", {}))
        if unknown:
            raise DeployError(f"unknown template parameters: {', '.join(sorted(unknown))}")

        bucket = artifacts_bucket or self._ensure_artifacts_bucket()
        self._package(template, template_path.parent, bucket, stack_name)
        cfn_template = self._transform(template, overrides)
        try:
            status, stack_id = self._apply_stack(cfn_template, stack_name, overrides, bucket)
        except ClientError as error:  # e.g. a Rules assertion: CloudFormation's own words
            message = error.response.get("Error", {}).get("Message") or str(error)
            raise DeployError(f"stack {stack_name}: {message}") from error
        outputs = self.stack_outputs(stack_name)
        return DeployResult(stack_name, stack_id, status, outputs, time.monotonic() - started)

    def stack_outputs(self, stack_name: str) -> dict[str, str]:
        stack = self.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    # -- packaging (what `sam package` does) ----------------------------------------------

    def _ensure_artifacts_bucket(self) -> str:
        account = self.client("sts").get_caller_identity()["Account"]
        name = f"imgpipe-artifacts-{account}-{self.region}"
        s3 = self.client("s3")
        try:
            s3.head_bucket(Bucket=name)
        except ClientError:
            kwargs: dict[str, Any] = {"Bucket": name}
            if self.region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
            s3.create_bucket(**kwargs)
            s3.put_public_access_block(
                Bucket=name,
                PublicAccessBlockConfiguration={
                    "BlockPublicAcls": True,
                    "IgnorePublicAcls": True,
                    "BlockPublicPolicy": True,
                    "RestrictPublicBuckets": True,
                },
            )
        return name

    def _upload(self, bucket: str, stack_name: str, data: bytes, suffix: str) -> str:
        key = f"{stack_name}/{hashlib.sha256(data).hexdigest()}{suffix}"
        self.client("s3").put_object(Bucket=bucket, Key=key, Body=data)
        return key

    def _package(self, template: dict[str, Any], base: Path, bucket: str, stack: str) -> None:
        globals_fn = template.get("Globals", {}).get("Function", {})
        for resource in template["Resources"].values():
            kind = resource.get("Type")
            props = resource.setdefault("Properties", {})
            if kind == "AWS::Serverless::Function":
                if "InlineCode" in props or props.get("PackageType") == "Image":
                    continue
                code_uri = props.get("CodeUri", globals_fn.get("CodeUri"))
                if isinstance(code_uri, str) and not code_uri.startswith("s3://"):
                    runtime = str(props.get("Runtime", globals_fn.get("Runtime", "")))
                    data = self._function_zip(base / code_uri, runtime)
                    props["CodeUri"] = f"s3://{bucket}/{self._upload(bucket, stack, data, '.zip')}"
            elif kind == "AWS::Serverless::LayerVersion":
                content_uri = props.get("ContentUri")
                if isinstance(content_uri, str) and not content_uri.startswith("s3://"):
                    data = self._layer_zip(base / content_uri, resource.get("Metadata", {}), props)
                    key = self._upload(bucket, stack, data, ".zip")
                    props["ContentUri"] = f"s3://{bucket}/{key}"
            elif kind == "AWS::Serverless::StateMachine":
                uri = props.get("DefinitionUri")
                if isinstance(uri, str) and not uri.startswith("s3://"):
                    data = (base / uri).read_bytes()
                    json.loads(data)  # fail here, with the file name, rather than in the engine
                    key = self._upload(bucket, stack, data, ".asl.json")
                    props["DefinitionUri"] = {"Bucket": bucket, "Key": key}
            elif kind in ("AWS::Serverless::Api", "AWS::Serverless::HttpApi"):
                uri = props.get("DefinitionUri")
                if isinstance(uri, str) and not uri.startswith("s3://"):
                    key = self._upload(bucket, stack, (base / uri).read_bytes(), ".yaml")
                    props["DefinitionUri"] = f"s3://{bucket}/{key}"

    def _function_zip(self, directory: Path, runtime: str) -> bytes:
        if not runtime.startswith("python"):
            return build.zip_directory(directory)
        return self._built(build.build_function, directory, runtime)

    def _layer_zip(
        self, directory: Path, metadata: Mapping[str, Any], props: Mapping[str, Any]
    ) -> bytes:
        build_method = str(metadata.get("BuildMethod", ""))
        if build_method == "makefile" and (directory / "Makefile").is_file():
            # layers/core/Makefile is build.build_layer's compiled recipe for sam build (pip
            # flags, compileall), kept in step by tests/unit/test_deploy.py; make is not run
            # here: the engine's build caches the dependencies apart from the code.
            runtime = str((props.get("CompatibleRuntimes") or [""])[0])
            return self._built(build.build_layer, directory, runtime)
        if not build_method.startswith("python"):
            return build.zip_directory(directory)
        # sam build's python builder: no bytecode.
        return self._built(
            functools.partial(build.build_layer, compiled=False), directory, build_method
        )

    def _built(self, builder: Any, directory: Path, runtime: str) -> bytes:
        started = time.monotonic()
        try:
            artifact = builder(directory, runtime)
        except build.BuildError as error:
            raise DeployError(str(error)) from error
        self._log(f"built {directory} for {runtime} in {time.monotonic() - started:.1f}s")
        return bytes(artifact.zip_bytes())

    # -- transform and stack ----------------------------------------------------------------

    def _transform(self, template: dict[str, Any], overrides: Mapping[str, str]) -> dict[str, Any]:
        if "AWS::Serverless-2016-10-31" not in _as_list(template.get("Transform")):
            return template
        loader = ManagedPolicyLoader(self.client("iam"))
        os.environ.setdefault("AWS_DEFAULT_REGION", self.region)  # samtranslator reads it
        try:
            return transform(template, dict(overrides), loader)
        except Exception as error:
            raise DeployError(f"SAM transform failed: {error}") from error

    def _apply_stack(
        self,
        template: dict[str, Any],
        stack_name: str,
        overrides: Mapping[str, str],
        bucket: str,
    ) -> tuple[str, str]:
        cfn = self.client("cloudformation")
        body = json.dumps(template)
        source: dict[str, str]
        if len(body) > MAX_TEMPLATE_BODY:
            key = self._upload(bucket, stack_name, body.encode(), ".template.json")
            endpoint = str(self.client("s3").meta.endpoint_url)
            # moto reads a TemplateURL path-style only when its host says "localhost"; for any
            # other host it takes the first label as the bucket ("127" of 127.0.0.1).
            endpoint = endpoint.replace("://127.0.0.1", "://localhost")
            url = f"{endpoint}/{bucket}/{key}"
            source = {"TemplateURL": url}
        else:
            source = {"TemplateBody": body}
        params = [{"ParameterKey": k, "ParameterValue": v} for k, v in overrides.items()]
        existing = self._stack_status(stack_name)
        if existing in ONLY_DELETABLE:
            cfn.delete_stack(StackName=stack_name)
            self._wait(stack_name, "DELETE")
            existing = None
        if existing is None:
            stack_id = cfn.create_stack(
                StackName=stack_name, Parameters=params, Capabilities=CAPABILITIES, **source
            )["StackId"]
            return self._wait(stack_name, "CREATE"), stack_id
        try:
            stack_id = cfn.update_stack(
                StackName=stack_name, Parameters=params, Capabilities=CAPABILITIES, **source
            )["StackId"]
        except ClientError as error:
            if "No updates are to be performed" in str(error):
                return existing, self._stack_id(stack_name)
            raise
        return self._wait(stack_name, "UPDATE"), stack_id

    def _stack_status(self, stack_name: str) -> str | None:
        try:
            stacks = self.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
        except ClientError:
            return None
        status = stacks[0]["StackStatus"] if stacks else None
        return None if status == "DELETE_COMPLETE" else status

    def _stack_id(self, stack_name: str) -> str:
        stack = self.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
        return str(stack["StackId"])

    def _wait(self, stack_name: str, operation: str, timeout: float = 1800) -> str:
        deadline = time.monotonic() + timeout
        delay = 0.05
        while time.monotonic() < deadline:
            status = self._stack_status(stack_name)
            if status is None and operation == "DELETE":
                return "DELETE_COMPLETE"
            if status and not status.endswith("_IN_PROGRESS"):
                if status != f"{operation}_COMPLETE":
                    raise DeployError(f"stack {stack_name}: {status}: {self._failure(stack_name)}")
                return status
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        raise DeployError(f"stack {stack_name}: timed out waiting for {operation}")

    def _failure(self, stack_name: str) -> str:
        events = self.client("cloudformation").describe_stack_events(StackName=stack_name)
        reasons = [
            f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}"
            for e in events.get("StackEvents", [])
            if e.get("ResourceStatus", "").endswith("FAILED")
        ]
        return "; ".join(reasons) or "no failure reason reported"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _default_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def parse_overrides(items: list[str] | None) -> dict[str, str]:
    """``["K=V", "K2=V2"]`` (the sam CLI form) → dict; a clear error for anything else."""
    result: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise DeployError(f"parameter override must look like Key=Value, got {item!r}")
        result[key] = value
    return result
