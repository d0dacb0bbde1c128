"""What an upload costs: measured usage per upload x the dated price table (``prices.json``).

Pure arithmetic, no AWS: ``imgpipe cost`` measures the :class:`Usage` on the local engine and
this module prices it. Prices are us-east-1 list prices kept as data, with their date and source.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

PRICES = Path(__file__).with_name("prices.json")
EXPRESS_MEMORY_CHUNK_MB = 64  # Express bills memory in 64 MB chunks, duration in 100 ms steps
EXPRESS_DURATION_STEP_S = 0.1
LAMBDA_FREE_EPHEMERAL_MB = 512


@dataclass(frozen=True)
class PriceTable:
    retrieved: str
    region: str
    sources: tuple[str, ...]
    unit_usd: dict[str, float]  # price of one unit (one request, one GB-s, one GB)

    def __getitem__(self, name: str) -> float:
        return self.unit_usd[name]


def load_prices(path: Path = PRICES) -> PriceTable:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    unit = {name: item["usd"] / item["per"] for name, item in data["prices"].items()}
    return PriceTable(data["retrieved"], data["region"], tuple(data["sources"]), unit)


@dataclass(frozen=True)
class Usage:
    """Billable usage of one upload (means over the measured uploads)."""

    transitions: float = 0.0  # Standard state transitions, retries included
    executions: float = 0.0  # workflow executions (Express bills each as a request)
    express_gb_s: float = 0.0  # modelled Express duration x memory
    express_log_bytes: float = 0.0  # execution history sent to CloudWatch Logs (Express, ALL)
    express_log_ia_bytes: float = 0.0  # the part of it ingested into an Infrequent Access group
    lambda_requests: float = 0.0
    lambda_gb_s: float = 0.0  # billed duration x configured memory
    lambda_ephemeral_gb_s: float = 0.0  # /tmp above the free 512 MB x billed duration
    s3_tier1: float = 0.0  # PUT, COPY, POST, LIST
    s3_tier2: float = 0.0  # GET, HEAD and the rest (DELETE is free)
    dynamodb_wru: float = 0.0
    dynamodb_rru: float = 0.0
    eventbridge_events: float = 0.0  # custom events (PutEvents entries)
    sns_requests: float = 0.0
    sqs_requests: float = 0.0
    lambda_log_bytes: float = 0.0  # what the functions wrote to CloudWatch Logs

    def scaled(self, factor: float) -> Usage:
        return Usage(**{f.name: getattr(self, f.name) * factor for f in fields(self)})


def express_gb_seconds(duration_s: float, memory_mb: float = EXPRESS_MEMORY_CHUNK_MB) -> float:
    """One Express execution: duration up to the next 100 ms x memory up to the next 64 MB."""
    steps = math.ceil(round(duration_s / EXPRESS_DURATION_STEP_S, 6))
    chunks = max(1, math.ceil(memory_mb / EXPRESS_MEMORY_CHUNK_MB))
    return steps * EXPRESS_DURATION_STEP_S * chunks * EXPRESS_MEMORY_CHUNK_MB / 1024


def lambda_gb_seconds(billed_ms: float, memory_mb: float) -> float:
    return billed_ms / 1000 * memory_mb / 1024


def ephemeral_gb_seconds(billed_ms: float, ephemeral_mb: float) -> float:
    extra = max(0.0, ephemeral_mb - LAMBDA_FREE_EPHEMERAL_MB)
    return billed_ms / 1000 * extra / 1024


def line_items(usage: Usage, prices: PriceTable, workflow: str) -> dict[str, float]:
    """USD per upload by service; ``workflow`` is STANDARD, EXPRESS or NONE (no orchestration)."""
    gb = 1024**3
    items = {
        "Step Functions": 0.0,
        "Lambda": usage.lambda_requests * prices["lambda_request"]
        + usage.lambda_gb_s * prices["lambda_gb_second"]
        + usage.lambda_ephemeral_gb_s * prices["lambda_ephemeral_gb_second"],
        "S3 requests": usage.s3_tier1 * prices["s3_tier1_request"]
        + usage.s3_tier2 * prices["s3_tier2_request"],
        "DynamoDB": usage.dynamodb_wru * prices["dynamodb_wru"]
        + usage.dynamodb_rru * prices["dynamodb_rru"],
        "EventBridge + SNS + SQS": usage.eventbridge_events * prices["eventbridge_custom_event"]
        + usage.sns_requests * prices["sns_request"]
        + usage.sqs_requests * prices["sqs_request"],
        "CloudWatch Logs": usage.lambda_log_bytes / gb * prices["logs_ingestion_gb"],
    }
    if workflow == "STANDARD":
        items["Step Functions"] = usage.transitions * prices["sfn_standard_transition"]
    elif workflow == "EXPRESS":
        items["Step Functions"] = (
            usage.executions * prices["sfn_express_request"]
            + usage.express_gb_s * prices["sfn_express_gb_second"]
        )
        # Step Functions' log is a vended log, priced by the class of the group it lands in.
        standard_bytes = usage.express_log_bytes - usage.express_log_ia_bytes
        items["CloudWatch Logs"] += (
            standard_bytes * prices["logs_vended_gb"]
            + usage.express_log_ia_bytes * prices["logs_vended_ia_gb"]
        ) / gb
    elif workflow != "NONE":
        raise ValueError(f"unknown workflow type {workflow!r}")
    return items


def per_million(usage: Usage, prices: PriceTable, workflow: str) -> float:
    """USD per million uploads."""
    return sum(line_items(usage, prices, workflow).values()) * 1_000_000


def single_lambda_usage(
    *,
    compute_s: float,
    memory_mb: float,
    variants: int,
    log_bytes: float,
) -> Usage:
    """The seeds' design: S3 notifies one function, which reads the upload once and PUTs every
    variant. The upload's own PUT is counted as it is in imgpipe's measured requests."""
    billed_ms = math.ceil(compute_s * 1000)
    return Usage(
        lambda_requests=1,
        lambda_gb_s=lambda_gb_seconds(billed_ms, memory_mb),
        s3_tier1=1 + variants,
        s3_tier2=1,
        lambda_log_bytes=log_bytes,
    )
