"""Still WebP through libwebp directly: decoding with shrink-on-load, encoding in strips, and
the fallbacks to Pillow."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
from imaging_support import decoded, fixture
from PIL import Image, ImageChops, ImageStat

from imgpipe_core.catalogue import OutputFormat, Variant
from imgpipe_core.errors import RenderError
from imgpipe_core.imaging import _webp, render_variant

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
