"""Own-site politeness (issue 18): the article's own site gets its own, higher per-host limits, third-party
hosts keep theirs, in the in-process and the Redis limiter, and the article's site reaches the fetches
made on the local runner's capture threads."""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from archiver.capture.fetch import Fetcher
from archiver.capture.ownsite import OwnSites, article_site, current_site, parse_own_hosts, registrable_domain
from archiver.capture.ratelimit import LimiterTimeout, LocalHostLimiter, RedisHostLimiter
from archiver.config.settings import Settings, load_settings
from archiver.errors import ConfigError
from archiver.runners.local import archive
from archiver.runtime import Runtime
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
                                 "*.127.0.0.1", "-bad.example", "*.*.example"])
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
        rep = archive(rt, f"<html><body>{body}</body></html>".encode(), url=origin.url("/story"))
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
