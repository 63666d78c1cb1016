"""The safe fetcher against loopback servers: address guard, redirects, limits, retries, records."""

from __future__ import annotations

import gzip
import hashlib
import ipaddress
import json
import os
import pathlib
import random
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from archiver.capture import guard
from archiver.capture.exchange import FetchError, Headers
from archiver.capture.fetch import Fetcher
from archiver.capture.guard import address_refusal, check_url, normalize_url, parse_allow
from archiver.capture.media import archive_media
from archiver.capture.ratelimit import LEASE_MARGIN, LimiterTimeout, LocalHostLimiter, RedisHostLimiter
from archiver.config.settings import Settings
from archiver.errors import ConfigError
from archiver.storage.local import LocalStore

ROOT = pathlib.Path(__file__).resolve().parent.parent

Route = Callable[[BaseHTTPRequestHandler], None]


class Origin:
    """A loopback HTTP server whose paths are small functions; it counts and records requests."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.active = 0
        self.max_active = 0
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with lock:
                    origin.requests.append((self.path, dict(self.headers.items())))
                    origin.active += 1
                    origin.max_active = max(origin.max_active, origin.active)
                try:
                    route = origin.routes.get(self.path.split("?")[0])
                    if route is None:
                        send(self, 404, b"not here")
                    else:
                        route(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with lock:
                        origin.active -= 1

        lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Listener:
    """A loopback socket that only counts connections: the proof that a refused URL got no request."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.hits += 1
            conn.close()

    def close(self) -> None:
        self._stop = True
        self.thread.join()
        self.sock.close()


