"""Image engine: validation and rendering of untrusted uploads with Pillow, no AWS.

Public API::

    sniff(head) -> MediaType | None
    inspect_image(path, limits, *, size=None) -> ImageInfo      # raises ImageRejected
    render_variant(source, variant, *, media_type=None) -> Rendition  # raises RenderError

The data types load no Pillow; the two functions (and Rendition) load it when first named, so
a function that only carries an ImageInfo (Register, Publish, Notify, the API) starts ~40 ms
sooner. ``from imgpipe_core.imaging import inspect_image`` still loads it at import time.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from imgpipe_core.imaging.facts import ImageInfo
from imgpipe_core.imaging.limits import Limits
from imgpipe_core.imaging.media import MediaType, sniff

if TYPE_CHECKING:
    from imgpipe_core.imaging.probe import inspect_image
    from imgpipe_core.imaging.render import Rendition, render_variant

_WITH_PILLOW = {"inspect_image": "probe", "Rendition": "render", "render_variant": "render"}

__all__ = [
    "ImageInfo",
    "Limits",
    "MediaType",
    "Rendition",
    "inspect_image",
    "render_variant",
    "sniff",
]


def __getattr__(name: str) -> Any:  # PEP 562: resolved on first use, then a plain attribute
    if name not in _WITH_PILLOW:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WITH_PILLOW[name]}"), name)
    globals()[name] = value
    return value
