"""The pipeline's dead-letter queue, written from Python (the ASL writes it too, same shape)."""

from __future__ import annotations

import json
from typing import Any

from imgpipe_core.clients import client


def send(queue_url: str, kind: str, body: dict[str, Any]) -> None:
    """One letter: ``kind`` in the body and as a message attribute, as the ASL sends it."""
    client("sqs").send_message(
        QueueUrl=queue_url,
        MessageBody=json.dumps({"kind": kind, **body}),
        MessageAttributes={"kind": {"DataType": "String", "StringValue": kind}},
    )
