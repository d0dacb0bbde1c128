"""API Gateway's HTTP API authorizers, as the local API server applies them.

* JWT: the token from ``Authorization`` (``Bearer`` prefix optional) must be signed by a key of
  the issuer's JWKS (found through ``<issuer>/.well-known/openid-configuration``), carry the
  configured ``iss``, an ``aud`` (or ``client_id``) among the audiences and an ``exp`` in the
  future; else 401 ``{"message": "Unauthorized"}`` with a ``www-authenticate`` header.
* IAM: the request must be SigV4-signed for ``execute-api`` in the engine's region with
  credentials the engine issued (``imgpipe.local.credentials``); else 403 with API Gateway's
  messages. The caller's ``execute-api:Invoke`` permission is not evaluated.
* Lambda (request authorizer, payload 2.0, simple responses): a request without every identity
  source header is 401 ``Unauthorized`` without calling the function; otherwise the deployed
  authorizer function runs (through the engine's Lambda Invoke, like the API function) and
  ``isAuthorized: false`` is 403 ``Forbidden``; a failing or malformed answer is 500. Its
  decision is cached per identity-source values for the authorizer's TTL, as API Gateway does.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

from imgpipe.local import credentials
from imgpipe.local.api_definition import Jwt, LambdaAuthorizer

# API Gateway's quotas for the authorizer's calls to the issuer (HTTP API quotas page).
DISCOVERY_TIMEOUT_SECONDS = 1.5
JWKS_MAX_BYTES = 150_000
# API Gateway's JWT authorizer accepts only RSA signatures.
JWT_ALGORITHMS = ["RS256", "RS384", "RS512"]
SIGV4_MAX_SKEW = timedelta(minutes=5)

_SIGV4_HEADER_RE = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),"
    r"\s*Signature=([0-9a-f]{64})$"
)
_SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details."
)


class Denied(Exception):
    """A request the authorizer refuses; API Gateway answers it without calling the function."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


# -- JWT ----------------------------------------------------------------------------------------


class JwksCache:
    """Signing keys per issuer, refreshed when a token names a key id not seen yet."""

    def __init__(self) -> None:
        self._keys: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def key(self, issuer: str, kid: str | None) -> Any:
        with self._lock:
            known = self._keys.get(issuer)
            if known is None or kid not in known:
                known = self._keys[issuer] = _fetch_jwks(issuer)
        if kid in known:
            return known[kid]
        if kid is None and len(known) == 1:
            return next(iter(known.values()))
        raise _unauthorized("signing key not found")


def _fetch_jwks(issuer: str) -> dict[str, Any]:
    try:
        discovery = _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
        keys = jwt.PyJWKSet.from_dict(_get_json(str(discovery["jwks_uri"])))
    except (requests.RequestException, ValueError, KeyError, TypeError, jwt.PyJWTError) as exc:
        raise _unauthorized("unable to fetch the issuer's signing keys") from exc
    return {str(key.key_id): key for key in keys.keys}


def _get_json(url: str) -> Any:
    response = requests.get(url, timeout=DISCOVERY_TIMEOUT_SECONDS, stream=True)
    response.raise_for_status()
    body = response.raw.read(JWKS_MAX_BYTES + 1, decode_content=True)
    if len(body) > JWKS_MAX_BYTES:
        raise ValueError("response too large")
    return json.loads(body)


def _unauthorized(description: str) -> Denied:
    challenge = f'Bearer scope="" error="invalid_token" error_description="{description}"'
    return Denied(401, "Unauthorized", {"www-authenticate": challenge})


