"""Concurrent requests and hostile input against the API on the engine (real handler, real
DynamoDB conditions): each case was a finding of the issue's run against `local up`."""

from __future__ import annotations

import datetime
import io
import itertools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from PIL import Image

from tests.api.conftest import Api, image_bytes

pytestmark = [
    pytest.mark.engine,
    pytest.mark.xdist_group("api"),
    pytest.mark.filterwarnings("ignore:Tried to parse AWS::ApiGatewayV2"),
]


def _at_once(count: int, call: Callable[[], requests.Response]) -> list[requests.Response]:
    barrier = threading.Barrier(count)

    def one(_: int) -> requests.Response:
        barrier.wait()  # all requests leave together
        return call()

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def _large_png() -> bytes:
    """12 MP in ~190 KB (under the test stack's upload limit): PNG has no draft mode, so
    every step decodes all of it and an attempt lasts seconds."""
    size = (4000, 3000)
    bands = [
        Image.linear_gradient("L").resize(size),
        Image.radial_gradient("L").resize(size),
        Image.linear_gradient("L").rotate(90).resize(size),
    ]
    out = io.BytesIO()
    Image.merge("RGB", bands).save(out, "PNG", optimize=True)
    return out.getvalue()


def _outcome_recorded(api: Api, execution_arn: str) -> datetime.datetime:
    """When the attempt's outcome writer (Publish Variants, Record Rejection/Failure) was
    entered: from then on its record may say it is no longer processing."""
    events = api.engine.client("stepfunctions").get_execution_history(
        executionArn=execution_arn, maxResults=1000
    )["events"]
    return min(
        event["timestamp"]
        for event in events
        if event["type"] == "TaskStateEntered"
        and event["stateEnteredEventDetails"]["name"].startswith(("Record ", "Publish Variants"))
    )


def test_ten_concurrent_reruns_start_exactly_one_attempt(api: Api) -> None:
    # GIVEN a processed image, large enough that an attempt outlasts ten requests
    ident = api.upload(_large_png(), "image/png", "race.png")
    first = api.wait(ident)
    assert first["status"] == "SUCCEEDED", first
    # (warm API workers first: cold starts would stretch the requests over the attempt)
    for _ in range(3):  # requests slow enough to overlap, so ten workers start
        assert {r.status_code for r in _at_once(10, lambda: api.get("/images?limit=100"))} == {200}
    # WHEN ten clients ask for a re-run at the same moment
    responses = _at_once(10, lambda: api.post(f"/images/{ident}/rerun"))
    answered = datetime.datetime.now(datetime.UTC)
    started = [r.json() for r in responses if r.status_code == 202]
    # THEN every other request was told an attempt is already running
    for response in responses:
        assert response.status_code in (200, 202), response.text
        if response.status_code == 200:
            assert response.json() == {
                "started": False,
                "processingId": first["processingId"],
                "reason": "already running",
            }
    # AND each 202 started an attempt of its own, and they ran one after the other: a later
    # one only once the previous had recorded its outcome (a slow machine may let the first
    # attempt finish before the last request is served; then a second re-run is right)
    assert started, [r.text for r in responses]
    arns = sorted(
        (body["executionArn"] for body in started), key=lambda a: int(a.rsplit("-r", 1)[1])
    )
    assert len(set(arns)) == len(arns)
    done = api.wait(ident, attempt=1 + len(started))
    assert done["attempt"] == 1 + len(started) and done["executionArns"][1:] == arns
    sfn = api.engine.client("stepfunctions")
    for previous, following in itertools.pairwise(arns):
        begun = sfn.describe_execution(executionArn=following)["startDate"]
        assert begun >= _outcome_recorded(api, previous)
    # AND when all ten were answered while the first attempt was in flight, exactly one started
    if answered < _outcome_recorded(api, arns[0]):
        assert sorted(r.status_code for r in responses) == [200] * 9 + [202]


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
