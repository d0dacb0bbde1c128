"""DynamoDB request units of one request, by DynamoDB's rules (pure: items in, units out).

Sizes follow AWS's "DynamoDB item sizes and formats": an item is the sum of its attribute
names and values (strings and binary by their bytes, numbers 1 byte per two significant digits
+ 1, null/Boolean 1, lists and maps 3 bytes + their elements + 1 byte per element). Writes
(on-demand WRU, "Read/write capacity mode" and "Global secondary indexes: provisioned
throughput"): the table is charged 1 WRU per started KB of the larger of the item's images
before and after the write; each global secondary index is charged for its entry only when
the write changes it: a put of a new entry, a delete of an old one, both when the index key
changed, an update when a projected attribute changed, nothing when the item is in neither
image's index. Reads: 1 RRU per started 4 KB (strongly consistent), half that eventually
consistent, twice that in a transaction; a Query or Scan rounds the sum of the items it read,
GetItem and BatchGetItem each item, and a read that finds nothing still costs its minimum.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
TABLE = "table"  # the key of the base table in a units breakdown (indexes by name)

AttributeValue = Mapping[str, Any]  # DynamoDB JSON: {"S": "..."}, {"N": "1"}, {"M": {...}}
Item = Mapping[str, AttributeValue]


def number_bytes(text: str) -> int:
    """1 byte per two significant digits (leading and trailing zeroes trimmed) + 1."""
    digits = "".join(str(d) for d in Decimal(text).as_tuple().digits).strip("0")
    return math.ceil(max(1, len(digits)) / 2) + 1


def value_bytes(value: AttributeValue) -> int:
    ((kind, data),) = value.items()
    if kind == "S":
        return len(str(data).encode())
    if kind == "N":
        return number_bytes(str(data))
    if kind == "B":
        return len(_raw(data))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(s).encode()) for s in data)
    if kind == "NS":
        return sum(number_bytes(str(n)) for n in data)
    if kind == "BS":
        return sum(len(_raw(b)) for b in data)
    if kind == "L":
        return 3 + sum(value_bytes(element) + 1 for element in data)
    if kind == "M":
        return 3 + sum(len(name.encode()) + value_bytes(v) + 1 for name, v in data.items())
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def _raw(data: Any) -> bytes:
    # boto3 and the wire carry binary as base64 text; moto may hold the raw bytes.
    return data if isinstance(data, bytes) else base64.b64decode(data)


def item_bytes(item: Item | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + value_bytes(value) for name, value in item.items())


@dataclass(frozen=True)
class Index:
    name: str
    keys: tuple[str, ...]
    projection: str = "ALL"  # ALL | KEYS_ONLY | INCLUDE
    include: tuple[str, ...] = ()


@dataclass(frozen=True)
class Table:
    name: str
    keys: tuple[str, ...]
    indexes: tuple[Index, ...] = ()

    @classmethod
    def from_description(cls, described: Mapping[str, Any]) -> Table:
        """From DescribeTable's ``Table`` (global secondary indexes only: imgpipe has no LSI)."""
        indexes = tuple(
            Index(
                name=index["IndexName"],
                keys=tuple(k["AttributeName"] for k in index["KeySchema"]),
                projection=index.get("Projection", {}).get("ProjectionType", "ALL"),
                include=tuple(index.get("Projection", {}).get("NonKeyAttributes", [])),
            )
            for index in described.get("GlobalSecondaryIndexes", [])
        )
        keys = tuple(k["AttributeName"] for k in described["KeySchema"])
        return cls(described["TableName"], keys, indexes)

    def index(self, name: str) -> Index:
        return next(index for index in self.indexes if index.name == name)

    def entry(self, index: Index, item: Item | None) -> dict[str, AttributeValue] | None:
        """The item's entry in ``index`` (None when it lacks an index key: sparse index)."""
        if not item or not all(key in item for key in index.keys):
            return None
        if index.projection == "ALL":
            return dict(item)
        kept = {*self.keys, *index.keys}
        if index.projection == "INCLUDE":
            kept |= set(index.include)
        return {name: value for name, value in item.items() if name in kept}


def _write_units(size: int) -> int:
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def write_units(
    table: Table, before: Item | None, after: Item | None, *, transactional: bool = False
) -> dict[str, float]:
    """WRU of one item write, by table and index. ``after`` None: a delete, or a write whose
    condition failed (pass ``before`` as ``after`` then: the table is charged, no index)."""
    factor = 2 if transactional else 1
    units: dict[str, float] = {
        TABLE: factor * _write_units(max(item_bytes(before), item_bytes(after)))
    }
    for index in table.indexes:
        old, new = table.entry(index, before), table.entry(index, after)
        cost = 0
        if old is not None and new is not None:
            if any(old[key] != new[key] for key in index.keys):
                cost = _write_units(item_bytes(old)) + _write_units(item_bytes(new))
            elif old != new:
                cost = _write_units(max(item_bytes(old), item_bytes(new)))
        elif old is not None:
            cost = _write_units(item_bytes(old))
        elif new is not None:
            cost = _write_units(item_bytes(new))
        if cost:
            units[index.name] = factor * cost
    return units


def read_units(
    sizes: Iterable[int],
    *,
    consistent: bool,
    transactional: bool = False,
    each: bool = False,
) -> float:
    """RRU of one read of items of ``sizes`` bytes: their sum rounded up to 4 KB (Query,
    Scan) or each one rounded (``each``: GetItem, BatchGetItem, TransactGetItems)."""
    sizes = list(sizes)
    if each:
        blocks = sum(max(1, math.ceil(size / READ_UNIT_BYTES)) for size in sizes) or 1
    else:
        blocks = max(1, math.ceil(sum(sizes) / READ_UNIT_BYTES))
    if transactional:
        return 2.0 * blocks
    return float(blocks) if consistent else blocks / 2