def send(h: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
    h.send_response(status)
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def redirect(to: str, status: int = 302) -> Route:
    return lambda h: send(h, status, b"", {"Location": to})


@pytest.fixture
def origin() -> Iterator[Origin]:
    o = Origin()
    yield o
    o.close()


@pytest.fixture
def victim() -> Iterator[Listener]:
    v = Listener()
    yield v
    v.close()


def settings_for(origin: Origin, **kw: object) -> Settings:
    base: dict[str, object] = {
        "fetch_allow": f"127.0.0.1:{origin.port}",
        "fetch_retries": 0,
        "fetch_deadline": 5.0,
        "fetch_read_timeout": 3.0,
    }
    base.update(kw)
    return Settings(**base)  # type: ignore[arg-type]


@contextmanager
def fetcher_for(settings: Settings) -> Iterator[Fetcher]:
    f = Fetcher(settings)
    try:
        yield f
    finally:
        f.close()


# --- the address guard ------------------------------------------------------------------------
LOOPBACK_SPELLINGS = [
    "127.0.0.1",
    "localhost",
    "[::ffff:127.0.0.1]",
    "2130706433",
    "0177.0.0.1",
    "0x7f.1",
    "127.1",
    "LOCALHOST.",
    "[::1]",
]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_redirect_to_loopback_refused_and_listener_untouched(
    origin: Origin, victim: Listener, host: str
) -> None:
    origin.routes["/r"] = redirect(f"http://{host}:{victim.port}/secret")
    with fetcher_for(settings_for(origin)) as f, pytest.raises(FetchError) as err:
        f.get(origin.url("/r"))
    assert err.value.kind == "refused"
    assert len(err.value.exchanges) == 1 and err.value.exchanges[0].status == 302
    time.sleep(0.05)
    assert victim.hits == 0


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_direct_link_to_loopback_refused(origin: Origin, victim: Listener, host: str) -> None:
    with fetcher_for(settings_for(origin)) as f, pytest.raises(FetchError) as err:
        f.get(f"http://{host}:{victim.port}/secret", kind="image")
    assert err.value.kind == "refused"
    assert not err.value.retryable
    assert victim.hits == 0


@pytest.mark.parametrize(
    "ip",
    [
        "169.254.169.254",
        "169.254.1.1",
        "fe80::1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "100.64.0.1",
        "100.127.255.254",
        "fc00::1",
        "fd12:3456::1",
        "224.0.0.1",
        "239.255.255.250",
        "ff02::1",
        "ff0e::1",
        "240.0.0.1",
        "255.255.255.255",
        "0.0.0.0",
        "::",
        "192.0.2.7",
        "198.18.0.1",
        "2001:db8::1",
        "::ffff:10.0.0.1",
        "::ffff:8.8.8.8",
        "2002:a00:1::1",
        "64:ff9b::a00:1",
    ],
)
def test_every_non_global_class_refused_without_connecting(ip: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_connection(*a: object, **k: object) -> None:
        raise AssertionError("the guard opened a connection")

    monkeypatch.setattr(socket, "create_connection", no_connection)
    monkeypatch.setattr(socket.socket, "connect", no_connection)
    assert address_refusal(ipaddress.ip_address(ip)) is not None
    host = f"[{ip}]" if ":" in ip else ip
    with pytest.raises(FetchError) as err:
        check_url(f"http://{host}/x", Settings())
    assert err.value.kind == "refused"
    assert (
        ip.split("::ffff:")[-1] in str(err.value)
        or "IPv4-mapped" in str(err.value)
        or "embeds" in str(err.value)
    )


@pytest.mark.parametrize("ip", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2002:808:808::1"])
def test_public_addresses_pass(ip: str) -> None:
    assert address_refusal(ipaddress.ip_address(ip)) is None


def test_name_resolving_to_any_private_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_getaddrinfo(host: str, port: int, *a: object) -> list[tuple[object, ...]]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(FetchError) as err:
        check_url("https://rebinding.example/", Settings())
    assert err.value.kind == "refused" and "10.1.2.3" in str(err.value)


@pytest.mark.parametrize(
    "url,kind",
    [
        ("ftp://example.com/x", "refused"),
        ("file:///etc/passwd", "refused"),
        ("gopher://example.com/", "refused"),
        ("javascript:alert(1)", "refused"),
        ("http://user:pw@example.com/", "refused"),
        ("http:///nohost", "bad_url"),
        ("http://exa mple.com/", "bad_url"),
        ("http://example.com:99999/", "bad_url"),
        ("http://[::1/", "bad_url"),
        ("http://ex\x00ample.com/", "bad_url"),
        ("", "refused"),
    ],
)
def test_bad_urls_are_clear_errors(url: str, kind: str) -> None:
    with pytest.raises(FetchError) as err:
        check_url(url, Settings())
    assert err.value.kind == kind
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("url,normal", [
    ("HTTPS://Img.Example.COM:443/A/B.JPG?X=1&y=%2F#frag", "https://img.example.com/A/B.JPG?X=1&y=%2F"),
    ("http://img.example.com:80/a.jpg", "http://img.example.com/a.jpg"),
    ("https://img.example.com:80/a.jpg", "https://img.example.com:80/a.jpg"),   # not the default port
    ("http://[2001:DB8::1]:8080/x#y", "http://[2001:db8::1]:8080/x"),
    ("http://Ed:PW@Img.Example.com/a", "http://Ed:PW@img.example.com/a"),       # user info untouched
    ("http://img.example.com:99999/a", "http://img.example.com:99999/a"),       # unparseable: as given
])
def test_normalize_url(url: str, normal: str) -> None:
    assert normalize_url(url) == normal
    assert normalize_url(normal) == normal


@pytest.mark.parametrize("url,target", [
    ("http://a.example/ü/é?q=é&x=1", "/%C3%BC/%C3%A9?q=%C3%A9&x=1"),   # UTF-8, percent-encoded
    ("http://a.example/a|b^c`{}\"<>\\", "/a%7Cb%5Ec%60%7B%7D%22%3C%3E%5C"),
    ("http://a.example/%2f%7e/[x]!$&'()*+,;=:@~?a=%20", "/%2f%7e/[x]!$&'()*+,;=:@~?a=%20"),   # kept as is
    ("http://a.example/50%off", "/50%25off"),                              # a "%" that starts no escape
    ("http://a.example/a%", "/a%25"),
    ("http://a.example/a%2?b=%zz", "/a%252?b=%25zz"),
    ("http://a.example/caf%C3%A9.jpg?d=100%", "/caf%C3%A9.jpg?d=100%25"),  # the escapes beside one kept
    ("http://a.example/a%2Fb?x=%%41", "/a%2Fb?x=%25%41"),
    ("http://a.example", "/"),
    ("http://a.example/x#frag", "/x"),                                    # the fragment is never sent
])
def test_the_request_target_is_the_path_and_query_percent_encoded(url: str, target: str) -> None:
    assert guard.parse_target(url)[3] == target
    assert guard.parse_target(f"http://a.example{target}")[3] == target   # encoding twice changes nothing


def test_a_path_with_no_utf8_form_is_a_bad_url() -> None:
    with pytest.raises(FetchError) as err:
        guard.parse_target("http://a.example/\ud800")
    assert err.value.kind == "bad_url"


def test_response_headers_are_looked_up_case_insensitively_and_the_last_of_a_repeated_one_wins() -> None:
    assert dict(Headers({"Ab": "v"})) == {"Ab": "v"} and Headers({"Ab": "v"})["aB"] == "v"   # a mapping too
    headers = Headers([("Content-Type", "text/html"), ("Location", "/a"), ("location", "/b")])
    assert headers["CONTENT-TYPE"] == headers.get("content-type") == "text/html"
    assert headers.get("Location") == "/b" and len(headers) == 2
    assert list(headers) == ["Content-Type", "location"] and "LOCATION" in headers and 1 not in headers
    assert headers.get("etag") is None and dict(headers) == {"Content-Type": "text/html", "location": "/b"}


@pytest.mark.parametrize("entry", ["[::1", "999.1.1.1/99", "999.1.1.1", "a b", "host:99999", "http://cdn.example",
                                   "[not-v6]:80", "-bad-.example", "x" * 300])
def test_a_mistyped_allow_entry_is_a_config_error(entry: str) -> None:
    """An entry of ARCHIVER_FETCH_ALLOW that is no host, address or network is said, not kept as a
    host name that matches nothing (the operator would believe the address allowed)."""
    with pytest.raises(ConfigError, match="ARCHIVER_FETCH_ALLOW"):
        parse_allow(["127.0.0.1", entry])


def test_a_relative_url_says_what_it_lacks() -> None:
    with pytest.raises(FetchError, match=r"relative URL .*--base-url"):
        check_url("/img/lead.jpg", Settings())


def test_allow_list_forms() -> None:
    rules = parse_allow(["127.0.0.1:8080", "10.0.0.0/8", "cdn.intranet", "[::1]:9000", "media.local:81"])
    lo, ten, v6 = (
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("10.9.8.7"),
        ipaddress.ip_address("::1"),
    )

    def allowed(host: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int) -> bool:
        return any(r.matches(host, ip, port) for r in rules)

    assert allowed("127.0.0.1", lo, 8080) and not allowed("127.0.0.1", lo, 8081)
    assert allowed("anything", ten, 1234)
    assert allowed("cdn.intranet", ten, 80) and allowed("cdn.intranet", lo, 443)
    assert allowed("::1", v6, 9000) and not allowed("::1", v6, 9001)
    assert allowed("media.local", lo, 81) and not allowed("media.local", lo, 80)


def test_allowed_port_only(origin: Origin, victim: Listener) -> None:
    with fetcher_for(settings_for(origin)) as f:
        assert f.get(origin.url("/missing")).status == 404
        with pytest.raises(FetchError):
            f.get(f"http://127.0.0.1:{victim.port}/")
    assert victim.hits == 0


# --- exchanges, redirects, statuses -------------------------------------------------------------
def test_get_records_every_hop(origin: Origin) -> None:
    origin.routes["/a"] = redirect("/b", 301)
    origin.routes["/b"] = redirect(origin.url("/c?x=1"), 307)
    origin.routes["/c"] = lambda h: send(
        h, 200, b'{"ok": true}', {"Content-Type": "Application/JSON; charset=utf-8"}
    )
    s = settings_for(origin, user_agent="archiver-test (+https://example.org/contact)")
    with fetcher_for(s) as f:
        resp = f.get(origin.url("/a"))
    assert resp.status == 200 and resp.json() == {"ok": True}
    assert resp.url == origin.url("/a") and resp.final_url == origin.url("/c?x=1")
    assert resp.content_type == "application/json"
    assert resp.headers["CONTENT-TYPE"].startswith("Application/JSON")
    assert [e.status for e in resp.exchanges] == [301, 307, 200]
    last = resp.exchanges[-1]
    assert last.resolved_ip == "127.0.0.1" and last.elapsed_ms > 0 and last.started_at.tzinfo is not None
    assert last.request_headers["User-Agent"] == "archiver-test (+https://example.org/contact)"
    assert last.request_headers["Host"] == f"127.0.0.1:{origin.port}"
    assert ("Content-Type", "Application/JSON; charset=utf-8") in last.response_headers
    assert last.body == b'{"ok": true}' and len(last.sha256) == 64
    assert [p for p, _ in origin.requests] == ["/a", "/b", "/c?x=1"]


def test_no_follow_returns_the_redirect(origin: Origin) -> None:
    origin.routes["/t"] = redirect("https://example.com/elsewhere", 301)
    with fetcher_for(settings_for(origin)) as f:
        resp = f.get(origin.url("/t"), follow_redirects=False)
    assert resp.status == 301 and resp.headers["location"] == "https://example.com/elsewhere"


def test_redirect_loop_stops(origin: Origin) -> None:
    origin.routes["/loop"] = redirect("/loop")
    with fetcher_for(settings_for(origin)) as f, pytest.raises(FetchError) as err:
        f.get(origin.url("/loop"))
    assert err.value.kind == "bad_response" and len(err.value.exchanges) == 6


def test_redirect_to_other_scheme_refused(origin: Origin) -> None:
    origin.routes["/f"] = redirect("file:///etc/passwd")
    with fetcher_for(settings_for(origin)) as f, pytest.raises(FetchError) as err:
        f.get(origin.url("/f"))
    assert err.value.kind == "refused"


def test_404_and_invalid_json(origin: Origin) -> None:
    origin.routes["/bad"] = lambda h: send(h, 200, b"<html>not json")
    with fetcher_for(settings_for(origin, fetch_retries=2)) as f:
        gone = f.get(origin.url("/gone"))
        assert gone.status == 404 and len(gone.exchanges) == 1  # 4xx is an answer, not retried
        with pytest.raises(FetchError) as err:
            f.get(origin.url("/bad")).json()
    assert err.value.kind == "bad_response"


def test_retries_5xx_then_succeeds(origin: Origin) -> None:
    calls = []

    def flaky(h: BaseHTTPRequestHandler) -> None:
        calls.append(1)
        send(h, 200, b"fine") if len(calls) == 3 else send(h, 503, b"busy")

    origin.routes["/flaky"] = flaky
    with fetcher_for(settings_for(origin, fetch_retries=2)) as f:
        resp = f.get(origin.url("/flaky"))
    assert resp.status == 200 and [e.status for e in resp.exchanges] == [503, 503, 200]


def test_retry_after_honoured_and_too_long_not_waited(origin: Origin) -> None:
    calls = []

    def limited(h: BaseHTTPRequestHandler) -> None:
        calls.append(time.monotonic())
        send(h, 200, b"ok") if len(calls) == 2 else send(h, 429, b"slow down", {"Retry-After": "1"})

    origin.routes["/limited"] = limited
    origin.routes["/never"] = lambda h: send(h, 429, b"", {"Retry-After": "3600"})
    with fetcher_for(settings_for(origin, fetch_retries=2)) as f:
        assert f.get(origin.url("/limited")).status == 200
        assert calls[1] - calls[0] >= 0.95
        t0 = time.monotonic()
        resp = f.get(origin.url("/never"))
    assert resp.status == 429 and len(resp.exchanges) == 1 and time.monotonic() - t0 < 1


def test_connection_refused_is_network_and_retryable(origin: Origin) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with (
        fetcher_for(settings_for(origin, fetch_allow=f"127.0.0.1:{port}")) as f,
        pytest.raises(FetchError) as err,
    ):
        f.get(f"http://127.0.0.1:{port}/")
    assert err.value.kind == "network" and err.value.retryable


def test_credentials_do_not_follow_to_another_host(origin: Origin) -> None:
    other = Origin()
    try:
        other.routes["/x"] = lambda h: send(h, 200, b"ok")
        origin.routes["/go"] = redirect(f"http://localhost:{other.port}/x")
        s = settings_for(origin, fetch_allow=f"127.0.0.1:{origin.port},localhost:{other.port}")
        with fetcher_for(s) as f:
            resp = f.get(origin.url("/go"), headers={"Authorization": "Bearer secret", "X-Keep": "1"})
        assert resp.status == 200
        sent = other.requests[0][1]
        assert "Authorization" not in sent and sent["X-Keep"] == "1"
        assert origin.requests[0][1]["Authorization"] == "Bearer secret"
    finally:
        other.close()


# --- limits -----------------------------------------------------------------------------------------
def test_slow_drip_cut_at_deadline(origin: Origin) -> None:
    def drip(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "1000000")
        h.end_headers()
        for _ in range(200):
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(0.1)

    origin.routes["/drip"] = drip
    with fetcher_for(settings_for(origin, fetch_retries=2)) as f:
        t0 = time.monotonic()
        with pytest.raises(FetchError) as err:
            f.get(origin.url("/drip"), kind="image", deadline=1.0)
    assert err.value.kind == "timeout" and err.value.retryable
    assert time.monotonic() - t0 < 2.0
    assert 0 < len(err.value.exchanges[-1].body) < 100  # truncated body kept with the error


def test_slow_headers_cut_at_deadline(origin: Origin) -> None:
    def drip_headers(h: BaseHTTPRequestHandler) -> None:
        h.wfile.write(b"HTTP/1.1 200 OK\r\n")
        for i in range(100):
            h.wfile.write(f"X-H{i}: y\r\n".encode())
            h.wfile.flush()
            time.sleep(0.1)

    origin.routes["/slowhead"] = drip_headers
    with fetcher_for(settings_for(origin)) as f:
        t0 = time.monotonic()
        with pytest.raises(FetchError) as err:
            f.get(origin.url("/slowhead"), deadline=0.8)
    assert err.value.kind == "timeout" and time.monotonic() - t0 < 1.5


def test_overall_deadline_at_bounds_every_request(origin: Origin) -> None:
    origin.routes["/slow"] = lambda h: (time.sleep(3), send(h, 200, b"late"))
    with fetcher_for(settings_for(origin)) as f:
        f.deadline_at = time.monotonic() + 0.5
        t0 = time.monotonic()
        with pytest.raises(FetchError) as err:
            f.get(origin.url("/slow"))
    assert err.value.kind == "timeout" and time.monotonic() - t0 < 1.0


def test_endless_body_cut_at_cap(origin: Origin) -> None:
    def endless(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Connection", "close")  # no length: the body ends when the server says so (never)
        h.end_headers()
        while True:
            h.wfile.write(b"x" * 65536)

    origin.routes["/endless"] = endless
    t0 = time.monotonic()
    with fetcher_for(settings_for(origin, max_bytes_image=300_000)) as f, pytest.raises(FetchError) as err:
        f.get(origin.url("/endless"), kind="image")
    assert err.value.kind == "too_large" and time.monotonic() - t0 < 2
    assert len(err.value.exchanges[-1].body) <= 300_000


def test_endless_chunked_body_cut_at_cap(origin: Origin) -> None:
    def endless(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        chunk = b"y" * 65536
        while True:
            h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))

    origin.routes["/chunked"] = endless
    with fetcher_for(settings_for(origin, max_bytes_json=200_000)) as f, pytest.raises(FetchError) as err:
        f.get(origin.url("/chunked"))
    assert err.value.kind == "too_large" and not err.value.retryable
    assert len(err.value.exchanges[-1].body) <= 200_000


def test_gzip_bomb_counted_decoded(origin: Origin) -> None:
    bomb = gzip.compress(b"\0" * 50_000_000, compresslevel=9)
    assert len(bomb) < 100_000
    origin.routes["/bomb"] = lambda h: send(h, 200, bomb, {"Content-Encoding": "gzip"})
    with fetcher_for(settings_for(origin, max_bytes_json=1_000_000)) as f, pytest.raises(FetchError) as err:
        f.get(origin.url("/bomb"))
    assert err.value.kind == "too_large"


def test_declared_length_over_cap_refused_early(origin: Origin) -> None:
    origin.routes["/big"] = lambda h: send(h, 200, b"z" * 5000)
    with fetcher_for(settings_for(origin, max_bytes_json=1000)) as f, pytest.raises(FetchError) as err:
        f.get(origin.url("/big"))
    assert err.value.kind == "too_large"


def test_gzip_body_decoded(origin: Origin) -> None:
    origin.routes["/gz"] = lambda h: send(
        h, 200, gzip.compress(b"hello " * 1000), {"Content-Encoding": "gzip"}
    )
    with fetcher_for(settings_for(origin)) as f:
        assert f.get(origin.url("/gz")).body == b"hello " * 1000


# --- the body as received (issue 16: the WARC stores it, callers parse the decoded one) ----------------
def chunked(h: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str], size: int = 700) -> None:
    """Answer with Transfer-Encoding: chunked, ``size`` bytes a chunk."""
    h.send_response(status)
    for k, v in headers.items():
        h.send_header(k, v)
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    for i in range(0, len(body), size):
        h.wfile.write(b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size]))
    h.wfile.write(b"0\r\n\r\n")


