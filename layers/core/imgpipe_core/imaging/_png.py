"""Pillow's PNG load with the zlib inflate done apart, by ISA-L where it loads.

Inflating is ~75 % of Pillow's PNG decode (12 MP RGBA: 142 of 188 ms CPU), done by the system
zlib on the thread that then unfilters every row. Here the IDAT stream is inflated apart and
Pillow's own decoder, fed the inflated rows as stored (uncompressed) deflate blocks, unfilters
and unpacks them: same decoder, same pixels, same errors. ISA-L's inflate (python-isal) takes
less than half the system zlib's CPU, which pays for the stored pass Pillow's zlib still makes
(a copy and its adler32), so it is used on one core too; with a second core the inflate runs on
a worker thread, overlapping the unfiltering. Without ISA-L, Python's zlib on a worker only
pays where a second core absorbs its extra ~15 % (:func:`cores`).
"""

from __future__ import annotations

import os
import queue
import struct
import threading
import zlib
from collections.abc import Callable, Generator, Iterator
from functools import lru_cache
from typing import Any, BinaryIO, cast

from PIL import ImageFile, PngImagePlugin

from imgpipe_core.imaging._cpu import cores

# Compressed bytes read and inflated per step: large enough to keep Python's overhead out of
# the profile, small enough that Pillow starts unfiltering early.
_STEP = 1 << 18
# Inflated bytes per piece: ISA-L's larger pieces (~130 KB here, about glibc's mmap threshold)
# left 10 MB of fragmented heap behind at 12 MP; 32 KB ones none, for the same CPU.
_OUTPUT = 1 << 15
_QUEUED = 32  # pieces the worker may inflate ahead of Pillow (1 MB)
_STORED_BLOCK = 0xFFFF  # deflate's largest stored block
_ZLIB_HEADER = b"\x78\x01"
_END = object()


@lru_cache(maxsize=1)
def _fast_inflate() -> tuple[Callable[[], Any], type[Exception]] | None:
    """ISA-L's ``decompressobj`` and its error type; None where python-isal cannot load.

    Imported on the first PNG, not with this module: functions that never read one do not
    pay for it at cold start.
    """
    try:
        from isal import isal_zlib
    except ImportError:  # not installed, or no wheel for this platform: the system zlib
        return None
    # Its stubs declare the error class as an instance.
    return isal_zlib.decompressobj, cast(type[Exception], isal_zlib.error)


def usable(image: ImageFile.ImageFile) -> bool:
    """A still PNG from a file, not yet decoded, with a faster inflate or a second core."""
    return (
        isinstance(image, PngImagePlugin.PngImageFile)
        and (_fast_inflate() is not None or cores() > 1)
        and isinstance(image.filename, str | bytes | os.PathLike)
        and bool(image.filename)
        and getattr(image, "n_frames", 1) == 1
        and len(image.tile) == 1
        and image.tile[0][0] == "zip"
    )


def load(image: ImageFile.ImageFile) -> None:
    """``image.load()``, with the inflate done apart when :func:`usable`.

    The IDAT chunks are read through a file handle of their own and Pillow's file position
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
    stop = threading.Event()
    first = image.tile[0].offset - 8  # the first IDAT chunk's length and type precede its data
    chunks = _inflated(image.filename, first, stop)
    # One core: inflate as Pillow asks, no thread to switch to.
    source = _on_worker(chunks, stop) if cores() > 1 else chunks

    def read(_size: int) -> bytes:
        item = next(source, None)
        if item is None:
            return b""  # Pillow reports the image as truncated if rows are still missing
        return item if item is _ZLIB_HEADER else _stored(item)

    image.load_read = read  # type: ignore[method-assign,assignment]
    try:
        image.load()
    finally:
        stop.set()
        source.close()  # stops and joins the worker, closes the file
        del image.load_read


def _inflated(path: Any, first: int, stop: threading.Event) -> Generator[bytes]:
    """The zlib header, then the inflated bytes of the IDAT chunks from offset ``first``."""
    fast = _fast_inflate()
    stream = fast[0]() if fast else zlib.decompressobj()
    errors = (fast[1],) if fast else ()
    yield _ZLIB_HEADER
    with open(path, "rb") as handle:
        handle.seek(first)
        try:
            yield from _idat_data(handle, stream, stop)
        except errors as exc:  # as the system zlib reports it, to be handled as before
            raise zlib.error(str(exc)) from exc


def _on_worker(chunks: Iterator[bytes], stop: threading.Event) -> Generator[bytes]:
    """``chunks`` produced on a worker thread, started on the first request (both inflates
    release the GIL); its errors are re-raised here, on the decoding thread, as Pillow's."""
    # Bounded: ISA-L inflates faster than Pillow unfilters, and would queue the whole image.
    inflated: queue.Queue[object] = queue.Queue(maxsize=_QUEUED)

    def produce() -> None:
        try:
            for chunk in chunks:
                inflated.put(chunk)
        except BaseException as exc:
            inflated.put(exc)
        inflated.put(_END)

    worker = threading.Thread(target=produce, name="png-inflate", daemon=True)
    worker.start()
    item: object = None
    try:
        while (item := inflated.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, bytes)
            yield item
    finally:
        stop.set()
        while item is not _END:  # unblock the worker: it ends every run with _END
            item = inflated.get()
        worker.join()


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
            while not stop.is_set():
                raw = stream.decompress(data, _OUTPUT)
                data = stream.unconsumed_tail
                if raw:  # an empty read would tell Pillow the file ended
                    yield raw
                if not data and len(raw) < _OUTPUT:
                    break  # a full piece may leave output pending with all input taken
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
