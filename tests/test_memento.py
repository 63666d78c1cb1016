"""Memento (RFC 7089) and Robust Links, end to end: captures made from the fixture origin into a local
store, `archiver serve`'s app under uvicorn on a loopback port, and an independent Memento reader (the
`memento-client` package) finding the closest capture through the TimeGate and reading the TimeMap;
plus direct header checks, HEAD, hostile URLs and dates, and the rewritten articles' Robust Links.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx2 as httpx
import pytest
import uvicorn
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from memento_client import MementoClient

from archiver.capture.cards.page import render_capture_page
from archiver.capture.manifest import GONE_STATUSES
from archiver.capture.memento import http_date, parse_http_date, parse_iso
from archiver.catalog.indexing import manifest_fetches
from archiver.compliance.holds import set_takedown
from archiver.config.settings import Settings, load_settings
from archiver.runners.local import archive
from archiver.runners.reindex import reindex
from archiver.runtime import Runtime
from archiver.storage.layout import capture_page_key, version_key
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture, make_image
from archiver.web.app import create_app
from archiver.web.routes.memento import Memento, closest
from tests.harness.services import SeaweedFS, fresh_pg_dsn

TWEET = "1945048830047662087"
POST_URL = f"https://twitter.com/ANI/status/{TWEET}"
HTTP_DATE = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT")


def article(origin: FixtureOrigin, note: str = "") -> bytes:
    return (
        f"<html><body><p>Story {note}</p>\n"
        f'<img src="{origin.url("/media/lead.jpg")}" alt="lead">\n'
        '<blockquote class="twitter-tweet"><p lang="en" dir="ltr">Lavrov and Jaishankar meet in Tianjin '
        '<a href="https://t.co/HA2sQBIEQc">pic.twitter.com/HA2sQBIEQc</a></p>&mdash; ANI (@ANI) '
        f'<a href="{POST_URL}?ref_src=twsrc%5Etfw">July 15, 2025</a></blockquote>\n'
        "</body></html>\n").encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Env:
    base: str  # http://127.0.0.1:<port>
    rt: Runtime
    origin: FixtureOrigin
    reports: list[dict]  # the three archive reports: archived, archived (new image), deleted
    images: list[bytes]  # the two originals served at /media/lead.jpg, in order

    @property
    def media(self) -> str:
        return f"{self.base}/media"

    def captures(self) -> list[dict]:
        return self.rt.catalog.captures("twitter", TWEET)

    def page_url(self, capture: dict) -> str:
        return self.rt.store.public_url(capture_page_key(capture["manifest_key"]))


def _two_seconds_on() -> None:
    """Sleep into the second after next, so captures are more than a second apart (Memento-Datetimes and
    Accept-Datetime have whole seconds)."""
    time.sleep(2.05 - (time.time() % 1))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    port = free_port()
    tweets = [TweetFixture(id=TWEET, handle="ANI", name="ANI", text="Lavrov and Jaishankar meet in Tianjin",
                           photos=[{"name": "p1.jpg", "alt": "handshake", "width": 640, "height": 400}],
                           media_code="HA2sQBIEQc")]
    images = [make_image("lead", 320, 200), make_image("lead-corrected", 300, 200)]
    with FixtureOrigin(tweets=tweets, images={"/media/lead.jpg": images[0]}) as origin:
        settings: Settings = load_settings(env={}).replace(
            home=str(tmp_path_factory.mktemp("memento")), **origin.settings_overrides(),
            public_base_url=f"http://127.0.0.1:{port}/media", capture_fresh_for=0, media_dedupe_window=0)
        rt = Runtime.from_settings(settings)
        reports = [archive(rt, article(origin, "one"), article_id="a1", url="https://news.example/a1")]
        _two_seconds_on()
        origin.add_image("/media/lead.jpg", images[1])  # the publisher replaced the image
        reports.append(archive(rt, article(origin, "two"), article_id="a2", url="https://news.example/a2"))
        _two_seconds_on()
        origin.set_behaviour("/oembed", "404", sticky=True)  # the tweet is gone
        origin.set_behaviour("/tweet-result", "empty", sticky=True)
        reports.append(archive(rt, article(origin, "three"), article_id="a3", url="https://news.example/a3"))
        app = create_app(settings, runtime=rt)
        srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
        thread = threading.Thread(target=srv.run, name="uvicorn", daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not srv.started:
            assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)
        yield Env(f"http://127.0.0.1:{port}", rt, origin, reports, images)
        srv.should_exit = True
        thread.join(10)
        rt.close()


@pytest.fixture(scope="module")
def client(env: Env) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=env.base, follow_redirects=False, timeout=20) as c:
        yield c


def links(header: str) -> dict[str, dict]:
    """A Link header or link-format body read by memento-client's own parser: {uri: {rel: [...], ...}}."""
    return MementoClient.parse_link_header(header)


