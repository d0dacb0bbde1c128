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
