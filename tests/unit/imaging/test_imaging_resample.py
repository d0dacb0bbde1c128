"""Banded resizing: the pixels of Pillow's own reducing-gap resize, without its copies."""

from __future__ import annotations

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageStat

from imgpipe_core.imaging import resample
from imgpipe_core.imaging.colour import flatten

_SOURCE_SIZE = (401, 299)  # odd, so reduce blocks and bands end mid-way
# Pillow rounds each pass to 8 bits and its results on a cropped band can differ from the
# whole image's at a hard edge by a few levels (seen: up to 6); a band off by one row or column
# moves every edge and gradient and fails the mean by far.
_MAX_LEVELS, _MAX_MEAN = 8, 0.05


def _source(mode: str) -> Image.Image:
    """Gradients, hard-edged shapes and hard transparent edges: a band off by one row shows."""
    size = _SOURCE_SIZE
    gradient = Image.linear_gradient("L").resize(size)
    image = Image.merge(
        "RGB", (gradient, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT), gradient.rotate(7))
    )
    draw = ImageDraw.Draw(image)
    for index in range(12):
        left, top = 31 * index, 23 * index
        draw.rectangle((left, top, left + 17, top + 40), fill=(255 - 20 * index, 20 * index, 128))
    # Fully transparent pixels with bright colour: any missing premultiplication shows as a halo.
    alpha = Image.radial_gradient("L").resize(size).point(lambda value: 0 if value > 200 else 255)
    image.putalpha(alpha)
    return image.convert(mode)


def _difference(a: Image.Image, b: Image.Image) -> tuple[int, float]:
    """Largest and mean difference over all channels, compared premultiplied."""
    if a.mode in ("LA", "RGBA"):
        a, b = (image.convert(image.mode[:-1] + "a") for image in (a, b))
    stat = ImageStat.Stat(ImageChops.difference(a, b))
    return max(int(high) for _low, high in stat.extrema), max(stat.mean)


def _pillows_gap(size: tuple[int, int], box: tuple[float, float, float, float]) -> float:
    """The reducing gap with which Pillow's own resize box-reduces as ``resample`` does."""
    shrinks = ((box[2] - box[0]) / size[0], (box[3] - box[1]) / size[1])
    halve = (box[2] - box[0]) * (box[3] - box[1]) >= resample.HALVE_FROM_PIXELS
    factors = [(shrink, resample.reduce_factor(shrink, halve=halve)) for shrink in shrinks]
    # Pillow reduces an axis by int(shrink / gap) (1 when that is 0): the largest gap that
    # gives every reduced axis its factor leaves the others unreduced.
    reduced = [shrink / factor for shrink, factor in factors if factor > 1]
    return min(reduced) if reduced else max(shrinks) + 1


def _same_pixels(a: Image.Image, b: Image.Image) -> bool:
    largest, mean = _difference(a, b)
    return largest <= _MAX_LEVELS and mean <= _MAX_MEAN


