"""Image engine: validation and rendering of untrusted uploads with Pillow, no AWS.

Public API::

    sniff(head) -> MediaType | None
    inspect_image(path, limits, *, size=None) -> ImageInfo      # raises ImageRejected
    render_variant(source, variant, *, info=None) -> Rendition  # raises RenderError
"""

from imgpipe_core.imaging.limits import Limits
from imgpipe_core.imaging.media import MediaType, sniff
from imgpipe_core.imaging.probe import ImageInfo, inspect_image
from imgpipe_core.imaging.render import Rendition, render_variant

__all__ = [
    "ImageInfo",
    "Limits",
    "MediaType",
    "Rendition",
    "inspect_image",
    "render_variant",
    "sniff",
]
