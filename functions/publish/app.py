"""Publish Variants: write the manifest that makes the variants Resize wrote visible, all or
nothing; and Withdraw Unpublished Variants (``action: withdraw``) on the failure path."""

# First: the garbage collector stays paused until the first invocation returns.
from imgpipe_core import coldstart  # isort: split

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from imgpipe_core.config import load_settings
from imgpipe_core.errors import surface_transient
from imgpipe_core.models import PublishInput, WithdrawInput, dump
from imgpipe_core.observability import log_failure, logger, metrics, tracer
from imgpipe_core.publishing import publish, withdraw

SETTINGS = load_settings()


@coldstart.resume_after_first_invocation
@logger.inject_lambda_context(clear_state=True)
@log_failure
@tracer.capture_lambda_handler
@metrics.log_metrics
@surface_transient
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("action") == "withdraw":
        leftovers = WithdrawInput.model_validate(event)
        logger.append_keys(processingId=leftovers.job.processing_id)
        withdrawn = withdraw(leftovers.job.processing_id, SETTINGS)
        metrics.add_metric(name="Withdrawn", unit="Count", value=withdrawn.withdrawn)
        return dump(withdrawn)
    task = PublishInput.model_validate(event)
    logger.append_keys(processingId=task.job.processing_id)
    result = publish(task, SETTINGS)
    return dump(result)
