"""HEIC and AVIF input: sniffed by brand, bounded from the header, upright, in sRGB."""

from __future__ import annotations

import contextlib
import struct
from pathlib import Path

import pytest
from imaging_support import decoded, fixture, render
from PIL import Image

from imgpipe_core.errors import ImageRejected, RejectionCode
from imgpipe_core.imaging import Limits, MediaType, inspect_image, sniff
from imgpipe_core.imaging.isobmff import read_header

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def colour_at(image: Image.Image, xy: tuple[int, int]) -> tuple[int, int, int]:
    pixel = image.convert("RGB").getpixel(xy)
    assert isinstance(pixel, tuple)
    return pixel[0], pixel[1], pixel[2]


def close_to(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    payload = major + b"\0\0\0\0" + b"".join(compatible)
    return struct.pack(">I", len(payload) + 8) + b"ftyp" + payload


def with_ispe(data: bytes, width: int, height: int) -> bytes:
    """The same file with every ``ispe`` property declaring ``width`` x ``height``."""
    out = bytearray(data)
    start = 0
    while (found := out.find(b"ispe", start)) != -1:
        out[found + 8 : found + 16] = struct.pack(">II", width, height)
        start = found + 4
    return bytes(out)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (ftyp(b"heic", b"mif1", b"heic"), MediaType.HEIC),
        (ftyp(b"mif1", b"heic"), MediaType.HEIC),
        (ftyp(b"heix", b"mif1"), MediaType.HEIC),
        (ftyp(b"avif", b"mif1", b"miaf"), MediaType.AVIF),
        (ftyp(b"avis", b"msf1"), MediaType.AVIF),
        (ftyp(b"mif1", b"avif"), MediaType.AVIF),  # the brand, not its position, decides
        (ftyp(b"isom", b"mp41"), None),  # an MP4 video
        (ftyp(b"crx ", b"isom"), None),  # a Canon raw
        (ftyp(b"jp2 "), None),
        (b"\0\0\0\x0cftyp", None),  # no brands at all
    ],
)
def test_heif_is_sniffed_from_its_ftyp_brands(head: bytes, expected: MediaType | None) -> None:
    assert sniff(head + b"\0" * 16) is expected


@pytest.mark.parametrize(
    ("name", "media_type", "size"),
    [
        ("orientation6-quadrants.heic", MediaType.HEIC, (48, 64)),
        ("orientation6-quadrants.avif", MediaType.AVIF, (48, 64)),
    ],
)
def test_heif_input_is_accepted_and_described_as_displayed(
    name: str, media_type: MediaType, size: tuple[int, int]
) -> None:
    info = inspect_image(fixture(name), Limits())

    assert info.media_type is media_type
    assert (info.width, info.height) == size
    assert info.frames == 1 and not info.animated


@pytest.mark.parametrize("name", ["orientation6-quadrants.heic", "orientation6-quadrants.avif"])
def test_heif_output_is_upright_with_correct_colours(name: str) -> None:
    # GIVEN red|green over blue|white quadrants stored sideways (HEIC: irot; AVIF: EXIF 6)
    image = decoded(render(fixture(name), format="png"))

    # THEN the output is the quadrants turned upright: 48x64, blue top-left, red top-right
    assert image.size == (48, 64)
    assert close_to(colour_at(image, (8, 8)), BLUE)
    assert close_to(colour_at(image, (40, 8)), RED)
    assert close_to(colour_at(image, (8, 56)), WHITE)
    assert close_to(colour_at(image, (40, 56)), GREEN)


def test_heif_icc_profile_is_converted_to_srgb() -> None:
    rendition = render(fixture("icc-gamma18-grey.heic"), format="png")
    image = decoded(rendition)

    # mid grey in a gamma-1.8 space is lighter in sRGB (as the JPEG of the same pixels)
    r, g, b = colour_at(image, (16, 16))
    assert 136 <= r <= 156 and abs(r - g) <= 3 and abs(r - b) <= 3
    assert "icc" in rendition.stripped and "icc_profile" not in image.info


def test_heic_resizes_to_jpeg_and_webp() -> None:
    for fmt in ("jpeg", "webp"):
        rendition = render(fixture("orientation6-quadrants.heic"), width=24, height=24, format=fmt)
        assert (rendition.width, rendition.height) == (18, 24)


def test_avif_sequence_is_animated_and_counted_from_the_header() -> None:
    path = fixture("animated-3-frames.avif")

    assert read_header(path).frames == 3
    assert inspect_image(path, Limits()).animated
    rendition = render(path, format="webp", animated=True)
    assert rendition.frames == 3


