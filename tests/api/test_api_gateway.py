"""The local API server behaves as API Gateway's front end: framing, quotas, routes, CORS, auth.

Framing defects are driven with raw sockets against the real server on loopback (the ApiAuth=NONE
stack of ``conftest.api``); authorizers against the product template deployed with ApiAuth=IAM
and ApiAuth=JWT (a JWKS served on localhost stands in for the issuer).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from imgpipe.commands.upload import _SigV4
from imgpipe.local import api_definition, api_server
from tests.api.conftest import ROOT, Api, image_bytes
from tests.api.test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.engine,
    pytest.mark.xdist_group("api"),
    pytest.mark.filterwarnings("ignore:Tried to parse AWS::ApiGatewayV2"),
]

AUDIENCE = "imgpipe-web"
ORIGIN = "https://app.example"


# -- raw HTTP ------------------------------------------------------------------------------------


@dataclass
class Raw:
    status: int
    headers: dict[str, str]
    body: bytes
    trailing: bytes  # whatever the server sent after the first response: another response


def raw(url: str, data: bytes, timeout: float = 10) -> Raw:
    """Send bytes as they are and read until the server closes (a hang fails the test)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as conn:
        conn.sendall(data)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", len(body)))
    return Raw(int(lines[0].split()[1]), headers, body[:length], body[length:])


