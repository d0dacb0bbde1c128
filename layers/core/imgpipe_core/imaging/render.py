"""Render one variant of a validated image: decode once, shrink early, re-encode."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

from PIL import Image, ImageFile, features
from pydantic import BaseModel, ConfigDict, Field

from imgpipe_core.catalogue import Crop, OutputFormat, Variant
from imgpipe_core.errors import ImageRejected, RenderError
from imgpipe_core.imaging import _pillow, _webp, resample, smartcrop, watermark
from imgpipe_core.imaging.colour import drop_opaque_alpha, flatten, resamplable, to_srgb
from imgpipe_core.imaging.encode import (
    FULL_CHROMA_FROM_QUALITY,
    encode,
    max_side,
    resolve_format,
)
from imgpipe_core.imaging.geometry import Plan, plan_resize, upright
from imgpipe_core.imaging.limits import Limits
from imgpipe_core.imaging.media import MediaType
from imgpipe_core.imaging.metadata import copyright_exif, found_metadata, read_exif
from imgpipe_core.imaging.probe import ImageInfo, open_checked

# Shrink-on-load (libjpeg DCT scaling, libwebp's scaler) leaves at least this much for LANCZOS.
# Measured after encoding against a full-decode LANCZOS reference: 1.3x lets 12 MP -> 1440x1080
# decode at 1/2 (SSIM -0.001, 2.7x less CPU) and 800x600 at 3/8 (SSIM as at 1/2); 1.0x would
# take 800x600 to 1/4 (SSIM -0.002).
DRAFT_HEADROOM = 1.3
_DEFAULT_FRAME_MS = 100


class Rendition(BaseModel):
    """One encoded variant, ready to upload."""

    model_config = ConfigDict(frozen=True)

    variant: str
    data: bytes = Field(repr=False)
    width: int
    height: int
    format: OutputFormat
    content_type: str
    extension: str
    frames: int = 1
    stripped: list[str] = Field(default_factory=list)  # metadata kinds removed from the source


def render_variant(
    source: Path,
    variant: Variant,
    *,
    media_type: MediaType | None = None,
    limits: Limits | None = None,
    watermark_image: bytes | None = None,
) -> Rendition:
    """Render ``variant`` from ``source`` (a local file), decoding it once.

    ``watermark_image`` is the PNG of a watermark kept in the bucket (bundled ones need none).
    ``media_type`` is the type validation sniffed: another one now means the source changed.

    The header checks of validation are repeated (they cost no decode) because the object may
    have changed since; they raise :class:`ImageRejected`. A still variant reads a GIF's first
    frame only, so its frames are counted (by walking them all) only for an animated one.
    Anything failing after them raises :class:`RenderError`.
    """
    limits = limits or Limits()
    with _pillow.guarded(limits):
        image, checked = open_checked(Path(source), limits, count_frames=variant.animated)
        with image:
            if media_type is not None and media_type is not checked.media_type:
                raise RenderError(f"source changed since validation: now {checked.media_type}")
            try:
                return _render(Path(source), image, checked, variant, watermark_image)
            except (ImageRejected, RenderError, MemoryError):
                raise
            except Exception as exc:
                raise RenderError(
                    f"cannot render {variant.name}: {type(exc).__name__}: {exc}"
                ) from exc


def _render(
    source: Path,
    image: ImageFile.ImageFile,
    info: ImageInfo,
    variant: Variant,
    watermark_image: bytes | None,
) -> Rendition:
    if variant.format is OutputFormat.AVIF and not features.check("avif"):
        raise RenderError("this Pillow build cannot encode AVIF")
    animated = variant.animated and info.animated
    plan = plan_resize(
        *image.size,
        variant,
        transposed=info.orientation >= 5,
        max_side=max_side(variant.format),
    )
    exif = read_exif(image)
    icc = image.info.get("icc_profile") or None
    if info.media_type is MediaType.JPEG and plan.resamples:
        ycbcr = _keeps_ycbcr(image, info, variant, plan, icc)
        draft_jpeg(image, _shrink_target(plan), mode="YCbCr" if ycbcr else None)
    still_webp = None
    if info.media_type is MediaType.WEBP and info.frames == 1:
        still_webp = _webp.decode(
            source,
            _shrink_target(plan) if plan.resamples else None,
            ycbcr=plan.resamples and _ycbcr_suits(info, variant, plan, icc),
        )

    if variant.crop is not Crop.CENTRE and plan.resamples:
        assert not isinstance(still_webp, _webp.Planes)  # asked for a centre crop only
        if still_webp is None:
            image.seek(0)
            image.load()
        plan = _placed(plan, still_webp or image, variant.crop)

    frames: list[Image.Image] = []
    durations: list[int] = []
    if still_webp is not None:
        durations.append(_DEFAULT_FRAME_MS)
        frames.append(_process(still_webp, plan, info.orientation, variant, icc))
        del still_webp
    else:
        for index in range(info.frames if animated else 1):
            image.seek(index)
            image.load()
            durations.append(int(image.info.get("duration") or _DEFAULT_FRAME_MS))
            processed = _process(image, plan, info.orientation, variant, icc)
            # Untouched frames are the decoder's own buffer, which the next seek overwrites.
            frames.append(processed.copy() if animated and processed is image else processed)
    mark = variant.watermark
    if mark is not None and watermark.applies(mark, frames[0].size):
        layer = watermark.stamp(mark, frames[0].size, watermark_image)
        frames = [watermark.apply(frame, mark, layer) for frame in frames]
    loop = int(image.info.get("loop", 0) or 0)
    stripped = found_metadata(image, exif)
    if all(frame is not image for frame in frames):
        # The full-size decode is no longer needed; free it before encoding.
        image.close()

    has_alpha = any(frame.mode in ("LA", "RGBA") for frame in frames)
    fmt = resolve_format(variant.format, has_alpha=has_alpha, animated=len(frames) > 1)
    if fmt is OutputFormat.JPEG:
        frames = [flatten(frame, variant.background_rgba) for frame in frames]
    if variant.keep_icc and icc and _icc_kept(info.mode):
        stripped.remove("icc")
        kept_icc: bytes | None = icc
    else:
        kept_icc = None
    data = encode(
        frames,
        fmt,
        variant,
        durations=durations,
        loop=loop,
        exif=copyright_exif(exif) if variant.keep_copyright else None,
        icc_profile=kept_icc,
    )
    width, height = frames[0].size
    return Rendition(
        variant=variant.name,
        data=data,
        width=width,
        height=height,
        format=fmt,
        content_type=fmt.content_type,
        extension=fmt.extension,
        frames=len(frames),
        stripped=stripped,
    )


def _placed(plan: Plan, decoded: Image.Image, crop: Crop) -> Plan:
    """Move ``plan``'s crop window where ``crop`` says, judged on the (possibly reduced) decode."""
    left, top, right, bottom = plan.scaled_region(*decoded.size)
    x, y = smartcrop.place_window(resamplable(decoded), (right - left, bottom - top), crop)
    sx, sy = plan.source[0] / decoded.width, plan.source[1] / decoded.height
    width, height = plan.region[2] - plan.region[0], plan.region[3] - plan.region[1]
    x0 = min(max(0.0, x * sx), plan.source[0] - width)
    y0 = min(max(0.0, y * sy), plan.source[1] - height)
    return replace(plan, region=(x0, y0, x0 + width, y0 + height))


