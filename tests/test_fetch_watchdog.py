"""The fetch watchdog: one thread per process cuts each exchange's socket at its own deadline."""

from __future__ import annotations

import multiprocessing
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from archiver.capture import fetch
from archiver.capture.exchange import FetchError
from archiver.capture.fetch import Fetcher, Watchdog
from archiver.config.settings import Settings


def _stalled_recv(dog: Watchdog, sock: socket.socket) -> tuple[bytes, float]:
    """What a recv on `sock` (nothing is ever sent to it) returns once `dog` watches it, and after how long."""
    t0 = time.monotonic()
    dog.watch(sock)
    data = sock.recv(10)
    return data, time.monotonic() - t0


def test_a_stalled_socket_is_cut_at_its_deadline() -> None:
    a, b = socket.socketpair()
    with a, b:
        dog = Watchdog(0.3)
        data, took = _stalled_recv(dog, a)
        dog.cancel()
    assert data == b"" and dog.fired
    assert 0.2 < took < 2.0


def test_a_cancelled_watchdog_never_fires() -> None:
    a, b = socket.socketpair()
    with a, b:
        dog = Watchdog(0.1)
        dog.watch(a)
        dog.cancel()
        time.sleep(0.4)
        b.sendall(b"still open")
        assert a.recv(10) == b"still open"
    assert not dog.fired


def test_deadlines_fire_in_their_order_not_the_order_given() -> None:
    late, early = Watchdog(1.2), Watchdog(0.2)  # the earlier deadline comes second: the clock wakes sooner
    t0 = time.monotonic()
    while not early.fired and time.monotonic() - t0 < 1.0:
        time.sleep(0.01)
    assert early.fired and not late.fired
    assert time.monotonic() - t0 < 0.9
    while not late.fired and time.monotonic() - t0 < 3.0:
        time.sleep(0.01)
    assert late.fired


def test_a_deadline_already_past_fires_at_once() -> None:
    a, b = socket.socketpair()
    with a, b:
        dog = Watchdog(-5)
        data, took = _stalled_recv(dog, a)
    assert data == b"" and dog.fired and took < 1.0


def test_cancelled_watchdogs_do_not_pile_up() -> None:
    """Exchanges that end long before their deadline leave no lasting trace in the clock's heap."""
    for _ in range(2000):
        Watchdog(600).cancel()
    assert len(fetch._CLOCK._heap) < 200


@pytest.fixture
def dripping() -> Iterator[str]:
    """A loopback URL whose answer never ends: a byte every 0.1 s."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/drip"
    finally:
        server.shutdown()
        server.server_close()


def test_concurrent_exchanges_each_cut_at_their_own_deadline_by_one_thread(dripping: str) -> None:
    port = dripping.split(":")[2].split("/")[0]
    f = Fetcher(Settings(fetch_allow=f"127.0.0.1:{port}", fetch_retries=0, fetch_deadline=5.0,
                         fetch_read_timeout=3.0))
    deadlines = [0.4 + 0.1 * (i % 6) for i in range(12)]
    took: list[tuple[float, float, str]] = []
    watchers: list[int] = []

    def one(deadline: float) -> None:
        t0 = time.monotonic()
        try:
            f.get(dripping, kind="image", deadline=deadline)
        except FetchError as exc:
            took.append((deadline, time.monotonic() - t0, exc.kind))
        watchers.append(sum(t.name == "fetch-watchdog" for t in threading.enumerate()))

    threads = [threading.Thread(target=one, args=(d,)) for d in deadlines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(took) == len(deadlines)
    for deadline, seconds, kind in took:
        assert kind == "timeout"
        assert deadline - 0.05 < seconds < deadline + 1.5
    assert set(watchers) == {1}  # one clock thread, whatever the number of exchanges
    assert not any(isinstance(t, threading.Timer) for t in threading.enumerate())


def _child_cuts(out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    a, b = socket.socketpair()
    with a, b:
        dog = Watchdog(0.2)
        out.put(_stalled_recv(dog, a))


def test_a_forked_child_has_a_working_watchdog_of_its_own() -> None:
    Watchdog(30).cancel()  # the parent's clock thread is running before the fork
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_child_cuts, args=(out,))
    child.start()
    data, took = out.get(timeout=10)
    child.join(10)
    assert child.exitcode == 0
    assert data == b"" and took < 2.0