PLAIN = json.dumps({"text": "Ice-out is official on Lake Mont", "n": list(range(400))}).encode()
CODINGS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": lambda b: gzip.compress(b, mtime=0),
    "x-gzip": lambda b: gzip.compress(b, mtime=0),
    "deflate": zlib.compress,                                            # RFC 1950 zlib, as RFC 9110 says
    "Deflate": lambda b: zlib.compress(b)[2:-4],                         # raw RFC 1951, as some servers send
    "gzip, deflate": lambda b: zlib.compress(gzip.compress(b, mtime=0)),  # applied in the order listed
}


@pytest.mark.parametrize("coding", list(CODINGS))
@pytest.mark.parametrize("transfer", ["length", "chunked"])
def test_the_body_is_kept_as_received_and_decoded_for_parsing(origin: Origin, coding: str, transfer: str) -> None:
    wire = CODINGS[coding](PLAIN)
    headers = {"Content-Type": "application/json", "Content-Encoding": coding}
    origin.routes["/coded"] = (lambda h: send(h, 200, wire, headers)) if transfer == "length" else \
        (lambda h: chunked(h, 200, wire, headers))
    with fetcher_for(settings_for(origin)) as f:
        resp = f.get(origin.url("/coded"))
    (ex,) = resp.exchanges
    assert resp.body == ex.body == PLAIN and resp.json()["n"][-1] == 399
    assert ex.wire_body == wire and ex.wire == wire and ex.wire_body != PLAIN  # the coded bytes, de-chunked
    assert ex.sha256 == hashlib.sha256(PLAIN).hexdigest() and ex.truncated is None
    assert ("Content-Encoding", coding) in ex.response_headers


