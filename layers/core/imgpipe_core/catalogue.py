"""The variant catalogue: which renditions every upload gets, as validated data.

The catalogue is a JSON document (``variants.json`` ships as the default) so adding a size is a
data change, not a code change; the schema below is what keeps a typo from reaching production.
"""

from __future__ import annotations

import json
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from imgpipe_core.errors import VariantNotFound

DEFAULT_CATALOGUE_PATH = Path(__file__).with_name("variants.json")
# Watermark images shipped with the package; any other image is a key under this prefix of the
# private bucket (the resize function may read only there).
BUNDLED_WATERMARKS = Path(__file__).parent / "imaging" / "assets" / "watermarks"
WATERMARK_KEY_PREFIX = "watermarks/"

# Names end up in object keys and URLs, so keep them boring.
VARIANT_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,30}$"
# The largest side any of our encoders accepts (WebP's hard limit is the smallest).
MAX_BOX_SIDE = 16383


class Fit(StrEnum):
    """How an image is fitted into a variant's box."""

    INSIDE = "inside"  # scale to fit within the box, keep aspect ratio
    COVER = "cover"  # fill the box exactly, centre-crop the overflow
    CONTAIN = "contain"  # fit inside, then pad to exactly the box with ``background``
    PAD = "pad"  # alias of contain


class Crop(StrEnum):
    """Which part of the source ``fit: cover`` keeps (see ``imaging.smartcrop``)."""

    CENTRE = "centre"
    ENTROPY = "entropy"  # the most detailed window
    ATTENTION = "attention"  # edges, saturation and skin tones, as libvips' attention


class OutputFormat(StrEnum):
    """Output encodings. ``auto``: WebP if the result has alpha or moves, else JPEG."""

    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"
    AVIF = "avif"
    AUTO = "auto"

    @property
    def content_type(self) -> str:
        return _CONTENT_TYPES[self]

    @property
    def extension(self) -> str:
        return "jpg" if self is OutputFormat.JPEG else self.value


_CONTENT_TYPES = {
    OutputFormat.JPEG: "image/jpeg",
    OutputFormat.PNG: "image/png",
    OutputFormat.WEBP: "image/webp",
    OutputFormat.AVIF: "image/avif",
    OutputFormat.AUTO: "application/octet-stream",
}

# Encoder effort ranges, native to each encoder: WebP ``method``, AVIF effort (speed = 10 -
# effort), PNG zlib level. JPEG has no speed knob worth exposing.
EFFORT_RANGE: dict[OutputFormat, tuple[int, int]] = {
    OutputFormat.WEBP: (0, 6),
    OutputFormat.AUTO: (0, 6),
    OutputFormat.AVIF: (0, 10),
    OutputFormat.PNG: (0, 9),
}

Side = Annotated[int, Field(ge=1, le=MAX_BOX_SIDE)]
Fraction = Annotated[float, Field(ge=0, le=1)]
Colour = Annotated[str, Field(pattern=r"^#(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")]


def rgba(colour: str) -> tuple[int, int, int, int]:
    """``#rrggbb`` or ``#rrggbbaa`` as an RGBA tuple."""
    digits = colour.lstrip("#")
    alpha = int(digits[6:8], 16) if len(digits) == 8 else 255
    return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16), alpha)


class Anchor(StrEnum):
    """Nine places a watermark can sit."""

    TOP_LEFT = "top-left"
    TOP = "top"
    TOP_RIGHT = "top-right"
    LEFT = "left"
    CENTRE = "centre"
    RIGHT = "right"
    BOTTOM_LEFT = "bottom-left"
    BOTTOM = "bottom"
    BOTTOM_RIGHT = "bottom-right"


