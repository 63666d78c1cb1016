"""Link-health defects: a check run's time limit and bounded concurrency, one probe per distinct
original, "could not check" labels, which persistent answers count toward dead, check-now that never
queues behind a lock, the "changed since archived" signal and the embedded-mode notice."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from archiver.auth import authenticate
from archiver.config.settings import Settings
from archiver.health.originals import article_health, load_record
from archiver.runners.local import archive
from archiver.runtime import Runtime
from archiver.storage.layout import url_sha256
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture, make_image
from tests.apikit import api

TWEET = "1945048830047662087"
T0 = datetime(2025, 1, 1, tzinfo=UTC)
TWEET_HTML = ('<blockquote class="twitter-tweet"><p lang="en" dir="ltr">Lavrov and Jaishankar meet</p>'
              f'&mdash; ANI (@ANI) <a href="https://twitter.com/ANI/status/{TWEET}">July 15, 2025</a></blockquote>\n')


def page(*srcs: str, tweet: bool = True) -> bytes:
    imgs = "".join(f'<img src="{s}">\n' for s in srcs)
    return f"<html><body>\n<p>Intro</p>\n{TWEET_HTML if tweet else ''}{imgs}</body></html>\n".encode()


@pytest.fixture
def origin() -> Iterator[FixtureOrigin]:
    tweets = [TweetFixture(id=TWEET, handle="ANI", name="ANI", text="Lavrov and Jaishankar meet")]
    images = {f"/media/{n}.jpg": make_image(n, 64, 48) for n in "abcdefghijkl"}
    with FixtureOrigin(tweets=tweets, images=images, timeout_sleep=4.0) as o:
        o.add_image("/", b"<!doctype html><html><body>Home</body></html>", "text/html")
        yield o


def settings_for(tmp_settings: Callable[..., Settings], origin: FixtureOrigin, **kw: object) -> Settings:
    return tmp_settings(**{**origin.settings_overrides(), "public_base_url": "https://archive.example/media",
                           "fetch_retries": 0, "health_dead_after_failures": 1, "health_dead_after_hours": 0.0,
                           **kw})


def archived(tmp_settings: Callable[..., Settings], origin: FixtureOrigin, body: bytes,
             article_id: str = "story", **kw: object) -> Runtime:
    rt = Runtime.from_settings(settings_for(tmp_settings, origin, **kw))
    archive(rt, body, article_id=article_id, url=f"https://news.example/{article_id}")
    return rt


def items_by_path(report: dict, origin: FixtureOrigin) -> dict[str, dict]:
    return {i["url"].replace(origin.base_url, ""): i for i in report["items"]}


def media_requests(origin: FixtureOrigin) -> int:
    return sum(1 for r in origin.requests if r.path.startswith("/media/"))


# --- 1. a check run has a time limit and probes several originals at once ----------------------------
def test_check_run_is_bounded_and_reports_what_it_did_not_probe(tmp_settings: Callable[..., Settings],
                                                                 origin: FixtureOrigin) -> None:
    paths = [f"/media/{n}.jpg" for n in "abcdefghijkl"]
    rt = archived(tmp_settings, origin, page(*(origin.url(p) for p in paths), tweet=False))
    first = article_health(rt, "story", check_now=True, now=T0)
    assert first["summary"]["live"] == 12
    for p in paths:
        origin.set_behaviour(p, "timeout", sticky=True)   # each answer starts after 4 s
    slow = Runtime.from_settings(rt.settings.replace(archive_deadline=2.5, capture_threads=2,
                                                     fetch_read_timeout=1.0))
    before = media_requests(origin)
    rep = article_health(slow, "story", check_now=True, now=T0 + timedelta(hours=1))
    asked = media_requests(origin) - before
    # Two at a time for 2.5 s at 1 s each: far fewer than 12 were asked; the rest are "not checked".
    assert 1 <= asked < 12, asked
    assert rep["check"]["running"] is False and rep["check"]["not_checked"] == 12 - rep["check"]["probed"]
    missed = [i for i in rep["items"] if "not_checked" in i]
    assert missed and all("not checked this time" in i["not_checked"] for i in missed)
    # Not probed is not dead: the state and the count of checks stay as they were.
    assert all(i["state"] == "live" and i["checks"] == 1 for i in missed)
    probed = [i for i in rep["items"] if "not_checked" not in i]
    assert all(i["state"] == "live" and i["could_not_check"] == "timed out" for i in probed)
    slow.close()


# --- 2. one probe per distinct original per run -------------------------------------------------------
def test_check_articles_probes_a_shared_original_once_for_the_run(tmp_settings: Callable[..., Settings],
                                                                  origin: FixtureOrigin) -> None:
    from archiver.health.originals import check_articles

    body = page(origin.url("/media/a.jpg"))
    rt = archived(tmp_settings, origin, body, "one")
    for aid in ("two", "three", "four"):
        archive(rt, body, article_id=aid, url=f"https://news.example/{aid}")
    counts = (origin.count("/media/a.jpg"), origin.count("/oembed"), origin.count("/tweet-result"))
    reports = check_articles(rt, ["one", "two", "three", "four"], now=T0)
    after = (origin.count("/media/a.jpg"), origin.count("/oembed"), origin.count("/tweet-result"))
    assert after[0] - counts[0] == 1
    assert after[1] - counts[1] <= 1 and after[2] - counts[2] <= 1
    assert all(i["state"] == "live" for r in reports for i in r["items"])


# --- 3. "could not check", with the last conclusive state kept -------------------------------------
def test_undecided_checks_say_could_not_check_and_why(tmp_settings: Callable[..., Settings],
                                                      origin: FixtureOrigin) -> None:
    rt = archived(tmp_settings, origin, page(origin.url("/media/a.jpg"), origin.url("/media/b.jpg"),
                                             origin.url("/media/c.jpg"), tweet=False))
    article_health(rt, "story", check_now=True, now=T0)
    origin.set_behaviour("/media/a.jpg", "500", sticky=True)
    origin.set_behaviour("/media/b.jpg", "429", sticky=True)
    rep = items_by_path(article_health(rt, "story", check_now=True, now=T0 + timedelta(hours=1)), origin)
    a, b = rep["/media/a.jpg"], rep["/media/b.jpg"]
    assert a["state"] == "live" and a["label"] == "could not check: server error (HTTP 500) (last known: live)"
    assert b["state"] == "live" and b["could_not_check"] == "rate limited (HTTP 429)"
    assert rep["/media/c.jpg"]["label"] == "live" and rep["/media/c.jpg"]["could_not_check"] is None


def test_never_decided_is_could_not_check_not_unchecked(tmp_settings: Callable[..., Settings],
                                                        origin: FixtureOrigin) -> None:
    rt = archived(tmp_settings, origin, page(origin.url("/media/a.jpg"), tweet=False))
    origin.set_behaviour("/media/a.jpg", "503", sticky=True)
    for h in range(3):
        rep = article_health(rt, "story", check_now=True, now=T0 + timedelta(hours=h))
    (item,) = rep["items"]
    assert item["state"] == "unchecked" and item["checks"] == 3
    assert item["label"] == "could not check: server error (HTTP 503)"
    assert rep["could_not_check"] == 1


def test_pages_and_api_say_could_not_check(tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    with api(settings_for(tmp_settings, origin)) as a:
        archive(a.rt, page(origin.url("/media/a.jpg"), tweet=False), article_id="story",
                url="https://news.example/story")
        article_health(a.rt, "story", check_now=True, now=T0)
        origin.set_behaviour("/media/a.jpg", "500", sticky=True)
        r = a.call("editor", "GET", "/v1/articles/story/health", params={"check_now": "true"})
        assert r.status_code == 200, r.text
        (item,) = r.json()["items"]
        assert item["label"].startswith("could not check: server error") and item["state"] == "live"
        html = a.call("editor", "GET", "/articles/story").text
        assert "could not check: server error (HTTP 500)" in html and "(last known: live)" in html
        assert "1 item: the last check could not decide" in a.call("editor", "GET", "/health").text
        assert a.call("editor", "GET", "/v1/health").json()["totals"]["could_not_check"] == 1


# --- 4. persistent answers that mean gone ------------------------------------------------------------
def test_persistent_gone_answers_count_toward_dead(tmp_settings: Callable[..., Settings],
                                                   origin: FixtureOrigin) -> None:
    login = "/short/cdn.example/login-walled.jpg"
    private = "/short/cdn.example/moved-private.jpg"
    origin.add_image(login, make_image("walled", 64, 48))
    origin.add_image(private, make_image("private", 64, 48))
    gone_host = "http://img.no-such-host.invalid/a.jpg"
    rt = archived(tmp_settings, origin, page(origin.url("/media/a.jpg"), origin.url(login), origin.url(private),
                                             gone_host, tweet=False))
    origin.set_behaviour("/media/a.jpg", "403", sticky=True)
    origin.add_shortlink("https://cdn.example/login-walled.jpg", origin.url("/account/login?next=/x.jpg"))
    origin.set_behaviour("/account/login", "401", sticky=True)
    origin.add_shortlink("https://cdn.example/moved-private.jpg", "http://10.20.30.40/moved.jpg")
    rep = items_by_path(article_health(rt, "story", check_now=True, now=T0), origin)
    assert rep["/media/a.jpg"]["state"] == "dead" and rep["/media/a.jpg"]["last_detail"] == "HTTP 403"
    assert rep[login]["state"] == "dead" and "login page" in rep[login]["last_detail"]
    assert rep[private]["state"] == "dead" and "address readers cannot reach" in rep[private]["last_detail"]
    assert rep[gone_host]["state"] == "dead" and "no longer resolves" in rep[gone_host]["last_detail"]


def test_thresholds_apply_to_the_new_failures(tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    rt = archived(tmp_settings, origin, page(origin.url("/media/a.jpg"), tweet=False),
                  health_dead_after_failures=3, health_dead_after_hours=48.0)
    origin.set_behaviour("/media/a.jpg", "403", sticky=True)
    states = [article_health(rt, "story", check_now=True, now=T0 + timedelta(hours=h))["items"][0]["state"]
              for h in (0, 24, 49)]
    assert states == ["suspect", "suspect", "dead"]


def test_transient_answers_stay_could_not_check(tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    paths = ["/media/a.jpg", "/media/b.jpg", "/media/c.jpg"]
    rt = archived(tmp_settings, origin, page(*(origin.url(p) for p in paths), tweet=False),
                  fetch_read_timeout=1.0)
    for p, step in zip(paths, ("500", "429", "timeout"), strict=True):
        origin.set_behaviour(p, step, sticky=True)
    rep = items_by_path(article_health(rt, "story", check_now=True, now=T0), origin)
    assert {p: rep[p]["state"] for p in paths} == dict.fromkeys(paths, "unchecked")
    assert [rep[p]["could_not_check"] for p in paths] == ["server error (HTTP 500)", "rate limited (HTTP 429)",
                                                          "timed out"]


# --- 5. check-now never queues behind a lock ---------------------------------------------------------
def test_check_now_of_a_running_article_answers_at_once(tmp_settings: Callable[..., Settings],
                                                        origin: FixtureOrigin) -> None:
    with api(settings_for(tmp_settings, origin)) as a:
        archive(a.rt, page(origin.url("/media/a.jpg"), tweet=False), article_id="story",
                url="https://news.example/story")
        before = media_requests(origin)
        with a.rt.coordinator.lock("health-article:story", timeout=5):
            r = a.call("editor", "GET", "/v1/articles/story/health", params={"check_now": "true"})
        assert r.status_code == 202, r.text
        assert r.json()["check"]["running"] is True and media_requests(origin) == before
        assert a.call("editor", "GET", "/v1/health").status_code == 200


def test_an_original_being_checked_is_not_waited_for(tmp_settings: Callable[..., Settings],
                                                     origin: FixtureOrigin) -> None:
    rt = archived(tmp_settings, origin, page(origin.url("/media/a.jpg"), origin.url("/media/b.jpg"), tweet=False))
    with rt.coordinator.lock(f"health:{url_sha256(origin.url('/media/a.jpg'))}", timeout=5):
        rep = items_by_path(article_health(rt, "story", check_now=True, now=T0), origin)
    assert "another check" in rep["/media/a.jpg"]["not_checked"]
    assert "not_checked" not in rep["/media/b.jpg"] and rep["/media/b.jpg"]["state"] == "live"


def test_check_now_is_bounded_per_caller_and_in_all(tmp_settings: Callable[..., Settings],
                                                    origin: FixtureOrigin) -> None:
    from archiver.web.routes.health import CHECKS_AT_ONCE, CHECKS_PER_CALLER, check_slot

    with api(settings_for(tmp_settings, origin)) as a:
        archive(a.rt, page(origin.url("/media/a.jpg"), tweet=False), article_id="story",
                url="https://news.example/story")
        me = authenticate(a.rt.catalog, a.tokens["editor"])
        assert me is not None
        url = "/v1/articles/story/health"
        with pytest.MonkeyPatch.context():
            slots = [check_slot(a.rt, me.token_id) for _ in range(CHECKS_PER_CALLER)]
            for s in slots:
                s.__enter__()
            try:
                r = a.call("editor", "GET", url, params={"check_now": "true"})
                assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1, r.text
                assert a.call("admin", "GET", url, params={"check_now": "true"}).status_code == 200
                assert a.call("editor", "GET", url).status_code == 200  # reading is never limited
            finally:
                for s in slots:
                    s.__exit__(None, None, None)
        others = [check_slot(a.rt, f"other-{n}") for n in range(CHECKS_AT_ONCE)]
        for s in others:
            s.__enter__()
        try:
            assert a.call("admin", "GET", url, params={"check_now": "true"}).status_code == 429
        finally:
            for s in others:
                s.__exit__(None, None, None)
        assert a.call("editor", "GET", url, params={"check_now": "true"}).status_code == 200


# --- 6. a different image at the same URL --------------------------------------------------------------
def test_a_different_image_is_live_but_changed_since_archived(tmp_settings: Callable[..., Settings],
                                                              origin: FixtureOrigin) -> None:
    rt = archived(tmp_settings, origin, page(origin.url("/media/a.jpg"), origin.url("/media/b.jpg"), tweet=False))
    origin.add_image("/media/a.jpg", make_image("someone else's photo", 64, 48))
    rep = items_by_path(article_health(rt, "story", check_now=True, now=T0), origin)
    assert rep["/media/a.jpg"]["state"] == "live" and rep["/media/a.jpg"]["changed_since_archived"] is True
    assert rep["/media/b.jpg"]["changed_since_archived"] is False
    assert (load_record(rt, origin.url("/media/a.jpg")) or {})["changed_since_archived"] is True


# --- 7. embedded mode: nothing schedules checks -------------------------------------------------------
def test_health_page_says_when_checks_ran_and_that_no_scheduler_runs(tmp_settings: Callable[..., Settings],
                                                                      origin: FixtureOrigin) -> None:
    with api(settings_for(tmp_settings, origin, broker_url="memory://")) as a:
        archive(a.rt, page(origin.url("/media/a.jpg"), tweet=False), article_id="story",
                url="https://news.example/story")
        text = a.call("editor", "GET", "/health").text
        assert "No check has run yet" in text and "No scheduler is running" in text
        assert "archiver health --check-now" in text
        article_health(a.rt, "story", check_now=True)
        assert "Last check ran" in a.call("editor", "GET", "/health").text


def test_health_page_says_checks_are_overdue_with_a_broker(tmp_settings: Callable[..., Settings],
                                                           origin: FixtureOrigin) -> None:
    with api(settings_for(tmp_settings, origin, broker_url="redis://127.0.0.1:1/0")) as a:
        archive(a.rt, page(origin.url("/media/a.jpg"), tweet=False), article_id="story",
                url="https://news.example/story")
        article_health(a.rt, "story", check_now=True, now=T0)   # its next check fell due long ago
        text = a.call("editor", "GET", "/health").text
        assert "1 check overdue" in text and "No scheduler is running" not in text
