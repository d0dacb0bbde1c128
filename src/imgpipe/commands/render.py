"""``imgpipe render``: run the image engine on local files, exactly as the Lambdas would.

Each input is validated once (as the validate step) and rendered once per variant (as the
resize step), into ``OUT/<input stem>/<variant>.<ext>``. A rejected input is reported with its
code and the others carry on. Every catalogue option works here: ``--spec`` renders ad-hoc
variants (the catalogue schema validates them), ``--watermark-image`` stands in for a watermark
the catalogue keeps in the bucket, ``--info`` writes what validation learned (EXIF facts,
placeholder) to ``OUT/<input stem>/image.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from imgpipe.text import table
from imgpipe_core.catalogue import Catalogue, Variant, load_catalogue
from imgpipe_core.config import load_settings
from imgpipe_core.errors import ImageRejected, ImgpipeError, VariantNotFound
from imgpipe_core.imaging import inspect_image, render_variant


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``render`` subcommand (``func=run``)."""
    parser = subparsers.add_parser(
        "render",
        help="render catalogue variants of local images",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="images to render")
    parser.add_argument(
        "--variant",
        action="append",
        dest="variants",
        metavar="NAME",
        help="render only this variant (repeatable; default: all)",
    )
    parser.add_argument(
        "--catalogue", type=Path, metavar="PATH", help="variant catalogue JSON (default: built-in)"
    )
    parser.add_argument(
        "--spec",
        action="append",
        dest="specs",
        metavar="JSON",
        help='an ad-hoc variant, e.g. \'{"name": "half", "scale": 0.5}\' (repeatable; replaces '
        "the catalogue)",
    )
    parser.add_argument(
        "--watermark-image",
        type=Path,
        metavar="PNG",
        help="the PNG for watermarks the catalogue names by bucket key (watermarks/...)",
    )
    parser.add_argument(
        "--info", action="store_true", help="also write OUT/<stem>/image.json (facts, placeholder)"
    )
    parser.add_argument(
        "--gps", action="store_true", help="include GPS in the EXIF facts (as ExifGps=true)"
    )
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output directory")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, *, stdout: TextIO | None = None) -> int:
    """Render every file; exit status 1 if any input was rejected or failed, else 0."""
    out = stdout or sys.stdout
    # The same configuration the resize function reads (VARIANTS_JSON, MAX_* limits).
    settings = load_settings()
    try:
        catalogue = _catalogue(args, settings.catalogue)
        variants = [catalogue.get(name) for name in args.variants or catalogue.names]
    except (VariantNotFound, ValueError) as exc:
        print(f"imgpipe render: {exc}", file=sys.stderr)
        return 2
    mark_png = args.watermark_image.read_bytes() if args.watermark_image else None
    limits = settings.limits
    rows: list[tuple[str, ...]] = []
    failed = False
    for source in args.files:
        try:
            info = inspect_image(source, limits, include_gps=args.gps or settings.exif_gps)
        except ImageRejected as rejected:
            rows.append((source.name, "-", rejected.code.value, "", "", rejected.message))
            failed = True
            continue
        target = args.out / source.stem
        target.mkdir(parents=True, exist_ok=True)
        if args.info:
            (target / "image.json").write_text(info.model_dump_json(indent=2, exclude_none=True))
        for variant in variants:
            try:
                rendition = render_variant(
                    source,
                    variant,
                    media_type=info.media_type,
                    limits=limits,
                    watermark_image=mark_png,
                )
            except (ImageRejected, ImgpipeError) as exc:
                code = exc.code.value if isinstance(exc, ImageRejected) else type(exc).__name__
                rows.append((source.name, variant.name, code, "", "", str(exc)))
                failed = True
                continue
            path = target / f"{variant.name}.{rendition.extension}"
            path.write_bytes(rendition.data)
            rows.append(
                (
                    source.name,
                    variant.name,
                    "ok",
                    f"{rendition.width}x{rendition.height}",
                    f"{len(rendition.data):,}",
                    str(path),
                )
            )
    for line in table(rows, ("input", "variant", "result", "size", "bytes", "output")):
        print(line, file=out)
    return 1 if failed else 0


def _catalogue(args: argparse.Namespace, default: Catalogue) -> Catalogue:
    """``--spec`` variants, else ``--catalogue``, else the configured catalogue."""
    if args.specs:
        try:
            specs = [json.loads(spec) for spec in args.specs]
        except json.JSONDecodeError as exc:
            raise ValueError(f"--spec is not JSON: {exc}") from exc
        return Catalogue(variants=[Variant.model_validate(spec) for spec in specs])
    return load_catalogue(args.catalogue) if args.catalogue else default


__all__ = ["register", "run"]
