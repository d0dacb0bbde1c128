"""``imgpipe keys create|list|revoke``: the API keys of a stack deployed with ApiAuth=API_KEY.

A key is printed once, by ``create``; the stack keeps only its SHA-256 (imgpipe_core.api_keys).
A revoked key is refused once API Gateway's cached answer for it expires
(ApiKeyCacheTtlSeconds).
"""

from __future__ import annotations

import argparse
import json
import sys

from imgpipe.cli import CliError
from imgpipe.commands.ops import connect, stack_arguments
from imgpipe.text import table
from imgpipe_core import api_keys


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    common = argparse.ArgumentParser(add_help=False, parents=[stack_arguments()])
    common.add_argument("--json", action="store_true", help="machine-readable output")
    keys = subparsers.add_parser("keys", help="API keys (ApiAuth=API_KEY)")
    actions = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    create = actions.add_parser("create", parents=[common], help="issue a key (shown once)")
    create.add_argument("--name", default="", help="what the key is for (kept with it)")
    create.set_defaults(func=cmd_create)
    listing = actions.add_parser("list", parents=[common], help="keys and their state")
    listing.set_defaults(func=cmd_list)
    revoke = actions.add_parser("revoke", parents=[common], help="revoke a key by its keyId")
    revoke.add_argument("key_id", metavar="KEY_ID")
    revoke.set_defaults(func=cmd_revoke)


def _table(args: argparse.Namespace) -> str:
    stack = connect(args)
    table_name = stack.outputs.get("ApiKeyTableName")
    if not table_name:
        raise CliError(f"stack {stack.name!r} is not deployed with ApiAuth=API_KEY")
    return table_name


def cmd_create(args: argparse.Namespace) -> int:
    issued = api_keys.create(_table(args), args.name)
    if args.json:
        json.dump({"key": issued.key, "keyId": issued.record.key_id}, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(issued.key)
        print(f"keyId {issued.record.key_id}: shown once, store it now", file=sys.stderr)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    found = api_keys.list_keys(_table(args))
    if args.json:
        rows = [r.model_dump(by_alias=True, exclude={"secret_sha256"}) for r in found]
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    lines = [
        (r.key_id, r.name, r.created_at, f"revoked {r.revoked_at}" if r.revoked_at else "active")
        for r in found
    ]
    for line in table(lines, ("KEY ID", "NAME", "CREATED", "STATE")):
        print(line)
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    if not api_keys.revoke(_table(args), args.key_id):
        raise CliError(f"no key with keyId {args.key_id!r}")
    print(f"revoked {args.key_id} (refused once the authorizer cache TTL has passed)")
    return 0
