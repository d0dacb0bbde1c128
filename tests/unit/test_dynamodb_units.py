"""DynamoDB request units by AWS's rules, against examples computed by hand from the docs
("Item sizes and formats", "Global secondary indexes: provisioned throughput considerations")."""

from __future__ import annotations

import pytest

from imgpipe.dynamodb_units import (
    TABLE,
    Index,
    Table,
    item_bytes,
    number_bytes,
    read_units,
    value_bytes,
    write_units,
)

STATUS = Table(
    "records",
    ("id",),
    (
        Index("ByStatus", ("status", "updatedAt"), "ALL"),
        Index("ByUpload", ("uploadId", "createdAt"), "KEYS_ONLY"),
        Index("Slim", ("status", "updatedAt"), "INCLUDE", ("attempt",)),
    ),
)


def _s(text: str) -> dict[str, str]:
    return {"S": text}


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1", 2),  # 1 significant digit -> 1 byte + 1
        ("12", 2),
        ("123", 3),
        ("1000", 2),  # trailing zeroes trimmed: "1"
        ("0.00120", 2),  # leading and trailing zeroes trimmed: "12"
        ("-12345.678", 5),  # 8 digits -> 4 + 1
        ("1764633600", 5),  # an epoch second: "17646336" -> 4 + 1
        ("0", 2),
    ],
)
def test_a_number_costs_a_byte_per_two_significant_digits_plus_one(text: str, size: int) -> None:
    assert number_bytes(text) == size


def test_values_are_sized_by_type() -> None:
    assert value_bytes(_s("héllo")) == 6  # UTF-8 bytes, not characters
    assert value_bytes({"B": "AAEC"}) == 3  # base64 on the wire, raw bytes counted
    assert value_bytes({"BOOL": True}) == value_bytes({"NULL": True}) == 1
    assert value_bytes({"L": []}) == value_bytes({"M": {}}) == 3
    # A list: 3 + each element (its size + 1): 3 + (1 + 1) + (2 + 1)
    assert value_bytes({"L": [_s("a"), {"N": "7"}]}) == 3 + 2 + 3
    # A map: 3 + each element (name + value + 1): 3 + (3 + 4 + 1)
    assert value_bytes({"M": {"key": _s("abcd")}}) == 3 + 8
    assert value_bytes({"SS": ["ab", "c"]}) == 3


def test_an_item_is_its_attribute_names_plus_values() -> None:
    item = {"id": _s("abc"), "attempt": {"N": "2"}, "source": {"M": {"bucket": _s("b")}}}
    # id 2+3, attempt 7+2, source 6 + (3 + 6 + 1 + 1)
    assert item_bytes(item) == 5 + 9 + 17
    assert item_bytes(None) == 0


def _item(size: int, **attributes: str) -> dict[str, dict[str, str]]:
    """An item of exactly ``size`` bytes: the attributes plus a padding string."""
    item = {"id": _s("p1"), **{k: _s(v) for k, v in attributes.items()}}
    pad = size - item_bytes(item) - len("pad")
    assert pad >= 0
    return {**item, "pad": _s("x" * pad)}


def test_a_new_item_is_put_in_the_table_and_each_index_holding_it() -> None:
    # GIVEN a 1.5 KB item with the keys of every index
    after = _item(1536, status="SUCCEEDED", updatedAt="t1", uploadId="u", createdAt="t0")
    units = write_units(STATUS, None, after)
    # THEN the table and the ALL index pay 2 KB; KEYS_ONLY and INCLUDE entries are under 1 KB
    assert units == {TABLE: 2, "ByStatus": 2, "ByUpload": 1, "Slim": 1}


def test_a_sparse_index_without_its_key_costs_nothing() -> None:
    after = _item(900, status="PROCESSING", updatedAt="t1")  # no uploadId: not in ByUpload
    assert write_units(STATUS, None, after) == {TABLE: 1, "ByStatus": 1, "Slim": 1}


def test_an_update_costs_the_larger_image_and_an_index_key_change_costs_delete_plus_put() -> None:
    before = _item(1000, status="PROCESSING", updatedAt="t1", uploadId="u", createdAt="t0")
    after = _item(2100, status="SUCCEEDED", updatedAt="t2", uploadId="u", createdAt="t0")
    units = write_units(STATUS, before, after)
    # Table: the larger image, 2100 B -> 3 WRU. ByStatus (ALL): key changed, delete the
    # 1000 B entry (1) + put the 2100 B one (3). ByUpload: keys and projection unchanged.
    # Slim: key changed, two small entries.
    assert units == {TABLE: 3, "ByStatus": 4, "Slim": 2}


def test_an_update_of_a_projected_attribute_only_costs_the_index_that_projects_it() -> None:
    before = _item(1500, status="SUCCEEDED", updatedAt="t1", uploadId="u", createdAt="t0")
    after = {**before, "note": _s("x")}
    # ByStatus (ALL) projects `note`: one update of its 2 KB entry; KEYS_ONLY/INCLUDE do not.
    assert write_units(STATUS, before, after) == {TABLE: 2, "ByStatus": 2}


def test_a_delete_removes_the_entries_and_a_refused_write_costs_the_table_only() -> None:
    item = _item(1100, status="FAILED", updatedAt="t1", uploadId="u", createdAt="t0")
    assert write_units(STATUS, item, None) == {TABLE: 2, "ByStatus": 2, "ByUpload": 1, "Slim": 1}
    # A condition that fails: the item's size, no index (before = after).
    assert write_units(STATUS, item, item) == {TABLE: 2}
    # A write of nothing to nothing (deleting a missing item) still costs 1 WRU.
    assert write_units(STATUS, None, None) == {TABLE: 1}


def test_a_transactional_write_costs_twice() -> None:
    after = _item(500, status="PROCESSING", updatedAt="t1")
    assert write_units(STATUS, None, after, transactional=True) == {
        TABLE: 2,
        "ByStatus": 2,
        "Slim": 2,
    }


def test_reads_are_4_kb_units_halved_when_eventually_consistent() -> None:
    assert read_units([2500], consistent=True, each=True) == 1
    assert read_units([2500], consistent=False, each=True) == 0.5
    assert read_units([4097], consistent=True, each=True) == 2
    assert read_units([], consistent=True, each=True) == 1  # an item not found: the minimum
    assert read_units([2500], consistent=True, transactional=True, each=True) == 2
    # A Query rounds the sum of what it read: 3 x 1.5 KB = 4.5 KB -> 2 units, eventual 1
    assert read_units([1536] * 3, consistent=False) == 1
    # BatchGetItem rounds each item: 3 units, eventual 1.5
    assert read_units([1536] * 3, consistent=False, each=True) == 1.5
    assert read_units([], consistent=False) == 0.5  # a Query that found nothing


def test_a_table_description_gives_keys_and_projections() -> None:
    described = {
        "TableName": "t",
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "ByStatus",
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "updatedAt", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["a"]},
            }
        ],
    }
    table = Table.from_description(described)
    assert table.keys == ("id",)
    assert table.index("ByStatus") == Index("ByStatus", ("status", "updatedAt"), "INCLUDE", ("a",))
    entry = table.entry(
        table.index("ByStatus"),
        {"id": _s("1"), "status": _s("S"), "updatedAt": _s("t"), "a": _s("x"), "b": _s("y")},
    )
    assert entry is not None and set(entry) == {"id", "status", "updatedAt", "a"}
