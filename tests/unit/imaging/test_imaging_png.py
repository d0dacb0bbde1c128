"""PNG decoded with the inflate done apart (ISA-L, or zlib on a worker): Pillow's pixels,
metadata and errors."""

from __future__ import annotations

import io
import os
import random
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from imaging_support import corpus_dir, fixture
from PIL import Image, PngImagePlugin

from imgpipe_core.catalogue import Variant
from imgpipe_core.errors import ImageRejected, RejectionCode
from imgpipe_core.imaging import Limits, _png, inspect_image, render_variant

# How the stored-block path runs: ISA-L inline on one core or on a worker with two, and the
# system zlib on a worker (where python-isal cannot load).
PATHS = ("isal-1-core", "isal-2-cores", "zlib-2-cores")


def _use(monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    cores = 1 if path.endswith("1-core") else 2
    monkeypatch.setattr(_png.os, "cpu_count", lambda: cores)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", raising=False)
    monkeypatch.setattr(_png, "_STEP", 1024)  # many steps even for a small file
    monkeypatch.setattr(_png, "_OUTPUT", 2048)  # and many pieces, some ending mid-match
    monkeypatch.setattr(_png, "_QUEUED", 2)  # a worker that waits for Pillow
    if path.startswith("zlib"):
        monkeypatch.setattr(_png, "_fast_inflate", lambda: None)
    else:
        assert _png._fast_inflate() is not None, "python-isal is a pinned requirement"


@pytest.fixture(autouse=True, params=PATHS)
def inflate_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    _use(monkeypatch, request.param)
    return str(request.param)


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
    monkeypatch.setattr(_png.os, "cpu_count", lambda: 2)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory)

    assert _png.cores() == expected


def test_without_isal_one_core_loads_through_pillow_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN one core and no python-isal: zlib's stored pass would only add CPU
    monkeypatch.setattr(_png.os, "cpu_count", lambda: 1)
    monkeypatch.setattr(_png, "_fast_inflate", lambda: None)
    image = Image.open(_png_file(tmp_path, "RGB"))

    # THEN the PNG is not taken apart
    assert not _png.usable(image)


def _with_idat(data: bytes, idat: bytes) -> bytes:
    """``data`` (a PNG with one IDAT chunk) with that chunk's data replaced."""
    start = data.index(b"IDAT") - 4
    (length,) = struct.unpack(">I", data[start : start + 4])
    chunk = struct.pack(">I", len(idat)) + b"IDAT" + idat
    chunk += struct.pack(">I", zlib.crc32(idat, zlib.crc32(b"IDAT")))
    return data[:start] + chunk + data[start + 12 + length :]


def test_a_broken_deflate_stream_is_a_zlib_error(tmp_path: Path) -> None:
    # GIVEN a PNG whose image data is a zlib stream with a reserved block type
    data = _png_file(tmp_path, "RGB").read_bytes()
    path = tmp_path / "broken.png"
    path.write_bytes(_with_idat(data, b"\x78\x01\x07" + bytes(64)))

    # THEN it fails as the system zlib reports it, whichever inflate read it
    with pytest.raises(zlib.error):
        _png.load(Image.open(path))
    with pytest.raises(OSError):
        Image.open(path).load()


def _outcome(path: Path) -> object:
    """What validation and one render make of ``path``: the rejection or the pixels."""
    try:
        info = inspect_image(path, Limits())
        variant = Variant.model_validate({"name": "t", "width": 40, "format": "png"})
        rendition = render_variant(path, variant, media_type=info.media_type)
    except ImageRejected as rejected:
        # The code, not the message: Pillow alone, loading a second time after a failed
        # load, says AssertionError where the first failure's reason is seen here.
        return rejected.code
    return info.model_dump(), Image.open(io.BytesIO(rendition.data)).tobytes()


def test_corrupted_image_data_is_judged_as_by_pillow_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN copies of a PNG, each with one byte of its compressed image data changed
    data = _png_file(tmp_path, "RGBA", compress_level=6).read_bytes()
    start = data.index(b"IDAT") + 4
    (length,) = struct.unpack(">I", data[start - 8 : start - 4])
    rng = random.Random(14)
    judged = {"rejected": 0, "accepted": 0}
    for index in range(30):
        damaged = bytearray(data)
        damaged[start + rng.randrange(length)] ^= 1 << rng.randrange(8)
        path = tmp_path / f"damaged-{index}.png"
        path.write_bytes(bytes(damaged))

        # WHEN validation and a render read it through the inflate, and through Pillow alone
        ours = _outcome(path)
        with monkeypatch.context() as pillow_alone:
            pillow_alone.setattr(_png, "usable", lambda _image: False)
            theirs = _outcome(path)

        # THEN both reject it with the same code, or both give the same facts and pixels
        assert ours == theirs, index
        judged["rejected" if isinstance(ours, RejectionCode) else "accepted"] += 1
    assert judged["rejected"] > 10, judged


def test_isal_is_imported_by_the_first_png_not_by_the_imaging_modules(tmp_path: Path) -> None:
    # GIVEN a fresh interpreter, as a handler's cold start is
    layer = Path(__file__).resolve().parents[3] / "layers" / "core"
    probe = (
        "import sys\n"
        "from imgpipe_core.imaging import probe, render\n"
        "before = 'isal' in sys.modules\n"
        "from PIL import Image\n"
        "probe._png.load(Image.open(sys.argv[1]))\n"
        "print(before, 'isal' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(_png_file(tmp_path, "RGB"))],
        env={**os.environ, "PYTHONPATH": str(layer)},
        capture_output=True,
        text=True,
        check=False,
    )

    # THEN importing the imaging code loads no isal (a cold start that reads no PNG pays
    # nothing for it); the first PNG does
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