@pytest.mark.parametrize("coding", [None, "identity", "compress", "br-but-not-really"])
def test_a_body_without_a_coding_the_fetcher_undoes_is_one_buffer(origin: Origin, coding: str | None) -> None:
    """No coding, identity, or one urllib3 would not decode either: the bytes as received are the body."""
    body = b"\x1f\x8b not really gzip " * 50
    origin.routes["/plain"] = lambda h: send(h, 200, body, {"Content-Encoding": coding} if coding else {})
    with fetcher_for(settings_for(origin)) as f:
        (ex,) = f.get(origin.url("/plain")).exchanges
    assert ex.body == body and ex.wire_body is None and ex.wire is ex.body


def test_the_status_line_reason_is_kept(origin: Origin) -> None:
    def odd(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200, "Fine Thanks")
        h.send_header("Content-Length", "2")
        h.end_headers()
        h.wfile.write(b"ok")

    origin.routes["/odd"] = odd
    with fetcher_for(settings_for(origin)) as f:
        (ex,) = f.get(origin.url("/odd")).exchanges
    assert (ex.status, ex.reason) == (200, "Fine Thanks")


def test_the_cap_holds_for_the_bytes_received_too(origin: Origin) -> None:
    noise = random.Random(7).randbytes(10_000)  # does not compress: more bytes coded than decoded
    coded = gzip.compress(noise)
    assert len(coded) > 10_010
    origin.routes["/noise"] = lambda h: chunked(h, 200, coded, {"Content-Encoding": "gzip"})
    with fetcher_for(settings_for(origin, max_bytes_json=10_010)) as f, pytest.raises(FetchError) as err:
        f.get(origin.url("/noise"))
    ex = err.value.exchanges[-1]
    assert err.value.kind == "too_large" and "10010" in str(err.value) and "decoded" not in str(err.value)
    assert len(ex.wire) <= 10_010 and len(ex.body) <= 10_010 and ex.truncated == "length"


