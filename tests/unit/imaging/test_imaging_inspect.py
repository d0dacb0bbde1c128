from __future__ import annotations

from pathlib import Path

import pytest
from imaging_support import corpus_dir, fixture

from imgpipe_core.errors import ImageRejected, RejectionCode
from imgpipe_core.imaging import Limits, MediaType, inspect_image


def rejection(path: Path, limits: Limits | None = None, **kwargs: int) -> RejectionCode:
    with pytest.raises(ImageRejected) as caught:
        inspect_image(path, limits or Limits(), **kwargs)
    return caught.value.code


def test_accepts_and_describes_a_jpeg() -> None:
    info = inspect_image(fixture("gps-copyright-orientation6.jpg"), Limits())

    # stored 64x48, EXIF orientation 6: displayed 48x64
    assert (info.media_type, info.width, info.height) == (MediaType.JPEG, 48, 64)
    assert (info.orientation, info.frames, info.animated) == (6, 1, False)
    assert info.bytes == fixture("gps-copyright-orientation6.jpg").stat().st_size


def test_describes_animation_alpha_and_icc() -> None:
    animated = inspect_image(fixture("animated-3-frames.gif"), Limits())
    alpha = inspect_image(fixture("alpha-half-transparent.png"), Limits())
    icc = inspect_image(fixture("icc-gamma18-grey.jpg"), Limits())

    assert (animated.frames, animated.animated) == (3, True)
    assert alpha.has_alpha and not alpha.has_icc
    assert icc.has_icc and not icc.has_alpha


def test_empty_file() -> None:
    assert rejection(fixture("empty.jpg")) is RejectionCode.EMPTY_FILE


def test_file_too_large_is_checked_before_reading(tmp_path: Path) -> None:
    assert rejection(fixture("400x300.jpg"), Limits(max_bytes=1000)) is RejectionCode.FILE_TOO_LARGE
    # the caller's size (e.g. from S3) is trusted, so the body is never opened
    missing = tmp_path / "not-downloaded.jpg"
    assert rejection(missing, Limits(max_bytes=10), size=11) is RejectionCode.FILE_TOO_LARGE


@pytest.mark.parametrize("name", ["image.svg", "page.html", "document.pdf", "4x4.tif"])
def test_unsupported_media_types(name: str) -> None:
    assert rejection(fixture(name)) is RejectionCode.UNSUPPORTED_MEDIA_TYPE


def test_image_too_large_by_side() -> None:
    assert rejection(fixture("12000x10.png")) is RejectionCode.IMAGE_TOO_LARGE


def test_image_too_large_by_pixels() -> None:
    limits = Limits(max_pixels=400 * 299)
    assert rejection(fixture("400x300.jpg"), limits) is RejectionCode.IMAGE_TOO_LARGE


def test_too_many_frames() -> None:
    assert rejection(fixture("animated-3-frames.gif"), Limits(max_frames=2)) is (
        RejectionCode.TOO_MANY_FRAMES
    )


def test_too_many_total_pixels_in_an_animation() -> None:
    limits = Limits(max_total_pixels=40 * 30 * 2)
    assert rejection(fixture("animated-3-frames.webp"), limits) is RejectionCode.TOO_MANY_FRAMES


def test_decompression_bomb_by_ratio() -> None:
    assert rejection(fixture("bomb-50000x50000.png")) is RejectionCode.DECOMPRESSION_BOMB


@pytest.mark.corpus
@pytest.mark.parametrize(
    "name",
    ["decompression_bomb.gif", "decompression_bomb_extents.gif", "png_decompression_dos.png"],
)
def test_decompression_bombs_from_pillow(name: str) -> None:
    assert rejection(corpus_dir("pillow") / name) is RejectionCode.DECOMPRESSION_BOMB


@pytest.mark.parametrize("name", ["truncated.jpg", "truncated.png"])
def test_corrupt_image(name: str) -> None:
    assert rejection(fixture(name)) is RejectionCode.CORRUPT_IMAGE


def test_missing_source() -> None:
    assert rejection(Path("/nonexistent/upload.jpg")) is RejectionCode.SOURCE_NOT_FOUND
