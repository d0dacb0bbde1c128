"""Watermarks: where the anchor says, nowhere else, on every frame, above a minimum size."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from imaging_support import decoded, fixture, render
from PIL import Image, ImageChops, ImageSequence
from pydantic import ValidationError

from imgpipe_core.catalogue import Anchor, Variant, Watermark
from imgpipe_core.errors import RenderError

GREY = (90, 100, 110)


@pytest.fixture
def grey_400x300(tmp_path: Path) -> Path:
    path = tmp_path / "grey-400x300.png"
    Image.new("RGB", (400, 300), GREY).save(path)
    return path


def changed_box(image: Image.Image) -> tuple[int, int, int, int] | None:
    """Bounding box of the pixels that differ from the plain grey source."""
    plain = Image.new("RGB", image.size, GREY)
    return (
        ImageChops.difference(image.convert("RGB"), plain).point(lambda v: v > 8 and 255).getbbox()
    )


@pytest.mark.parametrize("anchor", list(Anchor))
def test_text_watermark_is_where_its_anchor_says_and_nowhere_else(
    grey_400x300: Path, anchor: Anchor
) -> None:
    # GIVEN a plain image and a text watermark at one of the nine anchors, 10 % margin
    mark = {"text": "imgpipe", "position": anchor.value, "margin": 0.05, "opacity": 1.0}

    # WHEN rendered losslessly
    image = decoded(render(grey_400x300, format="png", watermark=mark))

    # THEN every changed pixel is inside the anchor's cell of a 3x3 grid, next to its margin
    box = changed_box(image)
    assert box is not None
    column = ("left" in anchor.value, anchor.value in ("top", "centre", "bottom"))
    row = ("top" in anchor.value, anchor.value in ("left", "centre", "right"))
    left, top, right, bottom = box
    assert right - left == pytest.approx(100, abs=4)  # size 0.25 of the width
    if column[0]:
        assert left == pytest.approx(20, abs=3)
    elif column[1]:
        assert (left + right) / 2 == pytest.approx(200, abs=3)
    else:
        assert right == pytest.approx(380, abs=3)
    if row[0]:
        assert top == pytest.approx(20, abs=3)
    elif row[1]:
        assert (top + bottom) / 2 == pytest.approx(150, abs=4)
    else:
        assert bottom == pytest.approx(280, abs=3)


def test_image_watermark_is_bundled_scaled_and_blended(grey_400x300: Path) -> None:
    strong = decoded(
        render(grey_400x300, format="png", watermark={"image": "imgpipe-badge.png", "opacity": 1})
    )
    faint = decoded(
        render(grey_400x300, format="png", watermark={"image": "imgpipe-badge.png", "opacity": 0.3})
    )

    box = changed_box(strong)
    assert box is not None and box[2] - box[0] == pytest.approx(100, abs=2)
    assert box[2] == pytest.approx(392, abs=2) and box[3] == pytest.approx(292, abs=2)  # 2 % margin
    centre = ((box[0] + box[2]) // 2, (box[1] + box[3]) // 2)
    strong_diff = sum(abs(a - b) for a, b in zip(strong.getpixel(centre), GREY, strict=True))
    faint_diff = sum(abs(a - b) for a, b in zip(faint.getpixel(centre), GREY, strict=True))
    assert 0 < faint_diff < strong_diff * 0.5


def test_watermark_is_drawn_after_the_resize(grey_400x300: Path) -> None:
    image = decoded(
        render(
            grey_400x300,
            width=240,
            format="png",
            watermark={"text": "x", "size": 0.5, "min_size": 100},
        )
    )

    box = changed_box(image)
    assert image.size == (240, 180)
    assert box is not None and box[2] - box[0] == pytest.approx(120, abs=4)


def test_small_outputs_get_no_watermark(grey_400x300: Path) -> None:
    mark = {"text": "imgpipe", "min_size": 200}

    assert (
        changed_box(decoded(render(grey_400x300, width=150, format="png", watermark=mark))) is None
    )
    assert changed_box(decoded(render(grey_400x300, width=300, format="png", watermark=mark)))


def test_every_frame_of_an_animation_is_watermarked() -> None:
    mark = {"text": "imgpipe", "min_size": 1, "position": "centre", "opacity": 1.0}
    plain = render(fixture("animated-3-frames.gif"), format="webp", animated=True, quality=100)
    marked = render(
        fixture("animated-3-frames.gif"), format="webp", animated=True, quality=100, watermark=mark
    )

    with Image.open(io.BytesIO(plain.data)) as before, Image.open(io.BytesIO(marked.data)) as after:
        pairs = list(
            zip(ImageSequence.all_frames(before), ImageSequence.all_frames(after), strict=True)
        )
    assert len(pairs) == 3
    for old, new in pairs:
        assert ImageChops.difference(old.convert("RGB"), new.convert("RGB")).getbbox()


def test_watermark_keeps_transparency_elsewhere() -> None:
    image = decoded(
        render(
            fixture("alpha-half-transparent.png"),
            format="png",
            watermark={"text": "imgpipe", "min_size": 1, "position": "right", "opacity": 1},
        )
    )

    # the left half of this fixture is fully transparent; the mark sits on the right half
    assert image.mode == "RGBA"
    assert image.getpixel((2, 2))[3] == 0  # type: ignore[index]
    right = image.crop((30, 0, 60, 40)).convert("RGB")
    assert ImageChops.difference(right, Image.new("RGB", right.size, (0, 0, 255))).getbbox()


def test_bucket_watermark_must_be_supplied(grey_400x300: Path) -> None:
    with pytest.raises(RenderError, match="not supplied"):
        render(grey_400x300, watermark={"image": "watermarks/logo.png"})


def test_bucket_watermark_is_drawn_from_the_bytes_given(grey_400x300: Path) -> None:
    from imgpipe_core.imaging import Limits, inspect_image, render_variant

    logo = io.BytesIO()
    Image.new("RGBA", (50, 50), (255, 0, 0, 255)).save(logo, "PNG")
    variant = Variant.model_validate(
        {"name": "v", "format": "png", "watermark": {"image": "watermarks/red.png", "opacity": 1}}
    )

    rendition = render_variant(
        grey_400x300,
        variant,
        media_type=inspect_image(grey_400x300, Limits()).media_type,
        watermark_image=logo.getvalue(),
    )

    image = decoded(rendition)
    assert image.getpixel((340, 240)) == (255, 0, 0)
    assert image.getpixel((100, 100)) == GREY


def test_unreadable_watermark_image_is_a_render_error(grey_400x300: Path) -> None:
    from imgpipe_core.imaging import Limits, inspect_image, render_variant

    variant = Variant.model_validate({"name": "v", "watermark": {"image": "watermarks/x.png"}})
    with pytest.raises(RenderError, match="unreadable watermark"):
        render_variant(
            grey_400x300,
            variant,
            media_type=inspect_image(grey_400x300, Limits()).media_type,
            watermark_image=b"not a png",
        )


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"text": "a", "image": "imgpipe-badge.png"},
        {"image": "no-such-bundled.png"},
        {"image": "../imgpipe-badge.png"},
        {"image": "logo.jpg"},
        {"text": ""},
        {"text": "a", "opacity": 1.5},
        {"text": "a", "size": 0},
        {"text": "a", "position": "middle"},
        {"text": "a", "margin": 0.5},
        {"text": "a", "colour": "white"},
    ],
)
def test_invalid_watermarks_are_refused(spec: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Watermark.model_validate(spec)
