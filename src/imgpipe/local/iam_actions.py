"""Which IAM actions, resources and condition keys AWS checks for one API request.

Pure logic over the raw HTTP request (what the engine's server receives), following the
service authorization reference: e.g. HeadObject is ``s3:GetObject``, reading a version is
``s3:GetObjectVersion``, CopyObject needs ``s3:GetObject`` on the source and ``s3:PutObject`` on
the target, ListObjectsV2 is ``s3:ListBucket`` on the bucket with ``s3:prefix``, a DynamoDB Query
on an index is authorised on ``table/T/index/I``, SendMessageBatch is ``sqs:SendMessage``.
Operations not listed fall back to ``<service>:<Operation>`` on ``*``: a least-privilege role
is refused them, as it would be on AWS unless it grants the service broadly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.etree import ElementTree

from imgpipe.local.iam_policy import Check

_S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


@dataclass(frozen=True)
class Request:
    service: str  # the SigV4 signing name: s3, dynamodb, states, events, ...
    method: str
    path: str  # URL-decoded
    query: Mapping[str, Sequence[str]]
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    region: str
    account: str

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


class Unmapped(Exception):
    """The request cannot be attributed to an action (malformed body): refuse it."""


def checks(request: Request) -> list[Check]:
    handler = _SERVICES.get(request.service, _generic)
    return handler(request)


# -- S3 ---------------------------------------------------------------------------------------

_S3_BUCKET_SUBRESOURCES = {
    "versions": ("s3:ListBucketVersions", "", ""),
    "uploads": ("s3:ListBucketMultipartUploads", "", ""),
    "location": ("s3:GetBucketLocation", "", ""),
    "policy": ("s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"),
    "policyStatus": ("s3:GetBucketPolicyStatus", "", ""),
    "versioning": ("s3:GetBucketVersioning", "s3:PutBucketVersioning", ""),
    "cors": ("s3:GetBucketCORS", "s3:PutBucketCORS", "s3:PutBucketCORS"),
    "lifecycle": (
        "s3:GetLifecycleConfiguration",
        "s3:PutLifecycleConfiguration",
        "s3:PutLifecycleConfiguration",
    ),
    "notification": ("s3:GetBucketNotification", "s3:PutBucketNotification", ""),
    "tagging": ("s3:GetBucketTagging", "s3:PutBucketTagging", "s3:PutBucketTagging"),
    "acl": ("s3:GetBucketAcl", "s3:PutBucketAcl", ""),
    "encryption": (
        "s3:GetEncryptionConfiguration",
        "s3:PutEncryptionConfiguration",
        "s3:PutEncryptionConfiguration",
    ),
    "publicAccessBlock": (
        "s3:GetBucketPublicAccessBlock",
        "s3:PutBucketPublicAccessBlock",
        "s3:PutBucketPublicAccessBlock",
    ),
    "ownershipControls": (
        "s3:GetBucketOwnershipControls",
        "s3:PutBucketOwnershipControls",
        "s3:PutBucketOwnershipControls",
    ),
    "website": ("s3:GetBucketWebsite", "s3:PutBucketWebsite", "s3:DeleteBucketWebsite"),
    "logging": ("s3:GetBucketLogging", "s3:PutBucketLogging", ""),
    "object-lock": (
        "s3:GetBucketObjectLockConfiguration",
        "s3:PutBucketObjectLockConfiguration",
        "",
    ),
    "replication": (
        "s3:GetReplicationConfiguration",
        "s3:PutReplicationConfiguration",
        "s3:PutReplicationConfiguration",
    ),
}
# (GET/HEAD, PUT, DELETE) actions; the second triple is for a request naming a versionId.
_S3_OBJECT_SUBRESOURCES = {
    "tagging": (
        ("s3:GetObjectTagging", "s3:PutObjectTagging", "s3:DeleteObjectTagging"),
        (
            "s3:GetObjectVersionTagging",
            "s3:PutObjectVersionTagging",
            "s3:DeleteObjectVersionTagging",
        ),
    ),
    "acl": (
        ("s3:GetObjectAcl", "s3:PutObjectAcl", ""),
        ("s3:GetObjectVersionAcl", "s3:PutObjectVersionAcl", ""),
    ),
    "attributes": (
        ("s3:GetObjectAttributes", "", ""),
        ("s3:GetObjectVersionAttributes", "", ""),
    ),
    "retention": (
        ("s3:GetObjectRetention", "s3:PutObjectRetention", ""),
        ("s3:GetObjectRetention", "s3:PutObjectRetention", ""),
    ),
    "legal-hold": (
        ("s3:GetObjectLegalHold", "s3:PutObjectLegalHold", ""),
        ("s3:GetObjectLegalHold", "s3:PutObjectLegalHold", ""),
    ),
}
_VIRTUAL_HOST = re.compile(r"^(?P<bucket>[a-z0-9][a-z0-9.-]*?)\.(?:s3[.-]|localhost)")


def s3_location(request: Request) -> tuple[str, str]:
    """(bucket, key) of an S3 request, path-style or virtual-hosted."""
    host = (request.header("host") or "").split(":")[0]
    path = request.path.lstrip("/")
    hosted = _VIRTUAL_HOST.match(host)
    if hosted:
        return hosted["bucket"], path
    bucket, _, key = path.partition("/")
    return bucket, key


def s3_arn(bucket: str, key: str | None = None) -> str:
    return f"arn:aws:s3:::{bucket}" if key is None else f"arn:aws:s3:::{bucket}/{key}"


def _list_context(request: Request) -> dict[str, list[str]]:
    # s3:prefix is present (possibly empty) on every list; AWS compares "" against the policy.
    context = {"s3:prefix": [request.arg("prefix") or ""]}
    for arg, key in (("delimiter", "s3:delimiter"), ("max-keys", "s3:max-keys")):
        if request.arg(arg) is not None:
            context[key] = [str(request.arg(arg))]
    return context


def _s3(request: Request) -> list[Check]:
    bucket, key = s3_location(request)
    method = "GET" if request.method == "HEAD" and key else request.method
    if not bucket:
        return [Check("s3:ListAllMyBuckets", "*")]
    if not key:
        return _s3_bucket(request, bucket, method)
    versioned = request.arg("versionId") is not None
    arn = s3_arn(bucket, key)
    column = {"GET": 0, "PUT": 1, "DELETE": 2}.get(method)
    for name, (plain, by_version) in _S3_OBJECT_SUBRESOURCES.items():
        if name in request.query and column is not None:
            action = (by_version if versioned else plain)[column]
            return [Check(action or f"s3:{method}Object{name.title()}", arn)]
    if method == "GET":
        if "uploadId" in request.query:
            return [Check("s3:ListMultipartUploadParts", arn)]
        return [Check("s3:GetObjectVersion" if versioned else "s3:GetObject", arn)]
    if method == "DELETE":
        if "uploadId" in request.query:
            return [Check("s3:AbortMultipartUpload", arn)]
        return [Check("s3:DeleteObjectVersion" if versioned else "s3:DeleteObject", arn)]
    if method == "POST":
        if "restore" in request.query:
            return [Check("s3:RestoreObject", arn)]
        if "select" in request.query:
            return [Check("s3:GetObject", arn)]
        return [Check("s3:PutObject", arn)]  # multipart create/complete
    found = [Check("s3:PutObject", arn)]
    source = request.header("x-amz-copy-source")
    if source:
        found.append(copy_source_check(source))
    if request.header("x-amz-tagging"):
        found.append(Check("s3:PutObjectTagging", arn))
    if request.header("x-amz-acl") or request.header("x-amz-grant-full-control"):
        found.append(Check("s3:PutObjectAcl", arn))
    return found


def copy_source_check(source: str) -> Check:
    parts = urlsplit(source)
    path = unquote(parts.path).lstrip("/")
    versioned = "versionId" in parse_qs(parts.query)
    bucket, _, key = path.partition("/")
    return Check("s3:GetObjectVersion" if versioned else "s3:GetObject", s3_arn(bucket, key))


def _s3_bucket(request: Request, bucket: str, method: str) -> list[Check]:
    arn = s3_arn(bucket)
    if method == "HEAD":
        return [Check("s3:ListBucket", arn)]
    column = {"GET": 0, "PUT": 1, "DELETE": 2}.get(method)
    for name, actions in _S3_BUCKET_SUBRESOURCES.items():
        if name in request.query and column is not None and actions[column]:
            context = _list_context(request) if name == "versions" else {}
            return [Check(actions[column], arn, context)]
    if method == "GET":
        return [Check("s3:ListBucket", arn, _list_context(request))]
    if method == "PUT":
        return [Check("s3:CreateBucket", arn)]
    if method == "DELETE":
        return [Check("s3:DeleteBucket", arn)]
    if "delete" in request.query:
        return [
            Check("s3:DeleteObjectVersion" if version else "s3:DeleteObject", s3_arn(bucket, key))
            for key, version in delete_objects_keys(request.body)
        ]
    raise Unmapped("a form POST is authorised from its form fields")


def delete_objects_keys(body: bytes) -> list[tuple[str, str | None]]:
    """(key, versionId) pairs of a DeleteObjects request body."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as error:
        raise Unmapped("malformed DeleteObjects body") from error
    found = []
    for item in root.iter():
        if item.tag.removeprefix(_S3_NS) != "Object":
            continue
        key = item.findtext(f"{_S3_NS}Key") or item.findtext("Key") or ""
        version = item.findtext(f"{_S3_NS}VersionId") or item.findtext("VersionId")
        found.append((key, version))
    return found


