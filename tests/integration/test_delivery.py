"""Delivery=private and OriginalRetention=delete through the real event path.

One stack with both: variants are served only through CloudFront signed URLs (the local CDN
checks them as CloudFront does), and an original loses every version once its upload SUCCEEDED.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from imgpipe.cli import main
from imgpipe_core import delivery
from tests.api.test_browser import page  # noqa: F401 (the headless Chromium fixture)
from tests.helpers import wait_for
from tests.integration.conftest import (
    Pipeline,
    deploy_pipeline,
    embedded_only,
    photo,
    stack_name,
)

EXPIRES_SECONDS = 120

# The local CDN stand-in and the API are served by the engine's own HTTP adapter.
pytestmark = embedded_only("the /cdn stand-in of the local API server")


def _cli(*argv: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(list(argv)) == 0
    return out.getvalue()


@pytest.fixture(scope="module")
def private(engine: Any) -> Iterator[tuple[Pipeline, str, str]]:
    """(pipeline, its API/CDN base URL, the private key `imgpipe cdn-key create` stored)."""
    from imgpipe.local import api_server

    name = stack_name("private-delete")
    created = json.loads(
        _cli(
            "cdn-key",
            "create",
            "--json",
            "--stack-name",
            name,
            "--endpoint-url",
            engine.endpoint_url,
        )
    )
    url = api_server.bind()
    pipeline = deploy_pipeline(
        engine,
        "private-delete",
        {
            "Delivery": "private",
            "CdnPublicKeyPem": created["publicKeyPem"],
            "SignedUrlExpiresSeconds": str(EXPIRES_SECONDS),
            "OriginalRetention": "delete",
            "PublicBaseUrl": f"{url}/cdn",
            "ApiBaseUrl": url,
            "ApiAuth": "NONE",
        },
    )
    api_server.start(engine, pipeline.stack_name, pipeline.outputs)
    ssm = engine.client("ssm")
    key = ssm.get_parameter(Name=created["parameter"], WithDecryption=True)["Parameter"]["Value"]
    yield pipeline, url, key
    api_server.stop(url)


def _published(pipeline: Pipeline, url: str) -> tuple[str, dict[str, Any]]:
    key = f"uploads/{uuid.uuid4().hex}"
    pid = pipeline.upload(key, photo(900, 600, "JPEG"), "image/jpeg")
    assert pipeline.wait_done(pid)["status"] == "SUCCEEDED"
    shown = requests.get(f"{url}/images/{pid}", timeout=30)
    assert shown.status_code == 200, shown.text
    return pid, shown.json()


def test_private_variant_urls_are_signed_and_refused_when_stripped_altered_or_expired(
    private: tuple[Pipeline, str, str],
) -> None:
    pipeline, url, private_key = private
    # GIVEN a published upload of a Delivery=private stack
    _, image = _published(pipeline, url)
    variant = image["variants"][0]
    signed = variant["url"]
    query = parse_qs(urlsplit(signed).query)
    # THEN GET /images/{id} hands out a CloudFront canned-policy URL expiring as configured
    assert set(query) == {"Expires", "Signature", "Key-Pair-Id"}
    assert query["Key-Pair-Id"] == [pipeline.outputs["CdnKeyPairId"]]
    assert int(query["Expires"][0]) <= time.time() + EXPIRES_SECONDS + 5
    # AND it serves exactly the published bytes
    served = requests.get(signed, timeout=30)
    assert served.status_code == 200, served.text
    stored = pipeline.client("s3").get_object(
        Bucket=pipeline.outputs["PublicBucketName"], Key=variant["key"]
    )
    assert served.content == stored["Body"].read()
    # WHEN the signature is stripped, altered, moved to another path, or the URL has expired
    bare = signed.split("?", 1)[0]
    signature = query["Signature"][0]
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    other = next(v for v in image["variants"] if v["key"] != variant["key"])["url"].split("?")[0]
    signer = delivery.UrlSigner(query["Key-Pair-Id"][0], private_key, EXPIRES_SECONDS)
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=EXPIRES_SECONDS + 1)
    refused = {
        "stripped": bare,
        "altered": signed.replace(signature, flipped),
        "other path": other + "?" + urlsplit(signed).query,
        "unknown key": signed.replace(query["Key-Pair-Id"][0], "K2JCJMDEHXQW5F"),
        "expired": signer.sign(bare, past),
    }
    # THEN the CDN refuses each with 403, as CloudFront does
    for why, target in refused.items():
        response = requests.get(target, timeout=30)
        assert response.status_code == 403, (why, response.status_code)
        assert "<Error>" in response.text and variant["key"] not in response.text
    # AND the same key signing now, with a valid expiry, is accepted (the check is the expiry)
    assert requests.get(signer.sign(bare), timeout=30).status_code == 200


def test_private_manifest_holds_no_urls_and_is_served_signed(
    private: tuple[Pipeline, str, str],
) -> None:
    pipeline, url, _ = private
    pid, image = _published(pipeline, url)
    manifest = requests.get(image["manifestUrl"], timeout=30)
    assert manifest.status_code == 200, manifest.text
    assert requests.get(image["manifestUrl"].split("?")[0], timeout=30).status_code == 403
    # The manifest names keys only: no URL that outlives a signature.
    document = manifest.json()
    assert "http" not in manifest.text and "responsive" not in document
    assert [v["key"] for v in document["variants"]] == [v["key"] for v in image["variants"]]
    # AND `imgpipe status` signs as the API does
    status = json.loads(
        _cli(
            "status", pid, "--json",
            "--stack-name", pipeline.stack_name,
            "--endpoint-url", pipeline.engine.endpoint_url,
        )
    )  # fmt: skip
    for variant in status["variants"]:
        assert requests.get(variant["url"], timeout=30).status_code == 200
        assert requests.get(variant["url"].split("?")[0], timeout=30).status_code == 403


def _notified(pipeline: Pipeline, pid: str) -> list[dict[str, Any]]:
    """The EventBridge event's detail and the SNS message of the upload's success."""

    def both() -> list[dict[str, Any]] | None:
        events, sns = pipeline.notifications(pid)
        return [events[0]["detail"], sns[0]] if events and sns else None

    found: list[dict[str, Any]] = wait_for(both, timeout=30)
    return found


def test_private_notifications_name_keys_but_carry_no_url(
    private: tuple[Pipeline, str, str], pipeline: Pipeline
) -> None:
    private_pipeline, url, _ = private
    # GIVEN a published upload of a Delivery=private stack
    pid, image = _published(private_pipeline, url)
    keys = {v["variant"]: v["key"] for v in image["variants"]}
    # THEN its event and SNS message name every variant's key and size, and hold no URL (an
    # unsigned one the CDN refuses, a signed one every subscriber could use until it expires)
    for message in _notified(private_pipeline, pid):
        assert {name: r["key"] for name, r in message["renditions"].items()} == keys
        assert all(r["width"] > 0 and r["bytes"] > 0 for r in message["renditions"].values())
        assert message["manifestKey"] == f"images/{pid}/manifest.json"
        assert "variants" not in message and "manifestUrl" not in message
        assert "http" not in json.dumps(message), message
    # AND a Delivery=public stack's still carry the variants' URLs
    public_pid = pipeline.upload(f"uploads/{uuid.uuid4().hex}", photo(640, 480, "JPEG"))
    record = pipeline.wait_done(public_pid)
    # (derived by Notify from the keys and PublicBaseUrl: the record and the state hold no URL)
    base = pipeline.outputs["PublicBaseUrl"]
    urls = {v["variant"]: f"{base}/{v['key']}" for v in record["variants"]}
    for message in _notified(pipeline, public_pid):
        assert message["variants"] == urls
        assert message["manifestUrl"] == f"{base}/images/{public_pid}/manifest.json"
        assert {n: r["key"] for n, r in message["renditions"].items()} == {
            v["variant"]: v["key"] for v in record["variants"]
        }


def test_original_is_deleted_after_success_and_a_rerun_is_rejected_source_not_found(
    private: tuple[Pipeline, str, str],
) -> None:
    pipeline, url, _ = private
    s3 = pipeline.client("s3")
    bucket = pipeline.outputs["PrivateBucketName"]
    # GIVEN OriginalRetention=delete and an upload whose key had two versions
    key = f"uploads/{uuid.uuid4().hex}"
    s3.put_object(Bucket=bucket, Key=key, Body=b"an earlier version")
    pid = pipeline.upload(key, photo(800, 500, "PNG"), "image/png")
    record = pipeline.wait_done(pid)
    assert record["status"] == "SUCCEEDED"
    # THEN no version and no delete marker of the original is left
    listed = s3.list_object_versions(Bucket=bucket, Prefix=key)
    assert listed.get("Versions", []) == [] and listed.get("DeleteMarkers", []) == []
    # AND the record, GET /images/{id} and `imgpipe status` say when it went
    deadline = time.monotonic() + 30
    while "originalDeletedAt" not in record and time.monotonic() < deadline:
        time.sleep(0.2)
        record = pipeline.record(pid) or {}
    assert record["originalDeletedAt"] >= record["completedAt"]
    shown = requests.get(f"{url}/images/{pid}", timeout=30).json()
    assert shown["originalDeletedAt"] == record["originalDeletedAt"]
    text = _cli(
        "status", pid, "--stack-name", pipeline.stack_name,
        "--endpoint-url", pipeline.engine.endpoint_url,
    )  # fmt: skip
    assert f"deleted {record['originalDeletedAt']}" in text
    # AND the published variants are still served
    assert all(requests.get(v["url"], timeout=30).status_code == 200 for v in shown["variants"])
    # WHEN it is re-run
    assert pipeline.cli("rerun", pid) == 0
    again = pipeline.wait_done(pid, attempt=2)
    # THEN it ends REJECTED SOURCE_NOT_FOUND, saying the original was deleted
    assert again["status"] == "REJECTED" and again["rejectionCode"] == "SOURCE_NOT_FOUND"
    assert record["originalDeletedAt"] in again["rejectionMessage"]
    assert "OriginalRetention" in again["rejectionMessage"]


def test_rejected_upload_keeps_its_original(private: tuple[Pipeline, str, str]) -> None:
    pipeline, _, _ = private
    key = f"uploads/{uuid.uuid4().hex}"
    pid = pipeline.upload(key, b"not an image at all", "image/png")
    record = pipeline.wait_done(pid)
    assert record["status"] == "REJECTED" and "originalDeletedAt" not in record
    listed = pipeline.client("s3").list_object_versions(
        Bucket=pipeline.outputs["PrivateBucketName"], Prefix=key
    )
    assert len(listed.get("Versions", [])) == 1


@pytest.mark.browser
def test_the_web_page_shows_private_variants_through_signed_urls(
    private: tuple[Pipeline, str, str],
    page: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    _, url, _ = private
    source = tmp_path / "private.png"
    source.write_bytes(photo(960, 640, "PNG"))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url + "/", wait_until="networkidle")
    page.set_input_files("#file", str(source))
    card = page.locator(".card").first
    card.locator(".status.SUCCEEDED").wait_for(timeout=60_000)
    # THEN every variant image loads, each from a signed URL
    page.wait_for_function(
        "() => { const shown = [...document.querySelectorAll('.card .variant img')];"
        " return shown.length > 0 && shown.every(i => i.complete && i.naturalWidth > 0); }",
        timeout=15_000,
    )
    sources = card.locator(".variant img").evaluate_all("images => images.map(i => i.src)")
    assert sources and all("Signature=" in s and "Key-Pair-Id=" in s for s in sources)
    assert errors == []
