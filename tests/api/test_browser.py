"""The web page in headless Chromium: upload an image, watch variants and the trace appear."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import ROOT, Api, image_bytes

pytestmark = [
    pytest.mark.engine,
    pytest.mark.browser,
    pytest.mark.xdist_group("api"),
    pytest.mark.filterwarnings("ignore:Tried to parse AWS::ApiGatewayV2"),
]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def page() -> Any:
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium: run `make browser-deps` (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 1000})
        finally:
            browser.close()


def test_upload_on_the_page_shows_variants_and_trace(api: Api, page: Any, tmp_path: Path) -> None:
    # GIVEN the page served by the local API, and an image on disk
    source = tmp_path / "sunset.png"
    source.write_bytes(image_bytes(960, 640))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(api.url + "/", wait_until="networkidle")
    assert page.title() == "imgpipe"
    # WHEN the user picks the file
    page.set_input_files("#file", str(source))
    # THEN the card goes through the statuses and ends SUCCEEDED with every variant shown
    card = page.locator(".card").first
    card.locator(".status.SUCCEEDED").wait_for(timeout=60_000)
    images = card.locator(".variant img")
    assert images.count() == 4
    page.wait_for_function(
        "() => [...document.querySelectorAll('.variant img')].every(i => i.naturalWidth > 0)",
        timeout=15_000,
    )
    captions = card.locator(".variant figcaption").all_inner_texts()
    assert any(c.startswith("medium · 800\u00d7533") for c in captions), captions
    assert "original 960\u00d7640" in card.locator(".detail").inner_text()
    # AND the trace renders one row per state visit, Map iterations included
    card.locator(".timeline:not([hidden]) .span").first.wait_for(timeout=15_000)
    labels = card.locator(".span .label").all_inner_texts()
    assert "Validate Upload" in labels and labels.count("Resize Variant") == 4
    # AND the recent list shows it with a re-run button
    upload_id = card.get_attribute("data-upload-id")
    page.locator(f"#recent tr[data-id='{upload_id}'] button.rerun").wait_for(timeout=10_000)
    # AND the row names the file, shows its thumbnail and a time a person reads, exact on hover
    row = page.locator(f"#recent tr[data-id='{upload_id}']")
    assert row.locator(".filename").inner_text() == "sunset.png"
    row.locator("img.thumb").wait_for(timeout=10_000)
    page.wait_for_function(
        f"() => document.querySelector(\"#recent tr[data-id='{upload_id}'] img.thumb\")"
        ".naturalWidth > 0",
        timeout=15_000,
    )
    when = row.locator("time.when")
    assert when.inner_text() in ("just now", "1 min ago", "2 min ago")
    exact = when.get_attribute("title") or ""
    assert exact and exact != when.inner_text() and when.get_attribute("datetime")
    assert errors == []
    screenshot = tmp_path / "upload.png"
    page.screenshot(path=str(screenshot), full_page=True)
    keep = ROOT / "out" / "screenshots"
    keep.mkdir(parents=True, exist_ok=True)
    shutil.copy(screenshot, keep / "test_browser_upload.png")


def test_a_backfill_started_on_the_page_shows_its_progress(api: Api, page: Any) -> None:
    # GIVEN the page, and a backfill that selects records updated in the future (none)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(api.url + "/", wait_until="networkidle")
    page.fill("#backfill-since", "2999-01-01T00:00")
    # WHEN the user starts it
    page.click("#backfill-form button[type=submit]")
    # THEN the progress bar follows it to its end
    page.locator("#backfill-progress[data-status='SUCCEEDED']").wait_for(timeout=60_000)
    text = page.locator("#backfill-progress .backfill-text").inner_text()
    assert text.startswith("backfill-") and text.endswith("SUCCEEDED 0/0"), text
    assert page.locator("#backfill-progress progress").get_attribute("value") == "1"
    assert errors == []
