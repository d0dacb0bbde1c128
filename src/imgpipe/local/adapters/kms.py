"""KMS enforced on calls that touch a resource encrypted with a customer managed key.

moto stores which key encrypts a bucket's objects, a table, a queue or a topic, but never asks
KMS: any caller reads and writes them. On AWS the service calls KMS on the caller's behalf, so
the caller also needs the kms action on the key (through that service, ``kms:ViaService``),
and the key's own policy must allow it (directly, or by delegating to the account's IAM
policies). Here, for a request the IAM gate has already allowed:

- S3: GetObject (not HeadObject) of an SSE-KMS object needs ``kms:Decrypt``; PutObject, the
  target of CopyObject and a POST upload into SSE-KMS (the request's headers or fields, else
  the bucket default) ``kms:GenerateDataKey``; CopyObject's SSE-KMS source ``kms:Decrypt``;
  CreateMultipartUpload both.
- DynamoDB: every item call on a table under a customer managed key ``kms:Decrypt`` (DynamoDB
  decrypts the table key per caller; AWS caches it for minutes, the engine checks every call).
- SQS: SendMessage ``kms:GenerateDataKey`` and ``kms:Decrypt``, ReceiveMessage ``kms:Decrypt``.
- SNS: Publish ``kms:GenerateDataKey`` and ``kms:Decrypt``.

A key that does not exist in the engine's KMS, or is disabled, fails the call as on AWS. Keys
AWS manages (``alias/aws/...``) allow every principal of the account through their service and
are not checked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from imgpipe.local import iam_actions
from imgpipe.local.iam_actions import Request
from imgpipe.local.iam_policy import Check

_DYNAMODB_ITEM_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
}
_SQS_ACTIONS = {
    "sqs:SendMessage": ("kms:GenerateDataKey", "kms:Decrypt"),
    "sqs:ReceiveMessage": ("kms:Decrypt",),
}
_SNS_ACTIONS = {"sns:Publish": ("kms:GenerateDataKey", "kms:Decrypt")}
_S3_OBJECT_SUBRESOURCES = ("tagging", "acl", "attributes", "retention", "legal-hold", "restore")


@dataclass(frozen=True)
class KeyUse:
    """One kms action a service performs on the caller's behalf."""

    action: str
    key: str  # as the resource names it: key ARN, key id, alias name or alias ARN
    service: str  # the kms:ViaService prefix: s3, dynamodb, sqs, sns
    context: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def check(self, key_arn: str, region: str, account: str) -> Check:
        context = {
            **self.context,
            "kms:ViaService": [f"{self.service}.{region}.amazonaws.com"],
            "kms:CallerAccount": [account],
        }
        return Check(self.action, key_arn, context)


@dataclass(frozen=True)
class Key:
    arn: str
    policy: Mapping[str, Any]
    problem: str | None = None  # "NotFound", "Disabled": the call fails whatever the policy


def key_uses(request: Request, checks: Sequence[Check], form: Mapping[str, str]) -> list[KeyUse]:
    """The kms actions an already-authorised request implies (none for unencrypted data)."""
    if request.service == "s3":
        return _s3_uses(request, form)
    uses: list[KeyUse] = []
    for check in checks:
        if request.service == "dynamodb" and check.action in _DYNAMODB_ITEM_ACTIONS:
            uses += _dynamodb_uses(request, check.resource)
        elif request.service == "sqs" and check.action in _SQS_ACTIONS:
            key = _queue_key(check.resource)
            context = {"kms:EncryptionContext:aws:sqs:arn": [check.resource]}
            uses += [KeyUse(a, key, "sqs", context) for a in _SQS_ACTIONS[check.action] if key]
        elif request.service == "sns" and check.action in _SNS_ACTIONS:
            key = _topic_key(check.resource)
            uses += [KeyUse(a, key, "sns") for a in _SNS_ACTIONS[check.action] if key]
    # A batch naming one table twice checks it once.
    return list({(u.action, u.key, u.service): u for u in uses}.values())


def resolve(reference: str, account: str, region: str) -> Key | None:
    """The customer managed key a resource names, or None for one AWS manages."""
    from moto.kms.models import kms_backends

    if reference.startswith("alias/aws/") or ":alias/aws/" in reference:
        return None
    if reference.startswith("arn:"):
        parts = reference.split(":")
        region, account = parts[3], parts[4]
    backend = kms_backends[account][region]
    missing = Key(f"arn:aws:kms:{region}:{account}:{reference.rsplit(':', 1)[-1]}", {}, "NotFound")
    try:
        key = backend.describe_key(reference)
    except Exception:  # moto raises KeyError or NotFoundException for an unknown id or alias
        return missing
    if key.key_manager == "AWS" or any(name.startswith("alias/aws/") for name in key.aliases):
        return None
    policy = json.loads(key.policy) if key.policy else {}
    if not key.enabled or key.key_state != "Enabled":
        return Key(key.arn, policy, "Disabled")
    return Key(key.arn, policy)


# -- S3 ---------------------------------------------------------------------------------------


def _s3_backend() -> Any:
    from moto.s3.models import s3_backends

    return s3_backends


