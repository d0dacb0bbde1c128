"""HTTP API: API Gateway (HTTP API, payload v2) → the Powertools resolver in imgpipe_core.api."""

# First: the garbage collector stays paused until the first invocation returns.
from imgpipe_core import coldstart  # isort: split

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from imgpipe_core.api import create_app
from imgpipe_core.config import load_settings
from imgpipe_core.observability import log_failure, logger, metrics, tracer

SETTINGS = load_settings()
app = create_app(SETTINGS)


@coldstart.resume_after_first_invocation
@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True
)
@log_failure
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
