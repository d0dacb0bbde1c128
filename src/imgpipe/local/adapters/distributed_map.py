"""Distributed Map as AWS runs it, where moto's interpreter stops short.

moto reads the items (ItemReader s3:getObject / listObjectsV2) and runs one child per item, but:

- it ignores ``ToleratedFailurePercentage`` / ``ToleratedFailureCount``: any number of failed
  children still ends the Map SUCCEEDED. AWS fails the Map Run with
  ``States.ExceedToleratedFailureThreshold`` once the failed share exceeds the threshold (here
  it is decided when every child has ended, not as soon as the threshold is crossed);
- its ResultWriter writes a ``manifest.json`` that lists no result files. AWS writes the
  children's outcomes to ``<Prefix>/<map run id>/SUCCEEDED_0.json`` / ``FAILED_0.json`` (one
  JSON array each, an entry per child execution: ARN, name, input, output or error and cause,
  dates, status) and lists them in the manifest with their sizes;
- it counts an item only once its child starts: AWS counts every item read in ``total`` and
  as ``pending`` until then (DescribeMapRun is how a backfill's progress is read);
- its ResultWriter reads ``Parameters`` paths from the children's outputs; AWS reads them
  from the Map state's input, like every other field of the state;
- its grammar refuses an integer ``ToleratedFailurePercentage`` (AWS takes any number 0-100):
  the definition is read with the integer as a decimal;
- it has no ``RedriveExecution``: here a FAILED, TIMED_OUT or ABORTED execution is redriven
  from the state it stopped in, with that state's input, and a Distributed Map there runs
  again only the children that did not succeed (the others keep their recorded outcome). As
  on AWS the execution keeps one history (the first run's events, ``ExecutionRedriven`` with
  the count, then the redriven states), and DescribeExecution / ListExecutions report
  ``redriveCount``, ``redriveDate`` and (Describe) ``redriveStatus``; ListExecutions takes
  ``redriveFilter``;
- its DescribeMapRun fails (500) while any execution of the account is just starting (its
  environment does not exist yet): those are skipped here;
- its S3 reader and writer call with fixed fake keys, which IAM lets through: here they call
  with the state machine's role (the ``iam`` adapter's client), so its policies decide.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import threading
import uuid
from dataclasses import dataclass
from typing import Any

_installed = False
_lock = threading.Lock()
# Map Run ARN → the outcome of each child execution, in completion order.
_outcomes: dict[str, list[ChildOutcome]] = {}
# Map Run ARN → the execution it belongs to.
_map_run_execution: dict[str, str] = {}
# Execution ARN being redriven → its children that succeeded before, by their input.
_succeeded_before: dict[str, dict[str, ChildOutcome]] = {}
# Execution ARN → when each of its redrives was accepted.
_redrives: dict[str, list[datetime.datetime]] = {}
REDRIVABLE = {"FAILED", "TIMED_OUT", "ABORTED"}

THRESHOLD_CAUSE = "The specified tolerated failure threshold was exceeded"


@dataclass(frozen=True)
class ChildOutcome:
    execution_arn: str
    name: str
    state_machine_arn: str
    input: Any
    output: Any
    status: str  # SUCCEEDED | FAILED | TIMED_OUT | ABORTED
    error: str | None
    cause: str | None
    start: datetime.datetime
    stop: datetime.datetime

    def entry(self) -> dict[str, Any]:
        """The child as AWS lists it in a result file."""
        entry: dict[str, Any] = {
            "ExecutionArn": self.execution_arn,
            "Input": json.dumps(self.input),
            "InputDetails": {"Included": True},
            "Name": self.name,
            "RedriveCount": 0,
            "RedriveStatus": "NOT_REDRIVABLE" if self.status == "SUCCEEDED" else "REDRIVABLE",
            "StartDate": _iso(self.start),
            "StateMachineArn": self.state_machine_arn,
            "Status": self.status,
            "StopDate": _iso(self.stop),
        }
        if self.status == "SUCCEEDED":
            entry["Output"] = json.dumps(self.output)
            entry["OutputDetails"] = {"Included": True}
        else:
            entry["Error"] = self.error or ""
            entry["Cause"] = self.cause or ""
        return entry


def exceeds_threshold(total: int, failed: int, percentage: float, count: int) -> bool:
    """AWS's rule: fail when failures exceed the count, or their share exceeds the percentage.

    A count of 0 with a percentage of 0 (the defaults) tolerates no failure at all.
    """
    if failed == 0 or total == 0:
        return False
    if count and failed > count:
        return True
    if percentage and failed * 100 > percentage * total:
        return True
    return not count and not percentage


def outcomes(map_run_arn: str) -> list[ChildOutcome]:
    with _lock:
        return list(_outcomes.get(map_run_arn, []))


def install() -> None:
    global _installed
    if _installed:
        return
    _patch_parser()
    _patch_redrive()
    _patch_children()
    _patch_threshold()
    # moto warns the threshold has no effect: with this adapter it has.
    logging.getLogger("moto.stepfunctions.parser.asl.parse.preprocessor").addFilter(
        lambda entry: "ToleratedFailure" not in entry.getMessage()
    )
    _patch_result_writer()
    _installed = True


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


_INTEGER_PERCENTAGE = re.compile(r'("ToleratedFailurePercentage"\s*:\s*)(\d+)(?=\s*[,}\]])')


def _patch_parser() -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    original = AmazonStateLanguageParser.parse

    def parse(definition: str) -> Any:
        return original(_INTEGER_PERCENTAGE.sub(r"\1\2.0", definition))

    AmazonStateLanguageParser.parse = staticmethod(parse)  # type: ignore[method-assign]


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _patch_redrive() -> None:
    from moto.core.exceptions import AWSError
    from moto.stepfunctions.parser.api import HistoryEventType
    from moto.stepfunctions.parser.asl.eval.evaluation_details import (
        EvaluationDetails,
        ExecutionDetails,
        StateMachineDetails,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
    from moto.stepfunctions.responses import ActionResult, StepFunctionResponse

    class ExecutionNotRedrivable(AWSError):
        TYPE = "ExecutionNotRedrivable"
        STATUS = 400

    class RedriveWorker(ExecutionWorker):
        """Runs the definition from the redriven state, with that state's recorded input, and
        goes on with the execution's history."""

        state_input: Any = None
        history: list[dict[str, Any]] = []  # set per instance before it starts
        redrive_count = 0

        def _get_evaluation_environment(self) -> Any:
            env = super()._get_evaluation_environment()
            env.states.reset(self.state_input)
            return env

        def _execution_logic(self) -> None:
            program = self._get_evaluation_entrypoint()
            self.env = env = self._get_evaluation_environment()
            manager = env.event_manager
            manager._history_event_list.extend(self.history)
            manager._event_id_gen._next_id = len(self.history) + 1
            context = env.event_history_context
            context.source_event_id = context.last_published_event_id = len(self.history)
            manager.add_event(
                context=context,
                event_type=HistoryEventType.ExecutionRedriven,
                event_details=EventDetails(  # type: ignore[typeddict-item]
                    executionRedrivenEventDetails={"redriveCount": self.redrive_count}
                ),
            )
            program.eval(env)
            self._execution_communication.terminated()

    def redrive(execution: Any) -> datetime.datetime:
        status = str(getattr(execution.exec_status, "value", execution.exec_status))
        if status not in REDRIVABLE or execution.exec_worker is None:
            raise ExecutionNotRedrivable(f"Execution is {status} and cannot be redriven")
        env = execution.exec_worker.env
        entered = [
            event
            for event in env.event_manager.get_event_history()
            if event["type"].endswith("StateEntered")
        ]
        if not entered:
            raise ExecutionNotRedrivable("Execution stopped before its first state")
        details = entered[-1]["stateEnteredEventDetails"]
        history = env.event_manager.get_event_history()
        definition = json.loads(execution.state_machine.definition)
        definition["StartAt"] = details["name"]
        with _lock:
            previous = [
                one
                for run, done in _outcomes.items()
                if _map_run_execution.get(run) == execution.exec_arn
                for one in done
                if one.status == "SUCCEEDED"
            ]
            _succeeded_before[execution.exec_arn] = {_key(one.input): one for one in previous}
        worker = RedriveWorker(
            evaluation_details=EvaluationDetails(
                aws_execution_details=execution._get_start_aws_execution_details(),
                execution_details=ExecutionDetails(
                    arn=execution.exec_arn,
                    name=execution.name,
                    role_arn=execution.role_arn,
                    inpt=execution.input_data,
                    start_time=execution.start_date,
                ),
                state_machine_details=StateMachineDetails(
                    arn=execution.state_machine.arn,
                    name=execution.state_machine.name,
                    typ=execution.state_machine.sm_type,
                    definition=json.dumps(definition),
                ),
            ),
            exec_comm=execution._get_start_execution_worker_comm(),
            cloud_watch_logging_session=execution._cloud_watch_logging_session,
            activity_store=execution._activity_store,
        )
        worker.state_input = json.loads(details.get("input") or "{}")
        worker.history = history
        redriven_at = _now()
        with _lock:
            dates = _redrives.setdefault(execution.exec_arn, [])
            dates.append(redriven_at)
            worker.redrive_count = len(dates)
        execution.exec_worker = worker
        execution.exec_status = type(execution.exec_status)("RUNNING")
        execution.stop_date = execution.error = execution.cause = None
        worker.start()
        return redriven_at

    def redrive_execution(self: Any) -> Any:
        execution = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
        return ActionResult({"redriveDate": redrive(execution)})

    StepFunctionResponse.redrive_execution = redrive_execution  # type: ignore[attr-defined]

    original_describe = StepFunctionResponse.describe_execution
    original_list = StepFunctionResponse.list_executions

    def describe_execution(self: Any) -> Any:
        answer = original_describe(self)
        described: dict[str, Any] = answer.result  # type: ignore[assignment]
        described.update(redrive_fields(described["executionArn"]))
        status = str(described["status"])
        if status in REDRIVABLE:
            described["redriveStatus"] = "REDRIVABLE"
        else:
            described["redriveStatus"] = "NOT_REDRIVABLE"
            described["redriveStatusReason"] = f"Execution is {status} and cannot be redriven"
        return answer

    def list_executions(self: Any) -> Any:
        answer = original_list(self)
        listed: dict[str, Any] = answer.result  # type: ignore[assignment]
        wanted = self._get_param("redriveFilter")  # REDRIVEN | NOT_REDRIVEN
        kept = []
        for item in listed["executions"]:
            item.update(redrive_fields(item["executionArn"]))
            if wanted is None or (item["redriveCount"] > 0) == (wanted == "REDRIVEN"):
                kept.append(item)
        listed["executions"] = kept
        return answer

    StepFunctionResponse.describe_execution = describe_execution  # type: ignore[method-assign]
    StepFunctionResponse.list_executions = list_executions  # type: ignore[method-assign]

    from moto.stepfunctions.exceptions import ResourceNotFound
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    def describe_map_run(self: Any, map_run_arn: str) -> dict[str, Any]:
        for execution in self._get_executions():
            env = execution.exec_worker.env if execution.exec_worker else None
            found = env.map_run_record_pool_manager.get(map_run_arn) if env else None
            if found is not None:
                return dict(found.describe())
        raise ResourceNotFound(map_run_arn)

    StepFunctionsParserBackend.describe_map_run = describe_map_run  # type: ignore[method-assign]


