"""LANCZOS downscaling the way libvips' thumbnail does it, in bands of rows across cores.

Pillow's own ``resize(..., reducing_gap=...)`` does the same arithmetic, but on one core and, for
an image with alpha, on a premultiplied copy of the whole source (48 MB more at 12 MP), made
once for the integer reduce and again for LANCZOS. Here every band of output rows premultiplies
only the source rows it reads, so the copy never exists whole, and bands run in threads: Pillow
releases the GIL while converting and resampling.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache, partial
from itertools import pairwise
from typing import cast

from PIL import Image

from imgpipe_core.imaging._cpu import cores
from imgpipe_core.imaging.colour import flatten

Box = tuple[float, float, float, float]
# Turns a cropped piece of the source into what is resampled; None resamples the source as is.
_Prepare = Callable[[Image.Image], Image.Image] | None

# Box-reduce by an integer factor while more than this much shrink remains, then LANCZOS for
# the rest: what libvips' thumbnail does (its "gap"), at a fraction of a full LANCZOS's cost.
REDUCING_GAP = 2.0
# ... except that a shrink the gap leaves whole (2-4x) is halved first when LANCZOS still gets
# this much: the headroom a JPEG keeps after its 1/2 draft (render.DRAFT_HEADROOM), where a
# 2x2 box does what libjpeg's 1/2 scaling does. 12 MP RGBA -> 1440x1080 (2.8x): 380 -> 255 ms
# CPU, SSIM against a full-size LANCZOS 0.9858 -> 0.9853 (libvips, LANCZOS all 2.8x: 0.9855).
# Only from HALVE_FROM_PIXELS source pixels: on the 0.5 MP bench GIF (dithered) halving cost
# 0.002 SSIM for 2 ms.
HALVE_FROM = 2 * 1.3
HALVE_FROM_PIXELS = 4_000_000
# Below this many source pixels one call on one core is cheaper than bands.
PARALLEL_FROM_PIXELS = 2_000_000
# Source pixels in one band when bands copy the source (to premultiply or flatten it): bounds
# the temporary copies.
BAND_PIXELS = 250_000
# Source pixels in one strip of a plane read for resize_plane: bounds its copies (4 strips
# for a 12 MP JPEG's luma at 3/8, ~2 % more rows read where strips overlap).
STRIP_PIXELS = 500_000
_BANDS_PER_CORE = 2  # more bands than cores also keeps the horizontal pass's rows in cache
_LANCZOS_SUPPORT = 3.0  # Pillow's LANCZOS kernel radius, in source pixels per output pixel
_SUPPORT = {Image.Resampling.LANCZOS: _LANCZOS_SUPPORT, Image.Resampling.BOX: 0.5}


def resize(
    image: Image.Image,
    size: tuple[int, int],
    box: Box,
    *,
    onto: tuple[int, int, int, int] | None = None,
) -> Image.Image:
    """LANCZOS from ``box`` of ``image`` to ``size``, alpha premultiplied while resampling.

    The pixels are those of Pillow's ``image.resize(size, LANCZOS, box=box, reducing_gap=...)``
    with the gap that makes it box-reduce by :func:`reduce_factor`, to within its 8-bit
    rounding between passes at hard edges.
    With ``onto``, an image with alpha comes out flattened onto that background (for outputs
    without alpha).
    """
    alpha = image.mode in ("LA", "RGBA")
    factor = _factors(size, box)
    if alpha and onto is not None and factor == (1, 1):
        # With no reduce step flattening first is cheaper: 3 channels through LANCZOS, nothing
        # to unpremultiply. Both are linear, so the order only shows where LANCZOS rings at a
        # hard alpha edge, and there flattening first is the exact result (nothing clamped).
        return _lanczos(image, size, box, lambda piece: flatten(piece, onto))
    prepare = _premultiply if alpha else None
    if factor != (1, 1):
        image, box = _reduce(image, size, box, factor, prepare)
        prepare = None
    result = _lanczos(image, size, box, prepare)
    if not alpha:
        return result
    result = result.convert(result.mode[:-1] + "A")
    return flatten(result, onto) if onto is not None else result


def resize_ycbcr(
    image: Image.Image,
    size: tuple[int, int],
    box: Box,
    *,
    chroma: tuple[Image.Image, Image.Image] | None = None,
) -> Image.Image:
    """A YCbCr JPEG decode resized for a 4:2:0 JPEG: luma as :func:`resize` does, chroma by a
    box average straight to half the output size, the resolution the encoder keeps of it.
    With ``chroma`` (Cb and Cr at half ``image``'s resolution, as a WebP stores them),
    ``image`` is the luma alone.

    The chroma comes back constant over 2x2 blocks aligned with the origin, so the encoder's
    own 2x2 average gives back those samples. Three channels at 1.9x through LANCZOS cost ~17
    ms for 12 MP -> 800x600 (the largest part of that render), one channel and a box ~12; the
    caller encodes the YCbCr as it is (no RGB between: Pillow's conversions each way round to
    8 bits and cost 0.0017 SSIM). Where no reduce step comes first (a JPEG's DCT scaling left
    at most 2x), each plane goes through :func:`resize_plane`: Cb and Cr apart rather than the
    three-channel image (whose luma slot was resampled for nothing), 12 MP -> 800x600 chroma
    71 -> ~40 M instructions.
    """
    width, height = size
    half = (-(-width // 2), -(-height // 2))
    left, top, right, bottom = box
    # One chroma sample per 2x2 block; an odd side's last block is half outside the image.
    reach_x = min(image.width, left + (right - left) * 2 * half[0] / width)
    reach_y = min(image.height, top + (bottom - top) * 2 * half[1] / height)
    chroma_box = (left, top, reach_x, reach_y)
    if chroma is None:
        planes, kernel = [image], Image.Resampling.BOX
    else:
        # Pillow samples a kernel at source pixel centres: a box over half-resolution planes
        # weighs whole samples only (saturated edges of odd-sized outputs -0.2 dB luma after
        # the JPEG decode clips), where the box over full-size chroma weighed halves.
        planes, kernel = list(chroma), Image.Resampling.BICUBIC
        chroma_box = (left / 2, top / 2, reach_x / 2, reach_y / 2)

    direct = chroma is None and _factors(size, box) == (1, 1)

    def reduce_chroma() -> list[Image.Image]:
        if direct:  # each plane apart (its one copy), four columns then four rows at a time
            return [
                resize_plane(
                    image, half, chroma_box, band=name, kernel=kernel, doubled=True, threads=False
                )
                for name in ("Cb", "Cr")
            ]
        return [plane.resize(half, kernel, chroma_box) for plane in planes]

    pending = None
    if cores() > 1:
        # The chroma on a second core while the luma resamples here (Pillow frees the GIL).
        pending = _pool().submit(reduce_chroma)
    if chroma is not None:
        luma = resize(image, size, box)
    elif direct:
        luma = resize_plane(image, size, box, band="Y")  # one copy, not getchannel's too
    else:
        luma = resize(image.getchannel(0), size, box)
    reduced = pending.result() if pending else reduce_chroma()
    if direct:
        cb, cr = (
            plane if plane.size == size else plane.crop((0, 0, width, height)) for plane in reduced
        )
        return Image.merge("YCbCr", (luma, cb, cr))
    bands = reduced[0].split()[1:] if chroma is None else reduced
    blocks = (2 * half[0], 2 * half[1])
    cb, cr = (
        band.resize(blocks, Image.Resampling.NEAREST).crop((0, 0, width, height)) for band in bands
    )
    return Image.merge("YCbCr", (luma, cb, cr))


def _factors(size: tuple[int, int], box: Box) -> tuple[int, int]:
    """The box-reduce before LANCZOS on each axis (:func:`reduce_factor`)."""
    halve = (box[2] - box[0]) * (box[3] - box[1]) >= HALVE_FROM_PIXELS
    return (
        reduce_factor((box[2] - box[0]) / size[0], halve=halve),
        reduce_factor((box[3] - box[1]) / size[1], halve=halve),
    )


def reduce_factor(shrink: float, *, halve: bool) -> int:
    """The integer box-reduce before LANCZOS for one axis shrunk ``shrink`` times; ``halve``
    for a source large enough that a 2-4x shrink is halved first (:data:`HALVE_FROM`)."""
    factor = int(shrink / REDUCING_GAP)
    return 2 if halve and factor < 2 and shrink >= HALVE_FROM else max(1, factor)


def _premultiply(piece: Image.Image) -> Image.Image:
    return piece.convert(piece.mode[:-1] + "a")


def _reduce(
    image: Image.Image, size: tuple[int, int], box: Box, factor: tuple[int, int], prepare: _Prepare
) -> tuple[Image.Image, Box]:
    """Box-average ``factor`` blocks of ``box`` plus the LANCZOS support around it."""
    left, top, right, bottom = box
    # The region Pillow reduces (its _get_safe_box): the box and the kernel's reach around it.
    support_x = (_LANCZOS_SUPPORT - 0.5) * (right - left) / size[0]
    support_y = (_LANCZOS_SUPPORT - 0.5) * (bottom - top) / size[1]
    x0, y0 = max(0, int(left - support_x)), max(0, int(top - support_y))
    x1 = min(image.width, math.ceil(right + support_x))
    y1 = min(image.height, math.ceil(bottom + support_y))
    fx, fy = factor

    def band(first: int, last: int) -> Image.Image:
        # Whole blocks from the region's origin, so they line up with the whole region's.
        region = (x0, y0 + first * fy, x1, min(y1, y0 + last * fy))
        if prepare is None:
            return image.reduce(factor, box=region)
        return prepare(image.crop(region)).reduce(factor)

    reduced_size = (-(-(x1 - x0) // fx), -(-(y1 - y0) // fy))
    reduced = _in_bands(band, reduced_size, (x1 - x0) * (y1 - y0), prepare is not None)
    return reduced, ((left - x0) / fx, (top - y0) / fy, (right - x0) / fx, (bottom - y0) / fy)


def _lanczos(image: Image.Image, size: tuple[int, int], box: Box, prepare: _Prepare) -> Image.Image:
    if prepare is not None:
        return _lanczos_prepared(image, size, box, prepare)
    left, top, right, bottom = box

    def band(first: int, last: int) -> Image.Image:
        scale_y = (bottom - top) / size[1]
        region = (left, top + first * scale_y, right, top + last * scale_y)
        return image.resize((size[0], last - first), Image.Resampling.LANCZOS, box=region)

    return _in_bands(band, size, int((right - left) * (bottom - top)), False)


def _lanczos_prepared(
    image: Image.Image,
    size: tuple[int, int],
    box: Box,
    prepare: Callable[[Image.Image], Image.Image],
) -> Image.Image:
    """Pillow's two passes run apart: the horizontal one over bands of source rows (each
    prepared once: bands of output rows would prepare and resample the kernel's overlap
    twice, a third more work at 2-3x), then the vertical one over the narrow intermediate.
    Pillow keeps its intermediate in 8 bits too, so the pixels are its own."""
    left, top, right, bottom = box
    scale_x, scale_y = (right - left) / size[0], (bottom - top) / size[1]
    # Columns and rows the kernel reaches beyond the box, as Pillow rounds them.
    margin_x = math.ceil(_LANCZOS_SUPPORT * max(scale_x, 1.0)) + 1
    margin_y = math.ceil(_LANCZOS_SUPPORT * max(scale_y, 1.0)) + 1
    x0, x1 = max(0, math.floor(left) - margin_x), min(image.width, math.ceil(right) + margin_x)
    y0, y1 = max(0, math.floor(top) - margin_y), min(image.height, math.ceil(bottom) + margin_y)

    def rows(first: int, last: int) -> Image.Image:
        source = prepare(image.crop((x0, y0 + first, x1, y0 + last)))
        shifted = (left - x0, 0, right - x0, last - first)
        return source.resize((size[0], last - first), Image.Resampling.LANCZOS, box=shifted)

    source_pixels = (x1 - x0) * (y1 - y0)
    across = _in_bands(rows, (size[0], y1 - y0), source_pixels, True)
    return _lanczos(across, size, (0, top - y0, size[0], bottom - y0), None)


def resize_plane(
    image: Image.Image,
    size: tuple[int, int],
    box: Box,
    *,
    band: str = "L",
    kernel: Image.Resampling = Image.Resampling.LANCZOS,
    doubled: bool = False,
    threads: bool = True,
) -> Image.Image:
    """``kernel`` (no reduce step) over one 8-bit plane of ``image`` (``band``: "L" of an L
    image, "Y", "Cb" or "Cr" of a YCbCr one), four columns, then four rows, at a time.

    Pillow's loops do one channel per kernel tap for an L image (~9 instructions) and four
    for RGBX (~22-26), so the plane is read as RGBX a quarter as wide for the vertical pass,
    and its result with four rows in each pixel (:func:`_across_rows`) for the horizontal one.
    Columns and rows are independent in those passes, so these are Pillow's own two passes of
    the plane (vertical first; both round to 8 bits as Pillow's do, only in the other order:
    one level apart where they round apart). 12 MP luma at 3/8 -> 800x600: 160 -> 115 M
    instructions with the copies. The plane is read in strips of rows (each with the rows
    its kernel reaches), so no copy of it is ever whole: for a YCbCr decode that replaces
    ``getchannel``'s copy, for an L image it is one more, so :func:`resize` does not use it.
    ``doubled`` repeats every output sample over 2x2 (for a 4:2:0 encoder,
    :func:`resize_ycbcr`); ``threads=False`` keeps it to this thread. Strips (and bands) give
    Pillow's pixels exactly at a scale exact in binary, as a JPEG's DCT scales make it; at
    others a box edge falling exactly on a pixel centre may be resolved the other way.
    """
    left, top, right, bottom = box
    support = _SUPPORT[kernel]
    scale_x, scale_y = (right - left) / size[0], (bottom - top) / size[1]
    # Columns the horizontal pass reads: the box and the kernel's reach, as Pillow rounds it.
    margin_x = math.ceil(support * max(scale_x, 1.0)) + 1
    x0, x1 = max(0, math.floor(left) - margin_x), min(image.width, math.ceil(right) + margin_x)
    # Only the real columns: where the kernel reaches the edge Pillow must see it. Whole RGBX
    # pixels for all but the last 1-3, which go through Pillow's L pass (no padded copy of the
    # image: at 24 MP that was 13.5 MB per plane).
    columns = x1 - x0
    packed_width, leftover = divmod(columns, 4)
    span = (left - x0, right - x0)
    reach_y = math.ceil(support * max(scale_y, 1.0)) + 1

    def strip(first: int, last: int) -> Image.Image:
        """Output rows first..last (first a multiple of 4): vertical pass, then grouped."""
        y0 = max(0, math.floor(top + first * scale_y) - reach_y)
        y1 = min(image.height, math.ceil(top + last * scale_y) + reach_y)
        rows = (top + first * scale_y - y0, top + last * scale_y - y0)
        plane = b""
        if packed_width:
            data = _plane_bytes(image, band, 1, (x0, y0, x0 + 4 * packed_width, y1))
            packed = Image.frombuffer("RGBX", (packed_width, y1 - y0), data, "raw")
            tall = packed.resize(
                (packed_width, last - first), kernel, (0, rows[0], packed_width, rows[1])
            )
            del packed, data
            plane = _plane_bytes(tall, "RGBX", 4, (0, 0, *tall.size))
            del tall
        if leftover:
            edge = image.crop((x1 - leftover, y0, x1, y1)).getchannel(band)
            edge = edge.resize((leftover, last - first), kernel, (0, rows[0], leftover, rows[1]))
            whole = Image.new("L", (columns, last - first))
            if plane:
                whole.paste(_as_plane(plane, 4 * packed_width), (0, 0))
            whole.paste(edge, (4 * packed_width, 0))
            plane = _plane_bytes(whole, "L", 1, (0, 0, *whole.size))
        return _four_rows(plane, columns, columns)

    pixels = int((right - left) * (bottom - top)) if threads else 0
    count = math.ceil(columns * image.height / STRIP_PIXELS)
    # Strips of whole four-row groups (the last may end in a partial one).
    groups = -(-size[1] // 4)
    edges = {4 * (groups * index // count) for index in range(count)}
    spans = list(pairwise(sorted(edges - {size[1]} | {size[1]})))
    # Strips in turn on this thread: run on the pool, their buffers were allocated in the
    # workers' malloc arenas and freed here, and peak RSS grew (24 MP -> 1620x1080: +27 MB).
    pieces = (strip(*span) for span in spans)
    data = _across_rows(
        zip(spans, pieces, strict=True), (columns, groups), size, span, kernel, pixels, doubled
    )
    return _as_plane(data, size[0] * (2 if doubled else 1))


def _as_plane(data: bytes, width: int) -> Image.Image:
    return Image.frombuffer("L", (width, len(data) // width), data, "raw", "L", 0, 1)


def _four_rows(plane: bytes, columns: int, stride: int) -> Image.Image:
    """An L ``plane`` (rows of ``stride`` bytes, ``columns`` of them real) as RGBX, rows k,
    k+4, k+8 ... in channel k: each is read in place as one band (a strided view of the
    plane, with zero rows after it so the views starting 1-3 rows down fit)."""
    rows = len(plane) // stride
    groups = -(-rows // 4)
    padded = plane + bytes(stride * (4 * groups - rows + 3))
    del plane
    # Pillow maps any buffer (its stub says bytes): each view starts k rows down, no copy.
    view = cast(bytes, memoryview(padded))
    phases = [
        Image.frombuffer("L", (columns, groups), view[k * stride :], "raw", "L", 4 * stride, 1)
        for k in range(4)
    ]
    return Image.merge("RGBX", phases)


def _across_rows(
    pieces: Iterable[tuple[tuple[int, int], Image.Image]],
    grouped_size: tuple[int, int],
    size: tuple[int, int],
    span: tuple[float, float],
    kernel: Image.Resampling,
    source_pixels: int,
    doubled: bool,
) -> bytes:
    """The horizontal pass of a plane grouped four rows to a pixel (:func:`_four_rows`, the
    strips of output rows in ``pieces``) to ``size``, over columns ``span``: each Pillow tap
    works on four rows. The result is split and its rows put back in order (Python slices,
    ~1 M instructions for 600 rows; a transpose each way cost 14 M). 800x600 from 1500
    columns: 54 -> 38 M instructions, the same pixels.
    """
    width, height = size
    grouped = Image.new("RGBX", grouped_size)
    for (first, _last), piece in pieces:
        grouped.paste(piece, (0, first // 4))
        del piece
    across = partial(_rows_across, grouped, width, span, kernel)
    del grouped  # with the partial: freed before the split below
    result = _in_bands(across, (width, grouped_size[1]), source_pixels, False)
    del across
    repeat = 2 if doubled else 1
    bands = list(result.split())
    del result
    parts = []
    while bands:  # each band's image freed as its bytes are made
        parts.append(_row_bytes(bands.pop(0), doubled))
    line = width * repeat
    return b"".join(
        parts[row % 4][(row // 4) * line : (row // 4 + 1) * line]
        for row in range(height)
        for _ in range(repeat)
    )


def _rows_across(
    grouped: Image.Image,
    width: int,
    span: tuple[float, float],
    kernel: Image.Resampling,
    first: int,
    last: int,
) -> Image.Image:
    return grouped.resize((width, last - first), kernel, (span[0], first, span[1], last))


def _row_bytes(plane: Image.Image, doubled: bool) -> memoryview:
    """An L image's bytes, each sample twice with ``doubled`` (an LA pixel whose alpha is a
    copy of its L)."""
    if doubled:
        plane = Image.merge("LA", (plane, plane))
        return memoryview(_plane_bytes(plane, "LA", 2, (0, 0, *plane.size)))
    return memoryview(_plane_bytes(plane, "L", 1, (0, 0, *plane.size)))


def _plane_bytes(
    image: Image.Image, rawmode: str, depth: int, region: tuple[int, int, int, int]
) -> bytes:
    """``image.crop(region).tobytes("raw", rawmode)`` (``depth`` bytes per pixel) in one
    buffer, and without the crop's copy.

    ``tobytes`` joins 64 KB pieces, so for a moment holds the bytes twice: 1.7 MB more per
    12 MP plane at 3/8, and with the luma and the chroma extracted at once on two threads,
    2 MB more peak RSS for 12 MP -> 800x600. Pillow's raw encoder, which ``tobytes`` runs, is
    given the whole size instead; a single piece is joined as itself.
    """
    image.load()
    encoder = Image._getencoder(image.mode, "raw", rawmode)
    pieces = []
    try:
        encoder.setimage(image.im, region)
        status = 0
        size = (region[2] - region[0]) * (region[3] - region[1]) * depth
        while not status:
            _, status, piece = encoder.encode(max(1, size))
            pieces.append(piece)
    finally:
        encoder.cleanup()
    if status < 0:
        raise RuntimeError(f"encoder error {status} reading a {image.mode} plane")
    return b"".join(pieces)


def _in_bands(
    render: Callable[[int, int], Image.Image],
    size: tuple[int, int],
    source_pixels: int,
    copies_source: bool,
) -> Image.Image:
    """Run ``render(first_row, last_row)`` over bands of ``size``'s rows and stack the results."""
    usable = cores()
    parallel = usable > 1 and source_pixels >= PARALLEL_FROM_PIXELS
    bands = usable * _BANDS_PER_CORE if parallel else 1
    if copies_source:
        bands = max(bands, math.ceil(source_pixels / BAND_PIXELS))
    bands = max(1, min(bands, size[1]))
    if bands == 1:
        return render(0, size[1])
    spans = list(pairwise(size[1] * index // bands for index in range(bands + 1)))
    parts = (
        _pool().map(lambda span: render(*span), spans)
        if parallel
        else (render(*span) for span in spans)
    )
    result: Image.Image | None = None
    for (first, _last), part in zip(spans, parts, strict=True):
        if result is None:
            result = Image.new(part.mode, size)
        result.paste(part, (0, first))
    assert result is not None
    return result


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="resize")
