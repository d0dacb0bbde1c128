"""The HTTP API over HTTP, against the real template on the engine (handler in the runtime)."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from xml.etree import ElementTree

import pytest
import requests
from PIL import Image

from tests.api.conftest import MAX_UPLOAD_BYTES, Api, image_bytes
from tests.helpers import wait_for

pytestmark = [
    pytest.mark.engine,
    pytest.mark.xdist_group("api"),
    pytest.mark.filterwarnings("ignore:Tried to parse AWS::ApiGatewayV2"),
]

CORRUPT_PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(scope="module")
def images(api: Api) -> dict[str, dict[str, Any]]:
    """Three uploads processed side by side: two good images and a corrupt one."""
    uploads = {
        "png": (image_bytes(640, 480), "image/png"),
        "jpeg": (image_bytes(500, 700, "JPEG"), "image/jpeg"),
        "corrupt": (CORRUPT_PNG, "image/png"),
    }
    with ThreadPoolExecutor(len(uploads)) as pool:
        ids = dict(zip(uploads, pool.map(lambda u: api.upload(*u), uploads.values()), strict=True))
        done = dict(zip(ids, pool.map(api.wait, ids.values()), strict=True))
    return done


def _s3_error(response: requests.Response) -> str:
    return ElementTree.fromstring(response.content).findtext("Code") or ""


def test_health(api: Api) -> None:
    assert api.get("/health").json() == {"status": "ok"}


def test_upload_reaches_succeeded_and_variants_serve(api: Api, images: dict) -> None:
    # GIVEN a PNG uploaded through a presigned POST WHEN the pipeline is done
    image = images["png"]
    # THEN it succeeded, with the original's dimensions and one URL per variant
    assert image["status"] == "SUCCEEDED", image
    assert (image["image"]["width"], image["image"]["height"]) == (640, 480)
    assert image["attempt"] == 1 and len(image["executionArns"]) == 1
    assert {v["variant"] for v in image["variants"]} == {"thumbnail", "medium", "large", "webp"}
    # AND every variant URL serves an image of the advertised size and byte count
    for variant in image["variants"]:
        assert variant["url"].startswith(f"{api.url}/cdn/images/{image['processingId']}/")
        served = requests.get(variant["url"], timeout=10)
        assert served.status_code == 200
        assert len(served.content) == variant["bytes"]
        decoded = Image.open(io.BytesIO(served.content))
        assert decoded.size == (variant["width"], variant["height"])
        assert max(decoded.size) <= 1920 and decoded.size[0] <= 640
    thumb = next(v for v in image["variants"] if v["variant"] == "thumbnail")
    assert max(thumb["width"], thumb["height"]) <= 300
    # AND the record is also found by its processingId
    by_pid = api.get(f"/images/{image['processingId']}").json()
    assert by_pid["uploadId"] == image["uploadId"]


def test_corrupt_upload_is_rejected_with_a_reason(images: dict) -> None:
    image = images["corrupt"]
    assert image["status"] == "REJECTED"
    assert image["rejection"]["code"] == "CORRUPT_IMAGE" and image["rejection"]["message"]
    assert image["variants"] == []


def test_trace_has_every_state_with_durations(api: Api, images: dict) -> None:
    trace = api.get(f"/images/{images['jpeg']['uploadId']}/trace").json()
    assert trace["status"] in ("RUNNING", "SUCCEEDED")  # Notify may still be finishing
    names = [s["name"] for s in trace["states"]]
    for state in ("Register Upload", "Validate Upload", "Resize Variants", "Publish Variants"):
        assert state in names
    resizes = [s for s in trace["states"] if s["name"] == "Resize Variant"]
    assert len(resizes) == 4 and all(s["parent"] == "Resize Variants" for s in resizes)
    validate = next(s for s in trace["states"] if s["name"] == "Validate Upload")
    assert validate["type"] == "Task" and validate["retries"] == 0
    assert validate["durationMs"] >= 0 and validate["end"] >= validate["start"]


def test_s3_refuses_a_file_over_the_size_limit(api: Api) -> None:
    # GIVEN a presigned POST for a small declared size
    post = api.post("/uploads", json={"filename": "a.png", "contentType": "image/png", "size": 10})
    upload = post.json()["upload"]
    # WHEN the client sends more than MaxUploadBytes THEN S3 itself refuses it
    big = b"\x89PNG" + b"\x00" * MAX_UPLOAD_BYTES
    sent = requests.post(
        upload["url"], data=upload["fields"], files={"file": ("a.png", big)}, timeout=30
    )
    assert sent.status_code == 400 and _s3_error(sent) == "EntityTooLarge"


def test_s3_refuses_a_different_content_type(api: Api) -> None:
    post = api.post("/uploads", json={"filename": "a.png", "contentType": "image/png", "size": 10})
    upload = post.json()["upload"]
    fields = {**upload["fields"], "Content-Type": "text/html"}
    sent = requests.post(upload["url"], data=fields, files={"file": ("a.png", b"<p>")}, timeout=30)
    assert sent.status_code == 403 and _s3_error(sent) == "AccessDenied"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"filename": "a.svg", "contentType": "image/svg+xml", "size": 10}, 415,
         "UNSUPPORTED_MEDIA_TYPE"),
        ({"filename": "a.png", "contentType": "image/png", "size": MAX_UPLOAD_BYTES + 1}, 413,
         "FILE_TOO_LARGE"),
        ({"filename": "a.png", "contentType": "image/png", "size": 0}, 400, "INVALID_SIZE"),
        ({"filename": "a.png", "contentType": "image/png"}, 400, "INVALID_REQUEST"),
        ([1, 2], 400, "INVALID_JSON"),
        ("{not json", 400, "INVALID_JSON"),
    ],
)  # fmt: skip
def test_bad_presign_requests_get_a_json_error(api: Api, body: Any, status: int, code: str) -> None:
    kwargs = {"data": body} if isinstance(body, str) else {"json": body}
    response = api.post("/uploads", **kwargs)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code and error["message"]


def test_presign_keeps_the_filename_only_as_sanitised_metadata(api: Api) -> None:
    body = {"filename": "../../etc/pässwd<script>.png", "contentType": "image/png", "size": 5}
    response = api.post("/uploads", json=body).json()
    assert response["key"] == f"uploads/{response['uploadId']}"
    assert response["upload"]["fields"]["x-amz-meta-filename"] == "passwd_script_.png"
    assert response["statusUrl"] == f"{api.url}/images/{response['uploadId']}"


def test_unknown_ids_are_404(api: Api) -> None:
    for path in ("/images/" + "0" * 32, "/images/" + "a" * 26, "/nope"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] in ("NOT_FOUND", "ROUTE_NOT_FOUND")
    # An id of neither form is not looked up at all
    response = api.get("/images/nope")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "INVALID_ID")
    assert api.post("/images/" + "0" * 32 + "/rerun").status_code == 404
    assert api.get("/images/" + "0" * 32 + "/trace").status_code == 404


def test_listing_filters_by_status_and_pages_with_a_cursor(api: Api, images: dict) -> None:
    succeeded = {images["png"]["processingId"], images["jpeg"]["processingId"]}
    # WHEN listing one SUCCEEDED image per page
    seen: list[str] = []
    cursor = None
    for _ in range(20):
        params = {"status": "SUCCEEDED", "limit": "1", **({"cursor": cursor} if cursor else {})}
        page = api.get("/images", params=params).json()
        assert len(page["items"]) <= 1
        seen += [item["processingId"] for item in page["items"]]
        assert all(item["status"] == "SUCCEEDED" for item in page["items"])
        cursor = page.get("cursor")
        if not cursor:
            break
    # THEN every succeeded image shows up exactly once
    assert succeeded <= set(seen) and len(seen) == len(set(seen))
    rejected = api.get("/images", params={"status": "REJECTED"}).json()["items"]
    assert images["corrupt"]["processingId"] in [i["processingId"] for i in rejected]
    everything = api.get("/images", params={"limit": "100"}).json()["items"]
    assert succeeded | {images["corrupt"]["processingId"]} <= {
        i["processingId"] for i in everything
    }
    # AND bad parameters are refused
    for params in ({"status": "NOPE"}, {"limit": "0"}, {"status": "FAILED", "cursor": "bad!"},
                   {"cursor": "e30="}):  # fmt: skip
        response = api.get("/images", params=params)
        assert response.status_code == 400, params


def test_listing_every_status_pages_through_all_of_them_once(api: Api, images: dict) -> None:
    # GIVEN records in more than one status (two SUCCEEDED, one REJECTED, maybe more)
    expected = {
        i["processingId"] for i in api.get("/images", params={"limit": "100"}).json()["items"]
    }
    assert {image["processingId"] for image in images.values()} <= expected
    # WHEN the unfiltered listing is read one record per page
    seen: list[dict[str, Any]] = []
    cursor = None
    for _ in range(len(expected) + 5):
        params = {"limit": "1", **({"cursor": cursor} if cursor else {})}
        page = api.get("/images", params=params).json()
        seen += page["items"]
        cursor = page.get("cursor")
        if not cursor:
            break
    # THEN every record shows up exactly once, newest first across the statuses, and it ends
    ids = [item["processingId"] for item in seen]
    assert cursor is None
    assert len(ids) == len(set(ids)) and set(ids) == expected
    updated = [item["updatedAt"] for item in seen]
    assert updated == sorted(updated, reverse=True)
    assert len({item["status"] for item in seen}) >= 2


def test_rerun_starts_once_and_a_second_request_is_a_no_op(api: Api, images: dict) -> None:
    ident = images["jpeg"]["uploadId"]
    first = api.post(f"/images/{ident}/rerun")
    assert first.status_code == 202 and first.json()["started"] is True
    second = api.post(f"/images/{ident}/rerun")
    assert second.status_code == 200
    assert second.json() == {
        "started": False,
        "processingId": images["jpeg"]["processingId"],
        "reason": "already running",
    }
    done = api.wait(ident, attempt=2)
    assert done["status"] == "SUCCEEDED" and done["attempt"] == 2
    assert done["executionArns"][-1] == first.json()["executionArn"]


def test_delete_removes_everything_and_is_idempotent(api: Api, images: dict) -> None:
    image = images["png"]
    pid, ident = image["processingId"], image["uploadId"]
    s3 = api.engine.client("s3")
    private, public = api.outputs["PrivateBucketName"], api.outputs["PublicBucketName"]
    assert s3.list_objects_v2(Bucket=public, Prefix=f"images/{pid}/")["KeyCount"] > 0
    # WHEN the image is deleted
    response = api.delete(f"/images/{ident}")
    assert response.status_code == 204
    # THEN variants, manifest, every version of the original and the record are gone
    assert s3.list_objects_v2(Bucket=public, Prefix=f"images/{pid}/")["KeyCount"] == 0
    versions = s3.list_object_versions(Bucket=private, Prefix=f"uploads/{ident}")
    assert not versions.get("Versions") and not versions.get("DeleteMarkers")
    assert api.get(f"/images/{ident}").status_code == 404
    assert api.get(f"/images/{pid}").status_code == 404
    assert requests.get(image["variants"][0]["url"], timeout=10).status_code == 404
    # AND the CDN was told to forget the image's paths
    cloudfront = api.engine.client("cloudfront")
    invalidations = cloudfront.list_invalidations(DistributionId=_distribution_id(api))
    paths = [
        cloudfront.get_invalidation(DistributionId=_distribution_id(api), Id=i["Id"])[
            "Invalidation"
        ]["InvalidationBatch"]["Paths"]["Items"]
        for i in invalidations["InvalidationList"].get("Items", [])
    ]
    assert [f"/images/{pid}/*"] in paths
    # AND deleting again finds nothing
    assert api.delete(f"/images/{ident}").status_code == 404


def _distribution_id(api: Api) -> str:
    resource = api.engine.client("cloudformation").describe_stack_resource(
        StackName="apitest", LogicalResourceId="Cdn"
    )
    return str(resource["StackResourceDetail"]["PhysicalResourceId"])


def test_pending_while_uploaded_but_not_registered(api: Api) -> None:
    # GIVEN an object under uploads/<id> that no pipeline run has registered (written directly,
    # with EventBridge delivery racing us, the API shows PENDING or already PROCESSING/done)
    ident = "f" * 32
    api.engine.client("s3").put_object(
        Bucket=api.outputs["PrivateBucketName"], Key=f"uploads/{ident}", Body=CORRUPT_PNG,
        Metadata={"filename": "x.png"},
    )  # fmt: skip
    first = api.get(f"/images/{ident}").json()
    assert first["status"] in ("PENDING", "PROCESSING", "REJECTED")
    wait_for(lambda: api.get(f"/images/{ident}").json()["status"] == "REJECTED", timeout=60)