def redrive_fields(execution_arn: str) -> dict[str, Any]:
    """``redriveCount`` (0 until the first redrive) and the last ``redriveDate``."""
    with _lock:
        dates = list(_redrives.get(execution_arn, []))
    fields: dict[str, Any] = {"redriveCount": len(dates)}
    if dates:
        fields["redriveDate"] = dates[-1]
    return fields


def _patch_children() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (  # noqa: E501
        distributed_item_processor_worker as worker_module,
    )
    from moto.stepfunctions.parser.asl.eval.program_state import (
        ProgramEnded,
        ProgramError,
        ProgramStopped,
        ProgramTimedOut,
    )

    worker_class = worker_module.DistributedItemProcessorWorker
    original = worker_class._eval_job

    def eval_job(self: Any, env: Any, job: Any) -> None:
        start = _now()
        record = self._map_run_record
        counter = record.item_counter
        # Counted pending (and in the total) when the items were read; moto counts it again.
        counter.pending.offset(-1)
        with _lock:
            _map_run_execution[record.map_run_arn] = record.execution_arn
            before = _succeeded_before.get(record.execution_arn, {}).get(_key(job.job_input))
        if before is not None:
            # A redrive runs only the children that did not succeed.
            counter.succeeded.count()
            counter.results_written.count()
            job.job_output = before.output
            with _lock:
                _outcomes.setdefault(record.map_run_arn, []).append(before)
            return
        counter.total.offset(-1)
        original(self, env, job)
        state = env.program_state()
        error = cause = None
        if isinstance(state, ProgramEnded) and job.job_output is not None:
            status = "SUCCEEDED"
        elif isinstance(state, ProgramStopped):
            status, error, cause = "ABORTED", state.error, state.cause
        elif isinstance(state, ProgramTimedOut):
            status, error = "TIMED_OUT", "States.Timeout"
        else:
            status = "FAILED"
            details = state.error if isinstance(state, ProgramError) else None
            error = (details or {}).get("error") or "States.Runtime"
            cause = (details or {}).get("cause")
        name = uuid.uuid4().hex
        child_machine = record.map_state_machine_arn
        arn = f"{child_machine.replace(':stateMachine:', ':execution:')}:{name}"
        outcome = ChildOutcome(
            execution_arn=arn,
            name=name,
            state_machine_arn=child_machine,
            input=job.job_input,
            output=job.job_output,
            status=status,
            error=error,
            cause=cause,
            start=start,
            stop=_now(),
        )
        with _lock:
            _outcomes.setdefault(record.map_run_arn, []).append(outcome)

    worker_class._eval_job = eval_job  # type: ignore[method-assign]


