"""The inline card renderer on hostile manifests: whatever the manifest holds, the card is one balanced,
inert, bounded fragment whose only URLs are the capture page and stable copies."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup

from archiver.capture.cards.inline import (
    MAX_INLINE_MEDIA,
    MAX_NAME_CHARS,
    InlineCard,
    gone_note,
    inline_card_html,
)
from archiver.storage.local import LocalStore
from tests.test_card_v2 import manifest

BASE = "https://archive.example/media"
PAGE = f"{BASE}/posts/twitter/1/20250715T091233Z-0123abcd.html"


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "objects", BASE)


def card(m: dict[str, Any], store: LocalStore, **kw: Any) -> str:
    return inline_card_html(m, store, InlineCard(PAGE, "https://twitter.com/x/status/1", "2025-07-15T09:12:33Z",
                                                 **kw))


HOSTILE: list[dict[str, Any]] = [
    {"text": "a\ud800b <script>x</script>", "text_expanded": None},
    {"provider": '"><script>alert(1)</script>', "post_id": "' onmouseover='x", "lang": '"><x onload=1'},
    {"author": {"name": "N" * 50_000 + '"><img src=x onerror=1>', "handle": "h" * 5000}},
    {"media": [{"type": "photo", "status": "archived", "key": "javascript:alert(1)", "alt_text": "x"},
               {"type": "photo", "status": "archived", "key": "../../etc/passwd", "alt_text": "y"},
               {"type": "video", "status": "archived", "key": "https://evil.example/v.mp4",
                "poster_key": "//evil.example/p.jpg"},
               *({"type": "photo", "status": "archived", "key": f"blobs/sha256/00/{i:064x}", "alt_text": "\u202e" * 3,
                  "width": True, "height": -4} for i in range(500))]},
    {"created_at": {"not": "a date"}, "attribution": "nope", "quoted": {"manifest_key": "../x"}},
    {"status": "deleted", "tombstone": "<b>gone</b>" * 1000},
]


@pytest.mark.parametrize("fields", HOSTILE, ids=[f"case{i}" for i in range(len(HOSTILE))])
def test_hostile_manifests_give_an_inert_bounded_fragment(store: LocalStore, fields: dict[str, Any]) -> None:
    m = {**manifest(), **fields}
    out = card(m, store, gone=gone_note(m))
    ET.fromstring(out)  # balanced and well-formed
    assert len(out) < 200_000
    soup = BeautifulSoup(out, "html5lib")
    root = soup.find("blockquote", class_="archiver-card")
    assert root is not None and soup.find_all("script") == [] and soup.find("x") is None
    for el in soup.body.find_all(True):
        for name, value in el.attrs.items():
            assert not name.startswith("on") and name != "style", (el.name, name)
            if name in ("src", "href", "cite", "poster", "data-versionurl"):
                assert value == PAGE or value.startswith(f"{BASE}/blobs/sha256/"), (el.name, name, value)
    assert len(root.find_all("img")) <= MAX_INLINE_MEDIA
    name = root.find("bdi", class_="archiver-card-name")
    assert name is not None and len(name.get_text()) <= MAX_NAME_CHARS
    assert "\ud800" not in out and "\u202e" not in out


def test_gone_statuses_say_so_and_others_do_not() -> None:
    assert gone_note(manifest("deleted")).startswith("No longer available at the source. The post has been deleted")
    assert "withheld by the platform" in gone_note(manifest("withheld", withheld_in_countries=["DE"]))
    assert gone_note(manifest("archived")) == "" and gone_note(manifest("failed")) == "" and gone_note(None) == ""


def test_amp_photos_without_a_size_are_links_to_their_copies(store: LocalStore) -> None:
    """AMP has no <img>, and an amp-img needs its size: a photo whose size the manifest lacks is a
    link to its stable copy."""
    m = manifest()
    key = "blobs/sha256/ab/ab" + "0" * 62
    m["media"] = [{"type": "photo", "status": "archived", "key": key, "alt_text": "x"},
                  {"type": "photo", "status": "archived", "key": key, "alt_text": "y", "width": 10, "height": 5}]
    soup = BeautifulSoup(card(m, store, amp=True), "html5lib")
    assert soup.find_all("img") == []
    assert [a["href"] for a in soup.find_all("a", class_="archiver-card-photo-link")] == [f"{BASE}/{key}"]
    assert [(i["width"], i["alt"]) for i in soup.find_all("amp-img")] == [("10", "y")]
    plain = BeautifulSoup(card(m, store), "html5lib")
    assert [i["alt"] for i in plain.find_all("img", class_="archiver-card-photo")] == ["x", "y"]
