"""Pillow's PNG load with the zlib inflate moved to a second thread.

Inflating is ~75 % of Pillow's PNG decode (12 MP RGBA: 142 of 188 ms CPU), and Pillow does it
on the thread that then unfilters every row. Here a worker inflates the IDAT stream with
Python's zlib (which releases the GIL) while Pillow's own decoder, fed the inflated rows as
stored (uncompressed) deflate blocks, unfilters and unpacks them: same decoder, same pixels,
same errors, the two halves overlapping. It costs ~15 % more CPU, so it is used only where a
second core exists to absorb it (:func:`cores`).
"""

from __future__ import annotations

import os
import queue
import struct
import threading
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO

from PIL import ImageFile, PngImagePlugin

# Compressed bytes the worker inflates per step: large enough to keep Python's overhead out of
# the profile, small enough that Pillow starts unfiltering early.
_STEP = 1 << 18
_STORED_BLOCK = 0xFFFF  # deflate's largest stored block
_ZLIB_HEADER = b"\x78\x01"
_END = object()


# Lambda's CPU share per MB of memory: one full vCPU at 1769 MB, two at twice that.
_LAMBDA_MB_PER_VCPU = 1769


def cores() -> int:
    """Cores this process can keep busy at once: Lambda shows two at any memory size, but
    below 3538 MB they share one vCPU's time, and a second thread only adds its overhead."""
    count = os.cpu_count() or 1
    memory = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
    if memory.isdigit():
        count = min(count, max(1, int(memory) // _LAMBDA_MB_PER_VCPU))
    return count


def usable(image: ImageFile.ImageFile) -> bool:
    """A still PNG from a file, not yet decoded, with a second core to inflate on."""
    return (
        isinstance(image, PngImagePlugin.PngImageFile)
        and cores() > 1
        and isinstance(image.filename, str | bytes | os.PathLike)
        and bool(image.filename)
        and getattr(image, "n_frames", 1) == 1
        and len(image.tile) == 1
        and image.tile[0][0] == "zip"
    )


def load(image: ImageFile.ImageFile) -> None:
    """``image.load()``, with the inflate on a worker thread when :func:`usable`.

    The worker reads the IDAT chunks through its own file handle and Pillow's file position
    never moves past the first one: Pillow then finishes as when its decoder has every row
    before the stream ends (the rest of the IDAT chunks skipped, the chunks after them read).
    """
    tile = image.tile
    try:
        _load(image)
    except BaseException:
        # Pillow empties the work list even when decoding fails, so a second load() would
        # return the half-decoded image as if it were whole; put it back to fail again.
        image.tile = tile
        raise


def _load(image: ImageFile.ImageFile) -> None:
    if not usable(image):
        image.load()
        return
    assert isinstance(image, PngImagePlugin.PngImageFile)
    inflated: queue.Queue[object] = queue.Queue()
    stop = threading.Event()
    first = image.tile[0].offset - 8  # the first IDAT chunk's length and type precede its data

    def inflate() -> None:
        try:
            stream = zlib.decompressobj()
            inflated.put(_ZLIB_HEADER)
            with open(image.filename, "rb") as handle:
                handle.seek(first)
                for raw in _idat_data(handle, stream, stop):
                    inflated.put(raw)
        except BaseException as exc:  # re-raised on the decoding thread, where Pillow raises
            inflated.put(exc)
        inflated.put(_END)

    worker = threading.Thread(target=inflate, name="png-inflate", daemon=True)

    def read(_size: int) -> bytes:
        if worker.ident is None:
            worker.start()
        item = inflated.get()
        if item is _END:
            return b""  # Pillow reports the image as truncated if rows are still missing
        if isinstance(item, BaseException):
            raise item
        assert isinstance(item, bytes)
        return item if item is _ZLIB_HEADER else _stored(item)

    image.load_read = read  # type: ignore[method-assign,assignment]
    try:
        image.load()
    finally:
        stop.set()
        if worker.ident is not None:
            worker.join()
        del image.load_read


def _idat_data(handle: BinaryIO, stream: Any, stop: threading.Event) -> Iterator[bytes]:
    """Inflated bytes of consecutive IDAT chunks, until the zlib stream or the chunks end."""
    while not stop.is_set() and not stream.eof:
        header = handle.read(8)
        if len(header) < 8 or header[4:] != b"IDAT":
            return
        (length,) = struct.unpack(">I", header[:4])
        while length and not stop.is_set():
            data = handle.read(min(length, _STEP))
            if not data:
                return
            length -= len(data)
            raw = stream.decompress(data)
            if raw:  # an empty read would tell Pillow the file ended
                yield raw
        handle.read(4)  # CRC: Pillow does not check IDAT's either


def _stored(raw: bytes) -> bytes:
    """``raw`` as non-final stored deflate blocks (Pillow stops when the last row is in)."""
    view = memoryview(raw)
    parts: list[bytes | memoryview] = []
    for start in range(0, len(raw), _STORED_BLOCK):
        block = view[start : start + _STORED_BLOCK]
        parts.append(struct.pack("<BHH", 0, len(block), len(block) ^ 0xFFFF))
        parts.append(block)
    return b"".join(parts)
