"""Where moto stops short of AWS, these adapters close the gap, in this process only.

Each module patches one area and has its own test under tests/engine. ``install_all`` is
idempotent and is called once by :class:`imgpipe.local.engine.Engine` before the server starts.
Nothing here is used by the deploy client, so the same deploy path works on LocalStack and AWS.
"""

from __future__ import annotations

import importlib
from typing import Any

# Order matters only where noted in each module; all are independent today.
ADAPTERS = (
    "lambda_runtime",  # Invoke runs the real handler in warm worker processes (no Docker)
    "cloudformation",  # state machines: executing backend, DefinitionS3Location/Substitutions
    "cfn_parameters",  # stack updates: omitted parameters take their Default, UsePreviousValue
    # After cfn_parameters: a group its parameters replace is updated before what refers to it.
    "log_classes",  # log classes (IA refuses what AWS refuses); Logs Insights queries run
    "jsonata",  # ASL variables ($name) and JSONata, which moto's interpreter leaves unset
    "lambda_task",  # lambda:invoke results carry SdkHttpMetadata/SdkResponseMetadata, as on AWS
    "express",  # Express executions: ARNs, refused history APIs, 5 minutes; execution logs
    "asl_graph",  # definitions with a missing target, an unreachable state or no end refused
    "eventbridge",  # S3 → EventBridge event shape; rules that target state machines; DLQs
    "queue_policy",  # SQS queue policies decide what rules may send; 64-character rule names
    "s3_post_policy",  # presigned POST policies enforced as S3 does
    "cfn_rules",  # a template's Rules refuse CreateStack/UpdateStack as CloudFormation does
    "dynamodb_atomic",  # requests one at a time, so a conditional write has one winner
    "distributed_map",  # Distributed Map: tolerated failures, ResultWriter result files
    # Before iam: AWS authorises a request before it throttles it.
    "faults",  # the engine's fault plan: S3/DynamoDB throttling in front of moto's server
    "throughput",  # work moto repeats on every request or task, done once
    "iam",  # each function's calls authorised against its execution role
    "request_counter",  # requests counted by service and action, for `imgpipe cost` (outermost)
)

_installed = False


def install_all() -> None:
    global _installed
    if _installed:
        return
    for name in ADAPTERS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{name}":
                raise
            continue
        module.install()
    _installed = True


def forward_logs(spec: Any, request_id: str, lines: list[tuple[int, str]]) -> None:
    """Lambda runtime log sink → CloudWatch Logs (/aws/lambda/<name>), like the real service."""
    from imgpipe.local.adapters.lambda_runtime import put_log_events

    put_log_events(spec, request_id, lines)
