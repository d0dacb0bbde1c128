"""The engine's IAM evaluation (policy logic) and request → action mapping, without an engine."""

from __future__ import annotations

import json
from typing import Any

import pytest

from imgpipe.local.iam_actions import Request, checks
from imgpipe.local.iam_policy import (
    Check,
    Policies,
    UnsupportedCondition,
    Verdict,
    decide,
    load_document,
)

BUCKET = "arn:aws:s3:::b"


def allow(action: Any, resource: Any, condition: dict | None = None, effect: str = "Allow") -> dict:
    statement: dict[str, Any] = {"Effect": effect, "Action": action, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def verdict(policies: list[dict], action: str, resource: str, **context: list[str]) -> Verdict:
    return decide(Policies(identity=policies), Check(action, resource, context), {})


def test_wildcards_are_iam_wildcards_not_regular_expressions() -> None:
    policy = [allow("s3:Get*", f"{BUCKET}/ok/?.txt")]

    assert verdict(policy, "s3:GetObject", f"{BUCKET}/ok/a.txt") is Verdict.ALLOWED
    assert verdict(policy, "s3:getobjectversion", f"{BUCKET}/ok/a.txt") is Verdict.ALLOWED
    # '.' is literal, '?' is one character, resources compare case-sensitively
    assert verdict(policy, "s3:GetObject", f"{BUCKET}/ok/aXtxt") is Verdict.NO_IDENTITY_ALLOW
    assert verdict(policy, "s3:GetObject", f"{BUCKET}/ok/ab.txt") is Verdict.NO_IDENTITY_ALLOW
    assert verdict(policy, "s3:GetObject", f"{BUCKET}/OK/a.txt") is Verdict.NO_IDENTITY_ALLOW
    assert verdict(policy, "s3:PutObject", f"{BUCKET}/ok/a.txt") is Verdict.NO_IDENTITY_ALLOW


def test_an_explicit_deny_beats_any_allow_and_default_is_deny() -> None:
    policies = [allow("s3:*", "*"), allow("s3:DeleteObject", f"{BUCKET}/keep/*", effect="Deny")]

    assert verdict(policies, "s3:DeleteObject", f"{BUCKET}/x") is Verdict.ALLOWED
    assert verdict(policies, "s3:DeleteObject", f"{BUCKET}/keep/x") is Verdict.IDENTITY_DENY
    assert verdict([], "s3:GetObject", f"{BUCKET}/x") is Verdict.NO_IDENTITY_ALLOW


def test_not_action_and_not_resource() -> None:
    policy = [
        {
            "Statement": [
                {"Effect": "Allow", "NotAction": "s3:Delete*", "NotResource": f"{BUCKET}/private/*"}
            ]
        }
    ]

    assert verdict(policy, "s3:GetObject", f"{BUCKET}/x") is Verdict.ALLOWED
    assert verdict(policy, "s3:DeleteObject", f"{BUCKET}/x") is Verdict.NO_IDENTITY_ALLOW
    assert verdict(policy, "s3:GetObject", f"{BUCKET}/private/x") is Verdict.NO_IDENTITY_ALLOW


def test_boundary_and_session_policy_must_allow_too() -> None:
    identity = [allow("s3:*", "*")]
    boundary = allow("s3:GetObject", "*")
    session = allow("s3:*", f"{BUCKET}/mine/*")
    policies = Policies(identity=identity, boundary=boundary, session=session)

    def outcome(action: str, resource: str) -> Verdict:
        return decide(policies, Check(action, resource), {})

    assert outcome("s3:GetObject", f"{BUCKET}/mine/a") is Verdict.ALLOWED
    assert outcome("s3:PutObject", f"{BUCKET}/mine/a") is Verdict.NO_BOUNDARY_ALLOW
    assert outcome("s3:GetObject", f"{BUCKET}/other/a") is Verdict.NO_SESSION_ALLOW


def test_s3_prefix_condition_with_string_like() -> None:
    policy = [allow("s3:ListBucket", BUCKET, {"StringLike": {"s3:prefix": ["images/*"]}})]

    assert verdict(policy, "s3:ListBucket", BUCKET, **{"s3:prefix": ["images/a/"]}).value == ""
    assert verdict(policy, "s3:ListBucket", BUCKET, **{"s3:prefix": ["staging/a/"]}) is (
        Verdict.NO_IDENTITY_ALLOW
    )
    assert verdict(policy, "s3:ListBucket", BUCKET) is Verdict.NO_IDENTITY_ALLOW  # key absent


@pytest.mark.parametrize(
    ("condition", "context", "holds"),
    [
        ({"StringEquals": {"k": "a"}}, {"k": ["a"]}, True),
        ({"StringEquals": {"k": ["a", "b"]}}, {"k": ["b"]}, True),  # values OR
        ({"StringEquals": {"k": "a", "j": "b"}}, {"k": ["a"]}, False),  # keys AND, j absent
        ({"StringNotEquals": {"k": "a"}}, {}, True),  # negated: absent key passes
        ({"StringNotLike": {"k": "a*"}}, {"k": ["abc"]}, False),
        ({"StringEqualsIfExists": {"k": "a"}}, {}, True),
        ({"StringEqualsIgnoreCase": {"K": "ABC"}}, {"k": ["abc"]}, True),  # key names too
        ({"Null": {"k": "true"}}, {}, True),
        ({"Null": {"k": "false"}}, {}, False),
        ({"NumericLessThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": ["5"]}, True),
        ({"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": ["x"]}, False),
        ({"Bool": {"aws:SecureTransport": "false"}}, {"aws:SecureTransport": ["false"]}, True),
        ({"ForAllValues:StringLike": {"k": "a*"}}, {"k": ["ab", "ac"]}, True),
        ({"ForAllValues:StringLike": {"k": "a*"}}, {"k": ["ab", "b"]}, False),
        ({"ForAllValues:StringLike": {"k": "a*"}}, {}, True),  # vacuously
        ({"ForAnyValue:StringLike": {"k": "a*"}}, {"k": ["b", "ab"]}, True),
        ({"ForAnyValue:StringLike": {"k": "a*"}}, {}, False),
        ({"ForAllValues:StringNotLike": {"k": "a*"}}, {"k": ["b", "c"]}, True),
        (
            {"ArnLike": {"aws:SourceArn": "arn:aws:events:*:*:rule/s-*"}},
            {"aws:SourceArn": ["arn:aws:events:us-east-1:1:rule/s-x"]},
            True,
        ),
        # a wildcard does not cross ARN fields
        (
            {"ArnLike": {"aws:SourceArn": "arn:aws:events:*:rule/s-*"}},
            {"aws:SourceArn": ["arn:aws:events:us-east-1:1:rule/s-x"]},
            False,
        ),
        (
            {"ArnNotLike": {"aws:SourceArn": "arn:aws:sqs:*:*:*"}},
            {"aws:SourceArn": ["arn:aws:events:us-east-1:1:rule/s-x"]},
            True,
        ),
    ],
)
def test_condition_operators(condition: dict, context: dict, holds: bool) -> None:
    policy = [allow("s3:GetObject", "*", condition)]

    result = verdict(policy, "s3:GetObject", f"{BUCKET}/x", **context)

    assert (result is Verdict.ALLOWED) == holds


def test_an_operator_the_engine_cannot_evaluate_is_an_error_not_a_guess() -> None:
    policy = [allow("s3:GetObject", "*", {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})]

    with pytest.raises(UnsupportedCondition):
        verdict(policy, "s3:GetObject", f"{BUCKET}/x", **{"aws:SourceIp": ["10.1.1.1"]})


def test_documents_load_from_json_url_encoded_or_dict() -> None:
    document = {"Statement": []}

    assert load_document(json.dumps(document)) == document
    assert load_document("%7B%22Statement%22%3A%20%5B%5D%7D") == document
    assert load_document(document) == document


# -- request → checks -------------------------------------------------------------------------


def request(service: str, method: str, path: str, **extra: Any) -> Request:
    return Request(
        service=service,
        method=method,
        path=path,
        query=extra.get("query", {}),
        headers=extra.get("headers", {}),
        body=extra.get("body", b""),
        region="us-east-1",
        account="111122223333",
    )


def json_request(service: str, target: str, params: dict) -> Request:
    return request(
        service, "POST", "/", headers={"x-amz-target": target}, body=json.dumps(params).encode()
    )


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "expected"),
    [
        ("HEAD", "/b/k", {}, {}, [("s3:GetObject", f"{BUCKET}/k")]),
        ("GET", "/b/k", {"versionId": ["v"]}, {}, [("s3:GetObjectVersion", f"{BUCKET}/k")]),
        (
            "PUT",
            "/b/k",
            {"tagging": [""], "versionId": ["v"]},
            {},
            [("s3:PutObjectVersionTagging", f"{BUCKET}/k")],
        ),
        (
            "PUT",
            "/b/images/x",
            {},
            {"x-amz-copy-source": "/b/staging/a%20b?versionId=1"},
            [
                ("s3:PutObject", f"{BUCKET}/images/x"),
                ("s3:GetObjectVersion", f"{BUCKET}/staging/a b"),
            ],
        ),
        ("DELETE", "/b/k", {"versionId": ["v"]}, {}, [("s3:DeleteObjectVersion", f"{BUCKET}/k")]),
        (
            "GET",
            "/b",
            {"versions": [""], "prefix": ["uploads/a"]},
            {},
            [("s3:ListBucketVersions", BUCKET)],
        ),
        ("HEAD", "/b", {}, {}, [("s3:ListBucket", BUCKET)]),
        ("GET", "/", {}, {}, [("s3:ListAllMyBuckets", "*")]),
    ],
)
def test_s3_requests_map_to_the_documented_actions(
    method: str, path: str, query: dict, headers: dict, expected: list
) -> None:
    found = checks(request("s3", method, path, query=query, headers=headers))

    assert [(c.action, c.resource) for c in found] == expected


