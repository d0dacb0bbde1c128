"""EXIF facts on the record: what the camera said, GPS only when allowed, never in the variants."""

from __future__ import annotations

from pathlib import Path

import pytest
from imaging_support import decoded, fixture, render
from PIL import Image, TiffImagePlugin

from imgpipe_core.imaging import Limits, inspect_image
from imgpipe_core.imaging.metadata import ExifFacts, Gps, exif_facts


def camera_jpeg(path: Path) -> Path:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = "FUJIFILM", "X-T5", 8
    sub = exif.get_ifd(0x8769)
    sub[0x9003], sub[0x9011] = "2024:06:01 18:30:05", "+02:00"
    sub[0x829A] = TiffImagePlugin.IFDRational(1, 250)
    sub[0x829D] = TiffImagePlugin.IFDRational(28, 10)
    sub[0x8827] = 400
    sub[0x920A] = TiffImagePlugin.IFDRational(35, 1)
    sub[0xA433], sub[0xA434] = "Fujifilm", "XF35mmF1.4 R"
    gps = exif.get_ifd(0x8825)
    gps.update({1: "S", 2: (33.0, 51.0, 36.0), 3: "E", 4: (151.0, 12.0, 36.0), 5: b"\x00", 6: 58.0})
    Image.new("RGB", (40, 30), (10, 120, 200)).save(path, quality=90, exif=exif)
    return path


def test_exif_facts_match_the_source_and_gps_is_absent_by_default(tmp_path: Path) -> None:
    info = inspect_image(camera_jpeg(tmp_path / "camera.jpg"), Limits())

    assert info.exif == ExifFacts(
        make="FUJIFILM",
        model="X-T5",
        lens="Fujifilm XF35mmF1.4 R",
        taken_at="2024-06-01T18:30:05+02:00",
        exposure_time="1/250",
        f_number=2.8,
        iso=400,
        focal_length=35.0,
        orientation=8,
        gps=None,
    )


def test_gps_only_when_allowed(tmp_path: Path) -> None:
    info = inspect_image(camera_jpeg(tmp_path / "camera.jpg"), Limits(), include_gps=True)

    assert info.exif is not None
    assert info.exif.gps == Gps(latitude=-33.86, longitude=151.21, altitude=58.0)


def test_gps_west_of_greenwich_is_negative() -> None:
    info = inspect_image(fixture("gps-copyright-orientation6.jpg"), Limits(), include_gps=True)

    assert info.exif is not None and info.exif.gps is not None
    assert (info.exif.gps.latitude, info.exif.gps.longitude) == (51.5, pytest.approx(-0.116667))
    assert info.exif.orientation == 6


def test_heic_keeps_its_original_orientation_as_a_fact() -> None:
    info = inspect_image(fixture("orientation6-quadrants.heic"), Limits())

    # libheif already turned the pixels upright (orientation 1 to render), the fact stays 6
    assert info.orientation == 1
    assert info.exif is not None
    assert (info.exif.make, info.exif.model, info.exif.orientation) == ("Apple", "iPhone 15 Pro", 6)


def test_no_exif_no_facts() -> None:
    assert inspect_image(fixture("400x300.jpg"), Limits()).exif is None


def test_facts_stay_out_of_the_variants(tmp_path: Path) -> None:
    rendition = render(camera_jpeg(tmp_path / "camera.jpg"), width=20)

    assert not decoded(rendition).getexif()
    assert {"exif", "gps"} <= set(rendition.stripped)


def test_hostile_values_are_bounded_or_dropped() -> None:
    exif = Image.Exif()
    exif[0x010F] = "A\x00\x07" + "x" * 500  # control characters and a very long make
    exif[0x0110] = 12345  # not text
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = "yesterday"
    sub[0x829A] = TiffImagePlugin.IFDRational(1, 0)  # a zero denominator
    sub[0x829D] = -4.0
    exif.get_ifd(0x8825).update({2: (1.0, 2.0), 4: "far"})

    facts = exif_facts(exif, include_gps=True)

    assert facts is not None
    assert facts.make == "A" + "x" * 63
    assert (facts.model, facts.taken_at, facts.exposure_time, facts.f_number, facts.gps) == (
        None,
        None,
        None,
        None,
        None,
    )
