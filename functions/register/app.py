"""Register Upload: derive the processingId and claim it in DynamoDB."""

# First: the garbage collector stays paused until the first invocation returns.
from imgpipe_core import coldstart  # isort: split

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from imgpipe_core.config import load_settings
from imgpipe_core.errors import surface_transient
from imgpipe_core.models import RegisterInput, ReleaseOutput, dump
from imgpipe_core.observability import log_failure, logger, metrics, tracer
from imgpipe_core.register import register, release, sweep_abandoned

SETTINGS = load_settings()


@coldstart.resume_after_first_invocation
@logger.inject_lambda_context(clear_state=True)
@log_failure
@tracer.capture_lambda_handler
@metrics.log_metrics
@surface_transient
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = RegisterInput.model_validate(event)
    if request.failure is not None:
        released = release(request, SETTINGS)
        if released is not None:
            logger.append_keys(processingId=released.processing_id)
        error = request.failure.get("Error")
        logger.warning("registration failed", extra={"released": bool(released), "error": error})
        return dump(ReleaseOutput(job=released), exclude_none=False)
    job = register(request, SETTINGS)
    logger.append_keys(processingId=job.processing_id)
    logger.info("registered", extra={"attempt": job.attempt, "duplicate": job.duplicate})
    if job.duplicate:  # it ends here; an upload is counted (Uploads) by its outcome's Notify
        metrics.add_metric(name="DuplicateEvents", unit="Count", value=1)
    if SETTINGS.dead_letter_queue_url:  # Express: no status-change events report lost runs
        swept = sweep_abandoned(SETTINGS)
        if swept.dead_lettered:
            logger.warning("dead-lettered abandoned attempts", extra={"ids": swept.dead_lettered})
        if swept.retry_later:
            logger.error(
                "could not dead-letter abandoned attempts", extra={"ids": swept.retry_later}
            )
    # The execution's ARN is in every log event already: the job the ASL keeps goes without it.
    return dump(job.model_copy(update={"execution_arn": None}))
