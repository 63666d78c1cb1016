"""Twitter/X capture against the fixture origin: real fetcher, real media archiving, local store."""

from __future__ import annotations

import hashlib
import json
import math
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
from archiver.providers.registry import get_provider
from archiver.providers.twitter.api import expand_text
from archiver.providers.twitter.capture import TwitterProvider
from archiver.providers.twitter.ids import double_to_radix, parse_status_url, snowflake_time, syndication_token
from archiver.providers.twitter.media import media_plan, photo_original_url
from archiver.storage.local import LocalStore
from archiver.testing.fixture_origin import FixtureOrigin
from archiver.testing.fixtures import TOMBSTONE_TEXT

# Computed with node: ((Number(id)/1e15)*Math.PI).toString(36).replace(/(0+|\.)/g,'')
NODE_TOKENS = {
    "1757429972446608301": "49d4naup5vp",
    "1763973978935815120": "49xor9r17",
    "1762828123138730112": "49u35w6nrs",
    "1764927578469150481": "4aolu24bku",
    "1945048830047662087": "4pqju8u5thw",
    "20": "6dq1a2xwd93",
    "1": "bhi2ay3f28n",
    "123456789": "ng9m4sqe3h",
    "1288834974657": "58wr7ohj8zb",
    "9007199254740993": "saoujnx4as",
    "1000000000000000": "353i5ab8p5f",
    "3141592653589793": "9vb9grlkj",
    "1766441302328346877": "4a5fsyubdl2",
    "1748306223249557432": "48kgrx3j7ka",
    "1765709230920277604": "4a35c3lnnr",
    "1600000000000000000": "3vmjqiybmlu",
    "99999999999999999": "8q5qeon85v4",
    "1577836800000000000": "3tox4ytld6q",
    "1700000000000000001": "44cpgxmyurn",
    "1111111111111111111": "2oynpf5u2p5",
}
# (value, radix, Number.prototype.toString(radix)) from node.
NODE_RADIX = [
    (0.5, 36, "0.i"), (255.5, 16, "ff.8"), (math.pi, 36, "3.53i5ab8p5f"), (1e21, 36, "5v1j4f4ds7c000"),
    (123.456, 36, "3f.gez4w97ry"), (-7.25, 2, "-111.01"), (0.1, 3, "0.0022002200220022002200220022002201"),
    (2.0**53 + 2, 36, "2gosa7pa2gy"), (1 / 3, 36, "0.c"), (5e-324, 36, "0." + "0" * 207 + "3"),
]

PHOTO = {"id": "1757429972446608301", "handle": "LakemontDPW", "name": "Lakemont Public Works",
         "text": "Crews are treating Route 9 & Lakeshore Dr now. Ban map: https://t.co/Lk4mZp8sQe",
         "links": {"https://t.co/Lk4mZp8sQe": "https://lakemont.example.gov/parking-ban"},
         "created_at": "2024-02-13T15:42:11.000Z",
         "photos": [{"name": "GGR3kxLWAAAq7Zp.jpg", "alt": "A plow on Lakeshore Drive", "width": 320,
                     "height": 200},
                    {"name": "GGR3kxLWAAAq7Zq.png", "alt": None, "width": 64, "height": 64}],
         "media_code": "Hq2vNw5xRt"}
VIDEO = {"id": "1763973978935815120", "handle": "PinecrestObs", "name": "Pinecrest Observer",
         "text": "Ice-out is official on Lake Mont 👇", "quoted_id": "1762828123138730112",
         "video": {"name": "Tq7rLw2XbVn9sKpE", "width": 1280, "height": 720, "duration_ms": 41708}}
QUOTED = {"id": "1762828123138730112", "handle": "LakemontDPW", "name": "Lakemont Public Works",
          "text": "Lake Mont ice report, Feb 28: stay off the ice."}
GIF = {"id": "1764927578469150481", "handle": "PinecrestObs", "name": "Pinecrest Observer",
       "text": "Snow day 🎉❄️", "gif": {"name": "GIFsnowday"}}
REPLY = {"id": "1766441302328346877", "handle": "LakemontDPW", "name": "Lakemont Public Works",
         "text": "Update: the ban is lifted.", "parent_id": "1757429972446608301"}
EDITED = {"id": "1748306223249557432", "handle": "LakemontSki", "name": "Lakemont Ski Patrol",
          "text": "Opening run at Pine Ridge", "edit_ids": ["1748306223249557432", "1765709230920277604"]}
