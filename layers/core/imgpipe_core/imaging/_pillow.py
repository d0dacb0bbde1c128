"""Pillow's process-wide safety switches, set in one place.

Pillow is configured through module globals; everything here is set on import and scoped
per call with :func:`guarded`, so no other module touches them.
"""

from __future__ import annotations

import functools
import importlib
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import GifImagePlugin, Image, ImageFile, JpegImagePlugin, PngImagePlugin, WebPImagePlugin

from imgpipe_core.imaging.limits import Limits
from imgpipe_core.imaging.media import MediaType

# Importing the plugins we accept means Image.open never falls back to init(), which would load
# every plugin Pillow has (slower cold start, and parsers we never want to run on uploads).
_PLUGINS = (GifImagePlugin, JpegImagePlugin, PngImagePlugin, WebPImagePlugin)

# A truncated file is an error, never a half-grey image.
ImageFile.LOAD_TRUNCATED_IMAGES = False
# GIF frames after the first come out as RGB(A) with disposal applied, ready to resize.
GifImagePlugin.LOADING_STRATEGY = GifImagePlugin.LoadingStrategy.RGB_AFTER_FIRST
Image.MAX_IMAGE_PIXELS = Limits().max_pixels

BOMB_ERRORS = (Image.DecompressionBombError, Image.DecompressionBombWarning)


@contextmanager
def guarded(limits: Limits) -> Iterator[None]:
    """Pillow's bomb check at our pixel budget, its warning raised as an error."""
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = limits.max_pixels
    try:
        with warnings.catch_warnings():
            # Other Pillow warnings are about metadata we strip anyway.
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


@contextmanager
def header_only() -> Iterator[None]:
    """Let ``Image.open`` parse any header so *we* classify oversize images (it decodes nothing)."""
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def open_as(path: Path, media_type: MediaType) -> ImageFile.ImageFile:
    """Open with only the sniffed format's parser, so a file cannot pick its own decoder."""
    register(media_type)
    image = Image.open(path, formats=[media_type.pillow_format])
    assert isinstance(image, ImageFile.ImageFile)
    return image


@functools.cache
def register(media_type: MediaType) -> None:
    """The HEIF-family plugins load with the first such upload, not at import: libheif and
    libavif are 5.6 MB of every render's memory and ~20 ms of Validate's and Resize's init."""
    if media_type is MediaType.HEIC:
        import pi_heif

        # Only the primary image (no thumbnails, depth or auxiliary images to decode),
        # transforms (irot/imir) applied by libheif, 10/12-bit reduced to 8-bit.
        pi_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
    elif media_type is MediaType.AVIF:
        importlib.import_module("PIL.AvifImagePlugin")