def test_a_declared_length_over_the_cap_is_refused_before_reading_whatever_the_coding(origin: Origin) -> None:
    origin.routes["/big"] = lambda h: send(h, 200, gzip.compress(b"z" * 9000), {"Content-Encoding": "gzip"})
    with fetcher_for(settings_for(origin, max_bytes_json=20)) as f, pytest.raises(FetchError) as err:
        f.get(origin.url("/big"))
    assert err.value.kind == "too_large" and "declares" in str(err.value)
    assert err.value.exchanges[-1].wire == b"" and err.value.exchanges[-1].truncated == "length"


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_a_decompression_bomb_stops_at_the_cap_in_memory(origin: Origin, coding: str) -> None:
    make = zlib.compressobj(9, zlib.DEFLATED, 31 if coding == "gzip" else 15)
    bomb = b"".join(make.compress(b"\0" * 1_000_000) for _ in range(200)) + make.flush()  # 200 MB of zeros
    assert len(bomb) < 300_000
    origin.routes["/bomb"] = lambda h: send(h, 200, bomb, {"Content-Encoding": coding})
    t0 = time.monotonic()
    with fetcher_for(settings_for(origin, max_bytes_json=1_000_000)) as f, pytest.raises(FetchError) as err:
        f.get(origin.url("/bomb"))
    ex = err.value.exchanges[-1]
    assert err.value.kind == "too_large" and "decoded" in str(err.value) and time.monotonic() - t0 < 3
    assert len(ex.body) <= 1_000_000 and ex.wire == bomb[:len(ex.wire)] and ex.truncated == "length"


