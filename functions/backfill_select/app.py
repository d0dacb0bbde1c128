"""Write Manifest: the backfill's selection from the status index, as a JSON manifest in S3."""

# First: the garbage collector stays paused until the first invocation returns.
from imgpipe_core import coldstart  # isort: split

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from imgpipe_core.backfill import SelectInput, write_manifest
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
    task = SelectInput.model_validate(event)
    logger.append_keys(backfillId=task.backfill_id)
    result = write_manifest(task, SETTINGS)
    logger.info("manifest written", extra={"count": result.count, "key": result.key})
    metrics.add_metric(name="BackfillSelected", unit="Count", value=result.count)
    return dump(result)
