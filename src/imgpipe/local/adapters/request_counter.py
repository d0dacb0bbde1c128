"""Counts every request the engine serves, by service and API action, as AWS would bill them.

``imgpipe cost`` reads the counts around real uploads. A client whose User-Agent carries
:data:`OBSERVER` (the cost command's own polling and history reads) is not counted: those calls
would not exist in production. The service comes from the SigV4 credential scope, the action
from the protocol (JSON ``X-Amz-Target``, query ``Action=``, Lambda's and S3's REST paths).

DynamoDB requests are also metered in request units: the item's images before and after each
write are read from moto's backend (under ``dynamodb_atomic``'s lock, so no other request
comes between) and priced by :mod:`imgpipe.dynamodb_units`, per table and per index.
"""

from __future__ import annotations

import io
import json
import re
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import DomainDispatcherApplication

from imgpipe import dynamodb_units
from imgpipe.dynamodb_units import Item, Table

OBSERVER = "imgpipe-cost-observer"
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
_LAMBDA_INVOKE = re.compile(r"^/2015-03-31/functions/[^/]+/invocations$")

_installed = False
_lock = threading.Lock()
_counts: Counter[tuple[str, str]] = Counter()
# (action, "WRU" | "RRU", "table" or an index name) -> request units
Units = dict[tuple[str, str, str], float]
# Kept per table name too: one engine serves other tables (other stacks, other tests) at once.
_TableUnits = dict[tuple[str, str, str, str], float]  # (table name, action, unit, target)
_units: _TableUnits = defaultdict(float)
_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
_READS = {"GetItem", "BatchGetItem", "TransactGetItems", "Query", "Scan"}


def install() -> None:
    global _installed
    if _installed:
        return
    original = DomainDispatcherApplication.__call__

    def counted(
        self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Any
    ) -> Any:
        if OBSERVER not in environ.get("HTTP_USER_AGENT", ""):
            found = classify(environ)
            if found is not None:
                with _lock:
                    _counts[found] += 1
                if found[0] == "dynamodb" and found[1] in _WRITES | _READS:
                    return _metered(original, self, environ, start_response, found[1])
        return original(self, environ, start_response)

    DomainDispatcherApplication.__call__ = counted  # type: ignore[method-assign]
    _installed = True


def snapshot() -> Counter[tuple[str, str]]:
    """A copy of the counts so far; subtract two snapshots to count a window."""
    with _lock:
        return Counter(_counts)


def units_snapshot(table_name: str) -> Units:
    """A copy of one table's DynamoDB request units so far, by (action, WRU/RRU, "table" or
    an index name)."""
    with _lock:
        return {key[1:]: amount for key, amount in _units.items() if key[0] == table_name}


def classify(environ: dict[str, Any]) -> tuple[str, str] | None:
    """(service, action) of one request, or None for what is not an AWS API call."""
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "")
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", "")) or _SCOPE.search(
        "Credential=" + "".join(query.get("X-Amz-Credential", [""]))
    )
    content_type = environ.get("CONTENT_TYPE", "")
    if scope is None:
        # A presigned POST carries its signature in the form: an S3 upload.
        if method == "POST" and content_type.startswith("multipart/form-data"):
            return "s3", "PostObject"
        return None
    service = scope.group(2)
    if service == "s3":
        return service, _s3_action(method, path, query, environ)
    if service == "lambda":
        return service, "Invoke" if _LAMBDA_INVOKE.match(path) else f"{method} {path}"
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return service, target.rsplit(".", 1)[-1]
    if content_type.startswith("application/x-www-form-urlencoded"):
        action = parse_qs(_peek_body(environ)).get("Action", [""])[0]
        return service, action or "unknown"
    return service, f"{method} {path}"


def _s3_action(method: str, path: str, query: dict[str, list[str]], environ: dict[str, Any]) -> str:
    has_key = "/" in path.strip("/")
    if method == "PUT":
        if not has_key:
            return "CreateBucket" if not query else "PutBucketConfiguration"
        if "tagging" in query:
            return "PutObjectTagging"
        return "CopyObject" if environ.get("HTTP_X_AMZ_COPY_SOURCE") else "PutObject"
    if method == "POST":
        if "delete" in query:
            return "DeleteObjects"
        return "PostObject"
    if method == "DELETE":
        return "DeleteObject"
    if method == "HEAD":
        return "HeadObject" if has_key else "HeadBucket"
    if not has_key:
        if "versions" in query:
            return "ListObjectVersions"
        return "ListObjects" if not query or "list-type" in query or "prefix" in query else "Get"
    return "GetObjectTagging" if "tagging" in query else "GetObject"


def _peek_body(environ: dict[str, Any]) -> str:
    """The form body, put back so the service still reads it."""
    try:
        size = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return ""
    body = environ["wsgi.input"].read(size) if size else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body.decode("utf-8", "replace")


# -- DynamoDB request units --------------------------------------------------------------------


def _metered(
    original: Any, app: Any, environ: dict[str, Any], start_response: Any, action: str
) -> Any:
    from imgpipe.local.adapters.dynamodb_atomic import LOCK

    try:
        request = json.loads(_peek_body(environ) or "{}")
    except ValueError:
        return original(app, environ, start_response)
    scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    region = scope.group(1) if scope else "us-east-1"
    answered: list[Any] = []

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        answered[:] = [status, headers, exc_info]
        return lambda data: None  # moto's responses never use the write() callable

    with LOCK:
        try:
            targets = _targets(region, action, request)
            before = [_stored(region, t.table, t.key) for t in targets]
        except (ValueError, KeyError, TypeError, AttributeError):  # malformed: moto answers it
            return original(app, environ, start_response)
        chunks = original(app, environ, capture)
        body = b"".join(chunks)
        if hasattr(chunks, "close"):
            chunks.close()
        status = int(str(answered[0]).split()[0]) if answered else 500
        try:
            response = json.loads(body) if body else {}
            units = _request_units(region, action, request, targets, before, status, response)
        except (ValueError, KeyError, TypeError, AttributeError):  # never fail what it meters
            units = {}
    with _lock:
        for name, amount in units.items():
            _units[name] += amount
    start_response(*answered)
    return [body]


