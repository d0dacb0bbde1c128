"""``imgpipe``: the operator CLI. ``main(argv)`` is a plain function so tests call it directly."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each module registers its own subcommands; a missing optional one must not break the rest.
COMMAND_MODULES = (
    "imgpipe.commands.local",
    "imgpipe.commands.ops",
    "imgpipe.commands.keys",
    "imgpipe.commands.render",
    "imgpipe.commands.upload",
    "imgpipe.commands.demo",
    "imgpipe.commands.lint",
    "imgpipe.commands.teardown",
    "imgpipe.commands.openapi",
    "imgpipe.commands.cost",
    "imgpipe.commands.smoke",
    "imgpipe.commands.backfill",
    "imgpipe.commands.cdnkey",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imgpipe",
        description="Operate the imgpipe image pipeline, locally or on AWS.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name != name:
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except CliError as error:
        print(f"imgpipe: error: {error}", file=sys.stderr)
        return 2


class CliError(Exception):
    """A user-facing error: printed without a traceback."""


if __name__ == "__main__":
    sys.exit(main())