def by_rel(parsed: dict[str, dict], rel: str) -> list[str]:
    return [uri for uri, params in parsed.items() if rel in params.get("rel", [])]


# --- the captures and their pages -------------------------------------------------------------------
def test_three_captures_two_holding_the_post_one_deleted(env: Env) -> None:
    statuses = [e["status"] for r in env.reports for e in r["embeds"]]
    assert statuses[:2] == ["archived", "archived"] and statuses[2] in GONE_STATUSES, statuses
    caps = env.captures()
    assert len(caps) == 3 and len({http_date(c["captured_at"]) for c in caps}) == 3


def test_each_capture_has_a_static_human_page_beside_its_manifest(env: Env) -> None:
    for cap in env.captures():
        manifest_bytes = env.rt.store.get(cap["manifest_key"])
        manifest = json.loads(manifest_bytes)
        page_key = capture_page_key(cap["manifest_key"])
        page = env.rt.store.get(page_key).decode()
        soup = BeautifulSoup(page, "html5lib")
        assert not soup.find_all("script") and soup.find("article", class_="archiver-card")
        csp = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"]
        assert "default-src 'none'" in csp and "script-src" not in csp
        text = soup.get_text(" ")
        words = {"archived": "archived", "deleted": "deleted"}.get(manifest["status"], manifest["status"])
        assert words in soup.find("span", class_="status").get_text()
        # The signed manifest names the page's SHA-256 (the page cannot show the manifest's: a cycle).
        assert manifest["cards"]["page_sha256"] == hashlib.sha256(page.encode()).hexdigest()
        for source in manifest["sources"]:
            assert source["fetched_at"] in text
            if source["response_sha256"]:
                assert source["response_sha256"] in text
        # Every relative link is a stored object beside it (manifest, WARC, cards) or the timestamp record.
        folder = page_key.rsplit("/", 1)[0]
        rel = [a["href"] for a in soup.find_all("a") if not a["href"].startswith("http")]
        assert f"{cap['capture_id']}.json" in rel and f"{cap['capture_id']}.card.png" in rel
        for href in rel:
            if not href.endswith(".timestamps.json"):
                assert env.rt.store.exists(f"{folder}/{href}"), href
        # Head links name the Memento endpoints of the original.
        assert soup.find("link", rel="original")["href"] == POST_URL
        assert soup.find("link", rel="timegate")["href"] == f"{env.media}/timegate/{POST_URL}"


def test_a_page_is_served_with_memento_headers_and_head_answers_the_same(env: Env, client: httpx.Client) -> None:
    for cap in env.captures():
        path = f"/media/{capture_page_key(cap['manifest_key'])}"
        got = client.get(path)
        assert got.status_code == 200 and got.headers["content-type"].startswith("text/html")
        assert got.headers["memento-datetime"] == http_date(cap["captured_at"])
        assert HTTP_DATE.fullmatch(got.headers["memento-datetime"])
        parsed = links(got.headers["link"])
        assert by_rel(parsed, "original") == [POST_URL]
        assert by_rel(parsed, "timegate") == [f"{env.media}/timegate/{POST_URL}"]
        assert by_rel(parsed, "timemap") == [f"{env.media}/timemap/link/{POST_URL}"]
        assert "script-src" not in got.headers["content-security-policy"]
        assert got.headers["x-content-type-options"] == "nosniff"
        head = client.head(path)
        assert head.status_code == 200 and head.content == b""
        assert {k: head.headers[k] for k in ("memento-datetime", "link")} == \
               {k: got.headers[k] for k in ("memento-datetime", "link")}
    # A card or a manifest is no Memento: no Memento-Datetime.
    key = env.captures()[0]["manifest_key"]
    assert "memento-datetime" not in client.get(f"/media/{key}").headers
    assert "memento-datetime" not in client.get(f"/media/{key.removesuffix('.json')}.card.html").headers


