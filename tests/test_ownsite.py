"""Own-site politeness (issue 18): the article's own site gets its own, higher per-host limits, third-party
hosts keep theirs, in the in-process and the Redis limiter, and the article's site reaches the fetches
made on the local runner's capture threads."""

from __future__ import annotations

import argparse
import contextvars
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from archiver.article.input import ArticleInput
from archiver.capture.fetch import Fetcher
from archiver.capture.ownsite import (
    OwnSites,
    article_site,
    current_site,
    parse_own_hosts,
    parse_own_sites,
    registrable_domain,
    site_scope,
)
from archiver.capture.ratelimit import LimiterTimeout, LocalHostLimiter, RedisHostLimiter
from archiver.config.settings import Settings, load_settings
from archiver.errors import ConfigError
from archiver.records.plan import Plan
from archiver.runners.local import archive
from archiver.runtime import Runtime
from archiver.storage.layout import plan_key
from archiver.testing.fixture_origin import FixtureOrigin, make_image


# --- the rule ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("host", "site", "own"), [
    ("cdn.example.co.uk", "www.example.co.uk", True),      # one registrable domain under a two-label suffix
    ("example.co.uk", "www.example.co.uk", True),
    ("other.co.uk", "example.co.uk", False),                # another site on the same public suffix
    ("co.uk", "example.co.uk", False),
    ("img.news.example", "news.example", True),
    ("bar.github.io", "foo.github.io", False),              # the list's private section: two users' sites
    ("127.0.0.1", "127.0.0.1", True),                       # an IP literal is its own site
    ("127.0.0.2", "127.0.0.1", False),
    ("localhost", "127.0.0.1", False),
    ("::1", "[::1]", True),
    ("cdn.xn--bcher-kva.de", "www.bücher.de", True),        # IDN: the Unicode and punycode spellings agree
    ("Bücher.DE.", "xn--bcher-kva.de", True),
    ("www.xn--e1afmkfd.xn--p1ai", "пример.рф", True),
    ("other.xn--p1ai", "пример.рф", False),
])
def test_own_site_is_the_registrable_domain(host: str, site: str, own: bool) -> None:
    assert OwnSites().is_own(host, site) is own


def test_registrable_domain_without_network() -> None:
    assert registrable_domain("a.b.www.example.co.uk") == "example.co.uk"
    assert registrable_domain("10.1.2.3") == "10.1.2.3"
    assert registrable_domain("localhost") == "localhost"
    assert registrable_domain("github.io") == "github.io"  # a public suffix is no one's site but its own


def test_configured_own_hosts_and_no_article() -> None:
    sites = OwnSites("media.cdn.example, *.img.example.net, 192.0.2.7")
    assert current_site() is None
    assert sites.is_own("media.cdn.example") and sites.is_own("a.b.img.example.net") and sites.is_own("192.0.2.7")
    assert not sites.is_own("img.example.net")  # *.domain: hosts under it, not the domain itself
    assert not sites.is_own("www.example.co.uk")  # no article, no own site
    with article_site("https://www.example.co.uk:8443/story?id=1"):
        assert current_site() == "www.example.co.uk"
        assert sites.is_own("cdn.example.co.uk") and not sites.is_own("other.example")
        with article_site(None):  # an article without a URL: only the configured hosts
            assert not sites.is_own("cdn.example.co.uk") and sites.is_own("media.cdn.example")
    assert current_site() is None


@pytest.mark.parametrize("bad", ["*.co.uk", "*.com", "*.github.io", "host:8080", "http://x.example/", "a b",
                                 "*.127.0.0.1", "-bad.example", "*.*.example",
                                 # a domain with public suffixes under it: every customer's host would be own
                                 "*.amazonaws.com", "*.windows.net", "*.fastly.net", "s3.amazonaws.com",
                                 # a platform's hosts are never own-site
                                 "pbs.twimg.com", "*.twimg.com", "publish.twitter.com", "i.ytimg.com"])
