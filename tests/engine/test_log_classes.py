"""Log classes and Logs Insights on the engine (adapters/log_classes.py): an Infrequent Access
group refuses what AWS refuses there, the queries imgpipe issues run faithfully (moto's ignore
``filter``), others are refused, and CloudFormation replaces a group whose class changes."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.engine

ARN = "arn:aws:states:us-east-1:123456789012:express:pipeline:{}:0b1c"


def _group(engine: Any, group_class: str, messages: list[tuple[int, str]] | None = None) -> str:
    logs = engine.client("logs")
    name = f"/aws/vendedlogs/states/classes-{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=name, logGroupClass=group_class)
    logs.create_log_stream(logGroupName=name, logStreamName="s")
    if messages:
        events = [{"timestamp": ms, "message": m} for ms, m in messages]
        logs.put_log_events(logGroupName=name, logStreamName="s", logEvents=events)
    return name


def _code(call: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as refused:
        call()
    error = refused.value.response["Error"]
    return error["Code"], error["Message"]


def test_an_infrequent_access_group_refuses_reads_and_filters_aws_does_not_offer(
    engine: Any,
) -> None:
    # GIVEN an IA group with an event, and a Standard one
    now = int(time.time() * 1000)
    ia = _group(engine, "INFREQUENT_ACCESS", [(now, "hello")])
    standard = _group(engine, "STANDARD", [(now, "hello")])
    logs = engine.client("logs")
    described = {
        g["logGroupName"]: g["logGroupClass"]
        for g in logs.describe_log_groups(logGroupNamePrefix="/aws/vendedlogs/states/classes-")[
            "logGroups"
        ]
    }
    assert (described[ia], described[standard]) == ("INFREQUENT_ACCESS", "STANDARD")
    # WHEN each call IA does not support is made on it
    lambda_arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
    calls = {
        "FilterLogEvents": lambda g: logs.filter_log_events(logGroupName=g),
        "GetLogEvents": lambda g: logs.get_log_events(logGroupName=g, logStreamName="s"),
        "PutSubscriptionFilter": lambda g: logs.put_subscription_filter(
            logGroupName=g, filterName="f", filterPattern="", destinationArn=lambda_arn
        ),
        "PutMetricFilter": lambda g: logs.put_metric_filter(
            logGroupName=g,
            filterName="f",
            filterPattern="hello",
            metricTransformations=[{"metricName": "m", "metricNamespace": "n", "metricValue": "1"}],
        ),
        "CreateExportTask": lambda g: logs.create_export_task(
            logGroupName=g, fromTime=0, to=now, destination="no-such-bucket"
        ),
    }
    for operation, call in calls.items():
        # THEN AWS's refusal comes back, naming the group, its class and the operation
        assert _code(lambda c=call: c(ia)) == (
            "InvalidOperationException",
            f"The log group {ia} is of log-group-class INFREQUENT_ACCESS. "
            f"{operation} is not supported for this log class.",
        ), operation
    # AND the Standard group still answers them
    assert [e["message"] for e in logs.filter_log_events(logGroupName=standard)["events"]] == [
        "hello"
    ]
    assert logs.get_log_events(logGroupName=standard, logStreamName="s")["events"]


def test_a_log_group_class_aws_does_not_have_is_refused(engine: Any) -> None:
    code, message = _code(
        lambda: engine.client("logs").create_log_group(
            logGroupName=f"/classes/{uuid.uuid4().hex}", logGroupClass="COLD"
        )
    )
    assert code == "InvalidParameterException" and "logGroupClass" in message


def _event(execution: str, ident: int, kind: str) -> str:
    return json.dumps(
        {"details": {}, "id": str(ident), "type": kind, "execution_arn": ARN.format(execution)},
        separators=(",", ":"),
    )


def _query(engine: Any, group: str, query: str, start: int, end: int) -> list[dict[str, Any]]:
    logs = engine.client("logs")
    query_id = logs.start_query(
        logGroupName=group, startTime=start, endTime=end, queryString=query
    )["queryId"]
    # AWS answers asynchronously: the first poll finds it running, so readers must poll
    assert logs.get_query_results(queryId=query_id)["status"] == "Running"
    answer = logs.get_query_results(queryId=query_id)
    assert answer["status"] == "Complete"
    return [answer]


def test_insights_selects_one_executions_events_in_the_time_range(engine: Any) -> None:
    # GIVEN two executions' events interleaved in an IA group, one event outside the range
    base = (int(time.time()) - 600) * 1000
    messages = [
        (base + 10, _event("e1", 1, "ExecutionStarted")),
        (base + 20, _event("e2", 1, "ExecutionStarted")),
        (base + 30, _event("e1", 2, "PassStateEntered")),
        (base + 40, "not json"),
        (base + 50, _event("e1", 3, "ExecutionSucceeded")),
        (base + 400_000, _event("e1", 4, "Late")),
    ]
    group = _group(engine, "INFREQUENT_ACCESS", messages)
    query = (
        f'fields @timestamp, @message | filter execution_arn = "{ARN.format("e1")}" '
        "| sort @timestamp asc | limit 10000"
    )
    # WHEN imgpipe's trace query runs over the first five minutes
    (answer,) = _query(engine, group, query, base // 1000, base // 1000 + 300)
    rows = answer["results"]
    # THEN only e1's events in the range come back, oldest first, fields as asked, @ptr last
    assert [[cell["field"] for cell in row] for row in rows] == [
        ["@timestamp", "@message", "@ptr"]
    ] * 3
    assert [json.loads(row[1]["value"])["id"] for row in rows] == ["1", "2", "3"]
    assert rows[0][0]["value"] == time.strftime("%Y-%m-%d %H:%M:%S.010", time.gmtime(base // 1000))
    # AND the statistics count what the range scanned (what Insights bills), not the matches
    in_range = [m for ms, m in messages if ms < base + 400_000]
    assert answer["statistics"]["bytesScanned"] == sum(len(m.encode()) for m in in_range)
    assert answer["statistics"]["recordsMatched"] == 3
    # AND sort desc and limit are applied; != excludes
    query = f'fields id | filter execution_arn != "{ARN.format("e1")}" | sort @timestamp desc'
    (answer,) = _query(engine, group, query, base // 1000, base // 1000 + 300)
    assert answer["results"][0][0] == {"field": "id", "value": "1"}  # e2's only event
    assert len(answer["results"]) == 1  # the non-JSON line has no execution_arn to compare


@pytest.mark.parametrize(
    "query",
    [
        "stats count(*) by type",
        "fields @message | filter @message like /Execution/",
        'filter execution_arn = "x"',  # no fields: what AWS returns then is not modelled
        "fields @message | limit 10001",
        "fields @message | pattern @message",
        'fields @message | parse @message \'"id":"*"\' as ident',
    ],
)
def test_insights_refuses_a_query_the_engine_cannot_run_faithfully(engine: Any, query: str) -> None:
    group = _group(engine, "INFREQUENT_ACCESS")
    now = int(time.time())
    code, _ = _code(
        lambda: engine.client("logs").start_query(
            logGroupName=group, startTime=now - 60, endTime=now, queryString=query
        )
    )
    assert code == "MalformedQueryException"


# -- CloudFormation: a class change replaces the group ----------------------------------------

TEMPLATE = {
    "Parameters": {
        "Class": {"Type": "String", "Default": "INFREQUENT_ACCESS"},
        "Suffix": {"Type": "String", "Default": "-ia"},
    },
    "Resources": {
        "Group": {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": {
                "LogGroupName": {"Fn::Sub": "/classes/${AWS::StackName}${Suffix}"},
                "LogGroupClass": {"Ref": "Class"},
                "RetentionInDays": 30,
            },
        },
        # Refers to the group only by GetAtt: CloudFormation updates it after a replacement.
        "Reader": {
            "Type": "AWS::SSM::Parameter",
            "Properties": {
                "Name": {"Fn::Sub": "/${AWS::StackName}/reader"},
                "Type": "String",
                "Value": {"Fn::GetAtt": ["Group", "Arn"]},
            },
        },
    },
}


def _deployed(engine: Any, name: str) -> tuple[dict[str, str], str]:
    groups = engine.client("logs").describe_log_groups(logGroupNamePrefix=f"/classes/{name}")
    found = {g["logGroupName"]: g["logGroupClass"] for g in groups["logGroups"]}
    reader = engine.client("ssm").get_parameter(Name=f"/{name}/reader")["Parameter"]["Value"]
    return found, reader


def test_a_class_change_replaces_the_group_and_updates_what_refers_to_it(engine: Any) -> None:
    cfn = engine.client("cloudformation")
    name = f"classes-{uuid.uuid4().hex[:8]}"
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(TEMPLATE))
    assert _deployed(engine, name)[0] == {f"/classes/{name}-ia": "INFREQUENT_ACCESS"}
    # WHEN the class changes with the name (as template.yaml's ExecutionLogClass does)
    cfn.update_stack(
        StackName=name,
        TemplateBody=json.dumps(TEMPLATE),
        Parameters=[
            {"ParameterKey": "Class", "ParameterValue": "STANDARD"},
            {"ParameterKey": "Suffix", "ParameterValue": ""},
        ],
    )
    # THEN a new group replaced the old one (deleted: UpdateReplacePolicy Delete)
    groups, reader = _deployed(engine, name)
    assert groups == {f"/classes/{name}": "STANDARD"}
    # AND what referred to the group now names the new one
    assert reader.endswith(f":log-group:/classes/{name}:*")
    assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"
    resource = cfn.describe_stack_resource(StackName=name, LogicalResourceId="Group")
    assert resource["StackResourceDetail"]["PhysicalResourceId"] == f"/classes/{name}"


def test_a_class_change_under_the_same_custom_name_is_refused(engine: Any) -> None:
    cfn = engine.client("cloudformation")
    name = f"classes-{uuid.uuid4().hex[:8]}"
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(TEMPLATE))
    # WHEN only the class changes: CloudFormation would have to replace a custom-named group
    with pytest.raises(ClientError) as refused:
        cfn.update_stack(
            StackName=name,
            TemplateBody=json.dumps(TEMPLATE),
            Parameters=[{"ParameterKey": "Class", "ParameterValue": "STANDARD"}],
        )
    # THEN CloudFormation's refusal, and the group is as it was
    assert "cannot update a stack when a custom-named resource requires replacing" in str(
        refused.value
    )
    assert _deployed(engine, name)[0] == {f"/classes/{name}-ia": "INFREQUENT_ACCESS"}


def test_a_retention_change_updates_the_group_in_place(engine: Any) -> None:
    cfn = engine.client("cloudformation")
    name = f"classes-{uuid.uuid4().hex[:8]}"
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(TEMPLATE))
    template = json.loads(json.dumps(TEMPLATE))
    template["Resources"]["Group"]["Properties"]["RetentionInDays"] = 7
    cfn.update_stack(StackName=name, TemplateBody=json.dumps(template))
    groups = engine.client("logs").describe_log_groups(logGroupNamePrefix=f"/classes/{name}")
    (group,) = groups["logGroups"]
    assert (group["logGroupClass"], group["retentionInDays"]) == ("INFREQUENT_ACCESS", 7)
