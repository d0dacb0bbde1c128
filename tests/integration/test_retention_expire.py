"""OriginalRetention=expire: a lifecycle rule expires originals (every version), and the record
says from when; the original itself is kept until then."""

from __future__ import annotations

import datetime
import json
import time
import uuid
from typing import Any

import pytest

from imgpipe_core.retention import lifecycle_expiry
from tests.integration.conftest import Pipeline, deploy_pipeline, localstack_xfail, photo

DAYS = 7


@pytest.fixture(scope="module")
def expiring(engine: Any) -> Pipeline:
    return deploy_pipeline(
        engine, "expire", {"OriginalRetention": "expire", "OriginalExpireDays": str(DAYS)}
    )


@localstack_xfail("its CloudFormation does not apply a bucket's LifecycleConfiguration at all")
def test_expire_adds_a_lifecycle_rule_for_originals_and_their_noncurrent_versions(
    expiring: Pipeline,
) -> None:
    rules = expiring.client("s3").get_bucket_lifecycle_configuration(
        Bucket=expiring.outputs["PrivateBucketName"]
    )["Rules"]
    rule = next(r for r in rules if r["ID"] == "expire-originals")
    assert rule["Status"] == "Enabled"
    assert rule["Filter"] == {"Prefix": "uploads/"}
    assert rule["Expiration"]["Days"] == DAYS
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 1


def test_expire_keeps_the_original_and_records_when_the_rule_removes_it(
    expiring: Pipeline,
) -> None:
    s3 = expiring.client("s3")
    bucket = expiring.outputs["PrivateBucketName"]
    key = f"uploads/{uuid.uuid4().hex}"
    pid = expiring.upload(key, photo(640, 480, "PNG"), "image/png")
    record = expiring.wait_done(pid)
    assert record["status"] == "SUCCEEDED"
    deadline = time.monotonic() + 30
    while "originalExpiresAt" not in record and time.monotonic() < deadline:
        time.sleep(0.2)
        record = expiring.record(pid) or {}
    created = s3.head_object(Bucket=bucket, Key=key)["LastModified"]
    expected = lifecycle_expiry(created, DAYS)
    assert record["originalExpiresAt"].startswith(expected.strftime("%Y-%m-%dT00:00:00"))
    assert expected - datetime.datetime.now(datetime.UTC) > datetime.timedelta(days=DAYS - 1)
    assert "originalDeletedAt" not in record
    assert len(s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]) == 1
    # Delivery=public (the default): the manifest still carries its public URLs.
    manifest = s3.get_object(
        Bucket=expiring.outputs["PublicBucketName"], Key=f"images/{pid}/manifest.json"
    )
    document = json.loads(manifest["Body"].read())
    assert all(v["url"].startswith("https://") for v in document["variants"])
