"""Responsive images: the published variants as ``srcset`` lists and a ``<picture>`` snippet.

A ``srcset`` offers the same picture at several widths, so only variants with the source's aspect
ratio take part: a ``cover`` square or a padded box is a different picture (it stays in the
manifest's variant list). Newer formats come first as ``<source>`` elements; the ``<img>``
falls back to JPEG (then PNG) for browsers without them.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Most compact first: a browser takes the first <source> whose type it supports.
SOURCE_ORDER = ("image/avif", "image/webp")
FALLBACK_ORDER = ("image/jpeg", "image/png", "image/webp", "image/avif")
DEFAULT_SIZES = "100vw"
# Rounding a side to whole pixels changes the ratio by up to 1/side; allow that and a bit.
_ASPECT_TOLERANCE = 0.02


class Candidate(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    url: str
    width: int
    height: int
    content_type: str = Field(alias="contentType")


class SourceSet(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    type: str
    srcset: str
    widths: list[int]


class Responsive(BaseModel):
    """``srcset`` per type (best first), the fallback ``<img>`` and a ready ``<picture>``."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    sizes: str = DEFAULT_SIZES
    sources: list[SourceSet]
    src: str
    width: int
    height: int
    picture: str


def build(
    variants: Iterable[dict[str, Any]],
    source_size: tuple[int, int] | None,
    *,
    sizes: str = DEFAULT_SIZES,
) -> Responsive | None:
    """From published variants (manifest/record dicts); ``None`` when none is a resize."""
    candidates = [Candidate.model_validate(variant) for variant in variants]
    if source_size is not None:
        ratio = source_size[0] / source_size[1]
        candidates = [c for c in candidates if _same_aspect(c.width / c.height, ratio)]
    by_type: dict[str, dict[int, Candidate]] = {}
    for candidate in sorted(candidates, key=lambda c: c.width):
        by_type.setdefault(candidate.content_type, {}).setdefault(candidate.width, candidate)
    fallback_type = next((t for t in FALLBACK_ORDER if t in by_type), None)
    if fallback_type is None:
        return None
    sets = {
        kind: SourceSet(
            type=kind,
            srcset=", ".join(f"{c.url} {c.width}w" for c in found.values()),
            widths=list(found),
        )
        for kind, found in by_type.items()
    }
    sources = [sets[kind] for kind in SOURCE_ORDER if kind in sets and kind != fallback_type]
    sources.append(sets[fallback_type])
    largest = list(by_type[fallback_type].values())[-1]
    return Responsive(
        sizes=sizes,
        sources=sources,
        src=largest.url,
        width=largest.width,
        height=largest.height,
        picture=_picture(sources, largest, sizes),
    )


def _same_aspect(ratio: float, expected: float) -> bool:
    return abs(ratio - expected) <= _ASPECT_TOLERANCE * expected


def _picture(sources: list[SourceSet], img: Candidate, sizes: str) -> str:
    quote = html.escape
    lines = ["<picture>"]
    for source in sources[:-1]:
        lines.append(
            f'  <source type="{quote(source.type)}" srcset="{quote(source.srcset)}" '
            f'sizes="{quote(sizes)}">'
        )
    lines.append(
        f'  <img src="{quote(img.url)}" srcset="{quote(sources[-1].srcset)}" '
        f'sizes="{quote(sizes)}" width="{img.width}" height="{img.height}" alt="" '
        'loading="lazy" decoding="async">'
    )
    lines.append("</picture>")
    return "\n".join(lines)


def for_record(record: dict[str, Any]) -> Responsive | None:
    """The responsive set of a status record (its published variants and source size)."""
    variants = record.get("variants") or []
    image = record.get("image") or {}
    size = (image["width"], image["height"]) if image.get("width") and image.get("height") else None
    return build(variants, size) if variants else None
