"""Still-WebP decoding and encoding through libwebp's advanced APIs.

Pillow decodes every WebP through libwebp's animation decoder: the full canvas, twice, plus a
copy into Python. libwebp itself can scale while decoding (what libvips' thumbnail uses), so a
still image is decoded here straight to about the size the resize needs.

Pillow encodes by copying the whole image into a 32-bit ARGB picture that libwebp then converts
to YUV 4:2:0: two full-size buffers besides the source (~190 MB for 24 MP). Here the source is
converted to YUV in strips of rows, so only the 1.5 bytes/pixel picture the encoder needs is
added to the source. libwebp converts each 2x2 block independently, so strips of even height
give the same picture, and the same file, as converting the whole image at once.

The library is the one Pillow already loaded (same build, same fixes); without it, or with an
unknown ABI, callers fall back to Pillow (``decode`` and ``encode`` return ``None``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal, overload

from PIL import Image

# libwebp's decode.h and encode.h: callers pass the ABI version the structs below follow; the
# library refuses a different major version, so a layout change cannot go unnoticed. Minor
# versions only add fields in place of padding.
_ABI_VERSION = 0x0209
_ENCODER_ABI_VERSION = 0x020F
_MODE_RGB, _MODE_RGBA, _MODE_YUV = 0, 1, 11
_FORMAT_LOSSY = 1
_VP8_STATUS_OK = 0
# VP8 stores BT.601 studio-swing YUV (luma 16-235, chroma 16-240); JPEG's JFIF YCbCr is the same
# matrix at full range. libwebp's own YUV -> RGB is this expansion followed by JFIF's matrix.
_Y_TO_FULL_RANGE = [min(255, max(0, round((y - 16) * 255 / 219))) for y in range(256)]
_C_TO_FULL_RANGE = [min(255, max(0, round((c - 128) * 255 / 224 + 128))) for c in range(256)]


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


class WebPEncodeError(Exception):
    """libwebp could not encode the picture (a WebPEncodingError other than OK)."""


_PRESET_DEFAULT = 0
_YUV420, _YUV420A = 0, 4
# Rows converted per strip: even, so no 2x2 chroma block straddles two strips; ~6 MB of
# temporaries for a 6000-pixel-wide image.
_STRIP_ROWS = 256


class _EncoderConfig(ctypes.Structure):
    _fields_ = [
        ("lossless", ctypes.c_int),
        ("quality", ctypes.c_float),
        ("method", ctypes.c_int),
        ("image_hint", ctypes.c_int),
        ("target_size", ctypes.c_int),
        ("target_PSNR", ctypes.c_float),
        *[
            (name, ctypes.c_int)
            for name in (
                "segments",
                "sns_strength",
                "filter_strength",
                "filter_sharpness",
                "filter_type",
                "autofilter",
                "alpha_compression",
                "alpha_filtering",
                "alpha_quality",
                "pass",
                "show_compressed",
                "preprocessing",
                "partitions",
                "partition_limit",
                "emulate_jpeg_size",
                "thread_level",
                "low_memory",
                "near_lossless",
                "exact",
                "use_delta_palette",
                "use_sharp_yuv",
                "qmin",
                "qmax",
            )
        ],
        ("reserve", ctypes.c_uint32 * 16),  # room for fields a newer minor version adds
    ]


class _Picture(ctypes.Structure):
    _fields_ = [
        ("use_argb", ctypes.c_int),
        ("colorspace", ctypes.c_int),
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("y", ctypes.c_void_p),
        ("u", ctypes.c_void_p),
        ("v", ctypes.c_void_p),
        ("y_stride", ctypes.c_int),
        ("uv_stride", ctypes.c_int),
        ("a", ctypes.c_void_p),
        ("a_stride", ctypes.c_int),
        ("pad1", ctypes.c_uint32 * 2),
        ("argb", ctypes.c_void_p),
        ("argb_stride", ctypes.c_int),
        ("pad2", ctypes.c_uint32 * 3),
        ("writer", ctypes.c_void_p),
        ("custom_ptr", ctypes.c_void_p),
        ("extra_info_type", ctypes.c_int),
        ("extra_info", ctypes.c_void_p),
        ("stats", ctypes.c_void_p),
        ("error_code", ctypes.c_int),
        ("progress_hook", ctypes.c_void_p),
        ("user_data", ctypes.c_void_p),
        ("pad3", ctypes.c_uint32 * 3),
        ("pad4", ctypes.c_void_p),
        ("pad5", ctypes.c_void_p),
        ("pad6", ctypes.c_uint32 * 8),
        ("memory_", ctypes.c_void_p),
        ("memory_argb_", ctypes.c_void_p),
        ("pad7", ctypes.c_void_p * 2),
        ("reserve", ctypes.c_uint32 * 16),
    ]


class _MemoryWriter(ctypes.Structure):
    _fields_ = [
        ("mem", ctypes.c_void_p),
        ("size", ctypes.c_size_t),
        ("max_size", ctypes.c_size_t),
        ("pad", ctypes.c_uint32 * 1),
    ]


@dataclass(frozen=True)
class Planes:
    """A lossy WebP's planes in JFIF's full-range YCbCr: ``luma`` at the decoded size, ``cb``
    and ``cr`` at half of it (rounded up), one sample per 2x2 block of luma, as VP8 stores
    them."""

    luma: Image.Image
    cb: Image.Image
    cr: Image.Image


@overload
def decode(
    path: Path, shrink_to: tuple[int, int] | None = None, *, ycbcr: Literal[False] = False
) -> Image.Image | None: ...


@overload
def decode(
    path: Path, shrink_to: tuple[int, int] | None = None, *, ycbcr: bool
) -> Image.Image | Planes | None: ...


def decode(
    path: Path, shrink_to: tuple[int, int] | None = None, *, ycbcr: bool = False
) -> Image.Image | Planes | None:
    """Decode a still WebP as RGB or RGBA, scaled down to ``shrink_to`` while decoding.

    Returns ``None`` when libwebp is not usable here or the file is animated: the caller then
    uses Pillow. ``shrink_to`` smaller than the image on both sides enables libwebp's
    area-averaging scaler; anything else decodes at full size.

    With ``ycbcr`` a lossy WebP without alpha comes back as its :class:`Planes`: for a 4:2:0
    JPEG output, no conversion to RGB and back, and chroma that is never upsampled
    (:func:`render._ycbcr_suits`).
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
    if ycbcr and features.format == _FORMAT_LOSSY and not features.has_alpha:
        return _decode_ycbcr(library, data, config, (width, height))
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


