"""``make bench``: imgpipe's Pillow engine against libvips (pyvips) on the same photo-like inputs.

Every case (input x default variant) is timed in fresh subprocesses (a warm-up and one timed
run each), alternating the libraries run by run, so wall time, CPU time and peak RSS are
attributable and a burst of load on a shared machine is not charged to one library. The
1-minute load average is recorded per case. Quality is SSIM on luma: imgpipe against libvips,
and each against a reference (full decode, one LANCZOS pass, no shrink-on-load). Handlers'
cold starts are bench/coldstart.py's, the memory sweep bench/memory.py's (`make bench` runs
all three). Not a test: it prints.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT / "layers" / "core")]

from quality import decode, luma, same_size, ssim  # noqa: E402

from imgpipe.samples import DEFAULT_CACHE, INPUTS, BenchInput, generate  # noqa: E402
from imgpipe_core.catalogue import Variant, load_catalogue  # noqa: E402

LIBRARIES = ("imgpipe", "pyvips")
# Feature cases beside the default catalogue: a text watermark (libvips: text + composite) and
# an attention crop (libvips: thumbnail crop=attention, its smartcrop).
FEATURE_VARIANTS = {
    "marked": Variant.model_validate(
        {
            "name": "marked",
            "width": 1440,
            "height": 1080,
            "watermark": {"text": "imgpipe", "position": "bottom-right", "opacity": 0.6},
        }
    ),
    "attention": Variant.model_validate(
        {"name": "attention", "width": 400, "height": 400, "fit": "cover", "crop": "attention"}
    ),
}
# Seconds of work per run above which 3 runs per library still give a stable median.
SLOW_CASE_S = 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--report", type=Path, help="write the JSON report here")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="generated inputs")
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed runs per library and case (>= 3)"
    )
    parser.add_argument("--only", action="append", help="input names to run (default: all)")
    args = parser.parse_args(argv)
    repeats = max(3, args.repeats)

    machine = _machine()
    print(
        f"machine: {machine['cpu']} x{machine['nproc']}, Python {machine['python']}, "
        f"Pillow {machine['pillow']}, libvips {machine['libvips']}",
        flush=True,
    )
    inputs = [spec for spec in INPUTS if not args.only or spec.name in args.only]
    for spec in list(inputs):
        try:
            generate(spec, args.cache)
        except ImportError as missing:
            print(f"skipping {spec.name}: {missing} (pip install pillow-heif to add it)")
            inputs.remove(spec)

    cases, solo = [], []
    with tempfile.TemporaryDirectory(prefix="imgpipe-bench-") as scratch:
        for spec in inputs:
            source = args.cache / spec.filename
            variants = (
                [FEATURE_VARIANTS[name] for name in spec.variants]
                if spec.variants
                else load_catalogue().variants
            )
            for variant in variants:
                if not spec.vips:
                    solo.append(_solo_case(spec, source, variant, Path(scratch), repeats))
                    continue
                cases.append(_case(spec, source, variant, Path(scratch), repeats))
                _print_case(cases[-1])

    for row in solo:
        print(
            f"{row['input']:>15} {row['variant']:>9} {row['size'][0]:>5}x{row['size'][1]:<5} "
            f"time {row['wall_s_median'] * 1000:7.1f} ms cpu {row['cpu_s_median'] * 1000:7.1f} ms "
            f"rss {row['peak_rss_mb']:6.1f} MB ssim vs ref {row['ssim_vs_reference']:.4f} "
            "(imgpipe only: libvips here has no HEVC decoder)",
            flush=True,
        )
    ratio = statistics.median(case["time_ratio"] for case in cases)
    memory = statistics.median(case["memory_ratio"] for case in cases)
    cpu_ratio = statistics.median(
        case["imgpipe"]["cpu_s_median"] / case["pyvips"]["cpu_s_median"] for case in cases
    )
    summary = {
        "time_ratio_median": ratio,
        # CPU time is steadier than wall time on a shared machine, and it is what a 1-vCPU
        # Lambda (< 1769 MB) pays for, where neither library gains from threads.
        "cpu_ratio_median": cpu_ratio,
        "memory_ratio_median": memory,
        "memory_ratio_max": max(case["memory_ratio"] for case in cases),
        "ssim_vs_pyvips_min": min(case["ssim_imgpipe_vs_pyvips"] for case in cases),
        "quality_not_worse_cases": sum(case["quality_not_worse"] for case in cases),
        "cases": len(cases),
    }
    loads = [case["load1"] for case in cases if case["load1"] is not None]
    if loads:
        summary["load1_max"] = max(loads)
        print(
            f"1-min load average during the cases: max {max(loads):.2f} "
            f"(on {machine['nproc']} cores)"
        )
    print(f"cpu time ratio imgpipe/pyvips (median over cases): {cpu_ratio:.2f}")
    print(
        f"memory ratio imgpipe/pyvips: median {memory:.2f}, max {summary['memory_ratio_max']:.2f}; "
        f"quality >= libvips (SSIM vs reference) in {summary['quality_not_worse_cases']}"
        f"/{len(cases)} cases"
    )
    if args.report:
        report = {
            "machine": machine,
            "summary": summary,
            "cases": cases,
            "imgpipe_only": solo,
        }
        args.report.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"resize time ratio imgpipe/pyvips (median over cases): {ratio:.2f}")
    return 0


def _case(
    spec: BenchInput, source: Path, variant: Variant, scratch: Path, repeats: int
) -> dict[str, Any]:
    results = _interleaved(source, variant, scratch / f"{spec.name}.{variant.name}", repeats)
    ours, theirs = (decode(results[lib]["output"].read_bytes()) for lib in ("imgpipe", "pyvips"))
    background = variant.background_rgba[:3]
    ours_luma = luma(ours, background)
    theirs_luma = luma(same_size(theirs, ours.size), background)
    reference = luma(_reference(source, ours.size), background)
    ssim_ours, ssim_theirs = ssim(ours_luma, reference), ssim(theirs_luma, reference)
    row: dict[str, Any] = {
        "load1": _load1(),
        "input": spec.name,
        "variant": variant.name,
        "size": list(ours.size),
        "pyvips_size": list(theirs.size),
    }
    for library, result in results.items():
        row[library] = {
            "wall_s_median": statistics.median(result["wall_s"]),
            "cpu_s_median": statistics.median(result["cpu_s"]),
            "peak_rss_mb": result["peak_rss_mb"],
            "import_rss_mb": result["import_rss_mb"],
            "bytes": result["bytes"],
            "runs": len(result["wall_s"]),
        }
    row["time_ratio"] = row["imgpipe"]["wall_s_median"] / row["pyvips"]["wall_s_median"]
    row["memory_ratio"] = row["imgpipe"]["peak_rss_mb"] / row["pyvips"]["peak_rss_mb"]
    row["ssim_imgpipe_vs_pyvips"] = ssim(ours_luma, theirs_luma)
    row["ssim_vs_reference"] = {"imgpipe": ssim_ours, "pyvips": ssim_theirs}
    # Within measurement noise of SSIM counts as equal.
    row["quality_not_worse"] = ssim_ours >= ssim_theirs - 0.002
    return row


def _solo_case(
    spec: BenchInput, source: Path, variant: Variant, scratch: Path, repeats: int
) -> dict[str, Any]:
    """A case libvips cannot run here: imgpipe's time and its quality against the reference."""
    output = scratch / f"{spec.name}.{variant.name}.imgpipe"
    runs = [_run_worker("imgpipe", source, variant, output) for _ in range(repeats)]
    ours = decode(output.read_bytes())
    background = variant.background_rgba[:3]
    reference = luma(_reference(source, ours.size), background)
    return {
        "input": spec.name,
        "variant": variant.name,
        "size": list(ours.size),
        "wall_s_median": statistics.median(run["wall_s"][0] for run in runs),
        "cpu_s_median": statistics.median(run["cpu_s"][0] for run in runs),
        "peak_rss_mb": max(run["peak_rss_mb"] for run in runs),
        "ssim_vs_reference": ssim(luma(ours, background), reference),
    }


