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
from archiver.providers.base import CaptureContext, occurrences_in
from archiver.providers.bluesky import id_time as bluesky_time
from archiver.providers.markup import MarkupProvider
from archiver.providers.mastodon import id_time as mastodon_time
from archiver.providers.oembed import OEmbedProvider
from archiver.providers.registry import get_provider
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


def test_registry_finds_one_module_per_provider() -> None:
    for name in ("youtube", "tiktok", "reddit", "bluesky", "mastodon"):
        provider = get_provider(name)
        assert isinstance(provider, OEmbedProvider) and provider.name == name
    for name in ("instagram", "threads", "markup", "oembed", "base", "sources"):
        assert isinstance(get_provider(name), MarkupProvider)
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