@pytest.fixture(params=["threads", "one-core"])
def banded(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make bands out of small images; with one core, bands run in turn."""
    monkeypatch.setattr(resample, "PARALLEL_FROM_PIXELS", 1)
    monkeypatch.setattr(resample, "BAND_PIXELS", 5_000)
    monkeypatch.setattr(resample, "STRIP_PIXELS", 20_000)  # a plane read in ~6 strips
    monkeypatch.setattr(resample, "HALVE_FROM_PIXELS", 100_000)  # this small source is halved
    if request.param == "one-core":
        monkeypatch.setattr(resample.os, "cpu_count", lambda: 1)


@pytest.mark.usefixtures("banded")
@pytest.mark.parametrize("mode", ["RGBA", "RGB", "LA", "L"])
@pytest.mark.parametrize(
    ("size", "box"),
    [
        ((40, 30), (0, 0, 401, 299)),  # reduce by 4, then LANCZOS
        ((200, 150), (0, 0, 401, 299)),  # LANCZOS only
        ((133, 100), (0, 0, 401, 299)),  # 3x: halved, then LANCZOS
        ((50, 50), (60.5, 0, 359.5, 299)),  # cover crop, reduce by 2
        ((300, 7), (0, 100, 401, 121)),  # a thin strip
        ((1, 1), (0, 0, 401, 299)),
    ],
)
def test_banded_resize_matches_pillow(
    mode: str, size: tuple[int, int], box: tuple[float, float, float, float]
) -> None:
    # GIVEN a source with hard transparent edges
    source = _source(mode)

    # WHEN it is resized in bands
    ours = resample.resize(source, size, box)

    # THEN the pixels are exactly Pillow's whole-image resize with the same reduce step
    reference = source.resize(
        size, Image.Resampling.LANCZOS, box=box, reducing_gap=_pillows_gap(size, box)
    )
    assert ours.mode == reference.mode == mode
    assert ours.size == size
    assert _same_pixels(ours, reference), _difference(ours, reference)


@pytest.mark.usefixtures("banded")
@pytest.mark.parametrize("mode", ["RGBA", "LA"])
@pytest.mark.parametrize(
    ("size", "flattened_first"),
    [((40, 30), False), ((200, 150), True)],
    ids=["reduced-premultiplied-then-flattened", "flattened-then-resampled"],
)
def test_resizing_onto_a_background_is_exactly_one_of_the_two_orders(
    mode: str, size: tuple[int, int], flattened_first: bool
) -> None:
    # GIVEN a source with hard transparent edges and an opaque background to put it on
    source = _source(mode)
    background = (20, 140, 230, 255)

    # WHEN it is resized onto the background (for an output without alpha)
    ours = resample.resize(source, size, (0, 0, *_SOURCE_SIZE), onto=background)

    # THEN with a reduce step it is Pillow's resize flattened; without, Pillow's resize of the
    # flattened source (the two differ only where LANCZOS rings at hard alpha edges)
    def pillow(image: Image.Image) -> Image.Image:
        gap = _pillows_gap(size, (0, 0, *_SOURCE_SIZE))
        return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=gap)

    if flattened_first:
        reference = pillow(flatten(source, background))
    else:
        reference = flatten(pillow(source), background)
    assert ours.mode == reference.mode == "RGB"
    assert _same_pixels(ours, reference), _difference(ours, reference)


@pytest.mark.parametrize(
    ("shrink", "factor"),
    [(1.0, 1), (1.9, 1), (2.5, 1), (2.6, 2), (3.9, 2), (4.0, 2), (5.9, 2), (6.0, 3), (13.3, 6)],
)
def test_a_shrink_the_gap_leaves_whole_is_halved_while_lanczos_keeps_1_3x(
    shrink: float, factor: int
) -> None:
    # libvips' gap of 2 from 4x on; from 2.6x a 2x2 box first, as a JPEG's 1/2 draft would
    assert resample.reduce_factor(shrink, halve=True) == factor
    # and on a small source only the gap's reduce
    assert resample.reduce_factor(shrink, halve=False) == max(1, int(shrink / 2))


def test_only_a_large_source_is_halved() -> None:
    # GIVEN a 2.7x shrink of a small source and of a large one (a crop of the same image)
    source = _source("RGB").resize((2700, 2000))
    small, large = (0, 0, 1350, 1000), (0, 0, 2700, 2000)

    # THEN only the large one is halved before LANCZOS, each as Pillow would with that gap
    for box, size, gap in ((small, (500, 370), 2.0), (large, (1000, 740), 1.35)):
        ours = resample.resize(source, size, box)
        reference = source.resize(size, Image.Resampling.LANCZOS, box=box, reducing_gap=gap)
        assert _same_pixels(ours, reference), (box, _difference(ours, reference))


@pytest.mark.usefixtures("banded")
@pytest.mark.parametrize(
    ("size", "box"),
    [
        ((200, 150), (0, 0, 401, 299)),
        ((123, 45), (17.25, 30.5, 390.0, 201.75)),
    ],
    ids=["whole", "cropped-odd"],  # shrinks under the reducing gap: LANCZOS alone
)
@pytest.mark.parametrize("band", ["L", "Y"], ids=["L-image", "luma-of-YCbCr"])
def test_a_plane_is_pillows_vertical_then_horizontal_pass_exactly(
    size: tuple[int, int], box: tuple[float, float, float, float], band: str
) -> None:
    # GIVEN an 8-bit plane of odd width (its last four-column group is partly padding), alone
    # or as the luma of a YCbCr image
    image = _source("RGB").convert("YCbCr") if band == "Y" else _source("L")
    source = image.getchannel(0)
    left, top, right, bottom = box

    # WHEN it is resampled four columns at a time (read as RGBX) and then across
    ours = resample.resize_plane(image, size, box, band=band)

    # THEN it is exactly Pillow's own two passes in that order: no column moved, none mixed
    # with its RGBX neighbours, the padding never read
    tall = source.resize(
        (source.width, size[1]), Image.Resampling.LANCZOS, (0, top, source.width, bottom)
    )
    reference = tall.resize(size, Image.Resampling.LANCZOS, (left, 0, right, size[1]))
    assert ours.mode == "L"
    assert ImageChops.difference(ours, reference).getbbox() is None


@pytest.mark.usefixtures("banded")
@pytest.mark.parametrize("height", [148, 149, 150, 151, 3, 1], ids=lambda rows: f"{rows}-rows")
@pytest.mark.parametrize(
    ("band", "kernel"),
    [("Y", Image.Resampling.LANCZOS), ("Cb", Image.Resampling.BOX), ("Cr", Image.Resampling.BOX)],
    ids=["luma-lanczos", "cb-box", "cr-box"],
)
def test_a_plane_in_strips_of_four_row_groups_is_pillows_passes_for_any_height(
    height: int, band: str, kernel: Image.Resampling
) -> None:
    # GIVEN a YCbCr image's plane resized to a height that leaves 0-3 rows after its last
    # whole four-row group (and to fewer rows than one group), read in several strips, at a
    # scale exact in binary as a JPEG's DCT scales make it (12 MP at 3/8 -> 800x600: 1.875;
    # otherwise a strip can resolve a box edge that falls exactly on a pixel the other way)
    image = _source("RGB").convert("YCbCr")
    source = image.getchannel(band)
    size = (157, height)
    box = (3.5, 2.25, 3.5 + 1.875 * size[0], 2.25 + 1.875 * height)

    # WHEN it is resampled four columns, then four rows, at a time
    ours = resample.resize_plane(image, size, box, band=band, kernel=kernel)

    # THEN it is exactly Pillow's own two passes of that plane in that order
    tall = source.resize((source.width, height), kernel, (0, box[1], source.width, box[3]))
    reference = tall.resize(size, kernel, (box[0], 0, box[2], height))
    assert ours.size == size
    assert ImageChops.difference(ours, reference).getbbox() is None


@pytest.mark.usefixtures("banded")
def test_a_doubled_plane_repeats_every_sample_over_two_by_two() -> None:
    # GIVEN chroma resampled for a 4:2:0 encoder, to an odd number of rows and columns
    image = _source("RGB").convert("YCbCr")
    size, box = (101, 75), (0.0, 0.0, 401.0, 299.0)

    # WHEN it comes back doubled
    ours = resample.resize_plane(
        image, size, box, band="Cb", kernel=Image.Resampling.BOX, doubled=True
    )

    # THEN each sample of the plain result fills the 2x2 block at twice its place
    plain = resample.resize_plane(image, size, box, band="Cb", kernel=Image.Resampling.BOX)
    assert ours.size == (2 * size[0], 2 * size[1])
    expected = plain.resize(ours.size, Image.Resampling.NEAREST)
    assert ImageChops.difference(ours, expected).getbbox() is None


@pytest.mark.parametrize("rawmode", ["Y", "Cb", "Cr"])
def test_a_plane_is_read_as_tobytes_reads_it(rawmode: str) -> None:
    # GIVEN a YCbCr image and a region inside it
    image = _source("RGB").convert("YCbCr")
    region = (13, 7, 390, 251)

    # WHEN one plane of the region is read in one buffer
    data = resample._plane_bytes(image, rawmode, 1, region)

    # THEN it is the bytes tobytes gives for that crop
    assert data == image.crop(region).tobytes("raw", rawmode)


@pytest.mark.parametrize("width", [3, 4, 7], ids=lambda columns: f"{columns}-columns")
def test_a_narrow_plane_is_pillows_passes(width: int) -> None:
    # GIVEN a plane of fewer than four columns, exactly four, or four and three left over
    image = _source("RGB").convert("YCbCr").crop((0, 0, width, 299))
    size, box = (max(1, width - 1), 100), (0.0, 0.0, float(width), 299.0)

    # WHEN it is resampled (whole RGBX pixels, the last columns through Pillow's L pass)
    ours = resample.resize_plane(image, size, box, band="Y")

    # THEN it is Pillow's own two passes of that plane
    source = image.getchannel("Y")
    tall = source.resize((width, size[1]), Image.Resampling.LANCZOS, (0, 0, width, 299))
    reference = tall.resize(size, Image.Resampling.LANCZOS, (0, 0, width, size[1]))
    assert ImageChops.difference(ours, reference).getbbox() is None