def test_a_body_that_does_not_decode_is_a_network_error_with_what_arrived(origin: Origin) -> None:
    broken = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 300
    origin.routes["/broken"] = lambda h: send(h, 200, broken, {"Content-Encoding": "gzip"})
    with fetcher_for(settings_for(origin)) as f, pytest.raises(FetchError) as err:
        f.get(origin.url("/broken"))
    ex = err.value.exchanges[-1]
    assert err.value.kind == "network" and "does not decode" in str(err.value) and "\n" not in str(err.value)
    assert ex.status == 200 and ex.wire_body == broken and ex.truncated == "disconnect"


def test_a_body_cut_by_the_deadline_is_marked_as_such(origin: Origin) -> None:
    def trickle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "100000")
        h.end_headers()
        for _ in range(100):
            h.wfile.write(b"x" * 10)
            h.wfile.flush()
            time.sleep(0.05)

    origin.routes["/trickle"] = trickle
    with fetcher_for(settings_for(origin, fetch_deadline=0.5)) as f, pytest.raises(FetchError) as err:
        f.get(origin.url("/trickle"))
    ex = err.value.exchanges[-1]
    assert err.value.kind == "timeout" and ex.truncated == "time" and 0 < len(ex.wire) < 100_000


def test_unknown_kind_is_a_programming_error(origin: Origin) -> None:
    with fetcher_for(settings_for(origin)) as f, pytest.raises(ValueError):
        f.get(origin.url("/x"), kind="pdf")


