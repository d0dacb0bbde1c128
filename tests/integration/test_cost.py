"""`imgpipe cost` measures real runs: its counts agree with the execution history and the logs."""

from __future__ import annotations

import pytest

from imgpipe.commands import cost
from imgpipe_core.catalogue import load_catalogue
from tests.integration.conftest import Pipeline, photo

pytestmark = pytest.mark.engine


def test_measured_counts_come_from_the_real_run(pipeline: Pipeline) -> None:
    # GIVEN the stack deployed on the engine
    variants = len(load_catalogue().names)
    data = photo(1600, 1200, "JPEG")
    # WHEN an upload is measured
    measured = cost.measure_pipeline(
        pipeline.engine, pipeline.stack_name, pipeline.outputs, "jpeg", data, 1
    )
    # THEN it succeeded and every figure is non-zero where it must be
    assert measured.extra["statuses"] == ["SUCCEEDED"]
    usage = measured.usage
    # Transitions: every state entered (Register, Unwrap, Is Duplicate?, Validate, Is Valid?,
    # the Map and one Resize Variant per variant, Publish, Record Success, Notify, Succeed)
    assert usage.transitions >= 10 + variants
    # AND the Lambda invocations in CloudWatch Logs (REPORT lines) are exactly the Lambda tasks
    # of the execution history, and the engine counted as many Invoke requests
    assert measured.reports == measured.lambda_tasks_in_history == usage.lambda_requests
    assert measured.lambda_tasks_in_history == 4 + variants  # register, validate, publish, notify
    assert measured.requests["lambda:Invoke"] >= measured.reports
    # AND every function of the stack billed duration, the resize function most
    assert len(measured.gb_s_by_function) == 5 and min(measured.gb_s_by_function.values()) > 0
    resize = next(v for k, v in measured.gb_s_by_function.items() if "Resize" in k)
    assert resize == max(measured.gb_s_by_function.values())
    assert usage.lambda_gb_s == pytest.approx(sum(measured.gb_s_by_function.values()))
    # AND S3 saw the upload, one staging PUT per variant plus the manifest, one COPY per variant
    assert measured.requests["s3:PutObject"] >= 1 + variants + 1
    assert measured.requests["s3:CopyObject"] >= variants
    assert usage.s3_tier1 >= 2 + 2 * variants and usage.s3_tier2 >= 1 + variants
    # AND the status record was written, and one notification each went to EventBridge and SNS
    assert usage.dynamodb_wru > 0
    assert usage.eventbridge_events >= 1 and usage.sns_requests >= 1
    assert usage.lambda_log_bytes > 0 and usage.express_gb_s > 0 and usage.express_log_bytes > 0
    # AND the observer's own reads (histories, logs, polling) were not counted
    assert not any(
        name.startswith(("logs:", "stepfunctions:", "states:")) for name in measured.requests
    )
