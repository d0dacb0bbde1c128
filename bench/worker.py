"""One benchmark case in a fresh process, so its peak RSS belongs to one library and one case.

Usage: worker.py LIBRARY INPUT VARIANT_JSON OUTPUT REPEATS -> one JSON line on stdout.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FONT = ROOT / "layers" / "core" / "imgpipe_core" / "imaging" / "assets" / "fonts" / "DejaVuSans.ttf"


def _imgpipe(source: Path, variant_json: str) -> Callable[[], bytes]:
    sys.path.insert(0, str(ROOT / "layers" / "core"))
    from imgpipe_core.catalogue import Variant
    from imgpipe_core.imaging import render_variant

    variant = Variant.model_validate_json(variant_json)
    return lambda: render_variant(source, variant).data


def _validate(source: Path, variant_json: str) -> Callable[[], bytes]:
    """What the validate function does with the upload: sniff, bound and decode it."""
    sys.path.insert(0, str(ROOT / "layers" / "core"))
    from imgpipe_core.imaging import Limits, inspect_image

    return lambda: inspect_image(source, Limits()).model_dump_json().encode()


def _pyvips(source: Path, variant_json: str) -> Callable[[], bytes]:
    import pyvips

    pyvips.cache_set_max(0)  # every repeat must really decode, as a fresh Lambda would
    spec = json.loads(variant_json)
    width = spec.get("width") or 100_000
    height = spec.get("height") or 100_000
    quality = spec.get("quality", 82)
    fmt = spec.get("format", "jpeg")
    background = [int(spec.get("background", "#ffffff")[i : i + 2], 16) for i in (1, 3, 5)]

    crop = {"crop": spec["crop"]} if spec.get("fit") == "cover" and spec.get("crop") else {}
    mark = spec.get("watermark")

    def run() -> bytes:
        # thumbnail = shrink-on-load + autorotate + ICC import, libvips' fastest resize path.
        image = pyvips.Image.thumbnail(str(source), width, height=height, size="down", **crop)
        if mark:
            image = _watermark(pyvips, image, mark)
        if fmt == "jpeg":
            if image.hasalpha():
                image = image.flatten(background=background)
            data = image.jpegsave_buffer(
                Q=quality, optimize_coding=True, interlace=True, keep="none"
            )
        elif fmt == "webp":
            data = image.webpsave_buffer(Q=quality, effort=spec.get("effort", 4), keep="none")
        elif fmt == "png":
            data = image.pngsave_buffer(compression=spec.get("effort", 6), keep="none")
        else:
            raise SystemExit(f"pyvips bench does not handle {fmt}")
        return bytes(data)

    return run


def _watermark(pyvips, image, mark: dict):  # type: ignore[no-untyped-def]
    """The same text mark as imgpipe's: DejaVu Sans, size x width, margin, opacity, bottom-right."""
    target = round(mark.get("size", 0.25) * image.width)
    margin = round(mark.get("margin", 0.02) * image.width)
    text = pyvips.Image.text(
        mark["text"], fontfile=str(FONT), font="DejaVu Sans", width=target, height=target
    )
    alpha = (text * mark.get("opacity", 0.6)).cast("uchar")
    layer = text.new_from_image([255, 255, 255]).bandjoin(alpha).copy(interpretation="srgb")
    x = image.width - layer.width - margin
    y = image.height - layer.height - margin
    return image.composite2(layer, "over", x=x, y=y).flatten()


def _peak_rss_mb() -> float:
    """This process's RSS high-water mark. Not ru_maxrss: Linux carries that over from the
    parent across fork+exec, so it would report the bench driver's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str]) -> None:
    library, source, variant_json, output, repeats = argv
    baseline = _peak_rss_mb()
    make = {"imgpipe": _imgpipe, "pyvips": _pyvips, "validate": _validate}[library]
    run = make(Path(source), variant_json)
    imported = _peak_rss_mb()
    walls, cpus = [], []
    data = run()  # warm-up: lazy codec initialisation is not what we measure
    for _ in range(int(repeats)):
        wall, cpu = time.perf_counter(), time.process_time()
        data = run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    Path(output).write_bytes(data)
    peak = _peak_rss_mb()
    result = {
        "wall_s": walls,
        "cpu_s": cpus,
        "peak_rss_mb": peak,
        "import_rss_mb": imported,
        "start_rss_mb": baseline,
        "bytes": len(data),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
