"""`imgpipe upload` names a file's type the way the pipeline will: by its bytes."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from imgpipe.commands.upload import content_type_of


def _encoded(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(out, fmt)
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "fmt", "expected"),
    [
        ("photo.jpg", "PNG", "image/png"),  # the bytes win over the extension
        ("photo.png", "JPEG", "image/jpeg"),
        ("anim.bin", "GIF", "image/gif"),
        ("pic.jpg", "WEBP", "image/webp"),
    ],
)
def test_content_type_comes_from_the_bytes(
    tmp_path: Path, name: str, fmt: str, expected: str
) -> None:
    path = tmp_path / name
    path.write_bytes(_encoded(fmt))
    assert content_type_of(path) == expected


def test_a_riff_that_is_not_a_webp_the_pipeline_accepts_falls_back_to_the_name(
    tmp_path: Path,
) -> None:
    # "RIFF....WEBP" with an unknown chunk: the pipeline's sniffing refuses it, so does upload
    path = tmp_path / "odd.txt"
    path.write_bytes(b"RIFF\x10\x00\x00\x00WEBPXXXX" + b"\x00" * 16)
    assert content_type_of(path) == "text/plain"
