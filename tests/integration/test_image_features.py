"""Image features end to end: HEIC input, proportional and watermarked variants, smart crop,
EXIF facts and placeholders on the record, the responsive manifest."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from tests.integration.conftest import Pipeline, deploy_pipeline

pytestmark = pytest.mark.engine

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "images"
CATALOGUE = {
    "variants": [
        {"name": "half", "scale": 0.5, "format": "png"},
        {
            "name": "marked",
            "scale": 0.5,
            "format": "png",
            "watermark": {"text": "imgpipe", "position": "top-left", "opacity": 1, "min_size": 10},
        },
        {
            "name": "logo",
            "format": "png",
            "watermark": {"image": "watermarks/red.png", "opacity": 1, "min_size": 10},
        },
        {"name": "square", "width": 32, "height": 32, "fit": "cover", "crop": "attention"},
        {"name": "webp", "format": "webp"},
    ]
}


@pytest.fixture(scope="module")
def features(engine) -> Pipeline:
    """A stack with a feature catalogue, GPS facts allowed, and a watermark in the bucket."""
    pipeline = deploy_pipeline(
        engine, "features", {"VariantCatalogue": json.dumps(CATALOGUE), "ExifGps": "true"}
    )
    logo = io.BytesIO()
    Image.new("RGBA", (20, 20), (255, 0, 0, 255)).save(logo, "PNG")
    pipeline.client("s3").put_object(
        Bucket=pipeline.outputs["PrivateBucketName"], Key="watermarks/red.png", Body=logo.getvalue()
    )
    return pipeline


def published(pipeline: Pipeline, record: dict) -> dict[str, Image.Image]:
    s3 = pipeline.client("s3")
    images = {}
    for entry in record["variants"]:
        body = s3.get_object(Bucket=pipeline.outputs["PublicBucketName"], Key=entry["key"])["Body"]
        image = Image.open(io.BytesIO(body.read()))
        image.load()
        images[entry["variant"]] = image
    return images


def test_heic_upload_is_published_upright_with_facts_and_placeholder(features: Pipeline) -> None:
    # GIVEN an iPhone-style HEIC stored sideways (irot), named like anything
    data = (FIXTURES / "orientation6-quadrants.heic").read_bytes()
    pid = features.upload("uploads/IMG_0001.bin", data, "image/heic")

    # WHEN the pipeline has run
    record = features.wait_done(pid)

    # THEN it succeeded, sniffed as HEIC, with the camera's facts and a placeholder on the record
    assert record["status"] == "SUCCEEDED", record
    image = record["image"]
    assert (image["media_type"], image["width"], image["height"]) == ("heic", 48, 64)
    assert image["exif"]["make"] == "Apple" and image["exif"]["orientation"] == 6
    assert image["placeholder"]["thumbhash"] and image["placeholder"]["dominant_colour"]
    # AND the half-size variant is upright: blue top-left, red top-right
    images = published(features, record)
    half = images["half"].convert("RGB")
    assert half.size == (24, 32)
    blue, red = half.getpixel((4, 4)), half.getpixel((20, 4))
    assert blue[2] > 200 > blue[0] and red[0] > 200 > red[2]  # type: ignore[index]
    # AND the manifest carries the facts and a responsive set of same-aspect variants
    body = features.client("s3").get_object(
        Bucket=features.outputs["PublicBucketName"], Key=f"images/{pid}/manifest.json"
    )["Body"]
    manifest = json.loads(body.read())
    assert manifest["image"]["exif"]["model"] == "iPhone 15 Pro"
    assert manifest["image"]["placeholder"] == image["placeholder"]
    widths = {s["type"]: s["widths"] for s in manifest["responsive"]["sources"]}
    assert widths == {"image/webp": [48], "image/png": [24, 48]}  # the square crop is not there
    assert "<picture>" in manifest["responsive"]["picture"]


def test_watermarked_and_cropped_variants(features: Pipeline) -> None:
    # GIVEN a plain grey JPEG with GPS in its EXIF
    exif = Image.Exif()
    exif.get_ifd(0x8825).update({1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 0.0)})
    source = io.BytesIO()
    Image.new("RGB", (200, 100), (90, 100, 110)).save(source, "JPEG", quality=95, exif=exif)
    pid = features.upload("uploads/grey.jpg", source.getvalue(), "image/jpeg")

    record = features.wait_done(pid)

    assert record["status"] == "SUCCEEDED", record
    images = {name: image.convert("RGB") for name, image in published(features, record).items()}
    # THEN the text mark is in the top-left of the marked variant only
    difference = ImageChops.difference(images["half"], images["marked"])
    box = difference.point(lambda v: 255 if v > 24 else 0).getbbox()
    assert box is not None and box[0] < 10 and box[1] < 10 and box[2] < 60 and box[3] < 30
    # AND the bucket's red logo is at the bottom-right of its variant
    logo = images["logo"]
    assert logo.size == (200, 100)
    assert logo.getpixel((190, 90)) == (255, 0, 0)
    assert logo.getpixel((10, 10)) != (255, 0, 0)
    assert images["square"].size == (32, 32)
    # AND GPS is on the record because this stack allows it (never in a variant)
    assert record["image"]["exif"]["gps"]["latitude"] == 51.5
    assert all(not image.getexif() for image in published(features, record).values())


def test_gps_is_absent_by_default(pipeline: Pipeline) -> None:
    data = (FIXTURES / "gps-copyright-orientation6.jpg").read_bytes()
    pid = pipeline.upload("uploads/gps.jpg", data, "image/jpeg")

    record = pipeline.wait_done(pid)

    assert record["status"] == "SUCCEEDED", record
    assert record["image"]["exif"]["orientation"] == 6
    assert record["image"]["exif"].get("gps") is None
