"""The HTTP API on loopback, the way API Gateway would serve it, plus the web page and a CDN.

A werkzeug WSGI server. Each request is first handled as API Gateway's front end does (framing
and size quotas, route selection, CORS, the route's authorizer; its own refusals are
``{"message": ...}`` as on AWS), then becomes an HTTP API payload 2.0 event for the deployed
ApiFunction through the engine's Lambda ``Invoke``: the real handler runs in the engine's worker
runtime. Routes, authorizers and CORS come from the stack's deployed HTTP API definition
(``api_definition``). The same port also serves, outside API Gateway's rules:

* ``/``, ``/app.js``, ``/style.css``: the web page (``web/``), and ``/config.json`` pointing it
  at this API and naming the API's auth;
* ``/cdn/<key>``: the public bucket, standing in for CloudFront, so deploy with
  ``PublicBaseUrl=<api url>/cdn`` and published variant URLs open in a browser. When the
  stack's distribution trusts key groups (Delivery=private) it serves signed URLs only, checked
  as CloudFront checks them (``cdn_signatures``).
"""

from __future__ import annotations

import base64
import datetime
import json
import mimetypes
import re
import threading
import time
import uuid
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from botocore.config import Config
from botocore.exceptions import ClientError
from werkzeug.datastructures import EnvironHeaders
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Response

from imgpipe.local import api_auth, cdn_signatures
from imgpipe.local.api_definition import ApiDefinition, Cors, LambdaAuthorizer, Route
from imgpipe.local.api_definition import load as load_definition

WEB_ROOT = Path(__file__).resolve().parents[3] / "web"
WEB_FILES = {"/": "index.html", "/index.html": "index.html", "/app.js": "app.js"}
WEB_FILES["/style.css"] = "style.css"
CDN_PREFIX = "/cdn/"
ACCOUNT_ID = "123456789012"
# HTTP API quotas: payload size, and the request line plus header values together.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
MAX_REQUEST_HEAD_BYTES = 10_240
# A client that stops sending mid-body must not hold a thread for ever.
SOCKET_TIMEOUT_SECONDS = 30
# Used when the stack's HTTP API definition cannot be read: one open catch-all route.
OPEN_PROXY = ApiDefinition((Route("ANY", "/{proxy+}"),))

# moto's CloudFormation skips API Gateway v2 resources; this server is what stands in for them.
warnings.filterwarnings("ignore", message="Tried to parse AWS::ApiGatewayV2")

_pending: BaseWSGIServer | None = None
_running: list[BaseWSGIServer] = []


def bind(port: int = 0) -> str:
    """Reserve the API's port before the stack is deployed (its URL is a stack parameter)."""
    global _pending
    if _pending is None:
        _pending = _make_server(port)
    return _url(_pending)


def start(engine: Any, stack_name: str, outputs: dict[str, str]) -> dict[str, str]:
    """Serve the stack's ApiFunction; ``{}`` when the stack has none."""
    global _pending
    function = outputs.get("ApiFunctionName") or _function_name(engine, stack_name)
    if not function:
        if _pending is not None:
            _pending.server_close()
            _pending = None
        return {}
    server = _pending or _make_server(0)
    _pending = None
    url = _url(server)
    definition = load_definition(stack_name, engine.region) or OPEN_PROXY
    gateway = _Gateway(engine, function, outputs.get("PublicBucketName", ""), url, definition)
    gateway.trusted_keys = _trusted_keys(engine, stack_name)
    server.app.gateway = gateway  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, name="imgpipe-api", daemon=True)
    thread.start()
    _running.append(server)
    print(f"api: {url} (auth: {gateway.auth})", flush=True)
    return {"ApiUrl": url}


def stop(url: str) -> None:
    """Stop the one server at ``url`` (others in this process keep serving)."""
    for server in [s for s in _running if _url(s) == url]:
        _running.remove(server)
        server.shutdown()
        server.server_close()


def stop_all() -> None:
    while _running:
        server = _running.pop()
        server.shutdown()
        server.server_close()


def _auth_name(route: Route) -> str:
    """The ApiAuth a route's authorizer stands for (the page asks for what it needs)."""
    if route.authorizer is not None and route.authorizer.identity_headers == ("x-api-key",):
        return "API_KEY"
    return route.auth


