"""What metadata an upload carries, and the little of it a variant may keep."""

from __future__ import annotations

import contextlib
import datetime
import math
from typing import Any

from PIL import Image

from imgpipe_core.imaging.facts import ExifFacts, Gps

EXIF_ARTIST = 0x013B
EXIF_COPYRIGHT = 0x8298
EXIF_GPS_IFD = 0x8825
_XMP_KEYS = ("xmp", "XML:com.adobe.xmp")


def read_exif(image: Image.Image) -> Image.Exif | None:
    """The EXIF block, or ``None`` when absent or unreadable."""
    try:
        exif = image.getexif()
    except MemoryError:
        raise
    except Exception:
        return None
    return exif if len(exif) else None


def found_metadata(image: Image.Image, exif: Image.Exif | None) -> list[str]:
    """Kinds of metadata present: exif, gps, icc, xmp, iptc, comment (in that order).

    Call after ``load()``: PNG text chunks after the image data are only known then.
    """
    found = []
    if exif is not None:
        found.append("exif")
        try:
            if exif.get(EXIF_GPS_IFD) or exif.get_ifd(EXIF_GPS_IFD):
                found.append("gps")
        except MemoryError:
            raise
        except Exception:
            found.append("gps")  # an unreadable GPS pointer is still a GPS block
    info = image.info
    if info.get("icc_profile"):
        found.append("icc")
    if any(info.get(key) for key in _XMP_KEYS):
        found.append("xmp")
    if info.get("photoshop"):
        found.append("iptc")
    # PNG tEXt/zTXt/iTXt chunks (``text``), JPEG COM and GIF comment extensions.
    if info.get("comment") or _png_text(image):
        found.append("comment")
    return found


def copyright_exif(exif: Image.Exif | None) -> bytes | None:
    """An EXIF block holding only Artist and Copyright, or ``None`` if the source had neither."""
    if exif is None:
        return None
    kept = Image.Exif()
    for tag in (EXIF_ARTIST, EXIF_COPYRIGHT):
        value = exif.get(tag)
        if isinstance(value, str) and value.strip("\x00 "):
            kept[tag] = value
    return kept.tobytes() if len(kept) else None


def _png_text(image: Image.Image) -> bool:
    try:
        return bool(getattr(image, "text", None))
    except MemoryError:
        raise
    except Exception:
        return False  # Pillow asserts on a PNG that ends before its IEND chunk


# -- EXIF facts for the record ---------------------------------------------------------------

_EXIF_IFD = 0x8769
_MAKE, _MODEL, _ORIENTATION = 0x010F, 0x0110, 0x0112
_EXPOSURE_TIME, _F_NUMBER, _ISO, _FOCAL_LENGTH = 0x829A, 0x829D, 0x8827, 0x920A
_TAKEN_AT, _TAKEN_OFFSET = 0x9003, 0x9011
_LENS_MAKE, _LENS_MODEL = 0xA433, 0xA434
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON, _GPS_ALT_REF, _GPS_ALT = 1, 2, 3, 4, 5, 6
# Text from an upload goes into records and JSON: bounded, printable.
_MAX_TEXT = 64


def exif_facts(
    exif: Image.Exif | None, *, orientation: int | None = None, include_gps: bool = False
) -> ExifFacts | None:
    """The facts an EXIF block holds, or ``None`` without one. Unreadable fields are skipped.

    ``orientation`` overrides the tag for decoders that already applied it (HEIF).
    """
    if exif is None:
        return None
    sub = _ifd(exif, _EXIF_IFD)
    lens = " ".join(
        part for part in (_text(sub.get(_LENS_MAKE)), _text(sub.get(_LENS_MODEL))) if part
    )
    stored = exif.get(_ORIENTATION)
    facts = ExifFacts(
        make=_text(exif.get(_MAKE)),
        model=_text(exif.get(_MODEL)),
        lens=lens or None,
        taken_at=_taken_at(sub.get(_TAKEN_AT), sub.get(_TAKEN_OFFSET)),
        exposure_time=_exposure(sub.get(_EXPOSURE_TIME)),
        f_number=_number(sub.get(_F_NUMBER)),
        iso=_integer(sub.get(_ISO)),
        focal_length=_number(sub.get(_FOCAL_LENGTH)),
        orientation=orientation
        or (stored if isinstance(stored, int) and 1 <= stored <= 8 else None),
        gps=_gps(_ifd(exif, EXIF_GPS_IFD)) if include_gps else None,
    )
    return facts if facts != ExifFacts() else None


def _ifd(exif: Image.Exif, tag: int) -> dict[int, Any]:
    try:
        return dict(exif.get_ifd(tag))
    except MemoryError:
        raise
    except Exception:
        return {}


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    cleaned = "".join(char for char in value if char.isprintable()).strip()
    return cleaned[:_MAX_TEXT] or None


def _number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]  # int, float or IFDRational
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return round(number, 4) if math.isfinite(number) and number >= 0 else None


def _integer(value: object) -> int | None:
    if isinstance(value, tuple) and value:
        value = value[0]  # ISOSpeedRatings may hold several
    return value if isinstance(value, int) and 0 < value < 10_000_000 else None


def _exposure(value: object) -> str | None:
    seconds = _number(value)
    if not seconds:
        return None
    if seconds < 1:
        return f"1/{round(1 / seconds)}"
    return f"{seconds:g}"


def _taken_at(value: object, offset: object) -> str | None:
    text = _text(value)
    if text is None:
        return None
    try:
        moment = datetime.datetime.strptime(text, "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    zone = _text(offset)
    # An unreadable offset leaves the local time, which is still a fact.
    with contextlib.suppress(ValueError):
        if zone:
            moment = moment.replace(tzinfo=datetime.datetime.strptime(zone, "%z").tzinfo)
    return moment.isoformat()


def _gps(gps: dict[int, Any]) -> Gps | None:
    latitude = _degrees(gps.get(_GPS_LAT), gps.get(_GPS_LAT_REF), "S")
    longitude = _degrees(gps.get(_GPS_LON), gps.get(_GPS_LON_REF), "W")
    if latitude is None or longitude is None or abs(latitude) > 90 or abs(longitude) > 180:
        return None
    altitude = _number(gps.get(_GPS_ALT))
    if altitude is not None and gps.get(_GPS_ALT_REF) in (1, b"\x01"):
        altitude = -altitude  # below sea level
    return Gps(latitude=latitude, longitude=longitude, altitude=altitude)


def _degrees(value: object, ref: object, negative: str) -> float | None:
    if not isinstance(value, tuple) or len(value) != 3:
        return None
    parts = [_number(part) for part in value]
    if any(part is None for part in parts):
        return None
    degrees, minutes, seconds = (float(part) for part in parts)  # type: ignore[arg-type]
    sign = -1 if _text(ref) == negative else 1
    return round(sign * (degrees + minutes / 60 + seconds / 3600), 6)