EDITED_LATEST = {**EDITED, "id": "1765709230920277604", "text": "Opening run at Pine Ridge (corrected)"}
HINDI = {"id": "1945048830047662087", "handle": "ANI", "name": "ANI", "lang": "hi",
         "text": "विदेश मंत्री डॉ. एस. जयशंकर ने तियानजिन में लावरोव से मुलाकात की 🇮🇳🤝🇷🇺"}
ARABIC = {"id": "1700000000000000001", "handle": "AlJazeera", "name": "الجزيرة", "lang": "ar",
          "text": "وزير الخارجية الروسي يلتقي نظيره الهندي في تيانجين"}
DELETED = {"id": "1600000000000000000", "handle": "gone", "name": "Gone", "text": "was here",
           "state": "deleted"}
TOMB = {"id": "1577836800000000000", "handle": "nsfw", "name": "N", "text": "x", "state": "tombstone"}
PROTECTED = {"id": "1111111111111111111", "handle": "locked", "name": "Locked", "text": "x",
             "state": "protected"}
EMOJI = {"id": "1765709230920277605", "handle": "LakemontSnow", "name": "Lakemont Snow Desk (LSD) ❄️",
         "text": "Family sledding day 👨‍👩‍👧‍👦🛷 keycap 1️⃣ flags 🇮🇳🇺🇦 skin 👍🏽 — done ✅"}
ALL = [PHOTO, VIDEO, QUOTED, GIF, REPLY, EDITED, EDITED_LATEST, HINDI, ARABIC, DELETED, TOMB, PROTECTED, EMOJI]


@pytest.fixture(scope="module")
def origin() -> Iterator[FixtureOrigin]:
    with FixtureOrigin(tweets=ALL, timeout_sleep=1.5) as o:
        yield o


Capture = Callable[..., CaptureResult]


@pytest.fixture
def env(origin: FixtureOrigin, tmp_settings: Callable[..., Any], tmp_path: Path) -> Iterator[dict[str, Any]]:
    settings = tmp_settings(**origin.settings_overrides(), fetch_retries=1, fetch_max_retry_after=2.0,
                            media_derivatives=False)
    store = LocalStore(tmp_path / "objects", "http://127.0.0.1:1/media")
    yield {"settings": settings, "store": store, "fetcher": Fetcher(settings)}
    # Every manifest a test wrote (quoted and parent captures too) is valid and has its cards.
    for key in store.list("posts/"):
        if key.endswith(".json"):
            m = json.loads(store.get(key))
            validate_manifest(m)
            assert store.exists(m["cards"]["html"]) and store.exists(m["cards"]["png"])


def _capture(env: dict[str, Any], embeds: list[Embed], text: str = "", settings: Any = None) -> CaptureResult:
    s = settings or env["settings"]
    ctx = CaptureContext(settings=s, fetcher=Fetcher(s) if settings else env["fetcher"], article_id="art-1",
                         article_url="https://news.example/story")
    return store_capture(get_provider("twitter").capture(occurrences_in(text, embeds), ctx), ctx, env["store"])


def _embed(tweet: dict[str, Any], text: str = "") -> Embed:
    return Embed("twitter", tweet["id"], f"https://twitter.com/{tweet['handle']}/status/{tweet['id']}",
                 0, len(text), handle=tweet["handle"], text=tweet.get("text"), form="blockquote")


def _stored_manifest(env: dict[str, Any], res: CaptureResult) -> dict[str, Any]:
    assert res.manifest_key
    m = json.loads(env["store"].get(res.manifest_key))
    validate_manifest(m)
    return m


# --- pure functions -------------------------------------------------------------------------------
@pytest.mark.parametrize(("tweet_id", "token"), sorted(NODE_TOKENS.items()))
def test_token_matches_javascript(tweet_id: str, token: str) -> None:
    assert syndication_token(tweet_id) == token


@pytest.mark.parametrize(("value", "radix", "expected"), NODE_RADIX)
def test_radix_formatting_matches_v8(value: float, radix: int, expected: str) -> None:
    assert double_to_radix(value, radix) == expected


@pytest.mark.parametrize("bad", ["", "12a", "-5", "1" * 21, "١٢٣"])
def test_token_rejects_non_ids(bad: str) -> None:
    with pytest.raises(ValueError):
        syndication_token(bad)