def _s3_uses(request: Request, form: Mapping[str, str]) -> list[KeyUse]:
    bucket, key = iam_actions.s3_location(request)
    if not bucket:
        return []
    if form:
        object_key = form.get("key", "").replace("${filename}", form.get("filename", ""))
        target = _s3_target(request, bucket, object_key, form)
        return [KeyUse("kms:GenerateDataKey", *target)] if target else []
    if not key or any(name in request.query for name in _S3_OBJECT_SUBRESOURCES):
        return []
    method, query = request.method, request.query
    uses: list[KeyUse] = []
    if method == "GET" and "uploadId" not in query:
        stored = _s3_stored(request.account, bucket, key, request.arg("versionId"))
        uses += [KeyUse("kms:Decrypt", *stored)] if stored else []
    elif method == "PUT" and "uploadId" not in query:
        target = _s3_target(request, bucket, key, {})
        uses += [KeyUse("kms:GenerateDataKey", *target)] if target else []
        source = request.header("x-amz-copy-source")
        if source:
            parts = urlsplit(source)
            source_bucket, _, source_key = unquote(parts.path).lstrip("/").partition("/")
            versions = parse_qs(parts.query).get("versionId")
            version = versions[0] if versions else None
            stored = _s3_stored(request.account, source_bucket, source_key, version)
            uses += [KeyUse("kms:Decrypt", *stored)] if stored else []
    elif method == "POST" and "uploads" in query:
        target = _s3_target(request, bucket, key, {})
        if target:
            uses += [KeyUse("kms:GenerateDataKey", *target), KeyUse("kms:Decrypt", *target)]
    return uses


def _s3_context(bucket: str, key: str, bucket_key: bool) -> tuple[str, Mapping[str, list[str]]]:
    # With an S3 Bucket Key the encryption context is the bucket's ARN, else the object's.
    arn = iam_actions.s3_arn(bucket) if bucket_key else iam_actions.s3_arn(bucket, key)
    return "s3", {"kms:EncryptionContext:aws:s3:arn": [arn]}


def _s3_stored(
    account: str, bucket: str, key: str, version: str | None
) -> tuple[str, str, Mapping[str, list[str]]] | None:
    try:
        found = _s3_backend()[account]["aws"].get_object(bucket, key, version_id=version)
    except Exception:  # missing bucket, key or version: S3's own answer follows
        return None
    if found is None or not str(found.encryption or "").startswith("aws:kms"):
        return None
    reference = found.kms_key_id or "alias/aws/s3"
    bucket_key = str(found.bucket_key_enabled).lower() == "true"
    return (reference, *_s3_context(bucket, key, bucket_key))


def _s3_target(
    request: Request, bucket: str, key: str, form: Mapping[str, str]
) -> tuple[str, str, Mapping[str, list[str]]] | None:
    def given(name: str) -> str | None:
        return form.get(name) if form else request.header(name)

    algorithm = given("x-amz-server-side-encryption")
    reference = given("x-amz-server-side-encryption-aws-kms-key-id")
    bucket_key_given = given("x-amz-server-side-encryption-bucket-key-enabled")
    rule: Mapping[str, Any] = {}
    if not algorithm:
        try:
            found = _s3_backend()[request.account]["aws"].get_bucket(bucket)
        except Exception:
            return None
        rule = (found.encryption or {}).get("Rule", {})
        default = rule.get("ApplyServerSideEncryptionByDefault", {})
        algorithm, reference = default.get("SSEAlgorithm"), default.get("KMSMasterKeyID")
    if not str(algorithm or "").startswith("aws:kms"):
        return None
    enabled = bucket_key_given if bucket_key_given is not None else rule.get("BucketKeyEnabled")
    return (reference or "alias/aws/s3", *_s3_context(bucket, key, str(enabled).lower() == "true"))


# -- DynamoDB, SQS, SNS -----------------------------------------------------------------------


def _dynamodb_uses(request: Request, resource: str) -> list[KeyUse]:
    from moto.dynamodb.models import dynamodb_backends

    if ":table/" not in resource:
        return []
    name = resource.split(":table/", 1)[1].split("/", 1)[0]
    try:
        table = dynamodb_backends[request.account][request.region].get_table(name)
    except Exception:  # DynamoDB's own ResourceNotFoundException follows
        return []
    spec = table.sse_specification or {}
    if str(spec.get("Enabled")).lower() != "true" or not spec.get("KMSMasterKeyId"):
        return []
    context = {"kms:EncryptionContext:aws:dynamodb:tableName": [name]}
    return [KeyUse("kms:Decrypt", str(spec["KMSMasterKeyId"]), "dynamodb", context)]


def _queue_key(arn: str) -> str:
    from moto.sqs.models import sqs_backends

    parts = arn.split(":")
    if len(parts) != 6:
        return ""
    found = sqs_backends[parts[4]][parts[3]].queues.get(parts[5])
    return str(getattr(found, "kms_master_key_id", "") or "")


def _topic_key(arn: str) -> str:
    from moto.sns.models import sns_backends

    parts = arn.split(":")
    if len(parts) != 6:
        return ""
    found = sns_backends[parts[4]][parts[3]].topics.get(arn)
    return str(getattr(found, "kms_master_key_id", "") or "")


def service_may_use(
    use: KeyUse, principal: str, account: str, region: str, source_arn: str
) -> bool:
    """Whether a key's policy lets an AWS service principal (EventBridge delivering to an
    encrypted queue, CloudFront reading an SSE-KMS object) perform ``use`` for ``source_arn``."""
    from imgpipe.local import iam_policy

    key = resolve(use.key, account, region)
    if key is None:
        return True
    if key.problem is not None:
        return False
    caller = iam_policy.Caller(account, service=principal)
    context = {"aws:SourceArn": [source_arn], "aws:SourceAccount": [account]}
    check = use.check(key.arn, region, account)
    verdict = iam_policy.decide_key(None, key.policy, check, context, caller)
    return verdict is iam_policy.Verdict.ALLOWED