def _patch_threshold() -> None:
    from moto.stepfunctions.parser.api import HistoryEventType, MapRunFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        distributed_iteration_component as component_module,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    component_class = component_module.DistributedIterationComponent
    original = component_class._map_run

    def map_run(self: Any, env: Any, eval_input: Any) -> None:
        record = eval_input.map_run_record
        # AWS counts every item read as pending (and in the total) until its child starts.
        items = len(env.stack[-1])
        record.item_counter.total.count(items)
        record.item_counter.pending.count(items)
        original(self, env, eval_input)
        done = outcomes(record.map_run_arn)
        failed = sum(1 for one in done if one.status != "SUCCEEDED")
        if not exceeds_threshold(
            len(done),
            failed,
            float(record.tolerated_failure_percentage or 0),
            int(record.tolerated_failure_count or 0),
        ):
            return
        error_name = StatesErrorName(typ=StatesErrorNameType.StatesExceedToleratedFailureThreshold)
        raise FailureEventException(
            failure_event=FailureEvent(
                env=env,
                error_name=error_name,
                event_type=HistoryEventType.ExecutionFailed,
                event_details=EventDetails(  # type: ignore[typeddict-item]
                    mapRunFailedEventDetails=MapRunFailedEventDetails(
                        error=error_name.error_name, cause=THRESHOLD_CAUSE
                    )
                ),
            )
        )

    component_class._map_run = map_run  # type: ignore[method-assign]


