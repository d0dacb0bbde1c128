"""Validation of untrusted uploads: cheap header checks first, one decode of every byte last.

The decode is as small as the format allows while still running its whole decoder over the
data (so truncation and corruption are still seen): JPEG at 1/8 scale, a still WebP through
libwebp's scaler; PNG, GIF, HEIC and AVIF at full size (see :func:`_decode_all`).
"""

from __future__ import annotations

import zlib
from pathlib import Path

from PIL import Image, ImageFile, PngImagePlugin

from imgpipe_core.errors import ImageRejected, RejectionCode
from imgpipe_core.imaging import _pillow, _png, _webp, isobmff
from imgpipe_core.imaging.colour import resamplable, to_srgb
from imgpipe_core.imaging.facts import ImageInfo, Placeholder
from imgpipe_core.imaging.geometry import upright
from imgpipe_core.imaging.limits import Limits
from imgpipe_core.imaging.media import SNIFF_BYTES, MediaType, header_size, sniff
from imgpipe_core.imaging.metadata import exif_facts, read_exif
from imgpipe_core.imaging.placeholder import HASH_SIDE, placeholder

EXIF_ORIENTATION = 0x0112
ALPHA_MODES = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})
# Above the limits *and* this many pixels per byte of file: a payload built to expand, not a
# large photo (deflate tops out near 1032:1 on bytes). Only picks the label; both are refused.
BOMB_PIXELS_PER_BYTE = 1024
# Shrinking JPEG decode 8x still runs the whole entropy decoder, so truncation is still seen;
# libwebp's scaler too decodes every macroblock (or lossless pixel) before it averages rows.
_VALIDATION_DRAFT_SCALE = 8


def inspect_image(
    path: Path, limits: Limits, *, size: int | None = None, include_gps: bool = False
) -> ImageInfo:
    """Validate an upload and describe it, or raise :class:`ImageRejected`.

    ``size`` is the object size when the caller already knows it (e.g. from S3 HeadObject).
    Only ``MemoryError`` escapes besides ``ImageRejected``: whatever a hostile file makes a
    decoder raise is reported as ``CORRUPT_IMAGE``. ``include_gps`` adds the location to the
    EXIF facts (off unless the deployment allows it).
    """
    with _pillow.guarded(limits):
        image, info = open_checked(Path(path), limits, size=size)
        with image:
            first = _decode_all(Path(path), image, info)
            image.seek(0)
            # libheif applied the orientation and reset the tag; it keeps the original aside.
            original = image.info.get("original_orientation")
            facts = exif_facts(
                read_exif(image),
                orientation=original if isinstance(original, int) else None,
                include_gps=include_gps,
            )
            shown = _placeholder(first, image.info.get("icc_profile") or None, info)
        return info.model_copy(update={"exif": facts, "placeholder": shown})


def open_checked(
    path: Path, limits: Limits, *, size: int | None = None, count_frames: bool = True
) -> tuple[ImageFile.ImageFile, ImageInfo]:
    """Header checks in order of cost; returns the opened (not yet decoded) image.

    Without ``count_frames`` a GIF is described as its first frame: counting walks every
    frame's data (~4 ms of the 18 ms a still variant of the bench's 24-frame GIF takes), which
    only a caller that goes past the first frame needs. Must run inside
    ``_pillow.guarded(limits)``; the caller closes the image.
    """
    if size is None:
        try:
            size = path.stat().st_size
        except FileNotFoundError as exc:
            raise ImageRejected(RejectionCode.SOURCE_NOT_FOUND, f"{path.name} not found") from exc
    if size == 0:
        raise ImageRejected(RejectionCode.EMPTY_FILE, "the file is empty")
    if size > limits.max_bytes:
        raise ImageRejected(
            RejectionCode.FILE_TOO_LARGE, f"{size} bytes is over the {limits.max_bytes} limit"
        )
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    media_type = sniff(head)
    if media_type is None:
        raise ImageRejected(
            RejectionCode.UNSUPPORTED_MEDIA_TYPE, "not a JPEG, PNG, WebP, GIF, HEIC or AVIF image"
        )
    if media_type.is_isobmff:
        _check_container(path, size, limits)
    else:
        declared = header_size(head, media_type)
        if declared is not None:
            _check_dimensions(*declared, size, limits)

    try:
        with _pillow.header_only():
            image = _pillow.open_as(path, media_type)
    except MemoryError:
        raise
    except Exception as exc:
        raise _as_rejection(exc, f"unreadable {media_type.value} header") from exc
    try:
        info = _describe(image, media_type, size, limits, count_frames=count_frames)
    except BaseException:
        image.close()
        raise
    return image, info


def _check_container(path: Path, size: int, limits: Limits) -> None:
    """HEIF/AVIF: the declared size and frame count, before libheif or libavif see the file."""
    try:
        header = isobmff.read_header(path)
    except isobmff.ContainerError as exc:
        raise ImageRejected(RejectionCode.CORRUPT_IMAGE, f"broken HEIF container: {exc}") from exc
    _check_dimensions(header.width, header.height, size, limits)
    _check_frames(header.frames, header.width, header.height, limits)


def _check_frames(frames: int, width: int, height: int, limits: Limits) -> None:
    if frames > limits.max_frames:
        raise ImageRejected(
            RejectionCode.TOO_MANY_FRAMES, f"{frames} frames is over the {limits.max_frames} limit"
        )
    if frames * width * height > limits.max_total_pixels:
        raise ImageRejected(
            RejectionCode.TOO_MANY_FRAMES,
            f"{frames} frames of {width}x{height} is over the {limits.max_total_pixels} "
            "total-pixel limit",
        )


