"""``imgpipe teardown``: remove a stack whose data resources are retained.

The template keeps the buckets, the status table and the DLQ when the stack is deleted
(``DeletionPolicy: Retain``), and CloudFormation cannot delete a non-empty bucket at all, so
``sam delete`` alone leaves data behind or fails. This empties the buckets the stack deletes (every
version and delete marker), deletes the stack, then empties and deletes what it retained,
unless ``--keep-data``.
"""

from __future__ import annotations

import argparse
import time

from botocore.exceptions import ClientError
from samtranslator.yaml_helper import yaml_parse

from imgpipe.aws import Stack
from imgpipe.cli import CliError
from imgpipe.commands.ops import connect, stack_arguments

DATA_TYPES = ("AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::SQS::Queue")
_ALREADY_GONE = {
    "NoSuchBucket",
    "ResourceNotFoundException",
    "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
}


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "teardown",
        parents=[stack_arguments()],
        help="empty the buckets, delete the stack and the data it retains",
    )
    parser.add_argument(
        "--keep-data", action="store_true", help="delete only the stack; keep its data resources"
    )
    parser.add_argument("--yes", action="store_true", help="required: this deletes data")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    stack = connect(args)
    resources = data_resources(stack)
    doomed = [(k, i) for k, i, kept in resources if not (kept and args.keep_data)]
    if not args.yes:
        listed = "\n".join(f"  {kind} {ident}" for kind, ident in doomed)
        raise CliError(f"teardown deletes stack {stack.name} and, with it:\n{listed}\nadd --yes")
    # CloudFormation deletes a bucket without a Retain policy only once it is empty.
    for kind, ident, kept in resources:
        if kind == "AWS::S3::Bucket" and not kept:
            print(f"emptying s3://{ident} ({empty_bucket(stack, ident)} versions and markers)")
    print(f"deleting stack {stack.name}")
    delete_stack(stack, args.timeout)
    for kind, ident, kept in resources:
        if kept and args.keep_data:
            print(f"kept {kind} {ident}")
        elif kept:
            delete_retained(stack, kind, ident)
            print(f"deleted {kind} {ident}")
    return 0


def data_resources(stack: Stack) -> list[tuple[str, str, bool]]:
    """(type, physical id, retained by the stack's deletion) of its buckets, tables, queues."""
    cfn = stack.client("cloudformation")
    body = cfn.get_template(StackName=stack.name, TemplateStage="Processed")["TemplateBody"]
    template = body if isinstance(body, dict) else yaml_parse(body)  # YAML or JSON
    declared = template.get("Resources", {})
    found = []
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack.name):
        for resource in page["StackResourceSummaries"]:
            if resource["ResourceType"] in DATA_TYPES and resource.get("PhysicalResourceId"):
                policy = declared.get(resource["LogicalResourceId"], {}).get("DeletionPolicy")
                kept = policy in ("Retain", "RetainExceptOnCreate", "Snapshot")
                found.append((resource["ResourceType"], resource["PhysicalResourceId"], kept))
    return found


def empty_bucket(stack: Stack, bucket: str) -> int:
    """Delete every object version and delete marker; returns how many were deleted."""
    s3 = stack.client("s3")
    deleted = 0
    try:
        pages = list(s3.get_paginator("list_object_versions").paginate(Bucket=bucket))
    except ClientError as error:
        if error.response["Error"]["Code"] == "NoSuchBucket":
            return 0
        raise
    for page in pages:
        batch = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        for start in range(0, len(batch), 1000):  # DeleteObjects takes at most 1000 keys
            chunk = batch[start : start + 1000]
            result = s3.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True})
            if result.get("Errors"):
                first = result["Errors"][0]
                raise CliError(f"s3://{bucket}/{first['Key']}: {first['Code']} {first['Message']}")
            deleted += len(chunk)
    return deleted


def delete_stack(stack: Stack, timeout: float) -> None:
    cfn = stack.client("cloudformation")
    cfn.delete_stack(StackName=stack.name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = cfn.describe_stacks(StackName=stack.name)["Stacks"][0]["StackStatus"]
        except ClientError:
            return  # gone
        if status == "DELETE_COMPLETE":
            return
        if status == "DELETE_FAILED":
            raise CliError(f"stack {stack.name}: DELETE_FAILED (see its events)")
        time.sleep(2)
    raise CliError(f"stack {stack.name}: not deleted within {timeout:.0f}s")


def delete_retained(stack: Stack, kind: str, ident: str) -> None:
    try:
        if kind == "AWS::S3::Bucket":
            empty_bucket(stack, ident)  # anything written while the stack was being deleted
            stack.client("s3").delete_bucket(Bucket=ident)
        elif kind == "AWS::DynamoDB::Table":
            stack.client("dynamodb").delete_table(TableName=ident)
        elif kind == "AWS::SQS::Queue":
            stack.client("sqs").delete_queue(QueueUrl=ident)  # a queue's physical id is its URL
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code not in _ALREADY_GONE:
            raise
