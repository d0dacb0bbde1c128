"""HEIF/AVIF containers (ISO BMFF): the brand sniff and the header facts, read without a decoder.

HEIC and AVIF are the same container around different codecs. Its boxes say how large the image
is (``ispe`` properties) and how many frames a sequence has (``stsz`` sample counts), so the
limits are checked here before libheif or libavif allocate anything: a decoder's own limits are
much larger than ours, and a file could otherwise declare any size.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Brands (ftyp major or compatible) per media kind; generic HEIF ("mif1", "msf1") alone is HEIC:
# every phone that writes it writes HEVC, and another codec then fails its decode (rejected).
AVIF_BRANDS = frozenset({b"avif", b"avis"})
HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})
SEQUENCE_BRANDS = frozenset({b"avis", b"msf1", b"hevc", b"hevx", b"heis"})
# The header boxes (ftyp, meta, moov) of a real file sit in its first few hundred KB; a file
# whose header goes on past this is refused rather than walked.
MAX_HEADER_BYTES = 4 * 1024 * 1024
# Containers whose children we read: HEIF item properties and the sample tables of a sequence.
_CONTAINERS = {b"meta", b"iprp", b"ipco", b"moov", b"trak", b"mdia", b"minf", b"stbl"}
_FULL_BOXES = {b"meta"}  # version and flags precede the children


class ContainerError(ValueError):
    """The box structure is truncated or inconsistent."""


@dataclass(frozen=True)
class Header:
    """What the boxes declare: the largest image (``ispe``), sample count, rotation."""

    width: int
    height: int
    frames: int
    brands: frozenset[bytes]


def brands(head: bytes) -> frozenset[bytes]:
    """Major and compatible brands of a leading ``ftyp`` box (as far as ``head`` reaches)."""
    if head[4:8] != b"ftyp" or len(head) < 12:
        return frozenset()
    size = min(int.from_bytes(head[0:4], "big"), len(head))
    found = {head[8:12]}
    found.update(head[offset : offset + 4] for offset in range(16, size - 3, 4))
    return frozenset(found)


def kind(head: bytes) -> str | None:
    """``"avif"``, ``"heic"`` or ``None`` (not ISO BMFF, or brands of another format)."""
    found = brands(head)
    if found & AVIF_BRANDS:
        return "avif"
    if found & HEIC_BRANDS:
        return "heic"
    return None


def read_header(path: Path) -> Header:
    """The declared size and frame count; raises :class:`ContainerError` on a broken header."""
    with path.open("rb") as handle:
        data = handle.read(MAX_HEADER_BYTES)
    found_brands: frozenset[bytes] = frozenset()
    sizes: list[tuple[int, int]] = []
    samples: list[int] = []
    for kind_, payload in _walk(data, 0, len(data), top=True):
        if kind_ == b"ftyp":
            found_brands = brands(struct.pack(">I", len(payload) + 8) + b"ftyp" + payload)
        elif kind_ == b"ispe":
            if len(payload) < 12:
                raise ContainerError("short ispe box")
            sizes.append(struct.unpack(">II", payload[4:12]))
        elif kind_ == b"tkhd":
            sizes.append(_track_size(payload))
        elif kind_ == b"stsz":
            if len(payload) < 12:
                raise ContainerError("short stsz box")
            samples.append(int.from_bytes(payload[8:12], "big"))
    if not sizes:
        raise ContainerError("no image size (ispe) in the header")
    width, height = max(sizes, key=lambda size: size[0] * size[1])
    return Header(width=width, height=height, frames=max([1, *samples]), brands=found_brands)


def _walk(data: bytes, start: int, end: int, *, top: bool = False) -> Iterator[tuple[bytes, bytes]]:
    """(type, payload) of every box, depth first through the containers we read."""
    offset = start
    while offset + 8 <= end:
        size = int.from_bytes(data[offset : offset + 4], "big")
        kind_ = data[offset + 4 : offset + 8]
        header = 8
        if size == 1:
            if offset + 16 > end:
                raise ContainerError("truncated box header")
            size, header = int.from_bytes(data[offset + 8 : offset + 16], "big"), 16
        elif size == 0:
            size = end - offset  # to the end of the file
        if size < header:
            raise ContainerError(f"box {kind_!r} of impossible size {size}")
        if offset + size > end:
            if top and kind_ == b"mdat":
                return  # the image data may run past what was read: the header is complete
            raise ContainerError(f"box {kind_!r} runs past the end of the file")
        body = offset + header
        if kind_ in _CONTAINERS:
            if kind_ in _FULL_BOXES:
                body += 4
            yield from _walk(data, body, offset + size)
        else:
            yield kind_, data[body : offset + size]
        offset += size
    if top and offset < end and end - offset < 8:
        raise ContainerError("trailing bytes after the last box")


def _track_size(payload: bytes) -> tuple[int, int]:
    """A track header's width and height (16.16 fixed point, its last 8 bytes)."""
    if len(payload) < 8:
        raise ContainerError("short tkhd box")
    width, height = struct.unpack(">II", payload[-8:])
    return width >> 16, height >> 16
