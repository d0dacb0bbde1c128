"""CloudFront: forgetting a deleted image's published paths."""

from __future__ import annotations

import uuid

from imgpipe_core.clients import client


def invalidate(distribution_id: str, paths: list[str]) -> None:
    if not distribution_id or not paths:
        return
    client("cloudfront").create_invalidation(
        DistributionId=distribution_id,
        InvalidationBatch={
            "Paths": {"Quantity": len(paths), "Items": paths},
            "CallerReference": uuid.uuid4().hex,
        },
    )


def signing_key(parameter: str) -> str:
    """The PEM private key of the CDN's key group (SSM SecureString, see `imgpipe cdn-key`)."""
    response = client("ssm").get_parameter(Name=parameter, WithDecryption=True)
    return str(response["Parameter"]["Value"])
