"""The web page's ThumbHash decoder draws what the pipeline's own decoder draws."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from imaging_support import fixture

from imgpipe_core.imaging import Limits, inspect_image
from imgpipe_core.imaging.placeholder import decode_thumbhash

APP_JS = Path(__file__).resolve().parents[3] / "web" / "app.js"
# Runs only the decoder out of app.js (the rest needs a DOM).
_RUNNER = """
const fs = require("fs");
const src = fs.readFileSync(process.argv[1], "utf8");
const from = src.indexOf("function thumbHashPixels");
const body = src.slice(from, src.indexOf("function placeholderStyle"));
const decode = new Function(body + "; return thumbHashPixels;")();
const { w, h, rgba } = decode(Uint8Array.from(Buffer.from(process.argv[2], "base64")));
console.log(JSON.stringify({ w, h, px: Array.from(rgba) }));
"""


@pytest.mark.parametrize("name", ["400x300.jpg", "alpha-half-transparent.png", "cmyk-patches.jpg"])
def test_web_page_decodes_thumbhash_like_the_pipeline(name: str) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    placeholder = inspect_image(fixture(name), Limits()).placeholder
    assert placeholder is not None

    result = subprocess.run(
        [node, "-e", _RUNNER, str(APP_JS), placeholder.thumbhash],
        capture_output=True,
        check=True,
        text=True,
        timeout=30,
    )

    drawn = json.loads(result.stdout)
    expected = decode_thumbhash(base64.b64decode(placeholder.thumbhash))
    assert (drawn["w"], drawn["h"]) == expected.size
    assert max(abs(a - b) for a, b in zip(drawn["px"], expected.tobytes(), strict=True)) <= 1
