"""Placeholders shown while variants load: a ThumbHash and the dominant colour.

ThumbHash (Evan Wallace's format, https://evanw.github.io/thumbhash/) over BlurHash, measured on
the test photos (README, "Placeholders"): about the same size (~25 bytes, 33-36 base64
characters, against 28-30 BlurHash characters at 4x3), closer colours after decoding, alpha and
the aspect ratio in the hash, and decoders that need no parameters. The bit layout is the
format's, so any ThumbHash decoder (the web page's, the JavaScript and Swift libraries) reads it.

Both are computed once, in validation, from the smallest decode the pipeline makes (JPEG's 1/8
draft), shrunk to at most :data:`HASH_SIDE` pixels, upright and in sRGB.
"""

from __future__ import annotations

import base64
import math
import operator
from collections.abc import Sequence

from PIL import Image

from imgpipe_core.imaging.facts import Placeholder

# ThumbHash's limit on the input; its DCT keeps at most 7 frequencies a side, so more pixels
# would change nothing visible.
HASH_SIDE = 100
# Median-cut palette size for the dominant colour: few enough that similar shades merge.
_DOMINANT_PALETTE = 8


def placeholder(image: Image.Image) -> Placeholder:
    """ThumbHash and dominant colour of an upright sRGB ``image`` (any size)."""
    small = image.convert("RGBA")
    small.thumbnail((HASH_SIDE, HASH_SIDE), Image.Resampling.BOX)
    return Placeholder(
        thumbhash=base64.b64encode(thumbhash(small)).decode("ascii"),
        dominant_colour=dominant_colour(small),
    )


def dominant_colour(image: Image.Image) -> str:
    """The most common colour after a median-cut to a few colours; transparent pixels ignored."""
    rgba = image.convert("RGBA")
    opaque = rgba.getchannel("A").point(lambda value: 255 if value >= 128 else 0)
    rgb = Image.new("RGB", rgba.size)
    rgb.paste(rgba.convert("RGB"), mask=opaque)
    if opaque.getbbox() is None:
        return "#000000"
    quantized = rgb.quantize(_DOMINANT_PALETTE, method=Image.Quantize.MEDIANCUT)
    counts = [0] * 256
    for index, keep in zip(quantized.tobytes(), opaque.tobytes(), strict=True):
        if keep:
            counts[index] += 1
    best = max(range(256), key=lambda index: (counts[index], -index))
    palette = quantized.getpalette() or []
    red, green, blue = palette[best * 3 : best * 3 + 3]
    return f"#{red:02x}{green:02x}{blue:02x}"


# -- ThumbHash -------------------------------------------------------------------------------


def thumbhash(image: Image.Image) -> bytes:
    """The ThumbHash of an RGBA image of at most 100x100 pixels."""
    width, height = image.size
    if max(width, height) > HASH_SIDE:
        raise ValueError(f"ThumbHash needs at most {HASH_SIDE}x{HASH_SIDE}, got {width}x{height}")
    data = image.convert("RGBA").tobytes()
    count = width * height
    alphas = [value / 255 for value in data[3::4]]
    total_alpha = sum(alphas)
    # map() over slices, not generators over indices: the same products summed in the same
    # order (the same bits) in less time (12 MP JPEG validation 32.8 -> 27.7 ms).
    averages = [sum(map(_weighted, alphas, data[channel::4])) for channel in range(3)]
    if total_alpha:
        averages = [value / total_alpha for value in averages]
    has_alpha = total_alpha < count
    limit = 5 if has_alpha else 7
    lx = max(1, _half_up(limit * width / max(width, height)))
    ly = max(1, _half_up(limit * height / max(width, height)))
    # Composited onto the average colour, then to luminance and two chroma axes.
    channels: list[list[float]] = [[], [], [], []]
    avg_r, avg_g, avg_b = averages
    for alpha, red, green, blue in zip(alphas, data[0::4], data[1::4], data[2::4], strict=True):
        rest = 1 - alpha
        r = avg_r * rest + alpha * red / 255
        g = avg_g * rest + alpha * green / 255
        b = avg_b * rest + alpha * blue / 255
        channels[0].append((r + g + b) / 3)
        channels[1].append((r + g) / 2 - b)
        channels[2].append(r - g)
        channels[3].append(alpha)
    size = (width, height)
    l_dc, l_ac, l_scale = _encode_channel(channels[0], size, max(3, lx), max(3, ly))
    p_dc, p_ac, p_scale = _encode_channel(channels[1], size, 3, 3)
    q_dc, q_ac, q_scale = _encode_channel(channels[2], size, 3, 3)
    landscape = width > height
    header24 = (
        _half_up(63 * l_dc)
        | _half_up(31.5 + 31.5 * p_dc) << 6
        | _half_up(31.5 + 31.5 * q_dc) << 12
        | _half_up(31 * l_scale) << 18
        | int(has_alpha) << 23
    )
    header16 = (
        (ly if landscape else lx)
        | _half_up(63 * p_scale) << 3
        | _half_up(63 * q_scale) << 9
        | int(landscape) << 15
    )
    out = [header24 & 255, (header24 >> 8) & 255, header24 >> 16, header16 & 255, header16 >> 8]
    factors = [l_ac, p_ac, q_ac]
    if has_alpha:
        a_dc, a_ac, a_scale = _encode_channel(channels[3], size, 5, 5)
        out.append(_half_up(15 * a_dc) | _half_up(15 * a_scale) << 4)
        factors.append(a_ac)
    nibbles = [_half_up(15 * factor) for ac in factors for factor in ac]
    nibbles += [0] * (len(nibbles) % 2)
    out += [low | high << 4 for low, high in zip(nibbles[::2], nibbles[1::2], strict=True)]
    return bytes(out)


