"""IAM enforced for execution roles: every call a function or state machine makes is authorised.

On AWS a Lambda function calls AWS with its execution role's temporary credentials, and each
call is checked against that role's policies. moto accepts every call (its optional access
control is global, checks resources only for S3 and cannot tell the deployer from a function).
Here:

- :func:`role_credentials` assumes a role on moto's STS and caches the session until shortly
  before it expires; the Lambda runtime adapter puts them in each worker's environment, and
  Step Functions' service integrations (Lambda, DynamoDB, SQS tasks) use the state machine's.
- A gate in front of moto's server maps every request signed with credentials of an assumed
  role to the IAM checks AWS makes (:mod:`imgpipe.local.iam_actions`) and evaluates the role's
  inline and attached policies, permissions boundary and session policy
  (:mod:`imgpipe.local.iam_policy`). A refusal is the service's own AccessDenied response.
- A call the role may make that has S3, DynamoDB, SQS or SNS use a customer managed KMS key
  also needs the kms action on that key, by the role's policies and the key policy
  (:mod:`imgpipe.local.adapters.kms`); refused with the service's own KMS error.
- Anything else (the engine's ``testing`` keys: deployer, tests, CLI) passes unchecked.
"""

from __future__ import annotations

import base64
import datetime
import io
import json
import os
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from moto.core import DEFAULT_ACCOUNT_ID
from moto.iam.exceptions import NotFoundException
from moto.iam.models import iam_backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.sts.models import AssumedRole, sts_backends

from imgpipe.local import credentials, iam_actions, iam_policy
from imgpipe.local.adapters import kms
from imgpipe.local.iam_actions import Request
from imgpipe.local.iam_policy import Check, Policies, Verdict

SESSION_SECONDS = 3600
# A session is replaced when less than this is left: longer than any Lambda invocation (15 min).
REFRESH_MARGIN = datetime.timedelta(minutes=20)

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
_QUERY_SERVICES = {"sns", "sts", "iam", "cloudformation"}

_installed = False
_lock = threading.Lock()
_sessions: dict[tuple[str, str], AssumedRole] = {}


def install() -> None:
    global _installed
    if _installed:
        return
    original = DomainDispatcherApplication.__call__

    def gated(
        self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Any
    ) -> Any:
        return _gate(environ, start_response, lambda env, st: original(self, env, st))

    DomainDispatcherApplication.__call__ = gated  # type: ignore[method-assign]
    _patch_step_functions_clients()
    _installed = True


# -- credentials ----------------------------------------------------------------------------


def role_credentials(role_arn: str, session_name: str, region: str) -> dict[str, str]:
    """Environment variables holding a session of ``role_arn``, as Lambda provides them."""
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    with _lock:
        account = role_arn.split(":")[4] or DEFAULT_ACCOUNT_ID
        backend = sts_backends[account]["aws"]
        session = _sessions.get((role_arn, session_name))
        # A reset engine forgets its sessions: a cached one it no longer knows would go unchecked.
        known = session is not None and session in backend.assumed_roles
        if session is None or not known or session.expiration - now < REFRESH_MARGIN:
            session = backend.assume_role(
                region_name=region,
                role_session_name=session_name[:64],
                role_arn=role_arn,
                policy=None,  # type: ignore[arg-type]
                duration=SESSION_SECONDS,
                external_id=None,  # type: ignore[arg-type]
            )
            _sessions[(role_arn, session_name)] = session
    return {
        "AWS_ACCESS_KEY_ID": session.access_key_id,
        "AWS_SECRET_ACCESS_KEY": session.secret_access_key,
        "AWS_SESSION_TOKEN": session.session_token,
    }


@dataclass(frozen=True)
class Principal:
    session: AssumedRole
    account: str
    token: str | None

    @property
    def arn(self) -> str:
        role_name = self.session.role_arn.split("/")[-1]
        return f"arn:aws:sts::{self.account}:assumed-role/{role_name}/{self.session.session_name}"


@dataclass(frozen=True)
class Caller:
    """One request of a role session, with what its authorisation is decided on."""

    principal: Principal
    request: Request
    policies: Policies

    def decide(self, check: Check) -> Verdict:
        context = _global_context(self.principal, self.request)
        return iam_policy.decide(self.policies, check, context)


def _assumed_role(access_key: str) -> tuple[str, AssumedRole] | None:
    if not access_key.startswith("ASIA"):
        return None
    for account, backend in list(sts_backends.items()):
        found = backend["aws"].get_assumed_role_from_access_key(access_key)
        if found is not None:
            return account, found
    return None


