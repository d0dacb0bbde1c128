"""PNG decoded with the inflate on a second thread: Pillow's pixels, metadata and errors."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from imaging_support import corpus_dir, fixture
from PIL import Image, PngImagePlugin

from imgpipe_core.imaging import _png


@pytest.fixture(autouse=True)
def two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_png.os, "cpu_count", lambda: 2)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", raising=False)
    monkeypatch.setattr(_png, "_STEP", 1024)  # many steps even for a small file


def _photo(mode: str) -> Image.Image:
    base = Image.open(fixture("400x300.jpg")).convert("RGB")
    if mode == "RGBA":
        rgba = base.convert("RGBA")
        rgba.putalpha(base.convert("L"))
        return rgba
    return base.convert(mode)


def _png_file(tmp_path: Path, mode: str, **options: object) -> Path:
    path = tmp_path / f"{mode}.png"
    _photo(mode).save(path, "PNG", **options)
    return path


def _both(path: Path) -> tuple[Image.Image, Image.Image]:
    ours, theirs = Image.open(path), Image.open(path)
    assert isinstance(ours, PngImagePlugin.PngImageFile)
    assert _png.usable(ours)
    _png.load(ours)
    theirs.load()
    return ours, theirs


@pytest.mark.parametrize(
    ("mode", "options"),
    [
        ("RGBA", {}),
        ("RGB", {"compress_level": 9}),
        ("L", {"compress_level": 1}),
        ("P", {}),
        ("RGB", {"optimize": True}),
    ],
)
def test_pixels_and_metadata_are_pillows_own(
    tmp_path: Path, mode: str, options: dict[str, object]
) -> None:
    # GIVEN a PNG with text and EXIF chunks, which Pillow writes after the pixels
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "after the pixels")
    exif = Image.Exif()
    exif[0x0112] = 6
    path = _png_file(tmp_path, mode, pnginfo=info, exif=exif.tobytes(), **options)

    # WHEN it is decoded with the inflate on a worker, and by Pillow alone
    ours, theirs = _both(path)

    # THEN pixels, mode and the chunks read after the pixels are the same
    assert ours.mode == theirs.mode
    assert ours.tobytes() == theirs.tobytes()
    assert ours.info == theirs.info
    assert ours.getexif().get(0x0112) == 6


def test_sixteen_bit_and_interlaced_pngs_decode_the_same() -> None:
    for name in ("16bit-grey-white.png", "alpha-half-transparent.png", "palette-transparent.png"):
        ours, theirs = _both(fixture(name))
        assert ours.tobytes() == theirs.tobytes(), name


@pytest.mark.corpus
def test_every_pngsuite_file_decodes_as_in_pillow() -> None:
    # Every colour type, bit depth and Adam7 interlacing; the x*.png files fail in both.
    compared = 0
    for path in sorted(corpus_dir("pngsuite").glob("*.png")):
        try:
            with Image.open(path) as probe:
                if not _png.usable(probe):
                    continue  # APNG
        except Exception:
            continue  # a broken header: Pillow's open refuses it before any decode
        try:
            theirs = Image.open(path)
            theirs.load()
        except Exception:
            with pytest.raises(Exception):  # noqa: B017 (whatever Pillow raised)
                _png.load(Image.open(path))
            continue
        ours = Image.open(path)
        _png.load(ours)
        assert (ours.mode, ours.tobytes()) == (theirs.mode, theirs.tobytes()), path.name
        compared += 1
    assert compared > 100


def test_a_truncated_png_fails_as_in_pillow(tmp_path: Path) -> None:
    data = _png_file(tmp_path, "RGBA").read_bytes()
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(OSError, match="truncated"):
        Image.open(path).load()
    image = Image.open(path)
    with pytest.raises(OSError, match="truncated"):
        _png.load(image)
    # and it stays undecoded: a second load fails again instead of returning half an image
    with pytest.raises(OSError):
        image.load()


def test_corrupt_image_data_fails(tmp_path: Path) -> None:
    data = bytearray(_png_file(tmp_path, "RGB").read_bytes())
    data[len(data) // 3] ^= 0xFF
    path = tmp_path / "flipped.png"
    path.write_bytes(bytes(data))

    with pytest.raises(Exception):  # noqa: B017 (Pillow's own load raises too; tested below)
        _png.load(Image.open(path))
    with pytest.raises(Exception):  # noqa: B017
        Image.open(path).load()


def test_in_memory_png_goes_through_pillow(tmp_path: Path) -> None:
    image = Image.open(io.BytesIO(_png_file(tmp_path, "RGB").read_bytes()))
    assert not _png.usable(image)

    _png.load(image)

    assert image.size == (400, 300)


@pytest.mark.parametrize(("memory", "expected"), [("1769", 1), ("2048", 1), ("3538", 2)])
def test_lambda_counts_one_core_per_1769_mb(
    monkeypatch: pytest.MonkeyPatch, memory: str, expected: int
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory)

    assert _png.cores() == expected
