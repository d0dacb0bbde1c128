"""Validation's reduced decode (JPEG 1/8, still WebP via libwebp's scaler, PNG inflated on a
second thread) is as strict as a full-size decode of every frame: nothing that a full decode
fails on gets through.

The oracle is a fresh Pillow open and full-size load of every frame, independent of
validation's code. It runs over the shared corpus (skipped when absent) and over
truncated and bit-flipped files generated from small images, so CI checks it too.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from imaging_support import CORPUS, fixture
from PIL import Image

from imgpipe_core.errors import ImageRejected
from imgpipe_core.imaging import Limits, _pillow, inspect_image
from imgpipe_core.imaging.media import SNIFF_BYTES, sniff

ACCEPTED = "accepted"
LIMITS = Limits()


def _full_decode_fails(path: Path) -> str | None:
    """CORRUPT_IMAGE or DECOMPRESSION_BOMB if a fresh full-size decode of every frame fails."""
    media_type = sniff(path.read_bytes()[:SNIFF_BYTES])
    if media_type is None:
        return None
    with _pillow.guarded(LIMITS):
        try:
            with Image.open(path, formats=[media_type.pillow_format]) as image:
                for index in range(getattr(image, "n_frames", 1)):
                    image.seek(index)
                    image.load()
        except MemoryError:
            raise
        except _pillow.BOMB_ERRORS:
            return "DECOMPRESSION_BOMB"
        except ValueError as exc:
            return "DECOMPRESSION_BOMB" if "MAX_TEXT_" in str(exc) else "CORRUPT_IMAGE"
        except Exception:
            return "CORRUPT_IMAGE"
    return None


def _verdict(path: Path) -> str:
    try:
        inspect_image(path, LIMITS)
    except ImageRejected as rejected:
        return rejected.code.value
    return ACCEPTED


def _corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(
        path
        for path in CORPUS.rglob("*")
        if path.is_file() and not path.name.startswith(("LICENSE", "Png", "README"))
    )


def _source(kind: str) -> bytes:
    """A small photo-like image in ``kind``'s format, with detail for every block to code."""
    base = Image.open(fixture("400x300.jpg")).convert("RGB").resize((160, 120))
    buffer = io.BytesIO()
    if kind == "jpeg":
        base.save(buffer, "JPEG", quality=90)
    elif kind == "jpeg-progressive":
        base.save(buffer, "JPEG", quality=90, progressive=True)
    elif kind == "png-alpha":
        rgba = base.convert("RGBA")
        rgba.putalpha(base.convert("L"))
        rgba.save(buffer, "PNG")
    elif kind == "webp-lossy":
        base.save(buffer, "WEBP", quality=80)
    elif kind == "webp-lossless-alpha":
        rgba = base.convert("RGBA")
        rgba.putalpha(base.convert("L"))
        rgba.save(buffer, "WEBP", lossless=True)
    elif kind == "gif-animated":
        frames = [base.rotate(angle).convert("P") for angle in (0, 90, 180)]
        frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100)
    else:
        raise AssertionError(kind)
    return buffer.getvalue()


KINDS = [
    "jpeg",
    "jpeg-progressive",
    "png-alpha",
    "webp-lossy",
    "webp-lossless-alpha",
    "gif-animated",
]


def _damaged(data: bytes) -> list[tuple[str, bytes]]:
    """Truncations at several points and single-byte corruptions through the coded data."""
    cases = [(f"cut-{fraction}", data[: int(len(data) * fraction)]) for fraction in (0.3, 0.6, 0.9)]
    cases.append(("cut-last-16", data[:-16]))
    for fraction in (0.2, 0.4, 0.6, 0.8):
        position = int(len(data) * fraction)
        flipped = bytearray(data)
        flipped[position] ^= 0xFF
        cases.append((f"flip-{fraction}", bytes(flipped)))
    return cases


@pytest.mark.parametrize("kind", KINDS)
def test_damaged_files_are_rejected_whenever_a_full_decode_fails(kind: str, tmp_path: Path) -> None:
    # GIVEN truncated and corrupted copies of a small image
    verdicts = {}
    for name, data in _damaged(_source(kind)):
        path = tmp_path / f"{kind}-{name}"
        path.write_bytes(data)
        # WHEN a fresh full-size decode and validation judge each
        verdicts[name] = (_full_decode_fails(path), _verdict(path))
    # THEN whatever the full decode cannot decode, validation rejects, as corrupt
    for name, (failure, verdict) in verdicts.items():
        if failure is not None:
            assert verdict == failure, f"{kind} {name}: full decode {failure}, validation {verdict}"
    # and the damage was real: a file cut in the middle fails for every format
    assert verdicts["cut-0.6"][0] == "CORRUPT_IMAGE"


@pytest.mark.parametrize("kind", KINDS)
def test_undamaged_generated_files_are_accepted(kind: str, tmp_path: Path) -> None:
    path = tmp_path / kind
    path.write_bytes(_source(kind))

    assert _full_decode_fails(path) is None
    assert _verdict(path) == ACCEPTED


@pytest.mark.corpus
@pytest.mark.parametrize("path", _corpus_files(), ids=lambda p: str(p.relative_to(CORPUS)))
def test_no_corpus_file_a_full_decode_fails_on_slips_through(path: Path) -> None:
    # WHEN a corpus file (fuzzer crasher, truncated file, PngSuite's x*.png ...) fails to decode
    failure = _full_decode_fails(path)

    # THEN validation rejects it (sooner, perhaps, for its size or type)
    if failure is not None:
        assert _verdict(path) != ACCEPTED
