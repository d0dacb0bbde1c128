"""The one place Powertools singletons live; every handler imports them from here."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "imgpipe"
NAMESPACE = "imgpipe"

P = ParamSpec("P")
R = TypeVar("R")

logger = Logger(service=SERVICE)
# Every call imgpipe makes out of the function is an AWS SDK call: X-Ray instruments botocore
# only, not the 13 other libraries patch_all imports (sqlite3 among them) at each cold start.
tracer = Tracer(service=SERVICE, patch_modules=["botocore"])
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def log_failure(handler: Callable[P, R]) -> Callable[P, R]:
    """Handler decorator (inside ``logger.inject_lambda_context``): an invocation that raises
    leaves one ERROR line with its keys (processingId) and traceback; the runtime's own
    ``[ERROR]`` line has neither, and at the default level nothing else is logged."""

    @functools.wraps(handler)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return handler(*args, **kwargs)
        except Exception as error:
            logger.exception("invocation failed", extra={"errorType": type(error).__name__})
            raise

    return wrapper
