from __future__ import annotations

import math

import pytest
from imaging_support import decoded, fixture, render
from PIL import Image, ImageChops, ImageStat, features

from imgpipe_core.catalogue import OutputFormat, Variant
from imgpipe_core.errors import ImageRejected, RejectionCode, RenderError
from imgpipe_core.imaging import Limits, render_variant
from imgpipe_core.imaging.colour import to_srgb
from imgpipe_core.imaging.geometry import plan_resize
from imgpipe_core.imaging.metadata import EXIF_ARTIST, EXIF_COPYRIGHT, EXIF_GPS_IFD
from imgpipe_core.imaging.render import draft_jpeg


def colour_at(image: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    pixel = image.convert("RGB").getpixel(xy)
    assert isinstance(pixel, tuple)
    return pixel


def close_to(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


# --- geometry ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "box", "fit", "expected"),
    [
        ((4000, 3000), (300, 300), "inside", (300, 225)),
        ((3000, 4000), (300, 300), "inside", (225, 300)),
        ((200, 100), (300, 300), "inside", (200, 100)),  # never upscaled
        ((10000, 1), (300, 300), "inside", (300, 1)),  # a side never rounds to 0
        ((1, 10000), (800, 600), "inside", (1, 600)),
        ((4000, 3000), (300, 300), "cover", (300, 300)),
        ((200, 100), (300, 300), "cover", (100, 100)),  # box's aspect, source resolution
        ((10000, 1), (300, 300), "cover", (1, 1)),
        ((4000, 3000), (300, 300), "contain", (300, 225)),
    ],
)
def test_plan_sizes(
    source: tuple[int, int], box: tuple[int, int], fit: str, expected: tuple[int, int]
) -> None:
    variant = Variant(name="v", width=box[0], height=box[1], fit=fit)  # type: ignore[arg-type]

    plan = plan_resize(*source, variant)

    assert plan.size == expected
    assert plan.size[0] <= box[0] and plan.size[1] <= box[1]


def test_plan_unbounded_is_full_size_and_capped_by_the_encoder() -> None:
    variant = Variant(name="v", format=OutputFormat.WEBP)

    assert not plan_resize(6000, 4000, variant).resamples
    assert plan_resize(20000, 100, variant, max_side=16383).size == (16383, 82)


def test_plan_swaps_the_box_for_transposed_orientations() -> None:
    variant = Variant(name="v", width=300, height=200)

    # stored 4000x3000 but displayed 3000x4000: fits the displayed image into 300x200
    assert plan_resize(4000, 3000, variant, transposed=True).size == (200, 150)


# --- fit modes and sizes ------------------------------------------------------------------------


def test_inside_keeps_aspect_ratio() -> None:
    rendition = render(fixture("400x300.jpg"), width=100, height=100)

    assert (rendition.width, rendition.height) == (100, 75)
    assert decoded(rendition).size == (100, 75)


def test_cover_centre_crops_to_the_box() -> None:
    rendition = render(fixture("400x300.jpg"), width=100, height=100, fit="cover")
    image = decoded(rendition)

    assert image.size == (100, 100)
    # the 4:3 quadrant image cropped to its centre square keeps all four quadrants
    assert close_to(colour_at(image, (10, 10)), (255, 0, 0), 40)
    assert close_to(colour_at(image, (90, 90)), (255, 255, 255), 40)


@pytest.mark.parametrize("fit", ["contain", "pad"])
def test_contain_pads_with_the_background(fit: str) -> None:
    rendition = render(fixture("400x300.jpg"), width=100, height=100, fit=fit, background="#00ff00")
    image = decoded(rendition)

    assert image.size == (100, 100)
    assert close_to(colour_at(image, (50, 2)), (0, 255, 0))  # letterbox band
    assert close_to(colour_at(image, (50, 97)), (0, 255, 0))


def test_never_upscales_unless_asked() -> None:
    assert decoded(render(fixture("1x1.png"), width=300, height=300)).size == (1, 1)
    assert decoded(render(fixture("1x1.png"), width=300, height=300, upscale=True)).size == (
        300,
        300,
    )


@pytest.mark.parametrize(
    ("source", "spec", "expected"),
    [
        ((4000, 3000), {"scale": 0.5}, (2000, 1500)),
        ((4000, 3000), {"scale": 0.5, "width": 1000}, (1000, 750)),  # the box bounds it
        ((4000, 3000), {"scale": 0.25, "width": 3000, "height": 3000}, (1000, 750)),
        ((3, 1), {"scale": 0.1}, (1, 1)),  # a side never rounds to 0
        ((4000, 3000), {"scale": 1.0}, (4000, 3000)),
    ],
)
def test_plan_scale_is_proportional_and_bounded_by_the_box(
    source: tuple[int, int], spec: dict[str, object], expected: tuple[int, int]
) -> None:
    assert plan_resize(*source, Variant.model_validate({"name": "v", **spec})).size == expected


def test_half_scale_variant_is_half_the_displayed_size() -> None:
    # GIVEN a 64x48 JPEG stored sideways (orientation 6, displayed 48x64)
    # WHEN rendered at scale 0.5
    rendition = render(fixture("gps-copyright-orientation6.jpg"), scale=0.5)

    # THEN it is half the displayed size, upright
    assert (rendition.width, rendition.height) == (24, 32)
    assert decoded(rendition).size == (24, 32)
    assert decoded(render(fixture("400x300.jpg"), scale=0.5)).size == (200, 150)


def test_extreme_aspect_ratio() -> None:
    image = decoded(render(fixture("10000x1.png"), width=300, height=300))

    assert image.size == (300, 1)


# --- colour and modes ----------------------------------------------------------------------


def test_alpha_is_flattened_on_the_background_for_jpeg() -> None:
    image = decoded(render(fixture("alpha-half-transparent.png"), background="#ff00ff"))

    assert image.mode == "RGB"
    assert close_to(colour_at(image, (5, 20)), (255, 0, 255))  # transparent half
    assert close_to(colour_at(image, (55, 20)), (0, 0, 255))


@pytest.mark.parametrize("fmt", ["webp", "png"])
def test_alpha_is_kept_for_formats_that_have_it(fmt: str) -> None:
    image = decoded(render(fixture("alpha-half-transparent.png"), format=fmt))

    assert image.mode == "RGBA"
    assert image.getpixel((5, 20))[3] == 0  # type: ignore[index]
    assert image.getpixel((55, 20))[3] == 255  # type: ignore[index]


def test_auto_format_picks_webp_for_alpha_and_jpeg_otherwise() -> None:
    assert render(fixture("alpha-half-transparent.png"), format="auto").format is OutputFormat.WEBP
    assert render(fixture("400x300.jpg"), format="auto").format is OutputFormat.JPEG


def test_cmyk_jpeg_comes_out_as_srgb() -> None:
    image = decoded(render(fixture("cmyk-patches.jpg"), format="png"))

    assert image.mode == "RGB"
    for index, expected in enumerate(
        [(0, 255, 255), (255, 0, 255), (255, 255, 0), (0, 0, 0), (255, 255, 255)]
    ):
        assert close_to(colour_at(image, (index * 8 + 4, 5)), expected, 20), index


def test_icc_profile_is_converted_to_srgb_then_dropped() -> None:
    rendition = render(fixture("icc-gamma18-grey.jpg"), format="png")
    image = decoded(rendition)

    # mid grey in a gamma-1.8 space is lighter in sRGB (gamma ~2.2)
    r, g, b = colour_at(image, (16, 16))
    assert 140 <= r <= 152 and abs(r - g) <= 2 and abs(r - b) <= 2
    assert "icc_profile" not in image.info
    assert "icc" in rendition.stripped


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA"])
def test_without_a_profile_nothing_is_copied(mode: str) -> None:
    # A full-size image reaches to_srgb when no resize is needed: a copy would double its memory
    image = Image.new(mode, (8, 8))

    assert to_srgb(image, None) is image
    assert to_srgb(image, b"not an ICC profile") is image


def test_keep_icc_keeps_pixels_and_profile() -> None:
    rendition = render(fixture("icc-gamma18-grey.jpg"), format="png", keep_icc=True)
    image = decoded(rendition)

    assert image.info.get("icc_profile")
    assert close_to(colour_at(image, (16, 16)), (128, 128, 128), 2)
    assert "icc" not in rendition.stripped


@pytest.mark.parametrize(
    ("name", "mode"),
    [("16bit-grey-white.png", "L"), ("palette-transparent.png", "RGBA"), ("1bit.png", "L")],
)
def test_special_modes_render(name: str, mode: str) -> None:
    image = decoded(render(fixture(name), format="png"))

    assert image.mode == mode
    if name == "16bit-grey-white.png":
        assert image.getpixel((0, 0)) == 255  # scaled, not clipped or wrapped


# --- metadata ------------------------------------------------------------------------------


def test_metadata_is_stripped_and_recorded() -> None:
    rendition = render(fixture("gps-copyright-orientation6.jpg"))
    image = decoded(rendition)

    assert len(image.getexif()) == 0
    assert "comment" not in image.info
    assert rendition.stripped == ["exif", "gps", "comment"]


@pytest.mark.parametrize("fmt", ["jpeg", "webp", "png"])
def test_keep_copyright_keeps_only_artist_and_copyright(fmt: str) -> None:
    image = decoded(
        render(fixture("gps-copyright-orientation6.jpg"), format=fmt, keep_copyright=True)
    )
    exif = image.getexif()

    assert exif.get(EXIF_ARTIST) == "Ada Lovelace"
    assert exif.get(EXIF_COPYRIGHT) == "(c) 2024 Ada Lovelace"
    assert set(exif) == {EXIF_ARTIST, EXIF_COPYRIGHT}
    assert not exif.get_ifd(EXIF_GPS_IFD)


def test_output_is_upright_without_an_orientation_tag() -> None:
    image = decoded(render(fixture("gps-copyright-orientation6.jpg"), keep_copyright=True))

    assert image.size == (48, 64)
    assert 0x0112 not in image.getexif()
    # orientation 6 = rotate 90 clockwise to display: top-left red quadrant ends up top-right
    assert close_to(colour_at(image, (40, 8)), (255, 0, 0), 40)
    assert close_to(colour_at(image, (8, 56)), (255, 255, 255), 40)


# --- animation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["animated-3-frames.gif", "animated-3-frames.webp", "animated-3-frames.png"]
)
def test_animated_input_gives_the_first_frame_by_default(name: str) -> None:
    rendition = render(fixture(name), format="webp")
    image = decoded(rendition)

    assert rendition.frames == 1
    assert getattr(image, "n_frames", 1) == 1
    assert close_to(colour_at(image, (10, 10)), (255, 0, 0))


