"""ApiAuth=API_KEY through the real path: the local API server runs the stack's authorizer
function (payload 2.0, simple responses) in the engine's Lambda runtime, caches its answer per
key for ApiKeyCacheTtlSeconds, and keys come from ``imgpipe keys``."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from imgpipe import cli
from imgpipe.local import api_server
from tests.api.conftest import ROOT, image_bytes
from tests.api.test_api_gateway import _upload_on_the_page, page  # noqa: F401 (a fixture)
from tests.unit.test_api_key_store import secret_of

pytestmark = [
    pytest.mark.engine,
    pytest.mark.xdist_group("api"),
    pytest.mark.filterwarnings("ignore:Tried to parse AWS::ApiGatewayV2"),
]

STACK = "apikeys"
TTL_SECONDS = 1


@dataclass
class KeyApi:
    url: str
    engine: Any
    outputs: dict[str, str]

    def keys(self, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
        capsys.readouterr()
        code = cli.main(
            ["keys", *argv, "--stack-name", STACK, "--endpoint-url", self.engine.endpoint_url]
        )
        return code, capsys.readouterr().out

    def create(self, capsys: pytest.CaptureFixture[str], name: str = "test") -> dict[str, str]:
        code, out = self.keys(capsys, "create", "--json", "--name", name)
        assert code == 0, out
        return dict(json.loads(out))

    def get(self, path: str, key: str | None = None) -> requests.Response:
        headers = {"x-api-key": key} if key is not None else {}
        return requests.get(self.url + path, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def key_api(engine: Any) -> KeyApi:
    overrides = {"ApiAuth": "API_KEY", "ApiKeyCacheTtlSeconds": str(TTL_SECONDS)}
    result = engine.deploy(ROOT / "template.yaml", STACK, overrides)
    url = api_server.start(engine, STACK, result.outputs)["ApiUrl"]
    return KeyApi(url, engine, result.outputs)


# What only ApiAuth=API_KEY uses (the role is SAM's, with the function's Condition).
API_KEY_ONLY = {
    "ApiKeyTable",
    "AuthorizerFunction",
    "AuthorizerFunctionRole",
    "AuthorizerInvokePermission",
}


def _logical_ids(engine: Any, stack: str) -> set[str]:
    resources = engine.client("cloudformation").describe_stack_resources(StackName=stack)
    return {r["LogicalResourceId"] for r in resources["StackResources"]}


def test_only_an_api_key_stack_has_the_key_table_and_the_authorizer(
    engine: Any, key_api: KeyApi, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the ApiAuth=API_KEY stack: its table and authorizer exist
    assert _logical_ids(engine, STACK) >= API_KEY_ONLY
    # WHEN a stack is deployed with the default ApiAuth (IAM)
    default = f"{STACK}-default"
    engine.deploy(ROOT / "template.yaml", default, {})
    # THEN it has none of them, nor does the account hold a table or function of its
    ids = _logical_ids(engine, default)
    assert "ApiFunction" in ids and not ids & API_KEY_ONLY, ids & API_KEY_ONLY
    tables = engine.client("dynamodb").list_tables()["TableNames"]
    functions = [f["FunctionName"] for f in engine.client("lambda").list_functions()["Functions"]]
    assert not [n for n in tables + functions if n.startswith(default) and "ApiKey" in n]
    assert not [n for n in functions if n.startswith(default) and "Authorizer" in n]
    # AND `imgpipe keys` says why it has nothing to manage there
    capsys.readouterr()
    argv = ["keys", "list", "--stack-name", default, "--endpoint-url", engine.endpoint_url]
    assert cli.main(argv) == 2
    assert "not deployed with ApiAuth=API_KEY" in capsys.readouterr().err


def test_a_request_without_a_key_is_401_before_any_authorizer_runs(key_api: KeyApi) -> None:
    response = key_api.get("/images")
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}


@pytest.mark.parametrize(
    "key",
    [
        "not-a-key",
        "ipk_0123456789abcdef_" + "A" * 43,  # well-formed, never issued
    ],
)
def test_a_wrong_key_is_403(key_api: KeyApi, key: str) -> None:
    response = key_api.get("/images", key)
    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden"}


def test_a_created_key_is_accepted_and_stored_only_hashed(
    key_api: KeyApi, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a key from `imgpipe keys create --json`
    created = key_api.create(capsys, "ci job")
    key = created["key"]
    # WHEN the API is called with it THEN the function answers
    assert key_api.get("/images", key).status_code == 200
    # AND an altered secret of the same keyId is refused
    assert key_api.get("/images", key[:-1] + ("B" if key[-1] != "B" else "C")).status_code == 403
    # AND the table holds neither the key nor its secret
    items = key_api.engine.client("dynamodb").scan(TableName=key_api.outputs["ApiKeyTableName"])
    stored = json.dumps(items["Items"])
    secret = secret_of(key)
    assert created["keyId"] in stored
    assert secret not in stored and key not in stored
    # AND `keys list` shows it active, without any secret
    code, out = key_api.keys(capsys, "list", "--json")
    listed = {row["keyId"]: row for row in json.loads(out)}
    assert code == 0 and listed[created["keyId"]]["revokedAt"] is None
    assert "secretSha256" not in listed[created["keyId"]] and secret not in out


def test_a_revoked_key_is_refused_once_the_cache_ttl_has_passed(
    key_api: KeyApi, capsys: pytest.CaptureFixture[str]
) -> None:
    created = key_api.create(capsys)
    assert key_api.get("/images", created["key"]).status_code == 200
    code, _ = key_api.keys(capsys, "revoke", created["keyId"])
    assert code == 0
    time.sleep(TTL_SECONDS + 0.5)  # API Gateway may answer from its cache until then
    response = key_api.get("/images", created["key"])
    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden"}


def test_revoking_an_unknown_key_is_an_error(
    key_api: KeyApi, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = key_api.keys(capsys, "revoke", "0123456789abcdef")
    assert code == 2


def test_cli_direct_upload_with_an_api_key_succeeds(
    key_api: KeyApi, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    # GIVEN a key and a small PNG
    key = key_api.create(capsys)["key"]
    photo = tmp_path / "keyed.png"
    photo.write_bytes(image_bytes(96, 64))
    # WHEN `imgpipe upload --direct --api-key KEY --wait` sends it
    capsys.readouterr()
    code = cli.main(
        ["upload", str(photo), "--direct", "--api-key", key, "--api-url", key_api.url, "--wait"]
    )
    out = capsys.readouterr().out
    # THEN it ends SUCCEEDED, its record reachable with the key
    assert code == 0, out
    row = [line for line in out.splitlines() if line.startswith("keyed.png ")][-1]  # the table
    upload_id = row.split()[1]
    image = key_api.get(f"/images/{upload_id}", key).json()
    assert image["status"] == "SUCCEEDED" and image["variants"]


def test_config_json_tells_the_page_to_ask_for_a_key(key_api: KeyApi) -> None:
    config = requests.get(key_api.url + "/config.json", timeout=10).json()
    assert config["auth"] == "API_KEY"


def test_a_browser_preflight_may_send_x_api_key(key_api: KeyApi) -> None:
    response = requests.options(
        key_api.url + "/uploads/direct",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-api-key",
        },
        timeout=10,
    )
    assert response.status_code == 204
    assert "x-api-key" in response.headers["Access-Control-Allow-Headers"].split(",")


@pytest.mark.browser
def test_page_sends_the_key_it_asks_for(
    key_api: KeyApi,
    page: Any,  # noqa: F811 (the imported fixture)
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN the page on an ApiAuth=API_KEY API, with a created key typed in
    key = key_api.create(capsys, "browser")["key"]
    card = _upload_on_the_page(page, key_api.url, tmp_path, {"#api-key": key})
    # THEN presign and status polling pass the authorizer
    assert card.get_attribute("data-status") == "SUCCEEDED", card.inner_text()


@pytest.mark.browser
def test_page_without_a_key_shows_the_refusal(
    key_api: KeyApi,
    page: Any,  # noqa: F811 (the imported fixture)
    tmp_path: Path,
) -> None:
    card = _upload_on_the_page(page, key_api.url, tmp_path, {})
    assert card.get_attribute("data-status") == "ERROR"
    assert "Unauthorized (auth API_KEY)" in card.locator(".detail").inner_text()
