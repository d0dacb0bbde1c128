"""Helpers for the image-engine tests (not a conftest: test modules import it by name)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from imgpipe_core.catalogue import Variant
from imgpipe_core.imaging import Limits, Rendition, inspect_image, render_variant

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "images"
CORPUS = Path(__file__).resolve().parents[3] / ".." / "shared" / "corpus"


def fixture(name: str) -> Path:
    return FIXTURES / name


def corpus_dir(name: str) -> Path:
    path = CORPUS / name
    if not path.is_dir():
        pytest.skip(f"corpus folder {path} is not available")
    return path


def render(path: Path, limits: Limits | None = None, **variant: object) -> Rendition:
    """Validate then render, as the pipeline does (validate Lambda, then resize Lambda)."""
    limits = limits or Limits()
    info = inspect_image(path, limits)
    spec = {"name": "test", **variant}
    return render_variant(
        path, Variant.model_validate(spec), media_type=info.media_type, limits=limits
    )


def decoded(rendition: Rendition) -> Image.Image:
    image = Image.open(io.BytesIO(rendition.data))
    image.load()
    return image
