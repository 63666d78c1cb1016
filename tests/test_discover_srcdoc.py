"""Embeds and images inside an ``<iframe srcdoc="...">`` (a CMS's sandboxed raw-HTML block): found with
spans into the article, archived, and rewritten, restored and withheld inside the attribute, escaped, so
the attribute stays whole and no byte outside the edited spans changes."""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator

import pytest
from bs4 import BeautifulSoup

from archiver.article.versions import versions
from archiver.config.settings import Settings
from archiver.discover import srcdoc
from archiver.discover.scan import discover
from archiver.health.originals import article_health, dead_items
from archiver.health.restore import restore, revert, still_carried, takedown_post
from archiver.runners.local import archive
from archiver.runtime import Runtime
from archiver.storage.layout import version_key
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture, make_image
from tests.test_health import T0

TWEET = "1945048830047662087"
BASE = "https://archive.example/media"


def escaped(inner: str) -> str:
    """`inner` as a CMS writes it into a double-quoted srcdoc (quotes and ampersands escaped)."""
    return inner.replace("&", "&amp;").replace('"', "&quot;")


def tweet_markup(text: str = "Hello &amp; world") -> str:
    return ('<blockquote class="twitter-tweet"><p lang="en">' + text + "</p>&mdash; City Desk (@citydesk) "
            f'<a href="https://twitter.com/citydesk/status/{TWEET}?ref_src=twsrc%5Etfw&amp;s=20">July 15, 2025'
            '</a></blockquote><script async src="https://platform.twitter.com/widgets.js"></script>')


# --- decoding ------------------------------------------------------------------------------------------
def test_an_attribute_value_decodes_by_the_html_rules_with_offsets_into_the_article() -> None:
    raw = "a&amp;b&lt;c&#x41;&#66&quot;&notit;&not=x&copy d&NotEqualTilde;e"
    inner, offsets = srcdoc.decode_value(raw, base=10)
    # "&notit;" is no reference ("&not" is, but in an attribute a letter after it keeps it text), "&not=" stays
    assert inner == 'a&b<cAB"&notit;&not=x© d\u2242\u0338e'
    assert len(offsets) == len(inner) + 1 and offsets[-1] == 10 + len(raw)
    assert offsets[inner.index("b")] == 10 + raw.index("b") and offsets[inner.index("A")] == 10 + raw.index("&#x41;")
    assert html.unescape(raw[offsets[3] - 10:offsets[4] - 10]) == "<"


@pytest.mark.parametrize("quote", ['"', "'", ""])
def test_what_is_written_into_a_srcdoc_decodes_to_itself_and_ends_nothing(quote: str) -> None:
    text = f"<p>x</p><iframe srcdoc={quote}<p>hi</p>{quote}></iframe>"
    [doc] = srcdoc.documents(text)
    new = '<blockquote class="card" data-x=\'a&b\'>\t`=` <a href="https://a.example/?x=1&amp;y=2">x</a></blockquote>'
    written = doc.escape(new)
    assert srcdoc.decode_value(written)[0] == new
    assert not set(written) & set("<>\"'") and (quote or not set(written) & set(" \t\n=`"))
    # written into the page, the attribute holds exactly it
    page = text[:doc.start] + written + text[doc.end:]
    [again] = srcdoc.documents(page)
    assert again.inner == new


