"""Pure size arithmetic for fitting an image into a variant's box."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from imgpipe_core.catalogue import Fit, Variant

Box = tuple[float, float, float, float]
_NO_BOX = 1 << 30
# EXIF orientation -> the transpose that makes the image upright (as ImageOps.exif_transpose).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def upright(image: Image.Image, orientation: int) -> Image.Image:
    """``image`` turned as its EXIF orientation says (no copy when already upright)."""
    return image.transpose(_UPRIGHT[orientation]) if orientation in _UPRIGHT else image


@dataclass(frozen=True)
class Plan:
    """Resample ``region`` of a ``source``-sized image to ``size``, then pad to ``canvas``.

    Coordinates are as stored (before EXIF rotation); ``canvas`` is in displayed axes.
    """

    source: tuple[int, int]
    region: Box
    size: tuple[int, int]
    canvas: tuple[int, int] | None = None

    @property
    def resamples(self) -> bool:
        full = (0.0, 0.0, float(self.source[0]), float(self.source[1]))
        return self.region != full or self.size != self.source

    def scaled_region(self, width: int, height: int) -> Box:
        """``region`` in the coordinates of a reduced decode (JPEG draft) of the source."""
        sx, sy = width / self.source[0], height / self.source[1]
        left, top, right, bottom = self.region
        return (left * sx, top * sy, min(right * sx, width), min(bottom * sy, height))


def plan_resize(
    width: int, height: int, variant: Variant, *, transposed: bool = False, max_side: int = 0
) -> Plan:
    """Fit a stored ``width`` x ``height`` image into ``variant``'s box.

    ``transposed`` (EXIF orientations 5-8) swaps the box so the plan is in stored coordinates
    and the result is rotated afterwards. ``max_side`` (0 = none) caps the output for encoders
    with a hard size limit. Never upscales unless the variant allows it; sides are >= 1 px.
    """
    box_w, box_h = variant.width, variant.height
    if transposed:
        box_w, box_h = box_h, box_w
    if max_side:
        box_w = min(box_w or max_side, max_side)
        box_h = min(box_h or max_side, max_side)
    full: Box = (0.0, 0.0, float(width), float(height))

    if variant.fit is Fit.COVER and box_w and box_h:
        scale = max(box_w / width, box_h / height)
        region_w, region_h = min(width, box_w / scale), min(height, box_h / scale)
        left, top = (width - region_w) / 2, (height - region_h) / 2
        region = (left, top, left + region_w, top + region_h)
        if scale > 1 and not variant.upscale:
            # Keep the box's aspect ratio at the source's resolution instead of enlarging.
            size = (min(_side(region_w), width), min(_side(region_h), height))
        else:
            size = (box_w, box_h)
        return Plan(source=(width, height), region=region, size=size)

    scales = [limit / side for limit, side in ((box_w, width), (box_h, height)) if limit]
    if variant.scale is not None:
        scales.append(variant.scale)
    scale = min(scales) if scales else 1.0
    if not variant.upscale:
        scale = min(scale, 1.0)
    # Rounding up may not push a side past its box (e.g. 10000x1 -> 300x1, not 301x1).
    size = (
        min(_side(width * scale), box_w or _NO_BOX),
        min(_side(height * scale), box_h or _NO_BOX),
    )
    if not variant.upscale:
        size = (min(size[0], width), min(size[1], height))
    canvas = None
    if variant.fit in (Fit.CONTAIN, Fit.PAD) and variant.width and variant.height:
        canvas = (variant.width, variant.height)
    return Plan(source=(width, height), region=full, size=size, canvas=canvas)


def _side(value: float) -> int:
    return max(1, round(value))