def test_bad_own_hosts_are_one_line_config_errors(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_own_hosts(bad)
    with pytest.raises(ConfigError) as err:
        load_settings(env={"ARCHIVER_OWN_HOSTS": f"ok.example, {bad}"})
    assert "ARCHIVER_OWN_HOSTS" in str(err.value) and "\n" not in str(err.value)


# --- the in-process limiter, through the fetcher ---------------------------------------------------------
@pytest.fixture
def origin() -> Iterator[FixtureOrigin]:
    with FixtureOrigin() as o:
        for i in range(30):
            o.add_image(f"/img/{i}.jpg", make_image(f"own{i}", 32, 24))
        yield o


def _other_name(origin: FixtureOrigin, path: str) -> str:
    """The same origin under a second host name: localhost (a third party to an article on 127.0.0.1)."""
    return origin.url(path).replace("://127.0.0.1:", "://localhost:")


def test_own_site_fetches_run_past_the_third_party_rate(origin: FixtureOrigin) -> None:
    rate = 10.0  # third-party: burst 10, then 10 per second
    settings = Settings(fetch_allow="127.0.0.1,localhost", fetch_retries=0, host_rate_per_second=rate,
                        host_concurrency=4, own_host_rate_per_second=1000.0, own_host_concurrency=8)
    done: dict[bool, list[float]] = {True: [], False: []}
    lock = threading.Lock()
    fetcher = Fetcher(settings)

    def one(url: str, own: bool) -> None:
        assert fetcher.get(url, kind="image").status == 200
        with lock:
            done[own].append(time.monotonic())

    t0 = time.monotonic()
    with article_site(origin.url("/story")), ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(contextvars.copy_context().run, one, _other_name(origin, f"/img/{i}.jpg"), False)
                   for i in range(20)]
        futures += [pool.submit(contextvars.copy_context().run, one, origin.url(f"/img/{i}.jpg"), True)
                    for i in range(30)]
        for f in futures:
            f.result()
    fetcher.close()
    own, third = sorted(done[True]), sorted(done[False])
    # The third party never ran past its bucket: the k-th request (from 1) no sooner than (k - burst) / rate.
    for k, t in enumerate(third, start=1):
        assert t - t0 >= (k - rate) / rate - 0.05, (k, t - t0)
    # 30 own-site fetches in less time than the third-party limits allow 30 in (2 s).
    assert own[-1] - t0 < (30 - rate) / rate, own[-1] - t0
    assert len(origin.requests) == 50


def test_capture_threads_carry_the_article_site(tmp_path: Path, origin: FixtureOrigin) -> None:
    """Through the local runner: images on the article's host are all captured; images on a third-party
    host under a rate that allows one request before the fetch deadline get one, the rest time out."""
    settings = load_settings(env={}).replace(
        home=str(tmp_path), **{**origin.settings_overrides(), "fetch_allow": "127.0.0.1,localhost"},
        fetch_retries=0, fetch_deadline=1.0, host_rate_per_second=0.01, own_host_rate_per_second=1000.0,
        capture_threads=8)
    own = [origin.url(f"/img/{i}.jpg") for i in range(5)]
    third = [_other_name(origin, f"/img/{i}.jpg") for i in range(5, 8)]
    body = "".join(f'<p><img src="{u}"></p>' for u in own + third)
    rt = Runtime.from_settings(settings)
    try:
        # The URL is vouched for (as the CLI's is); a URL merely claimed gives no own site (below).
        rep = archive(rt, ArticleInput(f"<html><body>{body}</body></html>".encode(), url=origin.url("/story"),
                                       url_trusted=True))
    finally:
        rt.close()
    status = {i["url"]: i["status"] for i in rep["images"]}
    assert all(status[u] == "archived" for u in own), status
    assert sorted(status[u] for u in third) == ["archived", "failed", "failed"], status