@dataclass(frozen=True)
class _Target:
    """One item a request writes or reads by key, and how."""

    table: Table
    key: dict[str, Any]
    kind: str  # PutItem, UpdateItem, DeleteItem, GetItem, ConditionCheck, Get, ...
    consistent: bool = False


def _targets(region: str, action: str, request: dict[str, Any]) -> list[_Target]:
    """The items a request names (Query and Scan name none: what they read comes back)."""
    found: list[_Target] = []

    def add(table_name: str, key_or_item: dict[str, Any], kind: str, consistent: bool) -> None:
        table = _table(region, table_name)
        if table is not None:
            key = {name: key_or_item[name] for name in table.keys if name in key_or_item}
            found.append(_Target(table, key, kind, consistent))

    strong = bool(request.get("ConsistentRead"))
    if action in ("PutItem", "UpdateItem", "DeleteItem", "GetItem"):
        add(request["TableName"], request.get("Item") or request.get("Key") or {}, action, strong)
    elif action == "BatchWriteItem":
        for name, writes in request.get("RequestItems", {}).items():
            for write in writes:
                if "PutRequest" in write:
                    add(name, write["PutRequest"]["Item"], "PutItem", False)
                else:
                    add(name, write["DeleteRequest"]["Key"], "DeleteItem", False)
    elif action == "BatchGetItem":
        for name, reads in request.get("RequestItems", {}).items():
            for key in reads.get("Keys", []):
                add(name, key, "GetItem", bool(reads.get("ConsistentRead")))
    elif action in ("TransactWriteItems", "TransactGetItems"):
        for entry in request.get("TransactItems", []):
            ((kind, operation),) = entry.items()
            named = operation.get("Item") or operation.get("Key") or {}
            add(operation["TableName"], named, kind, True)
    return found


def _request_units(
    region: str,
    action: str,
    request: dict[str, Any],
    targets: list[_Target],
    before: list[Item | None],
    status: int,
    response: dict[str, Any],
) -> _TableUnits:
    units: _TableUnits = defaultdict(float)
    error = str(response.get("__type", "")).rsplit("#", 1)[-1] if status >= 400 else ""
    if action in _WRITES:
        # A write refused by its condition still costs the table its item's size (at least 1
        # WRU) and no index; any other refusal (throttling, validation) costs nothing.
        refused = error in ("ConditionalCheckFailedException", "TransactionCanceledException")
        if error and not refused:
            return units
        for target, old in zip(targets, before, strict=True):
            unchanged = refused or target.kind == "ConditionCheck"
            new = old if unchanged else _stored(region, target.table, target.key)
            charged = dynamodb_units.write_units(
                target.table, old, new, transactional=action == "TransactWriteItems"
            )
            for name, amount in charged.items():
                units[(target.table.name, action, "WRU", name)] += amount
        return units
    if error:
        return units
    if action in ("Query", "Scan"):
        table = _table(region, request["TableName"])
        if table is None:
            return units
        index = table.index(request["IndexName"]) if request.get("IndexName") else None
        sizes = [_read_size(region, table, index, item) for item in response.get("Items", [])]
        consistent = bool(request.get("ConsistentRead")) and index is None  # GSIs: eventual
        name = index.name if index else dynamodb_units.TABLE
        units[(table.name, action, "RRU", name)] += dynamodb_units.read_units(
            sizes, consistent=consistent
        )
        return units
    for target, item in zip(targets, before, strict=True):
        units[(target.table.name, action, "RRU", dynamodb_units.TABLE)] += (
            dynamodb_units.read_units(
                [dynamodb_units.item_bytes(item)],
                consistent=target.consistent,
                transactional=action == "TransactGetItems",
                each=True,
            )
        )
    return units


def _read_size(
    region: str, table: Table, index: dynamodb_units.Index | None, returned: Item
) -> int:
    """What a Query or Scan read of one item: its index entry or the whole stored item, however
    little of it ProjectionExpression returned (found again by its table key)."""
    if all(name in returned for name in table.keys):
        stored = _stored(region, table, {name: returned[name] for name in table.keys})
        if stored is not None:
            return dynamodb_units.item_bytes(table.entry(index, stored) if index else stored)
    return dynamodb_units.item_bytes(returned)


def _backend_table(region: str, name: str) -> Any:
    from moto.dynamodb.models import dynamodb_backends

    for account in list(dynamodb_backends.keys()):
        table = dynamodb_backends[account][region].tables.get(name)
        if table is not None:
            return table
    return None


def _table(region: str, name: str) -> Table | None:
    found = _backend_table(region, name)
    if found is None:
        return None
    return Table.from_description(found.describe(base_key="Table")["Table"])


def _stored(region: str, table: Table, key: dict[str, Any]) -> Item | None:
    """The item as the backend holds it now, in DynamoDB JSON (None: no such item)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    found = _backend_table(region, table.name)
    if found is None or len(key) != len(table.keys):
        return None
    values = [DynamoType(key[name]) for name in table.keys]
    item = found.get_item(values[0], values[1] if len(values) > 1 else None)
    return None if item is None else dict(item.to_json()["Attributes"])
