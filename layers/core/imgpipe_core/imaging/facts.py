"""What validation learns about an upload: plain data, so that the step functions which only
carry it (Register, Publish, Notify, the API) do not load Pillow to read it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from imgpipe_core.imaging.media import MediaType


class Gps(BaseModel):
    model_config = ConfigDict(frozen=True)

    latitude: float
    longitude: float
    altitude: float | None = None


class ExifFacts(BaseModel):
    """What the camera recorded, for the record and manifest (never copied into a variant)."""

    model_config = ConfigDict(frozen=True)

    make: str | None = None
    model: str | None = None
    lens: str | None = None
    taken_at: str | None = None  # ISO 8601, with the UTC offset when the camera recorded one
    exposure_time: str | None = None  # seconds, as photographers write it: "1/125"
    f_number: float | None = None
    iso: int | None = None
    focal_length: float | None = None  # mm
    orientation: int | None = None  # as stored (1-8), before imgpipe turned the image upright
    gps: Gps | None = None  # only when the stack allows it (ExifGps)


class Placeholder(BaseModel):
    model_config = ConfigDict(frozen=True)

    thumbhash: str  # base64 of the ThumbHash bytes
    dominant_colour: str  # "#rrggbb"


class ImageInfo(BaseModel):
    """What validation learned about an accepted image. Sizes are as displayed (EXIF-rotated)."""

    model_config = ConfigDict(frozen=True)

    media_type: MediaType
    width: int
    height: int
    frames: int
    animated: bool
    mode: str
    has_alpha: bool
    has_icc: bool
    orientation: int
    bytes: int
    # Filled by inspect_image (validation), not by open_checked:
    exif: ExifFacts | None = None
    placeholder: Placeholder | None = None