def _weighted(alpha: float, value: int) -> float:
    return alpha * value / 255


def _half_up(value: float) -> int:
    """JavaScript's Math.round (Python's round() goes to even): the reference encoder's bits."""
    return math.floor(value + 0.5)


def _encode_channel(
    values: Sequence[float], size: tuple[int, int], nx: int, ny: int
) -> tuple[float, list[float], float]:
    """DCT coefficients of the triangle cx/nx + cy/ny < 1: DC, the others scaled to 0-1, scale."""
    width, height = size
    dc, ac, scale = 0.0, [], 0.0
    rows = [values[y * width : (y + 1) * width] for y in range(height)]
    # Separable: each horizontal frequency's row sums are shared by every vertical one.
    row_sums: dict[int, list[float]] = {}
    for cy in range(ny):
        fy = [math.cos(math.pi / height * cy * (y + 0.5)) for y in range(height)]
        cx = 0
        while cx * ny < nx * (ny - cy):
            if cx not in row_sums:
                fx = [math.cos(math.pi / width * cx * (x + 0.5)) for x in range(width)]
                row_sums[cx] = [sum(map(operator.mul, row, fx)) for row in rows]
            total = sum(map(operator.mul, row_sums[cx], fy))
            factor = total / (width * height)
            if cx or cy:
                ac.append(factor)
                scale = max(scale, abs(factor))
            else:
                dc = factor
            cx += 1
    if scale:
        ac = [0.5 + 0.5 / scale * factor for factor in ac]
    return dc, ac, scale


def decode_thumbhash(hash_: bytes) -> Image.Image:
    """The ThumbHash as an RGBA image of at most 32x32 (tests and tools; browsers do their own)."""
    header24 = hash_[0] | hash_[1] << 8 | hash_[2] << 16
    header16 = hash_[3] | hash_[4] << 8
    l_dc = (header24 & 63) / 63
    p_dc = ((header24 >> 6) & 63) / 31.5 - 1
    q_dc = ((header24 >> 12) & 63) / 31.5 - 1
    l_scale = ((header24 >> 18) & 31) / 31
    has_alpha = bool(header24 >> 23)
    p_scale = ((header16 >> 3) & 63) / 63
    q_scale = ((header16 >> 9) & 63) / 63
    landscape = bool(header16 >> 15)
    limit = 5 if has_alpha else 7
    stored_x, stored_y = (limit, header16 & 7) if landscape else (header16 & 7, limit)
    lx, ly = max(3, stored_x), max(3, stored_y)
    a_dc, a_scale = ((hash_[5] & 15) / 15, (hash_[5] >> 4) / 15) if has_alpha else (1.0, 0.0)
    start = 6 if has_alpha else 5
    position = 0

    def channel(nx: int, ny: int, factor_scale: float) -> list[tuple[int, int, float]]:
        nonlocal position
        factors = []
        for cy in range(ny):
            cx = 0 if cy else 1
            while cx * ny < nx * (ny - cy):
                nibble = (hash_[start + (position >> 1)] >> ((position & 1) << 2)) & 15
                factors.append((cx, cy, (nibble / 7.5 - 1) * factor_scale))
                position += 1
                cx += 1
        return factors

    l_ac = channel(lx, ly, l_scale)
    p_ac = channel(3, 3, p_scale * 1.25)
    q_ac = channel(3, 3, q_scale * 1.25)
    a_ac = channel(5, 5, a_scale) if has_alpha else []
    ratio = stored_x / stored_y  # the format's approximate aspect ratio
    width = round(32 if ratio > 1 else 32 * ratio)
    height = round(32 / ratio if ratio > 1 else 32)
    # Cosine tables: cos_x[x][cx] for every column, cos_y[y][cy] (doubled, as the format says).
    cos_x = [[math.cos(math.pi / width * (x + 0.5) * cx) for cx in range(8)] for x in range(width)]
    cos_y = [
        [2 * math.cos(math.pi / height * (y + 0.5) * cy) for cy in range(8)] for y in range(height)
    ]
    pixels = bytearray()
    for y in range(height):
        for x in range(width):
            fx, fy = cos_x[x], cos_y[y]
            lum, p, q, alpha = (
                dc + sum(f * fx[cx] * fy[cy] for cx, cy, f in factors)
                for dc, factors in ((l_dc, l_ac), (p_dc, p_ac), (q_dc, q_ac), (a_dc, a_ac))
            )
            blue = lum - 2 / 3 * p
            red = (3 * lum - blue + q) / 2
            green = red - q
            pixels += bytes(
                max(0, min(255, round(255 * component))) for component in (red, green, blue, alpha)
            )
    return Image.frombytes("RGBA", (width, height), bytes(pixels))
