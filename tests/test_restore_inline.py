"""Restore's inline static card: a dead embed becomes the post's words in the article's own markup,
inert (no script, handler or style; no resource but the stable copies), escaped, bidi-isolated, with
the post's lang and dir, well-formed in the article's encoding (UTF-8, windows-1252, Shift_JIS), in
XHTML and AMP articles; reversible and idempotent. The iframe style is tests/test_restore.py's."""

from __future__ import annotations

import html
import json
import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from bs4 import BeautifulSoup, Tag, XMLParsedAsHTMLWarning

from archiver.article.versions import versions
from archiver.capture.cards.inline import CLASS_NAMES, direction, is_amp, language
from archiver.config.settings import Settings
from archiver.health.originals import article_health
from archiver.health.restore import restore, revert
from archiver.records.result import EmbedResult
from archiver.runners.local import archive
from archiver.runtime import Runtime
from archiver.steps.prepare import load_plan
from archiver.steps.results import load_result
from archiver.storage.layout import capture_page_key, version_key
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture
from tests.test_health import T0

BASE = "https://archive.example/media"
HINDI = TweetFixture(id="1945048830047662001", handle="ANI_Hindi", name="ANI हिंदी", lang="hi",
                     text="भारत और रूस के विदेश मंत्रियों की मुलाकात\nदूसरी पंक्ति")
ARABIC = TweetFixture(id="1945048830047662002", handle="AJArabic", name="الجزيرة", lang="ar",
                      text="وزير الخارجية يلتقي نظيره الهندي في موسكو")
HOSTILE_TEXT = ('<script>alert(1)</script> "><img src=x onerror=alert(2)> \u202egnp.exe\u202c '
                '<a href="javascript:alert(3)" style="x">y</a> & done ' + "ज" * 10_000)
HOSTILE = TweetFixture(id="1945048830047662003", handle="evil", name='"><svg onload=alert(4)>\u202eRLO',
                       lang="en", text=HOSTILE_TEXT)
PHOTOS = TweetFixture(id="1945048830047662004", handle="photos", name="Photo Desk", lang="qme", text="",
                      photos=[{"name": "p1.jpg", "alt": "A ferry <b>at</b> dawn", "width": 120, "height": 80},
                              {"name": "p2.jpg", "alt": "", "width": 90, "height": 60}])
TWEETS = (HINDI, ARABIC, HOSTILE, PHOTOS)
RLO_LIKE = re.compile("[\u202a-\u202e\u2066-\u2069]")


@pytest.fixture
def origin() -> Iterator[FixtureOrigin]:
    with FixtureOrigin(tweets=list(TWEETS)) as o:
        yield o


def embed(t: TweetFixture) -> str:
    """The platform's embed code for `t`, as an article carries it."""
    return (f'<blockquote class="twitter-tweet"><p lang="{t.lang}" dir="auto">{html.escape(t.text[:200])}</p>'
            f"&#8212; {html.escape(t.name)} (@{t.handle}) "
            f'<a href="https://twitter.com/{t.handle}/status/{t.id}">July 15, 2025</a></blockquote>'
            '<script async="async" src="https://platform.twitter.com/widgets.js" charset="utf-8"></script>')


def page(t: TweetFixture, charset: str = "utf-8", head: str = "<html>") -> bytes:
    doc = (f'{head}<head><meta charset="{charset}" /><title>Story</title></head><body>\n'
           f"<p>Intro café — “quoted”</p>\n{embed(t)}\n<p>Outro</p></body></html>\n")
    return doc.encode(charset, errors="xmlcharrefreplace")


def setup(tmp_settings: Callable[..., Settings], origin: FixtureOrigin, t: TweetFixture, *, aid: str = "story",
          charset: str = "utf-8", head: str = "<html>", **overrides: Any) -> Runtime:
    settings = tmp_settings(**{**origin.settings_overrides(), "public_base_url": BASE, "fetch_retries": 0,
                               "health_dead_after_failures": 1, "health_dead_after_hours": 0.0,
                               "display_timezone": "Asia/Kolkata", **overrides})
    rt = Runtime.from_settings(settings)
    archive(rt, page(t, charset, head), article_id=aid, url=f"https://news.example/{aid}", charset=charset)
    return rt


def embed_result(rt: Runtime, aid: str = "story") -> tuple[str, EmbedResult]:
    plan = load_plan(rt, aid)
    item = next(i for i in plan.items if i.kind == "embed")
    res = load_result(rt, plan, item.item_id)
    assert isinstance(res, EmbedResult) and res.status == "archived" and res.manifest_key
    return item.item_id, res


