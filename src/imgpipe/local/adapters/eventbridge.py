"""EventBridge as the pipeline needs it: S3 events, state machine targets, DLQs, SFN events.

* S3 → EventBridge: moto's event lacks fields and misnames others (``eTag``, ``reason``,
  numeric ``time``); events here have the documented shape and go through ``PutEvents`` on the
  default bus like the real service's.
* Rules whose target is a state machine (moto has none) start an execution with the matched
  event after ``Input``/``InputPath``/``InputTransformer``. A failed start honours the target's
  ``RetryPolicy`` (backoff; "not found"-type errors are not retried, as on AWS) and then its
  ``DeadLetterConfig``: the event goes to the SQS queue with EventBridge's error attributes.
* Standard executions emit "Step Functions Execution Status Change" events, so rules on
  failed/timed-out executions work locally.
"""

from __future__ import annotations

import copy
import datetime
import itertools
import json
import logging
import threading
import time
import uuid
from typing import Any

from moto.events.models import Rule, events_backends
from moto.events.utils import EventTemplateParser
from moto.s3 import notifications
from moto.utilities.arns import parse_arn

LOG = logging.getLogger("imgpipe.local.eventbridge")
_installed = False
_sequencer = itertools.count(int(time.time() * 1000) << 16)
# Errors EventBridge does not retry: the target is gone or refuses the request outright.
_NOT_RETRIED = {
    "StateMachineDoesNotExist",
    "StateMachineDeleting",
    "InvalidArn",
    "InvalidName",
    "InvalidExecutionInput",
    "ValidationException",
    "AccessDeniedException",
    "ResourceNotFoundException",
}
# Locally a retry waits this long at first, doubling (AWS waits far longer; tests need seconds).
RETRY_BASE_DELAY_S = 0.2
RETRY_MAX_DELAY_S = 2.0

_REASONS = {
    "s3:ObjectCreated:Put": "PutObject",
    "s3:ObjectCreated:Post": "POST Object",
    "s3:ObjectCreated:Copy": "CopyObject",
    "s3:ObjectCreated:CompleteMultipartUpload": "CompleteMultipartUpload",
    "s3:ObjectRemoved:Delete": "DeleteObject",
    "s3:ObjectRemoved:DeleteMarkerCreated": "DeleteObject",
}


def install() -> None:
    global _installed
    if _installed:
        return
    original = Rule.send_to_targets

    def send_to_targets(self: Rule, event: Any, transform_input: bool = True) -> None:
        if not self.event_pattern.matches_event(event):
            return
        states = [t for t in self.targets if parse_arn(t["Arn"]).service == "states"]
        if len(states) < len(self.targets):
            rest = copy.copy(self)
            rest.targets = [t for t in self.targets if t not in states]
            original(rest, event, transform_input)
        for target in states:
            deliver_to_state_machine(self, target, event)

    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign,assignment]
    notifications._send_event_bridge_message = _send_s3_event
    _install_execution_events()
    _installed = True


# -- S3 → EventBridge --------------------------------------------------------------------------


def s3_event_detail(bucket: Any, key: Any, event_name: str) -> dict[str, Any]:
    obj: dict[str, Any] = {"key": key.name}
    if "ObjectCreated" in event_name:
        obj.update(size=key.size, etag=key.etag.strip('"'))
    if bucket.is_versioned and key.version_id:
        obj["version-id"] = key.version_id
    obj["sequencer"] = f"{next(_sequencer):016X}"
    detail: dict[str, Any] = {
        "version": "0",
        "bucket": {"name": bucket.name},
        "object": obj,
        "request-id": uuid.uuid4().hex[:16].upper(),
        "requester": bucket.account_id,
        "source-ip-address": "127.0.0.1",
        "reason": _REASONS.get(event_name, event_name.split(":")[-1]),
    }
    if "ObjectRemoved" in event_name:
        detail["deletion-type"] = (
            "Delete Marker Created" if "DeleteMarker" in event_name else "Permanently Deleted"
        )
    return detail