def _decode_ycbcr(
    library: ctypes.CDLL, data: bytes, config: _Config, size: tuple[int, int]
) -> Planes:
    """libwebp's YUV planes at ``size``, in full-range YCbCr (see :func:`decode`)."""
    width, height = size
    half = (-(-width // 2), -(-height // 2))
    planes = [bytearray(width * height), bytearray(half[0] * half[1]), bytearray(half[0] * half[1])]
    output = config.output
    output.colorspace = _MODE_YUV
    output.is_external_memory = 1
    buffer = output.u.YUVA
    buffer.y, buffer.u, buffer.v = (
        ctypes.addressof((ctypes.c_char * len(plane)).from_buffer(plane)) for plane in planes
    )
    buffer.y_stride, buffer.u_stride, buffer.v_stride = width, half[0], half[0]
    buffer.y_size, buffer.u_size, buffer.v_size = (len(plane) for plane in planes)
    status = library.WebPDecode(data, len(data), ctypes.byref(config))
    library.WebPFreeDecBuffer(ctypes.byref(output))
    if status != _VP8_STATUS_OK:
        raise WebPDecodeError(f"the WebP data is truncated or corrupt (VP8 status {status})")
    luma, cb, cr = (
        Image.frombuffer("L", plane_size, plane, "raw", "L", 0, 1).point(table)
        for plane, plane_size, table in zip(
            planes,
            (size, half, half),
            (_Y_TO_FULL_RANGE, _C_TO_FULL_RANGE, _C_TO_FULL_RANGE),
            strict=True,
        )
    )
    return Planes(luma, cb, cr)


def encode(image: Image.Image, *, quality: float, method: int) -> bytes | None:
    """Encode an RGB or RGBA image as a lossy still WebP, with no metadata.

    The settings are Pillow's for the same arguments (default preset, alpha kept lossless,
    invisible pixels cleaned up), and so is the file. Returns ``None`` when libwebp is not
    usable here or the mode is another one: the caller then uses Pillow.
    """
    library = _library()
    if library is None or image.mode not in ("RGB", "RGBA"):
        return None
    config = _EncoderConfig()
    picture = _Picture()
    if not (
        library.WebPConfigInitInternal(
            ctypes.byref(config), _PRESET_DEFAULT, ctypes.c_float(75.0), _ENCODER_ABI_VERSION
        )
        and library.WebPPictureInitInternal(ctypes.byref(picture), _ENCODER_ABI_VERSION)
    ):
        return None
    config.quality, config.method, config.alpha_quality = quality, method, 100
    # Analysis and alpha coding on a second thread: same file, ~10 % less wall time.
    config.thread_level = 1 if (os.cpu_count() or 1) > 1 else 0
    if not library.WebPValidateConfig(ctypes.byref(config)):
        raise WebPEncodeError(f"invalid WebP settings: quality {quality}, method {method}")
    picture.width, picture.height = image.size
    picture.colorspace = _YUV420A if image.mode == "RGBA" else _YUV420
    writer = _MemoryWriter()
    library.WebPMemoryWriterInit(ctypes.byref(writer))
    try:
        if not library.WebPPictureAlloc(ctypes.byref(picture)):
            raise MemoryError("libwebp cannot allocate the picture")
        _import_in_strips(library, image, picture)
        picture.writer = ctypes.cast(library.WebPMemoryWrite, ctypes.c_void_p)
        picture.custom_ptr = ctypes.addressof(writer)
        if not library.WebPEncode(ctypes.byref(config), ctypes.byref(picture)):
            if picture.error_code == 1:  # VP8_ENC_ERROR_OUT_OF_MEMORY
                raise MemoryError("libwebp ran out of memory encoding")
            raise WebPEncodeError(f"libwebp cannot encode (error {picture.error_code})")
        return ctypes.string_at(writer.mem, writer.size)
    finally:
        library.WebPPictureFree(ctypes.byref(picture))
        library.WebPMemoryWriterClear(ctypes.byref(writer))


def _import_in_strips(library: ctypes.CDLL, image: Image.Image, picture: _Picture) -> None:
    """Fill ``picture``'s YUV(A) planes from ``image``, a strip of rows at a time."""
    width, height = image.size
    # Pillow keeps RGB as 32-bit RGBX: rows pass through without repacking.
    raw_mode, importer = (
        ("RGBA", library.WebPPictureImportRGBA)
        if image.mode == "RGBA"
        else ("RGBX", library.WebPPictureImportRGBX)
    )
    for top in range(0, height, _STRIP_ROWS):
        rows = min(_STRIP_ROWS, height - top)
        pixels = image.crop((0, top, width, top + rows)).tobytes("raw", raw_mode)
        strip = _Picture()
        library.WebPPictureInitInternal(ctypes.byref(strip), _ENCODER_ABI_VERSION)
        strip.width, strip.height = width, rows
        try:
            if not importer(ctypes.byref(strip), pixels, width * 4):
                raise MemoryError("libwebp cannot allocate a strip")
            del pixels
            chroma_top, chroma_rows = top // 2, (rows + 1) // 2
            for plane, stride, first, count in (
                ("y", "y_stride", top, rows),
                ("u", "uv_stride", chroma_top, chroma_rows),
                ("v", "uv_stride", chroma_top, chroma_rows),
            ):
                _copy_rows(picture, strip, plane, stride, first, count)
            if picture.a:
                if strip.a:  # libwebp leaves out the plane when the strip is opaque
                    _copy_rows(picture, strip, "a", "a_stride", top, rows)
                else:
                    ctypes.memset(picture.a + top * picture.a_stride, 255, rows * picture.a_stride)
        finally:
            library.WebPPictureFree(ctypes.byref(strip))


def _copy_rows(
    target: _Picture, strip: _Picture, plane: str, stride: str, first: int, count: int
) -> None:
    # Both pictures were allocated by libwebp for the same width: same strides, contiguous rows.
    row_bytes = getattr(target, stride)
    destination = getattr(target, plane) + first * row_bytes
    ctypes.memmove(destination, getattr(strip, plane), count * row_bytes)


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
        library.WebPConfigInitInternal.argtypes = [
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_float,
            ctypes.c_int,
        ]
        library.WebPPictureInitInternal.argtypes = [ctypes.c_void_p, ctypes.c_int]
        for name in ("WebPValidateConfig", "WebPPictureAlloc"):
            getattr(library, name).argtypes = [ctypes.c_void_p]
        for name in ("WebPPictureImportRGBA", "WebPPictureImportRGBX"):
            getattr(library, name).argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        library.WebPEncode.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        for name in ("WebPPictureFree", "WebPMemoryWriterInit", "WebPMemoryWriterClear"):
            getattr(library, name).argtypes = [ctypes.c_void_p]
            getattr(library, name).restype = None
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