def test_only_real_iframe_tags_are_read_and_nested_documents_to_a_depth() -> None:
    level3 = escaped('<img src="/deep.jpg">')
    level2 = escaped(f'<iframe srcdoc="{level3}"></iframe><img src="/two.jpg">')
    text = (f'<p>x</p><iframe srcdoc="{level2}"></iframe>'
            '<!-- <iframe srcdoc="<img src=&quot;/commented.jpg&quot;>"></iframe> -->'
            '<script>var s = \'<iframe srcdoc="<img src=&quot;/scripted.jpg&quot;>"></iframe>\';</script>'
            '<textarea><iframe srcdoc="<img src=&quot;/shown-as-text.jpg&quot;>"></iframe></textarea>')
    [doc] = srcdoc.documents(text)
    assert doc.inner.startswith('<iframe srcdoc="<img src=&quot;/deep.jpg&quot;>">')
    assert [c.inner for c in doc.children] == ['<img src="/deep.jpg">']
    found = discover(text, "https://news.example/a/story")
    assert sorted(i.url for i in found.images) == ["https://news.example/deep.jpg", "https://news.example/two.jpg"]
    for image in found.images:  # each span is the URL as written at its own depth of escaping
        assert html.unescape(html.unescape(text[image.start:image.end])).endswith(image.url.rsplit("/", 1)[1])


def test_embeds_and_images_in_a_srcdoc_are_found_with_spans_into_the_article() -> None:
    text = ("<html><body><p>Intro</p>"
            f'<iframe sandbox="allow-scripts" srcdoc="{escaped(tweet_markup() + chr(10) + "<img src=/img/a.jpg>")}">'
            "</iframe>"
            "<iframe srcdoc='&lt;iframe src=&quot;https://www.youtube.com/embed/dQw4w9WgXcQ&quot;&gt;&lt;/iframe&gt;'>"
            "</iframe><p>After</p></body></html>")
    found = discover(text, "https://news.example/story")
    tweet, video = found.embeds
    assert (tweet.provider, tweet.post_id, tweet.handle, tweet.text) == ("twitter", TWEET, "citydesk", "Hello & world")
    assert text[tweet.start:].startswith("<blockquote class=&quot;twitter-tweet&quot;>")
    assert text[:tweet.end].endswith("&lt;/script>") is False and text[:tweet.end].endswith("</script>")
    assert (video.provider, video.post_id) == ("youtube", "dQw4w9WgXcQ")
    assert text[video.start:video.end] == "&lt;iframe src=&quot;https://www.youtube.com/embed/dQw4w9WgXcQ&quot;&gt;&lt;/iframe&gt;"
    [image] = found.images
    assert image.url == "https://news.example/img/a.jpg" and text[image.start:image.end] == "/img/a.jpg"


# --- end to end: rewrite, restore, takedown ------------------------------------------------------------
@pytest.fixture
def origin() -> Iterator[FixtureOrigin]:
    with FixtureOrigin(tweets=[TweetFixture(id=TWEET, handle="citydesk", name="City Desk", text="Hello & world")],
                       images={"/media/a.jpg": make_image("a", 64, 48)}) as o:
        yield o


def srcdoc_article(origin: FixtureOrigin) -> str:
    inner = tweet_markup() + f'\n<p><img src="{origin.url("/media/a.jpg")}?w=1&amp;h=2" alt="A"></p>'
    return (f'<html><body>\n<p>Intro</p>\n<iframe title="embed" srcdoc="{escaped(inner)}" width="550">'
            "</iframe>\n<p>After the frame</p>\n</body></html>\n")


def inner_document(article: str) -> BeautifulSoup:
    """The srcdoc document of the article's one iframe, as a browser reads both."""
    frame = BeautifulSoup(article, "html5lib").find("iframe")
    assert frame is not None and frame["title"] == "embed" and frame["width"] == "550"
    return BeautifulSoup(frame["srcdoc"], "html5lib")


def outside_the_frame(article: str) -> tuple[str, str]:
    return article[:article.index(' srcdoc="')], article[article.index('" width="550">'):]


