"""Least privilege, proven: without any one permission a function needs, its step fails.

Each case deploys a copy of template.yaml with one action removed from one function's role and
drives the real event path; the engine evaluates every call against the role, as AWS does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from imgpipe.local import api_server
from imgpipe.local.deploy import load_template
from tests.integration.conftest import ROOT, Pipeline, deploy_pipeline, localstack_xfail, photo

pytestmark = pytest.mark.engine
# LocalStack community accepts IAM policies but never evaluates them (enforcement is a LocalStack
# Pro feature), so the call the role lacks succeeds there: strict, a LocalStack that refuses it
# must drop the mark.
no_iam_on_localstack = localstack_xfail(
    "the community edition does not evaluate IAM policies; the call the role lacks succeeds"
)

_URI_PROPERTIES = ("CodeUri", "ContentUri", "DefinitionUri")


def template_without(tmp_path: Path, resource: str, action: str, on: str | None = None) -> Path:
    """template.yaml minus ``action`` in ``resource``'s role (only where the resource mentions
    ``on``), written as JSON with absolute artifact paths."""
    template = load_template(ROOT / "template.yaml")
    removed = 0
    policies = template["Resources"][resource]["Properties"]["Policies"]
    for policy in policies:
        for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
            if "Fn::If" in statement:
                continue  # a conditional grant (e.g. Delivery=private's signing key)
            actions = statement["Action"]
            actions = [actions] if isinstance(actions, str) else actions
            if action in actions and (on is None or on in json.dumps(statement["Resource"])):
                statement["Action"] = [a for a in actions if a != action]
                removed += 1
    assert removed, f"{resource} has no grant of {action}: the test is out of date"
    for section in [template.get("Globals", {}).get("Function", {})] + [
        r.get("Properties", {}) for r in template["Resources"].values()
    ]:
        for name in _URI_PROPERTIES:
            if isinstance(section.get(name), str) and not section[name].startswith("s3://"):
                section[name] = str(ROOT / section[name])
    for statement_holder in policies:
        if isinstance(statement_holder, dict) and "Statement" in statement_holder:
            statement_holder["Statement"] = [
                s for s in statement_holder["Statement"] if "Fn::If" in s or s["Action"]
            ]
    path = tmp_path / f"template-without-{action.replace(':', '-')}.json"
    path.write_text(json.dumps(template))
    return path


def finished_execution(pipeline: Pipeline, timeout: float = 90) -> dict[str, Any]:
    sfn = pipeline.client("stepfunctions")
    arn = pipeline.outputs["StateMachineArn"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        executions = sfn.list_executions(stateMachineArn=arn)["executions"]
        done = [e for e in executions if e["status"] != "RUNNING"]
        if executions and len(done) == len(executions):
            return dict(sfn.describe_execution(executionArn=done[0]["executionArn"]))
        time.sleep(0.3)
    raise AssertionError(f"no execution finished in {timeout}s")


def failure_causes(pipeline: Pipeline, execution_arn: str) -> str:
    """Each failed task as "<function it invoked>: <error>: <cause>", from the history."""
    history = pipeline.client("stepfunctions").get_execution_history(
        executionArn=execution_arn, maxResults=1000
    )["events"]
    by_id = {event["id"]: event for event in history}
    lines = []
    for event in history:
        detail = event.get("taskFailedEventDetails") or event.get(
            "lambdaFunctionFailedEventDetails"
        )
        if not detail:
            continue
        scheduled, function = by_id.get(event.get("previousEventId", 0)), "?"
        while scheduled is not None and not {
            "taskScheduledEventDetails",
            "lambdaFunctionScheduledEventDetails",
        } & set(scheduled):
            scheduled = by_id.get(scheduled.get("previousEventId", 0))
        if scheduled is not None and "lambdaFunctionScheduledEventDetails" in scheduled:
            resource = scheduled["lambdaFunctionScheduledEventDetails"]["resource"]
            function = str(resource).rsplit(":", 1)[-1]
        elif scheduled is not None:
            parameters = json.loads(scheduled["taskScheduledEventDetails"]["parameters"])
            function = str(parameters.get("FunctionName", "?")).rsplit(":", 1)[-1]
        lines.append(f"{function}: {detail.get('error')}: {detail.get('cause')}")
    return "\n".join(lines)


def dead_letter_for(
    pipeline: Pipeline,
    key: str,
    timeout: float = 30,
    where: Callable[[dict], bool] = lambda message: True,
) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in pipeline.dead_letters() if key in json.dumps(m) and where(m)]
        if found:
            return found
        time.sleep(0.3)
    return []


# function, action removed (only on resources mentioning `on`), what the refusal says. A HEAD
# refusal has no body: botocore reports it as "(403) ... Forbidden"; SNS says AuthorizationError.
STEP_CASES = {
    "register": ("RegisterFunction", "dynamodb:PutItem", None, "(AccessDeniedException)"),
    "validate": ("ValidateFunction", "s3:GetObjectVersion", None, "(AccessDenied)"),
    "resize": ("ResizeFunction", "s3:PutObject", None, "(AccessDenied)"),
    "publish": ("PublishFunction", "s3:PutObject", "PublicBucket", "(AccessDenied)"),
    "notify": ("NotifyFunction", "sns:Publish", None, "(AuthorizationError)"),
}


@no_iam_on_localstack
@pytest.mark.parametrize("step", sorted(STEP_CASES))
def test_a_step_without_a_permission_it_needs_fails_with_access_denied(
    engine: Any, tmp_path: Path, step: str
) -> None:
    function, action, on, refused = STEP_CASES[step]
    # GIVEN the pipeline deployed with one grant removed from one function's role
    template = template_without(tmp_path, function, action, on)
    pipeline = deploy_pipeline(engine, f"lp-{step}", template=template)

    # WHEN a good image arrives through S3 → EventBridge → Step Functions
    key = f"uploads/least-privilege-{step}"
    pid = pipeline.upload(key, photo(640, 480, "JPEG"), "image/jpeg")
    execution = finished_execution(pipeline)

    # THEN that function's call is refused, the execution fails and the DLQ can re-run it
    causes = failure_causes(pipeline, execution["executionArn"])
    assert execution["status"] == "FAILED", causes
    # (each cause is prefixed with the function its task invoked, which names the step)
    assert refused in causes and function in causes, causes
    wording = f"is not authorized to perform: {action.replace('sns:', 'SNS:')} on resource"
    assert wording in causes, causes
    assert dead_letter_for(pipeline, key), "no dead letter for the failed upload"
    if step != "notify":  # notifying comes after publishing
        assert pipeline.public_keys(pid) == []


@no_iam_on_localstack
def test_api_without_put_object_hands_out_uploads_s3_refuses(engine: Any, tmp_path: Path) -> None:
    # GIVEN the API function may not s3:PutObject, the grant its presigned POSTs rely on
    template = template_without(tmp_path, "ApiFunction", "s3:PutObject")
    outputs = dict(engine.deploy(template, "lp-api").outputs)
    data = photo(64, 48, "PNG")

    # WHEN a client asks for an upload and posts the file with what it got
    response = engine.client("lambda").invoke(
        FunctionName=outputs["ApiFunctionName"],
        Payload=json.dumps(
            api_server.to_event(
                "POST",
                "/uploads",
                {"content-type": "application/json"},
                json.dumps(
                    {"filename": "a.png", "contentType": "image/png", "size": len(data)}
                ).encode(),
                host="127.0.0.1",
                source_ip="127.0.0.1",
            )
        ).encode(),
    )
    answer = json.loads(response["Payload"].read())
    assert answer.get("statusCode") == 201, answer
    presigned = json.loads(answer["body"])
    sent = requests.post(
        presigned["upload"]["url"],
        data=presigned["upload"]["fields"],
        files={"file": ("a.png", data, "image/png")},
        timeout=30,
    )

    # THEN S3 refuses it as AWS does (the POST is authorised as the signer) and stores nothing
    assert sent.status_code == 403, sent.text
    assert "<Code>AccessDenied</Code>" in sent.text and "s3:PutObject" in sent.text
    listed = engine.client("s3").list_objects_v2(Bucket=outputs["PrivateBucketName"])
    assert "Contents" not in listed
