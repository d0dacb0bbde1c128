"""Subcommands of the ``imgpipe`` CLI, each exposing ``register(subparsers)``."""
