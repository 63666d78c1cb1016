"""The catalog behaves the same on SQLite and on a real PostgreSQL started by the harness."""

from __future__ import annotations

from pathlib import Path

import pytest

from archiver.catalog.backend import open_catalog
from archiver.catalog.core import Catalog
from archiver.errors import ConfigError


@pytest.fixture(params=["sqlite", "postgres"])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Catalog:
    if request.param == "sqlite":
        cat = open_catalog(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    else:
        dsn = request.getfixturevalue("postgres_dsn")
        cat = open_catalog(dsn)
        for table in ("articles", "items", "captures", "blobs", "blob_uses", "url_fetches", "versions"):
            cat.execute(f"DROP TABLE IF EXISTS {table}")
        cat._ready = False
    yield cat
    cat.close()


def test_articles_and_versions(catalog: Catalog) -> None:
    catalog.record_article(article_id="a1", url="https://n.example/s", source_sha256="s1", encoding="utf-8",
                           status="capturing", created_at="2026-01-01T00:00:00Z", updated_at="2026-01-01T00:00:00Z")
    catalog.record_article(article_id="a1", url="https://n.example/s", source_sha256="s1", encoding="utf-8",
                           status="complete", created_at="2026-02-01T00:00:00Z", updated_at="2026-02-01T00:00:00Z")
    row = catalog.article("a1")
    assert row["status"] == "complete"
    assert row["created_at"] == "2026-01-01T00:00:00Z"  # the first sighting is kept
    for n in (1, 2):
        catalog.record_version(article_id="a1", version=n, key=f"articles/a1/v{n}", sha256=f"h{n}",
                               source_sha256="s1", reason="archive", created_at=f"2026-01-0{n}T00:00:00Z")
    catalog.record_version(article_id="a1", version=1, key="articles/a1/v1", sha256="h1",
                           source_sha256="s1", reason="archive", created_at="2026-01-01T00:00:00Z")
    assert [v["version"] for v in catalog.versions("a1")] == [1, 2]
    assert catalog.article("a1")["current_version"] == 2
    assert catalog.article("missing") is None


def test_captures_freshness_and_unicode(catalog: Catalog) -> None:
    text = "भारत-रूस संबंधों को मिला नया आयाम — ‏مرحبا 🎉"
    for cid, at, status in [("c1", "2026-01-01T00:00:00Z", "archived"), ("c2", "2026-01-05T00:00:00Z", "archived"),
                            ("c3", "2026-01-06T00:00:00Z", "unavailable")]:
        catalog.record_capture(capture_id=cid, provider="twitter", post_id="1945048830047662087",
                               url="https://twitter.com/ANI/status/1945048830047662087", status=status,
                               manifest_key=f"posts/twitter/1945048830047662087/{cid}.json", captured_at=at,
                               handle="ANI", author="ANI", text=text, posted_at="2025-07-15T09:12:33Z")
    fresh = catalog.latest_capture("twitter", "1945048830047662087", "2026-01-02T00:00:00Z", ["archived"])
    assert fresh["capture_id"] == "c2"
    assert fresh["text"] == text
    assert catalog.latest_capture("twitter", "1945048830047662087", "2026-01-07T00:00:00Z", ["archived"]) is None
    assert [c["capture_id"] for c in catalog.captures("twitter", "1945048830047662087")] == ["c1", "c2", "c3"]


def test_blobs_uses_and_url_fetches(catalog: Catalog) -> None:
    catalog.record_blob(sha256="ab" * 32, key="blobs/sha256/ab/" + "ab" * 32, mime="image/jpeg", bytes=10,
                        width=2, height=3, dhash="ff00")
    catalog.record_blob(sha256="ab" * 32, key="blobs/sha256/ab/" + "ab" * 32, mime="image/jpeg", bytes=10,
                        width=2, height=3, dhash="ff00")
    for article, pos in [("a1", 10), ("a2", 5), ("a1", 10)]:
        catalog.record_blob_use("ab" * 32, article, pos, "https://img.example/x.jpg")
    assert [(u["article_id"], u["position"]) for u in catalog.blob_uses("ab" * 32)] == [("a1", 10), ("a2", 5)]
    catalog.record_url_fetch("https://img.example/x.jpg", "ab" * 32, "2026-01-01T00:00:00Z")
    assert catalog.recent_url_fetch("https://img.example/x.jpg", "2025-12-01T00:00:00Z")["sha256"] == "ab" * 32
    assert catalog.recent_url_fetch("https://img.example/x.jpg", "2026-02-01T00:00:00Z") is None


def test_values_are_bound_not_interpolated(catalog: Catalog) -> None:
    evil = "x'); DROP TABLE items; --"
    catalog.record_item(article_id=evil, source_sha256="s", item_id="i", kind="image", provider=None,
                        post_id=None, url=evil, status="failed", error=evil, manifest_key=None, sha256=None,
                        stable_url=None, occurrences=1, updated_at="2026-01-01T00:00:00Z")
    assert catalog.items(evil, "s")[0]["error"] == evil


def test_unknown_catalog_url() -> None:
    with pytest.raises(ConfigError):
        open_catalog("mysql://x")


def test_outside_text_with_nul_is_recorded_and_found(catalog: Catalog) -> None:
    """A NUL (U+0000) in a post's text, author or URL, in a fetched URL and in a search: PostgreSQL's text
    cannot hold it, so that catalog stores U+FFFD in its place (postgres.nul_free_text); writes and
    look-ups replace alike, so nothing fails and an exact match still finds its row. SQLite keeps it."""
    nul = "\x00"
    kept = nul if catalog.backend.placeholder == "?" else "\ufffd"
    catalog.record_capture(capture_id="n1", provider="twitter", post_id="1945048830047662001",
                           url=f"https://twitter.com/Desk{nul}/status/1945048830047662001", status="archived",
                           manifest_key="posts/twitter/1945048830047662001/n1.json",
                           captured_at="2026-01-01T00:00:00Z", handle="Desk", author=f"Coast{nul}Desk",
                           text=f"Sluice{nul}gates open at the dam", posted_at="2025-07-15T09:12:33Z")
    row = catalog.latest_capture("twitter", "1945048830047662001", "2025-12-01T00:00:00Z", ["archived"])
    assert (row["text"], row["author"]) == (f"Sluice{kept}gates open at the dam", f"Coast{kept}Desk")
    catalog.record_url_fetch(f"https://img.example/a{nul}b.jpg", "ab" * 32, "2026-01-01T00:00:00Z")
    assert catalog.recent_url_fetch(f"https://img.example/a{nul}b.jpg", "2025-12-01T00:00:00Z")["sha256"] == "ab" * 32
    assert [h["post_id"] for h in catalog.search(f"dam{nul}").hits] == ["1945048830047662001"]
    assert [h["post_id"] for h in catalog.search("gates", author=f"Coast{nul}Desk").hits] in (
        [], ["1945048830047662001"])   # an author filter is words of the name; it must not fail


def test_an_older_catalogs_items_name_posts_by_their_filed_id(catalog: Catalog) -> None:
    """Releases before filed ids named an embed's post in items by the platform's id (Telegram's
    "durov/43"); opening the catalog files them as storage does ("durov:43"), once."""
    row = {"article_id": "a1", "source_sha256": "s1", "kind": "embed", "provider": "telegram", "status": "archived",
           "occurrences": 1, "updated_at": "2026-01-01T00:00:00Z"}
    catalog.record_item(**row, item_id="i1", post_id="durov/43", url="https://t.me/durov/43")
    catalog.record_item(**row, item_id="i2", post_id="c/1234567/89", url="https://t.me/c/1234567/89")
    catalog.record_item(**{**row, "provider": "twitter"}, item_id="i3", post_id="20", url="https://x.com/a/status/20")
    catalog.execute("DELETE FROM catalog_meta WHERE name = 'item_post_ids'")
    catalog._ready = False  # as a process opening it
    got = catalog.query("SELECT item_id, post_id FROM items WHERE article_id = 'a1' ORDER BY item_id")
    assert [(r["item_id"], r["post_id"]) for r in got] == [("i1", "durov:43"), ("i2", "c:1234567:89"), ("i3", "20")]
    # Once: an id written afterwards as it is stays as it is (a writer always gives the filed id).
    catalog.record_item(**row, item_id="i4", post_id="x/1", url="https://t.me/x/1")
    catalog._ready = False
    assert catalog.query("SELECT post_id FROM items WHERE item_id = 'i4'") == [{"post_id": "x/1"}]