def _keeps_ycbcr(
    image: ImageFile.ImageFile, info: ImageInfo, variant: Variant, plan: Plan, icc: bytes | None
) -> bool:
    """Whether a JPEG can go to a 4:2:0 JPEG in YCbCr, as libjpeg stores it, with no RGB
    between (:func:`resample.resize_ycbcr`): 12 MP -> 800x600 7-9 % less CPU, SSIM -0.00006,
    0.2 % fewer bytes (bench input).
    """
    return _stored_as_ycbcr(image) and _ycbcr_suits(info, variant, plan, icc)


def _ycbcr_suits(info: ImageInfo, variant: Variant, plan: Plan, icc: bytes | None) -> bool:
    """Whether a source stored as 4:2:0 YCbCr (a JPEG, a lossy WebP) can go to a 4:2:0 JPEG
    with no RGB between.

    Only where nothing needs RGB: no colour profile to convert (the pixels are sRGB as they
    are), no pad, mark or smart crop, and no flip or rotation of an odd side, which would
    move the chroma's 2x2 blocks off the encoder's.
    """
    fmt = resolve_format(variant.format, has_alpha=False, animated=False)
    width, height = plan.size
    return (
        icc is None
        and fmt is OutputFormat.JPEG
        and variant.quality < FULL_CHROMA_FROM_QUALITY
        and plan.canvas is None
        and variant.watermark is None
        and variant.crop is Crop.CENTRE
        and (info.orientation == 1 or (width % 2 == 0 and height % 2 == 0))
    )