# --- an independent reader ----------------------------------------------------------------------------
def test_memento_client_finds_the_closest_capture_through_the_timegate(env: Env) -> None:
    caps = env.captures()
    times = [parse_iso(c["captured_at"]) for c in caps]
    mc = MementoClient(timegate_uri=f"{env.media}/timegate/", check_native_timegate=False)
    for i, cap in enumerate(caps):
        # Starting from another capture's page: the reader finds the original in its Link header.
        start = env.page_url(caps[(i + 1) % len(caps)])
        info = mc.get_memento_info(start, times[i].replace(tzinfo=None, microsecond=0))
        assert info["original_uri"] == POST_URL
        assert info["timegate_uri"] == f"{env.media}/timegate/{POST_URL}"
        closest = info["mementos"]["closest"]
        assert closest["uri"] == [env.page_url(cap)] and closest["http_status_code"] == 200
        assert closest["datetime"] == times[i].replace(tzinfo=None, microsecond=0)
        assert info["mementos"]["first"]["uri"] == [env.page_url(caps[0])]
        assert info["mementos"]["last"]["uri"] == [env.page_url(caps[-1])]
    assert MementoClient.is_memento(env.page_url(caps[0]))
    assert MementoClient.is_timegate(f"{env.media}/timegate/{POST_URL}")
    # Between two captures, nearer the second (they are more than a second apart): the second.
    between = times[1].replace(microsecond=0)
    assert times[0] < between <= times[1]
    info = mc.get_memento_info(env.page_url(caps[0]), between.replace(tzinfo=None))
    assert info["mementos"]["closest"]["uri"] == [env.page_url(caps[1])]


def test_the_timemap_lists_every_capture_with_its_datetime(env: Env, client: httpx.Client) -> None:
    caps = env.captures()
    got = client.get(f"/media/timemap/link/{POST_URL}")
    assert got.status_code == 200 and got.headers["content-type"].startswith("application/link-format")
    parsed = links(got.text)
    assert by_rel(parsed, "original") == [POST_URL]
    assert by_rel(parsed, "timegate") == [f"{env.media}/timegate/{POST_URL}"]
    [self_uri] = by_rel(parsed, "self")
    assert parsed[self_uri]["type"] == ["application/link-format"]
    assert parsed[self_uri]["from"] == [http_date(caps[0]["captured_at"])]
    assert parsed[self_uri]["until"] == [http_date(caps[-1]["captured_at"])]
    mementos = by_rel(parsed, "memento")
    assert mementos == [env.page_url(c) for c in caps]  # oldest first, every capture, the deleted one too
    assert [parsed[m]["datetime"] for m in mementos] == [[http_date(c["captured_at"])] for c in caps]
    assert by_rel(parsed, "first") == mementos[:1] and by_rel(parsed, "last") == mementos[-1:]
    assert client.head(f"/media/timemap/link/{POST_URL}").content == b""


# --- the TimeGate's negotiation, directly -------------------------------------------------------------
def test_timegate_headers_and_negotiation(env: Env, client: httpx.Client) -> None:
    caps = env.captures()
    pages = [env.page_url(c) for c in caps]
    gate = f"/media/timegate/{POST_URL}"
    latest = client.get(gate)
    assert latest.status_code == 302 and latest.headers["location"] == pages[-1]
    assert latest.headers["vary"].lower() == "accept-datetime" and "memento-datetime" not in latest.headers
    parsed = links(latest.headers["link"])
    assert by_rel(parsed, "original") == [POST_URL]
    assert by_rel(parsed, "timemap") == [f"{env.media}/timemap/link/{POST_URL}"]
    assert by_rel(parsed, "prev") == [pages[-2]] and by_rel(parsed, "next") == []
    for when, want in ((datetime(1999, 1, 1, tzinfo=UTC), 0), (datetime(2999, 1, 1, tzinfo=UTC), -1)):
        got = client.get(gate, headers={"Accept-Datetime": http_date(when)})
        assert got.headers["location"] == pages[want]
    middle = parse_iso(caps[1]["captured_at"])
    for form in (http_date(middle), middle.strftime("%A, %d-%b-%y %H:%M:%S GMT"),
                 middle.strftime("%a %b %e %H:%M:%S %Y")):
        got = client.get(gate, headers={"Accept-Datetime": form})
        assert got.status_code == 302 and got.headers["location"] == pages[1], form
        assert set(by_rel(links(got.headers["link"]), "prev")) == {pages[0]}
    head = client.head(gate, headers={"Accept-Datetime": http_date(middle)})
    assert head.status_code == 302 and head.headers["location"] == pages[1] and head.content == b""