def restored_card(rt: Runtime, aid: str, charset: str) -> tuple[str, str, BeautifulSoup]:
    """(the version before, the inserted card markup as stored, the restored document parsed)."""
    item_id, _ = embed_result(rt, aid)
    before = rt.store.get(version_key(aid, len(versions(rt, aid)))).decode(charset)
    report = restore(rt, aid, item_ids=[item_id])
    assert report["new_version"] and report["items"][0]["status"] == "restored", report
    current = versions(rt, aid)[-1]
    ops = json.loads(rt.store.get(current.patch_key or ""))["ops"]
    assert len(ops) == 1
    body = rt.store.get(current.key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)  # the XHTML article, read as a browser reads it
        return before, ops[0]["new"], BeautifulSoup(body.decode(charset), "html5lib")


def assert_inert(card: Tag, page_url: str) -> None:
    """No script, no handler or style attribute, every URL the capture page or a stable copy."""
    assert card.find_all(["script", "iframe", "object", "embed", "style", "link", "form"]) == []
    for el in [card, *card.find_all(True)]:
        for name, value in el.attrs.items():
            assert not name.lower().startswith("on") and name.lower() != "style", (el.name, name)
            if name in ("src", "href", "cite", "poster", "srcset", "data-versionurl"):
                assert value == page_url or value.startswith(f"{BASE}/blobs/") or \
                    value.startswith(f"{BASE}/derived/"), (el.name, name, value)
        classes = el.get("class") or []
        assert all(c in CLASS_NAMES for c in classes), classes


@pytest.mark.parametrize("tweet", [HINDI, ARABIC, HOSTILE], ids=["hindi", "arabic", "hostile"])
def test_inline_card_keeps_the_words(tmp_settings: Callable[..., Settings], origin: FixtureOrigin,
                                     tweet: TweetFixture) -> None:
    rt = setup(tmp_settings, origin, tweet)
    _, res = embed_result(rt)
    before, markup, soup = restored_card(rt, "story", "utf-8")
    page_url = f"{BASE}/{capture_page_key(res.manifest_key or '')}"
    assert soup.find_all("script") == [] and soup.find("blockquote", class_="twitter-tweet") is None
    (card,) = soup.find_all("blockquote", class_="archiver-card")
    assert_inert(card, page_url)
    text = card.find("p", class_="archiver-card-text")
    assert text is not None
    expected = RLO_LIKE.sub("", tweet.text)
    assert text.get_text() == expected.replace("\n", "")  # every character as text, <br /> between lines
    assert len(text.find_all("br")) == expected.count("\n")
    assert card.find("bdi", class_="archiver-card-name").get_text() == RLO_LIKE.sub("", tweet.name)
    assert card.find("bdi", class_="archiver-card-handle").get_text() == f"@{tweet.handle}"
    assert card["lang"] == tweet.lang and card["dir"] == ("rtl" if tweet is ARABIC else "ltr")
    assert card["cite"] == page_url
    link = card.find("a", class_="archiver-card-capture")
    assert link["href"] == page_url and link["data-originalurl"] == res.url
    assert link["data-versiondate"] == res.captured_at
    when = card.find("time", class_="archiver-card-date")
    assert when["datetime"].endswith("Z") and when.get_text().endswith("IST")  # display_timezone
    assert not RLO_LIKE.search(markup)
    ET.fromstring(markup)  # a balanced, well-formed fragment (XHTML-safe)
    assert soup.find("p").get_text() == "Intro café — “quoted”"  # the article around it untouched

    # Idempotent, reversible, and revert gives the exact bytes.
    assert restore(rt, "story", item_ids=[embed_result(rt)[0]])["new_version"] is False
    back = revert(rt, "story", 1)
    assert rt.store.get(version_key("story", back["current"])) == rt.store.get(version_key("story", 1))
    assert rt.store.get(version_key("story", 1)).decode() == before
    rt.close()


