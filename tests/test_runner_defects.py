"""Runner defects: retry, health and `show` after a revert work on the source of the version the article
shows now, not the latest source; re-archiving with a partial capture stores nothing new."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from archiver.article.versions import versions
from archiver.config.settings import Settings
from archiver.dates import utcnow
from archiver.health.originals import article_health
from archiver.health.restore import revert
from archiver.runners.local import archive, retry
from archiver.runners.sweep import sweep
from archiver.runtime import Runtime
from archiver.steps.report import article_answer
from archiver.storage.layout import version_key
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture, make_image
from tests.test_health import TWEET
from tests.test_partial import PHOTO_TWEET, STEM, blockquote, manifests_of

BASE = "https://archive.example/media"


@pytest.fixture
def origin() -> Iterator[FixtureOrigin]:
    tweets = [TweetFixture(id=TWEET, handle="ANI", name="ANI", text="Lavrov and Jaishankar meet")]
    images = {f"/media/{n}.jpg": make_image(n, 64, 48) for n in ("a", "b")}
    with FixtureOrigin(tweets=tweets, images=images) as o:
        yield o


def first_source(origin: FixtureOrigin) -> bytes:
    """A tweet and an image."""
    return ("<html><body>\n<p>First text</p>\n"
            '<blockquote class="twitter-tweet"><p lang="en" dir="ltr">Lavrov and Jaishankar meet</p>'
            f'&mdash; ANI (@ANI) <a href="https://twitter.com/ANI/status/{TWEET}">July 15, 2025</a></blockquote>\n'
            f'<img src="{origin.url("/media/a.jpg")}">\n</body></html>\n').encode()


def second_source(origin: FixtureOrigin) -> bytes:
    """Another text, an image and an image that fails (404): something a retry of it would do."""
    return (f'<html><body>\n<p>Second text</p>\n<img src="{origin.url("/media/b.jpg")}">\n'
            f'<img src="{origin.url("/media/gone.jpg")}">\n</body></html>\n').encode()


def reverted(tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> Runtime:
    """Article "rv": v1 from the first source, v2 from the second, v3 a revert to v1."""
    rt = Runtime.from_settings(tmp_settings(**{**origin.settings_overrides(), "public_base_url": BASE,
                                               "fetch_retries": 0, "health_dead_after_failures": 1,
                                               "health_dead_after_hours": 0.0}))
    archive(rt, first_source(origin), article_id="rv", url="https://news.example/rv")
    archive(rt, second_source(origin), article_id="rv", url="https://news.example/rv")
    assert revert(rt, "rv", 1)["current"] == 3
    return rt


def body(rt: Runtime, n: int) -> bytes:
    return rt.store.get(version_key("rv", n))


def test_retry_after_revert_keeps_the_reverted_content(tmp_settings: Callable[..., Settings],
                                                       origin: FixtureOrigin) -> None:
    rt = reverted(tmp_settings, origin)
    first = versions(rt, "rv")[0].source_sha256
    origin.add_image("/media/gone.jpg", make_image("g", 32, 32))  # the second source's failure would succeed now
    rep = retry(rt, "rv")
    current = versions(rt, "rv")[-1]
    assert current.version == 3 and current.source_sha256 == first  # nothing of the first source to redo
    text = rt.store.get(current.key)
    assert b"First text" in text and b"Second text" not in text
    assert {i["url"] for i in rep["images"]} == {origin.url("/media/a.jpg")}
    assert body(rt, 3) == body(rt, 1)


def test_the_sweeper_drops_scheduled_retries_of_a_source_reverted_away(tmp_settings: Callable[..., Settings],
                                                                      origin: FixtureOrigin) -> None:
    """The workers' automatic retries come from the catalog's items of the article's source: after a
    revert that is the reverted-to version's source, so the second source's failed image is not retried."""
    rt = reverted(tmp_settings, origin)
    second = versions(rt, "rv")[1].source_sha256
    assert any(r["retry_at"] for r in rt.catalog.items("rv", second))
    sent: list[tuple[str, list[Any]]] = []
    sweep(rt, lambda task, args, kwargs: sent.append((task, list(args))), now=utcnow() + timedelta(days=2))
    assert not [m for m in sent if second in m[1]]


def test_health_and_show_list_the_shown_versions_items(tmp_settings: Callable[..., Settings],
                                                       origin: FixtureOrigin) -> None:
    rt = reverted(tmp_settings, origin)
    health = article_health(rt, "rv")
    assert {i["kind"] for i in health["items"]} == {"embed", "image"}
    assert any(i["post_id"] == TWEET for i in health["items"])
    assert origin.url("/media/b.jpg") not in {i["url"] for i in health["items"]}
    answer: dict[str, Any] | None = article_answer(rt, "rv")
    assert answer is not None
    urls = {i["url"] for i in answer["items"]}
    assert origin.url("/media/a.jpg") in urls and origin.url("/media/b.jpg") not in urls
    assert any(i["post_id"] == TWEET for i in answer["items"])
    # A later plain archive of the second source puts the article back on it.
    archive(rt, second_source(origin), article_id="rv", url="https://news.example/rv")
    assert versions(rt, "rv")[-1].source_sha256 != versions(rt, "rv")[0].source_sha256
    assert {i["url"] for i in article_health(rt, "rv")["items"]} == {origin.url("/media/b.jpg"),
                                                                    origin.url("/media/gone.jpg")}


# --- item 3: archiving again with a partial capture stores nothing new -----------------------------------
@pytest.fixture
def photo_origin() -> Iterator[FixtureOrigin]:
    tweets = [TweetFixture(id=PHOTO_TWEET, handle="LakemontDPW", name="Lakemont Public Works", text="Crews out now",
                           photos=[{"name": f"{STEM}.jpg", "alt": "A plow", "width": 120, "height": 80}])]
    with FixtureOrigin(tweets=tweets) as o:
        for path in (f"/media/{STEM}", f"/media/{STEM}.jpg"):
            o.set_behaviour(path, "500", sticky=True)  # the photo never comes: the capture is partial
        yield o


def partial_runtime(tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> Runtime:
    return Runtime.from_settings(tmp_settings(**origin.settings_overrides(), fetch_retries=0, media_derivatives=False,
                                              public_base_url="https://archive.example/media"))


def test_archiving_twice_with_a_partial_capture_stores_nothing_new(tmp_settings: Callable[..., Settings],
                                                                   photo_origin: FixtureOrigin) -> None:
    rt = partial_runtime(tmp_settings, photo_origin)
    source = ("<p>Storm</p>\n" + blockquote("LakemontDPW", PHOTO_TWEET)).encode()
    first = archive(rt, source, article_id="pa")
    assert first["embeds"][0]["status"] == "partial"
    kept = sorted(rt.store.list("posts/"))
    second = archive(rt, source, article_id="pa")
    assert second["version"] == 1 and not second.get("new_version")
    assert second["embeds"][0]["snapshot"] == first["embeds"][0]["snapshot"]
    assert sorted(rt.store.list("posts/")) == kept and len(manifests_of(rt, PHOTO_TWEET)) == 1
    assert [v.version for v in versions(rt, "pa")] == [1]
    # Another article embedding the post within capture_fresh_for reuses the same capture.
    other = archive(rt, ("<p>Other</p>\n" + blockquote("LakemontDPW", PHOTO_TWEET)).encode(), article_id="pb")
    assert other["embeds"][0]["snapshot"] == first["embeds"][0]["snapshot"]
    # `retry` still captures the partial post again, under a new capture.
    again = retry(rt, "pa")
    assert again["embeds"][0]["status"] == "partial" and len(manifests_of(rt, PHOTO_TWEET)) == 2


# --- item 5a: a damaged health record is taken as none, never a crash ------------------------------------
@pytest.mark.parametrize("junk", [b"{not json", b"\xff\xfe", b"[1, 2]", b'{"state": "bogus"}', b"null",
                                  b'{"state": "live", "failures": [], "history": []}'])
def test_a_damaged_health_record_is_taken_as_never_checked(tmp_settings: Callable[..., Settings],
                                                           origin: FixtureOrigin, junk: bytes,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    from fastapi.testclient import TestClient

    from archiver.auth import create_token
    from archiver.storage.layout import record_key
    from archiver.web.app import create_app

    rt = Runtime.from_settings(tmp_settings(**{**origin.settings_overrides(), "public_base_url": BASE,
                                               "fetch_retries": 0}))
    archive(rt, first_source(origin), article_id="rv", url="https://news.example/rv")
    url = origin.url("/media/a.jpg")
    article_health(rt, "rv", check_now=True)
    rt.store.put(record_key(url), junk, content_type="application/json")
    items = {i["url"]: i for i in article_health(rt, "rv")["items"]}
    assert items[url]["state"] == "unchecked"
    assert "damaged record" in caplog.text
    client = TestClient(create_app(rt.settings, runtime=rt))
    auth = {"Authorization": f"Bearer {create_token(rt.catalog, 'editor')}"}
    api = client.get("/v1/articles/rv/health", headers=auth)
    assert api.status_code == 200, api.text
    assert {i["url"]: i["state"] for i in api.json()["items"]}[url] == "unchecked"
    page = client.get("/articles/rv", headers=auth)
    assert page.status_code == 200, page.text[:500]
    # The next check writes a good record over it.
    article_health(rt, "rv", check_now=True)
    assert {i["url"]: i for i in article_health(rt, "rv")["items"]}[url]["state"] == "live"


# --- item 5d: every reindex counts the same ------------------------------------------------------------
def test_a_second_reindex_counts_what_the_first_did(tmp_settings: Callable[..., Settings],
                                                    origin: FixtureOrigin) -> None:
    from archiver.runners.reindex import reindex

    rt = Runtime.from_settings(tmp_settings(**{**origin.settings_overrides(), "public_base_url": BASE,
                                               "fetch_retries": 0}))
    archive(rt, first_source(origin), article_id="r1", url="https://news.example/r1")
    archive(rt, second_source(origin), article_id="r2", url="https://news.example/r2")
    first = reindex(rt, fresh=True).to_json()
    second = reindex(rt).to_json()
    assert first["blobs"] >= 2 and first["captures"] >= 1
    assert second == first