def test_negotiation_is_on_the_listed_second() -> None:
    """Asking for the datetime a Memento is listed with gives that Memento, however the captures fall
    within their seconds (a capture at .874 of the second before is not closer); within one second,
    the earliest capture."""
    t = datetime(2026, 11, 30, 10, 32, 40, 874000, tzinfo=UTC)
    ms = [Memento.at(t, "b"), Memento.at(t + timedelta(milliseconds=587), "a")]  # 10:32:40.874, 10:32:41.461
    assert [http_date(m.when) for m in ms] == ["Mon, 30 Nov 2026 10:32:40 GMT", "Mon, 30 Nov 2026 10:32:41 GMT"]
    for i, m in enumerate(ms):
        assert closest(ms, parse_http_date(http_date(m.when))) == i
    assert closest(ms, datetime(2026, 11, 30, 10, 32, 41, 999000, tzinfo=UTC)) == 1
    same = [Memento.at(t.replace(microsecond=100), "x"), Memento.at(t.replace(microsecond=900), "y")]
    assert closest(same, t) == 0 and closest(same, t.replace(microsecond=999999)) == 0


def test_every_listed_datetime_leads_to_its_memento(env: Env, client: httpx.Client) -> None:
    for original in (POST_URL, env.origin.url("/media/lead.jpg")):
        parsed = links(client.get(f"/media/timemap/link/{original}").text)
        for uri in by_rel(parsed, "memento"):
            [when] = parsed[uri]["datetime"]
            got = client.get(f"/media/timegate/{original}", headers={"Accept-Datetime": when})
            assert got.headers["location"] == uri, (original, when)
            memento = client.head(uri[len(env.base):])
            assert memento.headers["memento-datetime"] == when


@pytest.mark.parametrize("value", [
    "yesterday", "", "2025-07-15T09:12:33Z", "Tue, 15 Jul 2025 09:12:33 UTC", "Mon, 15 Jul 2025 09:12:33 GMT",
    "Tue, 31 Feb 2025 09:12:33 GMT", "Tue, 15 Jul 2025 25:12:33 GMT", "Tue, 15 Jul 2025 09:12:33 GMT;x",
    ", ".join(["Tue, 15 Jul 2025 09:12:33 GMT"] * 3), "Tue, 15 Jul 20250 09:12:33 GMT", "Tue, 15 Jul 2025"])
def test_a_bad_accept_datetime_is_a_400(env: Env, client: httpx.Client, value: str) -> None:
    got = client.get(f"/media/timegate/{POST_URL}", headers={"Accept-Datetime": value})
    assert got.status_code == 400, value
    assert got.headers["vary"].lower() == "accept-datetime"
    assert "Accept-Datetime" in got.json()["detail"] and "Traceback" not in got.text


def test_parse_http_date_reads_the_three_forms_and_nothing_else() -> None:
    when = datetime(2025, 7, 15, 9, 12, 33, tzinfo=UTC)
    assert parse_http_date("Tue, 15 Jul 2025 09:12:33 GMT") == when
    assert parse_http_date("Tuesday, 15-Jul-25 09:12:33 GMT") == when
    assert parse_http_date("Tue Jul 15 09:12:33 2025") == when
    for bad in ("Tue, 15 jul 2025 09:12:33 GMT", "Wed, 15 Jul 2025 09:12:33 GMT", "Tue, 15 Jul 2025 09:12:60 GMT"):
        with pytest.raises(ValueError):
            parse_http_date(bad)


# --- URL forms ----------------------------------------------------------------------------------------
def test_every_spelling_of_the_post_reaches_the_same_mementos(env: Env, client: httpx.Client) -> None:
    expected = client.get(f"/media/timemap/link/{POST_URL}").text
    for spelling in (f"https://x.com/ANI/status/{TWEET}?s=20", f"https://mobile.twitter.com/ANI/status/{TWEET}",
                     f"{POST_URL}?ref_src=twsrc%5Etfw", quote(POST_URL, safe=""),
                     f"https:/twitter.com/ANI/status/{TWEET}",
                     f"https://twitter.com/i/web/status/{TWEET}",
                     # the scheme's default port; the old hashbang form (its "#" must be sent encoded);
                     # only the ":" and "/" percent-encoded
                     f"https://twitter.com:443/ANI/status/{TWEET}", f"http://TWITTER.com:80/ANI/status/{TWEET}",
                     f"https://twitter.com/%23!/ANI/status/{TWEET}",
                     quote(f"https://twitter.com/#!/ANI/status/{TWEET}", safe=""),
                     POST_URL.replace("/", "%2F"), POST_URL.replace("/", "%2f").replace(":", "%3A")):
        got = client.get(f"/media/timemap/link/{spelling}")
        assert got.status_code == 200 and got.text == expected, spelling
        gate = client.get(f"/media/timegate/{spelling}")
        assert gate.headers["location"] == env.page_url(env.captures()[-1]), spelling