@pytest.mark.parametrize(
    "name", ["animated-3-frames.gif", "animated-3-frames.webp", "animated-3-frames.png"]
)
def test_animated_variant_gives_an_animated_webp(name: str) -> None:
    rendition = render(fixture(name), format="webp", animated=True, width=20, height=20)
    image = decoded(rendition)

    assert rendition.frames == 3 and getattr(image, "n_frames", 1) == 3
    assert image.size == (20, 15)
    image.seek(2)
    assert close_to(colour_at(image, (10, 7)), (0, 0, 255))


def test_a_still_variant_of_a_gif_reads_only_its_first_frame() -> None:
    # GIVEN a 3-frame GIF and a frame limit it is over (so counting its frames would refuse it)
    limits = Limits(max_frames=2)
    source = fixture("animated-3-frames.gif")
    still = Variant.model_validate({"name": "still", "format": "webp"})
    animated = still.model_copy(update={"animated": True})

    # WHEN a still variant is rendered THEN it is the first frame: no frame was counted
    rendition = render_variant(source, still, limits=limits)
    assert rendition.frames == 1
    assert close_to(colour_at(decoded(rendition), (10, 10)), (255, 0, 0))
    # ... while an animated one still counts them, and is refused
    with pytest.raises(ImageRejected) as refused:
        render_variant(source, animated, limits=limits)
    assert refused.value.code is RejectionCode.TOO_MANY_FRAMES