def test_a_srcdoc_embed_and_image_are_archived_and_rewritten_inside_the_attribute(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    source = srcdoc_article(origin)
    with Runtime.from_settings(tmp_settings(**origin.settings_overrides(), public_base_url=BASE)) as rt:
        report = archive(rt, source.encode(), article_id="story", url="https://news.example/story")
        assert [e["status"] for e in report["embeds"]] == ["archived"]
        assert [i["status"] for i in report["images"]] == ["archived"]
        text = rt.store.get(versions(rt, "story")[-1].key).decode()
        assert outside_the_frame(text) == outside_the_frame(source)  # no byte outside the attribute changed
        doc = inner_document(text)
        assert doc.find("img")["src"].startswith(BASE + "/") and doc.find("img")["alt"] == "A"
        link = doc.find("blockquote").find("a")
        assert link["href"].startswith(f"https://twitter.com/citydesk/status/{TWEET}")
        assert link["data-versionurl"].startswith(f"{BASE}/posts/twitter/{TWEET}/")
        assert link["data-originalurl"] == f"https://twitter.com/citydesk/status/{TWEET}"
        assert doc.find("p").get_text() == "Hello & world"
        # archived again: nothing to change
        again = archive(rt, text.encode(), article_id="story", url="https://news.example/story")
        assert again["new_version"] is False and len(versions(rt, "story")) == 1


def test_a_dead_srcdoc_embed_is_restored_and_withheld_inside_the_attribute(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    settings = tmp_settings(**origin.settings_overrides(), public_base_url=BASE, fetch_retries=0,
                            health_dead_after_failures=1, health_dead_after_hours=0.0, restore_style="inline")
    with Runtime.from_settings(settings) as rt:
        archive(rt, srcdoc_article(origin).encode(), article_id="story", url="https://news.example/story")
        v1 = rt.store.get(version_key("story", 1)).decode()
        origin.set_behaviour("/oembed", "404", sticky=True)
        origin.set_behaviour("/tweet-result", "empty", sticky=True)
        article_health(rt, "story", check_now=True, now=T0)
        assert [o.kind for o in dead_items(rt, "story")] == ["embed"]

        report = restore(rt, "story")
        assert {i["kind"]: i["status"] for i in report["items"]} == {"embed": "restored"}
        v2 = rt.store.get(version_key("story", 2)).decode()
        assert outside_the_frame(v2) == outside_the_frame(v1)
        card = inner_document(v2).find("blockquote")
        assert card["data-post-id"] == TWEET and "Hello & world" in card.get_text()
        assert inner_document(v2).find("img")["src"].startswith(BASE + "/")  # the image stays rewritten
        assert restore(rt, "story")["new_version"] is False
        assert revert(rt, "story", 1)["current"] == 3 and rt.store.get(version_key("story", 3)).decode() == v1

        restore(rt, "story")
        state = takedown_post(rt, None, "twitter", TWEET, on=True, reason="court order")
        assert state["withheld"] == ["story"]
        latest = rt.store.get(versions(rt, "story")[-1].key).decode()
        assert "Hello &amp;amp; world" not in latest and "Hello" not in inner_document(latest).get_text()
        assert inner_document(latest).find(attrs={"data-withheld": "true"}) is not None
        assert outside_the_frame(latest) == outside_the_frame(v1)
        assert still_carried(rt, "twitter", TWEET) == []


def test_edits_in_many_srcdoc_documents_cost_linear_time() -> None:
    """Each edit finds its srcdoc document by bisection: a page of 20,000 srcdoc frames took minutes
    when every edit listed every frame again."""
    import time

    def edit_all(n: int) -> float:
        text = "<p>x</p>\n" + '<iframe srcdoc="&lt;img src=/a.jpg&gt;"></iframe>\n' * n
        docs = srcdoc.documents(text)
        t0 = time.thread_time()
        for doc in docs:
            i = doc.inner.index("/a.jpg")
            edits = srcdoc.edit_within(text, docs, doc.offsets[i], doc.offsets[i + 6],
                                       lambda t, s, e: [(s, e, "https://s.example/x.jpg")])
            assert len(edits) == 1
        return time.thread_time() - t0

    small = edit_all(2_000)
    assert edit_all(20_000) < 25 * small + 0.5