# --- politeness -------------------------------------------------------------------------------------
def test_host_concurrency_limit_holds_across_threads(origin: Origin) -> None:
    # Counted inside the route, before the answer is sent: the server's own count drops only after the
    # answer went out, when the client may already have started its next request (a false 3 on a
    # loaded machine).
    busy, peak, lock = [0], [0], threading.Lock()

    def slow(h: BaseHTTPRequestHandler) -> None:
        with lock:
            busy[0] += 1
            peak[0] = max(peak[0], busy[0])
        time.sleep(0.2)
        with lock:
            busy[0] -= 1
        send(h, 200, b"ok")

    origin.routes["/slow"] = slow
    s = settings_for(origin, host_concurrency=2, host_rate_per_second=1000.0)
    with fetcher_for(s) as f:
        threads = [threading.Thread(target=f.get, args=(origin.url("/slow"),)) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(origin.requests) == 6 and peak[0] == 2


def test_local_limiter_rate_and_deadline() -> None:
    lim = LocalHostLimiter(concurrency=10, rate_per_second=4.0)
    t0 = time.monotonic()
    for _ in range(6):  # a burst of 4, then 4 per second
        with lim.acquire("Example.com"):
            pass
    assert 0.4 <= time.monotonic() - t0 < 1.0
    with lim.acquire("other.example"):  # another host has its own bucket
        pass
    with pytest.raises(LimiterTimeout):
        for _ in range(10):
            with lim.acquire("example.com", deadline=time.monotonic() + 0.05):
                pass


def test_a_redis_slot_lease_is_one_request_long_not_minutes(redis_url: str) -> None:
    """A slot is held for one request, which ends by fetch_deadline: a worker killed while holding it
    (or a release lost to a Redis blip) blocks the host for that plus a margin, not for five minutes
    of failed captures across the fleet."""
    assert RedisHostLimiter(redis_url, Settings(fetch_deadline=20.0)).lease == 20.0 + LEASE_MARGIN
    assert RedisHostLimiter(redis_url, Settings(fetch_deadline=5.0)).lease <= 15.0
    dead = RedisHostLimiter(redis_url, concurrency=1, rate_per_second=1000.0, lease=0.5, prefix="archiver:t-lease")
    held = dead.acquire("gone.example")
    held.__enter__()  # its holder dies: never released
    other = RedisHostLimiter(redis_url, concurrency=1, rate_per_second=1000.0, prefix="archiver:t-lease")
    t0 = time.monotonic()
    with other.acquire("gone.example", deadline=time.monotonic() + 5):
        pass
    assert time.monotonic() - t0 < 2.0


def test_redis_limiter_shared_between_instances(redis_url: str) -> None:
    a = RedisHostLimiter(redis_url, concurrency=1, rate_per_second=1000.0)
    b = RedisHostLimiter(redis_url, concurrency=1, rate_per_second=1000.0)
    with (
        a.acquire("host.example"),
        pytest.raises(LimiterTimeout),
        b.acquire("host.example", deadline=time.monotonic() + 0.2),
    ):
        pass
    with b.acquire("host.example", deadline=time.monotonic() + 0.2):  # released: free again
        pass
    rate = RedisHostLimiter(redis_url, concurrency=10, rate_per_second=5.0)
    t0 = time.monotonic()
    for _ in range(7):  # burst of 5, then 5 per second
        with rate.acquire("rated.example"):
            pass
    assert 0.3 <= time.monotonic() - t0 < 1.5


def test_dns_lookup_bounded_by_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    def hung_getaddrinfo(*a: object, **k: object) -> list[object]:
        time.sleep(2)
        return []

    monkeypatch.setattr(socket, "getaddrinfo", hung_getaddrinfo)
    t0 = time.monotonic()
    with pytest.raises(FetchError) as err:
        guard.resolve_target("http://slow-dns.example/", Settings(), timeout=0.2)
    assert err.value.kind == "timeout" and time.monotonic() - t0 < 1.0


def test_a_hung_lookup_holds_neither_its_caller_nor_the_process_end(tmp_path: pathlib.Path) -> None:
    """A lookup abandoned at its deadline is left to its daemon thread: the process still ends at once
    (an executor's threads were joined at exit, so a hung DNS answer kept a finished run alive)."""
    code = ("import socket, sys, threading, time\n"
            "from archiver.capture import guard\nfrom archiver.capture.exchange import FetchError\n"
            "from archiver.config.settings import Settings\n"
            "socket.getaddrinfo = lambda *a, **k: threading.Event().wait()\n"
            "try:\n    guard.resolve_target('http://hung-dns.example/', Settings(), timeout=0.2)\n"
            "except FetchError as exc:\n    print(exc.kind)\n")
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "timeout", out.stderr
    assert time.monotonic() - t0 < 20


def test_lookups_run_at_once_up_to_the_pool_size_and_queue_beyond() -> None:
    for _ in range(20):   # a thread counted idle while it takes an earlier job must not leave one queued
        resolver, release = guard._Resolver(size=3), threading.Event()
        running: list[int] = []

        def lookup(i: int, running: list[int] = running, release: threading.Event = release) -> int:
            running.append(i)
            release.wait(10)
            return i

        futures = [resolver.submit(lookup, i) for i in range(5)]
        deadline = time.monotonic() + 5
        while len(running) < 3 and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(0.02)
        assert sorted(running) == [0, 1, 2]            # three threads, the other two lookups wait
        release.set()
        assert [f.result(5) for f in futures] == [0, 1, 2, 3, 4]
        again = resolver.submit(lookup, 5)             # an idle thread takes it: still three threads
        assert again.result(5) == 5 and resolver._threads == 3


def test_lookups_abandoned_at_their_deadline_do_not_hold_up_later_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host: str, *a: object) -> object:
        if host.startswith("slow"):
            time.sleep(1.0)
        return real("127.0.0.1", *a)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(guard, "_resolver", guard._Resolver(size=2))
    for i in range(8):   # two run for a second each; six wait in the queue and are dropped
        with pytest.raises(FetchError):
            guard._resolve(f"slow{i}.example", 80, 0.1)
    t0 = time.monotonic()
    assert guard._resolve("fast.example", 80, 3.0) == [ipaddress.ip_address("127.0.0.1")]
    assert time.monotonic() - t0 < 1.5   # after the two running ones at most, not six more seconds