@pytest.mark.parametrize("charset", ["windows-1252", "shift_jis"])
def test_inline_card_in_a_legacy_encoding(tmp_settings: Callable[..., Settings], origin: FixtureOrigin,
                                          charset: str) -> None:
    """A Hindi (and an Arabic) post restored into a windows-1252 or Shift_JIS article: characters the
    charset lacks become numeric character references; the bytes decode strictly in the charset."""
    for tweet, aid in ((HINDI, "hindi"), (ARABIC, "arabic")):
        rt = setup(tmp_settings, origin, tweet, aid=aid, charset=charset)
        v1 = rt.store.get(version_key(aid, 1))
        _, markup, soup = restored_card(rt, aid, charset)
        raw = rt.store.get(version_key(aid, 2))
        text = raw.decode(charset)  # strict: every byte is the charset's
        assert f"&#{ord(tweet.text[0])};" in text and tweet.text[0] not in text
        card = soup.find("blockquote", class_="archiver-card")
        assert card.find("p", class_="archiver-card-text").get_text() == tweet.text.replace("\n", "")
        assert card.find("bdi", class_="archiver-card-name").get_text() == tweet.name
        assert card["lang"] == tweet.lang and card["dir"] == direction(tweet.text)
        ET.fromstring(markup)
        assert rt.store.get(version_key(aid, revert(rt, aid, 1)["current"])) == v1
        rt.close()


@pytest.mark.parametrize("given", [None, "windows-1252"])
def test_a_card_restored_into_an_all_ascii_article_follows_its_declared_charset(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin, given: str | None) -> None:
    """An article whose bytes are all ASCII reads the same in UTF-8 as in the windows-1252 it declares,
    but a browser reads it in windows-1252: a restored card's "è", "—" and emoji are written so that
    the page shows them (bytes of windows-1252 or character references), never as UTF-8 mojibake."""
    tweet = TweetFixture(id="1945048830047662011", handle="desk", name="Crème Desk", lang="fr",
                         text="Crème — “q” 😀")
    origin.add_tweet(tweet)
    settings = tmp_settings(**{**origin.settings_overrides(), "public_base_url": BASE, "fetch_retries": 0})
    rt = Runtime.from_settings(settings)
    doc = ('<html><head><meta charset="windows-1252"><title>Story</title></head><body>\n<p>Plain words</p>\n'
           f"{embed(tweet)}\n</body></html>\n").encode("ascii", "xmlcharrefreplace")
    archive(rt, doc, article_id="ascii", url="https://news.example/ascii", charset=given)
    item_id, _ = embed_result(rt, "ascii")
    assert restore(rt, "ascii", item_ids=[item_id])["new_version"]
    shown = BeautifulSoup(rt.store.get(version_key("ascii", 2)).decode("windows-1252"), "html5lib")
    card = shown.find("blockquote", class_="archiver-card")
    assert card.find("p", class_="archiver-card-text").get_text() == tweet.text
    assert card.find("bdi", class_="archiver-card-name").get_text() == tweet.name
    rt.close()


