"""The fixture origin plays Twitter's endpoints in their real shapes and fails on request."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator

import pytest
import requests
from PIL import Image

from archiver.capture.media import mp4_duration
from archiver.providers.twitter.ids import syndication_token
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture, make_mp4

LIVE = {"id": "1757429972446608301", "handle": "LakemontDPW", "name": "Lakemont Public Works",
        "text": "Plows all night & ban map: https://t.co/Lk4mZp8sQe",
        "links": {"https://t.co/Lk4mZp8sQe": "https://lakemont.example.gov/parking-ban"},
        "photos": [{"name": "GGR3kxLWAAAq7Zp.jpg", "alt": "A plow", "width": 40, "height": 30}],
        "video": {"name": "clip", "width": 320, "height": 180, "duration_ms": 2500},
        "media_code": "Hq2vNw5xRt", "quoted_id": "1762828123138730112"}
QUOTED = {"id": "1762828123138730112", "handle": "LakemontDPW", "name": "Lakemont Public Works", "text": "q"}
DELETED = {"id": "1600000000000000000", "handle": "gone", "name": "Gone", "text": "x", "state": "deleted"}
# Top-level keys of the real responses of cdn.syndication.twimg.com/tweet-result and publish.twitter.com/oembed.
SYNDICATION_KEYS = {"__typename", "lang", "favorite_count", "possibly_sensitive", "created_at",
                    "display_text_range", "entities", "id_str", "text", "user", "edit_control",
                    "mediaDetails", "photos", "conversation_count", "news_action_type", "isEdited",
                    "isStaleEdit"}
OEMBED_KEYS = {"url", "author_name", "author_url", "html", "width", "height", "type", "cache_age",
               "provider_name", "provider_url", "version"}


@pytest.fixture(scope="module")
def origin() -> Iterator[FixtureOrigin]:
    with FixtureOrigin(tweets=[LIVE, QUOTED, DELETED], timeout_sleep=0.5) as o:
        yield o


def _get(origin: FixtureOrigin, path: str, **params: str) -> requests.Response:
    return requests.get(origin.url(path), params=params, allow_redirects=False, timeout=5)


def test_syndication_real_shape_and_token_check(origin: FixtureOrigin) -> None:
    tid = LIVE["id"]
    r = _get(origin, "/tweet-result", id=tid, lang="en", token=syndication_token(tid))
    body = r.json()
    assert r.status_code == 200 and set(body) >= SYNDICATION_KEYS
    assert body["text"].startswith("Plows all night &amp; ban map: https://t.co/Lk4mZp8sQe")
    assert body["text"].endswith("https://t.co/Hq2vNw5xRt")
    (url_entity,) = body["entities"]["urls"]
    start, end = url_entity["indices"]
    assert body["text"][start:end] == "https://t.co/Lk4mZp8sQe"
    assert body["quoted_tweet"]["id_str"] == QUOTED["id"]
    kinds = [m["type"] for m in body["mediaDetails"]]
    assert kinds == ["photo", "video"]
    variants = body["mediaDetails"][1]["video_info"]["variants"]
    assert all(m["url"].startswith(origin.base_url) for m in variants)
    assert _get(origin, "/tweet-result", id=tid, token="wrong").status_code == 404
    assert _get(origin, "/tweet-result", id="12x").status_code == 400
    deleted = _get(origin, "/tweet-result", id=DELETED["id"], token=syndication_token(DELETED["id"]))
    assert deleted.json() == {}


def test_oembed_shape_and_states(origin: FixtureOrigin) -> None:
    r = _get(origin, "/oembed", url=f"https://twitter.com/LakemontDPW/status/{LIVE['id']}")
    body = r.json()
    assert set(body) == OEMBED_KEYS
    p = '<p lang="en" dir="ltr">Plows all night &amp; ban map: <a href="https://t.co/Lk4mZp8sQe">'
    assert p in body["html"]
    assert "&mdash; Lakemont Public Works (@LakemontDPW)" in body["html"]
    assert _get(origin, "/oembed", url=f"https://twitter.com/gone/status/{DELETED['id']}").status_code == 404
    assert _get(origin, "/oembed", url="not a url").status_code == 404


def test_shortlinks_redirect(origin: FixtureOrigin) -> None:
    r = _get(origin, "/t.co/Hq2vNw5xRt")
    assert r.status_code == 301
    assert r.headers["Location"] == f"https://twitter.com/LakemontDPW/status/{LIVE['id']}/photo/1"
    assert _get(origin, "/t.co/Lk4mZp8sQe").headers["Location"] == "https://lakemont.example.gov/parking-ban"
    assert _get(origin, "/t.co/unknown").status_code == 404


def test_media_are_real_files(origin: FixtureOrigin) -> None:
    photo = _get(origin, "/media/GGR3kxLWAAAq7Zp", format="jpg", name="orig")
    assert photo.content == origin.media_bytes("/media/GGR3kxLWAAAq7Zp.jpg")
    assert Image.open(io.BytesIO(photo.content)).size == (40, 30)
    avatar_url = _get(origin, "/tweet-result", id=LIVE["id"], token=syndication_token(LIVE["id"])).json()[
        "user"]["profile_image_url_https"]
    assert requests.get(avatar_url, timeout=5).headers["Content-Type"] == "image/jpeg"
    clip = make_mp4("seed", 2500)
    assert clip[4:8] == b"ftyp" and mp4_duration(clip) == pytest.approx(2.5)
    assert make_mp4("seed", 2500) == clip and make_mp4("other", 2500) != clip


def test_behaviours_play_in_order_and_requests_are_recorded(origin: FixtureOrigin) -> None:
    path = "/t.co/Hq2vNw5xRt"
    before = origin.count(path)
    origin.set_behaviour(path, "429", "500", "garbage")
    r = _get(origin, path)
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert _get(origin, path).status_code == 500
    assert _get(origin, path).content.startswith(b"<html>")
    assert _get(origin, path).status_code == 301
    assert origin.count(path) - before == 4
    origin.set_behaviour("/tweet-result?id=1", "404", sticky=True)
    assert [_get(origin, "/tweet-result", id="1").status_code for _ in range(3)] == [404, 404, 404]
    assert _get(origin, "/tweet-result", id="2").status_code == 404  # normal: unknown id
    assert origin.requests[-1].query == {"id": "2"}
    with pytest.raises(ValueError):
        origin.set_behaviour("/x", "explode")


def test_timeout_is_bounded_and_close_does_not_hang() -> None:
    with FixtureOrigin(tweets=[QUOTED], timeout_sleep=5) as o:
        o.set_behaviour("/oembed", "timeout")
        with pytest.raises(requests.Timeout):
            requests.get(o.url("/oembed"), timeout=0.3)
        started = time.monotonic()
    assert time.monotonic() - started < 3


def test_fixture_validation() -> None:
    with pytest.raises(ValueError):
        TweetFixture(id="12a", handle="h", name="n")
    with pytest.raises(ValueError):
        TweetFixture(id="1", handle="h", name="n", state="vanished")
    with pytest.raises(TypeError):
        FixtureOrigin(tweets=[{"id": "1", "handle": "h", "name": "n", "colour": "red"}])
    assert json.loads(json.dumps(FixtureOrigin().settings_overrides()))["fetch_allow"] == "127.0.0.1"


def test_other_providers_oembed_shapes_and_states() -> None:
    posts = [{"provider": "youtube", "url": "https://www.youtube.com/watch?v=Tq2wE9rY4uI", "text": "T <b>",
              "author_name": "PO", "handle": "PinecrestObserver"},
             {"provider": "youtube", "url": "https://www.youtube.com/watch?v=Pp1oO2iI3uU", "state": "private"},
             {"provider": "tiktok", "url": "https://www.tiktok.com/@po/video/7342136643995317486", "text": "c",
              "handle": "po", "state": "deleted"},
             {"provider": "mastodon", "url": "https://social.example/@po/112036596940807418", "text": "hi",
              "handle": "po", "thumbnail": False}]
    with FixtureOrigin(posts=posts) as o:
        s = o.settings_overrides()
        yt = requests.get(s["youtube_oembed_url"], params={"url": posts[0]["url"], "format": "json"}, timeout=5)
        body = yt.json()
        assert {"title", "author_name", "author_url", "thumbnail_url", "html", "type"} <= set(body)
        assert body["title"] == "T <b>" and "&lt;b&gt;" in body["html"]
        thumb = requests.get(body["thumbnail_url"], timeout=5)
        assert Image.open(io.BytesIO(thumb.content)).size == (120, 90)
        assert requests.get(s["youtube_oembed_url"], params={"url": posts[1]["url"]}, timeout=5).status_code == 401
        assert requests.get(s["tiktok_oembed_url"], params={"url": posts[2]["url"]}, timeout=5).status_code == 404
        masto = s["mastodon_oembed_url"].replace("{host}", "social.example")
        answer = requests.get(masto, params={"url": posts[3]["url"]}, timeout=5).json()
        assert answer["author_url"] == "https://social.example/@po" and "<p lang=\"en\">hi</p>" in answer["html"]
        wrong_host = s["mastodon_oembed_url"].replace("{host}", "other.example")
        assert requests.get(wrong_host, params={"url": posts[3]["url"]}, timeout=5).status_code == 404