@pytest.mark.parametrize("path", [
    "javascript:alert(1)", "https://", "ftp://example.com/a.jpg", "not a url", "https://exa mple.com/",
    "https%3A%2F%2Fexample.com%2F%0Aa", "https://example.com:99999/a", "//example.com/a",
    "http://[::1/a", "https://example.com/" + "a" * 9000])
def test_hostile_originals_are_a_one_line_400(client: httpx.Client, path: str) -> None:
    for prefix in ("/media/timegate/", "/media/timemap/link/", "/media/memento/20250101000000/"):
        got = client.get(prefix + path)
        assert got.status_code in (400, 404, 414), (prefix, path, got.status_code)
        assert "Traceback" not in got.text and "\n" not in got.text.strip()
        if got.status_code == 400:
            assert got.json()["detail"]


def test_unarchived_urls_are_404_and_link_headers_stay_well_formed(client: httpx.Client) -> None:
    for url in ("https://twitter.com/ANI/status/1", "https://example.com/never.jpg"):
        got = client.get(f"/media/timegate/{url}")
        assert got.status_code == 404 and got.headers["vary"].lower() == "accept-datetime"
        assert client.get(f"/media/timemap/link/{url}").status_code == 404
    # A query trying to break out of <...> in a Link header: its characters are escaped.
    got = client.get(f'/media/timegate/{POST_URL}?q=%3E;%20rel="evil",<x>')
    assert got.status_code == 302
    parsed = links(got.headers["link"])
    assert not by_rel(parsed, "evil") and all(">" not in uri and " " not in uri for uri in parsed)
    [original] = by_rel(parsed, "original")
    assert original == POST_URL  # the post's own URL, whatever query reached it
    assert client.get("/media/memento/2025/https://example.com/a.jpg").status_code == 400



@pytest.mark.parametrize("original", ["https://news.example/2025/07/story.html", ".card.html", "https://x.example/a.HTML"])
def test_memento_routes_answer_json_errors_for_an_original_ending_in_html(client: httpx.Client, original: str) -> None:
    """A news article's URL often ends in ".html": the TimeGate, TimeMap and Memento routes still answer
    their 400 and 404 as the JSON the API document gives (only a capture page under /media/ is a page)."""
    for prefix in ("/media/timegate/", "/media/timemap/link/", "/media/memento/20250101000000/"):
        got = client.get(prefix + original)
        assert got.status_code in (400, 404), (prefix, got.status_code)
        assert got.headers["content-type"].startswith("application/json") and got.json()["detail"], prefix


# --- images -------------------------------------------------------------------------------------------
def test_an_image_url_has_a_timegate_timemap_and_mementos_of_each_original(env: Env, client: httpx.Client) -> None:
    image = env.origin.url("/media/lead.jpg")
    got = client.get(f"/media/timemap/link/{image}")
    assert got.status_code == 200
    parsed = links(got.text)
    mementos = by_rel(parsed, "memento")
    assert len(mementos) == 2  # the first original, then the one that replaced it (same bytes twice: once)
    bodies = []
    for uri in mementos:
        assert uri.startswith(f"{env.media}/memento/") and uri.endswith(f"/{image}")
        one = client.get(uri[len(env.base):])
        assert one.status_code == 200 and one.headers["content-type"] == "image/jpeg"
        assert [one.headers["memento-datetime"]] == parsed[uri]["datetime"]
        assert by_rel(links(one.headers["link"]), "original") == [image]
        assert one.headers["x-content-type-options"] == "nosniff"
        bodies.append(one.content)
    assert bodies == env.images
    first = parse_http_date(parsed[mementos[0]]["datetime"][0])
    gate = client.get(f"/media/timegate/{image}", headers={"Accept-Datetime": http_date(first - timedelta(days=1))})
    assert gate.status_code == 302 and gate.headers["location"] == mementos[0]
    assert client.get(f"/media/timegate/{image}").headers["location"] == mementos[1]
    mc = MementoClient(timegate_uri=f"{env.media}/timegate/", check_native_timegate=False)
    info = mc.get_memento_info(mementos[0], first.replace(tzinfo=None) + timedelta(days=365))
    assert info["original_uri"] == image and info["mementos"]["closest"]["uri"] == [mementos[1]]
    # No Memento at another second.
    assert client.get(f"/media/memento/19990101000000/{image}").status_code == 404


