"""Resource limits for untrusted uploads (defaults; Lambda config overrides them)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

PositiveInt = Annotated[int, Field(ge=1)]


class Limits(BaseModel):
    """What an upload may cost us. Every check runs on header data before any pixel is decoded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_bytes: PositiveInt = 25 * 1024 * 1024
    max_side: PositiveInt = 10_000
    max_pixels: PositiveInt = 40_000_000
    max_frames: PositiveInt = 200
    # frames x pixels: bounds the decode time and memory of an animation
    max_total_pixels: PositiveInt = 400_000_000
