"""Still-WebP decoding with shrink-on-load, through libwebp's advanced decoding API.

Pillow decodes every WebP through libwebp's animation decoder: the full canvas, twice, plus a
copy into Python. libwebp itself can scale while decoding (what libvips' thumbnail uses), so a
still image is decoded here straight to about the size the resize needs. The library is the one
Pillow already loaded (same build, same fixes); without it, or with an unknown ABI, callers fall
back to Pillow (``decode`` returns ``None``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache
from pathlib import Path

from PIL import Image

# libwebp's decode.h: callers pass the ABI version the structs below follow; the library
# refuses a different major version, so a layout change cannot go unnoticed.
_ABI_VERSION = 0x0209
_MODE_RGB, _MODE_RGBA = 0, 1
_VP8_STATUS_OK = 0


class _Features(ctypes.Structure):
    _fields_ = [
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("has_alpha", ctypes.c_int),
        ("has_animation", ctypes.c_int),
        ("format", ctypes.c_int),
        ("pad", ctypes.c_uint32 * 5),
    ]


class _RGBABuffer(ctypes.Structure):
    _fields_ = [
        ("rgba", ctypes.c_void_p),
        ("stride", ctypes.c_int),
        ("size", ctypes.c_size_t),
    ]


class _YUVABuffer(ctypes.Structure):
    _fields_ = [
        *[(plane, ctypes.c_void_p) for plane in ("y", "u", "v", "a")],
        *[(stride, ctypes.c_int) for stride in ("y_stride", "u_stride", "v_stride", "a_stride")],
        *[(size, ctypes.c_size_t) for size in ("y_size", "u_size", "v_size", "a_size")],
    ]


class _Planes(ctypes.Union):
    _fields_ = [("RGBA", _RGBABuffer), ("YUVA", _YUVABuffer)]


class _DecBuffer(ctypes.Structure):
    _fields_ = [
        ("colorspace", ctypes.c_int),
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("is_external_memory", ctypes.c_int),
        ("u", _Planes),
        ("pad", ctypes.c_uint32 * 4),
        ("private_memory", ctypes.c_void_p),
    ]


class _Options(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_int)
        for name in (
            "bypass_filtering",
            "no_fancy_upsampling",
            "use_cropping",
            "crop_left",
            "crop_top",
            "crop_width",
            "crop_height",
            "use_scaling",
            "scaled_width",
            "scaled_height",
            "use_threads",
            "dithering_strength",
            "flip",
            "alpha_dithering_strength",
        )
    ] + [("pad", ctypes.c_uint32 * 5)]


class _Config(ctypes.Structure):
    _fields_ = [("input", _Features), ("output", _DecBuffer), ("options", _Options)]


class WebPDecodeError(Exception):
    """libwebp refused the data (a VP8StatusCode other than OK)."""


def decode(path: Path, shrink_to: tuple[int, int] | None = None) -> Image.Image | None:
    """Decode a still WebP as RGB or RGBA, scaled down to ``shrink_to`` while decoding.

    Returns ``None`` when libwebp is not usable here or the file is animated: the caller then
    uses Pillow. ``shrink_to`` smaller than the image on both sides enables libwebp's
    area-averaging scaler; anything else decodes at full size.
    """
    library = _library()
    if library is None:
        return None
    data = path.read_bytes()
    config = _Config()
    if not library.WebPInitDecoderConfigInternal(ctypes.byref(config), _ABI_VERSION):
        return None
    status = library.WebPGetFeaturesInternal(
        data, len(data), ctypes.byref(config.input), _ABI_VERSION
    )
    if status != _VP8_STATUS_OK:
        raise WebPDecodeError(f"unreadable WebP header (VP8 status {status})")
    features = config.input
    if features.has_animation:
        return None
    width, height = features.width, features.height
    if shrink_to is not None and shrink_to[0] < width and shrink_to[1] < height:
        width, height = shrink_to
        config.options.use_scaling = 1
        config.options.scaled_width, config.options.scaled_height = width, height
    config.options.use_threads = 1
    mode = "RGBA" if features.has_alpha else "RGB"
    stride = width * len(mode)
    pixels = bytearray(stride * height)
    output = config.output
    output.colorspace = _MODE_RGBA if features.has_alpha else _MODE_RGB
    output.is_external_memory = 1
    output.u.RGBA.rgba = ctypes.addressof((ctypes.c_char * len(pixels)).from_buffer(pixels))
    output.u.RGBA.stride = stride
    output.u.RGBA.size = len(pixels)
    status = library.WebPDecode(data, len(data), ctypes.byref(config))
    library.WebPFreeDecBuffer(ctypes.byref(output))
    if status != _VP8_STATUS_OK:
        raise WebPDecodeError(f"the WebP data is truncated or corrupt (VP8 status {status})")
    del data
    if mode == "RGBA":
        # Shares the buffer: no second copy of the pixels.
        return Image.frombuffer(mode, (width, height), pixels, "raw", mode, 0, 1)
    return Image.frombytes(mode, (width, height), bytes(pixels))


@lru_cache(maxsize=1)
def _library() -> ctypes.CDLL | None:
    path = _pillow_libwebp() or ctypes.util.find_library("webp")
    if path is None:
        return None
    try:
        library = ctypes.CDLL(path)
        library.WebPInitDecoderConfigInternal.argtypes = [ctypes.c_void_p, ctypes.c_int]
        library.WebPGetFeaturesInternal.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_void_p,
            ctypes.c_int,
        ]
        library.WebPDecode.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p]
        library.WebPFreeDecBuffer.argtypes = [ctypes.c_void_p]
        library.WebPFreeDecBuffer.restype = None
    except (OSError, AttributeError):
        return None
    return library


def _pillow_libwebp() -> str | None:
    """The libwebp Pillow's WebP module linked (its wheels vendor one under a hashed name)."""
    from PIL import _webp  # noqa: F401  (loads the library into this process)

    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    for line in maps.splitlines():
        path = line.split(maxsplit=5)[-1]
        name = Path(path).name
        if name.startswith("libwebp") and not name.startswith(("libwebpmux", "libwebpdemux")):
            return path
    return None
