"""The HTTP API on loopback, the way API Gateway would serve it, plus the web page and a CDN.

Each request becomes an API Gateway HTTP API (payload 2.0) event and is sent to the deployed
ApiFunction through the engine's Lambda ``Invoke``: the real handler runs in the engine's
worker runtime, as on AWS. The same port also serves:

* ``/``, ``/app.js``, ``/style.css``: the web page (``web/``), and ``/config.json`` pointing it
  at this API;
* ``/cdn/<key>``: the public bucket, standing in for CloudFront, so deploy with
  ``PublicBaseUrl=<api url>/cdn`` and published variant URLs open in a browser.
"""

from __future__ import annotations

import base64
import datetime
import json
import mimetypes
import threading
import time
import uuid
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from botocore.config import Config
from botocore.exceptions import ClientError

WEB_ROOT = Path(__file__).resolve().parents[3] / "web"
WEB_FILES = {"/": "index.html", "/index.html": "index.html", "/app.js": "app.js"}
WEB_FILES["/style.css"] = "style.css"
CDN_PREFIX = "/cdn/"
ACCOUNT_ID = "123456789012"

# moto's CloudFormation skips API Gateway v2 resources; this server is what stands in for them.
warnings.filterwarnings("ignore", message="Tried to parse AWS::ApiGatewayV2")

_pending: ThreadingHTTPServer | None = None
_running: list[ThreadingHTTPServer] = []


def bind(port: int = 0) -> str:
    """Reserve the API's port before the stack is deployed (its URL is a stack parameter)."""
    global _pending
    if _pending is None:
        _pending = _Server(("127.0.0.1", port), _Handler)
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
    server = _pending or _Server(("127.0.0.1", 0), _Handler)
    _pending = None
    url = _url(server)
    server.app = _App(engine, function, outputs.get("PublicBucketName", ""), url)  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, name="imgpipe-api", daemon=True)
    thread.start()
    _running.append(server)
    print(f"api: {url}", flush=True)
    return {"ApiUrl": url}


def stop_all() -> None:
    while _running:
        server = _running.pop()
        server.shutdown()
        server.server_close()


def _url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def _function_name(engine: Any, stack_name: str) -> str | None:
    try:
        resource = engine.client("cloudformation").describe_stack_resource(
            StackName=stack_name, LogicalResourceId="ApiFunction"
        )
    except ClientError:
        return None
    return str(resource["StackResourceDetail"]["PhysicalResourceId"])


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _App:
    def __init__(self, engine: Any, function: str, public_bucket: str, url: str) -> None:
        self.function = function
        self.public_bucket = public_bucket
        self.url = url
        session = engine.session()
        # No SDK retries: a failed invoke must surface once, as API Gateway's 502 would.
        config = Config(read_timeout=120, retries={"max_attempts": 0})
        self.lambda_client = session.client(
            "lambda", endpoint_url=engine.endpoint_url, config=config
        )
        self.s3 = session.client("s3", endpoint_url=engine.endpoint_url)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "imgpipe-local-api"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the engine's own output stays readable

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    @property
    def app(self) -> _App:
        return self.server.app  # type: ignore[attr-defined,no-any-return]

    def _dispatch(self) -> None:
        path = urlsplit(self.path).path
        try:
            if self.command in ("GET", "HEAD") and path in WEB_FILES:
                self._web(WEB_FILES[path])
            elif self.command in ("GET", "HEAD") and path == "/config.json":
                body = json.dumps({"apiUrl": self.app.url}).encode()
                self._reply(200, {"Content-Type": "application/json"}, body)
            elif self.command in ("GET", "HEAD") and path.startswith(CDN_PREFIX):
                self._cdn(unquote(path[len(CDN_PREFIX) :]))
            else:
                self._api()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _web(self, name: str) -> None:
        file = WEB_ROOT / name
        if not file.is_file():
            self._reply(404, {"Content-Type": "text/plain"}, b"not found")
            return
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        headers = {"Content-Type": f"{kind}; charset=utf-8", "Cache-Control": "no-cache"}
        self._reply(200, headers, file.read_bytes())

    def _cdn(self, key: str) -> None:
        try:
            obj = self.app.s3.get_object(Bucket=self.app.public_bucket, Key=key)
        except ClientError:
            self._reply(404, {"Content-Type": "text/plain"}, b"not found")
            return
        headers = {
            "Content-Type": obj.get("ContentType") or "application/octet-stream",
            "Cache-Control": obj.get("CacheControl") or "no-cache",
            "Access-Control-Allow-Origin": "*",
        }
        self._reply(200, headers, obj["Body"].read())

    def _api(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        event = to_event(
            self.command,
            self.path,
            {k: v for k, v in self.headers.items()},
            body,
            host=self.headers.get("Host") or self.app.url.removeprefix("http://"),
            source_ip=self.client_address[0],
        )
        response = self.app.lambda_client.invoke(
            FunctionName=self.app.function, Payload=json.dumps(event).encode()
        )
        payload = response["Payload"].read()
        if response.get("FunctionError"):
            body_out = json.dumps({"message": "Internal Server Error"}).encode()
            self._reply(502, {"Content-Type": "application/json"}, body_out)
            return
        status, headers, data = from_result(json.loads(payload or b"null"))
        self._reply(status, headers, data)


def to_event(
    method: str, raw_path: str, headers: dict[str, str], body: bytes, *, host: str, source_ip: str
) -> dict[str, Any]:
    """An API Gateway HTTP API payload 2.0 event for the ``$default`` route and stage."""
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
    try:
        text: str | None = body.decode() if body else None
        encoded = False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
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
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(time.time() * 1000),
        },
        "pathParameters": {"proxy": parts.path.lstrip("/")},
        "isBase64Encoded": encoded,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if text is not None:
        event["body"] = text
    return event


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
