"""imgpipe_core.api routes with moto's mock_aws: fast edge cases, through the resolver."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from imgpipe.local.api_server import from_result, to_event
from imgpipe_core import api as api_module
from imgpipe_core import storage
from imgpipe_core.api import cursor, uploads
from imgpipe_core.config import Settings
from tests.conftest import ROOT

BUCKET = "private"
API_BASE_URL = "https://api.example.test"
TABLE = "records"


class _Context:
    function_name = "api"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:api"
    aws_request_id = "req"


def _template_indexes() -> Any:
    """The status table's indexes as template.yaml declares them (the upgrade-only one left
    out): the routes are tested against the projections they will meet."""
    from imgpipe.local.deploy import load_template

    table = load_template(ROOT / "template.yaml")["Resources"]["StatusTable"]["Properties"]
    return [index for index in table["GlobalSecondaryIndexes"] if "IndexName" in index]


@pytest.fixture
def app() -> Iterator[Any]:
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        boto3.client("dynamodb").create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": n, "AttributeType": "S"}
                for n in ("processingId", "status", "updatedAt", "uploadId", "createdAt")
            ],
            KeySchema=[{"AttributeName": "processingId", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=_template_indexes(),
        )
        storage._presigner.cache_clear()
        settings = Settings.model_validate(
            {
                "TABLE_NAME": TABLE,
                "PRIVATE_BUCKET": BUCKET,
                "MAX_UPLOAD_BYTES": "1000",
                "API_BASE_URL": API_BASE_URL,
            }
        )
        yield api_module.create_app(settings)
        storage._presigner.cache_clear()


def _call(
    app: Any, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode() if body else b""
    sent = {"Host": "api.test", **(headers or {})}
    event = to_event(method, path, sent, raw, host="api.test", source_ip="1.2.3.4")
    status, headers, data = from_result(app.resolve(event, _Context()))
    return status, headers, json.loads(data) if data else None


def test_presign_is_a_sigv4_post_for_a_server_key(app: Any) -> None:
    body = {"filename": "cat.webp", "contentType": "image/webp", "size": 999}
    status, _, result = _call(app, "POST", "/uploads", body)
    assert status == 201, result
    fields = result["upload"]["fields"]
    assert result["key"] == f"uploads/{result['uploadId']}" == fields["key"]
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    policy = json.loads(__import__("base64").b64decode(fields["policy"]))
    assert ["content-length-range", 1, 1000] in policy["conditions"]
    assert {"Content-Type": "image/webp"} in policy["conditions"]
    assert result["statusUrl"] == f"{API_BASE_URL}/images/{result['uploadId']}"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"filename": "a", "contentType": "image/png", "size": 1001}, 413, "FILE_TOO_LARGE"),
        ({"filename": "a", "contentType": "image/png", "size": -1}, 400, "INVALID_SIZE"),
        ({"filename": "a", "contentType": "text/plain", "size": 1}, 415, "UNSUPPORTED_MEDIA_TYPE"),
        ({"filename": "", "contentType": "image/png", "size": 1}, 400, "INVALID_REQUEST"),
        ({"filename": "a", "contentType": "image/png", "size": "many"}, 400, "INVALID_REQUEST"),
        ("null", 400, "INVALID_JSON"),
    ],
)
def test_presign_refusals(app: Any, body: Any, status: int, code: str) -> None:
    got, _, result = _call(app, "POST", "/uploads", body)
    assert (got, result["error"]["code"]) == (status, code)


def test_pending_only_while_the_upload_exists(app: Any) -> None:
    ident = "ab" * 16
    assert _call(app, "GET", f"/images/{ident}")[0] == 404
    boto3.client("s3").put_object(
        Bucket=BUCKET, Key=f"uploads/{ident}", Body=b"x", Metadata={"filename": "a.png"}
    )
    status, _, result = _call(app, "GET", f"/images/{ident}")
    assert status == 200
    assert result["status"] == "PENDING" and result["filename"] == "a.png"


@pytest.mark.parametrize(
    "query",
    [
        "status=SUCCEEDED&cursor=%%%",
        "status=SUCCEEDED&cursor=eyJhIjogMX0",  # {"a": 1}
        "status=FAILED&limit=101",
        "limit=abc",
        "status=DELETED",
    ],
)
def test_listing_refuses_bad_parameters(app: Any, query: str) -> None:
    status, _, result = _call(app, "GET", f"/images?{query}")
    assert status == 400 and result["error"]["code"].startswith("INVALID_")


def test_cursor_round_trip_is_checked_against_the_filter() -> None:
    from imgpipe_core.models import Status
    from imgpipe_core.records import LISTING_DONE

    key = {"processingId": {"S": "a" * 26}, "status": {"S": "FAILED"}, "updatedAt": {"S": "t"}}
    one_status = cursor.encode({Status.FAILED: key})
    merged = cursor.encode({Status.FAILED: key, Status.SUCCEEDED: LISTING_DONE})
    assert one_status is not None and merged is not None
    assert cursor.decode(one_status, Status.FAILED) == {Status.FAILED: key}
    assert cursor.decode(merged, None) == {
        Status.FAILED: key,
        Status.SUCCEEDED: LISTING_DONE,
    }
    # A cursor is only good for the filter it was issued for, and its keys for their status
    for issued, status in ((one_status, Status.SUCCEEDED), (merged, Status.FAILED)):
        with pytest.raises(api_module.ApiError):
            cursor.decode(issued, status)
    misfiled = cursor.encode({Status.SUCCEEDED: key})
    assert misfiled is not None
    with pytest.raises(api_module.ApiError):
        cursor.decode(misfiled, None)
    assert cursor.encode(None) is None


def _put_records(count: int) -> list[dict[str, str]]:
    """Records spread over four statuses, several sharing an updatedAt (ties across and within)."""
    statuses = ["SUCCEEDED", "REJECTED", "FAILED", "PROCESSING", "SUCCEEDED"]
    records = [
        {
            "processingId": f"{index:026d}",
            "status": statuses[index % len(statuses)],
            "updatedAt": f"2026-11-21T10:00:{index // 3:02d}Z",
        }
        for index in range(count)
    ]
    for record in records:
        item = {name: {"S": value} for name, value in record.items()}
        boto3.client("dynamodb").put_item(TableName=TABLE, Item=item)
    return records


def _page_through(app: Any, query: str) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for pages in range(1, 100):
        suffix = f"&cursor={cursor}" if cursor else ""
        status, _, result = _call(app, "GET", f"/images?{query}{suffix}")
        assert status == 200, result
        items += result["items"]
        cursor = result.get("cursor")
        if not cursor:
            return items, pages
    raise AssertionError("the listing never ended")


@pytest.mark.parametrize("query", ["limit=4", "limit=1", "limit=100", "status=SUCCEEDED&limit=3"])
def test_listing_pages_through_every_record_once_newest_first(app: Any, query: str) -> None:
    # GIVEN 23 records over four statuses, with equal timestamps
    records = _put_records(23)
    wanted = [r for r in records if "status=" not in query or r["status"] == "SUCCEEDED"]

    # WHEN the listing is read page by page, following the cursor
    items, pages = _page_through(app, query)

    # THEN each record comes exactly once, newest first, in about len / limit pages
    ids = [item["processingId"] for item in items]
    assert sorted(ids) == sorted(r["processingId"] for r in wanted)
    updated = [item["updatedAt"] for item in items]
    assert updated == sorted(updated, reverse=True)
    limit = int(query.rsplit("limit=", 1)[1])
    assert pages <= len(wanted) // limit + 2


def test_cors_and_unknown_routes(app: Any) -> None:
    # Powertools answers CORS only to requests that carry an Origin, as browsers do
    status, headers, _ = _call(app, "GET", "/health", headers={"Origin": "https://web.test"})
    assert status == 200 and headers.get("Access-Control-Allow-Origin") == "*"
    status, _, result = _call(app, "GET", "/nowhere")
    assert (status, result["error"]["code"]) == (404, "ROUTE_NOT_FOUND")


def test_filenames_are_sanitised() -> None:
    assert uploads.sanitise_filename("C:\\x\\Ünïcødé file?.png") == "Unicde file_.png"
    assert uploads.sanitise_filename("...") == "upload"


@pytest.mark.parametrize("content_type", ["image/heic", "image/heif", "image/avif"])
def test_presign_accepts_heif_uploads(app: Any, content_type: str) -> None:
    body = {"filename": "IMG_0001.HEIC", "contentType": content_type, "size": 999}

    status, _, result = _call(app, "POST", "/uploads", body)

    assert status == 201
    policy = json.loads(__import__("base64").b64decode(result["upload"]["fields"]["policy"]))
    assert {"Content-Type": content_type} in policy["conditions"]


# -- hostile input: each case below was a finding of the schemathesis/hand-made run ---


def test_a_deeply_nested_body_is_a_400_not_a_crash(app: Any) -> None:
    # GIVEN a body of 100 000 '[' (json's recursion used to escape as a 502)
    status, _, result = _call(app, "POST", "/uploads", "[" * 100_000)
    # THEN it is refused in the error shape
    assert (status, result["error"]["code"]) == (400, "INVALID_JSON")


def test_nesting_just_past_the_limit_is_refused_and_a_body_over_the_size_limit_is_413(
    app: Any,
) -> None:
    nested = '{"filename": "a", "contentType": "image/png", "size": 1, "x": ' + "[" * 9 + "]" * 9
    status, _, result = _call(app, "POST", "/uploads", nested + "}")
    assert (status, result["error"]["code"]) == (400, "INVALID_JSON")
    huge = json.dumps({"filename": "a", "contentType": "image/png", "size": 1, "x": "y" * 200_000})
    status, _, result = _call(app, "POST", "/uploads", huge)
    assert (status, result["error"]["code"]) == (413, "BODY_TOO_LARGE")


def test_a_cursor_that_decodes_to_deep_json_is_a_400(app: Any) -> None:
    deep = base64.urlsafe_b64encode(b"[" * 3000).decode()
    status, _, result = _call(app, "GET", f"/images?cursor={deep}")
    assert (status, result["error"]["code"]) == (400, "INVALID_CURSOR")
    status, _, result = _call(app, "GET", "/images?cursor=" + "A" * 5000)
    assert (status, result["error"]["code"]) == (400, "INVALID_CURSOR")


@pytest.mark.parametrize("size", [True, "1000", 1000.0, None])
def test_size_must_be_a_json_integer(app: Any, size: Any) -> None:
    body = {"filename": "a.png", "contentType": "image/png", "size": size}
    status, _, result = _call(app, "POST", "/uploads", body)
    assert (status, result["error"]["code"]) == (400, "INVALID_REQUEST")


def test_status_url_comes_from_configuration_not_from_request_headers(app: Any) -> None:
    # GIVEN a client that forges the headers a proxy would set
    hostile = {"X-Forwarded-Proto": "javascript:alert(1)//", "X-Forwarded-Host": "evil.example"}
    body = {"filename": "a.png", "contentType": "image/png", "size": 10}
    status, _, result = _call(app, "POST", "/uploads", body, {**hostile, "Host": "evil.example"})
    # THEN the link is the configured API URL all the same
    assert status == 201
    assert result["statusUrl"] == f"{API_BASE_URL}/images/{result['uploadId']}"


def test_an_overlong_id_is_a_400_and_an_unknown_method_a_405(app: Any) -> None:
    status, _, result = _call(app, "GET", "/images/" + "a" * 27)
    assert (status, result["error"]["code"]) == (400, "INVALID_ID")
    status, headers, result = _call(app, "PATCH", "/uploads")
    assert (status, result["error"]["code"]) == (405, "METHOD_NOT_ALLOWED")
    assert headers["Allow"] == "POST"


def test_a_body_that_is_not_utf8_is_a_400(app: Any) -> None:
    event = to_event(
        "POST", "/uploads", {"Host": "api.test"}, b"\xff", host="api.test", source_ip="1.2.3.4"
    )
    status, _, data = from_result(app.resolve(event, _Context()))
    assert (status, json.loads(data)["error"]["code"]) == (400, "INVALID_JSON")


def test_listing_and_status_name_the_file_from_the_originals_metadata(app: Any) -> None:
    # GIVEN a processed upload whose original carries its sanitised filename
    ident = "cd" * 16
    boto3.client("s3").put_object(
        Bucket=BUCKET, Key=f"uploads/{ident}", Body=b"x", Metadata={"filename": "cat.png"}
    )
    source = {"M": {"bucket": {"S": BUCKET}, "key": {"S": f"uploads/{ident}"}}}
    item = {
        "processingId": {"S": "b" * 26},
        "status": {"S": "SUCCEEDED"},
        "updatedAt": {"S": "2026-11-21T10:00:00.000Z"},
        "uploadId": {"S": ident},
        "createdAt": {"S": "2026-11-21T10:00:00.000Z"},
        "source": source,
    }
    boto3.client("dynamodb").put_item(TableName=TABLE, Item=item)
    # WHEN it is listed and looked up THEN both show the filename
    status, _, listed = _call(app, "GET", "/images")
    assert status == 200 and [i["filename"] for i in listed["items"]] == ["cat.png"]
    assert _call(app, "GET", f"/images/{ident}")[2]["filename"] == "cat.png"


@pytest.mark.parametrize(
    "content_type", ["multipart/form-data", "application/x-www-form-urlencoded", "text/plain"]
)
def test_a_body_that_is_not_json_is_a_415_in_the_error_shape(app: Any, content_type: str) -> None:
    # A multipart type without a boundary used to escape Powertools' form parser as a 502
    body = {"filename": "a.png", "contentType": "image/png", "size": 10}
    status, _, result = _call(app, "POST", "/uploads", body, {"Content-Type": content_type})
    assert (status, result["error"]["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")


def _direct(data: bytes, content_type: str, query: str = "?filename=a.png") -> dict[str, Any]:
    return to_event(
        "POST",
        f"/uploads/direct{query}",
        {"Host": "api.test", "Content-Type": content_type},
        data,
        host="api.test",
        source_ip="1.2.3.4",
    )


def test_a_direct_upload_stores_the_decoded_bytes_under_a_server_key(app: Any) -> None:
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    event = _direct(data, "image/png; charset=binary", "?filename=..%2Fme.png")
    assert event["isBase64Encoded"] is True  # a binary type is encoded, as API Gateway does
    status, _, body = from_result(app.resolve(event, _Context()))
    created = json.loads(body)
    assert status == 201 and created["key"] == f"uploads/{created['uploadId']}"
    assert created["statusUrl"] == f"{API_BASE_URL}/images/{created['uploadId']}"
    stored = boto3.client("s3").get_object(Bucket=BUCKET, Key=created["key"])
    assert stored["Body"].read() == data
    assert (stored["ContentType"], stored["Metadata"]) == ("image/png", {"filename": "me.png"})


def test_a_direct_upload_over_max_upload_bytes_is_413(app: Any) -> None:
    event = _direct(b"\xff" * 1001, "image/jpeg")
    status, _, body = from_result(app.resolve(event, _Context()))
    assert (status, json.loads(body)["error"]["code"]) == (413, "FILE_TOO_LARGE")


def test_a_direct_upload_whose_body_is_not_base64_is_a_400(app: Any) -> None:
    event = _direct(b"\xff\xfe", "image/png")
    event["body"] = "not base64!"
    status, _, body = from_result(app.resolve(event, _Context()))
    assert (status, json.loads(body)["error"]["code"]) == (400, "INVALID_BODY")


def test_the_direct_limit_is_the_smaller_of_the_payload_quota_and_max_upload_bytes() -> None:
    small = Settings.model_validate({"MAX_UPLOAD_BYTES": "1000"})
    large = Settings.model_validate({"MAX_UPLOAD_BYTES": str(25 * 1024 * 1024)})
    assert uploads.direct_limit(small) == 1000
    assert uploads.direct_limit(large) == uploads.DIRECT_MAX_BYTES == 4_694_016
