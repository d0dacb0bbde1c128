"""The one place Powertools singletons live; every handler imports them from here."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "imgpipe"
NAMESPACE = "imgpipe"

logger = Logger(service=SERVICE)
# Every call imgpipe makes out of the function is an AWS SDK call: X-Ray instruments botocore
# only, not the 13 other libraries patch_all imports (sqlite3 among them) at each cold start.
tracer = Tracer(service=SERVICE, patch_modules=["botocore"])
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
