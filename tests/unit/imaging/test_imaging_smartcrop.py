"""Smart crop for ``fit: cover``: the window follows the subject, deterministically."""

from __future__ import annotations

from pathlib import Path

import pytest
from imaging_support import decoded, render
from PIL import Image, ImageDraw

from imgpipe_core.catalogue import Crop
from imgpipe_core.imaging.smartcrop import place_window

SKIN = (224, 172, 140)
BACKDROP = (120, 130, 125)


def off_centre_subject(size: tuple[int, int], centre: tuple[int, int]) -> Image.Image:
    """A flat grey-green backdrop with a textured, skin-toned face-sized disc at ``centre``."""
    image = Image.new("RGB", size, BACKDROP)
    draw = ImageDraw.Draw(image)
    radius = min(size) // 3
    x, y = centre
    draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=SKIN)
    for eye in (-radius // 3, radius // 3):
        draw.ellipse((x + eye - 6, y - 10, x + eye + 6, y + 2), fill=(40, 30, 30))
    draw.line(
        (x - radius // 3, y + radius // 2, x + radius // 3, y + radius // 2), (150, 60, 60), 4
    )
    return image


def subject_share(image: Image.Image) -> float:
    """Fraction of pixels that are (near) skin tone."""
    rgb = image.convert("RGB").tobytes()
    pixels = [tuple(rgb[i : i + 3]) for i in range(0, len(rgb), 3)]
    near = [p for p in pixels if all(abs(a - b) <= 30 for a, b in zip(p, SKIN, strict=True))]
    return len(near) / len(pixels)


@pytest.fixture
def landscape_subject_left(tmp_path: Path) -> Path:
    path = tmp_path / "subject-left-600x200.png"
    off_centre_subject((600, 200), (90, 100)).save(path)
    return path


@pytest.mark.parametrize("crop", ["attention", "entropy"])
def test_smart_crop_keeps_an_off_centre_subject_that_centre_loses(
    landscape_subject_left: Path, crop: str
) -> None:
    # GIVEN a wide image whose subject sits in its left sixth
    # WHEN it is covered into a square with the centre and with a smart crop
    centre = decoded(render(landscape_subject_left, width=100, height=100, fit="cover"))
    smart = decoded(render(landscape_subject_left, width=100, height=100, fit="cover", crop=crop))

    # THEN the centre square holds none of the subject, the smart one most of it
    assert centre.size == smart.size == (100, 100)
    assert subject_share(centre) < 0.01
    assert subject_share(smart) > 0.3


def test_attention_follows_the_subject_down_a_portrait(tmp_path: Path) -> None:
    path = tmp_path / "subject-bottom.jpg"
    off_centre_subject((200, 600), (100, 500)).save(path, quality=92)

    smart = decoded(render(path, width=100, height=100, fit="cover", crop="attention"))

    assert subject_share(smart) > 0.3


def test_smart_crop_is_deterministic(landscape_subject_left: Path) -> None:
    spec = {"width": 120, "height": 120, "fit": "cover", "crop": "attention"}

    assert (
        render(landscape_subject_left, **spec).data == render(landscape_subject_left, **spec).data
    )


@pytest.mark.parametrize("crop", list(Crop))
def test_uniform_image_is_cropped_in_the_centre(crop: Crop) -> None:
    assert place_window(Image.new("RGB", (300, 100), BACKDROP), (100, 100), crop) == (100, 0)


def test_window_never_leaves_the_image() -> None:
    image = off_centre_subject((1000, 100), (990, 50))

    x, y = place_window(image, (100, 100), Crop.ATTENTION)

    assert 0 <= x <= 900 and y == 0
    assert x > 800


def test_smart_crop_honours_orientation(tmp_path: Path) -> None:
    # GIVEN a portrait stored sideways (EXIF 6) with its subject at the displayed top
    stored = off_centre_subject((600, 200), (510, 100))  # stored right == displayed top
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "sideways.jpg"
    stored.save(path, quality=92, exif=exif)

    smart = decoded(render(path, width=100, height=100, fit="cover", crop="attention"))

    assert subject_share(smart) > 0.3
