"""One way for every command to reach a deployed stack: the local engine, LocalStack or AWS."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

from imgpipe.local import discovery

_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"})


class StackNotFound(Exception):
    pass


@dataclass
class Stack:
    """A deployed imgpipe stack: its outputs and clients bound to its endpoint."""

    name: str
    endpoint_url: str | None
    session: boto3.Session
    outputs: dict[str, str] = field(default_factory=dict)

    @classmethod
    def connect(
        cls,
        *,
        stack_name: str | None = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        load_outputs: bool = True,
    ) -> Stack:
        """Explicit endpoint > $AWS_ENDPOINT_URL > a running `imgpipe local up` > AWS itself."""
        record = discovery.read()
        endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint is None and record is not None:
            endpoint = str(record["endpoint"])
        name = stack_name or (record["stack"] if record else None) or "imgpipe"
        region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if record is not None and endpoint == record["endpoint"]:
            from imgpipe.local.engine import fake_session

            session = fake_session(region or "us-east-1")
        else:
            session = boto3.Session(region_name=region or "us-east-1")
        stack = cls(name=name, endpoint_url=endpoint, session=session)
        if load_outputs:  # False: a command that works before the stack exists
            stack.outputs = stack.load_outputs()
        return stack

    def client(self, service: str) -> Any:
        session: Any = self.session
        return session.client(service, endpoint_url=self.endpoint_url, config=_CONFIG)

    def load_outputs(self) -> dict[str, str]:
        cfn = self.client("cloudformation")
        try:
            stacks = cfn.describe_stacks(StackName=self.name)["Stacks"]
        except Exception as error:
            raise StackNotFound(
                f"stack {self.name!r} not found at {self.endpoint_url or 'AWS'}: {error}"
            ) from error
        return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}

    def output(self, key: str) -> str:
        try:
            return self.outputs[key]
        except KeyError:
            raise StackNotFound(f"stack {self.name!r} has no output {key!r}") from None