# --- the Redis limiter ---------------------------------------------------------------------------------
@pytest.mark.integration
def test_redis_limiter_honours_both_classes(redis_url: str) -> None:
    prefix = f"test-own:{time.time_ns()}"
    lim = RedisHostLimiter(redis_url, concurrency=4, rate_per_second=2.0, own_concurrency=1,
                           own_rate_per_second=1000.0, own_hosts="*.cdn.example", prefix=prefix)
    with article_site("https://www.example.co.uk/story"):
        t0 = time.monotonic()
        for _ in range(20):  # 20 at a third party's 2/s would take 9 s
            with lim.acquire("img.example.co.uk"), lim.acquire("a.cdn.example"):
                pass
        assert time.monotonic() - t0 < 3.0
        with (lim.acquire("img.example.co.uk"), pytest.raises(LimiterTimeout),  # own concurrency 1
              lim.acquire("img.example.co.uk", deadline=time.monotonic() + 0.2)):
            pass
        t0 = time.monotonic()
        for _ in range(4):  # third party: burst of 2, then 2 per second
            with lim.acquire("other.co.uk"):
                pass
        assert time.monotonic() - t0 >= 0.9
    # The same host as a third party (no article) has its own, slower bucket.
    with pytest.raises(LimiterTimeout):
        for _ in range(4):
            with lim.acquire("img.example.co.uk", deadline=time.monotonic() + 0.2):
                pass


def test_local_limiter_defaults_and_settings() -> None:
    s = Settings()
    assert (s.own_host_rate_per_second, s.own_host_concurrency, s.own_hosts) == (200.0, 16, "")
    lim = LocalHostLimiter.from_settings(s.replace(own_hosts="*.cdn.example"))
    assert (lim.concurrency, lim.rate) == (4, 10.0)
    assert (lim.own_limits.concurrency, lim.own_limits.rate) == (16, 200.0)
    assert lim.sites.is_own("x.cdn.example")


# --- whose word makes a site own (Plan.own_site) -----------------------------------------------------------
def test_trusted_site_rule() -> None:
    sites = OwnSites(own_sites="example.co.uk")
    # Vouched for (fetched from it, or given by the operator): its registrable domain.
    assert sites.trusted_site("https://www.news.example/a", trusted=True) == "news.example"
    assert sites.trusted_site("http://127.0.0.1:8080/a", trusted=True) == "127.0.0.1"
    # Merely claimed: nothing, unless the domain is a configured own site.
    assert sites.trusted_site("https://www.news.example/a", trusted=False) is None
    assert sites.trusted_site("https://www.example.co.uk/a", trusted=False) == "example.co.uk"
    assert sites.trusted_site(None, trusted=True) is None
    # A platform's host is never an article's own site, however vouched for, nor own within one.
    for url in ("https://pbs.twimg.com/media/x", "https://twitter.com/a/status/1", "https://www.youtube.com/x"):
        assert sites.trusted_site(url, trusted=True) is None
    with site_scope("twimg.com"):
        assert not sites.is_own("pbs.twimg.com")
    # own_sites domains are own for every article.
    assert sites.is_own("cdn.example.co.uk") and not sites.is_own("other.co.uk")


