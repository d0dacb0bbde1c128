"""Operations on a deployed stack: status, list, rerun, dlq list/redrive, trace.

Every command works against the local engine (found automatically), LocalStack or AWS through
``--endpoint-url`` / ``--stack-name`` / ``--region``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from imgpipe.aws import Stack, StackNotFound
from imgpipe.cli import CliError
from imgpipe.text import table
from imgpipe_core import cdn, clients, delivery, executions, records, reruns
from imgpipe_core.models import Status
from imgpipe_core.records import ProcessingRecord


def stack_arguments() -> argparse.ArgumentParser:
    """The options every command that reaches a deployed stack takes (see :func:`connect`)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--stack-name", help="default: the running local engine's stack, or imgpipe"
    )
    parent.add_argument("--endpoint-url", help="e.g. http://localhost:4566 (LocalStack)")
    parent.add_argument("--region")
    return parent


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    common = argparse.ArgumentParser(add_help=False, parents=[stack_arguments()])
    common.add_argument("--json", action="store_true", help="machine-readable output")

    status = subparsers.add_parser("status", parents=[common], help="one upload's record")
    status.add_argument("id", help="processingId or uploadId")
    status.set_defaults(func=cmd_status)

    listing = subparsers.add_parser("list", parents=[common], help="recent uploads")
    listing.add_argument("--status", choices=[s.value for s in Status])
    listing.add_argument("--limit", type=int, default=20)
    listing.set_defaults(func=cmd_list)

    rerun = subparsers.add_parser("rerun", parents=[common], help="re-run an upload by id")
    rerun.add_argument("id", help="processingId or uploadId")
    rerun.add_argument("--wait", action="store_true", help="wait for the outcome")
    rerun.add_argument("--timeout", type=float, default=300)
    rerun.set_defaults(func=cmd_rerun)

    dlq = subparsers.add_parser("dlq", help="the dead-letter queue")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", metavar="ACTION", required=True)
    dlq_list = dlq_sub.add_parser("list", parents=[common], help="show failed uploads")
    dlq_list.set_defaults(func=cmd_dlq_list)
    redrive = dlq_sub.add_parser(
        "redrive", parents=[common], help="re-run every message; delete each once re-started"
    )
    redrive.add_argument("--dry-run", action="store_true")
    redrive.set_defaults(func=cmd_dlq_redrive)

    trace = subparsers.add_parser("trace", parents=[common], help="an execution as a timeline")
    trace.add_argument("id", help="processingId, uploadId or execution ARN")
    trace.add_argument("--attempt", type=int, help="default: the latest")
    trace.set_defaults(func=cmd_trace)


# -- plumbing -----------------------------------------------------------------------------------


def connect(args: argparse.Namespace) -> Stack:
    try:
        stack = Stack.connect(
            stack_name=args.stack_name, endpoint_url=args.endpoint_url, region=args.region
        )
    except StackNotFound as error:
        raise CliError(str(error)) from error
    clients.configure(stack.client)  # domain code talks to the same endpoint as the CLI
    return stack


def signer(stack: Stack) -> delivery.UrlSigner | None:
    """Delivery=private: sign URLs as the API does, with the key in SSM (the caller's access)."""
    if stack.outputs.get("Delivery") != "private":
        return None
    return delivery.UrlSigner(
        stack.output("CdnKeyPairId"),
        cdn.signing_key(stack.output("CdnSigningKeyParameter")),
        int(stack.output("SignedUrlExpiresSeconds")),
    )


def find_record(stack: Stack, ident: str) -> ProcessingRecord:
    record = records.find(stack.output("StatusTableName"), ident)
    if record is None:
        raise CliError(f"no upload with id {ident!r} in stack {stack.name!r}")
    return record