def test_a_posts_media_and_avatar_urls_have_mementos(env: Env, client: httpx.Client) -> None:
    manifest = json.loads(env.rt.store.get(env.captures()[0]["manifest_key"]))
    pairs = list(manifest_fetches(manifest))
    assert {u for u, _ in pairs} >= {manifest["media"][0]["original_url"], manifest["author"]["avatar_url"]}
    for url, sha in pairs:
        parsed = links(client.get(f"/media/timemap/link/{url}").text)
        assert by_rel(parsed, "original") == [url]
        gate = client.get(f"/media/timegate/{url}")
        assert gate.status_code == 302
        one = client.get(gate.headers["location"][len(env.base):])
        assert one.status_code == 200 and hashlib.sha256(one.content).hexdigest() == sha, url


def test_manifest_fetches_reads_every_archived_image_and_skips_hostile_values() -> None:
    a, b, c, d = ("a" * 64, "b" * 64, "c" * 64, "d" * 64)
    manifest = {
        "media": [{"status": "archived", "sha256": a, "original_url": "https://i.example/a?name=orig",
                   "listed_url": "https://i.example/a", "final_url": None,
                   "poster_url": "https://i.example/p.jpg", "poster_sha256": b},
                  {"status": "failed", "sha256": None, "original_url": "https://i.example/gone"},
                  "not a dict", {"status": "archived", "sha256": ["x"], "original_url": {"u": 1}}],
        "card": {"image": {"status": "archived", "sha256": c, "original_url": "https://i.example/card"}},
        "author": {"avatar_url": "https://i.example/av.jpg", "avatar_sha256": d}}
    assert sorted(manifest_fetches(manifest)) == sorted([
        ("https://i.example/a?name=orig", a), ("https://i.example/a", a), ("https://i.example/p.jpg", b),
        ("https://i.example/card", c), ("https://i.example/av.jpg", d)])
    assert list(manifest_fetches({"media": "x", "card": [], "author": 3})) == []
    many = {"media": [{"sha256": a, "original_url": f"https://i.example/{i}"} for i in range(10_000)]}
    assert len(list(manifest_fetches(many))) <= 200


def test_image_mementos_stay_put_as_the_url_changes_and_after_a_reindex(tmp_path: Path) -> None:
    """X, then Y, then Y again, then X again from one URL: three Mementos (X, Y, X), dated by the
    first fetch of each run; every URI-M once listed keeps answering with its datetime and bytes as
    later fetches come, and a reindex from storage rebuilds the same TimeMap."""
    x, y = make_image("x", 64, 48), make_image("y", 64, 48)
    with FixtureOrigin(images={"/img/lead.jpg": x}) as origin:
        settings = load_settings(env={}).replace(home=str(tmp_path), **origin.settings_overrides(),
                                                 media_dedupe_window=0, public_base_url="https://a.example/media")
        url = origin.url("/img/lead.jpg")
        with Runtime.from_settings(settings) as rt, TestClient(create_app(settings, runtime=rt)) as client:
            seen: dict[str, tuple[str, bytes]] = {}  # every URI-M listed so far: its datetime and bytes

            def step(n: int, image: bytes, want: list[bytes]) -> str:
                origin.add_image("/img/lead.jpg", image)
                src = f'<html><body><p>{n}</p><img src="{url}"></body></html>'.encode()
                archive(rt, src, article_id=f"i{n}", url=f"https://news.example/i{n}")
                got = client.get(f"/media/timemap/link/{url}")
                parsed = links(got.text)
                uris = by_rel(parsed, "memento")
                bodies = [client.get(u.removeprefix("https://a.example")).content for u in uris]
                assert bodies == want, n
                for u, body in zip(uris, bodies, strict=True):
                    seen.setdefault(u, (parsed[u]["datetime"][0], body))
                for u, (when, body) in seen.items():
                    one = client.get(u.removeprefix("https://a.example"))
                    assert one.status_code == 200 and one.content == body
                    assert one.headers["memento-datetime"] == when
                _two_seconds_on()
                return got.text

            step(1, x, [x])
            step(2, y, [x, y])
            step(3, y, [x, y])
            before = step(4, x, [x, y, x])
            reindex(rt, fresh=True)
            assert client.get(f"/media/timemap/link/{url}").text == before


