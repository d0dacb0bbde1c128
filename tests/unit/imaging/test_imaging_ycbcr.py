"""JPEG to JPEG in YCbCr (render._keeps_ycbcr, resample.resize_ycbcr): the pixels of the RGB
path to within rounding, and only where no colour management, alpha or layout needs RGB."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from imaging_support import decoded, fixture
from PIL import Image, ImageCms

from imgpipe_core.catalogue import Variant
from imgpipe_core.imaging import Rendition, render, render_variant, resample


def _photo(size: tuple[int, int] = (1600, 1200)) -> Image.Image:
    """Photo-like: smooth colour gradients, fine grain, and saturated hard-edged patches."""
    rng = np.random.default_rng(14)
    height, width = size[1], size[0]
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack(
        [
            128 + 100 * np.sin(x / 97.0),
            128 + 100 * np.cos(y / 71.0),
            128 + 90 * np.sin((x + y) / 53.0),
        ],
        axis=-1,
    )
    rgb += rng.normal(0, 12, rgb.shape)
    rgb[200:500, 300:700] = (230, 20, 30)  # saturated red, sharp edges
    rgb[700:1000, 900:1300] = (20, 40, 220)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


@pytest.fixture(scope="module")
def photo_jpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ycbcr") / "photo.jpg"
    _photo().save(path, quality=90)
    return path


def _variant(**spec: object) -> Variant:
    return Variant.model_validate({"name": "t", "format": "jpeg", "quality": 82, **spec})


def _without_shortcut(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "_keeps_ycbcr", lambda *args: False)


def _count_shortcut(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real: Callable[..., Image.Image] = resample.resize_ycbcr

    def counted(*args: object) -> Image.Image:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(resample, "resize_ycbcr", counted)
    return calls


def _luma(rendition: Rendition) -> np.ndarray:
    return np.asarray(decoded(rendition).convert("L"), dtype=np.float64)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255**2 / max(float(np.mean((a - b) ** 2)), 1e-9)))


@pytest.mark.parametrize(
    ("width", "height", "fit"),
    [(800, 600, "inside"), (300, 300, "inside"), (1440, 1080, "inside"), (301, 301, "cover")],
)
def test_a_jpeg_resized_in_ycbcr_matches_the_rgb_path(
    photo_jpeg: Path, monkeypatch: pytest.MonkeyPatch, width: int, height: int, fit: str
) -> None:
    # GIVEN a photo-like JPEG and a full-decode LANCZOS reference at the variant's size
    variant = _variant(width=width, height=height, fit=fit)
    with Image.open(photo_jpeg) as source:
        reference_image = source.convert("RGB")
    calls = _count_shortcut(monkeypatch)

    # WHEN it is rendered in YCbCr, and again with the shortcut off
    ycbcr = render_variant(photo_jpeg, variant)
    with monkeypatch.context() as rgb_only:
        _without_shortcut(rgb_only)
        rgb = render_variant(photo_jpeg, variant)

    # THEN the shortcut was taken once, and gives the same image to within rounding
    assert calls == [1]
    assert (ycbcr.width, ycbcr.height) == (rgb.width, rgb.height)
    crop = (200, 0, 1400, 1200) if fit == "cover" else None  # the centred square
    reference = reference_image.resize((rgb.width, rgb.height), Image.Resampling.LANCZOS, crop)
    reference_luma = np.asarray(reference.convert("L"), dtype=np.float64)
    assert _psnr(_luma(ycbcr), _luma(rgb)) > 40
    assert _psnr(_luma(ycbcr), reference_luma) > _psnr(_luma(rgb), reference_luma) - 0.1
    ours = np.asarray(decoded(ycbcr).convert("YCbCr"), dtype=np.float64)
    theirs = np.asarray(decoded(rgb).convert("YCbCr"), dtype=np.float64)
    for channel in (1, 2):  # chroma: as close as the two encodes of the same picture
        assert _psnr(ours[..., channel], theirs[..., channel]) > 38
    # ... with the saturated patch's colour where it was, its edge not shifted
    if crop is None:
        spot = (ycbcr.width * 500 // 1600, ycbcr.height * 350 // 1200)
    else:
        spot = (ycbcr.width * 300 // 1200, ycbcr.height * 350 // 1200)
    red = decoded(ycbcr).convert("RGB").getpixel(spot)
    assert isinstance(red, tuple) and red[0] > 200 and red[1] < 60 and red[2] < 60
    assert decoded(ycbcr).format == "JPEG" and decoded(ycbcr).mode == "RGB"
    assert len(ycbcr.data) <= len(rgb.data) * 1.01


@pytest.mark.parametrize("profile", ["fixture", "lab"])
def test_a_colour_managed_jpeg_is_converted_in_rgb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, profile: str
) -> None:
    # GIVEN a YCbCr JPEG with an embedded profile (gamma 1.8, or one Pillow cannot apply)
    path = fixture("icc-gamma18-grey.jpg")
    if profile == "lab":
        path = tmp_path / "lab.jpg"
        icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
        _photo((800, 600)).save(path, quality=90, icc_profile=icc)
    calls = _count_shortcut(monkeypatch)

    # WHEN it is resized to a JPEG THEN the YCbCr shortcut is not taken (the profile is applied)
    render_variant(path, _variant(width=16, height=16))
    assert calls == []


@pytest.mark.parametrize(
    ("spec", "taken"),
    [
        ({"width": 400, "height": 300}, True),
        ({"width": 400, "height": 300, "quality": 90}, False),  # 4:4:4: chroma kept whole
        ({"width": 400, "height": 300, "format": "webp"}, False),
        ({"width": 400, "height": 300, "watermark": {"text": "x", "min_size": 1}}, False),
        ({"width": 300, "height": 300, "fit": "cover", "crop": "attention"}, False),
        ({"width": 400, "height": 400, "fit": "pad"}, False),
    ],
)
def test_the_shortcut_is_taken_only_where_nothing_needs_rgb(
    photo_jpeg: Path, monkeypatch: pytest.MonkeyPatch, spec: dict[str, object], taken: bool
) -> None:
    calls = _count_shortcut(monkeypatch)

    render_variant(photo_jpeg, _variant(**spec))

    assert calls == ([1] if taken else [])


@pytest.mark.parametrize(("width", "taken"), [(400, True), (301, False)])
def test_a_rotated_jpeg_keeps_ycbcr_only_with_even_sides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, width: int, taken: bool
) -> None:
    # GIVEN a JPEG stored rotated (EXIF orientation 6)
    exif = Image.Exif()
    exif[0x0112] = 6
    source = tmp_path / "rotated.jpg"
    _photo((800, 600)).save(source, quality=90, exif=exif.tobytes())
    calls = _count_shortcut(monkeypatch)
    variant = _variant(width=width, height=width)

    # WHEN it is resized THEN it comes out upright as the RGB path gives it
    rendition = render_variant(source, variant)
    with monkeypatch.context() as rgb_only:
        _without_shortcut(rgb_only)
        rgb = render_variant(source, variant)

    assert calls == ([1] if taken else [])
    assert (
        (rendition.width, rendition.height)
        == (rgb.width, rgb.height)
        == (round(width * 3 / 4), width)
    )
    assert _psnr(_luma(rendition), _luma(rgb)) > 40


@pytest.mark.parametrize(
    ("markers", "ycbcr"),
    [
        ({"jfif": 257}, True),
        ({"adobe": 100, "adobe_transform": 1}, True),
        ({"adobe": 100, "adobe_transform": 0}, False),  # stored as RGB
        ({}, True),  # components 1, 2, 3
    ],
)
def test_ycbcr_storage_is_read_as_libjpeg_reads_it(
    photo_jpeg: Path, markers: dict[str, int], ycbcr: bool
) -> None:
    with Image.open(photo_jpeg) as image:
        image.info = dict(markers)
        assert isinstance(image, render.ImageFile.ImageFile)
        assert render._stored_as_ycbcr(image) is ycbcr
        image.layer = [(ord(name), 1, 1, 0) for name in "RGB"]
        assert render._stored_as_ycbcr(image) is (ycbcr and bool(markers))


def test_a_cmyk_jpeg_is_not_ycbcr() -> None:
    with Image.open(fixture("cmyk-patches.jpg")) as image:
        assert isinstance(image, render.ImageFile.ImageFile)
        assert not render._stored_as_ycbcr(image)


def test_an_odd_sized_output_keeps_its_last_row_and_column(photo_jpeg: Path) -> None:
    # 4:2:0 chroma of an odd side: the last 2x2 block is half outside the image.
    rendition = render_variant(photo_jpeg, _variant(width=301, height=301))
    image = decoded(rendition)

    assert image.size == (301, 226)
    stripe = np.asarray(image.convert("RGB"), dtype=np.float64)
    assert abs(stripe[-1].mean() - stripe[-2].mean()) < 8
    assert abs(stripe[:, -1].mean() - stripe[:, -2].mean()) < 8


def test_encoded_ycbcr_decodes_as_jfif_rgb(photo_jpeg: Path) -> None:
    rendition = render_variant(photo_jpeg, _variant(width=200, height=200))

    with Image.open(io.BytesIO(rendition.data)) as image:
        assert image.mode == "RGB" and "jfif" in image.info and "icc_profile" not in image.info
