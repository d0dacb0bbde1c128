"""Image similarity for the benchmark: SSIM on luma with an 8x8 box window (numpy only)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2
WINDOW = 8


def luma(image: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """Rec.601 luma as float32, alpha composited onto ``background`` (as a viewer would)."""
    if image.mode in ("RGBA", "LA", "PA", "P"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, background)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        image = canvas
    return np.asarray(image.convert("L"), dtype=np.float32)


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _box_mean(array: np.ndarray) -> np.ndarray:
    """Mean over every WINDOW x WINDOW window (valid region), via a summed-area table."""
    table = np.pad(array.astype(np.float64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    w = WINDOW
    sums = table[w:, w:] - table[:-w, w:] - table[w:, :-w] + table[:-w, :-w]
    return (sums / (w * w)).astype(np.float32)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two equally sized luma planes (1.0 = identical)."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if min(a.shape) < WINDOW:
        return float(1.0 - np.abs(a - b).mean() / 255)
    mu_a, mu_b = _box_mean(a), _box_mean(b)
    var_a = _box_mean(a * a) - mu_a * mu_a
    var_b = _box_mean(b * b) - mu_b * mu_b
    cov = _box_mean(a * b) - mu_a * mu_b
    score = ((2 * mu_a * mu_b + _C1) * (2 * cov + _C2)) / (
        (mu_a * mu_a + mu_b * mu_b + _C1) * (var_a + var_b + _C2)
    )
    return float(score.mean())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255 * 255 / mse)


def same_size(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Bring ``image`` to ``size`` when two resizers rounded a side differently (1 px)."""
    return image if image.size == size else image.resize(size, Image.Resampling.LANCZOS)
