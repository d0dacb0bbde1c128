"""POST /uploads/direct: the image in the request body, through the local API server (API
Gateway's framing and Lambda's payload quota) into the normal S3 → EventBridge → Step
Functions path, on the open stack of ``conftest.api`` (MaxUploadBytes 200 000)."""

from __future__ import annotations

import io
import json

import pytest
import requests
from PIL import Image

from imgpipe.local.adapters.lambda_runtime import SYNC_PAYLOAD_BYTES
from imgpipe.local.api_server import MAX_REQUEST_HEAD_BYTES, to_event
from imgpipe_core.api.uploads import DIRECT_MAX_BYTES
from tests.api.conftest import MAX_UPLOAD_BYTES, Api, image_bytes

pytestmark = [
    pytest.mark.engine,
    pytest.mark.xdist_group("api"),
    pytest.mark.filterwarnings("ignore:Tried to parse AWS::ApiGatewayV2"),
]


def direct(
    api: Api, data: bytes, content_type: str, filename: str = "cat.png"
) -> requests.Response:
    return api.post(
        "/uploads/direct",
        params={"filename": filename},
        data=data,
        headers={"Content-Type": content_type},
    )


def upload_keys(api: Api) -> set[str]:
    s3 = api.engine.client("s3")
    listed = s3.list_objects_v2(Bucket=api.outputs["PrivateBucketName"], Prefix="uploads/")
    return {item["Key"] for item in listed.get("Contents", [])}


def test_direct_upload_is_processed_end_to_end(api: Api) -> None:
    # GIVEN a PNG sent as the request body
    data = image_bytes(320, 200)
    response = direct(api, data, "image/png", "../holiday photo.png")
    # THEN it is stored under a server-generated key
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["key"] == f"uploads/{body['uploadId']}" and body["size"] == len(data)
    assert body["maxBytes"] == MAX_UPLOAD_BYTES
    stored = api.engine.client("s3").get_object(
        Bucket=api.outputs["PrivateBucketName"], Key=body["key"]
    )
    assert stored["Body"].read() == data  # the bytes, not their base64
    assert stored["ContentType"] == "image/png"
    assert stored["Metadata"] == {"filename": "holiday photo.png"}
    # AND the pipeline processes it like a presigned upload: SUCCEEDED, variants served
    image = api.wait(body["uploadId"])
    assert image["status"] == "SUCCEEDED", image
    assert image["filename"] == "holiday photo.png"
    assert (image["image"]["width"], image["image"]["height"]) == (320, 200)
    assert {v["variant"] for v in image["variants"]} == {"thumbnail", "medium", "large", "webp"}
    for variant in image["variants"]:
        served = requests.get(variant["url"], timeout=10)
        assert served.status_code == 200
        assert Image.open(io.BytesIO(served.content)).size == (variant["width"], variant["height"])


def test_direct_upload_of_a_non_image_is_rejected_by_the_pipeline(api: Api) -> None:
    response = direct(api, b"%PDF-1.4 not an image" * 10, "image/jpeg", "doc.jpg")
    assert response.status_code == 201
    image = api.wait(response.json()["uploadId"])
    assert image["status"] == "REJECTED" and image["rejection"]["code"]


def test_direct_upload_over_max_upload_bytes_is_413_and_stores_nothing(api: Api) -> None:
    before = upload_keys(api)
    response = direct(api, b"\x89PNG\r\n\x1a\n" + b"\x00" * MAX_UPLOAD_BYTES, "image/png")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "FILE_TOO_LARGE"
    assert upload_keys(api) == before


def test_direct_upload_over_lambdas_payload_quota_is_413_from_the_gateway(api: Api) -> None:
    # Under API Gateway's 10 MB, but 5 MB base64-encoded is over Lambda's 6 MiB event quota.
    before = upload_keys(api)
    response = direct(api, b"\x89PNG\r\n\x1a\n" + b"\x01" * (5 * 1024 * 1024), "image/png")
    assert response.status_code == 413
    assert response.json() == {"message": "Request Entity Too Large"}
    assert upload_keys(api) == before


@pytest.mark.parametrize("content_type", ["application/octet-stream", "text/plain", ""])
def test_direct_upload_of_an_unaccepted_type_is_415(api: Api, content_type: str) -> None:
    response = direct(api, image_bytes(8, 8), content_type)
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_direct_upload_without_a_body_is_400(api: Api) -> None:
    response = direct(api, b"", "image/png")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_SIZE"


def test_the_documented_limit_fits_lambdas_payload_with_the_largest_head() -> None:
    # GIVEN a body of exactly the direct-upload limit and headers filling API Gateway's quota
    headers = {"Content-Type": "image/png", "X-Padding": "a" * (MAX_REQUEST_HEAD_BYTES - 100)}
    event = to_event(
        "POST",
        "/uploads/direct?filename=x.png",
        headers,
        b"\xff" * DIRECT_MAX_BYTES,
        host="abc.execute-api.us-east-1.amazonaws.com",
        source_ip="203.0.113.9",
    )
    # THEN the event API Gateway sends is base64 and still under Lambda's synchronous quota
    assert event["isBase64Encoded"] is True
    assert len(json.dumps(event).encode()) <= SYNC_PAYLOAD_BYTES
    # AND the limit is not needlessly low: encoded, it is within 64 KiB of the quota
    assert DIRECT_MAX_BYTES * 4 // 3 > SYNC_PAYLOAD_BYTES - 64 * 1024
