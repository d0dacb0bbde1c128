"""Resize Variant: one invocation per catalogue variant (the Map state fans out), each written
straight to its content-addressed key in the public bucket."""

# First: the garbage collector stays paused until the first invocation returns.
from imgpipe_core import coldstart  # isort: split

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from imgpipe_core.config import load_settings
from imgpipe_core.errors import surface_transient
from imgpipe_core.keys import image_prefix
from imgpipe_core.models import ResizeInput, StoredVariant
from imgpipe_core.observability import log_failure, logger, metrics, tracer
from imgpipe_core.resizing import resize

SETTINGS = load_settings()


@coldstart.resume_after_first_invocation
@logger.inject_lambda_context(clear_state=True)
@log_failure
@tracer.capture_lambda_handler
@metrics.log_metrics
@surface_transient
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> StoredVariant:
    task = ResizeInput.model_validate(event)
    logger.append_keys(processingId=task.job.processing_id, variant=task.variant)
    result = resize(task, SETTINGS)
    logger.info("rendered", extra={"bytes": result.bytes, "width": result.width})
    # The short form Publish and the record keep ([file, width, height, bytes]): it is logged
    # about four times per variant in an Express execution.
    return result.stored(image_prefix(task.job.processing_id))
