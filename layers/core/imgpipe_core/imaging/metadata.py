"""What metadata an upload carries, and the little of it a variant may keep."""

from __future__ import annotations

from PIL import Image

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
