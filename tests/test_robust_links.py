"""Robust Links on the rewritten article, one set per link: an element held by several occurrences (an
AMP placeholder inside its <amp-twitter>) gets each attribute once, a <noscript> copy does not take
them from the visible link, and a set someone else put on a link (a Wayback Machine Memento) stays."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator

import pytest
from bs4 import BeautifulSoup

from archiver.article.splice import add_robust_links, on_public_archive
from archiver.article.versions import versions
from archiver.config.settings import Settings
from archiver.runners.local import archive
from archiver.runtime import Runtime
from archiver.steps.finalize import outermost
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture

TWEET = "1765709230920277604"
POST = f"https://twitter.com/x/status/{TWEET}"
LINK = f'<a href="{POST}">March 5, 2024</a>'
QUOTE = f'<blockquote class="twitter-tweet" data-lang="en"><p>Hello</p>&mdash; X (@x) {LINK}</blockquote>'
AMP = (f'<amp-twitter data-tweetid="{TWEET}" layout="responsive" width="375" height="472">'
       f'{QUOTE.replace("<blockquote ", "<blockquote placeholder ")}</amp-twitter>')
NOSCRIPT = f"{QUOTE}<noscript>{QUOTE}</noscript>"
WAYBACK = f"https://web.archive.org/web/20240305000000/{POST}"
THEIRS = f'data-originalurl="{POST}" data-versionurl="{WAYBACK}" data-versiondate="2024-03-05"'
BASE = "https://archive.example/media"


def page(body: str) -> bytes:
    return f"<!DOCTYPE html><html><head><title>t</title></head><body><p>Story</p>\n{body}\n</body></html>".encode()


def start_tags_of_links(text: str) -> list[str]:
    """The start tag of every link to the post, as written."""
    return re.findall(rf'<a href="{re.escape(POST)}"[^>]*>', text)


def robust_attrs(tag: str) -> list[str]:
    """The Robust Links attribute names of one start tag, repeats included."""
    return re.findall(r"\s(data-(?:originalurl|versionurl|versiondate))=", tag)


# --- the rule, on markup ------------------------------------------------------------------------------------
def test_the_visible_link_and_its_noscript_copy_each_get_the_set() -> None:
    out = add_robust_links(NOSCRIPT, POST, "https://m.example/v", "2024-03-05")
    visible, hidden = start_tags_of_links(out)
    assert robust_attrs(visible) == robust_attrs(hidden) == ["data-originalurl", "data-versionurl",
                                                              "data-versiondate"]
    assert visible == hidden
    assert add_robust_links(out, POST, "https://m.example/v", "2024-03-05") == out
    soup = BeautifulSoup(out, "html5lib")
    assert soup.find("blockquote").find("a")["data-versionurl"] == "https://m.example/v"


def test_someone_elses_set_on_the_post_link_stays() -> None:
    theirs = QUOTE.replace(LINK, f'<a href="{POST}" {THEIRS}>March 5, 2024</a>')
    assert add_robust_links(theirs, POST, "https://m.example/v", "2024-03-05") == theirs
    # on a wrapper too, and a bare data-versiondate (the date the author linked) on the link
    wrapped = f'<div data-versionurl="https://perma.cc/ABCD-1234">{QUOTE}</div>'
    out = add_robust_links(wrapped, POST, "https://m.example/v", "2024-03-05")
    assert 'data-versionurl="https://perma.cc/ABCD-1234"' in out and out.count("data-versionurl") == 2
    dated = QUOTE.replace(LINK, f'<a href="{POST}" data-versiondate="2024-03-05">March 5, 2024</a>')
    assert add_robust_links(dated, POST, "https://m.example/v", "2025-01-01") == dated
    # The caller says what is ours: anything else stays, even off the public archives.
    ours = QUOTE.replace(LINK, f'<a href="{POST}" data-versionurl="https://me.example/p/1.html">March 5, 2024</a>')
    other = QUOTE.replace(LINK, f'<a href="{POST}" data-versionurl="https://them.example/m/1">March 5, 2024</a>')
    mine = lambda url: url.startswith("https://me.example/")  # noqa: E731
    updated = add_robust_links(ours, POST, "https://me.example/p/2.html", "d", ours=mine)
    assert robust_attrs(start_tags_of_links(updated)[0]) == ["data-originalurl", "data-versionurl", "data-versiondate"]
    assert "p/1.html" not in updated and "p/2.html" in updated
    assert add_robust_links(other, POST, "https://me.example/p/2.html", "d", ours=mine) == other


def test_public_archives_are_known_by_host() -> None:
    assert on_public_archive(WAYBACK) and on_public_archive("https://archive.ph/abcde")
    assert on_public_archive("https://PERMA.CC/X") and on_public_archive("http://wayback.archive-it.org/1/2/x")
    assert not on_public_archive("https://archive.example/media/posts/twitter/1/x.html")
    assert not on_public_archive("https://notarchive.org/x") and not on_public_archive("http://[bad")


def test_spans_inside_another_are_rewritten_with_it() -> None:
    assert outermost([(20, 304), (113, 290), None, (20, 304), (400, 500), (450, 600)]) == [
        (20, 304), (400, 500), (450, 600)]
    assert outermost([(5, 9), (5, 12)]) == [(5, 12)]


# --- end to end ----------------------------------------------------------------------------------------------
@pytest.fixture
def rt(tmp_settings: Callable[..., Settings]) -> Iterator[Runtime]:
    with (FixtureOrigin(tweets=[TweetFixture(id=TWEET, handle="x", name="X", text="Hello")]) as origin,
          Runtime.from_settings(tmp_settings(**origin.settings_overrides(), public_base_url=BASE)) as runtime):
        yield runtime


def archived(rt: Runtime, source: bytes, article_id: str) -> str:
    rep = archive(rt, source, article_id=article_id)
    assert [e["status"] for e in rep["embeds"]] == ["archived"], rep
    return rt.store.get(versions(rt, article_id)[-1].key).decode()


def test_an_amp_placeholder_link_gets_each_attribute_once_and_again_nothing_changes(
        rt: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    text = archived(rt, page(AMP), "amp")
    [tag] = start_tags_of_links(text)
    assert robust_attrs(tag) == ["data-originalurl", "data-versionurl", "data-versiondate"]
    assert f'data-versionurl="{BASE}/posts/twitter/{TWEET}/' in tag
    # Archived again (as a new source under the same id, and as another article): nothing changes.
    assert archived(rt, text.encode(), "amp") == text
    assert archived(rt, text.encode(), "amp-again") == text
    assert [v.version for v in versions(rt, "amp")] == [1]
    assert "overlapping" not in caplog.text


def test_the_visible_blockquote_link_is_decorated_beside_its_noscript_copy(rt: Runtime) -> None:
    text = archived(rt, page(NOSCRIPT), "ns")
    visible, hidden = start_tags_of_links(text)
    assert robust_attrs(visible) == ["data-originalurl", "data-versionurl", "data-versiondate"]
    assert visible == hidden
    assert text.index(visible) < text.index("<noscript>")
    assert archived(rt, text.encode(), "ns") == text


def test_a_wayback_memento_on_the_post_link_is_kept(rt: Runtime) -> None:
    source = page(QUOTE.replace(LINK, f'<a href="{POST}" {THEIRS}>March 5, 2024</a>'))
    text = archived(rt, source, "wb")
    assert text.encode() == source  # their set is the link's one set; nothing else to change
    assert f'data-versionurl="{WAYBACK}"' in text and text.count("data-versionurl") == 1


def test_our_own_set_from_an_earlier_run_is_updated(rt: Runtime) -> None:
    for old in (f"{BASE}/posts/twitter/{TWEET}/20200101T000000Z-0badcafe.html",
                f"https://old.example/posts/twitter/{TWEET}/20200101T000000Z-0badcafe.json"):
        ours = f'data-originalurl="{POST}" data-versionurl="{old}" data-versiondate="2020-01-01"'
        text = archived(rt, page(QUOTE.replace(LINK, f'<a href="{POST}" {ours}>March 5, 2024</a>')), "mine")
        [tag] = start_tags_of_links(text)
        assert old not in text and robust_attrs(tag) == ["data-originalurl", "data-versionurl", "data-versiondate"]
        assert f'data-versionurl="{BASE}/posts/twitter/{TWEET}/' in tag
