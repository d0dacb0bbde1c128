"""What API Gateway would serve: routes, their authorizers and CORS, from the deployed stack.

moto's CloudFormation stores ``AWS::ApiGatewayV2::Api`` but creates nothing for it; its OpenAPI
``Body`` (after the SAM transform, with the stack's parameters and conditions applied by moto's
own intrinsic resolver) is read here, so the local API server follows the template rather than
a copy of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_ANY = "x-amazon-apigateway-any-method"
_FUNCTION_IN_URI = re.compile(r"/functions/(.+?)/invocations$")
_HEADER_SOURCE = "$request.header."


@dataclass(frozen=True)
class Jwt:
    issuer: str
    audiences: tuple[str, ...]


@dataclass(frozen=True)
class LambdaAuthorizer:
    """An HTTP API Lambda authorizer (payload 2.0, simple responses) on request headers."""

    function: str  # the function's ARN, from authorizerUri
    identity_headers: tuple[str, ...]  # lower-cased names of the $request.header.* sources
    ttl_seconds: int  # authorizerResultTtlInSeconds: 0 = every request asks the function


@dataclass(frozen=True)
class Cors:
    allow_origins: tuple[str, ...]
    allow_methods: tuple[str, ...]
    allow_headers: tuple[str, ...]
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False


@dataclass(frozen=True)
class Route:
    method: str  # an HTTP method or ANY
    path: str  # e.g. /images/{id} or /{proxy+}
    auth: str = "NONE"  # NONE | IAM | JWT | LAMBDA
    jwt: Jwt | None = None
    authorizer: LambdaAuthorizer | None = None

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters if this route serves the request, else None."""
        if self.method not in ("ANY", method):
            return None
        want = self.path.strip("/").split("/") if self.path != "/" else []
        got = path.strip("/").split("/") if path.strip("/") else []
        params: dict[str, str] = {}
        for index, segment in enumerate(want):
            if segment.startswith("{") and segment.endswith("+}"):
                rest = got[index:]
                if not rest:
                    return None
                params[segment[1:-2]] = "/".join(rest)
                return params
            if index >= len(got):
                return None
            if segment.startswith("{") and segment.endswith("}"):
                params[segment[1:-1]] = got[index]
            elif segment != got[index]:
                return None
        return params if len(got) == len(want) else None

    def _specificity(self) -> tuple[int, int, int]:
        segments = self.path.strip("/").split("/")
        literal = sum(1 for s in segments if not s.startswith("{"))
        greedy = any(s.endswith("+}") for s in segments)
        return literal, 0 if greedy else 1, 0 if self.method == "ANY" else 1


@dataclass(frozen=True)
class ApiDefinition:
    routes: tuple[Route, ...]
    cors: Cors | None = None

    def route(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The most specific matching route, as API Gateway chooses (explicit method over ANY)."""
        matches = [(r, p) for r in self.routes if (p := r.match(method, path)) is not None]
        if not matches:
            return None
        return max(matches, key=lambda item: item[0]._specificity())


def parse(body: dict[str, Any]) -> ApiDefinition:
    """An API definition from an HTTP API's OpenAPI body (API Gateway extensions included)."""
    schemes = (body.get("components") or {}).get("securitySchemes") or {}
    default_security = body.get("security")
    routes: list[Route] = []
    for path, operations in (body.get("paths") or {}).items():
        for name, operation in (operations or {}).items():
            method = "ANY" if name == _ANY else name.upper()
            if method != "ANY" and method not in HTTP_METHODS:
                continue
            security = operation.get("security", default_security) or []
            routes.append(Route(method, path, *_authorizer(security, schemes)))
    return ApiDefinition(tuple(routes), _cors(body.get("x-amazon-apigateway-cors")))


def _authorizer(
    security: list[Any], schemes: dict[str, Any]
) -> tuple[str, Jwt | None, LambdaAuthorizer | None]:
    for requirement in security:
        for name in requirement or {}:
            scheme = schemes.get(name) or {}
            if scheme.get("x-amazon-apigateway-authtype") == "awsSigv4":
                return "IAM", None, None
            authorizer = scheme.get("x-amazon-apigateway-authorizer") or {}
            if authorizer.get("type") == "jwt":
                config = authorizer.get("jwtConfiguration") or {}
                audiences = tuple(a for a in _as_list(config.get("audience")) if a)
                return "JWT", Jwt(str(config.get("issuer") or ""), audiences), None
            if authorizer.get("type") == "request":
                return "LAMBDA", None, _lambda_authorizer(name, authorizer)
            raise ValueError(f"security scheme {name!r} is not emulated by the local API server")
    return "NONE", None, None


def _lambda_authorizer(name: str, config: dict[str, Any]) -> LambdaAuthorizer:
    # Only what the template uses is emulated; anything else must not pass silently.
    simple = config.get("enableSimpleResponses") is True
    if str(config.get("authorizerPayloadFormatVersion")) != "2.0" or not simple:
        raise ValueError(f"authorizer {name!r}: only payload 2.0 with simple responses is emulated")
    match = _FUNCTION_IN_URI.search(str(config.get("authorizerUri") or ""))
    if match is None:
        raise ValueError(f"authorizer {name!r} has no Lambda function in its authorizerUri")
    sources = _as_list(config.get("identitySource"))
    if not sources or not all(s.startswith(_HEADER_SOURCE) for s in sources):
        raise ValueError(f"authorizer {name!r}: only $request.header.* identity sources")
    headers = tuple(s[len(_HEADER_SOURCE) :].lower() for s in sources)
    ttl = int(config.get("authorizerResultTtlInSeconds") or 0)
    return LambdaAuthorizer(match.group(1), headers, ttl)


def _cors(config: dict[str, Any] | None) -> Cors | None:
    if not config:
        return None
    max_age = config.get("maxAge")
    return Cors(
        allow_origins=tuple(_as_list(config.get("allowOrigins"))),
        allow_methods=tuple(m.upper() for m in _as_list(config.get("allowMethods"))),
        allow_headers=tuple(h.lower() for h in _as_list(config.get("allowHeaders"))),
        expose_headers=tuple(_as_list(config.get("exposeHeaders"))),
        max_age=int(max_age) if max_age is not None else None,
        allow_credentials=bool(config.get("allowCredentials")),
    )


def _as_list(value: Any) -> list[str]:
    # A CommaDelimitedList parameter may reach here joined, as moto resolves some Refs.
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(v) for v in value]


def load(stack_name: str, region: str, logical_id: str = "Api") -> ApiDefinition | None:
    """The deployed HTTP API's definition; None when the stack has no such API."""
    from moto.cloudformation.models import cloudformation_backends
    from moto.cloudformation.parsing import clean_json
    from moto.core import DEFAULT_ACCOUNT_ID

    backend = cloudformation_backends[DEFAULT_ACCOUNT_ID][region]
    stacks = [s for s in backend.stacks.values() if s.name == stack_name]
    live = [s for s in stacks if not s.status.startswith("DELETE")]
    if not live:
        return None
    stack = live[-1]
    resources = stack.template_dict.get("Resources") or {}
    apis = {k: v for k, v in resources.items() if v.get("Type") == "AWS::ApiGatewayV2::Api"}
    # The template's `Api`, or its only HTTP API whatever its name.
    resource = apis.get(logical_id) or (next(iter(apis.values())) if len(apis) == 1 else None)
    if resource is None:
        return None
    body = (resource.get("Properties") or {}).get("Body")
    if not body:
        return None
    return parse(clean_json(body, stack.resource_map))