@pytest.mark.parametrize("bad", ["www.example.co.uk", "co.uk", "127.0.0.1", "localhost", "twitter.com", "a b"])
def test_bad_own_sites_are_one_line_config_errors(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_own_sites(bad)
    with pytest.raises(ConfigError) as err:
        load_settings(env={"ARCHIVER_OWN_SITES": f"example.co.uk, {bad}"})
    assert "ARCHIVER_OWN_SITES" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("name", ["ARCHIVER_HOST_RATE_PER_SECOND", "ARCHIVER_OWN_HOST_RATE_PER_SECOND"])
@pytest.mark.parametrize("value", ["inf", "Infinity", "nan", "0", "-1"])
def test_rates_are_finite_and_positive(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(env={name: value})
    assert name in str(err.value) and "\n" not in str(err.value)


def test_a_long_own_hosts_is_parsed_once() -> None:
    value = ",".join(f"h{i}.cdn-{i % 97}.example" for i in range(20_000))
    s = Settings(own_hosts=value)
    assert LocalHostLimiter.from_settings(s).sites.exact is parse_own_hosts(value)[0]
    assert s.replace(fetch_retries=1).own_hosts == value and parse_own_hosts(value) is parse_own_hosts(value)


def _plan_of(rt: Runtime, article_id: str) -> Plan:
    from archiver.steps.prepare import load_plan

    return load_plan(rt, article_id)


def test_prepare_stores_the_decision(tmp_path: Path) -> None:
    from archiver.steps.prepare import prepare

    settings = load_settings(env={}).replace(home=str(tmp_path), own_sites="example.co.uk")
    html = b"<p>hello</p>"
    with Runtime.from_settings(settings) as rt:
        cases = {"claimed": ArticleInput(html, url="https://pbs.twimg.com/media/x"),
                 "claimed-other": ArticleInput(html + b" ", url="https://www.news.example/a"),
                 "claimed-own-site": ArticleInput(html + b"  ", url="https://www.example.co.uk/a"),
                 "vouched": ArticleInput(html + b"   ", url="https://www.news.example/a", url_trusted=True),
                 "vouched-base": ArticleInput(html + b"    ", base_url="https://news.example/", url_trusted=True),
                 "vouched-platform": ArticleInput(html + b"     ", url="https://x.com/a/status/1", url_trusted=True)}
        got = {aid: prepare(rt, a, article_id=aid).own_site for aid, a in cases.items()}
        assert got == {"claimed": None, "claimed-other": None, "claimed-own-site": "example.co.uk",
                       "vouched": "news.example", "vouched-base": "news.example", "vouched-platform": None}
        assert _plan_of(rt, "vouched").own_site == "news.example"
        # A plan stored before the decision existed reads as no own site (third-party limits).
        raw = json.loads(rt.store.get(plan_key("vouched", cases["vouched"].sha256)))
        del raw["own_site"]
        assert Plan.loads(json.dumps(raw).encode(), "old").own_site is None
        assert "own_site" not in json.loads(prepare(rt, cases["claimed"], article_id="claimed").dumps())


def _limited(origin: FixtureOrigin, tmp_path: Path, **more: object) -> Settings:
    """Third-party rate low enough that one request fits before the fetch deadline, own-site unbounded."""
    return load_settings(env={}).replace(
        home=str(tmp_path), **{**origin.settings_overrides(), "fetch_allow": "127.0.0.1,localhost"},
        fetch_retries=0, fetch_deadline=1.0, host_rate_per_second=0.01, own_host_rate_per_second=1000.0,
        capture_threads=8, **more)


def test_publish_hook_url_is_claimed_not_trusted(tmp_path: Path, origin: FixtureOrigin) -> None:
    """The attack: a webhook names any URL and carries its own HTML with many images on that host. The
    article gets no own site, so those images are fetched at the third-party rate (one, then the
    deadline), and the plan says so."""
    from tests.apikit import api

    imgs = "".join(f'<p><img src="{origin.url(f"/img/{i}.jpg")}"></p>' for i in range(4))
    with api(_limited(origin, tmp_path, broker_url="")) as a:
        body = {"article_id": "claimed-1", "url": origin.url("/story"), "html": f"<html><body>{imgs}</body></html>"}
        assert a.call("publisher", "POST", "/v1/articles", json=body).status_code == 202
        a.client.app.state.intake.wait_idle()
        assert _plan_of(a.rt, "claimed-1").own_site is None
        status = a.call("editor", "GET", "/v1/articles/claimed-1").json()
    assert sorted(i["status"] for i in status["items"]) == ["archived", "failed", "failed", "failed"], status


def test_cli_article_fetched_from_its_url_is_trusted(tmp_path: Path, origin: FixtureOrigin) -> None:
    """A source given as a URL is fetched (through the Runtime's limiter) and its site is the article's:
    every image on it is captured; a file with --base-url (the operator's word) likewise."""
    from archiver.cli.articles import runtime_and_article, source_fetcher

    imgs = "".join(f'<p><img src="/img/{i}.jpg"></p>' for i in range(6))
    origin.add_image("/story", f"<html><body>{imgs}</body></html>".encode(), "text/html; charset=utf-8")
    settings = _limited(origin, tmp_path)
    args = argparse.Namespace(source=origin.url("/story"), base_url=None, charset=None, format="auto")
    rt, article = runtime_and_article(args, settings)
    with rt:
        assert article.url_trusted and source_fetcher(rt).limiter is rt.fetcher.limiter
        rep = archive(rt, article)
        assert _plan_of(rt, rep["article_id"]).own_site == "127.0.0.1"
    assert [i["status"] for i in rep["images"]] == ["archived"] * 6, rep["images"]
    page = tmp_path / "a.html"
    page.write_text(f"<html><body>{imgs}<p>file</p></body></html>")
    args = argparse.Namespace(source=str(page), base_url=origin.url("/"), charset=None, format="auto")
    rt, article = runtime_and_article(args, settings)
    with rt:
        assert article.url_trusted and _plan_of(rt, archive(rt, article)["article_id"]).own_site == "127.0.0.1"


@pytest.mark.integration
def test_submit_fetches_the_page_through_the_fleet_limiter(tmp_path: Path, origin: FixtureOrigin,
                                                            redis_url: str) -> None:
    """`archiver submit URL`: the page fetch takes a slot of the workers' Redis bucket for the host (the
    own-site one), not a limiter of its own."""
    import redis

    from archiver.cli.articles import fleet_limiter, runtime_and_article

    origin.add_image("/story", b"<html><body><p>hi</p></body></html>", "text/html; charset=utf-8")
    settings = _limited(origin, tmp_path, broker_url=redis_url)
    prefix = f"test-fleet:{time.time_ns()}"
    fleet = fleet_limiter(settings)
    assert isinstance(fleet, RedisHostLimiter)
    limiter = RedisHostLimiter(redis_url, settings, prefix=prefix)
    args = argparse.Namespace(source=origin.url("/story"), base_url=None, charset=None, format="auto")
    rt, article = runtime_and_article(args, settings, limiter=limiter)
    rt.close()
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.exists(f"{prefix}:own:127.0.0.1:bucket") and article.url_trusted
    finally:
        client.delete(*client.keys(f"{prefix}:*") or [f"{prefix}:none"])


def test_images_past_the_per_article_limit_are_rejected_unfetched(tmp_path: Path, origin: FixtureOrigin) -> None:
    from archiver.runners.local import retry

    settings = load_settings(env={}).replace(home=str(tmp_path), **origin.settings_overrides(),
                                             max_images_per_article=3)
    urls = [origin.url(f"/img/{i}.jpg") for i in range(5)]
    body = "".join(f'<p><img src="{u}"></p>' for u in urls).encode()
    with Runtime.from_settings(settings) as rt:
        rep = archive(rt, body, article_id="many")
    got = {i["url"]: i for i in rep["images"]}
    assert [got[u]["status"] for u in urls] == ["archived"] * 3 + ["rejected"] * 2
    assert "max_images_per_article" in (got[urls[4]].get("error") or "")
    assert not any(r.path.startswith(("/img/3.", "/img/4.")) for r in origin.requests)
    # Raising the limit lets `retry` fetch them (a policy refusal, not a content fact).
    with Runtime.from_settings(settings.replace(max_images_per_article=10)) as rt:
        rep = retry(rt, "many")
    assert [i["status"] for i in rep["images"]] == ["archived"] * 5


@pytest.mark.integration
def test_the_queued_task_carries_the_trust(tmp_path: Path, redis_url: str) -> None:
    """Intake sends url_trusted to the workers only for a vouched-for URL, and keeps it in the intake
    record the sweeper queues a lost article again from."""
    import base64

    import redis

    from archiver.runners.intake import Intake
    from archiver.runners.sweep import intake_fields
    from tests.apikit import private_redis_db

    broker = private_redis_db(redis_url, 12)
    r = redis.Redis.from_url(broker)
    r.flushdb()
    settings = load_settings(env={}).replace(home=str(tmp_path), broker_url=broker)
    try:
        with Runtime.from_settings(settings) as rt, Intake(rt) as intake:
            trusted = ArticleInput(b"<p>one</p>", url="https://news.example/1", url_trusted=True)
            claimed = ArticleInput(b"<p>two</p>", url="https://news.example/2")
            jobs = [intake.submit(aid, a, queue_only=True) for aid, a in (("t-1", trusted), ("c-2", claimed))]
            kwargs = [json.loads(base64.b64decode(json.loads(m)["body"]))[1] for m in r.lrange("archiver", 0, -1)]
            fields = [intake_fields(rt, j.article_id, j.source_sha256, {}) for j in jobs]
        assert sorted(k.get("url_trusted", False) for k in kwargs) == [False, True]
        assert fields[0]["url_trusted"] is True and "url_trusted" not in fields[1]
    finally:
        r.flushdb()
