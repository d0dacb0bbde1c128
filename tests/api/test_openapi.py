"""api/openapi.yaml documents exactly the routes the resolver serves."""

from __future__ import annotations

from pathlib import Path

import yaml

from imgpipe_core.api import create_app, routes
from imgpipe_core.config import Settings

OPENAPI = Path(__file__).resolve().parents[2] / "api" / "openapi.yaml"
METHODS = {"get", "post", "put", "patch", "delete", "head", "options"}


def _documented() -> set[tuple[str, str]]:
    document = yaml.safe_load(OPENAPI.read_text())
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }


def test_every_route_is_documented_and_nothing_else() -> None:
    served = set(routes(create_app(Settings())))
    assert served == _documented()


def test_every_operation_documents_its_errors() -> None:
    document = yaml.safe_load(OPENAPI.read_text())
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in METHODS or path == "/health":
                continue
            codes = set(operation["responses"])
            assert codes & {"400", "404", "409", "413", "415"}, (method, path)
