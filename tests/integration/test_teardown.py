"""`imgpipe teardown`: a stack with retained, versioned, non-empty data resources goes away."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from imgpipe.cli import main
from tests.integration.conftest import Pipeline, deploy_pipeline

pytestmark = pytest.mark.engine


def _with_versions_and_markers(pipeline: Pipeline) -> None:
    s3 = pipeline.client("s3")
    private, public = pipeline.outputs["PrivateBucketName"], pipeline.outputs["PublicBucketName"]
    # outside uploads/, so no pipeline run starts: two versions and a delete marker
    s3.put_object(Bucket=private, Key="staging/a.webp", Body=b"1")
    s3.put_object(Bucket=private, Key="staging/a.webp", Body=b"2")
    s3.delete_object(Bucket=private, Key="staging/a.webp")
    s3.put_object(Bucket=public, Key="images/x/a.webp", Body=b"3")


def _exists(call: Any, **kwargs: Any) -> bool:
    try:
        call(**kwargs)
    except ClientError:
        return False
    return True


def _teardown(pipeline: Pipeline, *extra: str) -> int:
    endpoint = pipeline.engine.endpoint_url
    return main(
        ["teardown", "--stack-name", pipeline.stack_name, "--endpoint-url", endpoint, *extra]
    )


def test_teardown_deletes_the_stack_and_its_retained_data(engine: Any) -> None:
    # GIVEN a deployed stack whose buckets hold versions and delete markers
    pipeline = deploy_pipeline(engine, "teardown-all")
    _with_versions_and_markers(pipeline)
    s3, ddb, sqs = pipeline.client("s3"), pipeline.client("dynamodb"), pipeline.client("sqs")
    # WHEN it is torn down
    assert _teardown(pipeline, "--yes") == 0
    # THEN the stack, the buckets, the table and the DLQ are gone
    stacks = pipeline.client("cloudformation").list_stacks()["StackSummaries"]
    assert {s["StackStatus"] for s in stacks if s["StackName"] == "teardown-all"} <= {
        "DELETE_COMPLETE"
    }
    for key in ("PrivateBucketName", "PublicBucketName", "WebBucketName"):
        assert not _exists(s3.head_bucket, Bucket=pipeline.outputs[key]), key
    assert not _exists(ddb.describe_table, TableName=pipeline.outputs["StatusTableName"])
    assert not _exists(sqs.get_queue_attributes, QueueUrl=pipeline.outputs["DeadLetterQueueUrl"])


def test_teardown_keep_data_leaves_the_retained_resources_with_their_contents(
    engine: Any, capsys: pytest.CaptureFixture
) -> None:
    pipeline = deploy_pipeline(engine, "teardown-keep")
    _with_versions_and_markers(pipeline)
    # WHEN asked without --yes, it refuses and lists what it would delete
    assert _teardown(pipeline, "--keep-data") == 2
    err = capsys.readouterr().err
    assert pipeline.outputs["WebBucketName"] in err and "--yes" in err
    assert pipeline.outputs["PrivateBucketName"] not in err  # kept with --keep-data
    # WHEN confirmed, the stack goes and the retained resources stay, contents and all
    assert _teardown(pipeline, "--yes", "--keep-data") == 0
    s3, ddb = pipeline.client("s3"), pipeline.client("dynamodb")
    assert _exists(ddb.describe_table, TableName=pipeline.outputs["StatusTableName"])
    versions = s3.list_object_versions(Bucket=pipeline.outputs["PrivateBucketName"])
    assert len(versions.get("Versions", [])) == 2 and len(versions.get("DeleteMarkers", [])) == 1
    assert not _exists(s3.head_bucket, Bucket=pipeline.outputs["WebBucketName"])  # not retained
