"""Express workflows as AWS runs them, and execution logs delivered to CloudWatch Logs.

moto executes every state machine as if it were Standard and never delivers execution logs.
AWS differs for ``EXPRESS`` (Step Functions developer guide, "Standard vs. Express"):

* an execution's ARN is ``...:express:<machine>:<name>:<id>``; names are not idempotent;
* ``DescribeExecution`` and ``GetExecutionHistory`` refuse its ARN, ``ListExecutions`` refuses
  the machine: the history exists only as the log events of its ``LoggingConfiguration``;
* an execution runs for at most five minutes;
* ``.sync`` and ``.waitForTaskToken`` integrations and activities are refused at creation;
* no "Execution Status Change" events reach EventBridge (``adapters/eventbridge`` skips them).

For both types, history events the configured ``Level`` selects (moto's filter, which follows the
developer guide's "Log levels" table: ``ERROR`` the failure events — ``*Failed``, ``*TimedOut``,
``*Aborted``, ``FailStateEntered`` and the Lambda schedule/start failures — ``FATAL`` only
``ExecutionFailed``/``ExecutionTimedOut``/``ExecutionAborted``, ``OFF`` nothing, and then no
destination is needed; any other level needs exactly one) are written to the log group as
JSON in AWS's format, one stream per execution; as on AWS, nothing is delivered when the log
group does not exist. The format follows log events Step Functions wrote in 2026 (copied from
``aws logs tail`` in public repositories; the developer guide has no example): compact JSON (no
spaces after ``,`` and ``:``), keys in the order ``details``, ``redrive_count``, ``id``,
``type``, ``previous_event_id``, ``event_timestamp`` (epoch ms as a string), ``execution_arn``;
``details`` keys in alphabetical order. State data inside ``details`` (``input``, ``output``,
``parameters``, ``assignedVariables`` values) is compact JSON too, as Step Functions
serialises it; the execution's own input and error causes are kept as they came. Without
``IncludeExecutionData`` the data fields, task parameters and assigned variables are left out.
"""

from __future__ import annotations

import copy
import datetime
import json
import logging
import uuid
from typing import Any

LOG = logging.getLogger(__name__)
EXPRESS_MAX_SECONDS = 300
_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original_create = StepFunctionsParserBackend.create_state_machine
    original_update = StepFunctionsParserBackend.update_state_machine
    original_describe = StepFunctionsParserBackend.describe_execution
    original_history = StepFunctionsParserBackend.get_execution_history
    original_list = StepFunctionsParserBackend.list_executions

    def create_state_machine(self: Any, *args: Any, **kwargs: Any) -> Any:
        if str(kwargs.get("sm_type") or "STANDARD").upper() == "EXPRESS":
            _refuse_express_definition(str(kwargs.get("definition", "")))
        refuse_logging_configuration(kwargs.get("loggingConfiguration"))
        return original_create(self, *args, **kwargs)

    def update_state_machine(self: Any, *args: Any, **kwargs: Any) -> Any:
        refuse_logging_configuration(kwargs.get("logging_configuration"))
        return original_update(self, *args, **kwargs)

    def describe_execution(self: Any, execution_arn: str) -> Any:
        _refuse_express_arn(execution_arn)
        return original_describe(self, execution_arn)

    def get_execution_history(self: Any, execution_arn: str) -> Any:
        _refuse_express_arn(execution_arn)
        return original_history(self, execution_arn)

    def list_executions(self: Any, state_machine_arn: str, *args: Any, **kwargs: Any) -> Any:
        if _is_express(self.describe_state_machine(state_machine_arn)):
            raise aws_error("StateMachineTypeNotSupported")(
                "This operation is not supported by this type of state machine"
            )
        return original_list(self, state_machine_arn, *args, **kwargs)

    StepFunctionsParserBackend.create_state_machine = create_state_machine  # type: ignore[method-assign]
    StepFunctionsParserBackend.update_state_machine = update_state_machine  # type: ignore[method-assign]
    StepFunctionsParserBackend.describe_execution = describe_execution  # type: ignore[method-assign]
    StepFunctionsParserBackend.get_execution_history = get_execution_history  # type: ignore[method-assign]
    StepFunctionsParserBackend.list_executions = list_executions  # type: ignore[method-assign,assignment]
    StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign]
    _installed = True


