"""``imgpipe backfill``: bulk re-processing through the backfill state machine.

``--dry-run`` lists what would be selected and starts nothing; ``--wait`` follows the
Distributed Map's item counts with a progress bar; ``--resume ID`` redrives a backfill that
failed (only its failed and unfinished children run again).
"""

from __future__ import annotations

import argparse
import sys
import time

from imgpipe.cli import CliError
from imgpipe.commands.ops import connect, emit, stack_arguments
from imgpipe.text import table
from imgpipe_core import backfill, executions
from imgpipe_core.models import Status, dump

FINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
BAR_WIDTH = 30


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "backfill", parents=[stack_arguments()], help="re-process stored images in bulk"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--status",
        action="append",
        choices=[s.value for s in Status],
        help="records of this status (repeatable; default SUCCEEDED)",
    )
    parser.add_argument("--since", help="only records updated at or after this ISO date/time")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME",
        help="render only this catalogue variant and merge it into each manifest (repeatable)",
    )
    parser.add_argument("--dry-run", action="store_true", help="list the selection, start nothing")
    parser.add_argument("--wait", action="store_true", help="follow progress until it ends")
    parser.add_argument("--resume", metavar="ID", help="redrive the failed backfill ID")
    parser.add_argument("--progress", metavar="ID", help="show the progress of backfill ID")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.set_defaults(func=cmd_backfill)


def cmd_backfill(args: argparse.Namespace) -> int:
    stack = connect(args)
    machine = stack.output("BackfillStateMachineArn")
    try:
        request = backfill.BackfillRequest(
            statuses=[Status(s) for s in args.status or [Status.SUCCEEDED.value]],
            since=args.since,
            variants=args.variant,
        )
    except ValueError as error:
        raise CliError(f"invalid backfill: {error}") from error
    if args.dry_run:
        items = backfill.selected(stack.output("StatusTableName"), request)
        rows = [(item.processing_id, item.attempt) for item in items]
        lines = [*table(rows, ["PROCESSING ID", "ATTEMPT"]), f"{len(items)} image(s); dry run"]
        emit(args, {"dryRun": True, "items": [dump(item) for item in items]}, lines)
        return 0
    if args.resume:
        backfill_id = args.resume
        executions.redrive(backfill.execution_arn(machine, backfill_id))
    elif args.progress:
        backfill_id = args.progress
    else:
        backfill_id = backfill.start(machine, request)
    if not (args.wait or args.progress):
        emit(args, {"backfillId": backfill_id}, [f"backfill started: {backfill_id}"])
        return 0
    final = follow(machine, backfill_id, args.timeout, show=not args.json and args.wait)
    summary = f"{final.backfill_id}: {final.status} {final.succeeded}/{final.total} succeeded"
    summary += f", {final.failed} failed" if final.failed else ""
    summary += f" (resumed {final.redrives}x)" if final.redrives else ""
    lines = [summary]
    if final.error:
        lines.append(f"  {final.error}: {final.cause or ''}")
    if final.results:
        lines.append(f"  results: {final.results}")
    emit(args, dump(final), lines)
    return 0 if final.status in ("SUCCEEDED", "RUNNING") else 1


def follow(machine: str, backfill_id: str, timeout: float, *, show: bool) -> backfill.Progress:
    deadline = time.monotonic() + timeout
    while True:
        found = backfill.progress(machine, backfill_id)
        if found is None:
            raise CliError(f"no backfill {backfill_id!r}")
        if show:
            sys.stderr.write("\r" + bar(found))
            sys.stderr.flush()
        if found.status in FINAL or time.monotonic() > deadline:
            if show:
                sys.stderr.write("\n")
            return found
        time.sleep(1)


def bar(found: backfill.Progress) -> str:
    total = max(found.total, 1)
    filled = round(BAR_WIDTH * found.done / total)
    failed = f" {found.failed} failed" if found.failed else ""
    return f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {found.done}/{found.total}{failed}"