def role_policies(account: str, session: AssumedRole) -> Policies:
    backend = iam_backends[account]["aws"]
    try:
        role = backend.get_role_by_arn(session.role_arn)
    except NotFoundException:  # a deleted or never-created role allows nothing
        return Policies(identity=[])
    identity = [iam_policy.load_document(doc) for doc in role.policies.values()]
    identity += [_default_version(policy) for policy in role.managed_policies.values()]
    boundary = None
    if role.permissions_boundary_arn:
        managed = backend.managed_policies.get(role.permissions_boundary_arn)
        boundary = _default_version(managed) if managed else {"Statement": []}
    session_policy = iam_policy.load_document(session.policy) if session.policy else None
    return Policies(identity=identity, boundary=boundary, session=session_policy)


def _default_version(policy: Any) -> Any:
    for version in policy.versions:
        if version.is_default:
            return iam_policy.load_document(version.document)
    return {"Statement": []}


# -- the gate --------------------------------------------------------------------------------

Downstream = Callable[[dict[str, Any], Any], Iterable[bytes]]


def _gate(environ: dict[str, Any], start: Any, downstream: Downstream) -> Iterable[bytes]:
    headers = {
        key[5:].replace("_", "-").lower(): value
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    key, region, service = _signer(headers, query)
    body = b""
    is_form = environ.get("REQUEST_METHOD") == "POST" and "multipart/form-data" in (
        headers.get("content-type") or ""
    )
    if key is None and not is_form:
        return downstream(environ, start)
    needs_body = key is None or service != "s3" or "delete" in query
    if needs_body:
        body = _read_body(environ)
    form: dict[str, str] = {}
    if key is None:
        form = _form_fields(environ, body)
        key, region, service = _form_signer(form)
        if key is None:
            return downstream(environ, start)
    found = _assumed_role(key)
    if found is None:
        return downstream(environ, start)
    account, session = found
    token = headers.get("x-amz-security-token") or _first(query, "X-Amz-Security-Token")
    token = token or form.get("x-amz-security-token")
    principal = Principal(session, account, token)
    request = Request(
        service=service or "",
        method=environ.get("REQUEST_METHOD", "GET"),
        path=_decoded_path(environ),
        query=query,
        headers=headers,
        body=body,
        region=region or session.region_name,
        account=account,
    )
    refused = _credentials_problem(principal, request)
    if refused is not None:
        return refused(start)
    try:
        if form:
            bucket, _ = iam_actions.s3_location(request)
            object_key = form.get("key", "").replace("${filename}", form.get("filename", ""))
            wanted = [Check("s3:PutObject", iam_actions.s3_arn(bucket, object_key))]
        else:
            wanted = iam_actions.checks(request)
    except iam_actions.Unmapped:
        wanted = [Check(f"{service}:Unknown", "*")]
    caller = Caller(principal, request, role_policies(account, session))
    if request.service == "s3" and request.method == "POST" and "delete" in query and not form:
        return _delete_objects(environ, start, downstream, caller)
    for check in wanted:
        try:
            verdict = caller.decide(check)
        except iam_policy.UnsupportedCondition as error:
            # Refuse, naming the gap, rather than guess (and not a 500 the SDK would retry).
            message = f"imgpipe engine: {error}"
            if request.service == "s3":
                return _s3_error(403, "AccessDenied", message, request)(start)
            return _error(request, 400, "AccessDeniedException", message)(start)
        if verdict is not Verdict.ALLOWED:
            return _denied(principal, request, check, verdict)(start)
    # The service then calls KMS for the caller: only once IAM allowed the call itself.
    for use in kms.key_uses(request, wanted, form):
        refusal = _key_refusal(caller, use)
        if refusal is not None:
            return refusal(start)
    if request.service == "s3" and request.method in ("GET", "HEAD") and wanted:
        return _hide_missing(environ, start, downstream, caller)
    return downstream(environ, start)


def _signer(
    headers: dict[str, str], query: dict[str, list[str]]
) -> tuple[str | None, str | None, str | None]:
    match = _CREDENTIAL.search(headers.get("authorization", ""))
    if match:
        return match[1], match[2], match[3]
    credential = _first(query, "X-Amz-Credential")
    if credential and credential.count("/") == 4:
        key, _, region, service, _ = credential.split("/")
        return key, region, service
    return None, None, None


def _form_signer(form: dict[str, str]) -> tuple[str | None, str | None, str | None]:
    credential = form.get("x-amz-credential", "")
    if credential.count("/") == 4:
        key, _, region, service, _ = credential.split("/")
        return key, region, service
    return form.get("awsaccesskeyid"), None, "s3"


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _read_body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if not length and not environ.get("wsgi.input_terminated"):
        return b""
    stream = environ["wsgi.input"]
    body: bytes = stream.read(length) if length else stream.read()
    environ["wsgi.input"] = io.BytesIO(body)  # downstream reads the same bytes again
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def _form_fields(environ: dict[str, Any], body: bytes) -> dict[str, str]:
    from werkzeug.formparser import parse_form_data

    copy = {**environ, "wsgi.input": io.BytesIO(body)}
    _, form, files = parse_form_data(copy)
    fields = {name.lower(): value for name, value in form.items()}
    upload = files.get("file")
    if upload is not None and upload.filename:
        fields["filename"] = upload.filename
    return fields


def _decoded_path(environ: dict[str, Any]) -> str:
    # PEP 3333 hands PATH_INFO over as latin-1; S3 keys are UTF-8.
    path: str = environ.get("PATH_INFO", "/")
    try:
        return path.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return path


def _global_context(principal: Principal, request: Request) -> dict[str, list[str]]:
    now = datetime.datetime.now(datetime.UTC)
    return {
        "aws:PrincipalArn": [principal.session.role_arn],
        "aws:PrincipalAccount": [principal.account],
        "aws:PrincipalType": ["AssumedRole"],
        "aws:userid": [f"{principal.session.user_id}"],
        "aws:RequestedRegion": [request.region],
        "aws:SecureTransport": ["false"],  # loopback HTTP; the template never conditions on it
        "aws:CurrentTime": [now.strftime("%Y-%m-%dT%H:%M:%SZ")],
        "aws:EpochTime": [str(int(now.timestamp()))],
    }


def _key_refusal(caller: Caller, use: kms.KeyUse) -> Responder | None:
    principal, request = caller.principal, caller.request
    key = kms.resolve(use.key, request.account, request.region)
    if key is None:
        return None
    if key.problem is not None:
        state = "does not exist" if key.problem == "NotFound" else "is disabled"
        return _kms_error(request, key.problem, f"{key.arn} {state}.")
    check = use.check(key.arn, request.region, request.account)
    who = iam_policy.Caller(principal.account, arns=(principal.session.role_arn, principal.arn))
    context = _global_context(principal, request)
    verdict = iam_policy.decide_key(caller.policies, key.policy, check, context, who)
    if verdict is Verdict.ALLOWED:
        return None
    reason = verdict.value.format(action=check.action)
    message = (
        f"User: {principal.arn} is not authorized to perform: {check.action} "
        f"on resource: {key.arn} {reason}"
    )
    return _kms_error(request, "AccessDenied", message)


# S3 says AccessDenied (403) for a refused key and passes KMS's own codes on otherwise; SQS and
# SNS wrap KMS's error in codes of their own (400), with KMS's message inside.
_KMS_CODES = {
    "s3": {"AccessDenied": "AccessDenied", "NotFound": "KMS.NotFoundException"},
    "sqs": {"AccessDenied": "KMS.AccessDeniedException", "NotFound": "KMS.NotFoundException"},
    "sns": {"AccessDenied": "KMSAccessDenied", "NotFound": "KMSNotFound"},
    "dynamodb": {"AccessDenied": "AccessDeniedException", "NotFound": "AccessDeniedException"},
}
_KMS_DISABLED = {
    "s3": "KMS.DisabledException",
    "sqs": "KMS.DisabledException",
    "sns": "KMSDisabled",
}
_SQS_JSON_TYPES = {
    "KMS.AccessDeniedException": "KmsAccessDenied",
    "KMS.NotFoundException": "KmsNotFound",
    "KMS.DisabledException": "KmsDisabled",
}


def _kms_error(request: Request, problem: str, message: str) -> Responder:
    service = request.service
    if problem == "Disabled":
        code = _KMS_DISABLED.get(service, "AccessDeniedException")
    else:
        code = _KMS_CODES.get(service, {}).get(problem, "AccessDeniedException")
    if service == "s3":
        return _s3_error(403 if code == "AccessDenied" else 400, code, message, request)
    if service in ("sqs", "sns"):
        message += f" (Service: AWSKMS; Status Code: 400; Error Code: {problem}Exception)"
    if service == "sqs":
        return _error(request, 400, code, message, json_type=_SQS_JSON_TYPES.get(code))
    return _error(request, 400, code, message)


# -- responses -------------------------------------------------------------------------------

Responder = Callable[[Any], Iterable[bytes]]


def _credentials_problem(principal: Principal, request: Request) -> Responder | None:
    try:
        credentials.lookup(principal.session.access_key_id, principal.token or "")
    except credentials.CredentialError as error:
        if request.service == "s3":
            status, message = _S3_TOKEN_ERRORS.get(error.code, _S3_TOKEN_ERRORS["InvalidToken"])
            return _s3_error(status, error.code, message, request)
        if error.code == "ExpiredToken":
            message = "The security token included in the request is expired"
            return _error(request, 400, "ExpiredTokenException", message)
        message = "The security token included in the request is invalid."
        return _error(request, 403, "UnrecognizedClientException", message)
    return None


_S3_TOKEN_ERRORS = {
    "InvalidToken": (400, "The provided token is malformed or otherwise invalid."),
    "ExpiredToken": (400, "The provided token has expired."),
}


def denial_message(principal: Principal, request: Request, check: Check, verdict: Verdict) -> str:
    action = check.action
    if request.service == "sns":
        action = "SNS:" + action.split(":", 1)[1]  # SNS spells its prefix in capitals
    resource = f'"{check.resource}"' if request.service == "s3" else check.resource
    reason = verdict.value.format(action=action)
    return (
        f"User: {principal.arn} is not authorized to perform: {action} "
        f"on resource: {resource} {reason}"
    )


def _denied(principal: Principal, request: Request, check: Check, verdict: Verdict) -> Responder:
    message = denial_message(principal, request, check, verdict)
    if request.service == "s3":
        return _s3_error(403, "AccessDenied", message, request)
    if request.service == "sns":
        return _error(request, 403, "AuthorizationError", message)
    if request.service in ("sts", "cloudfront", "iam", "cloudformation"):
        return _error(request, 403, "AccessDenied", message)
    if request.service == "lambda":
        return _error(request, 403, "AccessDeniedException", message)
    return _error(request, 400, "AccessDeniedException", message)


def _request_id() -> str:
    return base64.b32encode(os.urandom(10)).decode()


def _reply(status: int, headers: list[tuple[str, str]], body: bytes) -> Responder:
    phrase = {400: "Bad Request", 403: "Forbidden", 200: "OK"}.get(status, "Error")

    def respond(start: Any) -> Iterable[bytes]:
        start(f"{status} {phrase}", [*headers, ("Content-Length", str(len(body)))])
        return [body]

    return respond


def _s3_error(status: int, code: str, message: str, request: Request) -> Responder:
    request_id = _request_id()
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>"
        f"<RequestId>{request_id}</RequestId>"
        f"<HostId>{base64.b64encode(os.urandom(48)).decode()}</HostId></Error>"
    ).encode()
    if request.method == "HEAD":
        body = b""  # HEAD responses carry only the status
    headers = [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)]
    return _reply(status, headers, body)


