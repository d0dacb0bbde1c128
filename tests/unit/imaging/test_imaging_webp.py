"""Still WebP through libwebp directly: decoding with shrink-on-load, encoding in strips, and
the fallbacks to Pillow."""

from __future__ import annotations

import io
import math
import random
from pathlib import Path

import pytest
from imaging_support import decoded, fixture
from PIL import Image, ImageChops, ImageCms, ImageStat

from imgpipe_core.catalogue import OutputFormat, Variant
from imgpipe_core.errors import RenderError
from imgpipe_core.imaging import _webp, render, render_variant, resample

pytestmark = pytest.mark.skipif(_webp._library() is None, reason="libwebp is not loadable here")


def _photo(mode: str = "RGB", size: tuple[int, int] = (640, 480)) -> Image.Image:
    # Seeded: the corrupt-file test relies on libwebp noticing the damage in this content.
    uniform = Image.frombytes("L", size, random.Random(1).randbytes(size[0] * size[1]))
    noise = uniform.point(lambda value: 64 + value // 2)  # about effect_noise(40)
    gradient = Image.linear_gradient("L").resize(size)
    image = Image.merge("RGB", (noise, gradient, gradient.transpose(Image.Transpose.ROTATE_180)))
    if mode == "RGBA":
        image.putalpha(Image.radial_gradient("L").resize(size))
    return image


def _webp_file(tmp_path: Path, image: Image.Image, **options: object) -> Path:
    path = tmp_path / "still.webp"
    image.save(path, format="WEBP", **options)  # type: ignore[arg-type]
    return path


def _mean_difference(a: Image.Image, b: Image.Image) -> float:
    return max(ImageStat.Stat(ImageChops.difference(a, b)).mean)


@pytest.mark.parametrize(
    ("mode", "options"), [("RGB", {"quality": 80}), ("RGBA", {"lossless": True, "exact": True})]
)
def test_full_size_decode_is_pillows_pixels(
    tmp_path: Path, mode: str, options: dict[str, object]
) -> None:
    # GIVEN a still WebP
    path = _webp_file(tmp_path, _photo(mode), **options)

    # WHEN it is decoded without scaling
    image = _webp.decode(path)

    # THEN the pixels are those Pillow's decoder gives
    assert image is not None
    with Image.open(path) as pillow:
        assert image.mode == pillow.mode == mode
        assert ImageChops.difference(image, pillow).getbbox() is None


def test_scaled_decode_is_close_to_a_full_decode_resized(tmp_path: Path) -> None:
    path = _webp_file(tmp_path, _photo(), quality=90)

    image = _webp.decode(path, (160, 120))

    assert image is not None and image.size == (160, 120)
    with Image.open(path) as pillow:
        reference = pillow.resize((160, 120), Image.Resampling.BOX)
    assert _mean_difference(image, reference) < 3


def test_no_scaling_up(tmp_path: Path) -> None:
    image = _webp.decode(_webp_file(tmp_path, _photo()), (1000, 100))

    assert image is not None and image.size == (640, 480)


def test_animated_webp_is_left_to_pillow() -> None:
    assert _webp.decode(fixture("animated-3-frames.webp")) is None


def test_corrupt_webp_is_a_render_error(tmp_path: Path) -> None:
    # GIVEN a lossless WebP whose container is intact but whose pixel data is not
    path = _webp_file(tmp_path, _photo(), lossless=True)
    data = bytearray(path.read_bytes())
    data[len(data) // 3 : len(data) // 3 + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))

    with pytest.raises(RenderError):
        render_variant(path, Variant(name="v", width=100, height=100))


def test_render_without_libwebp_falls_back_to_pillow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a still WebP rendered once through libwebp's scaled decode
    path = _webp_file(tmp_path, _photo("RGBA"), quality=90)
    variant = Variant(name="v", width=200, height=200, format=OutputFormat.PNG)
    direct = decoded(render_variant(path, variant))

    # WHEN libwebp cannot be loaded directly
    monkeypatch.setattr(_webp, "_library", lambda: None)
    fallback = decoded(render_variant(path, variant))

    # THEN Pillow's full decode gives the same picture
    assert direct.size == fallback.size == (200, 150)
    assert direct.mode == fallback.mode == "RGBA"
    assert _mean_difference(direct, fallback) < 3


# --- decoding to YCbCr, for a 4:2:0 JPEG ------------------------------------------------------


def _patched_photo(size: tuple[int, int] = (640, 480)) -> Image.Image:
    """_photo with saturated hard-edged patches: chroma and the full range's ends."""
    image = _photo("RGB", size)
    image.paste((230, 20, 30), (size[0] // 8, size[1] // 8, size[0] // 2, size[1] // 3))
    image.paste((0, 0, 0), (size[0] // 2, size[1] // 2, size[0] * 5 // 8, size[1] * 5 // 8))
    image.paste((255, 255, 255), (size[0] * 5 // 8, size[1] // 2, size[0] * 3 // 4, size[1]))
    return image


@pytest.mark.parametrize("size", [(160, 120), (161, 121), None], ids=["even", "odd", "full"])
def test_ycbcr_decode_is_libwebps_rgb_in_jfif_ycbcr(
    tmp_path: Path, size: tuple[int, int] | None
) -> None:
    # GIVEN a lossy still WebP
    path = _webp_file(tmp_path, _patched_photo(), quality=90)

    # WHEN it is decoded to YCbCr, and to RGB as before
    ycbcr = _webp.decode(path, size, ycbcr=True)
    rgb = _webp.decode(path, size)

    # THEN it is the same picture in JFIF's YCbCr: the luma to within rounding, the chroma
    # at half resolution, as a 4:2:0 JPEG keeps it (libwebp's RGB upsamples the chroma:
    # scaled to the full output, or interpolated at full size), in the full range
    assert isinstance(ycbcr, _webp.Planes) and rgb is not None
    assert ycbcr.luma.size == rgb.size == (size or (640, 480))
    half = (-(-rgb.width // 2), -(-rgb.height // 2))
    assert ycbcr.cb.size == ycbcr.cr.size == half
    expected = rgb.convert("YCbCr")
    assert _mean_difference(ycbcr.luma, expected.getchannel(0)) < 1
    reduced = expected.resize(half, Image.Resampling.BOX)
    for plane, channel in ((ycbcr.cb, 1), (ycbcr.cr, 2)):
        assert _mean_difference(plane, reduced.getchannel(channel)) < (4 if size is None else 2)
    assert ImageStat.Stat(ycbcr.luma).extrema[0] == (0, 255)  # full range, not 16-235


@pytest.mark.parametrize(
    ("mode", "options"), [("RGB", {"lossless": True}), ("RGBA", {"quality": 80})]
)
def test_ycbcr_is_given_only_for_lossy_webp_without_alpha(
    tmp_path: Path, mode: str, options: dict[str, object]
) -> None:
    path = _webp_file(tmp_path, _photo(mode), **options)

    image = _webp.decode(path, (160, 120), ycbcr=True)

    assert isinstance(image, Image.Image) and image.mode == mode


def _shortcut_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = resample.resize_ycbcr

    def counted(*args: object, **options: object) -> Image.Image:
        calls.append(1)
        return real(*args, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(resample, "resize_ycbcr", counted)
    return calls


def _psnr(a: Image.Image, b: Image.Image) -> float:
    stat = ImageStat.Stat(ImageChops.difference(a, b).point(lambda value: value * value))
    return float(10 * math.log10(255**2 / max(stat.mean[0], 1e-9)))


@pytest.mark.parametrize(("width", "height"), [(800, 600), (301, 301), (160, 120), (1440, 1080)])
def test_a_lossy_webp_to_a_jpeg_in_ycbcr_matches_the_rgb_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, width: int, height: int
) -> None:
    # GIVEN a lossy photo-like WebP and a JPEG variant (4:2:0)
    path = _webp_file(tmp_path, _patched_photo((1600, 1200)), quality=90)
    variant = Variant(name="v", width=width, height=height, format=OutputFormat.JPEG, quality=82)
    calls = _shortcut_calls(monkeypatch)

    # WHEN it is rendered in YCbCr, and again with the shortcut off
    ycbcr = decoded(render_variant(path, variant))
    with monkeypatch.context() as rgb_only:
        rgb_only.setattr(render, "_ycbcr_suits", lambda *args: False)
        rgb = decoded(render_variant(path, variant))

    # THEN the shortcut was taken once and gives the RGB path's picture to within rounding,
    # as close to a full-decode LANCZOS reference, with the red patch where it was
    assert calls == [1]
    assert ycbcr.size == rgb.size and ycbcr.mode == "RGB"
    with Image.open(path) as source:
        reference = source.convert("RGB").resize(rgb.size, Image.Resampling.LANCZOS).convert("L")
    assert _psnr(ycbcr.convert("L"), rgb.convert("L")) > 40
    # (8-bit rounding at different steps: -0.10 to +0.04 dB over these sizes)
    assert _psnr(ycbcr.convert("L"), reference) > _psnr(rgb.convert("L"), reference) - 0.15
    for channel in (1, 2):
        assert (
            _psnr(
                ycbcr.convert("YCbCr").getchannel(channel), rgb.convert("YCbCr").getchannel(channel)
            )
            > 38
        )
    red = ycbcr.getpixel((ycbcr.width * 3 // 16, ycbcr.height * 2 // 9))
    assert isinstance(red, tuple) and red[0] > 200 and red[1] < 60 and red[2] < 60


@pytest.mark.parametrize(
    ("spec", "source", "taken"),
    [
        ({"width": 400, "height": 300}, "lossy", True),
        ({"width": 400, "height": 300}, "lossless", False),  # stored as ARGB
        ({"width": 400, "height": 300}, "alpha", False),  # flattened onto the background
        ({"width": 400, "height": 300}, "icc", False),  # the profile is applied in RGB
        ({"width": 400, "height": 300, "quality": 90}, "lossy", False),  # 4:4:4
        ({"width": 400, "height": 300, "format": "png"}, "lossy", False),
        ({"width": 400, "height": 400, "fit": "pad"}, "lossy", False),
        ({"width": 300, "height": 300, "fit": "cover", "crop": "attention"}, "lossy", False),
        ({"width": 400, "height": 300, "watermark": {"text": "x", "min_size": 1}}, "lossy", False),
    ],
)
def test_a_webp_keeps_ycbcr_only_where_nothing_needs_rgb(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    spec: dict[str, object],
    source: str,
    taken: bool,
) -> None:
    options: dict[str, object] = {"lossless": True} if source == "lossless" else {"quality": 90}
    if source == "icc":
        options["icc_profile"] = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    path = _webp_file(tmp_path, _photo("RGBA" if source == "alpha" else "RGB"), **options)
    calls = _shortcut_calls(monkeypatch)
    variant = Variant.model_validate({"name": "v", "format": "jpeg", "quality": 82, **spec})

    rendition = render_variant(path, variant)

    assert calls == ([1] if taken else [])
    assert rendition.width <= 400 and rendition.height <= 400


@pytest.mark.parametrize(("width", "taken"), [(400, True), (301, False)])
def test_a_rotated_webp_keeps_ycbcr_only_with_even_sides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, width: int, taken: bool
) -> None:
    # GIVEN a lossy WebP stored rotated (EXIF orientation 6)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = _webp_file(tmp_path, _patched_photo((800, 600)), quality=90, exif=exif.tobytes())
    calls = _shortcut_calls(monkeypatch)
    variant = Variant(name="v", width=width, height=width, format=OutputFormat.JPEG, quality=82)

    # WHEN it is resized THEN it comes out upright as the RGB path gives it
    rendition = decoded(render_variant(path, variant))
    with monkeypatch.context() as rgb_only:
        rgb_only.setattr(render, "_ycbcr_suits", lambda *args: False)
        rgb = decoded(render_variant(path, variant))

    assert calls == ([1] if taken else [])
    assert rendition.size == rgb.size == (round(width * 3 / 4), width)
    assert _psnr(rendition.convert("L"), rgb.convert("L")) > 40


def test_a_truncated_lossy_webp_is_a_decode_error_in_ycbcr(tmp_path: Path) -> None:
    # GIVEN a lossy WebP cut off half-way (render_variant rejects it before: Pillow's header
    # check; this is the decoder's own guard, which render turns into a RenderError)
    path = _webp_file(tmp_path, _photo(), quality=80)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    with pytest.raises(_webp.WebPDecodeError, match="truncated or corrupt"):
        _webp.decode(path, (100, 75), ycbcr=True)


# --- encoding -----------------------------------------------------------------------------------

# Taller than two strips with an odd last one; wide enough for several macroblocks.
_ENCODE_SIZE = (333, 2 * _webp._STRIP_ROWS + 75)


def _pillow_webp(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", **options)  # type: ignore[arg-type]
    return buffer.getvalue()


def _transparent_at_the_bottom(size: tuple[int, int]) -> Image.Image:
    """RGBA whose first strips are opaque (libwebp then imports them without an alpha plane)."""
    image = _photo("RGB", size)
    alpha = Image.new("L", size, 255)
    alpha.paste(Image.linear_gradient("L").resize((size[0], 60)), (0, size[1] - 60))
    image.putalpha(alpha)
    return image


@pytest.mark.parametrize(
    ("image", "quality", "method"),
    [
        (_photo("RGB", _ENCODE_SIZE), 80, 2),
        (_photo("RGB", _ENCODE_SIZE), 55, 4),
        (_photo("RGBA", _ENCODE_SIZE), 80, 2),
        (_transparent_at_the_bottom(_ENCODE_SIZE), 80, 0),
        (_photo("RGBA", (1, 2 * _webp._STRIP_ROWS + 1)), 80, 2),
    ],
    ids=["rgb-q80-m2", "rgb-q55-m4", "rgba", "rgba-opaque-strips", "one-pixel-wide"],
)
def test_strip_encoding_writes_the_file_pillow_writes(
    image: Image.Image, quality: int, method: int
) -> None:
    # WHEN an image is encoded strip by strip through libwebp
    data = _webp.encode(image, quality=quality, method=method)

    # THEN it is byte for byte the file Pillow writes with the same settings
    assert data is not None
    assert data == _pillow_webp(image, quality=quality, method=method)
    with Image.open(io.BytesIO(data)) as written:
        assert written.size == image.size
        assert written.mode == image.mode


def test_encoding_other_modes_is_left_to_pillow() -> None:
    assert _webp.encode(Image.new("L", (8, 8)), quality=80, method=4) is None


def test_webp_variant_with_kept_metadata_goes_through_pillow() -> None:
    # GIVEN a variant that keeps copyright EXIF (the strip encoder writes no metadata)
    variant = Variant(name="v", width=64, height=64, format=OutputFormat.WEBP, keep_copyright=True)

    # WHEN it is rendered
    rendition = render_variant(fixture("gps-copyright-orientation6.jpg"), variant)

    # THEN the copyright survives
    with Image.open(io.BytesIO(rendition.data)) as image:
        assert image.getexif()
