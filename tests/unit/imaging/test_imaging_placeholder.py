"""Placeholders: a ThumbHash that decodes to the image's colours, and its dominant colour."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from imaging_support import fixture
from PIL import Image

from imgpipe_core.imaging import Limits, inspect_image
from imgpipe_core.imaging.placeholder import (
    decode_thumbhash,
    dominant_colour,
    placeholder,
    thumbhash,
)

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def near(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 70) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual[:3], expected, strict=True))


def corners(image: Image.Image) -> list[tuple[int, int, int]]:
    """Which of red, green, blue, white each corner is nearest to: tl, tr, bl, br."""
    w, h = image.size
    points = [
        (w // 6, h // 6),
        (5 * w // 6, h // 6),
        (w // 6, 5 * h // 6),
        (5 * w // 6, 5 * h // 6),
    ]
    named = []
    for point in points:
        pixel = image.getpixel(point)
        assert isinstance(pixel, tuple)
        distance = {
            ref: sum((a - b) ** 2 for a, b in zip(pixel[:3], ref, strict=True))
            for ref in (RED, GREEN, BLUE, WHITE)
        }
        named.append(min(distance, key=lambda ref: distance[ref]))
    return named


def decoded_placeholder(path: Path) -> Image.Image:
    info = inspect_image(path, Limits())
    assert info.placeholder is not None
    return decode_thumbhash(base64.b64decode(info.placeholder.thumbhash))


def test_thumbhash_decodes_to_the_quadrant_colours() -> None:
    image = decoded_placeholder(fixture("400x300.jpg"))

    assert corners(image) == [RED, GREEN, BLUE, WHITE]
    assert image.width > image.height  # the aspect ratio travels in the hash


def test_placeholder_is_upright_for_a_sideways_heic() -> None:
    image = decoded_placeholder(fixture("orientation6-quadrants.heic"))

    assert image.height > image.width
    assert corners(image) == [BLUE, RED, WHITE, GREEN]


def test_placeholder_is_in_srgb() -> None:
    # CMYK patches: cyan, magenta, yellow, black, white left to right
    info = inspect_image(fixture("cmyk-patches.jpg"), Limits())

    assert info.placeholder is not None
    decoded = decode_thumbhash(base64.b64decode(info.placeholder.thumbhash))
    assert near(decoded.getpixel((decoded.width // 10, decoded.height // 2)), (0, 255, 255), 110)  # type: ignore[arg-type]


def test_thumbhash_matches_the_reference_encoder() -> None:
    # The reference implementation's hash for this image (thumbhash-python 1.0.1, which agrees
    # with the JavaScript original): the web page and any ThumbHash decoder read ours.
    image = Image.open(fixture("400x300.jpg")).convert("RGBA")
    image.thumbnail((100, 100), Image.Resampling.BOX)

    assert base64.b64encode(thumbhash(image)).decode() == "3/cNpahwinbAZ4h3iKeGiHSv93h8"


def test_thumbhash_of_a_translucent_odd_sized_image_keeps_its_bits() -> None:
    # GIVEN a 97x61 image whose alpha and colours all vary (the alpha-weighted average and the
    # compositing the reference test's opaque photo never reaches)
    g = Image.linear_gradient("L")
    bands = (g, g.rotate(90), g.transpose(Image.Transpose.FLIP_TOP_BOTTOM), g.rotate(270))
    image = Image.merge("RGBA", bands).resize((97, 61))

    # THEN its hash is the one the index-by-index encoder (bit-exact with the reference) gave
    assert base64.b64encode(thumbhash(image)).decode() == "XFeGU4w4IGeIh3hmQMcLhH+IiIh3iHg="


def test_transparency_is_in_the_hash() -> None:
    info = inspect_image(fixture("alpha-half-transparent.png"), Limits())

    assert info.placeholder is not None
    decoded = decode_thumbhash(base64.b64decode(info.placeholder.thumbhash))
    left, right = (
        decoded.getpixel((2, decoded.height // 2)),
        decoded.getpixel((decoded.width - 3, 5)),
    )
    assert left[3] < 80 and right[3] > 200  # type: ignore[index]
    assert info.placeholder.dominant_colour == "#0000ff"  # transparent pixels do not count


@pytest.mark.parametrize(("share", "expected"), [(0.3, "#14a03c"), (0.7, "#c81e1e")])
def test_dominant_colour_is_the_most_common(share: float, expected: str) -> None:
    image = Image.new("RGB", (100, 100), (20, 160, 60))
    image.paste((200, 30, 30), (0, 0, int(100 * share), 100))

    assert dominant_colour(image) == expected


def test_placeholder_is_small_and_deterministic() -> None:
    image = Image.open(fixture("400x300.jpg"))

    first, second = placeholder(image), placeholder(image)
    assert first == second
    assert len(base64.b64decode(first.thumbhash)) <= 25


def test_oversized_input_is_refused_by_the_encoder() -> None:
    with pytest.raises(ValueError, match="at most 100x100"):
        thumbhash(Image.new("RGBA", (101, 10)))