def _stored_as_ycbcr(image: ImageFile.ImageFile) -> bool:
    """libjpeg's own rule for a 3-component JPEG: YCbCr unless an Adobe marker says RGB
    (transform 0) or, with neither JFIF nor Adobe marker, the components are named R, G, B."""
    layers = getattr(image, "layer", [])
    if image.mode != "RGB" or len(layers) != 3:
        return False
    if "jfif" in image.info:
        return True
    if "adobe" in image.info:
        return image.info.get("adobe_transform") != 0
    return [layer[0] for layer in layers] != [ord("R"), ord("G"), ord("B")]


def draft_jpeg(
    image: ImageFile.ImageFile, target: tuple[int, int], *, mode: str | None = None
) -> None:
    """Decode at the smallest DCT scale that is at least ``target``: Pillow's ``draft`` (1/8,
    1/4, 1/2), or libjpeg's 3/8 where 1/2 is the one Pillow takes and 3/8 is large enough.
    ``mode`` "YCbCr" has libjpeg skip its conversion to RGB (see :func:`_keeps_ycbcr`).

    12 MP -> 800x600 decodes 1500x1125 instead of 2000x1500: libjpeg's 3x3 IDCT costs ~4 ms
    more than its 4x4 one, LANCZOS from there ~15 ms less, SSIM unchanged (bench input, after
    encoding). Pillow asks libjpeg for 1/scale, which libjpeg rounds to the next M/8 up: 1/3 is
    3/8; its output size is libjpeg's (ceil(3 * side / 8)), which the image must be given.
    """
    width, height = image.size
    image.draft(mode or image.mode, target)  # keeps CMYK as CMYK for the ICC step
    scaled = (-(-width * 3 // 8), -(-height * 3 // 8))
    if image.decoderconfig[:1] != (2,) or scaled[0] < target[0] or scaled[1] < target[1]:
        return
    (tile,) = image.tile
    image.tile = [tile._replace(extents=(0, 0, *scaled))]
    image._size = scaled
    image.decoderconfig = (3, *image.decoderconfig[1:])


def _shrink_target(plan: Plan) -> tuple[int, int]:
    """The smallest decode size that leaves DRAFT_HEADROOM x the target for the resampler.

    libjpeg rounds it up to a 1/2, 3/8, 1/4 or 1/8 scale (:func:`draft_jpeg`); libwebp scales
    to it exactly.
    """
    left, top, right, bottom = plan.region
    width, height = plan.source
    return (
        min(width, math.ceil(width * DRAFT_HEADROOM * plan.size[0] / (right - left))),
        min(height, math.ceil(height * DRAFT_HEADROOM * plan.size[1] / (bottom - top))),
    )


def _process(
    frame: Image.Image | _webp.Planes,
    plan: Plan,
    orientation: int,
    variant: Variant,
    icc: bytes | None,
) -> Image.Image:
    """Resize, rotate upright, convert to sRGB, pad: all on as few pixels as possible."""
    if isinstance(frame, _webp.Planes):  # a WebP decoded for a JPEG (_ycbcr_suits), as below
        box = plan.scaled_region(*frame.luma.size)
        chroma = (frame.cb, frame.cr)
        return upright(
            resample.resize_ycbcr(frame.luma, plan.size, box, chroma=chroma), orientation
        )
    if frame.mode == "YCbCr":  # a JPEG decoded for a JPEG (_keeps_ycbcr): the rest is no-op
        return upright(
            resample.resize_ycbcr(frame, plan.size, plan.scaled_region(*frame.size)), orientation
        )
    image = resamplable(frame)
    if plan.resamples:
        # A JPEG is flattened anyway; while resampling it is cheaper. Not before an ICC
        # conversion, which must not touch the (sRGB) background.
        onto = variant.background_rgba if variant.format is OutputFormat.JPEG and not icc else None
        image = resample.resize(image, plan.size, plan.scaled_region(*image.size), onto=onto)
    image = upright(image, orientation)
    if not (variant.keep_icc and _icc_kept(image.mode)):
        image = to_srgb(image, icc)
    image = drop_opaque_alpha(image)
    if plan.canvas is not None:
        image = _pad(image, plan.canvas, variant.background_rgba)
    return image


def _icc_kept(mode: str) -> bool:
    """A kept profile must describe the output pixels: never true for CMYK (always converted)."""
    return mode in ("RGB", "RGBA", "L", "LA", "P", "PA", "1")


def _pad(image: Image.Image, canvas: tuple[int, int], background: tuple[int, int, int, int]):
    mode = "RGBA" if image.mode in ("LA", "RGBA") or background[3] < 255 else "RGB"
    padded = Image.new(mode, canvas, background if mode == "RGBA" else background[:3])
    offset = ((canvas[0] - image.width) // 2, (canvas[1] - image.height) // 2)
    source = image.convert(mode)
    padded.paste(source, offset, source if mode == "RGBA" else None)
    return padded
