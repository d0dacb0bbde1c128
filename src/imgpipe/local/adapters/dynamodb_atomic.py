"""DynamoDB: each request is atomic, as on AWS.

moto evaluates a ConditionExpression and then writes, with nothing in between held, so two
concurrent conditional writes could both succeed (and a read could see half an update). The
re-run guard and conditional delete rely on exactly one winner; one lock per backend process
restores DynamoDB's per-item atomicity (coarser, never weaker).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

_OPERATIONS = (
    "put_item",
    "get_item",
    "query",
    "scan",
    "update_item",
    "delete_item",
    "transact_write_items",
    "batch_write_item",
)
# Public: the request counter holds it around a write to read the item before and after.
LOCK = threading.RLock()
_installed = False


def _atomic(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with LOCK:
            return method(*args, **kwargs)

    return wrapper


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.dynamodb.models import DynamoDBBackend

    for name in _OPERATIONS:
        setattr(DynamoDBBackend, name, _atomic(getattr(DynamoDBBackend, name)))
    _installed = True
