"""Enforce S3 POST policies (browser-form uploads) in moto, which accepts any presigned POST.

Wraps ``S3Response._bucket_response_post``: a form POST carrying a ``policy`` field is checked
like S3 does (signature, expiration, every condition, extra fields, content-length-range,
``bucket``, ``${filename}`` in ``key``) before moto stores the object.

Signatures (SigV4 or v2) are verified against the credentials the engine issued
(``imgpipe.local.credentials``: its fixed keys, IAM users' keys, STS sessions with their
``x-amz-security-token``); any other access key is ``InvalidAccessKeyId``, as on S3. A form
without a policy is an anonymous request: S3 stores it only if the bucket grants public write.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any
from xml.sax.saxutils import escape

from moto.core.common_types import TYPE_RESPONSE
from moto.s3.models import ALL_USERS_GRANTEE, PERMISSION_FULL_CONTROL, PERMISSION_WRITE
from moto.s3.responses import S3Response

from imgpipe.local import credentials

# Fields S3 never requires a condition for (names compared lower-cased).
_EXEMPT_FIELDS = frozenset({"x-amz-signature", "file", "policy", "awsaccesskeyid", "signature"})
# Fields that make a form POST a signed (non-anonymous) request.
_CREDENTIAL_FIELDS = ("awsaccesskeyid", "x-amz-credential")
_SIGV4_ALGORITHM = "AWS4-HMAC-SHA256"
_CREDENTIAL_RE = re.compile(r"^([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request$")
_HEX_SIGNATURE_RE = re.compile(r"^[0-9a-f]{64}$")
_PATCHED_MARK = "_imgpipe_post_policy"

_Handler = Callable[[S3Response, Any, str], TYPE_RESPONSE]


class PolicyError(Exception):
    """A POST rejected by policy validation, rendered as S3's XML error document."""

    def __init__(self, status: int, code: str, message: str, **extra: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def response(self) -> TYPE_RESPONSE:
        parts = [f"<Code>{self.code}</Code>", f"<Message>{escape(self.message)}</Message>"]
        parts += [f"<{name}>{escape(value)}</{name}>" for name, value in self.extra.items()]
        # moto rewrites <RequestId> with the id it also sends as a header.
        host_id = base64.b64encode(os.urandom(48)).decode()
        parts += ["<RequestId>0</RequestId>", f"<HostId>{host_id}</HostId>"]
        body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error>' + "".join(parts) + "</Error>"
        return self.status, {"content-type": "application/xml"}, body


def _denied(message: str) -> PolicyError:
    return PolicyError(403, "AccessDenied", f"Invalid according to Policy: {message}")


def _invalid_policy(message: str) -> PolicyError:
    return PolicyError(400, "InvalidPolicyDocument", f"Invalid Policy: {message}")


def _missing_field(name: str) -> PolicyError:
    return PolicyError(
        400,
        "InvalidArgument",
        f"Bucket POST must contain a field named '{name}'.  "
        "If it is specified, please check the order of the fields.",
        ArgumentName=name,
        ArgumentValue="",
    )


def _signature_mismatch() -> PolicyError:
    return PolicyError(
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
    )


def _decode_policy(encoded: str) -> dict[str, Any]:
    try:
        policy = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise _invalid_policy("Invalid JSON.") from exc
    if not isinstance(policy, dict):
        raise _invalid_policy("Invalid JSON.")
    if "expiration" not in policy:
        raise _invalid_policy("Policy missing expiration.")
    if not isinstance(policy.get("conditions"), list):
        raise _invalid_policy("Policy missing conditions.")
    return policy


def _hmac(key: bytes, msg: str, digest: Any = hashlib.sha256) -> bytes:
    return hmac.new(key, msg.encode(), digest).digest()


def _issued_secret(access_key_id: str, fields: Mapping[str, str]) -> str:
    try:
        return credentials.lookup(
            access_key_id, fields.get("x-amz-security-token")
        ).secret_access_key
    except credentials.CredentialError as error:
        if error.code == "InvalidAccessKeyId":
            raise PolicyError(
                403,
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
                AWSAccessKeyId=access_key_id,
            ) from error
        if error.code == "ExpiredToken":
            raise PolicyError(400, "ExpiredToken", "The provided token has expired.") from error
        raise PolicyError(
            400, "InvalidToken", "The provided token is malformed or otherwise invalid."
        ) from error


def _check_signature(fields: Mapping[str, str], policy_b64: str) -> None:
    """Verify the policy's signature with the secret of an access key the engine issued."""
    if "awsaccesskeyid" in fields:  # SigV2
        signature = fields.get("signature")
        if signature is None:
            raise _missing_field("Signature")
        secret = _issued_secret(fields["awsaccesskeyid"], fields)
        expected = base64.b64encode(_hmac(secret.encode(), policy_b64, hashlib.sha1)).decode()
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise _signature_mismatch()
        return

    for name in ("x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature"):
        if name not in fields:
            raise _missing_field(name)
    if fields["x-amz-algorithm"] != _SIGV4_ALGORITHM:
        raise PolicyError(
            400,
            "InvalidArgument",
            "POST requires exactly one of the supported signing algorithms.",
            ArgumentName="x-amz-algorithm",
            ArgumentValue=fields["x-amz-algorithm"],
        )
    credential = _CREDENTIAL_RE.match(fields["x-amz-credential"])
    if credential is None:
        raise PolicyError(
            400,
            "InvalidArgument",
            "Error parsing the X-Amz-Credential parameter.",
            ArgumentName="x-amz-credential",
            ArgumentValue=fields["x-amz-credential"],
        )
    signature = fields["x-amz-signature"]
    if not _HEX_SIGNATURE_RE.match(signature):
        raise _signature_mismatch()
    key_id, date, region, service = credential.groups()
    secret = _issued_secret(key_id, fields)
    key = _hmac(f"AWS4{secret}".encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    expected = hmac.new(key, policy_b64.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise _signature_mismatch()


def _check_expiration(expiration: Any) -> None:
    try:
        expires = datetime.fromisoformat(str(expiration))
    except ValueError as exc:
        raise _invalid_policy("Invalid 'expiration' value: '" + str(expiration) + "'") from exc
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    if expires <= datetime.now(UTC):
        raise _denied("Policy expired.")


def _condition_text(op: str, name: str, value: str) -> str:
    return json.dumps([op, f"${name}", value], separators=(", ", ": "))


def _check_conditions(conditions: list[Any], fields: Mapping[str, str], size: int) -> set[str]:
    """Check every condition; return the (lower-cased) field names they cover."""
    covered: set[str] = set()
    for condition in conditions:
        if isinstance(condition, dict):
            checks = [("eq", name, value) for name, value in condition.items()]
        elif isinstance(condition, list) and condition and condition[0] == "content-length-range":
            bad = _invalid_policy(f"Invalid Condition: {json.dumps(condition)}")
            if len(condition) != 3:
                raise bad
            try:
                low, high = int(condition[1]), int(condition[2])
            except (TypeError, ValueError) as exc:
                raise bad from exc
            if size > high:
                raise PolicyError(
                    400,
                    "EntityTooLarge",
                    "Your proposed upload exceeds the maximum allowed size",
                    ProposedSize=str(size),
                    MaxSizeAllowed=str(high),
                )
            if size < low:
                raise PolicyError(
                    400,
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed size",
                    ProposedSize=str(size),
                    MinSizeAllowed=str(low),
                )
            continue
        elif (
            isinstance(condition, list)
            and len(condition) == 3
            and str(condition[0]).lower() in ("eq", "starts-with")
            and str(condition[1]).startswith("$")
        ):
            checks = [(str(condition[0]).lower(), str(condition[1])[1:], condition[2])]
        else:
            raise _invalid_policy(f"Invalid Condition: {json.dumps(condition)}")

        for op, name, expected in checks:
            if not isinstance(expected, str):
                raise _invalid_policy(f"Invalid Condition: {json.dumps(condition)}")
            lowered = name.lower()
            covered.add(lowered)
            actual = fields.get(lowered, "")
            if op == "eq":
                ok = actual == expected
            elif lowered == "content-type":
                # S3 reads a comma-separated Content-Type as a list; every entry must match.
                ok = all(part.strip().startswith(expected) for part in actual.split(","))
            else:
                ok = actual.startswith(expected)
            if not ok:
                raise _denied(f"Policy Condition failed: {_condition_text(op, name, expected)}")
    return covered


def _form_fields(handler: S3Response, request: Any, bucket_name: str) -> dict[str, str]:
    """Form fields keyed by lower-cased name, as S3 matches them case-insensitively."""
    fields = {name.lower(): value for name, value in handler.form_data.items()}
    fields.pop("file", None)
    upload = request.files.get("file") if request.files else None
    if "key" in fields and upload is not None:
        filename = os.path.basename(upload.filename or "")
        fields["key"] = fields["key"].replace("${filename}", filename)
    # The bucket comes from the URL; a policy's bucket condition is checked against it.
    fields["bucket"] = bucket_name
    return fields


def _validate(handler: S3Response, request: Any, bucket_name: str, policy_b64: str) -> None:
    fields = _form_fields(handler, request, bucket_name)
    policy = _decode_policy(policy_b64)
    _check_signature(fields, policy_b64)
    _check_expiration(policy["expiration"])
    body = handler.body
    size = len(body.encode() if isinstance(body, str) else body or b"")
    covered = _check_conditions(policy["conditions"], fields, size)
    extra = [
        name
        for name in handler.form_data
        if name.lower() not in covered
        and name.lower() not in _EXEMPT_FIELDS
        and not name.lower().startswith("x-ignore-")
    ]
    if extra:
        raise _denied(f"Extra input fields: {', '.join(extra)}")


def _check_anonymous(handler: S3Response, request: Any, bucket: Any) -> None:
    """A form without a policy is unsigned: S3 stores it only where anyone may write."""
    fields = _form_fields(handler, request, bucket.name)
    if any(name in fields for name in _CREDENTIAL_FIELDS):
        raise _missing_field("policy")
    if not _grants_public_write(bucket, fields.get("key", "")):
        raise PolicyError(403, "AccessDenied", "Access Denied")


def _grants_public_write(bucket: Any, key: str) -> bool:
    block = bucket.public_access_block
    if not (block is not None and block.ignore_public_acls) and bucket.acl is not None:
        for grant in bucket.acl.grants:
            if ALL_USERS_GRANTEE in grant.grantees and (
                PERMISSION_WRITE in grant.permissions
                or PERMISSION_FULL_CONTROL in grant.permissions
            ):
                return True
    if bucket.policy is None or (block is not None and block.restrict_public_buckets):
        return False
    resource = f"arn:aws:s3:::{bucket.name}/{key}"
    allowed = False
    for statement in _statements(bucket.policy):
        if not (_is_public(statement.get("Principal")) and _matches(statement, resource)):
            continue
        if statement.get("Effect") == "Deny" and "Condition" not in statement:
            return False
        # An Allow with a Condition is not evaluated here, so it grants nothing (never kinder).
        if statement.get("Effect") == "Allow" and "Condition" not in statement:
            allowed = True
    return allowed


def _statements(policy: bytes) -> list[dict[str, Any]]:
    statements = json.loads(policy).get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def _is_public(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        aws = principal.get("AWS")
        return aws == "*" or (isinstance(aws, list) and "*" in aws)
    return False


def _matches(statement: dict[str, Any], resource: str) -> bool:
    actions = statement.get("Action", [])
    resources = statement.get("Resource", [])
    actions = [actions] if isinstance(actions, str) else actions
    resources = [resources] if isinstance(resources, str) else resources
    return any(fnmatchcase("s3:putobject", a.lower()) for a in actions) and any(
        fnmatchcase(resource, r) for r in resources
    )


def _success(handler: S3Response, bucket_name: str, response: TYPE_RESPONSE) -> TYPE_RESPONSE:
    """S3 honours success_action_status 200 and 201 (with a PostResponse body); else 204."""
    status, headers, body = response
    if int(status) in (301, 302, 303):
        return int(status), headers, body
    requested = {name.lower(): v for name, v in handler.form_data.items()}.get(
        "success_action_status"
    )
    if requested == "200":
        return 200, headers, ""
    if requested != "201":
        return 204, headers, ""
    key = handler.querystring["key"][0]
    obj = handler.backend.get_object(bucket_name, key)
    etag = obj.etag if obj is not None else ""
    location = f"{handler.uri.split('?')[0].rstrip('/')}/{key}"
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<PostResponse>'
        f"<Location>{escape(location)}</Location><Bucket>{escape(bucket_name)}</Bucket>"
        f"<Key>{escape(key)}</Key><ETag>{escape(etag)}</ETag></PostResponse>"
    )
    return 201, {**headers, "content-type": "application/xml"}, body


def _wrap(original: _Handler) -> _Handler:
    def bucket_response_post(self: S3Response, request: Any, bucket_name: str) -> TYPE_RESPONSE:
        self.path = self._get_path(request)
        if not request.headers.get("Content-Length") or self.is_delete_keys():
            return original(self, request, bucket_name)  # not a form upload (DeleteObjects)
        policy_field = next((n for n in self.form_data if n.lower() == "policy"), None)
        # S3 reports a missing bucket before looking at the policy; moto raises NoSuchBucket.
        bucket = self.backend.get_bucket(bucket_name)
        try:
            if policy_field is not None:
                _validate(self, request, bucket_name, self.form_data[policy_field])
            else:
                _check_anonymous(self, request, bucket)
        except PolicyError as error:
            return error.response()
        return _success(self, bucket_name, original(self, request, bucket_name))

    setattr(bucket_response_post, _PATCHED_MARK, True)
    return bucket_response_post


def install() -> None:
    """Patch moto's S3 form-POST handler in this process; calling it again is a no-op."""
    current = S3Response._bucket_response_post
    if getattr(current, _PATCHED_MARK, False):
        return
    S3Response._bucket_response_post = _wrap(current)  # type: ignore[method-assign,assignment]