def test_snowflake_decodes_and_old_ids_have_no_time() -> None:
    assert snowflake_time("1764927578469150481") == datetime(2024, 3, 5, 8, 15, 0, 132000, tzinfo=UTC)
    assert snowflake_time("20") is None
    assert snowflake_time("29700000000") is None
    assert snowflake_time("not-an-id") is None


@pytest.mark.parametrize(("url", "expected"), [
    ("https://x.com/PinecrestObs/status/1764927578469150481/photo/1",
     ("PinecrestObs", "1764927578469150481")),
    ("https://twitter.com/#!/PinecrestObs/status/1764927578469150481", ("PinecrestObs",
                                                                       "1764927578469150481")),
    ("https://twitter.com/i/web/status/1764927578469150481", (None, "1764927578469150481")),
    ("https://mobile.twitter.com/PinecrestObs/statuses/1764927578469150481?s=20", ("PinecrestObs",
                                                                                    "1764927578469150481")),
    ("https://twitter.com/PinecrestObs", None),
    ("https://example.com/a/status/1", None),
])
def test_status_urls(url: str, expected: tuple[str | None, str] | None) -> None:
    assert parse_status_url(url) == expected


def test_expand_text_and_media_plan_on_real_shapes() -> None:
    tweet = {
        "text": "Plows all night &amp; ban at 10pm. Map: https://t.co/Lk4mZp8sQe https://t.co/Hq2vNw5xRt",
        "entities": {"urls": [{"url": "https://t.co/Lk4mZp8sQe", "expanded_url": "https://lakemont.example.gov/ban"}],
                     "media": [{"url": "https://t.co/Hq2vNw5xRt",
                                "expanded_url": "https://x.com/L/status/1/photo/1"}]},
        "mediaDetails": [
            {"type": "photo", "media_url_https": "https://pbs.twimg.com/media/GGR3kxLWAAAq7Zp.jpg",
             "ext_alt_text": "A plow"},
            {"type": "video", "media_url_https": "https://pbs.twimg.com/thumb.jpg",
             "video_info": {"duration_millis": 41708, "variants": [
                 {"bitrate": 832000, "content_type": "video/mp4", "url": "https://video.twimg.com/640.mp4"},
                 {"content_type": "application/x-mpegURL", "url": "https://video.twimg.com/pl.m3u8"},
                 {"bitrate": 2176000, "content_type": "video/mp4", "url": "https://video.twimg.com/1280.mp4"}]}},
            {"type": "video", "video_info": {"variants": []}},
            "garbage",
        ],
    }
    text, expanded = expand_text(tweet)
    assert text == "Plows all night & ban at 10pm. Map: https://t.co/Lk4mZp8sQe https://t.co/Hq2vNw5xRt"
    assert expanded == "Plows all night & ban at 10pm. Map: https://lakemont.example.gov/ban https://x.com/L/status/1/photo/1"
    plan = media_plan(tweet)
    assert [p["url"] for p in plan] == ["https://pbs.twimg.com/media/GGR3kxLWAAAq7Zp?format=jpg&name=orig",
                                        "https://video.twimg.com/1280.mp4"]
    assert plan[0]["alt_text"] == "A plow" and plan[1]["duration"] == pytest.approx(41.708)
    assert photo_original_url("https://pbs.twimg.com/media/X?format=png&name=small") == \
        "https://pbs.twimg.com/media/X?format=png&name=orig"
    assert expand_text({"text": 5}) == (None, None)


