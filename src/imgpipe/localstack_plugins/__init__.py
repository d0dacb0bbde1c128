"""imgpipe's plugins for LocalStack, loaded by LocalStack itself (never by imgpipe).

Installed into LocalStack's own virtualenv (``imgpipe local localstack``), they are found through
the ``[project.entry-points]`` of imgpipe's pyproject.toml:

- ``localstack.aws.provider`` ``dynamodb:moto`` — DynamoDB served by LocalStack's moto, selected by
  ``PROVIDER_OVERRIDE_DYNAMODB=moto`` (stock LocalStack runs Java and DynamoDB Local instead);
- ``localstack.lambda.runtime_executor`` ``imgpipe`` — Lambda functions run in imgpipe's worker
  runtime, selected by ``LAMBDA_RUNTIME_EXECUTOR=imgpipe`` (stock LocalStack needs Docker);
- ``localstack.hooks.on_infra_start`` — two parity fixes (:mod:`.parity`) where host-mode
  LocalStack differs from AWS.
"""
