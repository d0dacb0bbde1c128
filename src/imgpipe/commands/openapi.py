"""``imgpipe openapi``: write (or ``--check``) api/openapi.json, generated from the resolver."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from imgpipe.cli import CliError

CONTRACT = Path(__file__).resolve().parents[3] / "api" / "openapi.json"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("openapi", help="regenerate the API's OpenAPI document")
    parser.add_argument("--out", type=Path, default=CONTRACT)
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    parser.set_defaults(func=run)


def generated() -> str:
    """The document as committed: generated from the code with a default configuration."""
    from imgpipe_core.api import create_app, openapi_document
    from imgpipe_core.config import Settings

    return json.dumps(openapi_document(create_app(Settings())), indent=2) + "\n"


def run(args: argparse.Namespace) -> int:
    text = generated()
    if args.check:
        if not args.out.is_file() or args.out.read_text() != text:
            raise CliError(f"{args.out} is out of date: run `make openapi`")
        return 0
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0
