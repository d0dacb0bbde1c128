"""Publish Variants: all or nothing, from staging to the CDN-fronted public bucket."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from imgpipe_core.config import load_settings
from imgpipe_core.errors import surface_transient
from imgpipe_core.models import PublishInput, dump
from imgpipe_core.observability import logger, metrics, tracer
from imgpipe_core.publishing import publish

SETTINGS = load_settings()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@surface_transient
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = PublishInput.model_validate(event)
    logger.append_keys(processingId=task.job.processing_id)
    result = publish(task, SETTINGS)
    metrics.add_metric(name="Published", unit="Count", value=1)
    return dump(result)
