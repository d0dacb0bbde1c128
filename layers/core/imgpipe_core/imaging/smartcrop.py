"""Where ``fit: cover`` places its window: the centre, the busiest part, or what draws the eye.

``cover`` keeps a box-shaped window of the source at the largest size that fits, so the window
spans the source on one axis and only slides along the other. The strategies score positions
along that axis on a small copy (at most :data:`ANALYSIS_SIDE` pixels a side: the choice does
not need detail, and the cost stays the same for any source size):

- ``entropy``: the window whose pixels have the highest Shannon entropy (most detail).
- ``attention``: libvips' recipe: luminance edges, colour saturation and skin tones add up to an
  interest map, and the window holding the most of it wins.

Pure Pillow on one small image, no randomness: the same source always gives the same crop. Ties
go to the position nearest the centre, so a uniform image is cropped like ``centre``.
"""

from __future__ import annotations

from PIL import Image, ImageChops, ImageFilter

from imgpipe_core.catalogue import Crop

# Long side of the analysis copy: 128 px keeps the window's position to within 1/128 of the
# axis (sub-pixel at thumbnail sizes) for ~16k pixels of work per filter.
ANALYSIS_SIDE = 128
# Interest weights of the attention map (each map is 0-255): skin tones count most because a
# face is usually the subject; edges alone would favour texture such as foliage.
ATTENTION_WEIGHTS = {"edges": 1.0, "saturation": 1.0, "skin": 2.0}
# Skin tones in Pillow's HSV (0-255 each): hue 0-50 degrees, moderate saturation, not dark.
_SKIN_HUE = (0, 36)
_SKIN_SATURATION = (40, 180)
_SKIN_MIN_VALUE = 80


def place_window(
    image: Image.Image, window: tuple[float, float], crop: Crop
) -> tuple[float, float]:
    """Top-left corner for a ``window``-sized crop of ``image`` (both in ``image``'s pixels)."""
    width, height = image.size
    slack_x, slack_y = max(0.0, width - window[0]), max(0.0, height - window[1])
    centre = (slack_x / 2, slack_y / 2)
    if crop is Crop.CENTRE or (slack_x < 1 and slack_y < 1):
        return centre
    horizontal = slack_x >= slack_y
    small = _analysis_copy(image)
    ratio = small.width / width if horizontal else small.height / height
    span = small.width if horizontal else small.height
    length = max(1, min(span, round((window[0] if horizontal else window[1]) * ratio)))
    scores = (
        _entropy_scores(small, length, horizontal)
        if crop is Crop.ENTROPY
        else _attention_scores(small, length, horizontal)
    )
    if max(scores) == min(scores):
        return centre  # nothing to choose between: exactly what ``centre`` gives
    middle = (span - length) / 2
    best = max(range(len(scores)), key=lambda start: (scores[start], -abs(start - middle)))
    offset = min(best / ratio, slack_x if horizontal else slack_y)
    return (offset, centre[1]) if horizontal else (centre[0], offset)


def _analysis_copy(image: Image.Image) -> Image.Image:
    rgb = image.convert("RGB") if image.mode != "RGB" else image
    scale = ANALYSIS_SIDE / max(rgb.size)
    if scale >= 1:
        return rgb
    size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
    return rgb.resize(size, Image.Resampling.BOX)


def _entropy_scores(small: Image.Image, length: int, horizontal: bool) -> list[float]:
    grey = small.convert("L")
    span = grey.width if horizontal else grey.height
    scores = []
    for start in range(span - length + 1):
        box = (
            (start, 0, start + length, grey.height)
            if horizontal
            else (0, start, grey.width, start + length)
        )
        scores.append(round(grey.crop(box).entropy(), 9))  # rounded: ties are exact ties
    return scores


def _attention_scores(small: Image.Image, length: int, horizontal: bool) -> list[float]:
    hue, saturation, value = small.convert("HSV").split()
    edges = _edges(small.convert("L"))
    skin = Image.merge("RGB", (hue, saturation, value)).point(
        [255 if _SKIN_HUE[0] <= i <= _SKIN_HUE[1] else 0 for i in range(256)]
        + [255 if _SKIN_SATURATION[0] <= i <= _SKIN_SATURATION[1] else 0 for i in range(256)]
        + [255 if i >= _SKIN_MIN_VALUE else 0 for i in range(256)]
    )
    skin_mask = _min_of_channels(skin)
    profile = [0.0] * (small.width if horizontal else small.height)
    for name, layer in (("edges", edges), ("saturation", saturation), ("skin", skin_mask)):
        for index, total in enumerate(_profile(layer, horizontal)):
            profile[index] += ATTENTION_WEIGHTS[name] * total
    window = sum(profile[:length])
    scores = [window]
    for start in range(1, len(profile) - length + 1):
        window += profile[start + length - 1] - profile[start - 1]
        scores.append(window)
    return [round(score, 6) for score in scores]


def _edges(grey: Image.Image) -> Image.Image:
    """Laplacian edge strength; Pillow copies the 1-px border unfiltered, so it is zeroed."""
    filtered = grey.filter(ImageFilter.FIND_EDGES)
    edges = Image.new("L", grey.size, 0)
    if grey.width > 2 and grey.height > 2:
        inner = (1, 1, grey.width - 1, grey.height - 1)
        edges.paste(filtered.crop(inner), inner[:2])
    return edges


def _min_of_channels(image: Image.Image) -> Image.Image:
    """Per-pixel minimum of the channels: 255 only where every test passed."""
    first, *rest = image.split()
    for channel in rest:
        first = ImageChops.darker(first, channel)
    return first


def _profile(layer: Image.Image, horizontal: bool) -> list[float]:
    """Column (or row) sums of an L image: a box-average down to one row, times the height."""
    size = (layer.width, 1) if horizontal else (1, layer.height)
    across = layer.height if horizontal else layer.width
    averaged = layer.resize(size, Image.Resampling.BOX)
    return [float(value) * across for value in averaged.tobytes()]