def test_list_objects_carries_the_prefix_condition_key() -> None:
    (found,) = checks(request("s3", "GET", "/b", query={"list-type": ["2"], "prefix": ["p/"]}))
    (plain,) = checks(request("s3", "GET", "/b", query={"list-type": ["2"]}))

    assert (found.action, found.context["s3:prefix"]) == ("s3:ListBucket", ["p/"])
    assert plain.context["s3:prefix"] == [""]


def test_delete_objects_is_one_check_per_key() -> None:
    body = (
        b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>a</Key></Object>'
        b"<Object><Key>b</Key><VersionId>1</VersionId></Object></Delete>"
    )

    found = checks(request("s3", "POST", "/b", query={"delete": [""]}, body=body))

    assert [(c.action, c.resource) for c in found] == [
        ("s3:DeleteObject", f"{BUCKET}/a"),
        ("s3:DeleteObjectVersion", f"{BUCKET}/b"),
    ]


def test_json_services_map_to_their_resources() -> None:
    table = "arn:aws:dynamodb:us-east-1:111122223333:table/T"
    query = json_request(
        "dynamodb", "DynamoDB_20120810.Query", {"TableName": "T", "IndexName": "I"}
    )
    transact = json_request(
        "dynamodb",
        "DynamoDB_20120810.TransactWriteItems",
        {"TransactItems": [{"Put": {"TableName": "T"}}, {"ConditionCheck": {"TableName": "T"}}]},
    )
    batch = json_request(
        "sqs",
        "AmazonSQS.SendMessageBatch",
        {"QueueUrl": "http://localhost/111122223333/q", "Entries": []},
    )
    events = json_request(
        "events", "AWSEvents.PutEvents", {"Entries": [{"Source": "s"}, {"EventBusName": "x"}]}
    )
    execution = "arn:aws:states:us-east-1:111122223333:execution:M:e"
    described = json_request(
        "states", "AWSStepFunctions.DescribeExecution", {"executionArn": execution}
    )

    assert [(c.action, c.resource) for c in checks(query)] == [
        ("dynamodb:Query", f"{table}/index/I")
    ]
    assert [c.action for c in checks(transact)] == [
        "dynamodb:PutItem",
        "dynamodb:ConditionCheckItem",
    ]
    assert [(c.action, c.resource) for c in checks(batch)] == [
        ("sqs:SendMessage", "arn:aws:sqs:us-east-1:111122223333:q")
    ]
    assert [c.resource for c in checks(events)] == [
        "arn:aws:events:us-east-1:111122223333:event-bus/default",
        "arn:aws:events:us-east-1:111122223333:event-bus/x",
    ]
    assert [(c.action, c.resource) for c in checks(described)] == [
        ("states:DescribeExecution", execution)
    ]


def test_query_and_rest_services_map_to_their_resources() -> None:
    topic = "arn:aws:sns:us-east-1:111122223333:t"
    publish = request("sns", "POST", "/", body=f"Action=Publish&TopicArn={topic}".encode())
    invalidation = request("cloudfront", "POST", "/2020-05-31/distribution/D1/invalidation")
    invoke = request("lambda", "POST", "/2015-03-31/functions/f/invocations")
    identity = request("sts", "POST", "/", body=b"Action=GetCallerIdentity")

    assert [(c.action, c.resource) for c in checks(publish)] == [("sns:Publish", topic)]
    assert [(c.action, c.resource) for c in checks(invalidation)] == [
        ("cloudfront:CreateInvalidation", "arn:aws:cloudfront::111122223333:distribution/D1")
    ]
    assert [(c.action, c.resource) for c in checks(invoke)] == [
        ("lambda:InvokeFunction", "arn:aws:lambda:us-east-1:111122223333:function:f")
    ]
    assert checks(identity) == []  # GetCallerIdentity needs no permission
