"""The RSS/Atom poller submits each new entry once, again when its content changes, and survives a
broken feed; entries go through the safe fetcher (loopback allowed here by fetch_allow)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from archiver.article.versions import versions
from archiver.config.settings import Settings
from archiver.runners.feeds import article_id_for_entry, poll_feeds
from archiver.runners.intake import Intake
from archiver.runtime import Runtime
from archiver.storage.layout import sha256_hex
from archiver.testing.fixture_origin import FixtureOrigin

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>
<title>News</title><link>https://news.example/</link>
<item><title>One</title><link>https://news.example/one</link><guid>https://news.example/?p=1</guid>
<pubDate>Tue, 15 Jul 2025 10:00:00 GMT</pubDate>
<content:encoded><![CDATA[<p>नई दिल्ली {one}</p>]]></content:encoded></item>
<item><title>Two</title><link>https://news.example/two</link><guid>https://news.example/?p=2</guid>
<description>&lt;p&gt;Summary only&lt;/p&gt;</description></item>
</channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom</title><id>urn:feed</id>
<entry><id>urn:entry:9</id><title>Nine</title><link href="https://atom.example/nine"/>
<updated>2025-07-15T10:00:00Z</updated><content type="html">&lt;p&gt;Atom body&lt;/p&gt;</content></entry>
</feed>"""


@pytest.fixture
def origin() -> Iterator[FixtureOrigin]:
    with FixtureOrigin() as o:
        yield o


