"""Link health: originals die on command at the fixture origin and the state machine follows."""

from __future__ import annotations

import io
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
from PIL import Image

from archiver.config.settings import Settings
from archiver.coordination import RedisCoordinator
from archiver.health.originals import (
    article_health,
    article_listing,
    check,
    claim,
    dead_items,
    dead_worklist,
    due,
    enroll_all,
    ensure_schema,
    load_record,
    overview,
    reindex,
    totals,
)
from archiver.health.state import DAY, Probe, advance, new_record
from archiver.runners.local import archive
from archiver.runtime import Runtime
from archiver.storage.base import StoreError
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture, make_image

TWEET = "1945048830047662087"
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def blank_png(color: tuple[int, int, int] = (200, 200, 200)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (120, 80), color).save(buf, "PNG")
    return buf.getvalue()


def article(origin: FixtureOrigin) -> str:
    imgs = "".join(f'<img src="{origin.url(f"/media/{n}.jpg")}">\n' for n in ("a", "b", "c", "d"))
    return ("<html><body>\n<p>Intro</p>\n"
            '<blockquote class="twitter-tweet"><p lang="en" dir="ltr">Lavrov and Jaishankar meet</p>'
            f'&mdash; ANI (@ANI) <a href="https://twitter.com/ANI/status/{TWEET}">July 15, 2025</a></blockquote> '
            '<script async src="https://platform.twitter.com/widgets.js" charset="utf-8"></script>\n'
            f"{imgs}</body></html>\n")


@pytest.fixture
def origin() -> Iterator[FixtureOrigin]:
    tweets = [TweetFixture(id=TWEET, handle="ANI", name="ANI", text="Lavrov and Jaishankar meet")]
    images = {f"/media/{n}.jpg": make_image(n, 64, 48) for n in ("a", "b", "c", "d")}
    with FixtureOrigin(tweets=tweets, images=images) as o:
        o.add_image("/", b"<!doctype html><html><body>Home</body></html>", "text/html")
        yield o


def make_rt(settings: Settings, **kw: object) -> Runtime:
    return Runtime.from_settings(settings, **kw)  # type: ignore[arg-type]


def archived(tmp_settings: Callable[..., Settings], origin: FixtureOrigin, **overrides: object) -> Runtime:
    settings = tmp_settings(**{**origin.settings_overrides(), "public_base_url": "https://archive.example/media",
                               "fetch_retries": 0, "health_dead_after_failures": 1,
                               "health_dead_after_hours": 0.0, **overrides})
    rt = make_rt(settings)
    archive(rt, article(origin).encode(), article_id="story", url="https://news.example/story")
    return rt


def by_url(report: dict, origin: FixtureOrigin) -> dict[str, dict]:
    return {i["url"].replace(origin.base_url, ""): i for i in report["items"]}


# --- the state machine alone -----------------------------------------------------------------------
def test_dead_needs_enough_failures_over_enough_time(tmp_settings: Callable[..., Settings]) -> None:
    s = tmp_settings()  # defaults: 3 failures over 72 hours
    rec = new_record("https://img.example/a.jpg", "image")
    fail = Probe("failure", "HTTP 404")
    states = []
    for hours in (0, 1, 2, 40, 80):
        rec = advance(rec, fail, T0 + timedelta(hours=hours), s)
        states.append(rec["state"])
    assert states == ["suspect", "suspect", "suspect", "suspect", "dead"]
    assert len(rec["failures"]) == 5 and [h["state"] for h in rec["history"]] == states
    rec = advance(rec, Probe("ok", "HTTP 200"), T0 + timedelta(days=5), s)
    assert rec["state"] == "live" and rec["failures"] == []


def test_inconclusive_never_counts_and_intervals_grow(tmp_settings: Callable[..., Settings]) -> None:
    s = tmp_settings(health_dead_after_failures=1, health_dead_after_hours=0.0)
    rec = new_record("https://img.example/a.jpg", "image")
    for i in range(10):
        rec = advance(rec, Probe("inconclusive", "HTTP 503"), T0 + timedelta(hours=i), s)
    assert rec["state"] == "unchecked" and rec["failures"] == []
    intervals = []
    for i in range(8):
        rec = advance(rec, Probe("ok", "HTTP 200"), T0 + timedelta(days=i * 40), s)
        intervals.append(rec["interval"] / DAY)
    assert intervals == [1, 2, 4, 8, 16, 30, 30, 30]
    rec = advance(rec, Probe("failure", "HTTP 404"), T0 + timedelta(days=400), s)
    assert rec["state"] == "dead" and rec["interval"] == DAY