class Watermark(BaseModel):
    """Text or an image drawn onto every frame of a variant, after the resize."""

    # defer_build (here, in Variant and Catalogue): most functions never read the catalogue;
    # those that do build it at their first use (a custom one at init: config.Settings).
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    text: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    # A bundled PNG's name, or a private-bucket key under ``watermarks/`` (PNG with alpha).
    image: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,200}\.png$")] | None = None
    position: Anchor = Anchor.BOTTOM_RIGHT
    # Gap to the nearest edges, as a fraction of the output's width.
    margin: Annotated[float, Field(ge=0, le=0.25)] = 0.02
    opacity: Fraction = 0.6
    # The watermark's width as a fraction of the output's width (height keeps its aspect).
    size: Annotated[float, Field(gt=0, le=1)] = 0.25
    # Outputs whose width or height is below this get no watermark (it would be illegible).
    min_size: Annotated[int, Field(ge=1, le=MAX_BOX_SIDE)] = 200
    colour: Colour = "#ffffff"  # text only

    @model_validator(mode="after")
    def _check_source(self) -> Self:
        if (self.text is None) == (self.image is None):
            raise ValueError("a watermark is either text or an image")
        bundled = self.image is not None and "/" not in self.image
        if bundled and not (BUNDLED_WATERMARKS / str(self.image)).is_file():
            raise ValueError(f"no bundled watermark {self.image!r}")
        if self.image is not None and not bundled and not self.is_bucket_key:
            raise ValueError(f"a watermark image key must start with {WATERMARK_KEY_PREFIX}")
        return self

    @property
    def is_bucket_key(self) -> bool:
        return self.image is not None and self.image.startswith(WATERMARK_KEY_PREFIX)


class Variant(BaseModel):
    """One rendition of an upload. ``width``/``height`` is a box; ``None`` leaves a side free."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    name: Annotated[str, Field(pattern=VARIANT_NAME_PATTERN)]
    width: Side | None = None
    height: Side | None = None
    fit: Fit = Fit.INSIDE
    crop: Crop = Crop.CENTRE
    format: OutputFormat = OutputFormat.JPEG
    # A fraction of the source's displayed size; ``width``/``height`` then only bound it.
    scale: Annotated[float, Field(gt=0, le=1)] | None = None
    quality: Annotated[int, Field(ge=1, le=100)] = 82
    effort: Annotated[int, Field(ge=0, le=10)] | None = None
    upscale: bool = False
    animated: bool = False
    background: Colour = "#ffffff"
    watermark: Watermark | None = None
    keep_icc: bool = False
    keep_copyright: bool = False

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        if self.scale is not None and (self.fit is not Fit.INSIDE or self.upscale):
            raise ValueError("scale sizes proportionally: only with fit=inside, never upscale")
        if self.crop is not Crop.CENTRE and self.fit is not Fit.COVER:
            raise ValueError("crop chooses what fit=cover keeps: only with fit=cover")
        if self.fit is not Fit.INSIDE and (self.width is None or self.height is None):
            raise ValueError(f"fit={self.fit.value} needs both width and height")
        if self.animated and self.format not in (OutputFormat.WEBP, OutputFormat.AUTO):
            raise ValueError("animated output is only available as webp (or auto)")
        if self.effort is not None:
            if self.format not in EFFORT_RANGE:
                raise ValueError(f"format={self.format.value} has no effort setting")
            low, high = EFFORT_RANGE[self.format]
            if not low <= self.effort <= high:
                raise ValueError(f"effort for {self.format.value} must be in {low}..{high}")
        return self

    @property
    def background_rgba(self) -> tuple[int, int, int, int]:
        return rgba(self.background)


class Catalogue(BaseModel):
    """The set of variants rendered for every accepted upload."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    variants: Annotated[list[Variant], Field(min_length=1)]

    @model_validator(mode="after")
    def _check_unique_names(self) -> Self:
        names = [variant.name for variant in self.variants]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate variant names: {', '.join(duplicates)}")
        return self

    @property
    def names(self) -> list[str]:
        return [variant.name for variant in self.variants]

    def get(self, name: str) -> Variant:
        for variant in self.variants:
            if variant.name == name:
                return variant
        raise VariantNotFound(f"no variant named {name!r} (known: {', '.join(self.names)})")


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Load and validate a catalogue; ``None`` gives the packaged default (cached)."""
    if path is None:
        return _default_catalogue()
    return Catalogue.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))


@lru_cache(maxsize=1)
def _default_catalogue() -> Catalogue:
    return Catalogue.model_validate(json.loads(DEFAULT_CATALOGUE_PATH.read_text(encoding="utf-8")))