def emit(args: argparse.Namespace, data: Any, lines: Iterable[str]) -> None:
    if args.json:
        json.dump(data, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        for line in lines:
            print(line)


def outcome(record: ProcessingRecord) -> str:
    if record.status is Status.REJECTED:
        return f"REJECTED {record.rejection_code or ''}".strip()
    if record.status is Status.FAILED:
        return f"FAILED {record.error or ''}".strip()
    return record.status.value


# -- commands ----------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    stack = connect(args)
    record = find_record(stack, args.id)
    shown = delivery.delivered(record, stack.outputs.get("PublicBaseUrl", ""), signer(stack))
    source = f"s3://{record.source.bucket}/{record.source.key}" if record.source else "-"
    lines = [
        f"processingId  {record.processing_id}",
        f"status        {outcome(record)}",
        f"source        {source}",
        f"attempt       {record.attempt}",
        f"updated       {record.updated_at}",
    ]
    if record.rejection_message:
        lines.append(f"reason        {record.rejection_message}")
    if record.original_deleted_at:
        lines.append(f"original      deleted {record.original_deleted_at} (OriginalRetention)")
    elif record.original_expires_at:
        lines.append(f"original      expires {record.original_expires_at} (OriginalRetention)")
    image = record.image or {}
    if image:
        lines.append(
            f"original      {image.get('width')}x{image.get('height')} {image.get('media_type')}"
        )
    for variant in shown.get("variants", []):
        lines.append(
            f"  {variant['variant']:<10} {variant['width']}x{variant['height']:<6} "
            f"{variant['bytes']:>9} B  {variant['url']}"
        )
    emit(args, shown, lines)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    stack = connect(args)
    status = Status(args.status) if args.status else None
    found, _ = records.list_records(stack.output("StatusTableName"), status, limit=args.limit)
    rows = [
        (
            r.processing_id,
            outcome(r),
            r.source.key if r.source else "-",
            len(r.variants),
            r.updated_at,
        )
        for r in found
    ]
    emit(
        args,
        [r.plain() for r in found],
        table(rows, ["PROCESSING ID", "STATUS", "KEY", "VARIANTS", "UPDATED"]),
    )
    return 0


def cmd_rerun(args: argparse.Namespace) -> int:
    stack = connect(args)
    record = find_record(stack, args.id)
    pid = record.processing_id
    result = reruns.start_rerun(
        stack.output("StatusTableName"),
        stack.output("StateMachineArn"),
        pid,
        sfn=stack.client("stepfunctions"),
    )
    if result.already_running:
        emit(
            args, {"processingId": pid, "started": False}, [f"{pid}: an attempt is running already"]
        )
        return 0
    final = wait_for_outcome(stack, pid, record.attempt, args.timeout) if args.wait else None
    data = {"processingId": pid, "started": True, "executionArn": result.execution_arn}
    lines = [f"{pid}: re-run started: {result.execution_arn}"]
    if final:
        data["status"] = final.status.value
        lines.append(f"{pid}: {outcome(final)} (attempt {final.attempt})")
    emit(args, data, lines)
    return 0 if not final or final.status is not Status.FAILED else 1


def wait_for_outcome(
    stack: Stack, pid: str, previous_attempt: int, timeout: float
) -> ProcessingRecord:
    deadline = time.monotonic() + timeout
    table_name = stack.output("StatusTableName")
    while time.monotonic() < deadline:
        record = records.get(table_name, pid)
        if (
            record is not None
            and record.attempt > previous_attempt
            and record.status is not Status.PROCESSING
        ):
            return record
        time.sleep(0.5)
    raise CliError(f"{pid}: no outcome within {timeout:.0f}s")


def cmd_dlq_list(args: argparse.Namespace) -> int:
    from imgpipe import dlq

    stack = connect(args)
    letters = dlq.receive_all(stack.client("sqs"), stack.output("DeadLetterQueueUrl"), visibility=0)
    rows = [(d.kind, d.processing_id, d.key, d.error, d.message_id) for d in letters]
    lines = table(rows, ["KIND", "PROCESSING ID", "KEY", "ERROR", "MESSAGE"])
    emit(args, [d.summary() for d in letters], [*lines, f"{len(letters)} message(s)"])
    return 0


def cmd_dlq_redrive(args: argparse.Namespace) -> int:
    from imgpipe import dlq

    stack = connect(args)
    sqs, queue = stack.client("sqs"), stack.output("DeadLetterQueueUrl")
    # Hidden while we work on them; anything not re-started becomes visible again.
    letters = dlq.receive_all(sqs, queue, visibility=0 if args.dry_run else 120)
    results = []
    for letter in letters:
        if args.dry_run:
            results.append({**letter.summary(), "started": None, "note": "dry run"})
            continue
        outcome_ = dlq.redrive_one(
            letter,
            table=stack.output("StatusTableName"),
            state_machine_arn=stack.output("StateMachineArn"),
            sfn=stack.client("stepfunctions"),
        )
        if outcome_.started:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=letter.receipt_handle)
        else:
            sqs.change_message_visibility(
                QueueUrl=queue, ReceiptHandle=letter.receipt_handle, VisibilityTimeout=0
            )
        results.append({**letter.summary(), "started": outcome_.started, "note": outcome_.note})
    rows = [(r["kind"], r["processingId"] or r["key"], r["note"], r["started"]) for r in results]
    emit(
        args,
        results,
        [*table(rows, ["KIND", "ID/KEY", "RESULT", "EXECUTION"]), f"{len(results)} message(s)"],
    )
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    from imgpipe_core.trace import build_timeline

    stack = connect(args)
    around = None  # a moment of the execution bounds its log query; else the retention
    if args.id.startswith("arn:"):
        execution_arn = args.id
    else:
        record = find_record(stack, args.id)
        arns = record.execution_arns
        if not arns:
            raise CliError("the record has no execution yet")
        index = (args.attempt - 1) if args.attempt else len(arns) - 1
        execution_arn = arns[index]
        if index == len(arns) - 1:
            around = record.updated_at or None
    sfn = stack.client("stepfunctions")
    log_group, log_level = executions.logging_of(stack.output("StateMachineArn"), sfn=sfn)
    try:
        described, events = executions.read(
            execution_arn,
            log_group=log_group,
            log_level=log_level,
            around=around,
            sfn=sfn,
            logs=stack.client("logs"),
        )
    except executions.NotLogged as error:
        raise CliError(f"{execution_arn}: {error}") from error
    except executions.ExecutionGone as error:
        raise CliError(f"no history left for {execution_arn}") from error
    except executions.LogQueryFailed as error:
        raise CliError(f"{execution_arn}: {error}") from error
    spans = build_timeline(events)
    data = {
        "executionArn": execution_arn,
        "status": described["status"],
        "states": [s.model_dump(mode="json") for s in spans],
    }
    start = spans[0].start if spans else None
    rows = []
    for span in spans:
        offset = _offset_ms(start, span.start)
        duration = "-" if span.duration_ms is None else f"{span.duration_ms} ms"
        assigned = " ".join(f"${name}" for name in span.assigned or {})
        rows.append(
            (span.name, f"+{offset} ms", duration, span.retries or "", span.error or "", assigned)
        )
    lines = [f"{execution_arn}  {described['status']}"]
    if described.get("error"):
        data.update(error=described["error"], cause=described.get("cause"))
        lines.append(f"error: {described['error']}: {described.get('cause') or ''}")
    if executions.is_express(execution_arn) and log_level != "ALL":
        data["logLevel"] = log_level
        lines.append(f"(ExecutionLogLevel={log_level}: {executions.LOGGED_AT[log_level]})")
    lines += table(rows, ["STATE", "START", "DURATION", "RETRIES", "ERROR", "ASSIGNED"])
    emit(args, data, lines)
    return 0


def _offset_ms(start: Any, moment: Any) -> int:
    if not start or not moment:
        return 0
    a = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
    b = datetime.fromisoformat(str(moment).replace("Z", "+00:00"))
    return int((b - a).total_seconds() * 1000)