# -- JSON and query protocol services ---------------------------------------------------------


def operation_and_params(request: Request) -> tuple[str, dict[str, Any]]:
    target = request.header("x-amz-target")
    if target:
        try:
            params = json.loads(request.body or b"{}")
        except ValueError as error:
            raise Unmapped("malformed JSON body") from error
        return target.rsplit(".", 1)[-1], params if isinstance(params, dict) else {}
    form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
    form.update({k: v[0] for k, v in request.query.items() if v})
    return str(form.get("Action", "")), form


def _arn(request: Request, service: str, resource: str, *, region: bool = True) -> str:
    where = request.region if region else ""
    return f"arn:aws:{service}:{where}:{request.account}:{resource}"


def _dynamodb(request: Request) -> list[Check]:
    operation, params = operation_and_params(request)

    def table(name: str, index: str | None = None) -> str:
        base = name if name.startswith("arn:") else _arn(request, "dynamodb", f"table/{name}")
        return f"{base}/index/{index}" if index else base

    if operation in ("BatchGetItem", "BatchWriteItem"):
        action = (
            "dynamodb:BatchGetItem" if operation == "BatchGetItem" else "dynamodb:BatchWriteItem"
        )
        return [Check(action, table(name)) for name in params.get("RequestItems", {})]
    if operation in ("TransactWriteItems", "TransactGetItems"):
        kinds = {
            "Put": "PutItem",
            "Update": "UpdateItem",
            "Delete": "DeleteItem",
            "ConditionCheck": "ConditionCheckItem",
            "Get": "GetItem",
        }
        return [
            Check(f"dynamodb:{kinds[kind]}", table(spec.get("TableName", "")))
            for item in params.get("TransactItems", [])
            for kind, spec in item.items()
            if kind in kinds
        ]
    name = params.get("TableName")
    if not name:
        return [Check(f"dynamodb:{operation}", "*")]
    return [Check(f"dynamodb:{operation}", table(name, params.get("IndexName")))]


