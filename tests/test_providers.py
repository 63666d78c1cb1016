"""The other providers (YouTube, TikTok, Reddit, Bluesky, Mastodon) against the fixture origin's
oEmbed endpoints: real fetcher, real media archiving, local store, every manifest validated."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from archiver.capture.fetch import Fetcher
from archiver.capture.manifest import validate_manifest
from archiver.capture.record import CaptureResult, store_capture
from archiver.capture.warc import read_warc
from archiver.discover.model import Embed
from archiver.discover.urls import match_post_url
from archiver.providers.base import CaptureContext, occurrences_in
from archiver.providers.bluesky import id_time as bluesky_time
from archiver.providers.markup import MarkupProvider
from archiver.providers.mastodon import id_time as mastodon_time
from archiver.providers.oembed import OEmbedProvider
from archiver.providers.registry import get_provider
from archiver.providers.shortlinks import ShortLinkCapture
from archiver.providers.tiktok import id_time as tiktok_time
from archiver.runners.local import archive
from archiver.runtime import Runtime
from archiver.storage.local import LocalStore
from archiver.testing.fixture_origin import FixtureOrigin

YT = {"provider": "youtube", "url": "https://www.youtube.com/watch?v=Tq2wE9rY4uI",
      "text": "Ice-out on Lake Mont, time-lapse", "author_name": "Pinecrest Observer", "handle": "PinecrestObserver"}
YT_GONE = {"provider": "youtube", "url": "https://www.youtube.com/watch?v=Zz9yX8wV7uT", "text": "x",
           "state": "deleted"}
YT_PRIVATE = {"provider": "youtube", "url": "https://www.youtube.com/watch?v=Pp1oO2iI3uU", "text": "x",
              "state": "private"}
TT = {"provider": "tiktok", "url": "https://www.tiktok.com/@pinecrestobserver/video/7342136643995317486",
      "text": "Last sheet of ice goes out 🧊 #lakemont", "author_name": "Pinecrest Observer",
      "handle": "pinecrestobserver"}
RD = {"provider": "reddit", "url": "https://www.reddit.com/r/Lakemont/comments/1b6yq2k/",
      "text": "Ice out on Lake Mont already?", "handle": "pier4regular", "thumbnail": False}
BS = {"provider": "bluesky", "url": "https://bsky.app/profile/trails.lakemont.example/post/3kmzg4tk6c6zb",
      "text": "Trail report: Pine Ridge loop groomed, north spur closed.", "author_name": "Lakemont Trails",
      "handle": "trails.lakemont.example", "thumbnail": False}
MA = {"provider": "mastodon", "url": "https://social.pinecrest.example/@observer/112036596940807418",
      "text": "مرحبا من البحيرة — hello from the lake", "author_name": "Pinecrest Observer", "handle": "observer",
      "lang": "ar", "thumbnail": False}
ALL = [YT, YT_GONE, YT_PRIVATE, TT, RD, BS, MA]


@pytest.fixture(scope="module")
def origin() -> Iterator[FixtureOrigin]:
    with FixtureOrigin(posts=ALL) as o:
        yield o


@pytest.fixture
def env(origin: FixtureOrigin, tmp_settings: Callable[..., Any], tmp_path: Path) -> Iterator[dict[str, Any]]:
    settings = tmp_settings(**origin.settings_overrides(), fetch_retries=1, fetch_max_retry_after=2.0,
                            media_derivatives=False)
    store = LocalStore(tmp_path / "objects", "http://127.0.0.1:1/media")
    yield {"settings": settings, "store": store, "fetcher": Fetcher(settings)}
    for key in store.list("posts/"):  # every manifest written is valid
        if key.endswith(".json"):
            validate_manifest(json.loads(store.get(key)))


def _capture(env: dict[str, Any], embed: Embed, settings: Any = None) -> CaptureResult:
    s = settings or env["settings"]
    ctx = CaptureContext(settings=s, fetcher=Fetcher(s), article_id="art-1", article_url="https://news.example/story")
    return store_capture(get_provider(embed.provider).capture(occurrences_in("", [embed]), ctx), ctx, env["store"])


def _embed(post: dict[str, Any], post_id: str, text: str | None = None) -> Embed:
    return Embed(post["provider"], post_id, post["url"], 0, 0, text=text, form="iframe")


def _manifest(env: dict[str, Any], res: CaptureResult) -> dict[str, Any]:
    assert res.manifest_key
    m = json.loads(env["store"].get(res.manifest_key))
    validate_manifest(m)
    return m


def _unwrapped(provider: Any) -> Any:
    """The provider's own capture inside the share-link resolver (providers that declare short links)."""
    return provider.inner if isinstance(provider, ShortLinkCapture) else provider


