"""Golden tests over the shared corpus (../shared/corpus); skipped when it is absent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from imaging_support import CORPUS, corpus_dir, decoded, render
from PIL import Image

from imgpipe_core.catalogue import load_catalogue
from imgpipe_core.errors import ImageRejected, RejectionCode
from imgpipe_core.imaging import Limits, inspect_image, render_variant

pytestmark = pytest.mark.corpus

THUMBNAIL = load_catalogue().get("thumbnail")


def _files(folder: str, pattern: str = "*") -> list[Path]:
    path = CORPUS / folder
    if not path.is_dir():
        return []
    return sorted(
        p for p in path.glob(pattern) if p.is_file() and not p.name.startswith(("LICENSE", "Png"))
    )


def _mean_abs_diff(a: Image.Image, b: Image.Image, size: tuple[int, int] = (32, 32)) -> float:
    small_a = np.asarray(a.convert("RGB").resize(size, Image.Resampling.BOX), dtype=np.float32)
    small_b = np.asarray(b.convert("RGB").resize(size, Image.Resampling.BOX), dtype=np.float32)
    return float(np.abs(small_a - small_b).mean())


@pytest.mark.parametrize("orientation", range(2, 9))
@pytest.mark.parametrize("extension", ["jpg", "webp"])
@pytest.mark.parametrize("output", ["png", "jpeg"])  # RGB, and YCbCr (render._ycbcr_suits)
def test_exif_orientations_come_out_upright(orientation: int, extension: str, output: str) -> None:
    folder = corpus_dir("pillow")
    upright = Image.open(folder / "hopper.jpg")
    source = folder / f"hopper_orientation_{orientation}.{extension}"

    rendition = render(source, format=output, width=96, height=96)
    image = decoded(rendition)

    assert image.size == (96, 96)
    assert 0x0112 not in image.getexif()
    assert _mean_abs_diff(image, upright) < 8
    # and it really was rotated: the unrotated pixels do not match (except the identity)
    assert _mean_abs_diff(Image.open(source), upright) > 8


def test_orientation_matches_exif_transpose_on_the_full_image() -> None:
    from PIL import ImageOps

    folder = corpus_dir("pillow")
    for orientation in range(2, 9):
        source = folder / f"hopper_orientation_{orientation}.jpg"
        reference = ImageOps.exif_transpose(Image.open(source))
        image = decoded(render(source, format="png", width=64, height=64))
        assert _mean_abs_diff(image, reference) < 3, orientation


def test_icc_tagged_srgb_png_keeps_its_colours() -> None:
    source = corpus_dir("libjpeg-turbo") / "vgl_5674_0098.png"

    image = decoded(render(source, format="png"))

    assert _mean_abs_diff(image, Image.open(source)) < 2
    assert "icc_profile" not in image.info


def test_sixteen_bit_pngs_render() -> None:
    for name in ("basn0g16.png", "basn2c16.png", "basn4a16.png", "basn6a16.png"):
        image = decoded(render(corpus_dir("pngsuite") / name, format="png"))
        assert image.size == (32, 32)


def _outcome(path: Path) -> str:
    """Validate then render the thumbnail: either a rendition or a rejection code."""
    limits = Limits()
    try:
        info = inspect_image(path, limits)
    except ImageRejected as rejected:
        assert isinstance(rejected.code, RejectionCode)
        return rejected.code.value
    rendition = render_variant(path, THUMBNAIL, media_type=info.media_type, limits=limits)
    image = decoded(rendition)
    assert image.size == (rendition.width, rendition.height)
    assert image.width <= 300 and image.height <= 300
    assert image.width <= info.width and image.height <= info.height  # never upscaled
    assert len(image.getexif()) == 0
    return "rendered"


@pytest.mark.parametrize("path", _files("pngsuite", "*.png"), ids=lambda p: p.name)
def test_every_pngsuite_file_renders_or_is_rejected(path: Path) -> None:
    outcome = _outcome(path)

    # PngSuite's x*.png files are the deliberately corrupt ones. xcsn0g01 only has a bad IDAT
    # CRC, which Pillow does not verify: its pixels decode fine.
    corrupt = path.name.startswith("x") and path.name != "xcsn0g01.png"
    assert (outcome != "rendered") is corrupt


@pytest.mark.parametrize(
    "path", _files("pillow") + _files("libjpeg-turbo"), ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_every_crasher_bomb_and_broken_file_ends_cleanly(path: Path) -> None:
    _outcome(path)


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("decompression_bomb.gif", "DECOMPRESSION_BOMB"),
        ("decompression_bomb_extents.gif", "DECOMPRESSION_BOMB"),
        ("png_decompression_dos.png", "DECOMPRESSION_BOMB"),
        ("truncated_jpeg.jpg", "CORRUPT_IMAGE"),
        ("broken.png", "CORRUPT_IMAGE"),
        ("zero_width.gif", "CORRUPT_IMAGE"),
        ("crash-4f085cc12ece8cde18758d42608bed6a2a2cfb1c.tif", "UNSUPPORTED_MEDIA_TYPE"),
        ("decompression_bomb.ico", "UNSUPPORTED_MEDIA_TYPE"),
        ("hopper.webp", "rendered"),
        ("invalid-exif.jpg", "rendered"),
    ],
)
def test_known_corpus_outcomes(name: str, code: str) -> None:
    assert _outcome(corpus_dir("pillow") / name) == code