def _interleaved(
    source: Path, variant: Variant, stem: Path, repeats: int
) -> dict[str, dict[str, Any]]:
    """Alternate the libraries run by run (A B B A A B ...), each run in a fresh worker.

    On a shared machine, load comes and goes over seconds: interleaving spreads it over both
    libraries instead of charging it to whichever ran during the burst. Peak RSS is the
    maximum over a library's workers.
    """
    results: dict[str, dict[str, Any]] = {
        library: {"wall_s": [], "cpu_s": [], "peak_rss_mb": 0.0, "import_rss_mb": 0.0}
        for library in LIBRARIES
    }
    rounds, index = repeats, 0
    while index < rounds:
        order = LIBRARIES if index % 2 == 0 else LIBRARIES[::-1]
        for library in order:
            output = stem.parent / f"{stem.name}.{library}"
            run = _run_worker(library, source, variant, output)
            result = results[library]
            result["wall_s"] += run["wall_s"]
            result["cpu_s"] += run["cpu_s"]
            result["peak_rss_mb"] = max(result["peak_rss_mb"], run["peak_rss_mb"])
            result["import_rss_mb"] = max(result["import_rss_mb"], run["import_rss_mb"])
            result["bytes"] = run["bytes"]
            result["output"] = output
        if index == 0 and max(results[lib]["wall_s"][0] for lib in LIBRARIES) > SLOW_CASE_S:
            rounds = 3  # seconds-long runs: fewer repeats still give a stable median
        index += 1
    return results


