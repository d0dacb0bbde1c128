"""Input media types, recognised from magic bytes only (never from names or Content-Type)."""

from __future__ import annotations

import struct
from enum import StrEnum

from imgpipe_core.imaging import isobmff

# Enough for every signature and header field read below, and an ftyp box's brands.
SNIFF_BYTES = 64


class MediaType(StrEnum):
    """The input formats the pipeline accepts; everything else is refused."""

    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"
    GIF = "gif"
    HEIC = "heic"  # HEIF with HEVC, decoded by pillow-heif (libheif)
    AVIF = "avif"  # HEIF with AV1, decoded by Pillow's own plugin (libavif)

    @property
    def content_type(self) -> str:
        return f"image/{self.value}"

    @property
    def extension(self) -> str:
        return "jpg" if self is MediaType.JPEG else self.value

    @property
    def pillow_format(self) -> str:
        return "HEIF" if self is MediaType.HEIC else self.value.upper()

    @property
    def is_isobmff(self) -> bool:
        """HEIF containers: sizes and frames come from :mod:`isobmff`, not :func:`header_size`."""
        return self in (MediaType.HEIC, MediaType.AVIF)


def sniff(head: bytes) -> MediaType | None:
    """The media type the leading bytes announce, or ``None`` if it is not one we accept."""
    if head.startswith(b"\xff\xd8\xff"):
        return MediaType.JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return MediaType.PNG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return MediaType.GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP" and head[12:16] in (b"VP8 ", b"VP8L", b"VP8X"):
        return MediaType.WEBP
    if head[4:8] == b"ftyp":
        found = isobmff.kind(head)
        return MediaType(found) if found else None
    return None


def header_size(head: bytes, media_type: MediaType) -> tuple[int, int] | None:
    """Canvas size read straight from the header, before any decoder sees the file.

    Checked ahead of Pillow because its WebP decoder allocates the whole canvas on open.
    JPEG's size sits after an unbounded run of segments, so it is left to Pillow's
    (allocation-free) header parser. ``None`` means "not readable here".
    """
    try:
        if media_type is MediaType.PNG and head[12:16] == b"IHDR":
            width, height = struct.unpack(">II", head[16:24])
            return width, height
        if media_type is MediaType.GIF:
            width, height = struct.unpack("<HH", head[6:10])
            return width, height
        if media_type is MediaType.WEBP:
            return _webp_size(head)
    except struct.error:
        return None
    return None


def _webp_size(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        return width, height
    if chunk == b"VP8L" and head[20:21] == b"\x2f":
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None
