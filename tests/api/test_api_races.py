"""Concurrent requests and hostile input against the API on the engine (real handler, real
DynamoDB conditions): each case was a finding of the issue's run against `local up`."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.api.conftest import Api, image_bytes

pytestmark = [
    pytest.mark.engine,
    pytest.mark.xdist_group("api"),
    pytest.mark.filterwarnings("ignore:Tried to parse AWS::ApiGatewayV2"),
]


def _at_once(count: int, call: object) -> list[requests.Response]:
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: call(), range(count)))  # type: ignore[operator]


def test_ten_concurrent_reruns_start_exactly_one_attempt(api: Api) -> None:
    # GIVEN a processed image
    ident = api.upload(image_bytes(120, 90), "image/png", "race.png")
    first = api.wait(ident)
    assert first["status"] == "SUCCEEDED", first
    # (ten warm API workers first: a cold start would let the attempt finish before the last
    # request arrives, and then a second re-run is rightly allowed)
    for _ in range(2):
        assert {r.status_code for r in _at_once(10, lambda: api.get("/health"))} == {200}
    # WHEN ten clients ask for a re-run at the same moment
    responses = _at_once(10, lambda: api.post(f"/images/{ident}/rerun"))
    # THEN exactly one started it; the others were told an attempt is already running
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 9 + [202], [r.text for r in responses]
    for response in responses:
        body = response.json()
        if response.status_code == 200:
            assert body == {
                "started": False,
                "processingId": first["processingId"],
                "reason": "already running",
            }
    # AND only one more attempt ran
    done = api.wait(ident, attempt=2)
    assert done["attempt"] == 2 and len(done["executionArns"]) == 2
    assert api.get(f"/images/{ident}").json()["attempt"] == 2


def test_five_concurrent_deletes_answer_one_204_and_four_404(api: Api) -> None:
    ident = api.upload(image_bytes(100, 80), "image/png", "gone.png")
    assert api.wait(ident)["status"] == "SUCCEEDED"
    responses = _at_once(5, lambda: api.delete(f"/images/{ident}"))
    assert sorted(r.status_code for r in responses) == [204, 404, 404, 404, 404]
    assert api.get(f"/images/{ident}").status_code == 404


def test_deeply_nested_json_is_a_400_not_a_502(api: Api) -> None:
    response = api.post(
        "/uploads", data="[" * 100_000, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_JSON"


def test_status_url_ignores_forwarded_headers(api: Api) -> None:
    body = {"filename": "a.png", "contentType": "image/png", "size": 10}
    headers = {"X-Forwarded-Proto": "javascript:alert(1)//", "X-Forwarded-Host": "evil.example"}
    response = api.post("/uploads", json=body, headers=headers)
    assert response.status_code == 201
    assert response.json()["statusUrl"] == f"{api.url}/images/{response.json()['uploadId']}"