def _patch_result_writer() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval import (
        resource_eval_s3 as reader_module,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval import (  # noqa: E501
        resource_eval_s3 as writer_module,
    )
    from moto.stepfunctions.parser.asl.utils import boto_client

    def role_client(*args: Any, **kwargs: Any) -> Any:
        # Looked up per call: the iam adapter replaces it with one holding the role's keys.
        return boto_client.boto_client_for(*args, **kwargs)

    reader_module.boto_client_for = role_client  # type: ignore[assignment]
    writer_module.boto_client_for = role_client  # type: ignore[assignment]

    from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer import (
        result_writer_decl,
    )

    def eval_body(self: Any, env: Any) -> None:
        outputs = env.stack.pop()
        env.stack.append(env.states.get_input())
        self.parargs.eval(env=env)
        parameters = env.stack.pop()
        env.stack.pop()
        env.stack.extend([outputs, parameters])
        self.resource_eval.eval_resource(env=env)

    result_writer_decl.ResultWriter._eval_body = eval_body  # type: ignore[method-assign]

    writer_class = writer_module.ResourceEvalS3

    def put_object(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
        parameters = env.stack.pop()
        env.stack.pop()  # the children's outputs: written from their recorded outcomes
        s3: Any = writer_module.boto_client_for(
            service="s3", region=resource_runtime_part.region, state_credentials=state_credentials
        )
        record = env.map_run_record_pool_manager.get_all()[-1]
        bucket = parameters["Bucket"]
        prefix = parameters.get("Prefix") or ""
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        base = f"{prefix}{record.map_run_arn.split(':')[-1]}/"
        files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
        done = outcomes(record.map_run_arn)
        for status in ("SUCCEEDED", "FAILED"):
            entries = [
                one.entry()
                for one in done
                if (one.status == "SUCCEEDED") == (status == "SUCCEEDED")
            ]
            if not entries:
                continue
            key = f"{base}{status}_0.json"
            body = json.dumps(entries).encode()
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            files[status].append({"Key": key, "Size": len(body)})
        manifest = {
            "DestinationBucket": bucket,
            "MapRunArn": record.map_run_arn,
            "ResultFiles": files,
        }
        key = f"{base}manifest.json"
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest, indent=2).encode())
        env.stack.append(
            {
                "MapRunArn": record.map_run_arn,
                "ResultWriterDetails": {"Bucket": bucket, "Key": key},
            }
        )

    writer_class._handle_put_object = staticmethod(put_object)  # type: ignore[assignment]