def _run_worker(library: str, source: Path, variant: Variant, output: Path) -> dict[str, Any]:
    """One warm-up and one timed render in a new process."""
    command = [
        sys.executable,
        str(BENCH / "worker.py"),
        library,
        str(source),
        variant.model_dump_json(),
        str(output),
        "1",
    ]
    return dict(json.loads(subprocess.run(command, check=True, capture_output=True).stdout))


def _reference(source: Path, size: tuple[int, int]) -> Image.Image:
    """The best Pillow can do, ignoring cost: full decode, upright, one LANCZOS pass."""
    from imgpipe_core.imaging import _pillow
    from imgpipe_core.imaging.media import MediaType

    for heif in (MediaType.HEIC, MediaType.AVIF):
        _pillow.register(heif)  # the engine loads these plugins with its first HEIF upload
    with Image.open(source) as image:
        upright = ImageOps.exif_transpose(image.convert("RGBA" if _has_alpha(image) else "RGB"))
    return upright if upright.size == size else upright.resize(size, Image.Resampling.LANCZOS)


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info


def _print_case(case: dict[str, Any]) -> None:
    ours, theirs = case["imgpipe"], case["pyvips"]
    print(
        f"{case['input']:>15} {case['variant']:>9} {case['size'][0]:>5}x{case['size'][1]:<5} "
        f"time {ours['wall_s_median'] * 1000:7.1f} / {theirs['wall_s_median'] * 1000:7.1f} ms "
        f"= {case['time_ratio']:4.2f}  cpu {ours['cpu_s_median'] * 1000:7.1f} / "
        f"{theirs['cpu_s_median'] * 1000:7.1f} ms  rss {ours['peak_rss_mb']:6.1f} / "
        f"{theirs['peak_rss_mb']:6.1f} MB  bytes {ours['bytes']:>9} / {theirs['bytes']:>9}  "
        f"ssim {case['ssim_imgpipe_vs_pyvips']:.4f} "
        f"(ref {case['ssim_vs_reference']['imgpipe']:.4f} / "
        f"{case['ssim_vs_reference']['pyvips']:.4f})  load {case['load1']}",
        flush=True,
    )


def _load1() -> float | None:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _machine() -> dict[str, Any]:
    import PIL
    import pyvips

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "pillow": PIL.__version__,
        "pyvips": pyvips.__version__,
        "libvips": ".".join(str(pyvips.version(i)) for i in range(3)),
        "numpy": np.__version__,
        "date": time.strftime("%Y-%m-%d"),
        "load1_at_start": _load1(),
    }


if __name__ == "__main__":
    sys.exit(main())
