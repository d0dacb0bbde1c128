"""`imgpipe smoke` against the product's stack on the engine, through the local API server."""

from __future__ import annotations

import re
from typing import Any

import pytest

from imgpipe.cli import main
from tests.api.conftest import STACK, Api

pytestmark = [pytest.mark.engine, pytest.mark.xdist_group("api")]


def _smoke(api: Api, *extra: str) -> list[str]:
    argv = ["smoke", "--stack-name", STACK, "--endpoint-url", api.engine.endpoint_url]
    return [*argv, "--api-url", api.url, "--timeout", "120", *extra]


def test_smoke_passes_every_step_and_removes_what_it_created(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    # WHEN the smoke check runs against a healthy stack
    code = main(_smoke(api))
    out = capsys.readouterr().out
    # THEN every step passed, the non-image was rejected with a code, and it cleaned up
    assert code == 0, out
    for step in ("api health", "upload image", "image processed", "variants delivered",
                 "upload non-image", "non-image rejected", "clean up"):  # fmt: skip
        assert re.search(rf"^ok   {step}\b", out, re.M), out
    assert "REJECTED UNSUPPORTED_MEDIA_TYPE" in out
    ids = re.findall(r"^ok   upload (?:image|non-image)\s+[\d.]+ s  ([0-9a-f]{32})$", out, re.M)
    assert len(ids) == 2
    for upload_id in ids:
        assert api.get(f"/images/{upload_id}").status_code == 404


def test_smoke_names_the_step_that_failed(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN an API URL that does not serve the API
    argv: list[Any] = _smoke(api)
    argv[argv.index("--api-url") + 1] = f"{api.url}/cdn/not-the-api"
    # WHEN the smoke check runs THEN it fails at its first step, naming it, with nothing created
    code = main(argv)
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL step 'api health' failed" in out
    assert "upload image" not in out