def _url(server: BaseWSGIServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def _trusted_keys(engine: Any, stack_name: str) -> dict[str, str] | None:
    """Key-Pair-Id → PEM of every key the stack's CDN trusts; None when it serves anyone."""
    cloudfront = engine.client("cloudfront")
    try:
        resource = engine.client("cloudformation").describe_stack_resource(
            StackName=stack_name, LogicalResourceId="Cdn"
        )
        distribution = resource["StackResourceDetail"]["PhysicalResourceId"]
        config = cloudfront.get_distribution_config(Id=distribution)["DistributionConfig"]
    except ClientError:
        return None
    groups = config["DefaultCacheBehavior"].get("TrustedKeyGroups") or {}
    if not groups.get("Enabled") or not groups.get("Items"):
        return None
    keys: dict[str, str] = {}
    for group in groups["Items"]:
        found = cloudfront.get_key_group(Id=group)["KeyGroup"]["KeyGroupConfig"]["Items"]
        for key_id in found:
            config = cloudfront.get_public_key(Id=key_id)["PublicKey"]["PublicKeyConfig"]
            keys[key_id] = config["EncodedKey"]
    return keys


def _function_name(engine: Any, stack_name: str) -> str | None:
    try:
        resource = engine.client("cloudformation").describe_stack_resource(
            StackName=stack_name, LogicalResourceId="ApiFunction"
        )
    except ClientError:
        return None
    return str(resource["StackResourceDetail"]["PhysicalResourceId"])


class _RequestHandler(WSGIRequestHandler):
    timeout = SOCKET_TIMEOUT_SECONDS

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (URL over 64 KiB, malformed request line, header limits)
        in API Gateway's shape rather than an HTML page."""
        text = {414: "Request-URI Too Long", 431: "Request Header Fields Too Large"}.get(
            code, "Bad Request"
        )
        body = json.dumps({"message": text}).encode()
        self.close_connection = True
        self.send_response(code, text)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # the engine's own output stays readable

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Holder:
    """The server exists before the stack is deployed; the gateway is plugged in by start()."""

    gateway: _Gateway | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if self.gateway is None:
            response = _gateway_error(503, "Service Unavailable")
        else:
            response = self.gateway.respond(environ)
        return response(environ, start_response)


def _make_server(port: int) -> BaseWSGIServer:
    return make_server("127.0.0.1", port, _Holder(), threaded=True, request_handler=_RequestHandler)


def _gateway_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """A response API Gateway itself makes: ``{"message": ...}``, never an HTML page."""
    return Response(
        json.dumps({"message": message}), status, headers, content_type="application/json"
    )


class _Refused(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


class _Gateway:
    # Set by start(): the CDN's trusted keys (Delivery=private), None for a public CDN.
    trusted_keys: dict[str, str] | None = None

    def __init__(
        self, engine: Any, function: str, public_bucket: str, url: str, definition: ApiDefinition
    ) -> None:
        self.function = function
        self.public_bucket = public_bucket
        self.url = url
        self.definition = definition
        self.region = engine.region
        self.jwks = api_auth.JwksCache()
        self.decisions = api_auth.LambdaDecisions()
        session = engine.session()
        # No SDK retries: a failed invoke must surface once, as API Gateway's 502 would.
        config = Config(read_timeout=120, retries={"max_attempts": 0})
        self.lambda_client = session.client(
            "lambda", endpoint_url=engine.endpoint_url, config=config
        )
        self.s3 = session.client("s3", endpoint_url=engine.endpoint_url)

    @property
    def auth(self) -> str:
        kinds = sorted({_auth_name(route) for route in self.definition.routes})
        return ",".join(kinds) or "NONE"

    def respond(self, environ: dict[str, Any]) -> Response:
        request_id = base64.b32encode(uuid.uuid4().bytes[:10]).decode().rstrip("=")
        try:
            response = self._respond(environ)
        except _Refused as refused:
            response = refused.response
        except Exception:  # API Gateway answers 500, never a traceback
            response = _gateway_error(500, "Internal Server Error")
        response.headers["apigw-requestid"] = request_id
        return response

    def _respond(self, environ: dict[str, Any]) -> Response:
        method = str(environ["REQUEST_METHOD"]).upper()
        raw_uri = str(environ.get("REQUEST_URI") or "/")
        headers = {k.lower(): v for k, v in EnvironHeaders(environ).items()}
        _check_head(method, raw_uri, environ, headers)
        if not raw_uri.startswith("/"):
            raise _Refused(_gateway_error(400, "Bad Request"))  # CONNECT's host:port, absolute URLs
        body = _read_body(environ)
        parts = urlsplit(raw_uri)
        path = parts.path
        local = self._local(method, path, parts.query)
        if local is not None:
            return local
        cors = self.definition.cors
        origin = headers.get("origin")
        found = self.definition.route(method, path)
        if found is None:
            if (
                method == "OPTIONS"
                and cors
                and origin
                and "access-control-request-method" in headers
            ):
                # API Gateway answers a preflight itself only when no route matches it.
                return Response(status=204, headers=_preflight_headers(cors, origin, headers))
            return _with_cors(_gateway_error(404, "Not Found"), cors, origin)
        route, params = found
        event = to_event(
            method,
            raw_uri,
            dict(EnvironHeaders(environ).items()),
            body,
            host=headers.get("host") or self.url.removeprefix("http://"),
            source_ip=str(environ.get("REMOTE_ADDR") or "127.0.0.1"),
            route_key=route.key,
            path_parameters=params,
        )
        try:
            authorizer = self._authorize(route, method, raw_uri, headers, body, event)
        except api_auth.Denied as denied:
            refusal = _gateway_error(denied.status, denied.message, denied.headers)
            return _with_cors(refusal, cors, origin)
        except api_auth.AuthorizerFailed:
            return _with_cors(_gateway_error(500, "Internal Server Error"), cors, origin)
        if authorizer is not None:
            event["requestContext"]["authorizer"] = authorizer
        return _with_cors(self._invoke(event), cors, origin, replace=True)

    def _authorize(
        self,
        route: Route,
        method: str,
        raw_uri: str,
        headers: dict[str, str],
        body: bytes,
        event: dict[str, Any],
    ) -> dict[str, Any] | None:
        if route.auth == "LAMBDA" and route.authorizer is not None:
            config = route.authorizer
            context = self.decisions.decide(
                config, headers, lambda identity: self._ask_authorizer(config, event, identity)
            )
            return {"lambda": context}
        if route.auth == "JWT" and route.jwt is not None:
            claims = api_auth.check_jwt(route.jwt, headers, self.jwks)
            scopes = str(claims.get("scope") or "").split() or None
            return {"jwt": {"claims": claims, "scopes": scopes}}
        if route.auth == "IAM":
            issued = api_auth.check_sigv4(method, raw_uri, headers, body, region=self.region)
            return {
                "iam": {
                    "accessKey": issued.access_key_id,
                    "accountId": ACCOUNT_ID,
                    "callerId": issued.access_key_id,
                    "userArn": issued.principal_arn,
                    "userId": issued.access_key_id,
                }
            }
        return None

    def _ask_authorizer(
        self, config: LambdaAuthorizer, event: dict[str, Any], identity: list[str]
    ) -> Any:
        """The authorizer function's answer to a payload 2.0 REQUEST event (no body)."""
        context = event["requestContext"]
        request = {
            key: value for key, value in event.items() if key not in ("body", "isBase64Encoded")
        }
        request.update(
            type="REQUEST",
            identitySource=identity,
            routeArn=(
                f"arn:aws:execute-api:{self.region}:{ACCOUNT_ID}:{context['apiId']}/"
                f"{context['stage']}/{context['http']['method']}{context['http']['path']}"
            ),
        )
        try:
            response = self.lambda_client.invoke(
                FunctionName=config.function, Payload=json.dumps(request).encode()
            )
        except ClientError as error:
            raise api_auth.AuthorizerFailed(str(error)) from error
        payload = response["Payload"].read()
        if response.get("FunctionError"):
            raise api_auth.AuthorizerFailed(payload.decode(errors="replace")[:500])
        try:
            return json.loads(payload or b"null")
        except ValueError as error:
            raise api_auth.AuthorizerFailed("the authorizer's answer is not JSON") from error

    def _invoke(self, event: dict[str, Any]) -> Response:
        try:
            response = self.lambda_client.invoke(
                FunctionName=self.function, Payload=json.dumps(event).encode()
            )
        except ClientError as error:
            # The event (the body base64-encoded) over Lambda's 6 MiB synchronous payload.
            if error.response["Error"]["Code"] == "RequestEntityTooLargeException":
                return _gateway_error(413, "Request Entity Too Large")
            raise
        payload = response["Payload"].read()
        if response.get("FunctionError"):
            return _gateway_error(502, "Internal Server Error")
        status, headers, data = from_result(json.loads(payload or b"null"))
        return Response(data, status, headers)

    def _local(self, method: str, path: str, query: str = "") -> Response | None:
        """The page, its config and the CDN stand-in (not API Gateway routes)."""
        if method not in ("GET", "HEAD"):
            return None
        if path in WEB_FILES:
            return self._web(WEB_FILES[path])
        if path == "/config.json":
            config = {"apiUrl": self.url, "auth": self.auth, "region": self.region}
            return Response(json.dumps(config), 200, content_type="application/json")
        if path.startswith(CDN_PREFIX):
            if self.trusted_keys is not None:
                # The resource is the URL the signer was given: this server's own base URL,
                # never one built from the request's Host header.
                refusal = cdn_signatures.check(f"{self.url}{path}", query, self.trusted_keys)
                if refusal is not None:
                    return _cdn_refusal(refusal)
            return self._cdn(unquote(path[len(CDN_PREFIX) :]))
        return None

    def _web(self, name: str) -> Response:
        file = WEB_ROOT / name
        if not file.is_file():
            return _not_found()
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        headers = {"Cache-Control": "no-cache"}
        return Response(file.read_bytes(), 200, headers, content_type=f"{kind}; charset=utf-8")

    def _cdn(self, key: str) -> Response:
        try:
            obj = self.s3.get_object(Bucket=self.public_bucket, Key=key)
        except ClientError:
            return _not_found()
        headers = {
            "Cache-Control": obj.get("CacheControl") or "no-cache",
            "Access-Control-Allow-Origin": "*",
        }
        kind = obj.get("ContentType") or "application/octet-stream"
        return Response(obj["Body"].read(), 200, headers, content_type=kind)


def _cdn_refusal(refusal: cdn_signatures.Refusal) -> Response:
    """CloudFront's 403 for a missing, altered or expired signature (an XML error)."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><Error>'
        f"<Code>{refusal.code}</Code><Message>{refusal.message}</Message></Error>"
    )
    return Response(body, 403, content_type="text/xml")


def _not_found() -> Response:
    body = {"error": {"code": "NOT_FOUND", "message": "not found"}}
    return Response(json.dumps(body), 404, content_type="application/json")


def _check_head(
    method: str, raw_uri: str, environ: dict[str, Any], headers: dict[str, str]
) -> None:
    """API Gateway's quota on the request line and header values together."""
    request_line = len(f"{method} {raw_uri} {environ.get('SERVER_PROTOCOL', 'HTTP/1.1')}")
    if request_line > MAX_REQUEST_HEAD_BYTES:
        raise _Refused(_gateway_error(414, "Request-URI Too Long"))
    if request_line + sum(len(v) for v in headers.values()) > MAX_REQUEST_HEAD_BYTES:
        raise _Refused(_gateway_error(431, "Request Header Fields Too Large"))


_DIGITS = re.compile(r"[0-9]+")


def _read_body(environ: dict[str, Any]) -> bytes:
    """The whole body, framed strictly: one of Content-Length or chunked, within the quota."""
    encoding = environ.get("HTTP_TRANSFER_ENCODING")
    length = environ.get("CONTENT_LENGTH")
    stream = environ["wsgi.input"]
    if encoding is not None:
        # Both headers, or an encoding other than chunked, is how requests get smuggled.
        if encoding.strip().lower() != "chunked" or length is not None:
            raise _Refused(_gateway_error(400, "Bad Request"))
        try:
            body = stream.read(MAX_PAYLOAD_BYTES + 1)
        except OSError as exc:  # werkzeug's DechunkedInput on a malformed chunk
            raise _Refused(_gateway_error(400, "Bad Request")) from exc
        if len(body) > MAX_PAYLOAD_BYTES:
            raise _Refused(_gateway_error(413, "Request Entity Too Large"))
        return bytes(body)
    if length is None or length == "":
        return b""
    if not _DIGITS.fullmatch(length.strip()):
        raise _Refused(_gateway_error(400, "Bad Request"))
    size = int(length)
    if size > MAX_PAYLOAD_BYTES:
        raise _Refused(_gateway_error(413, "Request Entity Too Large"))
    body = stream.read(size) if size else b""
    if len(body) != size:
        raise _Refused(_gateway_error(400, "Bad Request"))
    return bytes(body)


def _allowed_origin(cors: Cors, origin: str) -> str | None:
    if "*" in cors.allow_origins and not cors.allow_credentials:
        return "*"
    lowered = origin.lower()
    return origin if any(o.lower() == lowered for o in cors.allow_origins) else None


def _preflight_headers(cors: Cors, origin: str, headers: dict[str, str]) -> dict[str, str]:
    allowed = _allowed_origin(cors, origin)
    if allowed is None:
        return {}
    requested = [
        h.strip().lower()
        for h in headers.get("access-control-request-headers", "").split(",")
        if h.strip()
    ]
    out = {
        "Access-Control-Allow-Origin": allowed,
        "Access-Control-Allow-Methods": ",".join(cors.allow_methods),
    }
    allow_headers = requested if "*" in cors.allow_headers else list(cors.allow_headers)
    if allow_headers:
        out["Access-Control-Allow-Headers"] = ",".join(allow_headers)
    if cors.max_age is not None:
        out["Access-Control-Max-Age"] = str(cors.max_age)
    if cors.allow_credentials:
        out["Access-Control-Allow-Credentials"] = "true"
    return out


def _with_cors(
    response: Response, cors: Cors | None, origin: str | None, *, replace: bool = False
) -> Response:
    """Configured CORS headers on a response; the integration's own ones are ignored, as on AWS."""
    if cors is None:
        return response
    if replace:
        names = {n for n, _ in response.headers.items() if n.lower().startswith("access-control-")}
        for name in names:
            del response.headers[name]
    allowed = _allowed_origin(cors, origin) if origin else None
    if allowed is not None:
        response.headers["Access-Control-Allow-Origin"] = allowed
        if cors.expose_headers:
            response.headers["Access-Control-Expose-Headers"] = ",".join(cors.expose_headers)
        if cors.allow_credentials:
            response.headers["Access-Control-Allow-Credentials"] = "true"
    return response


def to_event(
    method: str,
    raw_path: str,
    headers: dict[str, str],
    body: bytes,
    *,
    host: str,
    source_ip: str,
    route_key: str = "$default",
    path_parameters: dict[str, str] | None = None,
    authorizer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload 2.0 event for a route of the ``$default`` stage."""
    parts = urlsplit(raw_path)
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        lowered[key] = f"{lowered[key]},{value}" if key in lowered else value
    lowered.setdefault("x-forwarded-proto", "http")
    lowered.setdefault("x-forwarded-for", source_ip)
    cookies = [c.strip() for c in lowered.pop("cookie", "").split(";") if c.strip()]
    query: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    now = datetime.datetime.now(datetime.UTC)
    text, encoded = _event_body(body, lowered.get("content-type", ""))
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": parts.path,
        "rawQueryString": parts.query,
        "headers": lowered,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split(".", 1)[0],
            "http": {
                "method": method,
                "path": parts.path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(time.time() * 1000),
        },
        "pathParameters": (
            path_parameters if path_parameters is not None else {"proxy": parts.path.lstrip("/")}
        ),
        "isBase64Encoded": encoded,
    }
    if authorizer is not None:
        event["requestContext"]["authorizer"] = authorizer
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if text is not None:
        event["body"] = text
    return event


_TEXT_TYPES = re.compile(r"^(text/.*|application/(.+\+)?(json|xml|javascript))$")


def _event_body(body: bytes, content_type: str) -> tuple[str | None, bool]:
    """The event's body and isBase64Encoded: text media types (or none) as UTF-8 text, any
    other type, an image for instance, base64-encoded: it then takes 4/3 of its size."""
    if not body:
        return None, False
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not media_type or _TEXT_TYPES.match(media_type):
        try:
            return body.decode(), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode(), True


def from_result(result: Any) -> tuple[int, dict[str, str], bytes]:
    """The HTTP response API Gateway makes of a payload 2.0 Lambda result."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # A bare value is a 200 JSON body, as API Gateway infers for payload 2.0.
        return 200, {"Content-Type": "application/json"}, json.dumps(result).encode()
    headers = {
        str(k): str(v)
        for k, v in (result.get("headers") or {}).items()
        if str(k).lower() != "content-length"
    }
    for cookie in result.get("cookies") or []:
        headers.setdefault("Set-Cookie", cookie)
    raw = result.get("body") or ""
    data = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
    return int(result["statusCode"]), headers, data
