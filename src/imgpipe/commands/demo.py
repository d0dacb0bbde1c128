"""``imgpipe demo``: the whole pipeline on the local engine, from a fresh clone, in one command."""

from __future__ import annotations

import argparse
import io
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from imgpipe.cli import CliError
from imgpipe.text import table

ROOT = Path(__file__).resolve().parents[3]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    demo = subparsers.add_parser("demo", help="run the pipeline end to end on the local engine")
    demo.add_argument("--out", type=Path, default=Path("out/demo"), help="where variants go")
    demo.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    demo.add_argument("--timeout", type=float, default=180)
    demo.set_defaults(func=run)


def _photo(width: int, height: int, *, alpha: bool = False) -> Image.Image:
    """A deterministic, photo-like picture: gradients, shapes and edges."""
    base = Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize((width, height)),
            Image.radial_gradient("L").resize((width, height)),
            Image.linear_gradient("L").rotate(90).resize((width, height)),
        ),
    )
    draw = ImageDraw.Draw(base)
    for i in range(12):
        x, y = (i * 97) % width, (i * 57) % height
        draw.ellipse((x, y, x + width // 6, y + height // 6), outline=(255, 255, 255), width=4)
    if alpha:
        mask = Image.radial_gradient("L").resize((width, height)).point(lambda v: 255 - v)
        base.putalpha(mask)
    return base


def _encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def _animated() -> bytes:
    frames = [_photo(320, 240).rotate(i * 30) for i in range(6)]
    return _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=120, loop=0)


SAMPLES: list[tuple[str, Callable[[], bytes]]] = [
    ("landscape.jpg", lambda: _encode(_photo(3000, 2000), "JPEG", quality=90)),
    ("logo-with-alpha.png", lambda: _encode(_photo(1200, 1200, alpha=True), "PNG")),
    ("portrait.webp", lambda: _encode(_photo(1080, 1620), "WEBP", quality=85)),
    ("animation.gif", _animated),
    ("not-an-image.jpg", lambda: b"%PDF-1.7\n% a PDF pretending to be a JPEG\n"),
]


def _seconds_since(sent: float, record: Any) -> float:
    """From the upload to the record's terminal time (completedAt, else its last update)."""
    stamp = record.completed_at or record.updated_at
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() - sent


def run(args: argparse.Namespace) -> int:
    import logging

    from imgpipe.local.engine import Engine
    from imgpipe_core import clients, keys, records
    from imgpipe_core.models import Status

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    started = time.monotonic()
    print("starting the local engine…", flush=True)
    with Engine() as engine:
        result = engine.deploy(args.template, "imgpipe-demo", prewarm=True)
        outputs = result.outputs
        print(f"deployed {args.template.name} in {result.seconds:.1f}s at {engine.endpoint_url}")
        clients.configure(engine.client)
        s3 = engine.client("s3")
        bucket = outputs["PrivateBucketName"]
        # Made before the first upload: encoding a 6 MP JPEG must not count as pipeline time.
        bodies = [(name, make()) for name, make in SAMPLES]
        uploads: list[tuple[str, str, float]] = []
        for name, data in bodies:
            key = f"uploads/{uuid.uuid4().hex}"  # server-generated, as the API does
            sent = time.time()
            response = s3.put_object(Bucket=bucket, Key=key, Body=data, Metadata={"filename": name})
            pid = keys.processing_id(bucket, key, response.get("VersionId"))
            uploads.append((name, pid, sent))
            print(f"uploaded {name:<22} → processingId {pid}", flush=True)

        pending = {pid for _, pid, _ in uploads}
        finished: dict[str, tuple[dict[str, Any], float]] = {}
        deadline = time.monotonic() + args.timeout
        while pending and time.monotonic() < deadline:
            for name, pid, sent in uploads:
                if pid in pending:
                    found = records.get(outputs["StatusTableName"], pid)
                    if found and found.status is not Status.PROCESSING:
                        # Upload to terminal as the pipeline recorded it, not as this loop saw it.
                        finished[pid] = (found.plain(), _seconds_since(sent, found))
                        pending.discard(pid)
                        print(f"  {name}: {found.status.value}", flush=True)
            time.sleep(0.2)
        if pending:
            raise CliError(f"{len(pending)} upload(s) did not finish within {args.timeout:.0f}s")

        rows = []
        for name, pid, _ in uploads:
            record, elapsed = finished[pid]
            folder = args.out / Path(name).stem
            status = record["status"]
            if status == "REJECTED":
                status = f"REJECTED {record['rejectionCode']}"
            elif status == "FAILED":
                status = f"FAILED {record.get('error')}"
            variants = []
            for variant in record.get("variants", []):
                folder.mkdir(parents=True, exist_ok=True)
                body = s3.get_object(Bucket=outputs["PublicBucketName"], Key=variant["key"])["Body"]
                target = folder / f"{variant['variant']}.{variant['key'].rsplit('.', 1)[-1]}"
                target.write_bytes(body.read())
                variants.append(
                    f"{variant['variant']} {variant['width']}x{variant['height']} "
                    f"{variant['bytes'] / 1024:.0f}KiB"
                )
            rows.append((name, pid, status, f"{elapsed:.1f}s", ", ".join(variants) or "-"))
        print()
        headers = ["UPLOAD", "PROCESSING ID", "STATUS", "UPLOAD→DONE", "VARIANTS"]
        print("\n".join(table(rows, headers)))
        print(f"\nvariants written to {args.out.resolve()}/<upload>/<variant>.<ext>")
        print(f"total {time.monotonic() - started:.1f}s; engine stopped, nothing left running")
    return 0