def _error(
    request: Request, status: int, code: str, message: str, json_type: str | None = None
) -> Responder:
    request_id = _request_id()
    service = request.service
    form_encoded = "x-www-form-urlencoded" in (request.header("content-type") or "")
    if service in _QUERY_SERVICES or service == "cloudfront" or (service == "sqs" and form_encoded):
        namespace = (
            ' xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"'
            if service == "cloudfront"
            else ""
        )
        body = (
            f"<ErrorResponse{namespace}><Error><Type>Sender</Type><Code>{code}</Code>"
            f"<Message>{escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        return _reply(
            status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body
        )
    headers = [("x-amzn-RequestId", request_id), ("x-amzn-ErrorType", code)]
    if service == "lambda":
        payload: dict[str, str] = {"Type": "User", "message": message}
        headers.append(("Content-Type", "application/json"))
    else:
        namespace = "com.amazonaws.sqs" if json_type else "com.amazon.coral.service"
        payload = {"__type": f"{namespace}#{json_type or code}", "message": message}
        headers.append(("Content-Type", "application/x-amz-json-1.0"))
    if service == "sqs":
        # SQS speaks JSON but keeps its query-era error codes for old SDKs.
        query_code = code if json_type else "AccessDenied"
        headers.append(("x-amzn-query-error", f"{query_code};Sender"))
    return _reply(status, headers, json.dumps(payload).encode())


