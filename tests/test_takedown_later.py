"""A takedown covers what is captured after it: a new capture of a taken-down post (its manifest, WARC,
cards, page, its new media and their derived copies, their image Mementos) and a new post quoting a
taken-down post (its capture page, cards, manifest and WARC) answer 410 from the moment they are stored,
exactly as the objects stored before the takedown do; `archiver reindex` rebuilds the same takedown
keys, and lifting the takedown serves them all again."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from archiver.catalog.query import SearchQuery
from archiver.compliance.answers import search_answer
from archiver.compliance.holds import embeds_taken_down, hidden_reason, media_sha256s, post_state
from archiver.config.settings import Settings
from archiver.health.restore import takedown_post
from archiver.runners.local import archive
from archiver.runners.reindex import reindex
from archiver.runtime import Runtime
from archiver.storage.layout import blob_key
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture
from archiver.web.app import create_app
from archiver.web.routes.memento import image_mementos
from tests.test_restore_inline import embed

POST = TweetFixture(id="1945048830047662031", handle="ANI", name="ANI", lang="en",
                    text="the words a court ordered withdrawn",
                    photos=[{"name": "first.jpg", "alt": "first", "width": 320, "height": 200}])
# The same post as the platform shows it later: another photo (a new original).
POST_LATER = TweetFixture(id=POST.id, handle="ANI", name="ANI", lang="en", text=POST.text,
                          photos=[{"name": "second.jpg", "alt": "second", "width": 300, "height": 220}])
QUOTING = TweetFixture(id="1945048830047662032", handle="desk", name="News Desk", lang="en",
                       text="Our desk comments on this", quoted_id=POST.id)
PUBLIC = ("posts/", "blobs/", "derived/")


@pytest.fixture
def origin() -> Iterator[FixtureOrigin]:
    with FixtureOrigin(tweets=[POST, QUOTING]) as o:
        yield o


def _runtime(tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> Runtime:
    settings = tmp_settings(**{**origin.settings_overrides(), "capture_fresh_for": 0, "fetch_retries": 0})
    return Runtime.from_settings(settings)


def _article(rt: Runtime, aid: str, t: TweetFixture) -> None:
    page = f"<html><head><meta charset='utf-8'><title>{aid}</title></head><body>\n{embed(t)}\n</body></html>\n"
    archive(rt, page.encode(), article_id=aid, url=f"https://news.example/{aid}")


class _Spy:
    """Records, for every public object written, whether it was hidden at the moment it was stored."""

    def __init__(self, rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: dict[str, str | None] = {}
        put = rt.store.put

        def spy(key: str, data: bytes, **kwargs: Any) -> bool:
            done = put(key, data, **kwargs)
            if key.startswith(PUBLIC):
                self.seen.setdefault(key, hidden_reason(rt, key))
            return done

        monkeypatch.setattr(rt.store, "put", spy)


def _takedown_rows(rt: Runtime) -> list[tuple[str, str, str, str]]:
    rows = rt.catalog.query("SELECT key, provider, post_id, reason FROM takedown_keys")
    return sorted((r["key"], r["provider"], r["post_id"], r["reason"]) for r in rows)


def test_a_capture_made_after_the_takedown_is_hidden_as_it_is_stored(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin, monkeypatch: pytest.MonkeyPatch) -> None:
    rt = _runtime(tmp_settings, origin)
    _article(rt, "first", POST)
    takedown_post(rt, None, "twitter", POST.id, on=True, reason="court order 21")
    before = set(rt.store.list(""))
    origin.add_tweet(POST_LATER)
    spy = _Spy(rt, monkeypatch)
    _article(rt, "second", POST)  # the post embedded again: a new capture, with a new photo

    new = sorted(k for k in set(rt.store.list("")) - before if k.startswith(PUBLIC))
    captures = [k for k in new if k.startswith(f"posts/twitter/{POST.id}/") and k.endswith(".warc.gz")]
    assert captures, new
    (new_manifest,) = [m for m in rt.catalog.captures("twitter", POST.id) if m["manifest_key"] not in before]
    doc = json.loads(rt.store.get(new_manifest["manifest_key"]))
    shas = media_sha256s([doc])
    new_photo = next(s for s in shas if blob_key(s) in new)
    assert any(k.startswith(f"derived/{new_photo}/") for k in new)
    # Hidden from the moment each object was written, not only once the capture was indexed.
    for key in new:
        if key.startswith("posts/") or new_photo in key:
            assert spy.seen.get(key) is not None, key
    client = TestClient(create_app(rt.settings, runtime=rt))
    for key in new:
        if key.startswith("posts/") or new_photo in key:
            assert client.get(f"/media/{key}").status_code == 410, key
    # The new photo's image Mementos (its TimeMap) leave it out, as they do the older photo.
    photo_url = origin.url("/media/second.jpg")
    assert image_mementos(rt, photo_url).mementos == []
    assert image_mementos(rt, origin.url("/media/first.jpg")).mementos == []
    # The author's avatar, which the author's other posts share, stays served.
    avatar = doc["author"]["avatar_sha256"]
    assert hidden_reason(rt, blob_key(avatar)) is None
    # The catalog's view of the post is the takedown's, and a rebuild gives the same hidden keys.
    assert post_state(rt, "twitter", POST.id)["takedown"]["reason"] == "court order 21"
    (hit,) = [h for h in search_answer(rt, SearchQuery(q="withdrawn"))["hits"] if h["post_id"] == POST.id]
    assert hit["compliance"]["takedown"]["reason"] == "court order 21"
    live = _takedown_rows(rt)
    assert ("blob:" + new_photo, "twitter", POST.id, "court order 21") in live
    reindex(rt)
    assert _takedown_rows(rt) == live
    # Lifted: served again, the new capture included.
    takedown_post(rt, None, "twitter", POST.id, on=False)
    assert all(client.get(f"/media/{k}").status_code == 200 for k in new)
    assert [m.uri for m in image_mementos(rt, photo_url).mementos]
    rt.close()


def test_a_new_post_quoting_a_taken_down_post_is_hidden_as_it_is_stored(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin, monkeypatch: pytest.MonkeyPatch) -> None:
    rt = _runtime(tmp_settings, origin)
    _article(rt, "first", POST)
    takedown_post(rt, None, "twitter", POST.id, on=True, reason="court order 22")
    spy = _Spy(rt, monkeypatch)
    _article(rt, "quoting", QUOTING)  # a post never captured before, quoting the taken-down one

    prefix = f"posts/twitter/{QUOTING.id}/"
    keys = list(rt.store.list(prefix))
    carrying = [k for k in keys if k.endswith((".card.html", ".html", ".json"))
                and POST.text.encode() in rt.store.get(k)]
    assert any(k.endswith(".card.html") for k in carrying) and any(k.endswith(".warc.gz") for k in keys)
    client = TestClient(create_app(rt.settings, runtime=rt))
    for key in keys:
        assert spy.seen.get(key) is not None, key  # hidden before it was written
        r = client.get(f"/media/{key}", headers={"Accept": "text/html"})
        assert r.status_code == 410 and POST.text not in r.text, key
    assert embeds_taken_down(rt, "twitter", QUOTING.id)
    # A rebuild gives the same hidden keys; the lift serves the quoting post again.
    live = _takedown_rows(rt)
    assert (prefix, "twitter", POST.id, "court order 22") in live
    reindex(rt)
    assert _takedown_rows(rt) == live
    takedown_post(rt, None, "twitter", POST.id, on=False)
    assert all(client.get(f"/media/{k}").status_code == 200 for k in keys)
    assert not embeds_taken_down(rt, "twitter", QUOTING.id) and _takedown_rows(rt) == []
    rt.close()
