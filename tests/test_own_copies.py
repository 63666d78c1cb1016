"""An article submitted again after archive or restore points at our own stable copies: those image URLs
(under public_base_url, naming a stored object) are recognised as already archived, the result names the
same key, and nothing is fetched (the archive's own host need not even resolve)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from archiver.config.settings import Settings
from archiver.health.originals import article_health
from archiver.health.restore import restore
from archiver.records.result import ImageResult
from archiver.runners.local import archive
from archiver.steps.capture import own_copy
from archiver.steps.prepare import load_plan
from archiver.steps.results import load_results
from archiver.storage.layout import version_key
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture, make_image
from tests.test_health import T0, TWEET
from tests.test_restore import BASE, kill_everything, setup


@pytest.fixture
def origin() -> Iterator[FixtureOrigin]:
    tweets = [TweetFixture(id=TWEET, handle="ANI", name="ANI", text="Lavrov and Jaishankar meet")]
    images = {f"/media/{n}.jpg": make_image(n, 64, 48) for n in ("a", "b", "c", "d")}
    with FixtureOrigin(tweets=tweets, images=images) as o:
        yield o


def images_of(rt: object, aid: str) -> dict[str, ImageResult]:
    plan = load_plan(rt, aid)  # type: ignore[arg-type]
    return {r.url: r for r in load_results(rt, plan).values() if isinstance(r, ImageResult)}  # type: ignore[arg-type]


def test_our_stable_copies_are_not_fetched_again(tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    rt = setup(tmp_settings, origin)
    kill_everything(origin)  # a.jpg dies at its origin
    article_health(rt, "story", check_now=True, now=T0)
    assert restore(rt, "story")["new_version"]
    restored = rt.store.get(version_key("story", 2))
    first = images_of(rt, "story")
    dead = next(r for r in first.values() if r.url.endswith("/a.jpg"))
    assert dead.stable_url and dead.stable_url.encode() in restored

    archive(rt, restored, article_id="again", url="https://news.example/again")
    again = images_of(rt, "again")
    ours = again[dead.stable_url]
    assert ours.status == "archived" and ours.key == dead.key and ours.sha256 == dead.sha256
    assert ours.stable_url == dead.stable_url
    rows = rt.catalog.query("SELECT url FROM url_history WHERE url LIKE ?", [f"{BASE}%"])
    assert rows == []  # never fetched

    # Only a stored object under our base counts: a made-up digest, a query or another host does not.
    assert own_copy(rt, dead.stable_url) == (dead.key, dead.sha256)
    assert own_copy(rt, f"{BASE}/blobs/sha256/ab/ab{'0' * 62}") is None
    assert own_copy(rt, f"{dead.stable_url}?x=1") is None
    assert own_copy(rt, dead.stable_url.replace(BASE, "https://elsewhere.example/media")) is None
    rt.close()
