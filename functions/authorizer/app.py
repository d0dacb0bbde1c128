"""API key authorizer: API Gateway (HTTP API Lambda authorizer, payload 2.0, simple responses)
→ is the x-api-key a live key of the key table? (imgpipe_core.api_keys)"""

# First: the garbage collector stays paused until the first invocation returns.
from imgpipe_core import coldstart  # isort: split

from typing import Any

from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerEventV2,
    APIGatewayAuthorizerResponseV2,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from imgpipe_core import api_keys
from imgpipe_core.config import load_authorizer_settings
from imgpipe_core.observability import log_failure, logger, metrics, tracer

SETTINGS = load_authorizer_settings()


@coldstart.resume_after_first_invocation
@logger.inject_lambda_context(clear_state=True)
@log_failure
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_source(data_class=APIGatewayAuthorizerEventV2)
def lambda_handler(event: APIGatewayAuthorizerEventV2, context: LambdaContext) -> dict[str, Any]:
    record = api_keys.check(SETTINGS.api_key_table, event.headers.get(api_keys.HEADER) or "")
    logger.info("api key checked", extra={"keyId": record.key_id if record else None})
    metrics.add_metric(name="ApiKeyAccepted" if record else "ApiKeyRefused", unit="Count", value=1)
    key_context = {"keyId": record.key_id} if record else None
    return APIGatewayAuthorizerResponseV2(bool(record), key_context).asdict()
