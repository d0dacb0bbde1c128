"""DynamoDB for LocalStack without Java: every operation goes to LocalStack's bundled moto."""

from __future__ import annotations

from localstack.aws.api.dynamodb import DynamodbApi
from localstack.services.moto import MotoFallbackDispatcher
from localstack.services.plugins import Service, ServiceLifecycleHook, aws_provider


class MotoDynamoDBProvider(DynamodbApi, ServiceLifecycleHook):
    """Implements nothing itself: each generated method raises NotImplementedError, so
    MotoFallbackDispatcher hands every request to moto's DynamoDB backend."""


@aws_provider(api="dynamodb", name="moto")
def dynamodb_moto() -> Service:
    return Service.for_provider(
        MotoDynamoDBProvider(), dispatch_table_factory=MotoFallbackDispatcher
    )
