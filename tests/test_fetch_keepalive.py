"""The safe fetcher's keep-alive connections, against real loopback servers that count the TCP
connections they accept: reuse for one host, never across host names (Host, SNI) even on one address,
never after a response that was not read to its end or that asked to close, a stale idle connection
replaced transparently, thread- and fork-safety."""

from __future__ import annotations

import gc
import ipaddress
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme

from archiver.capture import guard
from archiver.capture.exchange import FetchError
from archiver.capture.fetch import Fetcher
from archiver.config.settings import Settings
from tests.test_fetch import send

Route = Callable[[BaseHTTPRequestHandler], None]


class KeepAliveOrigin:
    """An HTTP/1.1 server on 127.0.0.1 (HTTPS with `tls`) that numbers the connections it accepts and
    records (connection number, path, Host) for every request. Unrouted paths answer their own path
    with a Content-Length. `idle_timeout`: seconds a connection may wait for its next request before
    the server closes it."""

    def __init__(self, tls: ssl.SSLContext | None = None, idle_timeout: float | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.connections = 0
        self.closed = 0   # connections the server saw end (its handler returned)
        self.seen: list[tuple[int, str, str | None]] = []
        self.sni: list[str | None] = []
        lock = threading.Lock()
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = idle_timeout

            def log_message(self, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with lock:
                    origin.connections += 1
                    self.number = origin.connections
                self.served = 0

            def finish(self) -> None:
                super().finish()
                with lock:
                    origin.closed += 1

            def do_GET(self) -> None:
                self.served += 1
                with lock:
                    origin.seen.append((self.number, self.path, self.headers.get("Host")))
                route = origin.routes.get(self.path.split("?")[0])
                try:
                    if route is None:
                        send(self, 200, self.path.encode())
                    else:
                        route(self)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            tls.sni_callback = lambda _sock, name, _ctx: origin.sni.append(name)
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def url(self, path: str, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def connection_of(self, path: str) -> int:
        """The number of the connection that carried the (last) request for `path`."""
        return [n for n, p, _ in self.seen if p == path][-1]

    def wait_closed(self, count: int, within: float = 3.0) -> bool:
        """Whether `count` connections have ended, waiting up to `within` seconds."""
        stop = time.monotonic() + within
        while self.closed < count and time.monotonic() < stop:
            time.sleep(0.01)
        return self.closed >= count

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def origin() -> Iterator[KeepAliveOrigin]:
    o = KeepAliveOrigin()
    yield o
    o.close()


def settings_for(port: int, **kw: object) -> Settings:
    base: dict[str, object] = {"fetch_allow": f"127.0.0.1:{port}", "fetch_retries": 0, "fetch_deadline": 5.0,
                               "fetch_read_timeout": 3.0, "host_rate_per_second": 10_000.0}
    base.update(kw)
    return Settings(**base)  # type: ignore[arg-type]


@pytest.fixture
def fetcher(origin: KeepAliveOrigin) -> Iterator[Fetcher]:
    f = Fetcher(settings_for(origin.port))
    yield f
    f.close()


def test_sequential_fetches_to_one_host_share_one_connection(origin: KeepAliveOrigin, fetcher: Fetcher) -> None:
    for i in range(10):
        resp = fetcher.get(origin.url(f"/n/{i}"))
        assert resp.status == 200 and resp.body == f"/n/{i}".encode()
        assert resp.exchanges[0].resolved_ip == "127.0.0.1"   # recorded on a reused connection too
    assert origin.connections == 1 and len(origin.seen) == 10


def test_redirect_hops_to_the_same_host_reuse_the_connection(origin: KeepAliveOrigin, fetcher: Fetcher) -> None:
    origin.routes["/moved"] = lambda h: send(h, 302, b"see there", {"Location": "/n/there"})
    resp = fetcher.get(origin.url("/moved"))
    assert resp.body == b"/n/there" and len(resp.exchanges) == 2
    assert origin.connections == 1


def test_a_server_closing_idle_connections_costs_only_a_new_connection() -> None:
    origin = KeepAliveOrigin(idle_timeout=0.2)   # the server drops a connection idle for 0.2 s
    try:
        with _fetcher(settings_for(origin.port)) as f:
            assert f.get(origin.url("/n/1")).body == b"/n/1"
            time.sleep(0.6)
            assert f.get(origin.url("/n/2")).body == b"/n/2"
        assert origin.connections == 2
    finally:
        origin.close()


def test_a_connection_closed_as_the_request_arrives_is_replaced_once_without_a_fetch_retry(
        origin: KeepAliveOrigin, fetcher: Fetcher) -> None:
    """The race keep-alive cannot avoid: the server closes an idle connection just as the next
    request is sent on it (here: it reads the request and hangs up without a byte). The request goes
    again on a new connection, with fetch_retries=0, and the fetch succeeds."""
    def first_only(h: BaseHTTPRequestHandler) -> None:
        if h.served > 1:
            h.close_connection = True   # a second request on this connection: hang up, answer nothing
        else:
            send(h, 200, b"first")

    origin.routes["/first-only"] = first_only
    assert fetcher.get(origin.url("/first-only")).body == b"first"
    resp = fetcher.get(origin.url("/first-only"))
    assert resp.body == b"first" and len(resp.exchanges) == 1 and resp.exchanges[0].error is None
    assert origin.connections == 2 and [n for n, _, _ in origin.seen] == [1, 1, 2]


def test_a_new_connection_that_hangs_up_is_an_error_not_a_silent_retry(
        origin: KeepAliveOrigin, fetcher: Fetcher) -> None:
    origin.routes["/hangup"] = lambda h: setattr(h, "close_connection", True)
    with pytest.raises(FetchError) as err:
        fetcher.get(origin.url("/hangup"))
    assert err.value.kind == "network" and len(origin.seen) == 1


def test_connection_close_is_honoured(origin: KeepAliveOrigin, fetcher: Fetcher) -> None:
    origin.routes["/close"] = lambda h: send(h, 200, b"bye", {"Connection": "close"})
    for _ in range(3):
        assert fetcher.get(origin.url("/close")).body == b"bye"
    assert origin.connections == 3 and fetcher._pool.idle() == 0


def test_an_http_1_0_answer_is_not_kept(origin: KeepAliveOrigin, fetcher: Fetcher) -> None:
    def old(h: BaseHTTPRequestHandler) -> None:
        h.protocol_version = "HTTP/1.0"   # HTTP/1.0 without keep-alive: the server closes after it
        h.close_connection = True
        send(h, 200, b"old")

    origin.routes["/old"] = old
    assert fetcher.get(origin.url("/old")).body == b"old"
    assert fetcher.get(origin.url("/n/next")).body == b"/n/next"
    assert origin.connections == 2


def _chunked(h: BaseHTTPRequestHandler, body: bytes) -> None:
    h.send_response(200)
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    for i in range(0, len(body), 500):
        piece = body[i:i + 500]
        h.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
    h.wfile.write(b"0\r\n\r\n")


def test_a_body_cut_by_the_byte_cap_is_not_kept(origin: KeepAliveOrigin) -> None:
    origin.routes["/big"] = lambda h: _chunked(h, b"x" * 5000)
    origin.routes["/declared-big"] = lambda h: send(h, 200, b"y" * 5000)
    origin.routes["/small"] = lambda h: _chunked(h, b"z" * 900)
    with _fetcher(settings_for(origin.port, max_bytes_json=1000)) as f:
        assert f.get(origin.url("/small")).body == b"z" * 900   # a chunked body read to its end is kept
        for path in ("/big", "/declared-big"):
            with pytest.raises(FetchError) as err:
                f.get(origin.url(path))
            assert err.value.kind == "too_large" and f._pool.idle() == 0
            assert f.get(origin.url("/n/after")).body == b"/n/after"
    # /small and /big on the first connection; /declared-big on the second (after /n/after); the rest new
    assert [n for n, _, _ in origin.seen] == [1, 1, 2, 2, 3]


def test_bytes_past_the_declared_length_keep_the_connection_out_of_the_pool(
        origin: KeepAliveOrigin, fetcher: Fetcher) -> None:
    def overlong(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "5")
        h.end_headers()
        h.wfile.write(b"helloHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged")
        h.wfile.flush()

    origin.routes["/overlong"] = overlong
    assert fetcher.get(origin.url("/overlong")).body == b"hello"
    time.sleep(0.1)
    resp = fetcher.get(origin.url("/n/next"))   # not answered by the forged response left on the socket
    assert resp.body == b"/n/next" and origin.connection_of("/n/next") == 2


def test_a_response_not_read_to_its_end_is_not_kept(origin: KeepAliveOrigin) -> None:
    def drip(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "1000")
        h.end_headers()
        h.wfile.write(b"a" * 10)
        h.wfile.flush()
        time.sleep(1.5)
        h.wfile.write(b"a" * 990)

    origin.routes["/drip"] = drip
    with _fetcher(settings_for(origin.port, fetch_deadline=0.5)) as f:
        with pytest.raises(FetchError) as err:
            f.get(origin.url("/drip"))
        assert err.value.kind == "timeout" and f._pool.idle() == 0
        assert f.get(origin.url("/n/after")).body == b"/n/after"
    assert origin.connection_of("/n/after") == 2


def test_idle_connections_expire_and_close_empties_the_pool(origin: KeepAliveOrigin, fetcher: Fetcher) -> None:
    fetcher._pool.idle_seconds = 0.2
    fetcher.get(origin.url("/n/1"))
    time.sleep(0.3)
    fetcher.get(origin.url("/n/2"))   # the idle one was too old: closed, a new one opened
    assert origin.connections == 2 and fetcher._pool.idle() == 1
    assert origin.wait_closed(1)   # the expired one
    fetcher.close()
    assert fetcher._pool.idle() == 0 and origin.wait_closed(2)
    fetcher.get(origin.url("/n/3"))   # still works after close, its connection not kept
    assert origin.connections == 3 and fetcher._pool.idle() == 0 and origin.wait_closed(3)


def test_a_fetcher_dropped_without_close_leaves_no_connection_open(origin: KeepAliveOrigin) -> None:
    f = Fetcher(settings_for(origin.port))
    f.get(origin.url("/n/1"))
    assert f._pool.idle() == 1 and origin.closed == 0
    del f
    gc.collect()
    assert origin.wait_closed(1)


def test_two_host_names_on_one_address_never_share_a_connection(
        origin: KeepAliveOrigin, fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard, "_resolve", lambda host, port, timeout: [ipaddress.ip_address("127.0.0.1")])
    for i in range(3):
        for host in ("a.example", "b.example"):
            assert fetcher.get(origin.url(f"/{host}/{i}", host=host)).body == f"/{host}/{i}".encode()
    assert origin.connections == 2
    hosts_by_connection: dict[int, set[str | None]] = {}
    for number, _, host_header in origin.seen:
        hosts_by_connection.setdefault(number, set()).add(host_header)
    assert sorted(hosts_by_connection.values(), key=str) == [{f"a.example:{origin.port}"},
                                                               {f"b.example:{origin.port}"}]


def test_https_reuses_per_host_name_with_its_own_sni(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("a.newsroom.test", "b.newsroom.test").configure_cert(server_ctx)
    origin = KeepAliveOrigin(tls=server_ctx)
    monkeypatch.setattr(guard, "_resolve", lambda host, port, timeout: [ipaddress.ip_address("127.0.0.1")])
    try:
        with _fetcher(settings_for(origin.port, fetch_ca_bundle=str(bundle))) as f:
            for i in range(3):
                for host in ("a.newsroom.test", "b.newsroom.test"):
                    url = origin.url(f"/{i}", host=host, scheme="https")
                    assert f.get(url).body == f"/{i}".encode()
        assert origin.connections == 2 and sorted(origin.sni, key=str) == ["a.newsroom.test", "b.newsroom.test"]
    finally:
        origin.close()


def test_eight_threads_share_the_pool_safely(origin: KeepAliveOrigin) -> None:
    errors: list[str] = []
    with _fetcher(settings_for(origin.port, host_concurrency=4)) as f:
        def work(t: int) -> None:
            for i in range(30):
                path = f"/t{t}/{i}"
                try:
                    body = f.get(origin.url(path)).body
                except FetchError as exc:
                    errors.append(f"{path}: {exc}")
                    continue
                if body != path.encode():
                    errors.append(f"{path}: got {body[:40]!r}")

        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert f._pool.idle() <= 4
    assert errors == [] and len(origin.seen) == 240
    # a connection goes back to the pool before its host slot is released: never more than 4 opened
    assert origin.connections <= 4


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_never_uses_its_parents_connections(origin: KeepAliveOrigin, fetcher: Fetcher) -> None:
    fetcher.get(origin.url("/n/parent-1"))
    assert fetcher._pool.idle() == 1
    pid = os.fork()
    if pid == 0:   # the child: must open a connection of its own, and leave the parent's working
        code = 3
        try:
            code = 0 if fetcher.get(origin.url("/n/child")).body == b"/n/child" else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert fetcher.get(origin.url("/n/parent-2")).body == b"/n/parent-2"
    assert origin.connection_of("/n/parent-1") == origin.connection_of("/n/parent-2") == 1
    assert origin.connection_of("/n/child") == 2 and origin.connections == 2


class _fetcher:
    """A Fetcher closed on the way out (``with _fetcher(settings) as f``)."""

    def __init__(self, settings: Settings) -> None:
        self.fetcher = Fetcher(settings)

    def __enter__(self) -> Fetcher:
        return self.fetcher

    def __exit__(self, *exc: object) -> None:
        self.fetcher.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_resolves_names_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lookup pool's threads do not survive fork: the child's first lookup must not wait for one."""
    monkeypatch.setattr(socket, "getaddrinfo",
                        lambda host, port, *a: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))])
    assert guard._resolve("parent.example", 80, 2.0) == [ipaddress.ip_address("93.184.216.34")]
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            started = time.monotonic()
            found = guard._resolve("child.example", 80, 2.0)
            code = 0 if found == [ipaddress.ip_address("93.184.216.34")] and time.monotonic() - started < 1 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.skipif(not hasattr(socket, "TCP_QUICKACK"), reason="Linux's quick-ack")
def test_a_server_with_nagles_algorithm_on_does_not_stall_a_reused_connection(
        origin: KeepAliveOrigin, fetcher: Fetcher) -> None:
    """This origin writes each response's head and body in two writes without TCP_NODELAY (as Python's
    http.server does): on a reused connection a delayed ACK of the head held every body back 40 ms."""
    fetcher.get(origin.url("/n/warm"))
    started = time.monotonic()
    for i in range(20):
        assert fetcher.get(origin.url(f"/n/{i}")).body == f"/n/{i}".encode()
    elapsed = time.monotonic() - started
    assert origin.connections == 1
    assert elapsed < 0.6, f"20 fetches on one connection took {elapsed:.2f} s (40 ms delayed ACKs: 0.8 s)"
