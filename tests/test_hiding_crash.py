"""A capture of a taken-down post hides only what the takedown covers, decided before each object is
written: the author's avatar (shared with the author's other posts) is never hidden, not even for the
seconds the capture runs, and a capture that dies between its hides and ``settle`` leaves nothing
hidden beyond the takedown's own rule, nor anything at all once the takedown was lifted meanwhile."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from archiver.capture import record
from archiver.compliance.holds import hidden_reason, media_sha256s
from archiver.config.settings import Settings
from archiver.health.restore import takedown_post
from archiver.runners.reindex import reindex
from archiver.runtime import Runtime
from archiver.storage.layout import blob_key, derived_prefix
from archiver.testing.fixture_origin import FixtureOrigin
from archiver.web.app import create_app
from tests.test_takedown_later import POST, POST_LATER, _article, _runtime, _takedown_rows


class _Died(BaseException):  # the process dying: no `except Exception` catches it
    """What the process dying halfway looks like to the code above it."""


@pytest.fixture
def origin() -> Iterator[FixtureOrigin]:
    with FixtureOrigin(tweets=[POST]) as o:
        yield o


def _avatar(rt: Runtime) -> str:
    (row,) = rt.catalog.captures("twitter", POST.id)
    sha = json.loads(rt.store.get(row["manifest_key"]))["author"]["avatar_sha256"]
    assert isinstance(sha, str) and sha
    return sha


def _new_photo(rt: Runtime, before: set[str]) -> str:
    """The sha256 of the later capture's photo (its manifest is written before indexing)."""
    new = [k for k in rt.store.list(f"posts/twitter/{POST.id}/") if k not in before and k.endswith(".json")]
    docs = []
    for key in new:
        doc = json.loads(rt.store.get(key))
        if isinstance(doc, dict) and doc.get("media"):
            docs.append(doc)
    (sha,) = [s for s in media_sha256s(docs) if blob_key(s) not in before]
    return sha


def _die_before_settle(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The capture dies once it is stored, before it is indexed and settled (the local runner keeps
    going: a capture that raised stored nothing more); returns the list its death is noted in."""
    died: list[str] = []

    def dies(*_args: Any, **_kwargs: Any) -> None:
        died.append("died")
        raise _Died("the process died")

    monkeypatch.setattr(record, "index_capture", dies)
    return died


def test_the_avatar_is_never_hidden_while_a_taken_down_posts_capture_runs(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin, monkeypatch: pytest.MonkeyPatch) -> None:
    rt = _runtime(tmp_settings, origin)
    _article(rt, "first", POST)
    avatar = _avatar(rt)
    takedown_post(rt, None, "twitter", POST.id, on=True, reason="court order 41")
    origin.add_tweet(POST_LATER)
    seen: list[tuple[str, str | None]] = []
    put, put_blob = rt.store.put, rt.store.put_blob

    def spy_put(key: str, data: bytes, **kwargs: Any) -> bool:
        seen.append((key, hidden_reason(rt, blob_key(avatar))))
        done = put(key, data, **kwargs)
        seen.append((key, hidden_reason(rt, blob_key(avatar))))
        return done

    def spy_blob(data: bytes, content_type: str, sha256: str | None = None) -> tuple[str, str, bool]:
        seen.append(("blob", hidden_reason(rt, blob_key(avatar))))
        done = put_blob(data, content_type, sha256)
        seen.append(("blob", hidden_reason(rt, blob_key(avatar))))
        return done

    monkeypatch.setattr(rt.store, "put", spy_put)
    monkeypatch.setattr(rt.store, "put_blob", spy_blob)
    _article(rt, "second", POST)  # a new capture of the taken-down post, with a new photo
    assert seen and [k for k, hidden in seen if hidden is not None] == []
    assert hidden_reason(rt, blob_key(avatar)) is None
    rt.close()


def test_a_capture_dying_before_settle_leaves_the_shared_avatar_served(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin, monkeypatch: pytest.MonkeyPatch) -> None:
    rt = _runtime(tmp_settings, origin)
    _article(rt, "first", POST)
    avatar = _avatar(rt)
    takedown_post(rt, None, "twitter", POST.id, on=True, reason="court order 42")
    before = set(rt.store.list(""))
    origin.add_tweet(POST_LATER)
    died = _die_before_settle(monkeypatch)
    _article(rt, "second", POST)
    assert died
    photo = _new_photo(rt, before)
    client = TestClient(create_app(rt.settings, runtime=rt))
    # The avatar and its derived copies, which the author's other posts share, are served.
    for key in [blob_key(avatar), *rt.store.list(derived_prefix(avatar))]:
        assert hidden_reason(rt, key) is None, key
        assert client.get(f"/media/{key}").status_code == 200, key
    # The new photo, which the takedown does cover, is hidden as it was stored.
    assert client.get(f"/media/{blob_key(photo)}").status_code == 410
    # Nothing is hidden beyond what a rebuild from storage gives (the capture's manifest is stored).
    left = _takedown_rows(rt)
    assert all(not k.startswith(f"blob:{avatar}") for k, *_ in left)
    reindex(rt)
    assert _takedown_rows(rt) == left
    # A retry of the capture ends the same.
    monkeypatch.undo()
    _article(rt, "second", POST)
    assert hidden_reason(rt, blob_key(avatar)) is None
    assert client.get(f"/media/{blob_key(photo)}").status_code == 410
    rt.close()


def test_a_capture_dying_after_the_takedown_was_lifted_leaves_nothing_hidden(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin, monkeypatch: pytest.MonkeyPatch) -> None:
    rt = _runtime(tmp_settings, origin)
    _article(rt, "first", POST)
    takedown_post(rt, None, "twitter", POST.id, on=True, reason="court order 43")
    before = set(rt.store.list(""))
    origin.add_tweet(POST_LATER)
    put_blob = rt.store.put_blob
    lifted: list[bool] = []

    def lift_on_first_write(data: bytes, content_type: str, sha256: str | None = None) -> tuple[str, str, bool]:
        if not lifted:  # the capture began while the post was taken down; the takedown is lifted now
            lifted.append(True)
            takedown_post(rt, None, "twitter", POST.id, on=False)
        return put_blob(data, content_type, sha256)

    monkeypatch.setattr(rt.store, "put_blob", lift_on_first_write)
    died = _die_before_settle(monkeypatch)
    _article(rt, "second", POST)
    assert died
    assert lifted
    photo = _new_photo(rt, before)
    assert _takedown_rows(rt) == []
    client = TestClient(create_app(rt.settings, runtime=rt))
    assert client.get(f"/media/{blob_key(photo)}").status_code == 200
    assert all(client.get(f"/media/{k}").status_code == 200 for k in rt.store.list(f"posts/twitter/{POST.id}/"))
    rt.close()