def test_xhtml_and_amp_articles(tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    """An XHTML article stays well-formed XML once restored; in an AMP article a photo is an amp-img
    (its size known), never an <img>."""
    xhtml = '<?xml version="1.0" encoding="utf-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml" lang="en">'
    rt = setup(tmp_settings, origin, HINDI, aid="xhtml", head=xhtml)
    restored_card(rt, "xhtml", "utf-8")
    doc = ET.fromstring(rt.store.get(version_key("xhtml", 2)))
    ns = "{http://www.w3.org/1999/xhtml}"
    assert [b.get("class") for b in doc.iter(f"{ns}blockquote")] == ["archiver-card"]
    rt.close()

    assert is_amp('<!doctype html><html ⚡ lang="en">') and is_amp("<html amp>") and not is_amp("<html lang=am>")
    rt = setup(tmp_settings, origin, PHOTOS, aid="amp", head='<!doctype html>\n<html amp="" lang="en">')
    _, markup, soup = restored_card(rt, "amp", "utf-8")
    card = soup.find("blockquote", class_="archiver-card")
    assert card.find_all("img") == []
    photos = card.find_all("amp-img", class_="archiver-card-photo")
    assert [(p["width"], p["height"], p["layout"]) for p in photos] == [("120", "80", "responsive"),
                                                                        ("90", "60", "responsive")]
    ET.fromstring(markup)
    rt.close()


def test_media_only_post_shows_its_photos(tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    rt = setup(tmp_settings, origin, PHOTOS)
    _, res = embed_result(rt)
    _, _, soup = restored_card(rt, "story", "utf-8")
    card = soup.find("blockquote", class_="archiver-card")
    assert_inert(card, f"{BASE}/{capture_page_key(res.manifest_key or '')}")
    assert "lang" not in card.attrs  # Twitter's "qme" (media only) names no language
    photos = card.find_all("img", class_="archiver-card-photo")
    assert len(photos) == 2 and all(p["src"].startswith(f"{BASE}/blobs/") for p in photos)
    assert photos[0]["alt"] == "A ferry <b>at</b> dawn" and photos[0].find("b") is None
    assert card.find("p", class_="archiver-card-text") is None
    rt.close()


def test_a_post_gone_from_its_source_says_so(tmp_settings: Callable[..., Settings],
                                             origin: FixtureOrigin) -> None:
    """The post was deleted after the article archived it; another article's capture found it deleted
    and the health check found its link dead: the restored card keeps the archived words and says the
    post is no longer available at the source, and why."""
    rt = setup(tmp_settings, origin, HINDI, capture_fresh_for=0)
    origin.add_tweet(replace(HINDI, state="deleted"))
    archive(rt, page(HINDI), article_id="later", url="https://news.example/later")
    statuses = [c["status"] for c in rt.catalog.captures("twitter", HINDI.id)]
    assert statuses == ["archived", "deleted"]
    article_health(rt, "story", check_now=True, now=T0)
    report = restore(rt, "story")
    assert report["new_version"] and [i["status"] for i in report["items"]] == ["restored"]
    soup = BeautifulSoup(rt.store.get(version_key("story", 2)).decode(), "html5lib")
    card = soup.find("blockquote", class_="archiver-card")
    note = card.find("p", class_="archiver-card-note")
    assert note.get_text().startswith("No longer available at the source. The post has been deleted.")
    assert note["lang"] == "en" and note["dir"] == "ltr" and card["data-gone"] == "true"
    assert card.find("p", class_="archiver-card-text").get_text() == HINDI.text.replace("\n", "")
    assert restore(rt, "story")["new_version"] is False
    rt.close()


def test_language_and_direction_rules() -> None:
    assert language("hi") == "hi" and language("pt-BR") == "pt-BR"
    assert language("qme") is None and language("und") == "und" and language('"><x') is None
    assert direction("مرحبا hello") == "rtl" and direction("hello مرحبا") == "ltr"
    assert direction("שלום") == "rtl" and direction("123 !", "ar") == "rtl" and direction("123", "hi") == "ltr"


def test_a_markdown_url_line_becomes_the_capture_page_link(tmp_settings: Callable[..., Settings],
                                                          origin: FixtureOrigin) -> None:
    """Outside markup (a Markdown URL line) there is no card to write: the line names the capture page."""
    settings = tmp_settings(**{**origin.settings_overrides(), "public_base_url": BASE, "fetch_retries": 0})
    rt = Runtime.from_settings(settings)
    source = f"# Story\n\nIntro.\n\nhttps://twitter.com/{HINDI.handle}/status/{HINDI.id}\n\nOutro.\n"
    archive(rt, source.encode(), article_id="md", url="https://news.example/md", fmt="markdown")
    item_id, res = embed_result(rt, "md")
    assert restore(rt, "md", item_ids=[item_id])["new_version"]
    page_url = f"{BASE}/{capture_page_key(res.manifest_key or '')}"
    after = rt.store.get(version_key("md", len(versions(rt, "md")))).decode()
    assert f"\n\n{page_url}\n\n" in after and "<" not in after
    assert restore(rt, "md", item_ids=[item_id])["new_version"] is False
    rt.close()


def test_a_dead_link_without_a_later_capture_says_so(tmp_settings: Callable[..., Settings],
                                                     origin: FixtureOrigin) -> None:
    rt = setup(tmp_settings, origin, ARABIC)
    origin.set_behaviour("/oembed", "404", sticky=True)
    origin.set_behaviour("/tweet-result", "empty", sticky=True)
    article_health(rt, "story", check_now=True, now=T0)
    assert restore(rt, "story")["new_version"]
    card = BeautifulSoup(rt.store.get(version_key("story", 2)).decode(), "html5lib").find(
        "blockquote", class_="archiver-card")
    (note,) = card.find_all("p", class_="archiver-card-note")
    # No later capture, but the health check's own finding (the post is deleted) is what the card says.
    assert note.get_text() == ("No longer available at the source. The post has been deleted. "
                               "This is what the article showed.")
    assert card["dir"] == "rtl" and note["dir"] == "ltr" and note["lang"] == "en"
    rt.close()