def _send_s3_event(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
    try:
        detail_type = notifications._detail_type(event_name)
        backend = events_backends[account_id][bucket.region_name]
        backend.put_events(
            [
                {
                    "Source": "aws.s3",
                    "DetailType": detail_type,
                    "Detail": json.dumps(s3_event_detail(bucket, key, event_name)),
                    "Resources": [bucket.arn],
                }
            ]
        )
    except Exception:  # S3 never fails a write because a notification could not be sent
        LOG.exception("S3 → EventBridge delivery failed for s3://%s/%s", bucket.name, key.name)


# -- targets: Step Functions -----------------------------------------------------------------


def _iso(value: Any) -> str:
    if isinstance(value, int | float):
        stamp = datetime.datetime.fromtimestamp(float(value), datetime.UTC)
        return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def target_input(target: dict[str, Any], event: Any) -> str:
    """The execution input EventBridge would send for this target."""
    event = {**event, "time": _iso(event.get("time", time.time()))}
    if "Input" in target:
        return str(target["Input"])
    if "InputPath" in target:
        return json.dumps(_json_path(event, target["InputPath"]))
    transformer = target.get("InputTransformer")
    if transformer:
        result = EventTemplateParser.parse(
            input_template=transformer.get("InputTemplate"),
            input_paths_map=transformer.get("InputPathsMap", {}),
            event=event,
        )
        return result if isinstance(result, str) else json.dumps(result)
    return json.dumps(event)


def _json_path(document: Any, path: str) -> Any:
    value = document
    for part in [p for p in path.removeprefix("$").split(".") if p]:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def deliver_to_state_machine(rule: Rule, target: dict[str, Any], event: dict[str, Any]) -> None:
    # EventBridge delivers asynchronously; the S3 PUT that caused the event returns at once.
    threading.Thread(
        target=_deliver, args=(rule, target, copy.deepcopy(event)), daemon=True
    ).start()


def _deliver(rule: Rule, target: dict[str, Any], event: dict[str, Any]) -> None:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    policy = target.get("RetryPolicy") or {}
    max_retries = int(policy.get("MaximumRetryAttempts", 185))
    max_age = float(policy.get("MaximumEventAgeInSeconds", 86_400))
    started = time.monotonic()
    arn = parse_arn(target["Arn"])
    attempt = 0
    delay = RETRY_BASE_DELAY_S
    while True:
        try:
            payload = target_input(target, event)
            backend = stepfunctions_parser_backends[arn.account][arn.region]
            backend.start_execution(target["Arn"], name=str(uuid.uuid4()), execution_input=payload)
            return
        except Exception as error:
            code = getattr(error, "error_type", None) or getattr(error, "code", None)
            code = str(code or type(error).__name__)
            message = getattr(error, "message", None) or str(error)
            exhausted: str | None = None  # stays None for errors EventBridge never retries
            if code not in _NOT_RETRIED:
                if attempt < max_retries and time.monotonic() - started + delay <= max_age:
                    attempt += 1
                    time.sleep(delay)
                    delay = min(delay * 2, RETRY_MAX_DELAY_S)
                    continue
                exhausted = (
                    "MaximumRetryAttempts" if attempt >= max_retries else "MaximumEventAgeInSeconds"
                )
            LOG.warning("rule %s → %s failed: %s %s", rule.name, target["Arn"], code, message)
            _dead_letter(rule, target, event, code, message, attempt, exhausted)
            return


def _dead_letter(
    rule: Rule,
    target: dict[str, Any],
    event: dict[str, Any],
    code: str,
    message: str,
    attempts: int,
    exhausted: str | None,
) -> None:
    queue_arn = (target.get("DeadLetterConfig") or {}).get("Arn")
    if not queue_arn:
        return  # without a DLQ, EventBridge drops the event (and counts FailedInvocations)
    from imgpipe.local.adapters.queue_policy import events_may_send

    if not events_may_send(queue_arn, rule.arn):
        LOG.warning(
            "rule %s may not send to its DLQ %s (queue policy): dropped", rule.arn, queue_arn
        )
        return
    from moto.sqs.models import sqs_backends

    attributes = {
        "RULE_ARN": rule.arn,
        "TARGET_ARN": target["Arn"],
        "ERROR_CODE": code,
        "ERROR_MESSAGE": message[:1000],
        "RETRY_ATTEMPTS": str(attempts),
    }
    if exhausted:
        attributes["EXHAUSTED_RETRY_CONDITION"] = exhausted
    queue = parse_arn(queue_arn)
    body = json.dumps({**event, "time": _iso(event.get("time", time.time()))})
    sqs_backends[queue.account][queue.region].send_message(
        queue_name=queue.resource_id,
        message_body=body,
        message_attributes={
            k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()
        },
    )


# -- Step Functions → EventBridge ------------------------------------------------------------


def _install_execution_events() -> None:
    from moto.stepfunctions.parser.backend import execution as execution_module

    communication = execution_module.BaseExecutionWorkerCommunication
    original_terminated = communication.terminated
    original_start = execution_module.Execution.start

    def terminated(self: Any) -> None:
        original_terminated(self)
        _emit_status(self.execution)

    def start(self: Any) -> None:
        original_start(self)
        _emit_status(self)

    communication.terminated = terminated  # type: ignore[method-assign]
    execution_module.Execution.start = start  # type: ignore[method-assign]


def _millis(value: Any) -> int | None:
    return int(value.timestamp() * 1000) if value else None


def _emit_status(execution: Any) -> None:
    try:
        status = execution.exec_status.value if execution.exec_status else "RUNNING"
        state_machine_arn = execution.state_machine.arn
        if getattr(execution, "sm_type", None) and "EXPRESS" in str(execution.sm_type):
            return  # only Standard workflows send status-change events
        detail = {
            "executionArn": execution.exec_arn,
            "stateMachineArn": state_machine_arn,
            "name": execution.name,
            "status": status,
            "startDate": _millis(execution.start_date),
            "stopDate": _millis(getattr(execution, "stop_date", None)),
            "input": execution.input_data
            if isinstance(execution.input_data, str)
            else json.dumps(execution.input_data),
            "output": json.dumps(execution.output)
            if getattr(execution, "output", None) is not None
            else None,
            "error": getattr(execution, "error", None),
            "cause": getattr(execution, "cause", None),
        }
        backend = events_backends[execution.account_id][execution.region_name]
        backend.put_events(
            [
                {
                    "Source": "aws.states",
                    "DetailType": "Step Functions Execution Status Change",
                    "Detail": json.dumps(detail, default=str),
                    "Resources": [execution.exec_arn],
                }
            ]
        )
    except Exception:
        LOG.exception("could not emit the status-change event of %s", execution)