def _hide_missing(
    environ: dict[str, Any], start: Any, downstream: Downstream, caller: Caller
) -> Iterable[bytes]:
    """A missing key is 403, not 404, to a caller without s3:ListBucket (S3 hides existence)."""
    bucket, key = iam_actions.s3_location(caller.request)
    if not key:
        return downstream(environ, start)
    listing = Check("s3:ListBucket", iam_actions.s3_arn(bucket))
    verdict = caller.decide(listing)
    if verdict is Verdict.ALLOWED:
        return downstream(environ, start)
    replaced: list[Iterable[bytes]] = []

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if status.startswith("404"):
            replaced.append(_denied(caller.principal, caller.request, listing, verdict)(start))
            return lambda data: None
        return start(status, headers, exc_info) if exc_info else start(status, headers)

    result = downstream(environ, capture)
    if replaced:
        if hasattr(result, "close"):
            result.close()
        return replaced[0]
    return result


def _delete_objects(
    environ: dict[str, Any], start: Any, downstream: Downstream, caller: Caller
) -> Iterable[bytes]:
    """DeleteObjects is authorised per key: refused keys come back as <Error> entries."""
    principal, request = caller.principal, caller.request
    bucket, _ = iam_actions.s3_location(request)
    try:
        wanted = iam_actions.delete_objects_keys(request.body)
    except iam_actions.Unmapped:
        return downstream(environ, start)
    refused = []
    for key, version in wanted:
        action = "s3:DeleteObjectVersion" if version else "s3:DeleteObject"
        check = Check(action, iam_actions.s3_arn(bucket, key))
        verdict = caller.decide(check)
        if verdict is not Verdict.ALLOWED:
            refused.append((key, version, denial_message(principal, request, check, verdict)))
    if not refused:
        return downstream(environ, start)
    errors = "".join(
        f"<Error><Key>{escape(key)}</Key>"
        + (f"<VersionId>{escape(version)}</VersionId>" if version else "")
        + f"<Code>AccessDenied</Code><Message>{escape(message)}</Message></Error>"
        for key, version, message in refused
    )
    allowed = [(k, v) for k, v in wanted if (k, v) not in {(r[0], r[1]) for r in refused}]
    if not allowed:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult '
            f'xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{errors}</DeleteResult>'
        ).encode()
        return _reply(200, [("Content-Type", "application/xml")], body)(start)
    kept = "".join(
        f"<Object><Key>{escape(k)}</Key>"
        + (f"<VersionId>{escape(v)}</VersionId>" if v else "")
        + "</Object>"
        for k, v in allowed
    )
    quiet = b"<Quiet>true</Quiet>" in request.body.replace(b" ", b"")
    forwarded = (
        '<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        + ("<Quiet>true</Quiet>" if quiet else "")
        + kept
        + "</Delete>"
    ).encode()
    environ["wsgi.input"] = io.BytesIO(forwarded)
    environ["CONTENT_LENGTH"] = str(len(forwarded))
    captured: dict[str, Any] = {}

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["status"], captured["headers"] = status, headers
        return lambda data: None

    result = downstream(environ, capture)
    original = b"".join(result)
    if hasattr(result, "close"):
        result.close()
    merged = original.replace(b"</DeleteResult>", errors.encode() + b"</DeleteResult>", 1)
    headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
    start(captured["status"], [*headers, ("Content-Length", str(len(merged)))])
    return [merged]