def test_avif_sequence_over_the_frame_limit_is_refused_before_decoding() -> None:
    with pytest.raises(ImageRejected) as rejected:
        inspect_image(fixture("animated-3-frames.avif"), Limits(max_frames=2))

    assert rejected.value.code is RejectionCode.TOO_MANY_FRAMES


@pytest.mark.parametrize("name", ["orientation6-quadrants.heic", "orientation6-quadrants.avif"])
def test_heif_bomb_is_refused_from_the_header(tmp_path: Path, name: str) -> None:
    # GIVEN a ~1 KB file whose header declares 50000x50000 pixels
    bomb = tmp_path / f"bomb{Path(name).suffix}"
    bomb.write_bytes(with_ispe(fixture(name).read_bytes(), 50_000, 50_000))

    with pytest.raises(ImageRejected) as rejected:
        inspect_image(bomb, Limits())

    assert rejected.value.code is RejectionCode.DECOMPRESSION_BOMB


def test_heif_over_the_side_limit_is_too_large(tmp_path: Path) -> None:
    big = tmp_path / "big.heic"
    big.write_bytes(with_ispe(fixture("orientation6-quadrants.heic").read_bytes(), 64, 64))

    with pytest.raises(ImageRejected) as rejected:
        inspect_image(big, Limits(max_side=50))

    assert rejected.value.code is RejectionCode.IMAGE_TOO_LARGE


@pytest.mark.parametrize("name", ["orientation6-quadrants.heic", "orientation6-quadrants.avif"])
@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9])
def test_truncated_heif_is_corrupt(tmp_path: Path, name: str, keep: float) -> None:
    whole = fixture(name).read_bytes()
    cut = tmp_path / f"cut{Path(name).suffix}"
    cut.write_bytes(whole[: int(len(whole) * keep)])

    with pytest.raises(ImageRejected) as rejected:
        inspect_image(cut, Limits())

    assert rejected.value.code is RejectionCode.CORRUPT_IMAGE


def test_heif_box_of_impossible_size_is_corrupt(tmp_path: Path) -> None:
    data = bytearray(fixture("orientation6-quadrants.heic").read_bytes())
    meta = data.find(b"meta") - 4
    data[meta : meta + 4] = struct.pack(">I", 3)
    broken = tmp_path / "broken.heic"
    broken.write_bytes(bytes(data))

    with pytest.raises(ImageRejected) as rejected:
        inspect_image(broken, Limits())

    assert rejected.value.code is RejectionCode.CORRUPT_IMAGE


def test_heif_without_image_data_is_corrupt(tmp_path: Path) -> None:
    empty = tmp_path / "brands-only.heic"
    empty.write_bytes(ftyp(b"heic", b"mif1", b"heic"))

    with pytest.raises(ImageRejected) as rejected:
        inspect_image(empty, Limits())

    assert rejected.value.code is RejectionCode.CORRUPT_IMAGE


def test_mp4_video_is_an_unsupported_media_type(tmp_path: Path) -> None:
    video = tmp_path / "clip.heic"  # the name does not matter
    video.write_bytes(ftyp(b"isom", b"isom", b"mp41") + b"\0\0\0\x08free")

    with pytest.raises(ImageRejected) as rejected:
        inspect_image(video, Limits())

    assert rejected.value.code is RejectionCode.UNSUPPORTED_MEDIA_TYPE


@pytest.mark.parametrize(
    "name",
    ["orientation6-quadrants.heic", "orientation6-quadrants.avif", "animated-3-frames.avif"],
)
def test_mutated_heif_files_are_rejected_or_rendered_never_crash(tmp_path: Path, name: str) -> None:
    # GIVEN 150 seeded corruptions of a valid file (bytes overwritten, in the header and data)
    import random

    from imgpipe_core.catalogue import Variant
    from imgpipe_core.errors import RenderError
    from imgpipe_core.imaging import render_variant

    original = fixture(name).read_bytes()
    chance = random.Random(f"heif-{name}")
    variant = Variant(name="t", width=16, height=16)
    outcomes = {"accepted": 0, "rejected": 0}
    for index in range(150):
        data = bytearray(original)
        for _ in range(chance.randint(1, 8)):
            data[chance.randrange(len(data))] = chance.randrange(256)
        path = tmp_path / f"{index}{Path(name).suffix}"
        path.write_bytes(bytes(data))
        # WHEN validated, and rendered if accepted
        try:
            info = inspect_image(path, Limits())
        except ImageRejected:
            outcomes["rejected"] += 1
            continue
        outcomes["accepted"] += 1
        with contextlib.suppress(ImageRejected, RenderError):
            render_variant(path, variant, media_type=info.media_type)
    # THEN nothing else escaped, and both outcomes occurred
    assert outcomes["accepted"] and outcomes["rejected"], outcomes
