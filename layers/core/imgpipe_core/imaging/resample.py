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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from itertools import pairwise

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
_BANDS_PER_CORE = 2  # more bands than cores also keeps the horizontal pass's rows in cache
_LANCZOS_SUPPORT = 3.0  # Pillow's LANCZOS kernel radius, in source pixels per output pixel


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
    8 bits and cost 0.0017 SSIM).
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

    def reduce_chroma() -> list[Image.Image]:
        return [plane.resize(half, kernel, chroma_box) for plane in planes]

    pending = None
    if cores() > 1:
        # The chroma on a second core while the luma resamples here (Pillow frees the GIL).
        pending = _pool().submit(reduce_chroma)
    if chroma is not None:
        luma = resize(image, size, box)
    elif _factors(size, box) == (1, 1):
        luma = resize_plane(image, size, box, band="Y")  # one copy, not getchannel's too
    else:
        luma = resize(image.getchannel(0), size, box)
    reduced = pending.result() if pending else reduce_chroma()
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
) -> Image.Image:
    """LANCZOS of one 8-bit plane of ``image`` (``band``: "L" of an L image, "Y", "Cb" or
    "Cr" of a YCbCr one; no reduce step), vertically first, four columns at a time: the plane
    is read as RGBX, so Pillow's vertical loop does four columns per tap where an L image gets
    one (12 MP luma at 3/8 -> 800x600: 160 -> 111 M instructions with the copy). Columns are
    independent, so these are the vertical pass of the plane itself; the horizontal pass then
    runs on the narrow result, as Pillow's own would. Both round to 8 bits as Pillow's do, only
    in the other order (one level apart where they round apart). The plane is copied once
    (``tobytes``): for a YCbCr decode that replaces ``getchannel``'s copy, for an L image it
    would be one more, so :func:`resize` does not use it.
    """
    left, top, right, bottom = box
    scale_x = (right - left) / size[0]
    # Columns the horizontal pass reads: the box and the kernel's reach, as Pillow rounds it.
    margin_x = math.ceil(_LANCZOS_SUPPORT * max(scale_x, 1.0)) + 1
    x0, x1 = max(0, math.floor(left) - margin_x), min(image.width, math.ceil(right) + margin_x)
    packed_width = -(-(x1 - x0) // 4)
    width = 4 * packed_width
    if (x0, width) != (0, image.width):
        # Whole RGBX pixels: past the image's edge crop() pads; those columns are dropped.
        image = image.crop((x0, 0, x0 + width, image.height))
    data = image.tobytes("raw", band)
    packed = Image.frombuffer("RGBX", (packed_width, image.height), data, "raw")
    del image, data
    scale_y = (bottom - top) / size[1]
    pixels = int((right - left) * (bottom - top))

    def rows(first: int, last: int) -> Image.Image:
        region = (0, top + first * scale_y, packed_width, top + last * scale_y)
        return packed.resize((packed_width, last - first), Image.Resampling.LANCZOS, box=region)

    tall = _in_bands(rows, (packed_width, size[1]), pixels, False)
    columns = Image.frombuffer("L", (width, size[1]), tall.tobytes(), "raw")
    del tall
    shifted = (left - x0, 0, right - x0)

    def across(first: int, last: int) -> Image.Image:
        # Only the band's rows (no vertical work for Pillow) and no padding: where the kernel
        # reaches the image's edge Pillow must see that edge.
        piece = columns
        if (first, last, width) != (0, size[1], x1 - x0):
            piece = columns.crop((0, first, x1 - x0, last))
        return piece.resize(
            (size[0], last - first), Image.Resampling.LANCZOS, (*shifted, last - first)
        )

    return _in_bands(across, size, pixels, False)


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
