"""The product's template on the engine, with its HTTP API served by the local API server."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
STACK = "apitest"
# Small, so "over the limit" needs few bytes; the test images are far below it.
MAX_UPLOAD_BYTES = 200_000


@dataclass
class Api:
    url: str
    engine: Any
    outputs: dict[str, str]

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.url + path, timeout=30, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.post(self.url + path, timeout=30, **kwargs)

    def delete(self, path: str) -> requests.Response:
        return requests.delete(self.url + path, timeout=30)

    def upload(self, data: bytes, content_type: str, filename: str = "photo") -> str:
        """The client flow: ask for a presigned POST, then POST the file to S3 directly."""
        presign = self.post(
            "/uploads", json={"filename": filename, "contentType": content_type, "size": len(data)}
        )
        assert presign.status_code == 201, presign.text
        body = presign.json()
        sent = requests.post(
            body["upload"]["url"],
            data=body["upload"]["fields"],
            files={"file": (filename, data, content_type)},
            timeout=30,
        )
        assert sent.status_code == 204, sent.text
        return str(body["uploadId"])

    def wait(self, ident: str, *, attempt: int = 1, timeout: float = 60) -> dict[str, Any]:
        """The image once the given attempt has an outcome."""
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            response = self.get(f"/images/{ident}")
            if response.status_code == 200:
                last = response.json()
                done = last["status"] not in ("PENDING", "PROCESSING")
                if done and last.get("attempt", 0) >= attempt:
                    return last
            time.sleep(0.2)
        raise AssertionError(f"{ident} not done within {timeout}s: {last}")


def image_bytes(width: int, height: int, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def api(engine: Any) -> Iterator[Api]:
    from imgpipe.local import api_server

    url = api_server.bind()
    result = engine.deploy(
        ROOT / "template.yaml",
        STACK,
        # Open API: these tests are about the function; the authorizers have tests of their own
        # (tests/engine/test_api_gateway.py) and `local up` runs the template's default (IAM).
        {
            "PublicBaseUrl": f"{url}/cdn",
            "ApiBaseUrl": url,
            "MaxUploadBytes": str(MAX_UPLOAD_BYTES),
            "ApiAuth": "NONE",
        },
    )
    served = api_server.start(engine, STACK, result.outputs)
    assert served["ApiUrl"] == url
    yield Api(url, engine, result.outputs)
    api_server.stop_all()
