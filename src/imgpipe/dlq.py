"""The dead-letter queue: what lands there, and how each kind of message is re-run.

Three producers write to it: the state machine's own failure path (``ProcessingFailed``,
``RegistrationFailed``), the upload rule when it cannot start an execution (the raw S3 event,
with EventBridge's ERROR_CODE attributes), and the rules on failed/timed-out/aborted executions
(a Step Functions status-change event whose detail carries the execution input).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from imgpipe_core import executions, records, register, reruns


@dataclass
class DeadLetter:
    message_id: str
    receipt_handle: str
    kind: str
    error: str | None
    processing_id: str | None = None
    key: str | None = None
    execution_arn: str | None = None
    execution_input: dict[str, Any] | None = None  # what to start again, when no record exists
    body: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "messageId": self.message_id,
            "kind": self.kind,
            "processingId": self.processing_id,
            "key": self.key,
            "error": self.error,
            "executionArn": self.execution_arn,
        }


def parse(message: dict[str, Any]) -> DeadLetter:
    body = json.loads(message["Body"])
    attributes = {k: v.get("StringValue") for k, v in message.get("MessageAttributes", {}).items()}
    base = {"message_id": message["MessageId"], "receipt_handle": message["ReceiptHandle"]}
    if body.get("kind") == "ProcessingFailed":
        return DeadLetter(
            **base,
            kind="ProcessingFailed",
            error=body.get("error"),
            processing_id=body.get("processingId"),
            key=(body.get("source") or {}).get("key"),
            execution_arn=body.get("executionArn"),
            body=body,
        )
    if body.get("kind") == "RegistrationFailed":
        execution_input = body.get("input") or {}
        return DeadLetter(
            **base,
            kind="RegistrationFailed",
            error=body.get("error"),
            processing_id=_processing_id_of(execution_input),
            key=_key_of(execution_input),
            execution_arn=body.get("executionArn"),
            execution_input=execution_input,
            body=body,
        )
    if body.get("source") == "aws.states":
        detail = body.get("detail", {})
        execution_input = json.loads(detail.get("input") or "{}")
        return DeadLetter(
            **base,
            kind=f"Execution{str(detail.get('status', 'FAILED')).title().replace('_', '')}",
            error=detail.get("error") or detail.get("status"),
            processing_id=_processing_id_of(execution_input),
            key=_key_of(execution_input),
            execution_arn=detail.get("executionArn"),
            execution_input=execution_input,
            body=body,
        )
    if body.get("source") == "aws.s3":
        return DeadLetter(
            **base,
            kind="StartFailed",
            error=attributes.get("ERROR_CODE"),
            key=_key_of(body),
            execution_input=body,
            body=body,
        )
    return DeadLetter(**base, kind="Unknown", error=None, body=body)


def _processing_id_of(execution_input: dict[str, Any]) -> str | None:
    """The record an execution input is about (a re-run names it; an S3 event derives it)."""
    try:
        return register.identify(execution_input)[0]
    except register.InvalidExecutionInput:
        return None


def _key_of(execution_input: dict[str, Any]) -> str | None:
    if "source" in execution_input and isinstance(execution_input["source"], dict):
        return execution_input["source"].get("key")
    # The upload rule's input (bucket and object), or a whole S3 event (older executions, and
    # the rule's own dead letters, which carry the event).
    created = execution_input.get("detail", execution_input)
    return created.get("object", {}).get("key") if isinstance(created, dict) else None


def receive_all(sqs: Any, queue_url: str, *, visibility: int) -> list[DeadLetter]:
    """Every message currently in the queue (deduplicated; SQS may return one twice)."""
    seen: dict[str, DeadLetter] = {}
    quiet_rounds = 0
    while quiet_rounds < 2:
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=visibility,
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        for message in fresh:
            seen[message["MessageId"]] = parse(message)
        quiet_rounds = 0 if fresh else quiet_rounds + 1
    return list(seen.values())


@dataclass
class RedriveResult:
    letter: DeadLetter
    started: str | None
    note: str


def redrive_one(
    letter: DeadLetter, *, table: str, state_machine_arn: str, sfn: Any
) -> RedriveResult:
    """Start the re-run a dead letter asks for; the caller deletes it only if ``started``."""
    if letter.processing_id:
        _release_if_abandoned(letter, table=table, sfn=sfn)
        try:
            result = reruns.start_rerun(
                table, state_machine_arn, letter.processing_id, reason="dlq-redrive", sfn=sfn
            )
        except reruns.RecordNotFound:
            result = None
        if result is not None:
            if result.already_running:
                return RedriveResult(letter, None, "an attempt is already running; kept")
            return RedriveResult(letter, result.execution_arn, "re-run started")
    if letter.execution_input:
        response = sfn.start_execution(
            stateMachineArn=state_machine_arn,
            name=f"redrive-{uuid.uuid4().hex}",
            input=json.dumps(letter.execution_input),
        )
        return RedriveResult(letter, response["executionArn"], "execution restarted")
    return RedriveResult(letter, None, "nothing to re-run; kept")


def _release_if_abandoned(letter: DeadLetter, *, table: str, sfn: Any) -> None:
    """An execution that ended without recording an outcome (aborted, timed out, Register
    failing after its claim) left its record PROCESSING: end that attempt as FAILED first, or
    the re-run would be refused as "already running" until the record is stale."""
    if not (letter.processing_id and letter.execution_arn):
        return
    if executions.is_express(letter.execution_arn):
        # AWS refuses DescribeExecution for Express. Its letters are sent on the way out (the
        # ASL's last states, or after it ended), and Express runs five minutes at most.
        status = "ENDED"
    else:
        status = _status(sfn, letter.execution_arn)
    if status == "RUNNING":
        return
    records.release(
        table,
        letter.processing_id,
        letter.execution_arn,
        error=letter.error or letter.kind,
        cause=f"execution {status.lower()} without recording an outcome",
    )


def _status(sfn: Any, execution_arn: str) -> str:
    try:
        status = sfn.describe_execution(executionArn=execution_arn)["status"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "ExecutionDoesNotExist":
            raise
        status = "GONE"
    return str(status)
