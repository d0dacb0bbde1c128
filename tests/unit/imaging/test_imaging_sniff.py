from __future__ import annotations

import pytest

from imgpipe_core.imaging import MediaType, sniff
from imgpipe_core.imaging.media import header_size


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", MediaType.JPEG),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", MediaType.PNG),
        (b"GIF89a\x01\x00\x01\x00", MediaType.GIF),
        (b"GIF87a\x01\x00\x01\x00", MediaType.GIF),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", MediaType.WEBP),
        (b"RIFF\x00\x00\x00\x00WEBPVP8L", MediaType.WEBP),
        (b"RIFF\x00\x00\x00\x00WEBPVP8X", MediaType.WEBP),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),
        (b'<svg xmlns="http://www.w3.org/2000/svg">', None),
        (b"<?xml version='1.0'?><svg", None),
        (b"<!doctype html>", None),
        (b"%PDF-1.7", None),
        (b"II*\x00", None),  # TIFF
        (b"MM\x00*", None),
        (b"8BPS", None),  # PSD
        (b"%!PS-Adobe-3.0 EPSF", None),
        (b"BM", None),
        (b"\x00\x00\x00\x1cftypavif", MediaType.AVIF),
        (b"\x00\x00\x00\x18ftypheic", MediaType.HEIC),
        (b"\x00\x00\x00\x18ftypisom", None),  # MP4 video (more brands in test_imaging_heif)
        (b"", None),
    ],
)
def test_sniff_uses_magic_bytes_only(head: bytes, expected: MediaType | None) -> None:
    assert sniff(head) is expected


def test_media_type_metadata() -> None:
    assert MediaType.JPEG.content_type == "image/jpeg"
    assert MediaType.JPEG.extension == "jpg"
    assert MediaType.WEBP.extension == "webp"
    assert (MediaType.HEIC.content_type, MediaType.HEIC.pillow_format) == ("image/heic", "HEIF")
    assert (MediaType.AVIF.content_type, MediaType.AVIF.extension) == ("image/avif", "avif")


def test_header_size_reads_png_and_gif_headers() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x00\x80"
    assert header_size(png, MediaType.PNG) == (256, 128)
    assert header_size(b"GIF89a\x20\x00\x10\x00", MediaType.GIF) == (32, 16)
    assert header_size(b"\xff\xd8\xff", MediaType.JPEG) is None
