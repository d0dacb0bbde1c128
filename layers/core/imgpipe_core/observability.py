"""The one place Powertools singletons live; every handler imports them from here."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer

from imgpipe_core.models import NotifyInput, Status

SERVICE = "imgpipe"
NAMESPACE = "imgpipe"

P = ParamSpec("P")
R = TypeVar("R")

logger = Logger(service=SERVICE)
# Every call imgpipe makes out of the function is an AWS SDK call: X-Ray instruments botocore
# only, not the 13 other libraries patch_all imports (sqlite3 among them) at each cold start.
tracer = Tracer(service=SERVICE, patch_modules=["botocore"])
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
# Most invocations add no metric by design (an upload's metrics are Notify's one line), and
# Powertools would warn about it on stderr: a log line per cold start.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)


def add_outcome_metrics(task: NotifyInput) -> None:
    """An upload's metrics, added by the step that ends each outcome (Notify), so that they cost
    one EMF line per upload, not one per invocation: ``Uploads`` and ``Notified<Outcome>``;
    ``Accepted``, ``Published`` and one ``VariantBytes`` value per published variant (one
    multi-value metric: CloudWatch counts each value as a sample, as separate lines would) for
    SUCCEEDED; ``Rejected`` for REJECTED."""
    metrics.add_metric(name="Uploads", unit="Count", value=1)
    metrics.add_metric(name=f"Notified{task.outcome.value.title()}", unit="Count", value=1)
    if task.outcome is Status.SUCCEEDED:
        metrics.add_metric(name="Accepted", unit="Count", value=1)
        metrics.add_metric(name="Published", unit="Count", value=1)
        for variant in task.published.variants if task.published else []:
            metrics.add_metric(name="VariantBytes", unit="Bytes", value=variant.bytes)
    elif task.outcome is Status.REJECTED:
        metrics.add_metric(name="Rejected", unit="Count", value=1)


def log_failure(handler: Callable[P, R]) -> Callable[P, R]:
    """Handler decorator (inside ``logger.inject_lambda_context``): an invocation that raises
    leaves one ERROR line with its keys (processingId) and traceback; the runtime's own
    ``[ERROR]`` line has neither, and at the default level nothing else is logged."""

    @functools.wraps(handler)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return handler(*args, **kwargs)
        except Exception as error:
            logger.exception("invocation failed", extra={"errorType": type(error).__name__})
            raise

    return wrapper