# --- captures ---------------------------------------------------------------------------------------
def test_photo_tweet_archived_with_original_bytes_and_warc(origin: FixtureOrigin,
                                                           env: dict[str, Any]) -> None:
    res = _capture(env, [_embed(PHOTO)])
    assert res.status == "archived", res.error
    m = _stored_manifest(env, res)
    assert res.manifest_key == f"posts/twitter/{PHOTO['id']}/{res.capture_id}.json"
    assert m["text"] == "Crews are treating Route 9 & Lakeshore Dr now. Ban map: https://t.co/Lk4mZp8sQe " \
        "https://t.co/Hq2vNw5xRt"
    assert "https://lakemont.example.gov/parking-ban" in m["text_expanded"]
    assert m["author"]["handle"] == "LakemontDPW" and m["author"]["avatar_sha256"]
    assert m["created_at"] == "2024-02-13T15:42:11.000Z"
    assert len(m["media"]) == 2
    for item, photo in zip(m["media"], PHOTO["photos"], strict=True):
        served = origin.media_bytes(f"/media/{photo['name']}")
        assert item["status"] == "archived"
        assert item["sha256"] == hashlib.sha256(served).hexdigest()
        assert env["store"].get(item["key"]) == served
        assert "name=orig" in item["original_url"]
        assert (item["width"], item["height"]) == (photo["width"], photo["height"])
        assert item["alt_text"] == photo["alt"]
    names = [s["name"] for s in m["sources"]]
    assert names[:3] == ["publisher_markup", "oembed", "syndication"]
    synd = next(s for s in m["sources"] if s["name"] == "syndication")
    assert synd["http_status"] == 200 and synd["fetched_at"].endswith("Z")
    # The WARC holds the exchanges the snapshot was derived from.
    records = read_warc(env["store"].get(m["warc"]))
    responses = [r for r in records if r["type"] == "response"]
    synd_rec = next(r for r in responses if "/tweet-result" in r["uri"])
    assert hashlib.sha256(synd_rec["payload"]).hexdigest() == synd["response_sha256"]
    assert json.loads(synd_rec["payload"])["id_str"] == PHOTO["id"]
    assert synd_rec["ip"] == "127.0.0.1"
    assert sum(r["type"] == "request" for r in records) == len(responses)
    assert any(r["payload"] == origin.media_bytes(f"/media/{PHOTO['photos'][0]['name']}") for r in responses)