def check_jwt(config: Jwt, headers: Mapping[str, str], cache: JwksCache) -> dict[str, Any]:
    """The token's claims, or Denied(401) as API Gateway's JWT authorizer answers."""
    value = (headers.get("authorization") or "").strip()
    token = value[7:].strip() if value[:7].lower() == "bearer " else value
    if not token:
        raise Denied(401, "Unauthorized")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise _unauthorized("the token is malformed") from exc
    if header.get("alg") not in JWT_ALGORITHMS:
        raise _unauthorized("the token's signing algorithm is not supported")
    key = cache.key(config.issuer, header.get("kid"))
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=JWT_ALGORITHMS,
            issuer=config.issuer,
            options={"require": ["exp", "iss"], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError as exc:
        raise _unauthorized("the token has expired") from exc
    except jwt.InvalidIssuerError as exc:
        raise _unauthorized("the token has an invalid issuer") from exc
    except jwt.PyJWTError as exc:
        raise _unauthorized("the token is not valid") from exc
    audiences = claims.get("aud", claims.get("client_id"))
    offered = [audiences] if isinstance(audiences, str) else list(audiences or [])
    if not set(offered) & set(config.audiences):
        raise _unauthorized("the token does not have a valid audience")
    return claims


# -- IAM (SigV4) --------------------------------------------------------------------------------


class _Recompute(SigV4Auth):
    """botocore's SigV4 over exactly the headers the caller says it signed."""

    def __init__(self, creds: Credentials, service: str, region: str, names: list[str]) -> None:
        super().__init__(creds, service, region)
        self._names = names

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        signed = HTTPHeaders()
        for name in self._names:
            value = request.headers.get(name)
            if value is None:
                raise Denied(403, _SIGNATURE_MISMATCH)
            signed[name] = value
        return signed


def check_sigv4(
    method: str,
    raw_uri: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    region: str,
    now: datetime | None = None,
) -> credentials.Issued:
    """The caller's credential, or Denied(403) as API Gateway's IAM authorizer answers."""
    match = _SIGV4_HEADER_RE.match(headers.get("authorization") or "")
    amz_date = headers.get("x-amz-date") or ""
    if match is None or not amz_date:
        raise Denied(403, "Forbidden")
    credential, signed_names, signature = match.groups()
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise Denied(403, "Forbidden")
    key_id, date, scope_region, service, _ = parts
    if service != "execute-api":
        raise Denied(403, "Credential should be scoped to correct service: 'execute-api'. ")
    if scope_region != region:
        raise Denied(403, f"Credential should be scoped to a valid region, not '{scope_region}'. ")
    try:
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError as exc:
        raise Denied(403, "Forbidden") from exc
    now = now or datetime.now(UTC)
    if abs(now - signed_at) > SIGV4_MAX_SKEW or not amz_date.startswith(date):
        earliest = (now - SIGV4_MAX_SKEW).strftime("%Y%m%dT%H%M%SZ")
        raise Denied(
            403,
            f"Signature expired: {amz_date} is now earlier than {earliest} "
            f"({now.strftime('%Y%m%dT%H%M%SZ')} - 5 min.)",
        )
    token = headers.get("x-amz-security-token")
    try:
        issued = credentials.lookup(key_id, token)
    except credentials.CredentialError as error:
        if error.code == "ExpiredToken":
            raise Denied(403, "The security token included in the request is expired") from error
        raise Denied(403, "The security token included in the request is invalid.") from error
    claimed = headers.get("x-amz-content-sha256")
    if claimed is not None and claimed != hashlib.sha256(body).hexdigest():
        raise Denied(403, _SIGNATURE_MISMATCH)
    host = headers.get("host") or "localhost"
    request = AWSRequest(method=method, url=f"http://{host}{raw_uri}", data=body)
    for name, value in headers.items():
        request.headers[name] = value
    request.context["timestamp"] = amz_date
    names = [n.lower() for n in signed_names.split(";")]
    signer = _Recompute(
        Credentials(key_id, issued.secret_access_key, token), service, region, names
    )
    expected = signer.signature(
        signer.string_to_sign(request, signer.canonical_request(request)), request
    )
    if not hmac.compare_digest(expected, signature):
        raise Denied(403, _SIGNATURE_MISMATCH)
    return issued


# -- Lambda (request authorizer) ---------------------------------------------------------------


class AuthorizerFailed(Exception):
    """The authorizer function failed or answered something that is not a simple response."""


class LambdaDecisions:
    """API Gateway's authorizer result cache: (function, identity values) → decision, per TTL."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._cached: dict[tuple[str, tuple[str, ...]], tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def decide(
        self,
        config: LambdaAuthorizer,
        headers: Mapping[str, str],
        invoke: Callable[[list[str]], Any],
    ) -> dict[str, Any]:
        """The authorizer's context for the integration, or Denied (401/403)."""
        identity = [headers.get(name, "") for name in config.identity_headers]
        if not all(identity):
            raise Denied(401, "Unauthorized")
        key = (config.function, tuple(identity))
        now = self._clock()
        with self._lock:
            cached = self._cached.get(key)
        if cached is not None and cached[0] > now:
            decision = cached[1]
        else:
            decision = _simple_response(invoke(identity))
            if config.ttl_seconds > 0:
                with self._lock:
                    self._cached[key] = (now + config.ttl_seconds, decision)
        if not decision["isAuthorized"]:
            raise Denied(403, "Forbidden")
        return dict(decision.get("context") or {})


def _simple_response(result: Any) -> dict[str, Any]:
    if not isinstance(result, dict) or not isinstance(result.get("isAuthorized"), bool):
        raise AuthorizerFailed(f"not a simple response: {str(result)[:200]}")
    context = result.get("context")
    if context is not None and not isinstance(context, dict):
        raise AuthorizerFailed("the context of a simple response must be an object")
    return result
