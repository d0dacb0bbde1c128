from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from imgpipe_core.catalogue import Catalogue, Fit, OutputFormat, Variant, load_catalogue
from imgpipe_core.errors import VariantNotFound


def test_default_catalogue_has_the_documented_variants() -> None:
    catalogue = load_catalogue()

    assert catalogue.names == ["thumbnail", "medium", "large", "webp"]
    assert (catalogue.get("thumbnail").width, catalogue.get("thumbnail").height) == (300, 300)
    assert (catalogue.get("medium").width, catalogue.get("medium").height) == (800, 600)
    assert (catalogue.get("large").width, catalogue.get("large").height) == (1920, 1080)
    webp = catalogue.get("webp")
    assert (webp.width, webp.height, webp.format) == (None, None, OutputFormat.WEBP)
    assert all(not variant.upscale and variant.fit is Fit.INSIDE for variant in catalogue.variants)


def test_get_unknown_variant_raises_variant_not_found() -> None:
    with pytest.raises(VariantNotFound, match="nope"):
        load_catalogue().get("nope")


def test_load_from_path(tmp_path: Path) -> None:
    path = tmp_path / "variants.json"
    path.write_text(json.dumps({"variants": [{"name": "square", "width": 64, "height": 64}]}))

    assert load_catalogue(path).get("square").width == 64
    assert load_catalogue(str(path)).names == ["square"]


def test_variant_defaults() -> None:
    variant = Variant(name="x")

    assert variant.fit is Fit.INSIDE
    assert variant.format is OutputFormat.JPEG
    assert not (variant.upscale or variant.animated or variant.keep_icc or variant.keep_copyright)
    assert variant.background_rgba == (255, 255, 255, 255)


@pytest.mark.parametrize(
    "variants",
    [
        [{"name": "a"}, {"name": "a"}],  # duplicate names
        [{"name": "Upper"}],
        [{"name": "-dash-first"}],
        [{"name": "a" * 32}],
        [{"name": "a", "width": 0}],
        [{"name": "a", "height": -5}],
        [{"name": "a", "quality": 0}],
        [{"name": "a", "quality": 101}],
        [{"name": "a", "fit": "cover", "width": 10}],  # cover needs both sides
        [{"name": "a", "fit": "stretch"}],
        [{"name": "a", "format": "bmp"}],
        [{"name": "a", "format": "jpeg", "animated": True}],
        [{"name": "a", "format": "jpeg", "effort": 3}],
        [{"name": "a", "format": "webp", "effort": 7}],
        [{"name": "a", "background": "white"}],
        [{"name": "a", "colour": "red"}],  # unknown field
        [{"name": "a", "scale": 0}],
        [{"name": "a", "scale": 1.5}],  # never upscales
        [{"name": "a", "scale": 0.5, "upscale": True}],
        [{"name": "a", "scale": 0.5, "fit": "cover", "width": 10, "height": 10}],
        [{"name": "a", "crop": "attention"}],  # crop only chooses what cover keeps
        [{"name": "a", "crop": "faces", "fit": "cover", "width": 10, "height": 10}],
        [],
    ],
)
def test_invalid_catalogues_are_refused(variants: list[dict[str, object]]) -> None:
    with pytest.raises(ValidationError):
        Catalogue.model_validate({"variants": variants})


def test_valid_variant_options() -> None:
    variant = Variant.model_validate(
        {
            "name": "hero-2x",
            "width": 1200,
            "height": 600,
            "fit": "pad",
            "format": "avif",
            "effort": 8,
            "background": "#00000080",
        }
    )

    assert variant.background_rgba == (0, 0, 0, 128)