# -- Step Functions service integrations ------------------------------------------------------


def _patch_step_functions_clients() -> None:
    """The interpreter's Lambda/DynamoDB/SQS tasks call with the state machine's role."""
    import importlib
    import sys

    import boto3
    from botocore.config import Config
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds

    modules = (
        "moto.stepfunctions.parser.asl.utils.boto_client",
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback",
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk",
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb",
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sqs",
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sns",
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_events",
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_lambda",
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn",
    )
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
    from moto.stepfunctions.parser.asl.utils import boto_client as origin

    original = origin.boto_client_for
    clients: dict[tuple[str, str, str, str], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        role_arn = getattr(state_credentials, "role_arn", None)
        if not role_arn:
            return original(region, service, state_credentials)
        credentials = role_credentials(str(role_arn), "StepFunctions", region)
        # One client per role session and service: building one costs more CPU than the call.
        key = (region, service, str(moto_server_port()), credentials["AWS_ACCESS_KEY_ID"])
        with lock:
            if key not in clients:
                clients[key] = _role_client(region, service, credentials)
            return clients[key]

    def _role_client(region: str, service: str, credentials: dict[str, str]) -> Any:
        return boto3.client(
            service,  # type: ignore[call-overload]
            region_name=region,
            endpoint_url=f"http://localhost:{moto_server_port()}",
            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=credentials["AWS_SESSION_TOKEN"],
            config=Config(
                parameter_validation=False,
                retries={"max_attempts": 0, "total_max_attempts": 1},
                connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
            ),
        )

    for module in list(sys.modules.values()):
        if getattr(module, "boto_client_for", None) is original:
            module.boto_client_for = boto_client_for  # type: ignore[attr-defined]
