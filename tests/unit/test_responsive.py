"""Responsive sets: srcset lists per format by width, and a <picture> snippet."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from imgpipe_core import responsive


def variant(name: str, width: int, height: int, kind: str) -> dict[str, Any]:
    ext = kind.split("/")[1]
    return {
        "variant": name,
        "url": f"https://cdn.test/images/p/{name}.{ext}",
        "width": width,
        "height": height,
        "contentType": kind,
    }


DEFAULTS = [
    variant("thumbnail", 300, 200, "image/jpeg"),
    variant("large", 1920, 1280, "image/jpeg"),
    variant("medium", 800, 533, "image/jpeg"),
    variant("webp", 3000, 2000, "image/webp"),
    variant("square", 300, 300, "image/jpeg"),  # a cover crop: another picture
    variant("avif-800", 800, 533, "image/avif"),
]


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_srcsets_by_format_sorted_by_width_and_only_same_aspect() -> None:
    found = responsive.build(DEFAULTS, (3000, 2000))

    assert found is not None
    assert [(s.type, s.widths) for s in found.sources] == [
        ("image/avif", [800]),
        ("image/webp", [3000]),
        ("image/jpeg", [300, 800, 1920]),
    ]
    jpeg = found.sources[-1].srcset
    urls = {v["variant"]: v["url"] for v in DEFAULTS}
    assert jpeg == f"{urls['thumbnail']} 300w, {urls['medium']} 800w, {urls['large']} 1920w"
    assert "square" not in jpeg
    assert (found.src, found.width, found.height) == (DEFAULTS[1]["url"], 1920, 1280)


def test_picture_snippet_is_valid_html_with_sources_before_the_img() -> None:
    found = responsive.build(DEFAULTS, (3000, 2000))
    assert found is not None

    parser = Tags()
    parser.feed(found.picture)

    assert [tag for tag, _ in parser.tags] == ["picture", "source", "source", "img"]
    assert [attrs["type"] for _, attrs in parser.tags[1:3]] == ["image/avif", "image/webp"]
    img = parser.tags[-1][1]
    assert (img["width"], img["height"], img["sizes"]) == ("1920", "1280", "100vw")
    assert img["srcset"] == found.sources[-1].srcset


def test_urls_are_escaped_in_the_snippet() -> None:
    odd = [variant("a", 100, 100, "image/jpeg") | {"url": 'https://cdn.test/a".jpg?x=1&y=2'}]

    found = responsive.build(odd, None)

    assert found is not None
    assert "&quot;" in found.picture and "&amp;y=2" in found.picture


def test_without_a_fallback_format_there_is_no_picture() -> None:
    assert responsive.build([variant("w", 100, 100, "image/gif")], None) is None


def test_for_record_uses_the_record_variants_and_source_size() -> None:
    record = {"variants": DEFAULTS, "image": {"width": 3000, "height": 2000}}

    found = responsive.for_record(record)

    assert found is not None and found.sources[-1].widths == [300, 800, 1920]
    assert responsive.for_record({"variants": []}) is None
