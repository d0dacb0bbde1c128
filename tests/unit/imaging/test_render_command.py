from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

from imaging_support import fixture
from PIL import Image

from imgpipe.commands import render


def main(argv: list[str]) -> tuple[int, str]:
    """The CLI as ``imgpipe.cli`` wires it, minus the rest of the CLI."""
    parser = argparse.ArgumentParser(prog="imgpipe")
    render.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    stdout = io.StringIO()
    status = args.func(args, stdout=stdout)
    return status, stdout.getvalue()


def test_renders_every_variant_into_stem_folders(tmp_path: Path) -> None:
    status, output = main(["render", str(fixture("400x300.jpg")), "--out", str(tmp_path)])

    assert status == 0
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.*"))
    assert written == [
        "400x300/large.jpg",
        "400x300/medium.jpg",
        "400x300/thumbnail.jpg",
        "400x300/webp.webp",
    ]
    assert Image.open(tmp_path / "400x300" / "thumbnail.jpg").size == (300, 225)
    assert "thumbnail" in output and "300x225" in output


def test_rejected_inputs_are_reported_and_do_not_stop_the_others(tmp_path: Path) -> None:
    status, output = main(
        [
            "render",
            str(fixture("image.svg")),
            str(fixture("truncated.jpg")),
            str(fixture("1x1.png")),
            "--variant",
            "thumbnail",
            "--out",
            str(tmp_path),
        ]
    )

    assert status == 1
    assert "UNSUPPORTED_MEDIA_TYPE" in output and "CORRUPT_IMAGE" in output
    assert (tmp_path / "1x1" / "thumbnail.jpg").exists()
    assert not (tmp_path / "image").exists()


def test_custom_catalogue_and_unknown_variant(tmp_path: Path) -> None:
    catalogue = tmp_path / "variants.json"
    catalogue.write_text(
        json.dumps({"variants": [{"name": "tiny", "width": 8, "height": 8, "format": "png"}]})
    )
    source = str(fixture("400x300.jpg"))

    status, _ = main(["render", source, "--catalogue", str(catalogue), "--out", str(tmp_path)])
    assert status == 0
    assert Image.open(tmp_path / "400x300" / "tiny.png").size == (8, 6)

    status, _ = main(["render", source, "--variant", "huge", "--out", str(tmp_path)])
    assert status == 2


def test_ad_hoc_specs_render_every_option(tmp_path: Path) -> None:
    # GIVEN specs using scale, smart crop and both kinds of watermark
    logo = tmp_path / "logo.png"
    Image.new("RGBA", (40, 40), (255, 0, 0, 255)).save(logo)
    specs = [
        {"name": "half", "scale": 0.5, "watermark": {"text": "imgpipe", "min_size": 50}},
        {"name": "square", "width": 100, "height": 100, "fit": "cover", "crop": "attention"},
        {
            "name": "logo",
            "format": "png",
            "watermark": {"image": "watermarks/logo.png", "opacity": 1, "min_size": 1},
        },
    ]
    argv = ["render", str(fixture("gps-copyright-orientation6.jpg")), "--out", str(tmp_path)]
    for spec in specs:
        argv += ["--spec", json.dumps(spec)]

    status, output = main([*argv, "--watermark-image", str(logo), "--info", "--gps"])

    # THEN each is rendered, and the facts (GPS asked for) are written beside them
    assert status == 0, output
    folder = tmp_path / "gps-copyright-orientation6"
    assert Image.open(folder / "half.jpg").size == (24, 32)
    assert Image.open(folder / "square.jpg").size == (48, 48)
    logo_rendered = Image.open(folder / "logo.png").convert("RGB")
    assert logo_rendered.getpixel((logo_rendered.width - 3, logo_rendered.height - 3)) == (
        255,
        0,
        0,
    )
    facts = json.loads((folder / "image.json").read_text())
    assert facts["exif"]["gps"]["latitude"] == 51.5
    assert facts["placeholder"]["thumbhash"]


def test_invalid_spec_is_a_usage_error(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    status, _ = main(
        ["render", str(fixture("1x1.png")), "--spec", '{"name": "x", "scale": 2}', "--out", "o"]
    )

    assert status == 2
    assert "scale" in capsys.readouterr().err
