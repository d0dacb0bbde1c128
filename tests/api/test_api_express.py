"""The web page's trace of an Express execution: the API function reads it from the logs."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.api.conftest import ROOT, Api, image_bytes

pytestmark = [pytest.mark.engine, pytest.mark.xdist_group("api-express")]


@pytest.fixture(scope="module")
def express_api(engine: Any) -> Api:
    from imgpipe.local import api_server

    url = api_server.bind()
    stack = "apiexpress"
    result = engine.deploy(
        ROOT / "template.yaml",
        stack,
        {
            "PublicBaseUrl": f"{url}/cdn",
            "ApiBaseUrl": url,
            "ApiAuth": "NONE",
            "WorkflowType": "EXPRESS",
        },
    )
    api_server.start(engine, stack, result.outputs)
    return Api(url, engine, result.outputs)  # stopped with the session's servers


def test_express_trace_is_served_from_the_execution_logs(express_api: Api) -> None:
    # GIVEN an image processed by an Express execution
    upload_id = express_api.upload(image_bytes(640, 480, "JPEG"), "image/jpeg")
    assert express_api.wait(upload_id)["status"] == "SUCCEEDED"
    # WHEN the web page asks for its trace (Notify may still be finishing: ask until it ended)
    deadline = time.monotonic() + 60
    while True:
        response = express_api.get(f"/images/{upload_id}/trace")
        if response.status_code != 200 or response.json()["status"] != "RUNNING":
            break
        assert time.monotonic() < deadline, response.text
        time.sleep(0.5)
    # THEN the API function (its role may read the pipeline's log group only) returns the
    # timeline from the log events: the Express ARN, every state, the end of the execution
    assert response.status_code == 200, response.text
    trace = response.json()
    assert trace["status"] == "SUCCEEDED" and trace["end"]
    assert trace["executionArn"].split(":")[5] == "express"
    names = [s["name"] for s in trace["states"]]
    for state in ("Register Upload", "Validate Upload", "Resize Variant", "Publish Variants"):
        assert state in names