def test_video_best_bitrate_and_quoted_post_captured(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    res = _capture(env, [_embed(VIDEO)])
    assert res.status == "archived", res.error
    m = _stored_manifest(env, res)
    (video,) = m["media"]
    assert video["type"] == "video" and video["bitrate"] == 2176000 and "/1280x720/" in video["original_url"]
    assert video["sha256"] == hashlib.sha256(origin.media_bytes(video["original_url"])).hexdigest()
    assert video["duration"] == pytest.approx(41.708)
    # The poster is archived too, byte for byte.
    poster = origin.media_bytes(video["poster_url"])
    assert video["poster_sha256"] == hashlib.sha256(poster).hexdigest()
    assert env["store"].get(video["poster_key"]) == poster
    assert m["text"].endswith("👇 https://t.co/" + origin.tweets[VIDEO["id"]].media_code)
    q = m["quoted"]
    assert q["post_id"] == QUOTED["id"] and q["status"] == "archived"
    qm = json.loads(env["store"].get(q["manifest_key"]))
    validate_manifest(qm)
    assert qm["text"] == QUOTED["text"] and qm["capture_id"] == q["capture_id"] != m["capture_id"]
    assert qm["referenced_by"] == [{"capture_id": m["capture_id"], "relation": "quoted"}]


def test_gif_is_archived_as_mp4(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    res = _capture(env, [_embed(GIF)])
    m = _stored_manifest(env, res)
    assert res.status == "archived"
    (gif,) = m["media"]
    assert gif["type"] == "animated_gif" and gif["mime"] == "video/mp4"
    assert env["store"].get(gif["key"]) == origin.media_bytes(gif["original_url"])
    assert m["created_at_consistent"] is True  # created_at generated from the snowflake


def test_reply_parent_captured(env: dict[str, Any]) -> None:
    res = _capture(env, [_embed(REPLY)])
    m = _stored_manifest(env, res)
    assert m["parent"]["post_id"] == PHOTO["id"] and m["parent"]["status"] == "archived"
    pm = json.loads(env["store"].get(m["parent"]["manifest_key"]))
    assert pm["referenced_by"][0]["relation"] == "parent" and len(pm["media"]) == 2


def test_edited_tweet_records_edit_chain(env: dict[str, Any]) -> None:
    m = _stored_manifest(env, _capture(env, [_embed(EDITED)]))
    assert m["edit"]["edit_ids"] == EDITED["edit_ids"]
    assert m["edit"]["is_edited"] is True and m["edit"]["is_latest"] is False
    assert m["edit"]["latest_id"] == EDITED_LATEST["id"] and m["edit"]["is_stale"] is True
    # The article shows a stale version: the latest one is captured too.
    assert m["latest_edit"]["post_id"] == EDITED_LATEST["id"] and m["latest_edit"]["status"] == "archived"
    latest = json.loads(env["store"].get(m["latest_edit"]["manifest_key"]))
    assert latest["text"] == EDITED_LATEST["text"] and latest["edit"]["is_latest"] is True


@pytest.mark.parametrize("tweet", [HINDI, ARABIC], ids=["hindi", "rtl"])
def test_non_latin_text_kept_exactly(env: dict[str, Any], tweet: dict[str, Any]) -> None:
    res = _capture(env, [_embed(tweet)])
    m = _stored_manifest(env, res)
    assert res.status == "archived"
    assert m["text"] == tweet["text"] and m["lang"] == tweet["lang"]
    oembed = next(s for s in m["sources"] if s["name"] == "oembed")
    assert oembed["data"]["text"] == tweet["text"]
    assert oembed["data"]["dir"] == ("rtl" if tweet["lang"] == "ar" else "ltr")
    assert m["author"]["name"] == tweet["name"]


def test_emoji_sequences_kept_exactly(env: dict[str, Any]) -> None:
    res = _capture(env, [_embed(EMOJI)])
    m = _stored_manifest(env, res)
    assert res.status == "archived"
    assert m["text"] == EMOJI["text"] and m["author"]["name"] == EMOJI["name"]
    assert next(s for s in m["sources"] if s["name"] == "oembed")["data"]["text"] == EMOJI["text"]
    assert EMOJI["text"] in env["store"].get(m["cards"]["html"]).decode("utf-8")


def test_deleted_keeps_what_the_article_showed(env: dict[str, Any]) -> None:
    res = _capture(env, [_embed(DELETED)])
    m = _stored_manifest(env, res)
    assert res.status == "deleted"
    assert m["text"] == "was here" and m["text_source"] == "publisher_markup"
    outcomes = {s["name"]: (s["http_status"], s["outcome"]) for s in m["sources"]}
    assert outcomes["oembed"] == (404, "not_found") and outcomes["syndication"] == (200, "empty")


def test_tombstone_and_protected(env: dict[str, Any]) -> None:
    # The fixture's tombstone is the age-restriction notice: its text says what it is.
    res = _capture(env, [_embed(TOMB)])
    assert res.status == "age_restricted"
    m = _stored_manifest(env, res)
    assert m["tombstone"] == TOMBSTONE_TEXT and m["error"] and "\n" not in m["error"]
    res = _capture(env, [_embed(PROTECTED)])
    assert res.status == "protected"
    _stored_manifest(env, res)


def test_rate_limited_once_then_success(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    before = origin.count("/tweet-result", id=HINDI["id"])
    origin.set_behaviour(f"/tweet-result?id={HINDI['id']}", "429")
    res = _capture(env, [_embed(HINDI)])
    assert res.status == "archived", res.error
    assert origin.count("/tweet-result", id=HINDI["id"]) - before == 2


@pytest.mark.parametrize("step", ["500", "garbage", "timeout"])
def test_transient_trouble_is_unavailable(origin: FixtureOrigin, env: dict[str, Any], step: str,
                                          tmp_settings: Callable[..., Any]) -> None:
    origin.set_behaviour(f"/tweet-result?id={ARABIC['id']}", step, sticky=True)
    settings = tmp_settings(**origin.settings_overrides(), fetch_retries=0, fetch_read_timeout=0.3,
                            fetch_deadline=1.0, media_derivatives=False)
    try:
        res = _capture(env, [_embed(ARABIC)], settings=settings)
    finally:
        origin.set_behaviour(f"/tweet-result?id={ARABIC['id']}")
    assert res.status == "unavailable" and res.error
    m = _stored_manifest(env, res)
    assert m["text"] == ARABIC["text"]  # oEmbed still answered: nothing the reader saw is lost


FLATTENED = (
    "Intro paragraph.\n"
    "Russia's Foreign Minister meets Dr S Jaishankar in Tianjin\n"
    "— ANI (@ANI) July 15, 2025\n"
    "(Source: Ministry of Foreign Affairs of Russia) pic.twitter.com/{code}\n"
    "Next paragraph (not a source line)."
)


def _flattened(code: str) -> tuple[Embed, str]:
    text = FLATTENED.replace("{code}", code)
    start = text.index("Russia's")
    end = text.index("July 15, 2025") + len("July 15, 2025")
    return Embed("twitter", None, None, start, end, handle="ANI", author="ANI",
                 text="Russia's Foreign Minister meets Dr S Jaishankar in Tianjin", date="July 15, 2025",
                 media_links=[f"pic.twitter.com/{code}"], form="flattened"), text


def test_flattened_resolves_through_shortlink(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    origin.add_tweet({**HINDI, "id": "1945048830047662088", "media_code": "HA2sQBIEQc",
                      "photos": [{"name": "ani.jpg", "width": 40, "height": 30}]})
    embed, text = _flattened("HA2sQBIEQc")
    res = _capture(env, [embed], text)
    assert res.status == "archived" and res.post_id == "1945048830047662088"
    m = _stored_manifest(env, res)
    assert m["attribution"]["shown"] == "— ANI (@ANI) July 15, 2025"
    assert m["attribution"]["source_lines"] == ["(Source: Ministry of Foreign Affairs of Russia)"]
    assert m["articles"][0]["occurrences"] == [{"start": embed.start, "end": embed.end, "form": "flattened"}]
    assert next(s for s in m["sources"] if s["name"] == "shortlink")["http_status"] == 301


def test_flattened_unresolved_keeps_snapshot(env: dict[str, Any]) -> None:
    embed, text = _flattened("NoSuchCode1")
    res = _capture(env, [embed], text)
    assert res.status == "unresolved"
    assert res.post_id == "unresolved-" + hashlib.sha256(
        "|".join(["ANI", "July 15, 2025", embed.text or "", *embed.media_links]).encode()).hexdigest()[:16]
    m = _stored_manifest(env, res)
    assert m["text"] == embed.text and m["author"]["handle"] == "ANI"
    assert m["attribution"]["shown"] == "— ANI (@ANI) July 15, 2025"
    assert m["warc"] and read_warc(env["store"].get(m["warc"]))[-1]["status"] == 404


def test_blockquote_attribution_from_html(env: dict[str, Any]) -> None:
    article = ('<p>x</p><blockquote class="twitter-tweet"><p lang="hi" dir="ltr">' + HINDI["text"]
               + ' (स्रोत: विदेश मंत्रालय)</p>&mdash; ANI (@ANI) <a href="https://twitter.com/ANI/status/'
               + HINDI["id"] + '?ref_src=twsrc%5Etfw">15 जुलाई 2025</a></blockquote>\n<p>after</p>')
    e = Embed("twitter", HINDI["id"], None, article.index("<blockquote"), article.index("\n<p>after"),
              handle="ANI", author="ANI", text=HINDI["text"], form="blockquote")
    m = _stored_manifest(env, _capture(env, [e], article))
    assert m["attribution"]["shown"] == "— ANI (@ANI) 15 जुलाई 2025"
    assert m["attribution"]["source_lines"] == ["(स्रोत: विदेश मंत्रालय)"]
    markup = m["sources"][0]
    assert markup["name"] == "publisher_markup" and markup["data"]["lang"] == "hi"


def test_hostile_occurrences_never_raise(env: dict[str, Any]) -> None:
    empty_ctx = CaptureContext(env["settings"], env["fetcher"])
    assert TwitterProvider().capture([], empty_ctx).status == "failed"
    e = Embed("twitter", None, None, 50, 10, handle="bad handle!", text=None, form="flattened")
    res = _capture(env, [e], "short")
    assert res.status == "unresolved" and res.manifest_key


def test_the_two_sources_are_asked_at_the_same_time(tmp_settings: Callable[..., Any]) -> None:
    """oEmbed and syndication are independent: a capture and a liveness probe ask both at once (over a
    network each is a round trip of its own), and what each said is read as when asked one by one."""
    from archiver.health.probes import probe
    from archiver.providers.twitter.api import fetch_sources
    from archiver.runtime import Runtime

    with FixtureOrigin(tweets=[HINDI, DELETED], latency=0.3) as slow:
        settings = tmp_settings(**slow.settings_overrides(), fetch_retries=0)
        ctx = CaptureContext(settings=settings, fetcher=Fetcher(settings))
        oembed, synd = fetch_sources(ctx, HINDI["id"], HINDI["handle"])
        assert slow.max_in_flight == 2 and {r.path for r in slow.requests} == {"/oembed", "/tweet-result"}
        assert oembed.outcome == "ok" and oembed.data["text"] == HINDI["text"]
        assert synd.outcome == "ok" and synd.data.tweet["id_str"] == HINDI["id"]
        slow.max_in_flight = 0
        rt = Runtime.from_settings(settings)
        url = f"https://twitter.com/gone/status/{DELETED['id']}"
        answer = probe(rt, {"url": url, "kind": "embed", "provider": "twitter", "post_id": DELETED["id"]})
        assert answer.outcome == "failure" and "deleted" in answer.detail and slow.max_in_flight == 2
        rt.close()
