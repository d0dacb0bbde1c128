"""POST /backfills and GET /backfills/{id} over HTTP, through the API function's own role."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api
from tests.helpers import wait_for

pytestmark = [
    pytest.mark.engine,
    pytest.mark.xdist_group("api"),
    pytest.mark.filterwarnings("ignore:Tried to parse AWS::ApiGatewayV2"),
]


def test_a_backfill_starts_and_its_progress_is_served(api: Api) -> None:
    # WHEN a backfill selects records updated in the future (none: other tests' images stay)
    started = api.post("/backfills", json={"since": "2999-01-01T00:00:00Z"})
    # THEN it is started, and its status URL serves its progress until it ends
    assert started.status_code == 202, started.text
    body = started.json()
    assert body["statusUrl"] == f"{api.url}/backfills/{body['backfillId']}"

    def ended() -> dict | None:
        response = api.get(f"/backfills/{body['backfillId']}")
        assert response.status_code == 200, response.text
        view = response.json()
        return view if view["status"] != "RUNNING" else None

    view = wait_for(ended, timeout=60, interval=0.5)
    assert view["status"] == "SUCCEEDED", view
    assert (view["total"], view["succeeded"], view["failed"], view["redriveCount"]) == (0, 0, 0, 0)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"variants": ["no-such-variant"]}, "UNKNOWN_VARIANT"),
        ({"statuses": []}, "INVALID_REQUEST"),
        ({"statuses": ["DONE"]}, "INVALID_REQUEST"),
        ({"since": "yesterday"}, "INVALID_SINCE"),
        # a number is not a date (pydantic alone would read it as a Unix time)
        ({"since": 0}, "INVALID_SINCE"),
        ({"since": "2026-13-01"}, "INVALID_SINCE"),
        # a real date, but before any record (and one strftime would not zero-pad)
        ({"since": "0033-03-04T14:48:17Z"}, "INVALID_SINCE"),
        ({"bucket": "elsewhere"}, "INVALID_REQUEST"),
    ],
)
def test_a_bad_backfill_request_is_a_400_and_starts_nothing(
    api: Api, body: dict, code: str
) -> None:
    machine = api.outputs["BackfillStateMachineArn"]
    sfn = api.engine.client("stepfunctions")
    before = len(sfn.list_executions(stateMachineArn=machine)["executions"])
    response = api.post("/backfills", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == before


def test_an_unknown_or_malformed_backfill_id(api: Api) -> None:
    assert api.get("/backfills/backfill-20000101T000000-0123abcd").status_code == 404
    assert api.get("/backfills/not-a-backfill").status_code == 400
