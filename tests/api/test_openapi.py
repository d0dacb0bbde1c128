"""api/openapi.json is the contract, generated from the resolver's routes and models."""

from __future__ import annotations

import json

from imgpipe.cli import main
from imgpipe.commands.openapi import CONTRACT, generated

METHODS = {"get", "post", "put", "patch", "delete", "head", "options"}


def test_the_committed_contract_is_exactly_what_the_code_generates() -> None:
    # Any difference (a field, a limit, a description) fails: regenerate with `make openapi`.
    assert CONTRACT.read_text() == generated()
    assert main(["openapi", "--check"]) == 0


def test_the_check_fails_when_the_file_differs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    stale = tmp_path / "openapi.json"
    document = json.loads(generated())
    document["paths"]["/uploads"]["post"]["summary"] = "edited by hand"
    stale.write_text(json.dumps(document, indent=2) + "\n")
    assert main(["openapi", "--check", "--out", str(stale)]) == 2


def test_every_operation_documents_its_errors_in_the_error_shape() -> None:
    document = json.loads(CONTRACT.read_text())
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert method in METHODS
            codes = set(operation["responses"])
            assert "422" not in codes, (method, path)  # refusals are 400, never Powertools' 422
            if path == "/health":
                continue
            assert "400" in codes, (method, path)
            schema = operation["responses"]["400"]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}


def test_limits_are_part_of_the_contract() -> None:
    document = json.loads(CONTRACT.read_text())
    upload = document["components"]["schemas"]["UploadRequest"]["properties"]
    assert upload["size"]["type"] == "integer" and upload["size"]["minimum"] == 1
    assert set(upload["contentType"]["enum"]) == {
        *("image/jpeg", "image/png", "image/webp", "image/gif"),
        *("image/heic", "image/heif", "image/avif"),
    }
    parameters = {p["name"]: p for p in document["paths"]["/images"]["get"]["parameters"]}
    assert parameters["limit"]["schema"]["maximum"] == 100
    assert parameters["cursor"]["schema"]["maxLength"] == 4096
    image = document["paths"]["/images/{image_id}"]["get"]["parameters"][0]
    assert image["schema"]["maxLength"] == 32 and image["schema"]["pattern"]