def request_bytes(method: str, target: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [
        f"{method} {target} HTTP/1.1",
        "Host: 127.0.0.1",
        *[f"{k}: {v}" for k, v in headers.items()],
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def assert_gateway_error(response: Raw, status: int, message: str) -> None:
    assert response.status == status
    assert response.headers["content-type"].startswith("application/json")
    assert json.loads(response.body) == {"message": message}


@pytest.mark.parametrize("length", ["abc", "-1", "1e3", "5, 5"])
def test_invalid_content_length_is_a_json_400(api: Api, length: str) -> None:
    # -1 used to block the handler thread; abc dropped the connection with a traceback
    response = raw(api.url, request_bytes("POST", "/uploads", {"Content-Length": length}, b"{}"))

    assert_gateway_error(response, 400, "Bad Request")


def test_twenty_digit_content_length_is_a_json_413_without_reading(api: Api) -> None:
    headers = {"Content-Length": "9" * 20, "Content-Type": "application/json"}

    response = raw(api.url, request_bytes("POST", "/uploads", headers, b"{}"))

    assert_gateway_error(response, 413, "Request Entity Too Large")


def test_body_over_api_gateways_10_mb_is_413(api: Api) -> None:
    headers = {"Content-Length": str(10 * 1024 * 1024 + 1)}

    response = raw(api.url, request_bytes("POST", "/uploads", headers))

    assert_gateway_error(response, 413, "Request Entity Too Large")


def test_chunked_body_reaches_the_function_whole(api: Api) -> None:
    payload = json.dumps({"filename": "c.png", "contentType": "image/png", "size": 100}).encode()
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (payload[:10], payload[10:]))
    headers = {"Transfer-Encoding": "chunked", "Content-Type": "application/json"}

    response = raw(api.url, request_bytes("POST", "/uploads", headers, chunked + b"0\r\n\r\n"))

    assert response.status == 201, response.body
    assert json.loads(response.body)["uploadId"]


def test_chunked_body_cannot_smuggle_a_second_request(api: Api) -> None:
    # GIVEN a chunked body whose terminating chunk is followed by another request
    smuggled = request_bytes("DELETE", "/images/" + "0" * 32, {"Content-Length": "0"})
    body = b"2\r\n{}\r\n0\r\n\r\n" + smuggled
    headers = {"Transfer-Encoding": "chunked", "Content-Type": "application/json"}

    response = raw(api.url, request_bytes("POST", "/uploads", headers, body))

    # THEN exactly one response: the bytes after the body are never read as a request
    assert response.trailing == b""
    assert response.status == 400  # {} is not a valid upload request
    assert b"error" in response.body


def test_content_length_and_chunked_together_are_refused(api: Api) -> None:
    headers = {"Transfer-Encoding": "chunked", "Content-Length": "5"}

    response = raw(api.url, request_bytes("POST", "/uploads", headers, b"0\r\n\r\n"))

    assert_gateway_error(response, 400, "Bad Request")
    assert response.trailing == b""


def test_malformed_chunk_is_a_json_400(api: Api) -> None:
    headers = {"Transfer-Encoding": "chunked"}

    response = raw(api.url, request_bytes("POST", "/uploads", headers, b"zz\r\n{}\r\n0\r\n\r\n"))

    assert_gateway_error(response, 400, "Bad Request")


def test_trace_has_no_route(api: Api) -> None:
    response = raw(api.url, request_bytes("TRACE", "/health", {}))

    assert_gateway_error(response, 404, "Not Found")


def test_connect_is_refused_as_json(api: Api) -> None:
    response = raw(api.url, request_bytes("CONNECT", "example.com:443", {}))

    assert_gateway_error(response, 400, "Bad Request")


def test_url_over_the_request_line_quota_is_a_json_414(api: Api) -> None:
    response = raw(api.url, request_bytes("GET", "/images/" + "a" * 11_000, {}))

    assert_gateway_error(response, 414, "Request-URI Too Long")


def test_request_line_over_http_servers_own_limit_is_json_too(api: Api) -> None:
    # 64 KiB without a line end: http.server itself refuses it (exactly this much is sent, so
    # the server reads it all and the answer is not lost to a reset)
    line = b"GET /" + b"a" * (65_537 - 5)

    response = raw(api.url, line)

    assert_gateway_error(response, 414, "Request-URI Too Long")


def test_headers_over_the_quota_are_a_json_431(api: Api) -> None:
    headers = {f"X-Pad-{n}": "p" * 1000 for n in range(11)}

    response = raw(api.url, request_bytes("GET", "/health", headers))

    assert_gateway_error(response, 431, "Request Header Fields Too Large")


def test_a_slow_client_does_not_block_other_requests(api: Api) -> None:
    parts = urlsplit(api.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as stalled:
        stalled.sendall(request_bytes("POST", "/uploads", {"Content-Length": "100"}, b"{"))
        # WHILE that body never completes, the API still answers
        assert api.get("/health").json() == {"status": "ok"}


# -- stacks with authorizers ---------------------------------------------------------------------


class _Issuer:
    """An OpenID issuer on loopback: discovery document and JWKS, as Cognito would serve."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks.json"}
                elif self.path == "/jwks.json":
                    body = {"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, key: Any = None, kid: str = "k1", **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.url, "aud": AUDIENCE, "sub": "user-1", "iat": now, "exp": now + 300}
        body.update(claims)
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture(scope="module")
def issuer() -> Iterator[_Issuer]:
    running = _Issuer()
    yield running
    running.server.shutdown()
    running.server.server_close()


def _serve(engine: Any, stack: str, overrides: dict[str, str]) -> str:
    result = engine.deploy(ROOT / "template.yaml", stack, overrides)
    return api_server.start(engine, stack, result.outputs)["ApiUrl"]


@pytest.fixture(scope="module")
def iam_api(engine: Any) -> str:
    return _serve(engine, "apiiam", {"ApiAuth": "IAM"})


@pytest.fixture(scope="module")
def jwt_api(engine: Any, issuer: _Issuer) -> str:
    overrides = {"ApiAuth": "JWT", "JwtIssuer": issuer.url, "JwtAudience": f"other,{AUDIENCE}"}
    return _serve(engine, "apijwt", overrides)


def _preflight(url: str) -> requests.Response:
    return requests.options(
        f"{url}/uploads",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,authorization",
        },
        timeout=10,
    )


@pytest.mark.parametrize("stack", ["iam_api", "jwt_api"])
def test_browser_preflight_is_answered_without_credentials(
    request: pytest.FixtureRequest, stack: str
) -> None:
    url = request.getfixturevalue(stack)

    response = _preflight(url)

    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert set(response.headers["Access-Control-Allow-Methods"].split(",")) >= {"GET", "POST"}
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].split(",")
    assert response.headers["Access-Control-Max-Age"] == "600"


def test_an_any_route_with_an_authorizer_would_swallow_the_preflight() -> None:
    # The template's former shape: the OPTIONS preflight matches ANY and meets the authorizer
    body = {
        "paths": {"/{proxy+}": {"x-amazon-apigateway-any-method": {"security": [{"s": []}]}}},
        "components": {
            "securitySchemes": {"s": {"x-amazon-apigateway-authtype": "awsSigv4"}},
        },
    }
    found = api_definition.parse(body).route("OPTIONS", "/uploads")

    assert found is not None and found[0].auth == "IAM"


def test_the_deployed_api_has_no_route_for_options(iam_api: str) -> None:
    definition = api_definition.load("apiiam", "us-east-1")

    assert definition is not None
    assert definition.route("OPTIONS", "/uploads") is None
    assert {r.auth for r in definition.routes} == {"IAM"}


def test_iam_refuses_an_unsigned_call(iam_api: str) -> None:
    response = requests.get(f"{iam_api}/health", timeout=10)

    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden"}


def _signed(url: str, path: str, creds: dict[str, str] | None = None, **kwargs: Any) -> Any:
    auth = _SigV4(url)
    if creds is not None:
        from botocore.credentials import ReadOnlyCredentials

        auth.credentials = ReadOnlyCredentials(
            creds["AccessKeyId"], creds["SecretAccessKey"], creds.get("SessionToken")
        )
    method = kwargs.pop("method", "GET")
    return requests.request(method, url + path, auth=auth, timeout=30, **kwargs)


def test_iam_accepts_a_call_signed_with_the_engines_credentials(iam_api: str) -> None:
    response = _signed(iam_api, "/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_iam_accepts_sts_session_credentials(iam_api: str, engine: Any) -> None:
    iam = engine.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    role = iam.create_role(RoleName="api-caller", AssumeRolePolicyDocument=json.dumps(trust))
    creds = engine.client("sts").assume_role(RoleArn=role["Role"]["Arn"], RoleSessionName="caller")

    assert _signed(iam_api, "/health", creds["Credentials"]).status_code == 200
    forged = {**creds["Credentials"], "SessionToken": "forged"}
    response = _signed(iam_api, "/health", forged)
    assert response.status_code == 403
    assert response.json() == {"message": "The security token included in the request is invalid."}


def test_iam_refuses_a_key_the_engine_never_issued(iam_api: str) -> None:
    creds = {"AccessKeyId": "AKIAFORGEDFORGED1234", "SecretAccessKey": "guessed"}

    response = _signed(iam_api, "/health", creds)

    assert response.status_code == 403
    assert response.json() == {"message": "The security token included in the request is invalid."}


def test_iam_refuses_a_tampered_request(iam_api: str) -> None:
    # GIVEN a correctly signed POST whose body is changed after signing
    body = json.dumps({"filename": "a.png", "contentType": "image/png", "size": 10})
    prepared = requests.Request(
        "POST", f"{iam_api}/uploads", data=body, headers={"Content-Type": "application/json"}
    ).prepare()
    signed = _SigV4(iam_api)(prepared)
    signed.body = body.replace("10", "99").encode()

    response = requests.Session().send(signed, timeout=30)

    assert response.status_code == 403
    assert response.json()["message"].startswith("The request signature we calculated")


def test_iam_signed_upload_then_presigned_post_to_s3(iam_api: str) -> None:
    data = b"\x89PNG\r\n\x1a\n" + b"\0" * 100
    meta = {"filename": "s.png", "contentType": "image/png", "size": len(data)}
    presign = _signed(iam_api, "/uploads", method="POST", json=meta)
    assert presign.status_code == 201, presign.text
    upload = presign.json()["upload"]

    sent = requests.post(
        upload["url"],
        data=upload["fields"],
        files={"file": ("s.png", data, "image/png")},
        timeout=30,
    )

    assert sent.status_code == 204, sent.text


def test_jwt_refuses_a_call_without_a_token(jwt_api: str) -> None:
    response = requests.get(f"{jwt_api}/health", timeout=10)

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}


@pytest.mark.parametrize("prefix", ["Bearer ", ""])
def test_jwt_accepts_a_valid_token(jwt_api: str, issuer: _Issuer, prefix: str) -> None:
    headers = {"Authorization": prefix + issuer.token()}

    response = requests.get(f"{jwt_api}/health", headers=headers, timeout=10)

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_jwt_accepts_client_id_in_place_of_aud(jwt_api: str, issuer: _Issuer) -> None:
    # Cognito access tokens carry client_id, not aud
    now = int(time.time())
    claims = {"iss": issuer.url, "client_id": AUDIENCE, "exp": now + 300}
    token = jwt.encode(claims, issuer.key, algorithm="RS256", headers={"kid": "k1"})

    response = requests.get(f"{jwt_api}/health", headers={"Authorization": token}, timeout=10)

    assert response.status_code == 200


def _bad_tokens(issuer: _Issuer) -> dict[str, str]:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "expired": issuer.token(exp=int(time.time()) - 60),
        "wrong audience": issuer.token(aud="someone-else"),
        "wrong issuer": issuer.token(iss="https://evil.example"),
        "foreign signature": issuer.token(key=stranger),
        "unknown kid": issuer.token(kid="k2"),
        "hs256": jwt.encode({"iss": issuer.url, "aud": AUDIENCE, "exp": 2**31}, "k" * 32),
        "no exp": jwt.encode(
            {"iss": issuer.url, "aud": AUDIENCE}, issuer.key, "RS256", headers={"kid": "k1"}
        ),
        "garbage": "not.a.jwt",
    }


@pytest.mark.parametrize(
    "case",
    [
        "expired",
        "wrong audience",
        "wrong issuer",
        "foreign signature",
        "unknown kid",
        "hs256",
        "no exp",
        "garbage",
    ],
)
def test_jwt_refuses_a_bad_token(jwt_api: str, issuer: _Issuer, case: str) -> None:
    token = _bad_tokens(issuer)[case]

    response = requests.get(
        f"{jwt_api}/health", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_jwt_cors_headers_come_from_the_api_configuration(jwt_api: str, issuer: _Issuer) -> None:
    headers = {"Authorization": issuer.token(), "Origin": ORIGIN}

    response = requests.get(f"{jwt_api}/health", headers=headers, timeout=10)

    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_config_json_names_the_auth_for_the_page(jwt_api: str, iam_api: str) -> None:
    assert requests.get(f"{jwt_api}/config.json", timeout=10).json()["auth"] == "JWT"
    assert requests.get(f"{iam_api}/config.json", timeout=10).json()["auth"] == "IAM"


# -- the web page under each auth ------------------------------------------------------------


@pytest.fixture
def page() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium: run `make browser-deps` (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page()
        finally:
            browser.close()


def _upload_on_the_page(page: Any, url: str, tmp_path: Path, fill: dict[str, str]) -> Any:
    source = tmp_path / "auth.png"
    source.write_bytes(image_bytes(320, 200))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url + "/", wait_until="networkidle")
    for selector, value in fill.items():
        page.fill(selector, value)
    page.click("#auth button[type=submit]")
    page.set_input_files("#file", str(source))
    card = page.locator(".card").first
    card.locator(".status.SUCCEEDED, .status.ERROR").first.wait_for(timeout=60_000)
    assert errors == []
    return card


@pytest.mark.browser
def test_page_signs_its_calls_under_iam(iam_api: str, page: Any, tmp_path: Path) -> None:
    # GIVEN the page on an ApiAuth=IAM API, with the engine's (temporary-style) credentials typed in
    fill = {"#aws-key": "testing", "#aws-secret": "testing", "#aws-token": "testing"}

    card = _upload_on_the_page(page, iam_api, tmp_path, fill)

    # THEN presign, status polling and the trace all pass the SigV4 check
    assert card.get_attribute("data-status") == "SUCCEEDED", card.inner_text()
    card.locator(".timeline:not([hidden]) .span").first.wait_for(timeout=15_000)


@pytest.mark.browser
def test_page_without_credentials_shows_the_refusal_under_iam(
    iam_api: str, page: Any, tmp_path: Path
) -> None:
    card = _upload_on_the_page(page, iam_api, tmp_path, {})

    assert card.get_attribute("data-status") == "ERROR"
    assert "Forbidden (auth IAM)" in card.locator(".detail").inner_text()


@pytest.mark.browser
def test_page_sends_the_bearer_token_under_jwt(
    jwt_api: str, issuer: _Issuer, page: Any, tmp_path: Path
) -> None:
    card = _upload_on_the_page(page, jwt_api, tmp_path, {"#jwt-token": issuer.token()})

    assert card.get_attribute("data-status") == "SUCCEEDED", card.inner_text()