def test_poll_submits_new_entries_once(tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    rss = origin.add_image("/feed.xml", RSS.format(one="first").encode(), "application/rss+xml")
    atom = origin.add_image("/atom.xml", ATOM.encode(), "application/atom+xml")
    broken = origin.url("/missing.xml")
    settings = tmp_settings(broker_url="", fetch_allow="127.0.0.1", feeds=f"{rss}, {broken},{atom}")
    with Runtime.from_settings(settings) as rt, Intake(rt) as intake:
        first = poll_feeds(intake)
        intake.wait_idle()
        assert (first.feeds, first.entries, len(first.submitted)) == (2, 3, 3)
        assert len(first.errors) == 1 and broken in first.errors[0]
        one = article_id_for_entry(rss, "https://news.example/?p=1")
        sources = list(rt.store.list(f"articles/{one}/sources/"))
        assert [rt.store.get(k).decode() for k in sources] == ["<p>नई दिल्ली first</p>"]
        assert versions(rt, one)[-1].version == 1
        assert rt.catalog.article(one)["url"] == "https://news.example/one"

        again = poll_feeds(intake)
        assert again.entries == 3 and again.submitted == []

        origin.add_image("/feed.xml", RSS.format(one="edited").encode(), "application/rss+xml")
        edited = poll_feeds(intake)
        intake.wait_idle()
        assert edited.submitted == [f"{one}:{sha256_hex('<p>नई दिल्ली edited</p>'.encode())[:16]}"]


def test_feeds_refuse_private_addresses_without_allow(tmp_settings: Callable[..., Settings],
                                                       origin: FixtureOrigin) -> None:
    rss = origin.add_image("/feed.xml", RSS.format(one="x").encode(), "application/rss+xml")
    with Runtime.from_settings(tmp_settings(broker_url="", feeds=rss)) as rt, Intake(rt) as intake:
        report = poll_feeds(intake)
        assert report.feeds == 0 and report.submitted == [] and len(report.errors) == 1


def _rss(declaration: str, content: str, guid: str = "g1") -> bytes:
    return (f'<?xml version="1.0"{declaration}?><rss version="2.0"><channel><title>T</title>'
            f"<item><guid>https://news.example/?p={guid}</guid><link>https://news.example/{guid}</link>"
            f"<description>{content}</description></item></channel></rss>").encode("latin-1")


def test_feeds_in_encodings_that_are_not_the_webs_are_one_line_errors(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    bad = {
        # feedparser alone would decode this one with unicode_escape ("\\u0041" -> "A"), and crash on the next
        "escape.xml": (_rss(' encoding="unicode_escape"', "caf\xe9 \\u0041"), "application/rss+xml"),
        "undefined.xml": (_rss(' encoding="undefined"', "caf\xe9"), "application/rss+xml"),
        "rot13.xml": (_rss("", "caf\xe9"), "application/rss+xml; charset=rot13"),
        "kr.xml": (_rss(' encoding="iso-2022-kr"', "x"), "application/rss+xml"),
        "bom.xml": (b"\xef\xbb\xbf" + _rss("", "caf\xe9"), "application/rss+xml"),  # BOM, then Latin-1
    }
    urls = [origin.add_image(f"/{name}", body, ctype) for name, (body, ctype) in bad.items()]
    good = origin.add_image("/latin.xml", _rss(' encoding="iso-8859-1"', "caf\xe9 \\u0041", "7"), "text/xml")
    settings = tmp_settings(broker_url="", fetch_allow="127.0.0.1", feeds=",".join([*urls, good]))
    with Runtime.from_settings(settings) as rt, Intake(rt) as intake:
        report = poll_feeds(intake)
        intake.wait_idle()
        assert report.feeds == 1 and len(report.submitted) == 1  # the good feed, after five broken ones
        assert len(report.errors) == len(bad)
        for url, error in zip(urls, report.errors, strict=True):
            assert error.startswith(url) and "\n" not in error and "Traceback" not in error
        said = dict(zip(bad, report.errors, strict=True))
        assert "'unicode_escape': not an encoding of the web" in said["escape.xml"]
        assert "'undefined': not an encoding of the web" in said["undefined.xml"]
        # An HTTP charset no browser knows is ignored: the feed is read as its declaration says (here
        # none: UTF-8), which its Latin-1 byte is not.
        assert "HTTP header" not in said["rot13.xml"] and "not valid utf-8" in said["rot13.xml"]
        assert "without loss" in said["kr.xml"]
        assert "not valid utf-8" in said["bom.xml"]
        # iso-8859-1 is windows-1252 on the web; the backslash escape stays text
        (key,) = rt.store.list(f"articles/{article_id_for_entry(good, 'https://news.example/?p=7')}/sources/")
        assert rt.store.get(key).decode("utf-8") == "café \\u0041"


def test_an_entry_that_is_not_a_usable_article_is_reported_once_and_the_rest_submitted(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    # feedparser sanitizes entry HTML (a <meta charset> does not survive), so the unusable entry here is
    # one over the article size limit: the same InputError, which used to stop the rest of the feed.
    items = "".join(
        f"<item><guid>https://news.example/?p={g}</guid><description>{c}</description></item>"
        for g, c in (("1", "&lt;p&gt;" + "long " * 100 + "&lt;/p&gt;"), ("2", "&lt;p&gt;fine&lt;/p&gt;")))
    feed = origin.add_image("/feed.xml", f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
                                         f"{items}</channel></rss>".encode(), "application/rss+xml")
    settings = tmp_settings(broker_url="", fetch_allow="127.0.0.1", feeds=feed, max_article_bytes=200)
    with Runtime.from_settings(settings) as rt, Intake(rt) as intake:
        first = poll_feeds(intake)
        intake.wait_idle()
        assert len(first.submitted) == 1 and first.entries == 2
        (error,) = first.errors
        assert "?p=1" in error and "over the limit" in error and "\n" not in error
        again = poll_feeds(intake)
        assert again.errors == [] and again.submitted == []


@pytest.mark.parametrize("ref", ["&#xD800;", "&#55296;", "&#xdc00;", "&#x110000;", "&#99999999999;"])
def test_a_reference_to_no_character_costs_no_entry(tmp_settings: Callable[..., Settings], origin: FixtureOrigin,
                                                    ref: str) -> None:
    """A numeric character reference to a lone surrogate or past U+10FFFF (in a title, link, guid, date
    or body) is read as U+FFFD, as HTML reads it: every entry is submitted, none lost with the feed."""
    items = (f"<item><title>Dam{ref}</title><link>https://news.example/dam{ref}</link>"
             f"<guid>https://news.example/?p=1{ref}</guid><pubDate>Tue, 15 Jul 2025{ref}</pubDate>"
             f"<description>&lt;p&gt;Sluice{ref} gates&lt;/p&gt;</description></item>"
             "<item><guid>https://news.example/?p=2</guid><description>&lt;p&gt;fine&lt;/p&gt;</description></item>")
    feed = origin.add_image("/feed.xml", f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
                                         f"{items}</channel></rss>".encode(), "application/rss+xml")
    settings = tmp_settings(broker_url="", fetch_allow="127.0.0.1", feeds=feed)
    with Runtime.from_settings(settings) as rt, Intake(rt) as intake:
        report = poll_feeds(intake)
        intake.wait_idle()
        assert (report.entries, len(report.submitted), report.errors) == (2, 2, [])
        first = article_id_for_entry(feed, "https://news.example/?p=1\ufffd")
        (source,) = rt.store.list(f"articles/{first}/sources/")
        assert "Sluice\ufffd gates" in rt.store.get(source).decode("utf-8")
