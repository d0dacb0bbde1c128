"""`imgpipe cost` measures real runs: its counts agree with the execution history and the logs."""

from __future__ import annotations

import pytest

from imgpipe.commands import cost
from imgpipe_core.catalogue import load_catalogue
from tests.integration.conftest import Pipeline, embedded_only, photo

pytestmark = [pytest.mark.engine, pytest.mark.xdist_group("cost")]  # one measured upload
VARIANTS = len(load_catalogue().names)


@pytest.fixture(scope="module")
def measured(pipeline: Pipeline) -> cost.Measured:
    # GIVEN the stack deployed on the engine, WHEN an upload is measured
    return cost.measure_pipeline(
        pipeline.engine, pipeline.stack_name, pipeline.outputs, "jpeg", photo(1600, 1200, "JPEG"), 1
    )


def test_measured_history_and_logs_come_from_the_real_run(measured: cost.Measured) -> None:
    # THEN it succeeded and every figure is non-zero where it must be
    assert measured.extra["statuses"] == ["SUCCEEDED"]
    usage = measured.usage
    # Transitions: every state entered (Register, Is Duplicate?, Validate, Is Valid?,
    # the Map and one Resize Variant per variant, Publish (it records the outcome), Notify)
    assert usage.transitions >= 7 + VARIANTS
    # AND the Lambda invocations in CloudWatch Logs (REPORT lines) are exactly the Lambda tasks
    # of the execution history
    assert measured.reports == measured.lambda_tasks_in_history == usage.lambda_requests
    # register, validate, publish, notify (OriginalRetention=keep: no Apply Original Retention)
    assert measured.lambda_tasks_in_history == 4 + VARIANTS
    # AND every function the upload ran billed duration, the resize function most
    assert len(measured.gb_s_by_function) == 5 and min(measured.gb_s_by_function.values()) > 0
    resize = next(v for k, v in measured.gb_s_by_function.items() if "Resize" in k)
    assert resize == max(measured.gb_s_by_function.values())
    assert usage.lambda_gb_s == pytest.approx(sum(measured.gb_s_by_function.values()))
    assert usage.lambda_log_bytes > 0 and usage.express_gb_s > 0 and usage.express_log_bytes > 0


@embedded_only("request counts come from its request_counter adapter, in the test's process")
def test_measured_requests_are_the_ones_the_engine_served(measured: cost.Measured) -> None:
    usage = measured.usage
    # THEN the engine counted as many Invoke requests as there were Lambda invocations
    assert measured.requests["lambda:Invoke"] >= measured.reports
    # AND S3 saw the upload, one PUT per variant (in place) plus the manifest, and no COPY
    assert measured.requests["s3:PutObject"] >= 1 + VARIANTS + 1
    assert measured.requests.get("s3:CopyObject", 0) == 0
    assert usage.s3_tier1 >= 2 + VARIANTS and usage.s3_tier2 >= 1 + VARIANTS
    # AND Validate read the upload with one GetObject, no HeadObject first
    assert measured.requests.get("s3:HeadObject", 0) == 0
    # AND the status record's writes were metered per request: Register's claim and Publish's
    # outcome in the table and ByStatus (its key changed), the keys-only UploadKeys only at
    # the claim (the outcome changes nothing it projects)
    units = measured.dynamodb_units
    assert set(units["PutItem"]["WRU"]) == {"table", "ByStatus", "UploadKeys"}
    assert set(units["UpdateItem"]["WRU"]) == {"table", "ByStatus"}
    assert units["UpdateItem"]["WRU"]["ByStatus"] >= 2  # a delete and a put
    metered = sum(sum(by.get("WRU", {}).values()) for by in units.values())
    assert usage.dynamodb_wru == pytest.approx(metered) and usage.dynamodb_wru >= 5
    # AND one notification each went to EventBridge and SNS
    assert usage.eventbridge_events >= 1 and usage.sns_requests >= 1
    # AND the observer's own reads (histories, logs, polling) were not counted
    assert not any(
        name.startswith(("logs:", "stepfunctions:", "states:")) for name in measured.requests
    )