def test_registry_finds_one_module_per_provider() -> None:
    for name in ("youtube", "tiktok", "reddit", "bluesky", "mastodon"):
        provider = get_provider(name)
        assert isinstance(_unwrapped(provider), OEmbedProvider) and provider.name == name
    for name in ("instagram", "threads", "markup", "oembed", "base", "sources"):
        assert isinstance(_unwrapped(get_provider(name)), MarkupProvider)
    # Exactly the providers that declare share links get them resolved before their capture.
    for name in ("tiktok", "reddit", "facebook", "instagram", "youtube", "linkedin"):
        assert isinstance(get_provider(name), ShortLinkCapture), name
    for name in ("twitter", "threads", "bluesky"):
        assert not isinstance(get_provider(name), ShortLinkCapture), name
    with pytest.raises(ValueError):
        get_provider("../twitter")


def test_youtube_title_author_and_thumbnail_archived(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    res = _capture(env, _embed(YT, "Tq2wE9rY4uI"))
    assert res.status == "archived", res.error
    m = _manifest(env, res)
    assert res.manifest_key == f"posts/youtube/Tq2wE9rY4uI/{res.capture_id}.json"
    assert m["text"] == YT["text"] and m["text_source"] == "oembed"
    assert m["author"]["name"] == "Pinecrest Observer" and m["author"]["handle"] == "PinecrestObserver"
    (thumb,) = m["media"]
    served = origin.media_bytes(origin.thumbnail_path(origin.posts[YT["url"]]))
    assert thumb["type"] == "thumbnail" and thumb["status"] == "archived"
    assert thumb["sha256"] == hashlib.sha256(served).hexdigest() and env["store"].get(thumb["key"]) == served
    oembed = next(s for s in m["sources"] if s["name"] == "oembed")
    assert oembed["http_status"] == 200 and "format=json" in oembed["request_url"]
    assert "url=https%3A%2F%2Fwww.youtube.com%2Fwatch%3Fv%3DTq2wE9rY4uI" in oembed["request_url"]
    records = read_warc(env["store"].get(m["warc"]))
    oembed_rec = next(r for r in records if r["type"] == "response" and "/oembed/youtube" in r["uri"])
    assert hashlib.sha256(oembed_rec["payload"]).hexdigest() == oembed["response_sha256"]
    assert env["store"].exists(m["cards"]["html"]) and env["store"].exists(m["cards"]["png"])


def test_youtube_deleted_and_private(env: dict[str, Any]) -> None:
    res = _capture(env, _embed(YT_GONE, "Zz9yX8wV7uT", text="What the article showed"))
    assert res.status == "deleted"
    m = _manifest(env, res)
    assert m["text"] == "What the article showed" and m["text_source"] == "publisher_markup"
    assert _capture(env, _embed(YT_PRIVATE, "Pp1oO2iI3uU")).status == "protected"


def test_tiktok_caption_handle_and_id_time(env: dict[str, Any]) -> None:
    res = _capture(env, _embed(TT, "7342136643995317486"))
    m = _manifest(env, res)
    assert res.status == "archived", res.error
    assert m["text"] == TT["text"] and m["author"]["handle"] == "pinecrestobserver"
    assert m["created_at"] == "2024-03-03T14:00:00.000Z"
    assert m["media"][0]["status"] == "archived"


def test_reddit_without_thumbnail(env: dict[str, Any]) -> None:
    m = _manifest(env, res := _capture(env, _embed(RD, "1b6yq2k")))
    assert res.status == "archived" and m["text"] == RD["text"] and m["author"]["handle"] == "pier4regular"
    assert m["media"] == []


def test_bluesky_text_from_blockquote(env: dict[str, Any]) -> None:
    m = _manifest(env, res := _capture(env, _embed(BS, "3kmzg4tk6c6zb")))
    assert res.status == "archived"
    assert m["text"] == BS["text"] and m["lang"] == "en"
    assert m["author"]["name"] == "Lakemont Trails" and m["author"]["handle"] == "trails.lakemont.example"
    # The record key is a TID: the embed says "March 6, 2024 at 10:00 AM".
    assert m["created_at"].startswith("2024-03-06T10:00:00.")


def test_mastodon_uses_the_posts_own_server(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    m = _manifest(env, res := _capture(env, _embed(MA, "112036596940807418")))
    assert res.status == "archived", res.error
    assert m["text"] == MA["text"] and m["lang"] == "ar"
    assert m["author"]["handle"] == "observer@social.pinecrest.example"
    assert origin.count("/mastodon/social.pinecrest.example/api/oembed") >= 1
    assert m["created_at"] == "2024-03-04T09:00:00.000Z"


def test_rate_limited_then_success_and_server_trouble(origin: FixtureOrigin, env: dict[str, Any],
                                                      tmp_settings: Callable[..., Any]) -> None:
    before = origin.count("/oembed/reddit")
    origin.set_behaviour("/oembed/reddit", "429")
    assert _capture(env, _embed(RD, "1b6yq2k")).status == "archived"
    assert origin.count("/oembed/reddit") - before == 2
    origin.set_behaviour("/oembed/reddit", "500", sticky=True)
    settings = tmp_settings(**origin.settings_overrides(), fetch_retries=0, media_derivatives=False)
    try:
        res = _capture(env, _embed(RD, "1b6yq2k", text="Ice out?"), settings=settings)
    finally:
        origin.set_behaviour("/oembed/reddit")
    assert res.status == "unavailable" and "500" in (res.error or "")
    assert _manifest(env, res)["text"] == "Ice out?"


def test_markup_only_when_no_endpoint(origin: FixtureOrigin, env: dict[str, Any],
                                      tmp_settings: Callable[..., Any]) -> None:
    settings = tmp_settings(**{**origin.settings_overrides(), "youtube_oembed_url": ""}, media_derivatives=False)
    res = _capture(env, _embed(YT, "Tq2wE9rY4uI", text="Caption in the article"), settings=settings)
    m = _manifest(env, res)
    assert res.status == "archived" and m["text"] == "Caption in the article"
    assert [s["name"] for s in m["sources"]] == ["publisher_markup"]
    res = _capture(env, _embed(YT, "Tq2wE9rY4uI"), settings=settings)
    assert res.status == "unresolved" and res.error  # never a success with empty text


def test_thumbnail_from_markup(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    from archiver.testing.fixture_origin import make_image

    thumb = origin.add_image("/markup-thumbs/reel.jpg", make_image("reel", 40, 30))
    article = (f'<blockquote class="reddit-embed-bq"><img src="{thumb}" alt=""><a href="{RD["url"]}">'
               "Ice out</a></blockquote>")
    e = Embed("reddit", "1b6yq2k", RD["url"], 0, len(article), text="Ice out", form="blockquote")
    ctx = CaptureContext(settings=env["settings"], fetcher=env["fetcher"])
    m = _manifest(env, store_capture(get_provider("reddit").capture(occurrences_in(article, [e]), ctx), ctx,
                                     env["store"]))
    assert m["media"][0]["original_url"] == thumb and m["media"][0]["status"] == "archived"


@pytest.mark.parametrize(("func", "post_id", "expected"), [
    (tiktok_time, "7342136643995317486", datetime(2024, 3, 3, 14, 0, tzinfo=UTC)),
    (mastodon_time, "112036596940807418", datetime(2024, 3, 4, 9, 0, tzinfo=UTC)),
    (tiktok_time, "123", None), (mastodon_time, "12", None), (bluesky_time, "not-a-tid!", None),
])
def test_ids_that_carry_time(func: Callable[[str], datetime | None], post_id: str,
                             expected: datetime | None) -> None:
    assert func(post_id) == expected


def test_a_telegram_post_is_filed_under_its_own_id(tmp_path: Path) -> None:
    """Telegram's "channel/123" is stored and indexed as "channel:123" (one key segment), not lost
    under a hash; the article's report keeps the id as discovery gave it."""
    from archiver.config.settings import load_settings

    html = ('<p>Alert</p><script async src="https://telegram.org/js/telegram-widget.js?22" '
            'data-telegram-post="lakemontalerts/512" data-width="100%"></script>')
    rt = Runtime.from_settings(load_settings(env={}).replace(home=str(tmp_path)))
    rep = archive(rt, html.encode(), article_id="tg")
    (embed,) = rep["embeds"]
    assert embed["post_id"] == "lakemontalerts/512"
    assert embed["snapshot"].startswith("posts/telegram/lakemontalerts:512/")
    assert rt.catalog.captures("telegram", "lakemontalerts:512")
    rt.close()


# --- share links that hide the post until followed, and status URLs with any handle segment -------
SHORT = {
    # TikTok: vt. and vm. share links, and tiktok.com/t/CODE (a second hop to vm.)
    "https://vt.tiktok.com/ZSTD5bW7/": TT["url"] + "?_r=1&_t=ZT-8kPq",
    "https://www.tiktok.com/t/ZTRq8Hc2/": "https://vm.tiktok.com/ZMr4Xq9Lk/",
    "https://vm.tiktok.com/ZMr4Xq9Lk/": TT["url"] + "?is_from_webapp=1",
    # Reddit: the app's /s/ share link goes to the comments page with tracking parameters.
    "https://www.reddit.com/r/Lakemont/s/cv5XKIpUIr": RD["url"] + "ice_out/?share_id=Xy1&utm_medium=android_app",
    # Facebook: /share/p/ to the post, fb.watch to watch?v=, /share/r/ relative to the reel.
    "https://www.facebook.com/share/p/1BxRgPHRBn/": "https://www.facebook.com/LakemontDPW/posts/pfbid02abcDEFgh1",
    "https://fb.watch/nQ7s1Zx-Ab/": "https://www.facebook.com/watch/?v=10155512345678901&ref=sharing",
    "https://www.facebook.com/share/r/9ZkLmNoPq1/": "/reel/1029384756102938/?mibextid=abc",
    # A share link that leads to a login page, not a post.
    "https://www.facebook.com/share/v/LoginWall7/": "https://www.facebook.com/login/?next=%2Fshare%2Fv%2FLoginWall7",
}
LONG_HANDLE = {"id": "1943236038893785095", "handle": "ExampleMin", "name": "Example Ministry",
               "text": "Road closures for the marathon are listed on our site."}
NO_HANDLE = {"id": "1943236038893785100", "handle": "ExampleDev", "name": "Example Dev", "text": "Release day!"}


@pytest.fixture(scope="module")
def short_origin() -> Iterator[FixtureOrigin]:
    with FixtureOrigin(tweets=[LONG_HANDLE, NO_HANDLE], posts=[TT, RD], shortlinks=SHORT) as o:
        yield o


def _archive(tmp_path: Path, settings: Any, article: str) -> tuple[Runtime, dict[str, Any]]:
    rt = Runtime.from_settings(settings)
    return rt, archive(rt, article.encode(), article_id="short-links")


def _manifest_of(rt: Runtime, embed: dict[str, Any]) -> dict[str, Any]:
    m = json.loads(rt.store.get(embed["snapshot"]))
    validate_manifest(m)
    return m


def test_share_links_are_resolved_and_the_post_captured(short_origin: FixtureOrigin, tmp_settings: Callable[..., Any],
                                                        tmp_path: Path) -> None:
    """Each share link is an embed without an id; the capture asks it for its redirects (never the
    post's page), captures the post it leads to and records both URLs."""
    links = list(SHORT)[:7]
    article = "<p>Seen on social media:</p>\n" + "\n".join(f"<p>{u}</p>" for u in links) + "\n"
    settings = tmp_settings(**short_origin.settings_overrides(), media_derivatives=False)
    before = len(short_origin.requests)
    rt, rep = _archive(tmp_path, settings, article)
    try:
        assert len(rep["embeds"]) == 7, rep["embeds"]
        want = {  # short link -> (provider, post id, status)
            links[0]: ("tiktok", "7342136643995317486", "archived"),
            links[1]: ("tiktok", "7342136643995317486", "archived"),
            links[3]: ("reddit", "1b6yq2k", "archived"),
            links[4]: ("facebook", "pfbid02abcDEFgh1", "unresolved"),  # no endpoint, no text in the markup
            links[5]: ("facebook", "10155512345678901", "unresolved"),
            links[6]: ("facebook", "1029384756102938", "unresolved"),
        }
        for short, (provider, post_id, status) in want.items():
            (e,) = [e for e in rep["embeds"] if e["provider"] == provider and _manifest_of(rt, e)["sources"][1]
                    ["data"]["short_url"] == short]
            m = _manifest_of(rt, e)
            assert (e["post_id"], m["post_id"], m["status"]) == (post_id, post_id, status), (short, e, m["error"])
            source = m["sources"][1]
            assert source["name"] == "shortlink" and source["outcome"] == "ok"
            assert source["data"]["short_url"] == short
            assert source["data"]["resolved_url"] == source["data"]["redirects"][-1]
            assert match_post_url(source["data"]["resolved_url"])[:2] == (provider, post_id)
            assert m["url"] == source["data"]["post_url"] != short
            # What the article showed is still said by the markup source: the short link, no id.
            assert m["sources"][0]["data"]["url"] == short and m["sources"][0]["data"]["post_id"] is None
            # The redirect hops are in the WARC.
            warc = [r for r in read_warc(rt.store.get(m["warc"])) if r.get("type") == "response"]
            assert any(short.split("//")[1].rstrip("/") in r["uri"] for r in warc), warc
        tt = _manifest_of(rt, next(e for e in rep["embeds"] if e["provider"] == "tiktok"))
        assert tt["text"] == TT["text"] and tt["author"]["handle"] == "pinecrestobserver"
        # Never a request for a post's own page: only the share links, oEmbed and thumbnails.
        paths = [r.path for r in short_origin.requests[before:]]
        assert not [p for p in paths if p.startswith("/short/www.tiktok.com/@") or "/comments/" in p], paths
    finally:
        rt.close()


def test_share_links_that_lead_nowhere(short_origin: FixtureOrigin, tmp_settings: Callable[..., Any],
                                       tmp_path: Path) -> None:
    """A dead link, a login wall and a link whose host fails keep what the article showed: unresolved,
    or unavailable (retried) when the host may answer later; no page body is kept."""
    dead, wall, flaky = ("https://vt.tiktok.com/ZSgone404/", "https://www.facebook.com/share/v/LoginWall7/",
                         "https://www.reddit.com/r/Lakemont/s/Flaky500x")
    short_origin.set_behaviour("/short/www.reddit.com/r/Lakemont/s/Flaky500x", "500", sticky=True)
    short_origin.add_image("/short/www.facebook.com/login/", b"<html><body>" + b"log in " * 500 + b"</body></html>",
                           "text/html")
    settings = tmp_settings(**short_origin.settings_overrides(), media_derivatives=False, fetch_retries=0)
    article = f"{dead}\n\nSome text.\n\n{wall}\n\n{flaky}\n"
    try:
        rt, rep = _archive(tmp_path, settings, article)
    finally:
        short_origin.set_behaviour("/short/www.reddit.com/r/Lakemont/s/Flaky500x")
    try:
        by_url = {e["url"]: e for e in rep["embeds"]}
        assert set(by_url) == {dead, wall, flaky}
        assert [by_url[u]["status"] for u in (dead, wall, flaky)] == ["unresolved", "unresolved", "unavailable"]
        assert all(by_url[u]["post_id"] is None for u in (dead, wall, flaky))
        m = _manifest_of(rt, by_url[wall])
        source = next(s for s in m["sources"] if s["name"] == "shortlink")
        assert source["outcome"] == "no_post" and source["data"]["redirects"][0].startswith(
            "https://www.facebook.com/login/")
        assert "404" in (by_url[dead]["error"] or "") and "500" in (by_url[flaky]["error"] or "")
        pages = [r for r in read_warc(rt.store.get(m["warc"])) if r["type"] == "response" and "/login" in r["uri"]]
        assert [r["status"] for r in pages] == [200]
        assert b"log in" not in pages[0]["payload"]  # the page's body is never kept
    finally:
        rt.close()


def test_status_urls_with_any_handle_segment_in_an_official_blockquote(
        short_origin: FixtureOrigin, tmp_settings: Callable[..., Any], tmp_path: Path) -> None:
    """A handle segment longer than a handle (Twitter redirects it) or none at all (/i/web/status/,
    /i/status/) still names the tweet; the post is archived under the handle the attribution shows."""
    article = (
        '<blockquote class="twitter-tweet" data-lang="es"><p lang="en" dir="ltr">Road closures for the marathon '
        'are listed on our site.</p>&mdash; Example Ministry (@ExampleMin) <a href="https://twitter.com/'
        'ExampleMinistry1/status/1943236038893785095?ref_src=twsrc%5Etfw">July 10, 2025</a></blockquote>\n'
        '<script async src="https://platform.twitter.com/widgets.js" charset="utf-8"></script>\n'
        '<p>And:</p>\n<blockquote class="twitter-tweet"><p lang="en" dir="ltr">Release day!</p>&mdash; Example Dev '
        '(@ExampleDev) <a href="https://x.com/i/status/1943236038893785100">July 10, 2025</a></blockquote>\n')
    settings = tmp_settings(**short_origin.settings_overrides(), media_derivatives=False)
    rt, rep = _archive(tmp_path, settings, article)
    try:
        got = [(e["post_id"], e["status"], e["url"]) for e in rep["embeds"]]
        assert got == [
            ("1943236038893785095", "archived", "https://twitter.com/ExampleMin/status/1943236038893785095"),
            ("1943236038893785100", "archived", "https://twitter.com/ExampleDev/status/1943236038893785100")], got
        m = _manifest_of(rt, rep["embeds"][0])
        assert m["text"] == LONG_HANDLE["text"] and m["author"]["handle"] == "ExampleMin"
    finally:
        rt.close()


def test_share_link_redirect_loops_and_hostile_locations_end(short_origin: FixtureOrigin,
                                                             tmp_settings: Callable[..., Any]) -> None:
    """A loop between share links stops after fetch_max_redirects hops; a Location that is no http(s)
    URL is not asked; both are unresolved with a one-line reason, never an exception."""
    from archiver.providers.registry import find
    from archiver.providers.shortlinks import ask_url, resolve

    short_origin.add_shortlink("https://vt.tiktok.com/LoopAaaa1/", "https://vt.tiktok.com/LoopBbbb2/")
    short_origin.add_shortlink("https://vt.tiktok.com/LoopBbbb2/", "https://vt.tiktok.com/LoopAaaa1/")
    short_origin.add_shortlink("https://vt.tiktok.com/Script777/", "javascript:alert(1)")
    settings = tmp_settings(**short_origin.settings_overrides(), fetch_max_redirects=4)
    ctx = CaptureContext(settings=settings, fetcher=Fetcher(settings))
    spec = find("tiktok")
    assert spec is not None
    def asked() -> int:
        return sum(short_origin.count(f"/short/vt.tiktok.com/{code}/") for code in ("LoopAaaa1", "LoopBbbb2"))

    before = asked()
    found, source = resolve(ctx, spec, "https://vt.tiktok.com/LoopAaaa1/")
    assert found is None and source.outcome == "no_post" and asked() - before == 4
    assert "did not lead to a post" in (source.error or "") and "\n" not in (source.error or "")
    found, source = resolve(ctx, spec, "https://vt.tiktok.com/Script777/")
    assert found is None and source.outcome == "bad_url"
    assert ask_url("https://{host}{path}", "javascript:alert(1)") is None
    assert ask_url("https://{host}{path}", "https://user@[::1]/x") is None
    assert ask_url("https://{host}{path}", "https://vt.tiktok.com/ZSTD5bW7/?a=1") == "https://vt.tiktok.com/ZSTD5bW7/?a=1"