def test_a_result_stored_before_fetch_times_were_kept_is_dated_by_its_plan(tmp_path: Path) -> None:
    """An image result without fetched_at (an older release's): a reindex dates its Memento by the
    plan's creation, the same on every reindex."""
    x = make_image("x", 64, 48)
    with FixtureOrigin(images={"/img/old.jpg": x}) as origin:
        settings = load_settings(env={}).replace(home=str(tmp_path), **origin.settings_overrides(),
                                                 public_base_url="https://a.example/media")
        url = origin.url("/img/old.jpg")
        with Runtime.from_settings(settings) as rt, TestClient(create_app(settings, runtime=rt)) as client:
            archive(rt, f'<img src="{url}">'.encode(), article_id="old", url="https://news.example/old")
            [key] = [k for k in rt.store.list("articles/old/") if "/results/" in k]
            result = json.loads(rt.store.get(key))
            assert result.pop("fetched_at")
            rt.store.put(key, json.dumps(result).encode(), content_type="application/json")
            [plan_key] = [k for k in rt.store.list("articles/old/") if "/plans/" in k]
            created = json.loads(rt.store.get(plan_key))["created_at"]
            maps = []
            for _ in range(2):
                reindex(rt, fresh=True)
                maps.append(client.get(f"/media/timemap/link/{url}").text)
            assert maps[0] == maps[1]
            [uri] = by_rel(links(maps[0]), "memento")
            assert links(maps[0])[uri]["datetime"] == [http_date(created)]
            assert client.get(uri.removeprefix("https://a.example")).content == x


# --- Robust Links in the rewritten articles -------------------------------------------------------------
def test_rewritten_articles_name_the_capture_page_on_the_status_link(env: Env) -> None:
    for aid, rep in zip(("a1", "a2", "a3"), env.reports, strict=True):
        [embed] = rep["embeds"]
        text = env.rt.store.get(version_key(aid, 1)).decode()
        soup = BeautifulSoup(text, "html5lib")
        quote_el = soup.find("blockquote")
        assert not any(a.startswith("data-") for a in quote_el.attrs)
        [status_link] = [a for a in soup.find_all("a") if a.get("data-versionurl")]
        assert status_link["href"].startswith(POST_URL)
        page = env.rt.store.public_url(capture_page_key(embed["snapshot"]))
        assert status_link["data-versionurl"] == page  # the human page, for the deleted post too
        assert status_link["data-originalurl"] == POST_URL
        cap = next(c for c in env.captures() if c["manifest_key"] == embed["snapshot"])
        assert status_link["data-versiondate"] == cap["captured_at"]


def test_an_article_rewritten_by_an_older_release_gets_its_attributes_moved(env: Env) -> None:
    old = article(env.origin, "old").decode().replace(
        '<blockquote class="twitter-tweet">',
        f'<blockquote class="twitter-tweet" data-originalurl="{POST_URL}" '
        'data-versionurl="https://old.example/posts/twitter/1/x.json" data-versiondate="2020-01-01">')
    [embed] = archive(env.rt, old.encode(), article_id="older", url="https://news.example/older")["embeds"]
    page = env.rt.store.public_url(capture_page_key(embed["snapshot"]))
    text = env.rt.store.get(version_key("older", 1)).decode()
    assert text.count("data-versionurl=") == 1 and "old.example" not in text
    assert '<blockquote class="twitter-tweet"><p' in text
    assert f'data-versionurl="{page}"' in text.split(f'<a href="{POST_URL}?ref_src=twsrc%5Etfw"', 1)[1]


# --- hostile manifests and takedowns ----------------------------------------------------------------------
def test_a_hostile_manifest_renders_an_inert_page(env: Env) -> None:
    manifest = json.loads(env.rt.store.get(env.captures()[0]["manifest_key"]))
    evil = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    manifest.update(text=evil, url="javascript:alert(3)", error=evil, tombstone=evil, status="tombstoned")
    manifest["author"]["name"] = evil
    manifest["sources"][0].update(request_url=evil, error=evil, name=evil)
    manifest["media"].append({"type": evil, "status": "archived", "sha256": "../../etc", "original_url": evil})
    manifest["articles"] = [{"article_id": evil, "url": "data:text/html,x", "occurrences": "many"}] * 500
    manifest["quoted"] = {"post_id": evil, "manifest_key": "../../../secret.json", "status": evil}
    page = render_capture_page(manifest, env.rt.store)
    soup = BeautifulSoup(page, "html5lib")
    assert not soup.find_all("script") and not soup.find_all("link", rel="original")
    for el in soup.find_all(True):
        assert not any(a.lower().startswith("on") for a in el.attrs), el.name
    hrefs = [a["href"] for a in soup.find_all(href=True)] + [i["src"] for i in soup.find_all(src=True)]
    assert all(h.startswith(("http://", "https://")) or re.fullmatch(r"[\w./-]+", h) for h in hrefs), hrefs
    assert not any(".." in h and "secret" in h for h in hrefs)
    assert len(soup.find_all("li")) <= 260  # lists are cut


