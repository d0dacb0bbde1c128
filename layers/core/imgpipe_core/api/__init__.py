"""The HTTP API: presigned uploads, status, listing, re-runs, deletion and execution traces.

``create_app(settings)`` builds the Powertools resolver with request validation on (the Lambda
handler calls it once per cold start): ``routes`` holds the Routers, ``models`` the wire
shapes, ``uploads`` and ``images`` the logic over the data modules (records, storage,
executions, cdn). ``openapi_document`` is the contract generated from all of it, committed
as api/openapi.json. Every error is ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
    OpenAPIRequestValidationMiddleware,
)
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from imgpipe_core.api.inputs import parse_body
from imgpipe_core.api.models import ApiError
from imgpipe_core.api.routes import RAW_BODIES, all_routers
from imgpipe_core.config import Settings

__all__ = ["ApiError", "create_app", "error_response", "openapi_document"]

# Which refusal a validation error is, by where it is: (location, field) → (status, code).
_FIELD_ERRORS = {
    ("body", "contentType"): (HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE"),
    ("body", "size"): (HTTPStatus.BAD_REQUEST, "INVALID_SIZE"),
    ("query", "status"): (HTTPStatus.BAD_REQUEST, "INVALID_STATUS"),
    ("query", "limit"): (HTTPStatus.BAD_REQUEST, "INVALID_LIMIT"),
    ("query", "cursor"): (HTTPStatus.BAD_REQUEST, "INVALID_CURSOR"),
    ("path", "image_id"): (HTTPStatus.BAD_REQUEST, "INVALID_ID"),
    ("body", "since"): (HTTPStatus.BAD_REQUEST, "INVALID_SINCE"),
}
# A size of the wrong type is a malformed request, not a size out of range.
_TYPE_ERRORS = {"int_type", "int_parsing", "int_from_float", "missing"}


def error_response(status: HTTPStatus, code: str, message: str) -> Response:
    body = {"error": {"code": code, "message": message}}
    return Response(int(status), "application/json", json.dumps(body))


def validation_refusal(errors: list[dict[str, Any]]) -> ApiError:
    """The one 4xx a list of pydantic errors (from the resolver) becomes."""
    problems = "; ".join(
        f"{'.'.join(str(part) for part in e.get('loc', ())) or 'request'}: {e.get('msg', '')}"
        for e in errors
    )
    first = errors[0] if errors else {}
    loc = tuple(str(part) for part in first.get("loc", ()))
    if loc[:1] == ("body",) and (len(loc) == 1 or first.get("type") == "json_invalid"):
        return ApiError(HTTPStatus.BAD_REQUEST, "INVALID_JSON", "body must be a JSON object")
    where = (loc[0], loc[1]) if len(loc) >= 2 else ("", "")
    status, code = _FIELD_ERRORS.get(where, (HTTPStatus.BAD_REQUEST, "INVALID_REQUEST"))
    if where == ("body", "size") and first.get("type") in _TYPE_ERRORS:
        status, code = HTTPStatus.BAD_REQUEST, "INVALID_REQUEST"
    return ApiError(status, code, problems)


class _JsonBodiesOnly(OpenAPIRequestValidationMiddleware):
    """Request validation that reads a body only as JSON: this API takes no forms, and
    Powertools' form parsers raise plain errors (a multipart type without a boundary)."""

    def _get_body(self, app: Any) -> dict[str, Any]:
        content_type = app.current_event.headers.get("content-type", "").strip().lower()
        if content_type and not content_type.startswith("application/json"):
            raise ApiError(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "the request body must be application/json",
            )
        return super()._get_body(app)


def _cors(settings: Settings) -> CORSConfig:
    origins = [o.strip() for o in settings.allowed_origins.split(",") if o.strip()] or ["*"]
    return CORSConfig(
        allow_origin=origins[0],
        extra_origins=origins[1:],
        allow_headers=["Content-Type", "Authorization", "X-Amz-Date", "X-Amz-Security-Token"],
        max_age=600,
    )


def create_app(settings: Settings) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(
        cors=_cors(settings), enable_validation=True, json_body_deserializer=parse_body
    )
    # Powertools reads this attribute for every validated route (set once, before any request).
    app._request_validation_middleware = _JsonBodiesOnly()
    for router in all_routers(settings):
        app.include_router(router)

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported(_: RequestUnsupportedContentType) -> Response:
        return error_response(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "the request body must be application/json",
        )

    @app.exception_handler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return error_response(error.status, error.code, error.message)

    @app.exception_handler(RequestValidationError)
    def _invalid(error: RequestValidationError) -> Response:
        refusal = validation_refusal(list(error.errors()))
        return error_response(refusal.status, refusal.code, refusal.message)

    @app.exception_handler(UnicodeDecodeError)
    def _not_utf8(_: UnicodeDecodeError) -> Response:
        # Powertools decodes a binary body as UTF-8 before any parser sees it.
        return error_response(HTTPStatus.BAD_REQUEST, "INVALID_JSON", "body must be UTF-8 JSON")

    @app.not_found
    def _no_route(_: Exception) -> Response:
        allowed = _methods_of(app, app.current_event.path)
        if allowed:
            response = error_response(
                HTTPStatus.METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "method not allowed here"
            )
            response.headers["Allow"] = ", ".join(allowed)
            return response
        return error_response(HTTPStatus.NOT_FOUND, "ROUTE_NOT_FOUND", "no such route")

    return app


def _methods_of(app: APIGatewayHttpResolver, path: str) -> list[str]:
    routes = app._static_routes + app._dynamic_routes
    return sorted({route.method.upper() for route in routes if route.rule.match(path)})


def openapi_document(app: APIGatewayHttpResolver) -> dict[str, Any]:
    """The contract, generated from the resolver's routes and models."""
    document: dict[str, Any] = json.loads(
        app.get_openapi_json_schema(
            title="imgpipe upload and management API",
            version="1.0",
            description=(
                "Upload images straight to S3 with a presigned POST (or small ones in the "
                "request body), watch their processing, list, re-run, trace and delete them. "
                "Served by functions/api behind an API Gateway HTTP API; authorisation is chosen "
                "at deploy time (ApiAuth: IAM, JWT, API_KEY as `x-api-key`, or NONE). Every "
                'error has the body `{"error": {"code", "message"}}`.'
            ),
        )
    )
    # Validation errors are answered as 400 in the error shape, never as Powertools' 422.
    for item in document.get("paths", {}).values():
        for operation in item.values():
            responses = operation.get("responses", {})
            responses.pop("422", None)
            responses.get("204", {}).pop("content", None)  # no body at all
            for parameter in operation.get("parameters", []):
                parameter["schema"] = _absent_not_null(parameter["schema"])
    for (path, method), body in RAW_BODIES.items():
        document["paths"][path][method]["requestBody"] = body
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(name, None)
    return document


def _absent_not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional query parameter is left out, never sent as null."""
    variants = schema.get("anyOf")
    if not variants:
        return schema
    kept = [one for one in variants if one != {"type": "null"}]
    if len(kept) != 1:
        return schema
    rest = {key: value for key, value in schema.items() if key != "anyOf"}
    return {**kept[0], **rest}
