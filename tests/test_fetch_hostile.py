"""Answers of a broken or hostile server, byte for byte, against the real fetcher: none is a traceback,
none is taken as a whole answer when it is not one, and none spoils the next fetch on a kept-alive
connection. Each route of the raw origin below writes exactly the bytes given."""

from __future__ import annotations

import gzip
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from archiver.capture.exchange import FetchError
from archiver.capture.fetch import Fetcher
from archiver.config.settings import Settings, load_settings

# A route: (the connection's socket) -> keep the connection open for another request?
Route = Callable[[socket.socket], bool]


class RawOrigin(socketserver.ThreadingTCPServer):
    """A loopback HTTP/1.1 server whose routes write raw bytes; requests on one connection are served in
    turn while a route asks to keep it."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.connections = 0
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class _Handler(socketserver.BaseRequestHandler):
    server: RawOrigin

    def handle(self) -> None:
        self.server.connections += 1
        sock, buf = self.request, b""
        while True:
            while b"\r\n\r\n" not in buf:
                data = sock.recv(65536)
                if not data:
                    return
                buf += data
            head, buf = buf.split(b"\r\n\r\n", 1)
            path = head.split(b" ")[1].decode()
            route = self.server.routes.get(path)
            if route is None:
                sock.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            elif not route(sock):
                sock.shutdown(socket.SHUT_WR)
                time.sleep(0.05)
                return


def raw(data: bytes, keep: bool = False, late: bytes = b"") -> Route:
    """A route writing `data`; `late` 50 ms after it; the connection kept for another request when `keep`."""
    def route(sock: socket.socket) -> bool:
        sock.sendall(data)
        if late:
            time.sleep(0.05)
            sock.sendall(late)
        return keep
    return route


OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"


@pytest.fixture(scope="module")
def origin() -> Iterator[RawOrigin]:
    server = RawOrigin()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(env={}).replace(home=str(tmp_path), fetch_allow="127.0.0.1", fetch_retries=1,
                                         fetch_deadline=5.0, fetch_read_timeout=2.0)


@pytest.fixture
def fetcher(settings: Settings) -> Iterator[Fetcher]:
    f = Fetcher(settings)
    yield f
    f.close()


@pytest.mark.parametrize("value", ["\u00b2", "\u00b9\u00b9", "\u00b3"])  # "²", "¹¹", "³": Latin-1, as headers are read
def test_a_retry_after_of_digits_that_are_not_ascii_is_ignored(origin: RawOrigin, fetcher: Fetcher,
                                                               value: str) -> None:
    """str.isdigit() is true of "²", which float() refuses: such a Retry-After is no delay, not a crash."""
    origin.routes["/busy"] = raw(b"HTTP/1.1 503 Busy\r\nRetry-After: " + value.encode("latin-1", "replace")
                                 + b"\r\nContent-Length: 0\r\n\r\n")
    assert fetcher.get(origin.url("/busy"), kind="json").status == 503


@pytest.mark.parametrize("location", ["http://[::1/x", "http://[zz]/x", "http://example.com:99999/x",
                                      "https://exa mple.com:port/"])
def test_a_location_that_is_no_url_is_a_bad_url(origin: RawOrigin, fetcher: Fetcher, location: str) -> None:
    origin.routes["/moved"] = raw(b"HTTP/1.1 302 Found\r\nLocation: " + location.encode()
                                  + b"\r\nContent-Length: 0\r\n\r\n")
    with pytest.raises(FetchError) as err:
        fetcher.get(origin.url("/moved"), kind="html")
    assert err.value.kind == "bad_url" and "not a URL" in str(err.value)
    assert [ex.status for ex in err.value.exchanges] == [302]


def test_a_body_cut_before_its_declared_length_is_a_network_error_marked_truncated(
        origin: RawOrigin, fetcher: Fetcher) -> None:
    origin.routes["/short"] = raw(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\n"
                                  + b"x" * 500)
    with pytest.raises(FetchError) as err:
        fetcher.get(origin.url("/short"), kind="image")
    assert err.value.kind == "network" and "500 bytes before the end" in str(err.value)
    assert [(ex.truncated, len(ex.body or b"")) for ex in err.value.exchanges] == [("disconnect", 500)] * 2


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_a_compressed_body_cut_mid_stream_is_not_taken_as_whole(origin: RawOrigin, fetcher: Fetcher,
                                                                coding: str) -> None:
    """The wire bytes are all there (their Content-Length is right) but the compressed stream stops
    half way: an error, not half a page."""
    import zlib
    whole = bytes(range(256)) * 4000
    packed = gzip.compress(whole) if coding == "gzip" else zlib.compress(whole)
    half = packed[:len(packed) // 2]
    origin.routes["/half"] = raw(b"HTTP/1.1 200 OK\r\nContent-Encoding: " + coding.encode()
                                 + f"\r\nContent-Length: {len(half)}\r\n\r\n".encode() + half)
    origin.routes["/whole"] = raw(b"HTTP/1.1 200 OK\r\nContent-Encoding: " + coding.encode()
                                  + f"\r\nContent-Length: {len(packed)}\r\n\r\n".encode() + packed)
    with pytest.raises(FetchError) as err:
        fetcher.get(origin.url("/half"), kind="html")
    assert err.value.kind == "network" and "ends before its end" in str(err.value)
    assert err.value.exchanges[-1].truncated == "disconnect"
    assert fetcher.get(origin.url("/whole"), kind="html").body == whole


@pytest.mark.parametrize("informational", [
    b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
    b"HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 199 Misc\r\nX: y\r\n\r\n",
])
def test_informational_answers_before_the_final_one_are_skipped(origin: RawOrigin, fetcher: Fetcher,
                                                                informational: bytes) -> None:
    origin.routes["/hints"] = raw(informational + OK)
    resp = fetcher.get(origin.url("/hints"), kind="html")
    assert (resp.status, resp.body) == (200, b"hello")


def test_a_transfer_coding_other_than_chunked_is_malformed(origin: RawOrigin, fetcher: Fetcher) -> None:
    """http.client undoes "chunked" alone: under "gzip, chunked" the chunks' framing would be kept as
    the body."""
    origin.routes["/te"] = raw(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n7\r\n{"a":1}\r\n0\r\n\r\n')
    with pytest.raises(FetchError) as err:
        fetcher.get(origin.url("/te"), kind="json")
    assert err.value.kind == "malformed" and "Transfer-Encoding" in str(err.value)


@pytest.mark.parametrize(("coding", "decoded"), [("gzip, identity", True), ("identity, gzip", True),
                                                 ("identity", False), ("x-unknown, gzip", False)])
def test_identity_is_no_coding_and_an_unknown_one_keeps_the_body_as_received(
        origin: RawOrigin, fetcher: Fetcher, coding: str, decoded: bool) -> None:
    packed = gzip.compress(b'{"a": 1}') if coding != "identity" else b'{"a": 1}'
    origin.routes["/ce"] = raw(f"HTTP/1.1 200 OK\r\nContent-Encoding: {coding}\r\nContent-Length: {len(packed)}"
                               "\r\n\r\n".encode() + packed)
    resp = fetcher.get(origin.url("/ce"), kind="json")
    assert resp.body == (b'{"a": 1}' if decoded else packed)


@pytest.mark.parametrize("first", [
    raw(b"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n", keep=True, late=b'{"a":1}'),
    raw(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", keep=True, late=b"world"),
])
def test_bytes_arriving_after_an_answer_do_not_spoil_the_next_fetch(origin: RawOrigin, fetcher: Fetcher,
                                                                    first: Route) -> None:
    """A 204 that declares a body (HTTP says it has none), or a body longer than its Content-Length, whose
    extra bytes arrive after the answer was read: the next fetch from the host gets its own answer."""
    origin.routes["/first"] = first
    origin.routes["/next"] = raw(OK, keep=True)
    fetcher.get(origin.url("/first"), kind="json")
    resp = fetcher.get(origin.url("/next"), kind="html")   # at once: the late bytes come after it was sent
    assert (resp.status, resp.body) == (200, b"hello")


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_a_compressed_body_without_only_its_checksum_footer_is_whole(origin: RawOrigin, fetcher: Fetcher,
                                                                     coding: str) -> None:
    """The deflate data ends but the checksum after it (gzip's CRC-32 and size, zlib's Adler-32) is
    missing: the bytes are whole, and browsers show them."""
    import zlib
    whole = b"<p>" + b"news " * 2000 + b"</p>"
    packed = gzip.compress(whole)[:-8] if coding == "gzip" else zlib.compress(whole)[:-4]
    origin.routes["/nofooter"] = raw(b"HTTP/1.1 200 OK\r\nContent-Encoding: " + coding.encode()
                                     + f"\r\nContent-Length: {len(packed)}\r\n\r\n".encode() + packed)
    assert fetcher.get(origin.url("/nofooter"), kind="html").body == whole


def test_transfer_encoding_identity_is_no_coding_but_a_repeated_chunked_is_malformed(
        origin: RawOrigin, fetcher: Fetcher) -> None:
    origin.routes["/identity"] = raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n\r\n"
                                     b"hello")
    assert fetcher.get(origin.url("/identity"), kind="html").body == b"hello"
    origin.routes["/twice"] = raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  b"5\r\nhello\r\n0\r\n\r\n")
    with pytest.raises(FetchError) as err:
        fetcher.get(origin.url("/twice"), kind="html")
    assert err.value.kind == "malformed"


@pytest.mark.parametrize("length", [b"05", b"005"])
def test_a_content_length_spelled_otherwise_keeps_the_connection(origin: RawOrigin, fetcher: Fetcher,
                                                                 length: bytes) -> None:
    origin.routes["/odd-length"] = raw(b"HTTP/1.1 200 OK\r\nContent-Length: " + length + b"\r\n\r\nhello", keep=True)
    before = origin.connections
    for _ in range(3):
        assert fetcher.get(origin.url("/odd-length"), kind="html").body == b"hello"
    assert origin.connections - before == 1


def test_the_process_does_not_exit_while_the_ca_bundle_is_being_read(tmp_path: Path) -> None:
    """The CA bundle is read in a background thread; a process that exits meanwhile must wait for it:
    libcrypto's exit-time cleanup freed what that thread was using, and `archiver archive` of an
    article with nothing to fetch died with SIGSEGV about once in 40 runs. The read is slowed here."""
    import subprocess
    import sys
    done = tmp_path / "read"
    script = (
        "import time\n"
        "from archiver.capture import fetch\n"
        "build = fetch._build_into\n"
        "def slow(future, key):\n"
        "    time.sleep(0.5)\n"
        "    build(future, key)\n"
        f"    open({str(done)!r}, 'w').close()\n"
        "fetch._build_into = slow\n"
        "fetch.ssl_context_soon(None)\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert done.exists()