_SQS_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


def _sqs(request: Request) -> list[Check]:
    operation, params = operation_and_params(request)
    action = "sqs:" + _SQS_ACTIONS.get(operation, operation)
    url = params.get("QueueUrl")
    if url:
        segments = [s for s in urlsplit(url).path.split("/") if s]
        account, name = (segments[-2], segments[-1]) if len(segments) >= 2 else ("", "")
        return [Check(action, f"arn:aws:sqs:{request.region}:{account}:{name}")]
    if params.get("QueueName"):
        account = params.get("QueueOwnerAWSAccountId") or request.account
        return [Check(action, f"arn:aws:sqs:{request.region}:{account}:{params['QueueName']}")]
    return [Check(action, "*")]


def _sns(request: Request) -> list[Check]:
    operation, params = operation_and_params(request)
    action = "sns:" + ("Publish" if operation == "PublishBatch" else operation)
    arn = params.get("TopicArn") or params.get("TargetArn") or params.get("ResourceArn")
    if not arn and operation == "CreateTopic" and params.get("Name"):
        arn = _arn(request, "sns", str(params["Name"]))
    return [Check(action, str(arn or "*"))]


def _events(request: Request) -> list[Check]:
    operation, params = operation_and_params(request)

    def bus(name: str | None) -> str:
        name = name or "default"
        return name if name.startswith("arn:") else _arn(request, "events", f"event-bus/{name}")

    if operation == "PutEvents":
        buses = {bus(entry.get("EventBusName")) for entry in params.get("Entries", [])}
        return [Check("events:PutEvents", arn) for arn in sorted(buses)]
    if params.get("Rule") or (params.get("Name") and "Rule" in operation):
        name = params.get("Rule") or params.get("Name")
        bus_name = params.get("EventBusName") or "default"
        scoped = f"rule/{name}" if bus_name == "default" else f"rule/{bus_name}/{name}"
        return [Check(f"events:{operation}", _arn(request, "events", scoped))]
    if operation in ("DescribeEventBus", "CreateEventBus", "DeleteEventBus"):
        return [Check(f"events:{operation}", bus(params.get("Name")))]
    return [Check(f"events:{operation}", "*")]