def test_a_taken_down_image_memento_answers_410_not_404(env: Env, client: httpx.Client) -> None:
    """An image Memento whose original compliance took down (a taken-down post's photo) is not listed,
    and its URI-M says it was withdrawn (410), as the copy itself does, not that it never existed."""
    from archiver.compliance.holds import _hide, _unhide

    image = env.origin.url("/media/lead.jpg")
    first = by_rel(links(client.get(f"/media/timemap/link/{image}").text), "memento")[0]
    path = first[len(env.base):]
    sha = hashlib.sha256(client.get(path).content).hexdigest()
    _hide(env.rt, f"blob:{sha}", "twitter", TWEET, "court order")
    try:
        assert client.get(path).status_code == 410
        assert client.head(path).status_code == 410
        assert first not in by_rel(links(client.get(f"/media/timemap/link/{image}").text), "memento")
    finally:
        _unhide(env.rt, f"blob:{sha}", "twitter", TWEET)
    assert client.get(path).status_code == 200


def test_a_taken_down_post_is_not_listed(env: Env, client: httpx.Client) -> None:
    set_takedown(env.rt, None, "twitter", TWEET, on=True, reason="court order")
    try:
        assert client.get(f"/media/timegate/{POST_URL}").status_code == 404
        assert client.get(f"/media/timemap/link/{POST_URL}").status_code == 404
        page = f"/media/{capture_page_key(env.captures()[0]['manifest_key'])}"
        assert client.get(page).status_code == 410
    finally:
        set_takedown(env.rt, None, "twitter", TWEET, on=False)
    assert client.get(f"/media/timegate/{POST_URL}").status_code == 302


# --- S3 and PostgreSQL ----------------------------------------------------------------------------------
@pytest.mark.integration
def test_timegates_timemaps_and_pages_on_s3_and_postgres(tmp_path: Path, s3: SeaweedFS, postgres_dsn: str) -> None:
    tweets = [TweetFixture(id=TWEET, handle="ANI", name="ANI", text="Lavrov and Jaishankar meet in Tianjin",
                           photos=[{"name": "p1.jpg", "alt": "handshake", "width": 640, "height": 400}],
                           media_code="HA2sQBIEQc")]
    image = make_image("lead", 320, 200)
    with FixtureOrigin(tweets=tweets, images={"/media/lead.jpg": image}) as origin:
        settings = load_settings(env={}).replace(
            home=str(tmp_path), **origin.settings_overrides(), **s3.settings_overrides(s3.make_bucket(), "news"),
            catalog=fresh_pg_dsn(postgres_dsn), public_base_url="https://archive.example/media")
        rt = Runtime.from_settings(settings)
        long_image = origin.url("/media/lead.jpg") + "?sig=" + "a" * 3000
        src = article(origin).decode().replace(origin.url("/media/lead.jpg"), long_image).encode()
        [embed] = archive(rt, src, article_id="s3pg", url="https://news.example/s3pg")["embeds"]
        page_key = capture_page_key(embed["snapshot"])
        with TestClient(create_app(settings, runtime=rt), raise_server_exceptions=False) as client:
            gate = client.get(f"/media/timegate/https://x.com/ANI/status/{TWEET}", follow_redirects=False)
            assert gate.status_code == 302 and gate.headers["location"] == rt.store.public_url(page_key)
            page = client.get(f"/media/{page_key}")
            assert page.status_code == 200 and "archiver-card" in page.text
            assert page.headers["memento-datetime"] == http_date(
                json.loads(rt.store.get(embed["snapshot"]))["captured_at"])
            timemap = links(client.get(f"/media/timemap/link/{POST_URL}").text)
            assert by_rel(timemap, "memento") == [rt.store.public_url(page_key)]
            image_map = client.get(f"/media/timemap/link/{long_image}")
            assert image_map.status_code == 200
            [uri] = by_rel(links(image_map.text), "memento")
            one = client.get(uri.removeprefix("https://archive.example"))
            assert one.status_code == 200 and one.content == image and "memento-datetime" in one.headers
        rt.close()