# --- formats and errors ---------------------------------------------------------------------------


@pytest.mark.skipif(not features.check("avif"), reason="this Pillow has no AVIF encoder")
def test_avif_output() -> None:
    rendition = render(fixture("400x300.jpg"), format="avif", width=100, height=100, effort=9)

    assert (rendition.content_type, rendition.extension) == ("image/avif", "avif")
    assert decoded(rendition).size == (100, 75)


@pytest.mark.parametrize(
    ("fmt", "content_type", "extension"),
    [("jpeg", "image/jpeg", "jpg"), ("png", "image/png", "png"), ("webp", "image/webp", "webp")],
)
def test_rendition_describes_its_encoding(fmt: str, content_type: str, extension: str) -> None:
    rendition = render(fixture("400x300.jpg"), format=fmt, width=50, height=50)

    assert (rendition.content_type, rendition.extension) == (content_type, extension)
    assert decoded(rendition).format == fmt.upper()


def test_output_is_always_re_encoded() -> None:
    source = fixture("400x300.jpg")

    assert render(source).data != source.read_bytes()


def test_jpeg_output_is_progressive() -> None:
    assert decoded(render(fixture("400x300.jpg"))).info.get("progressive")


def test_render_repeats_the_header_checks() -> None:
    with pytest.raises(ImageRejected) as caught:
        render_variant(fixture("image.svg"), Variant(name="v"), limits=Limits())

    assert caught.value.code is RejectionCode.UNSUPPORTED_MEDIA_TYPE


def test_undecodable_image_after_validation_is_a_render_error() -> None:
    with pytest.raises(RenderError):
        render_variant(fixture("truncated.png"), Variant(name="v"))


@pytest.mark.parametrize(
    ("name", "least", "eighths"),
    [
        ("400x300.jpg", 0.325, 3),  # 1/4 is too small: libjpeg's 3/8
        ("400x300.jpg", 0.25, 2),  # 1/4 is enough
        ("400x300.jpg", 0.4, 4),  # 3/8 is too small: 1/2
        ("400x300.jpg", 0.75, 8),  # nothing smaller: full size
        ("cmyk-patches.jpg", 0.325, 3),
    ],
)
def test_jpeg_draft_decodes_at_the_smallest_dct_scale_that_is_large_enough(
    name: str, least: float, eighths: int
) -> None:
    # GIVEN a JPEG and the least size its resize needs (a fraction of its own)
    full = Image.open(fixture(name))
    full.load()
    target = (math.ceil(full.width * least), math.ceil(full.height * least))
    image = Image.open(fixture(name))

    # WHEN it is decoded with the draft
    draft_jpeg(image, target)
    image.load()

    # THEN it is that DCT scale's size (libjpeg rounds up), in its own mode, and the whole
    # picture: close to the full decode shrunk to the same size
    assert image.size == (-(-full.width * eighths // 8), -(-full.height * eighths // 8))
    assert image.mode == full.mode
    expected = full.resize(image.size, Image.Resampling.BOX)
    difference = ImageStat.Stat(ImageChops.difference(image, expected)).mean
    assert max(difference) < 4.0, difference