def _states(request: Request) -> list[Check]:
    operation, params = operation_and_params(request)
    action = f"states:{operation}"
    for key in ("executionArn", "stateMachineArn", "activityArn", "resourceArn", "mapRunArn"):
        if params.get(key):
            return [Check(action, str(params[key]))]
    if operation == "CreateStateMachine" and params.get("name"):
        return [Check(action, _arn(request, "states", f"stateMachine:{params['name']}"))]
    return [Check(action, "*")]


def _logs(request: Request) -> list[Check]:
    operation, params = operation_and_params(request)
    group = params.get("logGroupName")
    if group:  # log-group actions are authorised against "log-group:<name>:*"
        return [Check(f"logs:{operation}", _arn(request, "logs", f"log-group:{group}:*"))]
    return [Check(f"logs:{operation}", "*")]


def _sts(request: Request) -> list[Check]:
    operation, params = operation_and_params(request)
    if operation == "GetCallerIdentity":
        return []  # needs no permission on AWS either
    return [Check(f"sts:{operation}", str(params.get("RoleArn") or "*"))]


def _ssm(request: Request) -> list[Check]:
    """Parameter actions on ``parameter/<name without its leading slash>`` (path names)."""
    operation, params = operation_and_params(request)
    names = params.get("Names") or ([params["Name"]] if params.get("Name") else [])
    if not names:
        return [Check(f"ssm:{operation}", "*")]
    return [
        Check(f"ssm:{operation}", _arn(request, "ssm", f"parameter/{str(name).lstrip('/')}"))
        for name in names
    ]


def _generic(request: Request) -> list[Check]:
    operation, _ = operation_and_params(request)
    return [Check(f"{request.service}:{operation or 'Unknown'}", "*")]


# -- REST JSON/XML services -------------------------------------------------------------------

_LAMBDA_ROUTES = (
    (re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$"), "POST", "InvokeFunction"),
    (
        re.compile(r"^/2021-11-15/functions/([^/]+)/response-streaming-invocations$"),
        "POST",
        "InvokeFunction",
    ),
    (re.compile(r"^/2014-11-13/functions/([^/]+)/invoke-async/?$"), "POST", "InvokeFunction"),
    (
        re.compile(r"^/2015-03-31/functions/([^/]+)/configuration$"),
        "GET",
        "GetFunctionConfiguration",
    ),
    (re.compile(r"^/2015-03-31/functions/([^/]+)/?$"), "GET", "GetFunction"),
)


def _lambda(request: Request) -> list[Check]:
    for pattern, method, action in _LAMBDA_ROUTES:
        match = pattern.match(request.path)
        if match and request.method == method:
            name = match[1]
            if not name.startswith("arn:"):
                name = _arn(request, "lambda", f"function:{name}")
            qualifier = request.arg("Qualifier")
            if qualifier and name.count(":") == 6:
                name = f"{name}:{qualifier}"
            return [Check(f"lambda:{action}", name)]
    return [Check("lambda:Unknown", "*")]


_CLOUDFRONT_ROUTES = (
    (re.compile(r"^/[\d-]+/distribution/([^/]+)/invalidation$"), "POST", "CreateInvalidation"),
    (re.compile(r"^/[\d-]+/distribution/([^/]+)/invalidation$"), "GET", "ListInvalidations"),
    (re.compile(r"^/[\d-]+/distribution/([^/]+)/invalidation/[^/]+$"), "GET", "GetInvalidation"),
    (re.compile(r"^/[\d-]+/distribution/([^/]+)$"), "GET", "GetDistribution"),
    (re.compile(r"^/[\d-]+/distribution/([^/]+)/config$"), "GET", "GetDistributionConfig"),
    (re.compile(r"^/[\d-]+/distribution/([^/]+)/config$"), "PUT", "UpdateDistribution"),
)


def _cloudfront(request: Request) -> list[Check]:
    for pattern, method, action in _CLOUDFRONT_ROUTES:
        match = pattern.match(request.path)
        if match and request.method == method:
            arn = _arn(request, "cloudfront", f"distribution/{match[1]}", region=False)
            return [Check(f"cloudfront:{action}", arn)]
    return [Check("cloudfront:Unknown", "*")]


_SERVICES = {
    "s3": _s3,
    "dynamodb": _dynamodb,
    "sqs": _sqs,
    "sns": _sns,
    "events": _events,
    "states": _states,
    "logs": _logs,
    "sts": _sts,
    "ssm": _ssm,
    "lambda": _lambda,
    "cloudfront": _cloudfront,
}
