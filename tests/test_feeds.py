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
