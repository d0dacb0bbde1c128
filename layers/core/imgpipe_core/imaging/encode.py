"""Encoders: one place that decides how each output format is written."""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image

from imgpipe_core.catalogue import OutputFormat, Variant
from imgpipe_core.imaging import _webp

# Hard encoder limits on a side; WebP's is the one that bites.
MAX_SIDE = {OutputFormat.WEBP: 16383, OutputFormat.JPEG: 65500, OutputFormat.AVIF: 16384}
DEFAULT_EFFORT = {OutputFormat.WEBP: 4, OutputFormat.AVIF: 4, OutputFormat.PNG: 6}
# libvips' rule, so the bench compares like with like: chroma subsampling costs visible
# detail only at high quality settings.
FULL_CHROMA_FROM_QUALITY = 90


def max_side(fmt: OutputFormat) -> int:
    """The largest side ``fmt`` can encode; ``auto`` may become WebP."""
    if fmt is OutputFormat.AUTO:
        return MAX_SIDE[OutputFormat.WEBP]
    return MAX_SIDE.get(fmt, 0)


def resolve_format(fmt: OutputFormat, *, has_alpha: bool, animated: bool) -> OutputFormat:
    """``auto``: WebP when JPEG would lose alpha or motion, JPEG (fastest to encode) otherwise."""
    if fmt is not OutputFormat.AUTO:
        return fmt
    return OutputFormat.WEBP if has_alpha or animated else OutputFormat.JPEG


def encode(
    frames: Sequence[Image.Image],
    fmt: OutputFormat,
    variant: Variant,
    *,
    durations: Sequence[int] = (),
    loop: int = 0,
    exif: bytes | None = None,
    icc_profile: bytes | None = None,
) -> bytes:
    """Encode one still (or, for WebP, several frames) with only the metadata passed in.

    Pillow falls back to ``image.info`` for some metadata (comments, ICC), so ``info`` is
    cleared first: nothing reaches the output unless it is an argument here.
    """
    for frame in frames:
        frame.info = {}
    options: dict[str, object] = {}
    if exif:
        options["exif"] = exif
    if icc_profile:
        options["icc_profile"] = icc_profile
    effort = variant.effort if variant.effort is not None else DEFAULT_EFFORT.get(fmt)
    first = frames[0]
    if fmt is OutputFormat.JPEG:
        subsampling = "4:4:4" if variant.quality >= FULL_CHROMA_FROM_QUALITY else "4:2:0"
        options.update(
            quality=variant.quality, optimize=True, progressive=True, subsampling=subsampling
        )
    elif fmt is OutputFormat.PNG:
        options.update(compress_level=effort)
    elif fmt is OutputFormat.WEBP:
        if len(frames) == 1 and not (exif or icc_profile):
            # Same file as Pillow's, in less than half the memory (see _webp); it writes no
            # metadata, so kept EXIF or ICC goes through Pillow.
            assert effort is not None
            data = _webp.encode(first, quality=variant.quality, method=effort)
            if data is not None:
                return data
        options.update(quality=variant.quality, method=effort)
        if len(frames) > 1:
            options.update(
                save_all=True,
                append_images=list(frames[1:]),
                duration=list(durations),
                loop=loop,
                background=(0, 0, 0, 0),
            )
    elif fmt is OutputFormat.AVIF:
        from PIL import AvifImagePlugin  # noqa: F401  (registers the encoder only when used)

        assert effort is not None
        options.update(quality=variant.quality, speed=10 - effort)
        if first.mode not in ("RGB", "RGBA"):
            first = first.convert("RGBA" if "A" in first.mode else "RGB")
    else:
        raise ValueError(f"cannot encode {fmt}")
    buffer = io.BytesIO()
    first.save(buffer, format=fmt.value.upper(), **options)
    return buffer.getvalue()
