"""Start Re-run: one backfill item through the re-run path (a new attempt of the pipeline)."""

# First: the garbage collector stays paused until the first invocation returns.
from imgpipe_core import coldstart  # isort: split

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from imgpipe_core.backfill import ItemInput, rerun_item
from imgpipe_core.config import load_settings
from imgpipe_core.errors import surface_transient
from imgpipe_core.models import dump
from imgpipe_core.observability import log_failure, logger, metrics, tracer

SETTINGS = load_settings()


@coldstart.resume_after_first_invocation
@logger.inject_lambda_context(clear_state=True)
@log_failure
@tracer.capture_lambda_handler
@metrics.log_metrics
@surface_transient
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    item = ItemInput.model_validate(event)
    logger.append_keys(processingId=item.processing_id)
    result = rerun_item(item, SETTINGS)
    metrics.add_metric(name="BackfillReruns", unit="Count", value=1)
    return dump(result)