def test_a_lookup_with_no_thread_to_be_had_runs_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    resolver = guard._Resolver(size=2)
    start = threading.Thread.start

    def no_thread(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", no_thread)
    assert resolver.submit(lambda x: x * 2, 21).result(1) == 42 and resolver._threads == 0
    monkeypatch.setattr(threading.Thread, "start", start)
    assert resolver.submit(lambda x: x * 2, 4).result(5) == 8 and resolver._threads == 1


# --- response heads that break HTTP: a final refusal, never retried ------------------------------------
def _many_headers(h: BaseHTTPRequestHandler) -> None:
    h.wfile.write(b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(150))
                  + b"Content-Type: image/png\r\nContent-Length: 2\r\n\r\nok")


def _megabyte_header_line(h: BaseHTTPRequestHandler) -> None:
    h.wfile.write(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (1 << 20) + b"\r\nContent-Length: 2\r\n\r\nok")


def _endless_header_line(h: BaseHTTPRequestHandler) -> None:
    h.wfile.write(b"HTTP/1.1 200 OK\r\nX-Endless: ")
    for _ in range(10_000):  # 640 MB if nobody stops reading; the client hangs up after 64 KiB
        h.wfile.write(b"a" * 65536)


def _endless_status_line(h: BaseHTTPRequestHandler) -> None:
    h.wfile.write(b"HTTP/1.1 200 ")
    for _ in range(10_000):
        h.wfile.write(b"O" * 65536)


def _not_http(h: BaseHTTPRequestHandler) -> None:
    h.wfile.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")


def _two_lengths(h: BaseHTTPRequestHandler) -> None:
    h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 643\r\n"
                  b"Content-Length: 5\r\n\r\nhello")


@pytest.mark.parametrize(
    ("route", "says"),
    [
        (_many_headers, "more than 100 headers"),
        (_megabyte_header_line, "header line"),
        (_endless_header_line, "header line"),
        (_endless_status_line, "status line"),
        (_not_http, "BadStatusLine"),
        (_two_lengths, "Content-Length"),
    ],
    ids=["150-headers", "1MB-header-line", "endless-header-line", "endless-status-line", "not-http",
         "two-content-lengths"],
)
def test_response_head_breaking_http_is_final_not_retried(origin: Origin, route: Route, says: str) -> None:
    origin.routes["/head"] = route
    with fetcher_for(settings_for(origin, fetch_retries=3)) as f:
        t0 = time.monotonic()
        with pytest.raises(FetchError) as err:
            f.get(origin.url("/head"), kind="image")
        assert time.monotonic() - t0 < 3
    assert err.value.kind == "malformed" and not err.value.retryable
    assert says in str(err.value) and "\n" not in str(err.value) and len(str(err.value)) < 500
    assert len(origin.requests) == 1  # asked once: the answer will not change on a retry
    assert len(err.value.exchanges) == 1 and err.value.exchanges[0].error == str(err.value)


def test_image_behind_a_malformed_head_is_rejected(origin: Origin, tmp_path: pathlib.Path) -> None:
    origin.routes["/flood.png"] = _many_headers
    origin.routes["/long.png"] = _megabyte_header_line
    store = LocalStore(tmp_path, "http://copies.example/")
    with fetcher_for(settings_for(origin, fetch_retries=3)) as f:
        for path in ("/flood.png", "/long.png"):
            rec = archive_media(origin.url(path), kind="image", fetcher=f, store=store, settings=f.settings)
            assert rec.status == "rejected" and "breaks HTTP" in (rec.error or "")
    assert len(origin.requests) == 2 and list(store.list("")) == []


def test_connection_closed_before_any_answer_stays_retryable(origin: Origin) -> None:
    def hangup(h: BaseHTTPRequestHandler) -> None:  # answers nothing and closes the connection
        h.close_connection = True

    origin.routes["/hangup"] = hangup
    with fetcher_for(settings_for(origin, fetch_retries=1)) as f, pytest.raises(FetchError) as err:
        f.get(origin.url("/hangup"))
    assert err.value.kind == "network" and err.value.retryable and len(origin.requests) == 2
