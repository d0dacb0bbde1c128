"""Encoder settings sweep behind the catalogue defaults (``python bench/encoders.py``).

Encodes the bench's photo-like 12 MP image at the ``large`` size and at full size with each
candidate setting and reports median encode time, bytes and SSIM/PSNR against the pixels that
went in. Run it alone: it is a timing measurement.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

from PIL import Image, features

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from quality import luma, psnr, ssim  # noqa: E402

from imgpipe.samples import DEFAULT_CACHE, INPUTS, generate  # noqa: E402


def _options(**options: object) -> dict[str, object]:
    return options


CANDIDATES: list[tuple[str, dict[str, object]]] = [
    *[
        (f"jpeg q{q}", _options(quality=q, optimize=True, progressive=True))
        for q in (75, 80, 82, 85, 90)
    ],
    ("jpeg q82 baseline", _options(quality=82)),
    ("jpeg q82 optimize", _options(quality=82, optimize=True)),
    *[(f"webp q{q} m{m}", _options(quality=q, method=m)) for q in (75, 80) for m in range(7)],
]
AVIF = [(f"avif q{q} speed{s}", _options(quality=q, speed=s)) for q in (50, 60) for s in (6, 8, 10)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    spec = next(spec for spec in INPUTS if spec.name == "jpeg-12mp")
    with Image.open(generate(spec, DEFAULT_CACHE)) as source:
        full = source.convert("RGB")
    large = full.resize((1440, 1080), Image.Resampling.LANCZOS, reducing_gap=2.0)
    for label, image in (("1440x1080", large), ("4000x3000", full)):
        reference = luma(image)
        print(f"\n{label}: setting, encode wall ms / CPU ms (medians), bytes, SSIM, PSNR dB")
        candidates = CANDIDATES + (AVIF if label == "1440x1080" and features.check("avif") else [])
        for name, options in candidates:
            fmt = name.split()[0].upper()
            times, cpu_times = [], []
            for _ in range(args.repeats):
                buffer = io.BytesIO()
                start, cpu_start = time.perf_counter(), time.process_time()
                image.save(buffer, format=fmt, **options)  # type: ignore[arg-type]
                times.append(time.perf_counter() - start)
                cpu_times.append(time.process_time() - cpu_start)
            decoded = Image.open(io.BytesIO(buffer.getvalue()))
            decoded_luma = luma(decoded)
            print(
                f"  {name:<18} {statistics.median(times) * 1000:8.0f} "
                f"{statistics.median(cpu_times) * 1000:8.0f} {len(buffer.getvalue()):>10}"
                f"  {ssim(decoded_luma, reference):.4f}  {psnr(decoded_luma, reference):5.2f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