def recorded(execution_arn: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An execution as the engine ran it, Express too: its description and full history.

    AWS shows an Express execution only through its log, which below Level ALL holds failures
    only; what Step Functions bills (duration, and the transitions a Standard run would make)
    is what ran. For ``imgpipe cost``, in the engine's own process."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    parts = execution_arn.split(":")
    backend = stepfunctions_parser_backends[parts[4]][parts[3]]
    machine = f"arn:{parts[1]}:states:{parts[3]}:{parts[4]}:stateMachine:{parts[6]}"
    executions: list[Any] = backend.describe_state_machine(machine).executions  # the parser's
    execution = next(e for e in executions if e.exec_arn == execution_arn)
    return dict(execution.to_describe_output()), list(execution.to_history_output()["events"])


def _is_express(state_machine: Any) -> bool:
    return str(getattr(state_machine, "type", "STANDARD")).upper() == "EXPRESS"


def is_express_arn(arn: str) -> bool:
    return arn.split(":")[5:6] == ["express"]


def _refuse_express_arn(arn: str) -> None:
    if is_express_arn(arn):
        raise aws_error("InvalidArn")(
            "Invalid Arn: 'Resource type not valid in this context: express'"
        )


def _refuse_express_definition(definition: str) -> None:
    from moto.stepfunctions.parser.asl.static_analyser.express_static_analyser import (
        ExpressStaticAnalyser,
    )

    try:
        ExpressStaticAnalyser().analyse(definition)
    except ValueError as error:
        raise aws_error("InvalidDefinition")(str(error)) from error


def refuse_logging_configuration(config: dict[str, Any] | None) -> None:
    """What Step Functions refuses in a LoggingConfiguration: a level other than OFF needs
    exactly one destination (OFF needs none), and at most one is allowed."""
    if not config:
        return
    level = str(_field(config, "level") or "OFF").upper()
    destinations = _field(config, "destinations") or []
    if len(destinations) > 1 or (level != "OFF" and len(destinations) != 1):
        raise aws_error("InvalidLoggingConfiguration")(
            "Invalid Logging Configuration: Must specify exactly one Log Destination."
        )


def aws_error(code: str) -> type[Exception]:
    """An error moto's server answers with this code (its parser's own errors lose it)."""
    from moto.core.exceptions import AWSError

    return type(code, (AWSError,), {"TYPE": code, "STATUS": 400})


def start_execution(
    self: Any,
    state_machine_arn: str,
    name: str | None = None,
    execution_input: str | None = None,
    trace_header: str | None = None,
) -> Any:
    """moto's start_execution, with Express ARNs, the five-minute limit and execution logs."""
    from moto.stepfunctions.exceptions import InvalidExecutionInput
    from moto.stepfunctions.parser.api import StateMachineType
    from moto.stepfunctions.parser.backend.execution import Execution

    state_machine = self.describe_state_machine(state_machine_arn)
    express = _is_express(state_machine)
    if not express:  # StartExecution is idempotent by name for Standard only
        existing = state_machine._handle_name_input_idempotency(name, execution_input)
        if existing is not None:
            return existing
    # A snapshot of the definition: share, not copy, live executions and the backend
    # (moto's own start_execution does the same, getmoto/moto#10077).
    clone = copy.deepcopy(
        state_machine,
        {id(state_machine.executions): [], id(state_machine.backend): state_machine.backend},
    )
    input_data = "{}" if execution_input is None else execution_input
    try:
        json.loads(input_data)
    except ValueError as error:
        raise InvalidExecutionInput(str(error)) from error
    name = name or str(uuid.uuid4())
    if express:
        arn = (
            f"arn:{self.partition}:states:{self.region_name}:{self.account_id}:express:"
            f"{state_machine.name}:{name}:{uuid.uuid4()}"
        )
        clone.definition = _capped(clone.definition, EXPRESS_MAX_SECONDS)
        clone.sm_type = StateMachineType.EXPRESS
    else:
        arn = (
            f"arn:{self.partition}:states:{self.region_name}:{self.account_id}:execution:"
            f"{state_machine.name}:{name}"
        )
    execution = Execution(
        name=name,
        sm_type=clone.sm_type,
        role_arn=clone.roleArn,
        exec_arn=arn,
        account_id=self.account_id,
        region_name=self.region_name,
        state_machine=clone,
        start_date=datetime.datetime.now(tz=datetime.UTC),
        cloud_watch_logging_session=_logging_session(arn, state_machine),
        input_data=input_data,
        trace_header=trace_header,
        activity_store={},
    )
    state_machine.executions.append(execution)
    execution.start()
    return execution


def _capped(definition: str, seconds: int) -> str:
    """Express executions end at five minutes whatever the definition's TimeoutSeconds says."""
    parsed = json.loads(definition)
    parsed["TimeoutSeconds"] = min(int(parsed.get("TimeoutSeconds", seconds)), seconds)
    return json.dumps(parsed)


def _field(config: dict[str, Any], name: str) -> Any:
    """LoggingConfiguration as the API (camelCase) or CloudFormation (PascalCase) spells it."""
    return config.get(name, config.get(name[0].upper() + name[1:]))


def _logging_session(execution_arn: str, state_machine: Any) -> Any:
    config = getattr(state_machine, "loggingConfiguration", None) or {}
    level = str(_field(config, "level") or "OFF").upper()
    destinations = _field(config, "destinations") or []
    if level == "OFF" or len(destinations) != 1:
        return None
    group = _field(destinations[0], "cloudWatchLogsLogGroup") or {}
    group_arn = str(_field(group, "logGroupArn") or "")
    parts = group_arn.split(":")
    if len(parts) < 7 or parts[5] != "log-group":
        return None
    include = str(_field(config, "includeExecutionData")).lower() == "true"
    return LogSession(
        execution_arn, state_machine.name, parts[4], parts[3], parts[6], level, include
    )


def _session_base() -> type:
    from moto.stepfunctions.parser.asl.eval.event.logging import CloudWatchLoggingSession

    return CloudWatchLoggingSession


class LogSession(_session_base()):  # type: ignore[misc]
    """moto's logging session, delivering each event as AWS formats it."""

    def __init__(
        self,
        execution_arn: str,
        machine: str,
        account: str,
        region: str,
        group: str,
        level: str,
        include_execution_data: bool,
    ) -> None:
        from moto.stepfunctions.parser.api import LogLevel
        from moto.stepfunctions.parser.asl.eval.event.logging import (
            CloudWatchLoggingConfiguration,
        )

        configuration = CloudWatchLoggingConfiguration(
            state_machine_arn=execution_arn,
            log_account_id=account,
            log_region=region,
            log_group_name=group,
            log_level=LogLevel(level),
            include_execution_data=include_execution_data,
        )
        super().__init__(execution_arn=execution_arn, configuration=configuration)
        day = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d-%H-%M")
        self.stream = f"states/{machine}/{day}/{uuid.uuid4().hex[:8]}"

    def publish_history_log(self, history_log: dict[str, Any]) -> None:
        try:
            self._publish(history_log)
        except Exception:  # a log that cannot be delivered never fails the execution
            LOG.exception("could not deliver a log event of %s", self.execution_arn)

    def _publish(self, history_log: dict[str, Any]) -> None:
        from moto.logs.models import logs_backends

        millis = _millis(history_log["event_timestamp"])
        kind = str(getattr(history_log["type"], "value", history_log["type"]))
        details = dict(history_log.get("details") or {})
        config = self.configuration
        message = log_message(
            kind,
            details,
            event_id=str(history_log["id"]),
            previous=str(history_log["previous_event_id"]),
            millis=millis,
            execution_arn=self.execution_arn,
            include_execution_data=bool(config.include_execution_data),
        )
        backend = logs_backends[config.log_account_id][config.log_region]
        if config.log_group_name not in backend.groups:
            return  # AWS drops the delivery too
        group = backend.groups[config.log_group_name]
        if self.stream not in group.streams:
            group.create_log_stream(self.stream)
        group.put_log_events(self.stream, [{"timestamp": millis, "message": message}])


# State data Step Functions serialises itself (compact); the execution input stays as given.
_STATE_DATA = ("input", "output", "parameters")
_EXECUTION_DATA = ("input", "inputDetails", "output", "outputDetails", "parameters")
_VARIABLES = ("assignedVariables", "assignedVariablesDetails")


def log_message(
    kind: str,
    details: dict[str, Any],
    *,
    event_id: str,
    previous: str,
    millis: int,
    execution_arn: str,
    include_execution_data: bool,
) -> str:
    """One history event as Step Functions writes it to CloudWatch Logs."""
    if include_execution_data:
        for name in _STATE_DATA:
            if isinstance(details.get(name), str) and kind != "ExecutionStarted":
                details[name] = _compact(details[name])
        if isinstance(details.get("assignedVariables"), dict):
            details["assignedVariables"] = {
                k: _compact(v) for k, v in details["assignedVariables"].items()
            }
    else:
        for name in (*_EXECUTION_DATA, *_VARIABLES):
            details.pop(name, None)
    message = {
        "details": dict(sorted(details.items())),
        "redrive_count": "0",
        "id": event_id,
        "type": kind,
        "previous_event_id": previous,
        "event_timestamp": str(millis),
        "execution_arn": execution_arn,
    }
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False, default=str)


def _compact(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        return text


def _millis(moment: Any) -> int:
    if isinstance(moment, datetime.datetime):
        return int(moment.timestamp() * 1000)
    if isinstance(moment, int | float):
        return int(moment)
    text = str(moment)
    try:
        return int(float(text))
    except ValueError:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=datetime.UTC)
        return int(parsed.timestamp() * 1000)
