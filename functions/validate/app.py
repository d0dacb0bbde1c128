"""Validate Upload: a bad upload is returned as a rejection (data), never raised."""

# First: the garbage collector stays paused until the first invocation returns.
from imgpipe_core import coldstart  # isort: split

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from imgpipe_core.config import load_settings
from imgpipe_core.errors import surface_transient
from imgpipe_core.models import ValidateInput, dump
from imgpipe_core.observability import log_failure, logger, metrics, tracer
from imgpipe_core.validation import validate

SETTINGS = load_settings()


@coldstart.resume_after_first_invocation
@logger.inject_lambda_context(clear_state=True)
@log_failure
@tracer.capture_lambda_handler
@metrics.log_metrics
@surface_transient
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = ValidateInput.model_validate(event)
    logger.append_keys(processingId=task.job.processing_id)
    result = validate(task.job, SETTINGS)
    if result.rejection:
        logger.info("rejected", extra={"code": result.rejection.code.value})
    return dump(result, exclude_none=False)
