"""What the image engine loads: only what a render of the upload's format needs.

A render's peak RSS starts from what its imports left (the bench compares it with libvips'),
so libraries for other formats or features load when first used: botocore for the AWS retry
rules (~10 MB), libheif (~4 MB) and libavif (~2 MB) for HEIF uploads, FreeType for text marks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from imaging_support import fixture

ROOT = Path(__file__).resolve().parents[3]
_LAZY = ("botocore", "pi_heif", "PIL.AvifImagePlugin", "PIL.ImageFont")
# Renders one variant in a fresh interpreter and says which of _LAZY it loaded.
_PROBE = """
import json, sys
from pathlib import Path
from imgpipe_core.catalogue import Variant
from imgpipe_core.imaging import Limits, inspect_image, render_variant
source = Path(sys.argv[1])
variant = Variant.model_validate_json(sys.argv[2])
render_variant(source, variant, media_type=inspect_image(source, Limits()).media_type)
print(json.dumps([name for name in sys.argv[3:] if name in sys.modules]))
"""


def _loaded_by_render(source: Path, **variant: object) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(source), json.dumps({"name": "t", **variant}), *_LAZY],
        env={**os.environ, "PYTHONPATH": str(ROOT / "layers" / "core")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout)
    return loaded


def test_a_jpeg_render_loads_no_aws_heif_or_font_library() -> None:
    # GIVEN a JPEG upload WHEN one variant is validated and rendered in a fresh interpreter
    loaded = _loaded_by_render(fixture("gps-copyright-orientation6.jpg"), width=64, height=64)

    # THEN none of the libraries it does not use were loaded
    assert loaded == []


@pytest.mark.parametrize(
    ("name", "needs"),
    [
        ("orientation6-quadrants.heic", "pi_heif"),
        ("orientation6-quadrants.avif", "PIL.AvifImagePlugin"),
    ],
)
def test_a_heif_upload_loads_its_decoder_on_first_use(name: str, needs: str) -> None:
    # WHEN a HEIF-family upload is rendered THEN its plugin was loaded for it (and it decoded)
    assert _loaded_by_render(fixture(name), width=64, height=64) == [needs]


def test_a_text_watermark_loads_freetype_on_first_use() -> None:
    mark = {"text": "imgpipe", "min_size": 1}

    loaded = _loaded_by_render(
        fixture("gps-copyright-orientation6.jpg"), width=64, height=64, watermark=mark
    )

    assert loaded == ["PIL.ImageFont"]
