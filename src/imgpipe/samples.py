"""Deterministic photo-like test images for the bench and `imgpipe cost` (generated once, cached).

Photo-like means what makes resizers and encoders work: smooth gradients (sky), mid-frequency
texture and sensor noise (foliage, grain) and hard edges (buildings), never flat synthetic fill.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SEED = 20240601
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "imgpipe-bench"


@dataclass(frozen=True)
class BenchInput:
    name: str
    width: int
    height: int
    kind: str  # jpeg | png-alpha | webp | gif-animated | avif | heic
    # libvips can decode it: pyvips-binary's libheif has AV1 but no HEVC decoder.
    vips: bool = True
    # The catalogue variants this input runs (the default catalogue unless given).
    variants: tuple[str, ...] = ()

    @property
    def filename(self) -> str:
        extension = {"jpeg": "jpg", "png-alpha": "png", "webp": "webp", "gif-animated": "gif"}
        return f"{self.name}.{extension.get(self.kind, self.kind)}"


INPUTS = (
    BenchInput("jpeg-24mp", 6000, 4000, "jpeg"),
    BenchInput("jpeg-12mp", 4000, 3000, "jpeg"),
    BenchInput("png-alpha-12mp", 4000, 3000, "png-alpha"),
    BenchInput("webp-12mp", 4000, 3000, "webp"),
    BenchInput("gif-animated", 800, 600, "gif-animated"),
    BenchInput("avif-12mp", 4000, 3000, "avif"),
    BenchInput("heic-12mp", 4000, 3000, "heic", vips=False),
    # Feature cases (bench/run.py FEATURE_VARIANTS): text watermark, attention crop.
    BenchInput("jpeg-12mp", 4000, 3000, "jpeg", variants=("marked", "attention")),
)


def photo_like(width: int, height: int, seed: int) -> np.ndarray:
    """An RGB uint8 array with gradients, texture, noise and edges."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    channels = []
    for _ in range(3):
        plane = np.full((height, width), rng.uniform(60, 190), dtype=np.float32)
        plane += rng.uniform(-60, 60) * y + rng.uniform(-60, 60) * x
        for _ in range(4):
            fx, fy = rng.uniform(0.5, 6, size=2)
            phase = rng.uniform(0, 2 * np.pi)
            plane += rng.uniform(5, 25) * np.sin(2 * np.pi * (fx * x + fy * y) + phase)
        channels.append(plane)
    rgb = np.stack(channels, axis=-1)
    # Mid-frequency texture: coarse noise upsampled, then pixel-level grain.
    coarse = rng.normal(0, 14, size=(height // 8 + 1, width // 8 + 1, 3)).astype(np.float32)
    texture = Image.fromarray(np.clip(coarse + 128, 0, 255).astype(np.uint8)).resize(
        (width, height), Image.Resampling.BILINEAR
    )
    rgb += np.asarray(texture, dtype=np.float32) - 128
    rgb += rng.normal(0, 4, size=rgb.shape).astype(np.float32)
    image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")
    del rgb, texture, coarse
    draw = ImageDraw.Draw(image)
    for _ in range(60):
        x0, y0 = int(rng.uniform(0, width)), int(rng.uniform(0, height))
        x1 = x0 + int(rng.uniform(0.02, 0.3) * width)
        y1 = y0 + int(rng.uniform(0.02, 0.3) * height)
        fill = tuple(int(v) for v in rng.integers(0, 255, size=3))
        if rng.random() < 0.5:
            draw.rectangle((x0, y0, x1, y1), fill=fill)
        else:
            draw.ellipse((x0, y0, x1, y1), fill=fill, outline=(0, 0, 0), width=3)
    array = np.asarray(image, dtype=np.float32)
    array += rng.normal(0, 3, size=array.shape).astype(np.float32)  # grain over the shapes too
    return np.clip(array, 0, 255).astype(np.uint8)


def _alpha(width: int, height: int) -> np.ndarray:
    """Soft vignette plus hard transparent cut-outs: both alpha cases a resizer must handle."""
    y = np.linspace(-1.0, 1.0, height, dtype=np.float32)[:, None]
    x = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :]
    alpha = np.clip(1.6 - np.sqrt(x * x + y * y), 0, 1) * 255
    mask = Image.fromarray(alpha.astype(np.uint8), "L")
    draw = ImageDraw.Draw(mask)
    draw.ellipse((width * 0.1, height * 0.1, width * 0.3, height * 0.35), fill=0)
    draw.rectangle((width * 0.6, height * 0.55, width * 0.85, height * 0.8), fill=0)
    return np.asarray(mask)


def generate(spec: BenchInput, directory: Path) -> Path:
    """Write ``spec`` into ``directory`` unless it is already there; return its path."""
    path = directory / spec.filename
    if path.exists():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial" + path.suffix)
    seed = SEED + sum(map(ord, spec.name))
    if spec.kind == "gif-animated":
        frames = []
        wide = photo_like(spec.width * 2, spec.height, seed)
        for index in range(24):
            offset = index * spec.width // 24
            frame = Image.fromarray(wide[:, offset : offset + spec.width])
            frames.append(frame.quantize(256, dither=Image.Dither.NONE))
        frames[0].save(
            partial, format="GIF", save_all=True, append_images=frames[1:], duration=80, loop=0
        )
    else:
        rgb = photo_like(spec.width, spec.height, seed)
        if spec.kind == "jpeg":
            Image.fromarray(rgb).save(partial, format="JPEG", quality=90)
        elif spec.kind == "webp":
            Image.fromarray(rgb).save(partial, format="WEBP", quality=90, method=4)
        elif spec.kind == "avif":
            Image.fromarray(rgb).save(partial, format="AVIF", quality=90, speed=6)
        elif spec.kind == "heic":
            # An encoder only the bench needs: the pipeline's pi-heif decodes only.
            import pillow_heif

            pillow_heif.from_pillow(Image.fromarray(rgb)).save(partial, quality=90)
        else:
            rgba = np.dstack([rgb, _alpha(spec.width, spec.height)])
            Image.fromarray(rgba, "RGBA").save(partial, format="PNG", compress_level=6)
    partial.rename(path)
    return path
