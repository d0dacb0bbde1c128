"""`imgpipe local up` with the project's template prints the API URL and serves page and API."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import requests

from imgpipe.commands.upload import _SigV4
from tests.api.conftest import image_bytes
from tests.helpers import BIN, ROOT, local_up

pytestmark = [pytest.mark.engine, pytest.mark.xdist_group("api-local-up")]


def test_local_up_serves_the_api_the_page_and_the_cdn(tmp_path: Path) -> None:
    env = {**os.environ, "IMGPIPE_STATE_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    with local_up("--stack-name", "apiup", env=env) as up:
        api = up.value("api:")
        assert api.startswith("http://127.0.0.1:")
        # The printed outputs carry the local API URL and published URLs under its /cdn
        assert up.value("ApiUrl") == api
        assert f"{api}/cdn" in next(x for x in up.lines if "PublicBaseUrl" in x)
        # The template's default ApiAuth=IAM is enforced: unsigned calls are refused, signed pass
        assert requests.get(f"{api}/health", timeout=10).status_code == 403
        signed = _SigV4(api)
        assert requests.get(f"{api}/health", auth=signed, timeout=10).json() == {"status": "ok"}
        page = requests.get(f"{api}/", timeout=10)
        assert page.status_code == 200 and "<title>imgpipe</title>" in page.text
        config = requests.get(f"{api}/config.json", timeout=10).json()
        assert config == {"apiUrl": api, "auth": "IAM", "region": "us-east-1"}
        # AND `imgpipe upload` finds the API by itself (discovery), waits, and succeeds
        image = tmp_path / "up.png"
        image.write_bytes(image_bytes(300, 200))
        upload = subprocess.run(
            [str(BIN / "imgpipe"), "upload", str(image), "--sign", "--wait", "--timeout", "60"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=90,
        )  # fmt: skip
        assert upload.returncode == 0, upload.stdout + upload.stderr
        row = upload.stdout.splitlines()[-1]
        assert "SUCCEEDED" in row
        record = requests.get(f"{api}/images/{row.split()[1]}", auth=signed, timeout=10).json()
        served = requests.get(record["variants"][0]["url"], timeout=10)
        assert record["variants"][0]["url"].startswith(f"{api}/cdn/")
        assert served.status_code == 200 and len(served.content) == record["variants"][0]["bytes"]
        # AND `imgpipe smoke` finds the stack, signs its calls (IAM) and passes every step
        smoke = subprocess.run(
            [str(BIN / "imgpipe"), "smoke", "--timeout", "90"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert smoke.returncode == 0, smoke.stdout + smoke.stderr
        assert "(auth IAM)" in smoke.stdout and "smoke: ok (7 steps)" in smoke.stdout
