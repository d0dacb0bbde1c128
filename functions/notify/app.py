"""Notify: an EventBridge event and an SNS message per outcome, at least once."""

# First: the garbage collector stays paused until the first invocation returns.
from imgpipe_core import coldstart  # isort: split

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from imgpipe_core.config import load_settings
from imgpipe_core.errors import surface_transient
from imgpipe_core.models import NotifyInput, dump
from imgpipe_core.notifications import notify
from imgpipe_core.observability import add_outcome_metrics, log_failure, logger, metrics, tracer

SETTINGS = load_settings()


@coldstart.resume_after_first_invocation
@logger.inject_lambda_context(clear_state=True)
@log_failure
@tracer.capture_lambda_handler
@metrics.log_metrics
@surface_transient
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = NotifyInput.model_validate(event)
    logger.append_keys(processingId=task.job.processing_id, outcome=task.outcome.value)
    result = notify(task, SETTINGS)
    add_outcome_metrics(task)
    return dump(result)
