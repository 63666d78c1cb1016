"""A post whose platform id is not its filed id (Telegram's "channel/123", filed "channel:123") is found
by every path that goes from an article to its posts: search and export by article, the articles a post
is in, restore by post, the takedown rule. Real components (file storage, SQLite catalog); the embeds are
markup-only captures, so nothing is fetched."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import pytest

from archiver.catalog.backend import open_catalog
from archiver.cli.kinds import post_ref
from archiver.config.settings import Settings
from archiver.health.originals import taken_down_items
from archiver.health.restore import articles_of_post, parse_post, takedown_post
from archiver.records.result import EmbedResult
from archiver.runners.local import archive
from archiver.runtime import Runtime
from archiver.steps.prepare import load_plan
from archiver.steps.results import load_results
from archiver.storage.layout import filed_post_id, filed_post_id_of

FILED = "lakemontalerts:512"
PAGE = b"""<html><body><p>The alerts channel posted:</p>
<script async src="https://telegram.org/js/telegram-widget.js?22" data-telegram-post="lakemontalerts/512"
 data-width="100%"></script>
</body></html>"""


@pytest.fixture
def rt(tmp_settings: Callable[..., Settings]) -> Runtime:
    rt = Runtime.from_settings(tmp_settings(fetch_retries=0))
    report = archive(rt, PAGE, article_id="alerts", url="https://news.example/alerts")
    # The platform's ids, as the report names them; filed with ":" in storage.
    assert {e["post_id"] for e in report["embeds"]} == {"lakemontalerts/512"}
    return rt


def test_the_filed_id_rule() -> None:
    assert filed_post_id("durov/43") == "durov:43"
    assert filed_post_id("durov:43") == "durov:43"          # idempotent
    assert filed_post_id("c/1234567/89") == "c:1234567:89"
    assert filed_post_id("1945048830047662087") == "1945048830047662087"
    assert filed_post_id("../etc") is None and filed_post_id("") is None and filed_post_id(None) is None
    # A stored capture's key wins: a post the markup gave no id is filed under a hash.
    assert filed_post_id_of("posts/telegram/unresolved-ab12/20250101T000000Z-0123abcd.json", None) == "unresolved-ab12"
    assert filed_post_id_of("not a key", "durov/43") == "durov:43"


def test_the_catalog_joins_an_article_to_its_posts(rt: Runtime) -> None:
    items = rt.catalog.query("SELECT post_id FROM items WHERE article_id = 'alerts' ORDER BY post_id")
    assert [r["post_id"] for r in items] == [FILED]
    found = rt.catalog.search(article_id="alerts").to_json()
    assert sorted(h["post_id"] for h in found["hits"]) == [FILED]
    assert all(h["articles"] == ["alerts"] for h in found["hits"])
    assert articles_of_post(rt, "telegram", FILED) == ["alerts"]


def test_a_post_named_as_the_platform_writes_it(rt: Runtime) -> None:
    assert parse_post("telegram/lakemontalerts/512") == ("telegram", FILED)
    assert parse_post(f"telegram/{FILED}") == ("telegram", FILED)
    assert post_ref("telegram/lakemontalerts/512") == f"telegram/{FILED}"
    assert post_ref("telegram/c/1234567/89") == "telegram/c:1234567:89"
    with pytest.raises(argparse.ArgumentTypeError):
        post_ref("telegram/../x")


def test_a_takedown_covers_the_item_that_embeds_the_post(rt: Runtime) -> None:
    plan = load_plan(rt, "alerts")
    results = load_results(rt, plan)
    item = next(i for i, r in results.items() if isinstance(r, EmbedResult) and r.filed_id == FILED)
    assert results[item].post_id == "lakemontalerts/512"
    assert taken_down_items(rt, "alerts") == set()
    takedown_post(rt, None, "telegram", FILED, on=True, reason="court order")
    assert taken_down_items(rt, "alerts") == {item}


def test_a_catalog_an_older_release_wrote_is_upgraded_once(rt: Runtime) -> None:
    # What an older release wrote: the platform's id in items, no record of the upgrade.
    rt.catalog.execute("UPDATE items SET post_id = 'lakemontalerts/512' WHERE post_id = ?", [FILED])
    rt.catalog.execute("DELETE FROM catalog_meta WHERE name = 'item_post_ids'")
    assert articles_of_post(rt, "telegram", FILED) == []
    reopened = open_catalog(rt.settings.catalog_url)
    assert [r["post_id"] for r in reopened.query("SELECT post_id FROM items WHERE provider = 'telegram' "
                                                 "ORDER BY post_id")] == [FILED]
    assert reopened.query("SELECT value FROM catalog_meta WHERE name = 'item_post_ids'") == [{"value": "filed"}]


def test_one_telegram_post_however_an_article_spells_its_channel(tmp_settings: Callable[..., Settings]) -> None:
    """Telegram usernames are case-insensitive: LakemontAlerts/512 is lakemontalerts/512, one post filed
    once, so one takedown covers every article showing it."""
    rt = Runtime.from_settings(tmp_settings(fetch_retries=0))
    archive(rt, PAGE, article_id="lower", url="https://news.example/lower")
    archive(rt, PAGE.replace(b"lakemontalerts/512", b"LakemontAlerts/512"), article_id="mixed",
            url="https://news.example/mixed")
    assert articles_of_post(rt, "telegram", FILED) == ["lower", "mixed"]
    takedown_post(rt, None, "telegram", FILED, on=True, reason="court order")
    assert taken_down_items(rt, "mixed") and taken_down_items(rt, "lower")
    rt.close()


@pytest.mark.parametrize("value", ["lakemontalerts/٥١٢", "lakeмонт/512", "lakemontalerts/５１２"])
def test_telegram_ids_are_ascii_as_telegram_issues_them(value: str) -> None:
    from archiver.discover.urls import match_post_url
    from archiver.providers.telegram import telegram_post

    assert telegram_post(value) is None and match_post_url(f"https://t.me/{value}") is None


def test_a_post_id_that_cannot_be_a_key_is_filed_under_a_hash() -> None:
    from archiver.discover.model import Embed
    from archiver.providers.markup import filing_id
    from archiver.storage.layout import safe_post_id

    for bad in ("a/../b", "lakemontalerts/٥١٢", "x" * 300, "..", "a b"):
        filed = filing_id(Embed("telegram", bad, None, 0, 1))
        assert filed.startswith("unresolved-") and safe_post_id(filed), (bad, filed)
    assert filing_id(Embed("telegram", "a/../b", None, 0, 1)) != filing_id(Embed("telegram", "a/../c", None, 0, 1))
