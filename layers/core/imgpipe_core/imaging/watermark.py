"""Watermarks: text in a bundled font or a PNG, drawn onto the resized frames.

Drawn after the resize, on the output-sized frame: the cost is that of the small image, and the
mark has the same size and sharpness in every variant whatever the source's resolution. The font
is bundled (DejaVu Sans, licence beside it) so text renders the same on every machine.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from imgpipe_core.catalogue import BUNDLED_WATERMARKS, Anchor, Watermark, rgba
from imgpipe_core.errors import RenderError

if TYPE_CHECKING:
    from PIL.ImageFont import FreeTypeFont

FONT_PATH = Path(__file__).parent / "assets" / "fonts" / "DejaVuSans.ttf"
# A watermark image is the operator's, not an upload, but it is still decoded with a bound.
MAX_WATERMARK_PIXELS = 4096 * 4096
MAX_WATERMARK_BYTES = 4 * 1024 * 1024
# The size text is laid out at before scaling to the watermark's width: fine enough that the
# measured width is within a pixel at any output size.
_LAYOUT_POINTS = 200
# Outline of text, per pixel of font size: keeps white text legible on white areas.
_STROKE_PER_PIXEL = 1 / 24

_COLUMN = {Anchor.TOP_LEFT: 0, Anchor.LEFT: 0, Anchor.BOTTOM_LEFT: 0}
_COLUMN |= {Anchor.TOP: 1, Anchor.CENTRE: 1, Anchor.BOTTOM: 1}
_COLUMN |= {Anchor.TOP_RIGHT: 2, Anchor.RIGHT: 2, Anchor.BOTTOM_RIGHT: 2}
_ROW = {Anchor.TOP_LEFT: 0, Anchor.TOP: 0, Anchor.TOP_RIGHT: 0}
_ROW |= {Anchor.LEFT: 1, Anchor.CENTRE: 1, Anchor.RIGHT: 1}
_ROW |= {Anchor.BOTTOM_LEFT: 2, Anchor.BOTTOM: 2, Anchor.BOTTOM_RIGHT: 2}


def load_mark_image(data: bytes) -> Image.Image:
    """Decode a watermark PNG (bytes of a bundled file or a bucket object) as RGBA."""
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            if image.width * image.height > MAX_WATERMARK_PIXELS:
                raise RenderError(f"watermark image of {image.width}x{image.height} is too large")
            return image.convert("RGBA")
    except RenderError:
        raise
    except Exception as exc:
        raise RenderError(f"unreadable watermark image: {type(exc).__name__}: {exc}") from exc


def stamp(mark: Watermark, frame_size: tuple[int, int], supplied: bytes | None) -> Image.Image:
    """The mark as an RGBA layer for frames of ``frame_size`` (opacity applied), unplaced.

    ``supplied`` is the PNG of a bucket-key image (the caller downloads it); bundled images
    are read here.
    """
    image = None
    if mark.image is not None:
        data = supplied if mark.is_bucket_key else (BUNDLED_WATERMARKS / mark.image).read_bytes()
        if data is None:
            raise RenderError(f"watermark image {mark.image!r} was not supplied")
        image = load_mark_image(data)
    return _layer(mark, frame_size, image)


def _layer(mark: Watermark, frame_size: tuple[int, int], image: Image.Image | None) -> Image.Image:
    width, height = frame_size
    target = max(1, round(mark.size * width))
    if mark.text is not None:
        layer = _text_layer(mark.text, target, rgba(mark.colour))
    else:
        assert image is not None
        layer = image.resize(
            (target, max(1, round(image.height * target / image.width))), Image.Resampling.LANCZOS
        )
    room = (max(1, width - 2 * _margin(mark, width)), max(1, height - 2 * _margin(mark, width)))
    if layer.width > room[0] or layer.height > room[1]:
        layer.thumbnail(room, Image.Resampling.LANCZOS)  # a tall mark still fits the frame
    if mark.opacity < 1:
        alpha = layer.getchannel("A").point(lambda value: round(value * mark.opacity))
        layer.putalpha(alpha)
    return layer


def position(
    mark: Watermark, frame_size: tuple[int, int], layer_size: tuple[int, int]
) -> tuple[int, int]:
    """Top-left corner of the layer for ``mark``'s anchor and margin."""
    width, height = frame_size
    margin = _margin(mark, width)
    spare = (width - layer_size[0], height - layer_size[1])
    x = (margin, spare[0] // 2, spare[0] - margin)[_COLUMN[mark.position]]
    y = (margin, spare[1] // 2, spare[1] - margin)[_ROW[mark.position]]
    return max(0, x), max(0, y)


def applies(mark: Watermark | None, frame_size: tuple[int, int]) -> bool:
    return mark is not None and min(frame_size) >= mark.min_size


def apply(frame: Image.Image, mark: Watermark, layer: Image.Image) -> Image.Image:
    """``frame`` with ``layer`` composited at the mark's anchor; the frame keeps alpha if it had."""
    at = position(mark, frame.size, layer.size)
    if frame.mode in ("LA", "RGBA"):
        result = frame.convert("RGBA")
        result.alpha_composite(layer, at)
        return result
    result = frame.convert("RGB") if frame.mode != "RGB" else frame.copy()
    result.paste(layer, at, layer)
    return result


def _margin(mark: Watermark, width: int) -> int:
    return round(mark.margin * width)


def _text_layer(text: str, width: int, colour: tuple[int, int, int, int]) -> Image.Image:
    from PIL import ImageDraw  # with FreeType, ~1.5 MB: only for variants that draw text

    layout = _font(_LAYOUT_POINTS)
    points = max(1, round(_LAYOUT_POINTS * width / max(1.0, layout.getlength(text))))
    font = _font(points)
    stroke = max(1, round(points * _STROKE_PER_PIXEL))
    left, top, right, bottom = (int(edge) for edge in font.getbbox(text, stroke_width=stroke))
    layer = Image.new("RGBA", (max(1, right - left), max(1, bottom - top)), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    shadow = (0, 0, 0, round(colour[3] * 0.6))
    draw.text((-left, -top), text, font=font, fill=colour, stroke_width=stroke, stroke_fill=shadow)
    return layer


@lru_cache(maxsize=32)
def _font(points: int) -> FreeTypeFont:
    from PIL import ImageFont

    # Basic layout: no libraqm dependency, identical on every build of Pillow.
    return ImageFont.truetype(FONT_PATH, points, layout_engine=ImageFont.Layout.BASIC)