def _describe(
    image: ImageFile.ImageFile,
    media_type: MediaType,
    size: int,
    limits: Limits,
    *,
    count_frames: bool = True,
) -> ImageInfo:
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageRejected(RejectionCode.CORRUPT_IMAGE, f"invalid size {width}x{height}")
    _check_dimensions(width, height, size, limits)
    try:
        # GIF counts frames by walking the file; now under Pillow's bomb check for each frame.
        # A HEIC's further images are a burst or edits, not an animation: only the primary.
        first_only = media_type is MediaType.HEIC or (
            media_type is MediaType.GIF and not count_frames
        )
        frames = 1 if first_only else int(getattr(image, "n_frames", 1))
        image.seek(0)
    except MemoryError:
        raise
    except Exception as exc:
        raise _as_rejection(exc, "unreadable animation frames") from exc
    _check_frames(frames, width, height, limits)
    orientation = read_orientation(image)
    if orientation >= 5:
        width, height = height, width
    return ImageInfo(
        media_type=media_type,
        width=width,
        height=height,
        frames=frames,
        animated=frames > 1,
        mode=image.mode,
        has_alpha=image.mode in ALPHA_MODES or "transparency" in image.info,
        has_icc=bool(image.info.get("icc_profile")),
        orientation=orientation,
        bytes=size,
    )


def _placeholder(decoded: Image.Image, icc: bytes | None, info: ImageInfo) -> Placeholder | None:
    """From the decode validation just made (its smallest: JPEG 1/8), first frame, upright, sRGB."""
    try:
        small = resamplable(decoded).resize(
            _fit(decoded.size, HASH_SIDE), Image.Resampling.BOX, reducing_gap=2.0
        )
        small = upright(to_srgb(small, icc), info.orientation)
        return placeholder(small)
    except MemoryError:
        raise
    except Exception:
        return None  # a nicety: never the reason an upload fails


def _fit(size: tuple[int, int], side: int) -> tuple[int, int]:
    scale = min(1.0, side / max(size))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def read_orientation(image: Image.Image) -> int:
    """EXIF orientation 1-8; a missing or broken EXIF block counts as upright."""
    try:
        if isinstance(image, PngImagePlugin.PngImageFile):
            # Pillow decodes a PNG to find its EXIF (it may follow the pixels): ours is faster,
            # and a failure here leaves the image undecoded, to fail again where it counts.
            _png.load(image)
        value = image.getexif().get(EXIF_ORIENTATION, 1)
    except MemoryError:
        raise
    except Exception:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _check_dimensions(width: int, height: int, size: int, limits: Limits) -> None:
    pixels = width * height
    if max(width, height) <= limits.max_side and pixels <= limits.max_pixels:
        return
    if pixels > BOMB_PIXELS_PER_BYTE * size:
        raise ImageRejected(
            RejectionCode.DECOMPRESSION_BOMB,
            f"{size} bytes declare {width}x{height} pixels",
        )
    raise ImageRejected(
        RejectionCode.IMAGE_TOO_LARGE,
        f"{width}x{height} is over the limits ({limits.max_side} px a side, "
        f"{limits.max_pixels} pixels)",
    )


def _decode_all(path: Path, image: ImageFile.ImageFile, info: ImageInfo) -> Image.Image:
    """Run the decoder over every frame's data; returns the first frame, as small as decoded.

    PNG keeps a full decode (inflating on a second thread, :mod:`_png`): any integrity check
    must inflate the whole zlib stream (its checksum is at the end), which is ~75 % of Pillow's
    decode, and the placeholder needs the pixels. GIF frames, HEIC and AVIF have no reduced
    decode to use.
    """
    try:
        width, height = image.size
        reduced = (
            max(1, width // _VALIDATION_DRAFT_SCALE),
            max(1, height // _VALIDATION_DRAFT_SCALE),
        )
        if info.media_type is MediaType.WEBP and info.frames == 1:
            # Straight to the placeholder's size: libwebp's scaler averages areas, like BOX.
            still = _webp.decode(path, _fit(image.size, HASH_SIDE))
            if still is not None:  # None: animated after all, or no usable libwebp
                return still
        if info.media_type is MediaType.JPEG:
            image.draft(image.mode, reduced)
        for index in range(info.frames):
            image.seek(index)
            image.load()
        image.seek(0)
        image.load()
    except MemoryError:
        raise
    except Exception as exc:
        raise _as_rejection(exc, "the image data is truncated or corrupt") from exc
    return image


def _as_rejection(exc: Exception, message: str) -> ImageRejected:
    if isinstance(exc, ImageRejected):
        return exc
    if isinstance(exc, _pillow.BOMB_ERRORS):
        return ImageRejected(RejectionCode.DECOMPRESSION_BOMB, str(exc))
    if isinstance(exc, ValueError) and "MAX_TEXT_" in str(exc):
        # Pillow's PNG text-chunk limits: a zTXt/iTXt chunk built to inflate without end.
        return ImageRejected(RejectionCode.DECOMPRESSION_BOMB, str(exc))
    if isinstance(exc, zlib.error):
        return ImageRejected(RejectionCode.CORRUPT_IMAGE, f"{message}: bad compressed data")
    return ImageRejected(RejectionCode.CORRUPT_IMAGE, f"{message} ({type(exc).__name__}: {exc})")
