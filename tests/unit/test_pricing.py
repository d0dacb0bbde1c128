"""The cost model's arithmetic against the dated price table, and the request counter's names."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pytest
from PIL import Image

from imgpipe import pricing
from imgpipe.commands import cost
from imgpipe.local.adapters.request_counter import classify
from imgpipe_core.imaging._cpu import cores


@pytest.fixture(scope="module")
def prices() -> pricing.PriceTable:
    return pricing.load_prices()


def test_price_table_is_dated_sourced_and_per_unit(prices: pricing.PriceTable) -> None:
    raw = json.loads(pricing.PRICES.read_text())
    assert prices.region == "us-east-1" and prices.retrieved == raw["retrieved"]
    assert all(source.startswith("https://aws.amazon.com/") for source in prices.sources)
    # $0.025 per 1,000 transitions is $0.000025 each; $0.20 per million Lambda requests
    assert prices["sfn_standard_transition"] == pytest.approx(0.000025)
    assert prices["lambda_request"] == pytest.approx(0.0000002)
    assert prices["s3_tier1_request"] == pytest.approx(0.000005)


def test_fourteen_standard_transitions_cost_350_dollars_per_million(
    prices: pricing.PriceTable,
) -> None:
    usage = pricing.Usage(transitions=14, executions=1)
    assert pricing.per_million(usage, prices, "STANDARD") == pytest.approx(350.0)
    # Express does not bill transitions: $1 per million executions
    assert pricing.per_million(usage, prices, "EXPRESS") == pytest.approx(1.0)
    assert pricing.per_million(usage, prices, "NONE") == 0


def test_express_duration_rounds_up_to_100ms_and_64mb_chunks() -> None:
    assert pricing.express_gb_seconds(0.25) == pytest.approx(0.3 * 64 / 1024)
    assert pricing.express_gb_seconds(0.3) == pytest.approx(0.3 * 64 / 1024)  # exact: no step up
    assert pricing.express_gb_seconds(0.3, memory_mb=65) == pytest.approx(0.3 * 128 / 1024)


def test_lambda_gb_seconds_and_ephemeral_storage_over_512mb() -> None:
    assert pricing.lambda_gb_seconds(1500, 2048) == pytest.approx(3.0)
    assert pricing.ephemeral_gb_seconds(1000, 1024) == pytest.approx(0.5)
    assert pricing.ephemeral_gb_seconds(1000, 512) == 0


def test_line_items_add_up_service_by_service(prices: pricing.PriceTable) -> None:
    usage = pricing.Usage(
        lambda_requests=8,
        lambda_gb_s=2.0,
        s3_tier1=10,
        s3_tier2=5,
        dynamodb_wru=6,
        dynamodb_rru=2,
        eventbridge_events=1,
        sns_requests=1,
        sqs_requests=0,
        lambda_log_bytes=1024**3 / 1_000_000,  # a GB per million uploads
    )
    items = {k: v * 1_000_000 for k, v in pricing.line_items(usage, prices, "NONE").items()}
    assert items["Lambda"] == pytest.approx(8 * 0.20 + 2.0 * 16.6667, rel=1e-4)
    assert items["S3 requests"] == pytest.approx(10 * 5.0 + 5 * 0.4)
    assert items["DynamoDB"] == pytest.approx(6 * 0.625 + 2 * 0.125)
    assert items["EventBridge + SNS + SQS"] == pytest.approx(1.0 + 0.5)
    assert items["CloudWatch Logs"] == pytest.approx(0.5)


def test_the_execution_log_is_priced_at_its_log_groups_class(prices: pricing.PriceTable) -> None:
    # GIVEN a GB per million uploads of Express execution log, in either class of group
    logged = 1024**3 / 1_000_000
    standard = pricing.Usage(executions=1, express_log_bytes=logged)
    infrequent = pricing.Usage(executions=1, express_log_bytes=logged, express_log_ia_bytes=logged)

    def logs(usage: pricing.Usage) -> float:
        return pricing.line_items(usage, prices, "EXPRESS")["CloudWatch Logs"] * 1_000_000

    # THEN vended logs cost $0.50 per GB into a Standard group, $0.25 into an IA one
    assert (logs(standard), logs(infrequent)) == (pytest.approx(0.50), pytest.approx(0.25))
    # AND scaling keeps the part in IA a part (the report's per-million figures)
    assert logs(infrequent.scaled(2)) == pytest.approx(0.50)
    # AND Standard workflows do not price the Express log at all
    assert pricing.line_items(infrequent, prices, "STANDARD")["CloudWatch Logs"] == 0


def test_single_lambda_reads_once_and_puts_each_variant_once(prices: pricing.PriceTable) -> None:
    usage = pricing.single_lambda_usage(compute_s=1.0, memory_mb=2048, variants=4, log_bytes=0)
    assert (usage.lambda_requests, usage.s3_tier1, usage.s3_tier2) == (1, 5, 1)
    assert usage.lambda_gb_s == pytest.approx(2.0)
    expected = 0.20 + 2.0 * 16.6667 + 5 * 5.0 + 0.4
    assert pricing.per_million(usage, prices, "NONE") == pytest.approx(expected, rel=1e-4)


def test_unknown_workflow_type_is_refused(prices: pricing.PriceTable) -> None:
    with pytest.raises(ValueError, match="BATCH"):
        pricing.line_items(pricing.Usage(), prices, "BATCH")


def _signed(service: str, method: str, path: str, **extra: object) -> dict[str, object]:
    scope = f"AWS4-HMAC-SHA256 Credential=testing/20261201/us-east-1/{service}/aws4_request, x"
    return {"REQUEST_METHOD": method, "PATH_INFO": path, "HTTP_AUTHORIZATION": scope, **extra}


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (_signed("s3", "PUT", "/bucket/uploads/a"), ("s3", "PutObject")),
        (
            _signed("s3", "PUT", "/pub/images/a", HTTP_X_AMZ_COPY_SOURCE="/bucket/staging/a"),
            ("s3", "CopyObject"),
        ),
        (_signed("s3", "GET", "/bucket", QUERY_STRING="list-type=2"), ("s3", "ListObjects")),
        (_signed("s3", "POST", "/bucket", QUERY_STRING="delete="), ("s3", "DeleteObjects")),
        (_signed("s3", "HEAD", "/bucket/uploads/a"), ("s3", "HeadObject")),
        (
            _signed("dynamodb", "POST", "/", HTTP_X_AMZ_TARGET="DynamoDB_20120810.UpdateItem"),
            ("dynamodb", "UpdateItem"),
        ),
        (
            _signed("lambda", "POST", "/2015-03-31/functions/fn/invocations"),
            ("lambda", "Invoke"),
        ),
        (
            {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "CONTENT_TYPE": "multipart/form-data; b"},
            ("s3", "PostObject"),
        ),
        ({"REQUEST_METHOD": "GET", "PATH_INFO": "/moto-api/"}, None),
    ],
)
def test_requests_are_named_as_aws_bills_them(
    environ: dict[str, object], expected: tuple[str, str] | None
) -> None:
    assert classify(environ) == expected


def test_query_protocol_action_is_read_and_the_body_put_back() -> None:
    body = b"Action=Publish&TopicArn=arn&Message=hi"
    environ = _signed(
        "sns",
        "POST",
        "/",
        CONTENT_TYPE="application/x-www-form-urlencoded; charset=utf-8",
        CONTENT_LENGTH=str(len(body)),
        **{"wsgi.input": io.BytesIO(body)},
    )
    assert classify(environ) == ("sns", "Publish")
    assert environ["wsgi.input"].read() == body  # type: ignore[attr-defined]


def _measured(name: str, usage: pricing.Usage) -> cost.Measured:
    """A measurement to report (tiny, fabricated usage is enough for the presentation)."""
    return cost.Measured(
        name=name,
        uploads=1,
        usage=usage,
        requests={},
        gb_s_by_function={},
        lambda_tasks_in_history=8,
        reports=8,
        execution_s=1.0,
        platform_log_bytes=300,
        single_lambda=pricing.single_lambda_usage(
            compute_s=1.0, memory_mb=2048, variants=4, log_bytes=300
        ),
    )


def test_report_ends_with_the_ratio_of_the_workflow_type_that_ran() -> None:
    # GIVEN a measurement (tiny, fabricated usage is enough for the presentation)
    prices = pricing.load_prices()
    measured = _measured(
        "x", pricing.Usage(transitions=14, executions=1, lambda_requests=8, lambda_gb_s=4)
    )
    # WHEN it is reported for a Standard stack
    lines = cost.report_lines([measured], prices, "STANDARD", 2048)
    # THEN the last line is the Standard ratio, and the modelled Express one is labelled as such
    standard = pricing.per_million(measured.usage, prices, "STANDARD")
    single = pricing.per_million(measured.single_lambda, prices, "NONE")  # type: ignore[arg-type]
    assert lines[-1] == f"cost ratio imgpipe/single-lambda: {standard / single:.2f}"
    assert any(
        re.match(r"cost ratio imgpipe/single-lambda \(Express, modelled\): ", line)
        for line in lines
    )


def test_single_lambda_compute_is_measured_by_running_render(tmp_path: Path) -> None:
    # GIVEN a small JPEG
    source = tmp_path / "small.jpg"
    Image.new("RGB", (640, 480), (120, 30, 200)).save(source, "JPEG")
    # WHEN the single-Lambda design's work is timed (imgpipe render, every variant)
    seconds = cost.measure_single_lambda(source, 1)
    # THEN it took measurable time and left nothing behind
    assert 0 < seconds < 60


def test_single_lambda_renders_with_the_threads_of_a_function_of_its_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a machine with more cores than a 1769 MB function's one vCPU
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", raising=False)
    seen: list[int] = []
    from imgpipe.commands import render

    def counting(args: object, stdout: object = None) -> int:
        seen.append(cores())
        return 0

    monkeypatch.setattr(render, "run", counting)
    source = tmp_path / "small.jpg"
    Image.new("RGB", (64, 48)).save(source, "JPEG")
    # WHEN the single-Lambda design is timed at the Resize function's memory
    cost.measure_single_lambda(source, 2, memory_mb=1769)
    cost.measure_single_lambda(source, 1, memory_mb=3538)
    # THEN its imaging had the threads such a function has, and this process's are back
    assert seen == [1, 1, 1, 2, 2]
    assert cores() == 4 and "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" not in os.environ


def test_report_says_which_configuration_it_measured() -> None:
    prices = pricing.load_prices()
    measured = _measured("jpeg", pricing.Usage(executions=1, lambda_requests=8, lambda_gb_s=1))
    machine = {"loggingConfiguration": {"level": "ERROR", "includeExecutionData": False}}
    configuration = cost._configuration({"ExecutionLogLevel": "ERROR"}, machine)
    lines = cost.report_lines([measured], prices, "EXPRESS", 2048, configuration)
    assert (
        "configuration: ExecutionLogLevel=ERROR (other parameters at their defaults); "
        "execution log: Level ERROR, without execution data"
    ) in lines


def test_report_and_json_say_which_log_class_was_measured() -> None:
    prices = pricing.load_prices()
    measured = _measured("jpeg", pricing.Usage(executions=1, express_log_bytes=42_600))
    machine = {"loggingConfiguration": {"level": "ALL", "includeExecutionData": True}}
    configuration = cost._configuration({"ExecutionLogClass": "STANDARD"}, machine, "STANDARD")
    assert configuration["executionLog"]["logGroupClass"] == "STANDARD"
    lines = cost.report_lines([measured], prices, "EXPRESS", 2048, configuration)
    assert (
        "configuration: ExecutionLogClass=STANDARD (other parameters at their defaults); "
        "execution log: Level ALL, with execution data; log group class STANDARD"
    ) in lines
