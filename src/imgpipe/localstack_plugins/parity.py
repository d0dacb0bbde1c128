"""Places where LocalStack in host mode differs from AWS in a way AWS users never see.

Each is patched at start-up (``localstack.hooks.on_infra_start``) so that LocalStack refuses and
accepts what AWS does; neither makes it kinder than AWS. Without them, imgpipe's own template and
Lambda's own boto3 fail on LocalStack for LocalStack's reasons, and the second engine would check
nothing beyond that.
"""

from __future__ import annotations

import re
from typing import Any

from localstack.runtime import hooks

_LIST_TYPE = re.compile(r"^(CommaDelimitedList|List<[^>]+>)$")


@hooks.on_infra_start()
def imgpipe_hypercorn_continue_reason() -> None:
    """Send ``100 Continue``, not a bare ``100``, as S3 does.

    hypercorn (the only gateway server that binds just 127.0.0.1) leaves the reason phrase out of
    the interim response. Older botocore releases, such as 1.40.4 of Lambda's python3.12 runtime,
    require one: they take the bare ``100`` for a final response, never send the body, and
    PutObject fails with BadDigest / ConnectionClosedError.
    """
    import h11
    from hypercorn.protocol.h11 import H11Protocol

    send = H11Protocol._send_h11_event
    if getattr(send, "_imgpipe", False):
        return

    async def send_h11_event(self: Any, event: Any) -> None:
        interim = isinstance(event, h11.InformationalResponse) and event.status_code == 100
        if interim and not event.reason:
            event = h11.InformationalResponse(
                status_code=100, headers=event.headers, reason=b"Continue"
            )
        await send(self, event)

    send_h11_event._imgpipe = True  # type: ignore[attr-defined]
    H11Protocol._send_h11_event = send_h11_event


@hooks.on_infra_start()
def imgpipe_cfn_list_parameter_before() -> None:
    """A list parameter's *previous* value is a list too, as in CloudFormation.

    LocalStack's v2 engine splits a CommaDelimitedList (or List<...>) parameter into a list for
    the new value only; the stack's stored value stays a string, so on UpdateStack and DeleteStack
    ``!Join [",", !Ref AllowedOrigins]`` fails with "Invalid arguments list definition for
    Fn::Join" and the stack can be neither updated nor deleted.
    """
    from localstack.services.cloudformation.engine.v2.change_set_model_preproc import (
        ChangeSetModelPreproc,
    )

    visit = ChangeSetModelPreproc.visit_node_parameter
    if getattr(visit, "_imgpipe", False):
        return

    def visit_node_parameter(self: Any, node_parameter: Any) -> Any:
        delta = visit(self, node_parameter)
        if isinstance(delta.before, str):
            type_ = self.visit(node_parameter.type_).before
            if isinstance(type_, str) and _LIST_TYPE.match(type_):
                delta.before = [item.strip() for item in delta.before.split(",")]
        return delta

    visit_node_parameter._imgpipe = True  # type: ignore[attr-defined]
    ChangeSetModelPreproc.visit_node_parameter = visit_node_parameter


@hooks.on_infra_start()
def imgpipe_jsonata_without_java() -> None:
    """ASL variables (``$name``) and JSONata evaluated without a JVM.

    LocalStack's Step Functions interpreter reads every variable, in JSONPath states too, through
    Java JSONata (dashjoin's jsonata-java over jpype), and installs a JRE and the jars from the
    internet on first use. Host mode here has no Java and reaches package registries only, so a
    state machine that reads a variable fails as ``States.Runtime``. ``jsonata-python`` is a
    port of the same Java library; results go through JSON, as LocalStack's bridge returns them.
    """
    from localstack.services.stepfunctions.asl.jsonata import jsonata as bridge

    from imgpipe.local.adapters.jsonata import evaluator

    bridge._eval_jsonata = evaluator(bridge.JSONataException)


@hooks.on_infra_start()
def imgpipe_sfn_target_transformed_input() -> None:
    """A rule's Step Functions target with an InputTransformer (or InputPath) starts executions.

    LocalStack names the execution after the ``id`` of what the target sends, which only the
    whole event has: a transformed input fails every delivery (KeyError 'id', logged as
    TargetDeliveryFailure). AWS starts it under a name of its own, as LocalStack does for a
    target's constant ``Input``.
    """
    import json

    from localstack.services.events.target import StatesTargetSender
    from localstack.utils.strings import long_uid

    send = StatesTargetSender.send_event
    if getattr(send, "_imgpipe", False):
        return

    def send_event(self: Any, event: Any, trace_header: Any) -> None:
        if isinstance(event, dict) and "id" in event:
            send(self, event, trace_header)
            return
        self.service = "stepfunctions"
        self.client.start_execution(
            stateMachineArn=self.target["Arn"], name=long_uid(), input=json.dumps(event)
        )

    send_event._imgpipe = True  # type: ignore[attr-defined]
    StatesTargetSender.send_event = send_event