# --- against the origin -----------------------------------------------------------------------------
def test_dying_originals_are_declared_dead(tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    rt = archived(tmp_settings, origin)
    first = article_health(rt, "story", check_now=True, now=T0)
    assert first["summary"]["live"] == 5, first
    origin.set_behaviour("/oembed", "404", sticky=True)
    origin.set_behaviour("/tweet-result", "empty", sticky=True)
    origin.set_behaviour("/media/a.jpg", "404", sticky=True)
    origin.add_image("/media/b.jpg", blank_png())
    origin.set_behaviour("/media/c.jpg", "redirect", sticky=True)
    origin.set_behaviour("/media/d.jpg", "503", sticky=True)
    rep = article_health(rt, "story", check_now=True, now=T0 + timedelta(hours=1))
    items = by_url(rep, origin)
    tweet = next(i for i in rep["items"] if i["kind"] == "embed")
    assert tweet["state"] == "dead" and "deleted" in tweet["last_detail"]
    assert items["/media/a.jpg"]["state"] == "dead" and items["/media/a.jpg"]["last_detail"] == "HTTP 404"
    assert items["/media/b.jpg"]["state"] == "dead" and "placeholder" in items["/media/b.jpg"]["last_detail"]
    assert items["/media/c.jpg"]["state"] == "dead" and "home page" in items["/media/c.jpg"]["last_detail"]
    assert items["/media/d.jpg"]["state"] == "live"  # 503 is the host's trouble, not a death
    assert [h["outcome"] for h in items["/media/d.jpg"]["history"]] == ["ok", "inconclusive"]
    assert rep["summary"] == {"unchecked": 0, "live": 1, "suspect": 0, "dead": 4}
    assert [o.url for o in dead_items(rt, "story")].__len__() == 4
    (row,) = overview(rt)
    assert row["article_id"] == "story" and row["dead"] == 4 and row["live"] == 1
    # It answers again: live again.
    origin.set_behaviour("/media/a.jpg", "ok", sticky=True)
    again = check(rt, {"url": origin.url("/media/a.jpg"), "kind": "image"}, now=T0 + timedelta(days=2))
    assert again["state"] == "live" and again["failures"] == []


def test_an_article_archived_after_its_original_died_shows_it_dead_at_once(tmp_settings: Callable[..., Settings],
                                                                           origin: FixtureOrigin) -> None:
    """The health of an original is the URL's, not the article's: a second article using an image
    already found dead lists it dead from the moment it is archived, before its own health is read."""
    rt = archived(tmp_settings, origin)
    origin.set_behaviour("/media/a.jpg", "404", sticky=True)
    check(rt, {"url": origin.url("/media/a.jpg"), "kind": "image"}, now=T0)
    page = f'<html><body><p>Later story</p><img src="{origin.url("/media/a.jpg")}"></body></html>'
    archive(rt, page.encode(), article_id="later", url="https://news.example/later")
    rows = {r["article_id"]: r for r in overview(rt)}
    assert rows["later"]["dead"] == 1 and rows["later"]["unchecked"] == 0, rows["later"]
    # The first article, never enrolled either, shows the same original dead.
    assert [r["article_id"] for r in overview(rt, state="dead")] == ["later", "story"]
    assert totals(rt)["dead"] == 2
    rt.close()


def test_placeholder_by_listed_sha256_and_html_instead_of_image(tmp_settings: Callable[..., Settings],
                                                                origin: FixtureOrigin) -> None:
    import hashlib

    placeholder = make_image("placeholder", 32, 32)
    rt = archived(tmp_settings, origin, health_placeholder_sha256s=hashlib.sha256(placeholder).hexdigest())
    origin.add_image("/media/a.jpg", placeholder)
    origin.add_image("/media/b.jpg", b"<!doctype html><title>Image not found</title>", "text/html")
    origin.add_image("/media/c.jpg", make_image("a new photo", 64, 48))
    rep = by_url(article_health(rt, "story", check_now=True, now=T0), origin)
    assert rep["/media/a.jpg"]["state"] == "dead" and "known placeholder" in rep["/media/a.jpg"]["last_detail"]
    assert rep["/media/b.jpg"]["state"] == "dead" and "HTML" in rep["/media/b.jpg"]["last_detail"]
    assert rep["/media/c.jpg"]["state"] == "live"  # a different real image is not a death


def test_a_flapping_host_never_reaches_dead(tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    rt = archived(tmp_settings, origin, health_dead_after_failures=3)
    origin.set_behaviour("/media/d.jpg", *(["404", "404", "ok"] * 4))
    origin.set_behaviour("/media/c.jpg", *(["500", "429", "timeout", "404"] * 3))
    d = {"url": origin.url("/media/d.jpg"), "kind": "image"}
    c = {"url": origin.url("/media/c.jpg"), "kind": "image"}
    seen = set()
    for i in range(12):
        now = T0 + timedelta(hours=10 * i)
        seen.add(check(rt, d, now=now)["state"])
        seen.add(check(rt, c, now=now)["state"])
    assert "dead" not in seen and seen >= {"suspect", "live"}
    assert load_record(rt, d["url"])["state"] == "live"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_s3_outage_during_a_check_changes_no_state(tmp_settings: Callable[..., Settings],
                                                      origin: FixtureOrigin, s3: object) -> None:
    overrides = s3.settings_overrides(s3.make_bucket(), "news")  # type: ignore[attr-defined]
    rt = archived(tmp_settings, origin, **overrides)
    a = {"url": origin.url("/media/a.jpg"), "kind": "image"}
    assert check(rt, a, now=T0)["state"] == "live"
    origin.set_behaviour("/media/a.jpg", "404", sticky=True)
    broken = make_rt(rt.settings.replace(s3_endpoint_url=f"http://127.0.0.1:{_closed_port()}",
                                         s3_max_attempts=1, s3_connect_timeout=1.0, s3_read_timeout=1.0))
    with pytest.raises(StoreError):
        check(broken, a, now=T0 + timedelta(hours=1))
    rec = load_record(rt, a["url"])
    assert rec["state"] == "live" and len(rec["history"]) == 1
    assert rt.catalog.query("SELECT state FROM link_health WHERE url = ?", [a["url"]]) == [{"state": "live"}]


def test_a_redis_outage_during_a_check_changes_no_state(tmp_settings: Callable[..., Settings],
                                                        origin: FixtureOrigin) -> None:
    from archiver.capture.ratelimit import RedisHostLimiter

    rt = archived(tmp_settings, origin)
    a = {"url": origin.url("/media/a.jpg"), "kind": "image"}
    assert check(rt, a, now=T0)["state"] == "live"
    origin.set_behaviour("/media/a.jpg", "404", sticky=True)
    dead_redis = f"redis://127.0.0.1:{_closed_port()}/0"
    for kw in ({"coordinator": RedisCoordinator(dead_redis)},
               {"limiter": RedisHostLimiter(dead_redis, rt.settings)}):
        with pytest.raises(redis.exceptions.ConnectionError):
            check(make_rt(rt.settings, **kw), a, now=T0 + timedelta(hours=1))
    rec = load_record(rt, a["url"])
    assert rec["state"] == "live" and len(rec["history"]) == 1


def test_scheduling_enrolls_spreads_and_claims(tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    rt = archived(tmp_settings, origin)
    assert enroll_all(rt, now=T0) == 5
    assert due(rt, now=T0 - timedelta(minutes=1)) == []
    batch = due(rt, now=T0 + timedelta(hours=1))
    assert len(batch) == 5 and {o["kind"] for o in batch} == {"embed", "image"}
    claim(rt, [o["url"] for o in batch], T0 + timedelta(hours=2))
    assert due(rt, now=T0 + timedelta(hours=1, minutes=30)) == []
    rec = check(rt, batch[0], now=T0 + timedelta(hours=1))
    assert rec["state"] == "live" and DAY * 0.9 <= (
        datetime.fromisoformat(rec["next_check_at"].replace("Z", "+00:00")) - T0 - timedelta(hours=1)
    ).total_seconds() <= DAY * 1.1
    # The catalog is an index: rebuilt from storage it says the same.
    rt.catalog.execute("DELETE FROM link_health")
    assert reindex(rt) == 1
    assert rt.catalog.query("SELECT state FROM link_health") == [{"state": "live"}]


def test_beat_runs_the_scheduling_round() -> None:
    import workers.health  # noqa: F401 - registers the tasks
    from workers.app import app

    assert app.conf.beat_schedule["health-checks"]["task"] == "archiver.health_schedule"
    assert {"archiver.health_schedule", "archiver.health_check"} <= set(app.tasks)


# --- overview from the catalog, the dead worklist ----------------------------------------------------
def test_overview_lists_never_checked_articles_and_the_worklist_is_oldest_first(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    rt = archived(tmp_settings, origin)
    other = ("<html><body>" + "".join(f'<img src="{origin.url(f"/media/{n}.jpg")}">' for n in ("c", "d"))
             + "</body></html>").encode()
    archive(rt, other, article_id="other", url="https://news.example/other")
    # Nothing checked yet: both articles are there, every item unchecked, nothing on the worklist.
    rows = {r["article_id"]: r for r in overview(rt)}
    assert set(rows) == {"story", "other"}
    assert rows["story"]["unchecked"] == 5 and rows["other"]["unchecked"] == 2 and rows["story"]["dead"] == 0
    assert totals(rt) == {"unchecked": 7, "live": 0, "suspect": 0, "dead": 0, "articles": 2}
    assert dead_worklist(rt) == ([], 0)
    # c.jpg dies first (in both articles), a.jpg an hour later.
    origin.set_behaviour("/media/c.jpg", "404", sticky=True)
    article_health(rt, "other", check_now=True, now=T0)
    origin.set_behaviour("/media/a.jpg", "404", sticky=True)
    article_health(rt, "story", check_now=True, now=T0 + timedelta(hours=1))
    assert totals(rt) == {"unchecked": 0, "live": 4, "suspect": 0, "dead": 3, "articles": 2}
    assert totals(rt, state="dead")["articles"] == 2 and totals(rt, state="unchecked")["articles"] == 0
    work, n = dead_worklist(rt)
    assert n == 3
    assert [(w["article_id"], w["url"].rsplit("/", 1)[-1], w["since"]) for w in work] == [
        ("other", "c.jpg", "2025-01-01T00:00:00Z"), ("story", "c.jpg", "2025-01-01T00:00:00Z"),
        ("story", "a.jpg", "2025-01-01T01:00:00Z")]
    assert work[0]["last_detail"] == "HTTP 404"
    assert [r["article_id"] for r in overview(rt)] == ["story", "other"]  # most dead first
    assert [r["article_id"] for r in overview(rt, state="dead", limit=1, offset=1)] == ["other"]
    # Past any table and past SQL's 64-bit integers (a hostile ?offset=): an empty page, not an OverflowError.
    for huge in (10**6, 2**63, 10**30):
        assert overview(rt, limit=huge, offset=huge) == [] and dead_worklist(rt, offset=huge) == ([], 3)
        assert article_listing(rt, offset=huge)[0] == []
    listed, total = article_listing(rt, state="dead")
    assert total == 2 and {r["article_id"] for r in listed} == {"story", "other"}
    story = next(r for r in listed if r["article_id"] == "story")
    assert story["health"] == {"unchecked": 0, "live": 3, "suspect": 0, "dead": 2}
    assert story["items"] == {"embed": {"archived": 1}, "image": {"archived": 4}}
    assert article_listing(rt, state="live")[1] == 2 and article_listing(rt, state="failed")[1] == 0
    # The index is rebuilt from storage with the same since and answers.
    rt.catalog.execute("DELETE FROM link_health")
    reindex(rt)
    assert dead_worklist(rt)[0] == work


def test_a_link_health_table_from_an_older_release_gains_its_columns(tmp_settings: Callable[..., Settings],
                                                                      origin: FixtureOrigin) -> None:
    rt = archived(tmp_settings, origin)
    rt.catalog.execute("DROP TABLE IF EXISTS link_health")
    rt.catalog.execute(
        "CREATE TABLE link_health (url_sha256 TEXT PRIMARY KEY, url TEXT NOT NULL, kind TEXT NOT NULL, "
        "provider TEXT, post_id TEXT, archived_sha256 TEXT, state TEXT NOT NULL, failures INTEGER NOT NULL "
        "DEFAULT 0, last_checked_at TEXT, last_outcome TEXT, next_check_at TEXT NOT NULL, updated_at TEXT NOT NULL)")
    rt.catalog._tables_ready.discard("link_health")   # as a new process meets the old table
    ensure_schema(rt.catalog)
    assert {"since", "last_detail"} <= set(rt.catalog.backend.columns("link_health"))
    origin.set_behaviour("/media/b.jpg", "404", sticky=True)
    article_health(rt, "story", check_now=True, now=T0)
    (row,) = dead_worklist(rt)[0]
    assert row["url"].endswith("/media/b.jpg") and row["since"] == "2025-01-01T00:00:00Z"
