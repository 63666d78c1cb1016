"""The safe fetcher: the one way any capture talks to the outside world.

Every hop goes through the address guard (guard.py: the host resolved once, every address checked),
and the connection goes to the very address that was checked, with Host, SNI and certificate
checks still made for the real name. Redirects are followed here, hop by hop, each hop checked
again. Every request has connect/read timeouts and a wall-clock deadline enforced by a watchdog
that cuts the socket, a streamed cap on both the bytes received and the bytes they decode to,
per-host limits and retries. Each exchange is recorded (exchange.py) for the manifest and the WARC:
the body as received (content-encoding kept) and decoded (``_read_body``).

The HTTP client underneath (urllib3, http.client, ssl, email's date parser: about 45 ms of imports) is
imported when the first `Fetcher` is made (``import_http_stack``, in that thread, under a lock): a run
that fetches nothing (an article file with no embed or image) does not load it.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import heapq
import itertools
import logging
import os
import random
import socket
import threading
import time
import weakref
from concurrent.futures import Future, wait
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from archiver.capture.exchange import Exchange, FetchError, Headers, Response
from archiver.capture.guard import Target, resolve_target
from archiver.capture.ratelimit import HostLimiter, LimiterTimeout, LocalHostLimiter
from archiver.config.settings import Settings
from archiver.errors import ConfigError
from archiver.metrics import observe_fetch

if TYPE_CHECKING:
    import http.client
    import ssl

    import urllib3
    from urllib3.connection import HTTPConnection
    from urllib3.response import ContentDecoder

log = logging.getLogger(__name__)

# The absolute time.monotonic() no request of the current article may outlive: the local runner sets it
# per article (several articles may share one Fetcher at once) and copies it into its capture threads.
ARTICLE_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("article_deadline", default=None)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK = 64 * 1024
# Headers that must not follow a redirect to another host.
_PRIVATE_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


class Watchdog:
    """Cuts a socket when the deadline passes, whatever the socket is blocked on (a server dripping
    bytes); `fired` says it did. Shared by every bounded HTTP exchange (the fetcher, the TSA client).

    `seconds` from now (0 or less: at once) it fires unless `cancel()` came first. Every watchdog of the
    process waits on one thread (``_WatchdogClock``), not a timer thread of its own: starting a thread
    per exchange cost a few ms each, far more under load. Thread-safe."""

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self.sock: socket.socket | None = None
        self.cancelled = False
        self._queued = False  # in the clock's heap (under the clock's lock)
        self._lock = threading.Lock()
        _CLOCK.schedule(self, time.monotonic() + max(0.0, seconds))

    def watch(self, sock: socket.socket | None) -> None:
        with self._lock:
            self.sock = sock
            if self.fired:
                self._cut()

    def _fire(self) -> None:
        with self._lock:
            if self.cancelled:
                return
            self.fired = True
            self._cut()

    def _cut(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        """Never fire after this returns (when it fired already, `fired` stays True)."""
        with self._lock:
            self.cancelled = True
        _CLOCK.cancelled(self)


class _WatchdogClock:
    """The one thread per process that fires watchdogs at their deadlines: a heap of (deadline, seq,
    watchdog) under a condition variable; the thread sleeps until the earliest deadline or until an
    earlier one is scheduled. Cancelled watchdogs stay in the heap until their deadline comes up, or
    until they are half of it (then it is rebuilt without them), so its size stays bounded by twice
    the exchanges in flight. The thread is started on first use, and again in a forked child (which
    inherits neither the thread nor the parent's exchanges)."""

    def __init__(self) -> None:
        self._reset()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, Watchdog]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def schedule(self, dog: Watchdog, when: float) -> None:
        """Fire `dog` at `when` (time.monotonic()) unless it is cancelled first."""
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fetch-watchdog", daemon=True)
                self._thread.start()
            entry = (when, next(self._seq), dog)
            dog._queued = True
            heapq.heappush(self._heap, entry)
            if self._heap[0] is entry:  # a new earliest deadline: the thread sleeps less
                self._cond.notify()

    def cancelled(self, dog: Watchdog) -> None:
        """`dog` was just cancelled: once the heap is big (64 entries or more: cancelled exchanges with
        long deadlines piling up) and at least half cancelled, it is rebuilt without them."""
        with self._cond:
            if not dog._queued or len(self._heap) < 64:
                return
            keep = [e for e in self._heap if not e[2].cancelled]
            if len(keep) * 2 <= len(self._heap):
                for e in self._heap:
                    e[2]._queued = not e[2].cancelled
                heapq.heapify(keep)
                self._heap = keep

    def _due(self) -> Watchdog:
        """The next watchdog whose deadline has come and that is not cancelled (waits for it)."""
        with self._cond:
            while True:
                now = time.monotonic()
                while self._heap and self._heap[0][2].cancelled:
                    heapq.heappop(self._heap)[2]._queued = False
                if self._heap and self._heap[0][0] <= now:
                    dog = heapq.heappop(self._heap)[2]
                    dog._queued = False
                    return dog
                self._cond.wait(self._heap[0][0] - now if self._heap else None)

    def _run(self) -> None:
        while True:
            dog = self._due()
            try:
                dog._fire()  # outside the heap's lock: a shutdown(2) never holds up scheduling
            except Exception:  # never let one socket stop every other watchdog
                log.exception("watchdog could not cut its socket")


_CLOCK = _WatchdogClock()


def _cap_for(kind: str, settings: Settings) -> int:
    caps = {"json": settings.max_bytes_json, "html": settings.max_bytes_html,
            "image": settings.max_bytes_image, "video": settings.max_bytes_video,
            "any": settings.max_bytes_video}
    if kind not in caps:
        raise ValueError(f"unknown fetch kind {kind!r}; expected one of {sorted(caps)}")
    return caps[kind]


def _retry_after(value: str | None) -> float | None:
    """Seconds asked for by a Retry-After header (delta-seconds or HTTP date), None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():   # str.isdigit() is also true of "²" and other digits float() refuses
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _declares(content_length: str, read: int) -> bool:
    """Whether a Content-Length value (a number, or a list of the same number) is `read` bytes."""
    values = {v.strip() for v in content_length.split(",")}
    return all(v.isascii() and v.isdigit() for v in values) and {int(v) for v in values} == {read}


def _redirect_target(current: str, location: str, exchanges: list[Exchange]) -> str:
    """The URL a redirect's Location names, resolved against `current` (RFC 9110 10.2.2); FetchError
    "bad_url" when it is no URL (a malformed IPv6 host, a bad port), which `urljoin` or `urlsplit`
    refuse with ValueError."""
    try:
        target = urljoin(current, location.strip())
        urlsplit(target).port  # noqa: B018  (a bad port raises ValueError)
    except ValueError as exc:
        raise FetchError("bad_url", f"{current[:200]} redirects to {location.strip()[:200]!r}, which is not a URL "
                                    f"({exc})", exchanges) from None
    return target


def _response_head(conn: HTTPConnection, target: Target, watchdog: Watchdog) -> urllib3.HTTPResponse:
    """The response's status line and headers, read by http.client under its limits.

    A head that breaks HTTP (more than 100 header lines, a status or header line over 64 KiB, a
    status line that is not HTTP, Content-Length values that disagree) is the server's answer, not a
    network accident: FetchError "malformed", which is final (never retried; an image fetched so is
    rejected). A connection closed before any answer, and anything once the deadline cut the socket,
    go on as network or timeout."""
    import http.client

    import urllib3

    try:
        return conn.getresponse()
    except (http.client.HTTPException, urllib3.exceptions.InvalidHeader) as exc:
        # InvalidHeader: urllib3's refusal of a head it cannot frame (Content-Length values that disagree).
        if watchdog.fired or isinstance(exc, http.client.RemoteDisconnected):
            raise
        reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        raise FetchError("malformed", f"{target.url[:200]}: the response head breaks HTTP "
                                      f"({type(exc).__name__}: {reason})") from None


_STACK_LOCK = threading.Lock()
_stack_imported = False


def import_http_stack() -> None:
    """Import the HTTP client underneath (urllib3, with http.client, ssl and email's parser; certifi
    and its bundle's path; the IDNA codec of host names) once per process, under a lock, in the
    thread that makes the first `Fetcher` or TLS context. The fetcher's functions import these by name
    where they use them, which is free once they are loaded; but two threads importing urllib3's
    modules for the first time at once can deadlock on its import cycle (Python's ``_DeadlockError``,
    seen when the CA bundle's background thread and the main thread both did), so no fetch and no
    background build ever runs a first import."""
    global _stack_imported
    if _stack_imported:
        return
    with _STACK_LOCK:
        if _stack_imported:
            return
        import email.utils  # noqa: F401
        import encodings.idna  # noqa: F401  # the address guard's host names (str.encode("idna"))
        import http.client  # noqa: F401
        import ssl  # noqa: F401

        import certifi
        import urllib3
        import urllib3.connection
        import urllib3.response
        import urllib3.util.request
        import urllib3.util.ssl_  # noqa: F401

        certifi.where()   # its first call imports importlib.resources' helpers
        _stack_imported = True


_SSL_CONTEXT_LOCK = threading.Lock()
# The TLS context of each CA bundle (None: certifi's), built or being built: one per bundle and process.
_SSL_CONTEXTS: dict[str | None, Future[ssl.SSLContext]] = {}


def ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """A TLS client context verifying against `ca_bundle` (a PEM file path; certifi's when None or ""),
    built once per bundle and process (loading it costs about 25 ms), so threads asking at once share
    one. Every user connects with CERT_REQUIRED and hostname checks, so the shared context is never
    changed after it is built. ConfigError when the file is not a readable PEM bundle (not kept: the
    next call tries again)."""
    return _context_future(ca_bundle, background=False).result()


def ssl_context_soon(ca_bundle: str | None) -> Future[ssl.SSLContext]:
    """The context ``ssl_context(ca_bundle)`` gives, built in a background thread when not yet asked
    for: OpenSSL parses the bundle without holding the GIL, so a run's start-up goes on meanwhile
    (``Fetcher`` asks for it when made and waits for it at its first TLS connection). The future's
    ``result()`` raises ConfigError as ``ssl_context`` does."""
    return _context_future(ca_bundle, background=True)


def _context_future(ca_bundle: str | None, *, background: bool) -> Future[ssl.SSLContext]:
    key = ca_bundle or None
    import_http_stack()   # so the build, in whichever thread, imports nothing
    with _SSL_CONTEXT_LOCK:
        future = _SSL_CONTEXTS.get(key)
        if future is not None and not (future.done() and future.exception() is not None):
            return future
        future = _SSL_CONTEXTS[key] = Future()
    if background:
        try:
            # Not a daemon: the interpreter waits for it before exiting. A process that ended while
            # OpenSSL was still reading the bundle here crashed (SIGSEGV) in libcrypto's exit-time
            # cleanup, which frees what this thread was using (an archive with nothing to fetch).
            threading.Thread(target=_build_into, args=(future, key), name="ca-bundle", daemon=False).start()
        except RuntimeError:   # no thread to be had (a process or thread limit): built here instead
            _build_into(future, key)
    else:
        _build_into(future, key)
    return future


def _wait_for_loads_before_fork() -> None:
    """Before a fork: let a bundle being loaded in the background finish (about 25 ms; at most 30 s).
    OpenSSL holds a lock of its own while it parses, and a child forked meanwhile would inherit that
    lock held by a thread it does not have: its first TLS context would wait for ever."""
    with _SSL_CONTEXT_LOCK:
        pending = [f for f in _SSL_CONTEXTS.values() if not f.done()]
    if pending:
        wait(pending, timeout=30)


def _build_into(future: Future[ssl.SSLContext], ca_bundle: str | None) -> None:
    try:
        future.set_result(_build_ssl_context(ca_bundle))
    except BaseException as exc:  # ConfigError, or anything else: the waiter sees it, never a hang
        future.set_exception(exc)


def _contexts_after_fork() -> None:
    """In a forked child: the locks are the child's own, and a context still being built by a
    parent's thread (one the wait before the fork gave up on) would never be finished here: it is
    built again when asked."""
    global _SSL_CONTEXT_LOCK, _STACK_LOCK
    _SSL_CONTEXT_LOCK = threading.Lock()
    _STACK_LOCK = threading.Lock()
    for key, future in list(_SSL_CONTEXTS.items()):
        if not future.done():
            del _SSL_CONTEXTS[key]


def _build_ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    import ssl

    import certifi
    from urllib3.util.ssl_ import create_urllib3_context

    ctx = create_urllib3_context()
    bundle = ca_bundle or certifi.where()
    try:
        ctx.load_verify_locations(bundle)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"fetch_ca_bundle {bundle!r} is not a readable PEM bundle: {exc}") from None
    return ctx


# The idle keep-alive connections of every Fetcher of this process, so a forked child can forget its
# parent's (its copies of the parent's sockets are closed, never shut down: the parent keeps using them).
_POOLS: weakref.WeakSet[_ConnectionPool] = weakref.WeakSet()
# How long a connection may wait idle before it is closed: below the keep-alive timeout of common
# servers (nginx 75 s, Apache 5 s are the outliers; CDNs 60 s or more), so most are still open on reuse
# and the rest fail at once (the one transparent retry, `_STALE`).
IDLE_SECONDS = 30.0
# At most this many idle connections in one Fetcher's pool, all hosts together (the oldest go first).
MAX_IDLE_TOTAL = 64


@functools.cache
def _stale() -> tuple[type[BaseException], ...]:
    """What a connection that was idle in the pool raises when the server closed it meanwhile, before
    any byte of the response: the request is sent again once on a new connection (not a fetch retry)."""
    import http.client
    import ssl

    return (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, http.client.RemoteDisconnected,
            ssl.SSLEOFError, ssl.SSLZeroReturnError)

# (scheme, host as asked, port, the checked address connected to, the TLS context's id)
PoolKey = tuple[str, str, int, str, int]


class _ConnectionPool:
    """Idle HTTP/1.1 keep-alive connections of one Fetcher, by `PoolKey`: a connection is only ever
    handed out for the very scheme, host name (Host and SNI), port, checked address and TLS settings
    it was opened with. At most `per_key` idle per key and `MAX_IDLE_TOTAL` in all; one idle longer
    than `idle_seconds` is closed instead of reused. Thread-safe (one lock; a connection taken is its
    taker's alone). Fork-safe: a child process starts empty (``_after_fork``, and a pid check)."""

    def __init__(self, per_key: int, idle_seconds: float = IDLE_SECONDS, max_total: int = MAX_IDLE_TOTAL) -> None:
        self.per_key = max(0, per_key)
        self.idle_seconds = idle_seconds
        self.max_total = max_total
        self._lock = threading.Lock()
        self._idle: dict[PoolKey, list[tuple[float, HTTPConnection]]] = {}
        self._count = 0
        self._pid = os.getpid()
        self._closed = False
        _POOLS.add(self)

    def _forget_if_forked(self) -> None:
        """In a forked child: drop the parent's connections (closing our copies of the descriptors,
        no shutdown, so the parent's connections go on). Under the lock."""
        if self._pid != os.getpid():
            idle, self._idle, self._count, self._pid = self._idle, {}, 0, os.getpid()
            for conns in idle.values():
                for _, conn in conns:
                    _close_copy(conn)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()   # a lock held by a parent's thread at fork would never be released
        self._forget_if_forked()

    def take(self, key: PoolKey) -> HTTPConnection | None:
        """An idle connection for exactly `key` still open and not readable (a readable idle connection
        is one the server closed, or one with unasked-for bytes: both closed here), or None."""
        expired: list[HTTPConnection] = []
        found = None
        now = time.monotonic()
        with self._lock:
            self._forget_if_forked()
            conns = self._idle.get(key)
            while conns and found is None:
                since, conn = conns.pop()   # the most recently used first
                self._count -= 1
                if now - since < self.idle_seconds and conn.is_connected:
                    found = conn
                else:
                    expired.append(conn)
            if conns is not None and not conns:
                del self._idle[key]
        for conn in expired:
            _quiet_close(conn)
        return found

    def put(self, key: PoolKey, conn: HTTPConnection) -> None:
        """Keep `conn` (its last response read to the end) for the next request to `key`; closed
        instead when the pool is closed or full for that key. Idle connections past their time and
        the oldest beyond `max_total` are closed on the way."""
        drop: list[HTTPConnection] = []
        now = time.monotonic()
        with self._lock:
            self._forget_if_forked()
            conns = self._idle.setdefault(key, [])
            if self._closed or len(conns) >= self.per_key:
                drop.append(conn)
            else:
                conns.append((now, conn))
                self._count += 1
            for k in list(self._idle):   # at most max_total entries: cheap
                keep = [(t, c) for t, c in self._idle[k] if now - t < self.idle_seconds]
                drop += [c for t, c in self._idle[k] if now - t >= self.idle_seconds]
                self._count -= len(self._idle[k]) - len(keep)
                if keep:
                    self._idle[k] = keep
                else:
                    del self._idle[k]
            while self._count > self.max_total:
                k = min(self._idle, key=lambda k: self._idle[k][0][0])
                drop.append(self._idle[k].pop(0)[1])
                self._count -= 1
                if not self._idle[k]:
                    del self._idle[k]
        for c in drop:
            _quiet_close(c)

    def idle(self) -> int:
        """How many connections wait idle (in this process)."""
        with self._lock:
            self._forget_if_forked()
            return self._count

    def close(self) -> None:
        """Close every idle connection; later `put`s close theirs at once."""
        with self._lock:
            self._forget_if_forked()
            idle, self._idle, self._count, self._closed = self._idle, {}, 0, True
        for conns in idle.values():
            for _, conn in conns:
                _quiet_close(conn)


def _quiet_close(conn: HTTPConnection) -> None:
    with contextlib.suppress(Exception):
        conn.close()


def _close_copy(conn: HTTPConnection) -> None:
    """Close this process's descriptor of a connection inherited over fork, sending nothing on it."""
    with contextlib.suppress(Exception):
        if conn.sock is not None:
            conn.sock.close()   # close(2) only: neither shutdown(2) nor a TLS close_notify


def _pools_after_fork() -> None:
    for pool in list(_POOLS):
        pool._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_pools_after_fork)
    os.register_at_fork(before=_wait_for_loads_before_fork, after_in_child=_contexts_after_fork)


class Fetcher:
    """GET with the address guard, limits, politeness, retries and exchange records.

    Connections are kept alive between requests (HTTP/1.1 keep-alive, ``_ConnectionPool``): every
    request still resolves and checks its host, then reuses an idle connection only when one was
    opened to that very scheme, host, port and checked address with this fetcher's TLS settings, and
    a connection goes back to the pool only when its response was read to the end, the server did
    not ask to close, and no error, cap or deadline cut the exchange. Thread-safe; `close()` closes
    the idle connections."""

    def __init__(self, settings: Settings, limiter: HostLimiter | None = None) -> None:
        self.settings = settings
        self.limiter: HostLimiter = limiter or LocalHostLimiter.from_settings(settings)
        # An absolute time.monotonic() no request may outlive (a worker task's window); the local runner
        # bounds each article's requests by ARTICLE_DEADLINE instead, as several share one Fetcher.
        self.deadline_at: float | None = None
        # The HTTP stack is imported by the context's load (``import_http_stack``), here in this thread.
        # A bundle of the settings' own is loaded now, so a bad one is a ConfigError here; certifi's is
        # loaded in the background (``ssl_context_soon``) and waited for at the first TLS connection.
        self._bundle = settings.fetch_ca_bundle or None
        if self._bundle is None:
            self._ssl_load = ssl_context_soon(None)
        else:
            self._ssl_load = _context_future(self._bundle, background=False)
            self._ssl_load.result()
        # As many idle connections per host as may be in flight to it (the limiter's cap, own-site
        # hosts' being the higher).
        self._pool = _ConnectionPool(max(settings.host_concurrency, settings.own_host_concurrency))
        weakref.finalize(self, self._pool.close)   # a fetcher dropped without close() leaves no socket open

    @property
    def _ssl_context(self) -> ssl.SSLContext:
        """This fetcher's TLS context: waits for its bundle to be loaded; ConfigError if it cannot be.
        A load that failed is tried again here, at the next TLS connection (a transient failure, such
        as no file descriptor left, does not stay with a long-lived fetcher), as is one a forked
        child's parent had not finished."""
        load = self._ssl_load
        failed = load.done() and load.exception() is not None
        # A load no thread will finish: one a parent process was making when it forked (see
        # ``_contexts_after_fork``), dropped from the table here.
        orphaned = not load.done() and _SSL_CONTEXTS.get(self._bundle) is not load
        if failed or orphaned:
            self._ssl_load = load = _context_future(self._bundle, background=False)
        return load.result()

    def close(self) -> None:
        """Close the idle keep-alive connections (requests after this still work, on new connections
        that are closed once used)."""
        self._pool.close()

    def get(self, url: str, *, kind: str = "json", headers: dict[str, str] | None = None,
            deadline: float | None = None, follow_redirects: bool = True) -> Response:
        started = time.monotonic()
        try:
            resp = self._get(url, kind, headers, deadline, follow_redirects)
        except FetchError as exc:
            observe_fetch(kind, time.monotonic() - started, exc.kind)
            raise
        observe_fetch(kind, time.monotonic() - started, "ok")
        return resp

    def _get(self, url: str, kind: str, headers: dict[str, str] | None, deadline: float | None,
             follow_redirects: bool) -> Response:
        cap = _cap_for(kind, self.settings)
        end = time.monotonic() + (self.settings.fetch_deadline if deadline is None else deadline)
        if self.deadline_at is not None:
            end = min(end, self.deadline_at)
        article_end = ARTICLE_DEADLINE.get()
        if article_end is not None:
            end = min(end, article_end)
        exchanges: list[Exchange] = []
        extra = dict(headers or {})
        current = url
        for hop in range(self.settings.fetch_max_redirects + 1):
            ex = self._with_retries(current, extra, cap, end, exchanges)
            resp_headers = Headers(ex.response_headers)
            location = resp_headers.get("location")
            assert ex.status is not None
            if not (follow_redirects and ex.status in REDIRECT_STATUSES and location):
                return Response(url, current, ex.status, resp_headers, ex.body, exchanges)
            if hop == self.settings.fetch_max_redirects:
                break
            previous, current = current, _redirect_target(current, location, exchanges)
            if urlsplit(current).hostname != urlsplit(previous).hostname:
                extra = {k: v for k, v in extra.items() if k.lower() not in _PRIVATE_HEADERS}
        limit = self.settings.fetch_max_redirects
        raise FetchError("bad_response", f"more than {limit} redirects from {url[:200]}", exchanges)

    def _with_retries(self, url: str, headers: dict[str, str], cap: int, end: float,
                      exchanges: list[Exchange]) -> Exchange:
        """One hop, retried on timeouts, network errors, 5xx and 429 while attempts and time remain."""
        attempts = max(0, self.settings.fetch_retries) + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                ex = self._exchange(url, headers, cap, end, exchanges)
            except FetchError as exc:
                exc.exchanges = exchanges
                if not exc.retryable or last or not self._pause(self._backoff(attempt), end):
                    raise
                continue
            assert ex.status is not None
            if (ex.status != 429 and ex.status < 500) or last:
                return ex
            asked = _retry_after(dict((k.lower(), v) for k, v in ex.response_headers).get("retry-after"))
            if asked is not None and asked > self.settings.fetch_max_retry_after:
                return ex
            if not self._pause(self._backoff(attempt) if asked is None else asked, end):
                return ex
        raise AssertionError("unreachable")

    @staticmethod
    def _backoff(attempt: int) -> float:
        base = min(8.0, 0.5 * 2**attempt)
        return base / 2 + random.uniform(0, base / 2)

    @staticmethod
    def _pause(seconds: float, end: float) -> bool:
        """Sleep unless that would leave no time for another attempt."""
        if time.monotonic() + seconds + 0.05 >= end:
            return False
        time.sleep(seconds)
        return True

    def _exchange(self, url: str, extra: dict[str, str], cap: int, end: float,
                  exchanges: list[Exchange]) -> Exchange:
        remaining = end - time.monotonic()
        if remaining <= 0:
            raise FetchError("timeout", f"deadline passed before fetching {url[:200]}")
        from urllib3.util.request import ACCEPT_ENCODING

        target = resolve_target(url, self.settings,
                                timeout=min(remaining, self.settings.fetch_connect_timeout))
        req_headers = {"Host": target.host_header, "User-Agent": self.settings.user_agent,
                       "Accept": "*/*", "Accept-Encoding": ACCEPT_ENCODING}
        for k, v in extra.items():
            req_headers = {h: x for h, x in req_headers.items() if h.lower() != k.lower()}
            req_headers[k] = v
        ex = Exchange("GET", url, req_headers)
        exchanges.append(ex)
        t0 = time.monotonic()
        try:
            with self.limiter.acquire(target.host, deadline=end):
                self._talk(target, ex, cap, end)
        except LimiterTimeout as exc:
            ex.error = str(exc)
            raise FetchError("timeout", str(exc)) from None
        except FetchError as exc:
            ex.error = str(exc)
            raise
        finally:
            ex.elapsed_ms = (time.monotonic() - t0) * 1000
        return ex

    def _connect(self, target: Target, ip: str, timeout: float) -> HTTPConnection:
        from urllib3.connection import HTTPConnection, HTTPSConnection

        if target.scheme == "https":
            conn: HTTPConnection = HTTPSConnection(
                ip, target.port, timeout=timeout, server_hostname=target.host,
                ssl_context=self._ssl_context, cert_reqs="CERT_REQUIRED")
        else:
            conn = HTTPConnection(ip, target.port, timeout=timeout)
        conn.response_class = _checked_response()  # type: ignore[assignment]
        conn.connect()
        return conn

    def _key(self, target: Target, ip: str) -> PoolKey:
        """The pool key of a connection to `ip` for `target` (the TLS context is the fetcher's own, so
        the id of its load stands for the CA bundle and every other TLS setting)."""
        return (target.scheme, target.host, target.port, ip, id(self._ssl_load))

    def _reuse(self, target: Target) -> tuple[HTTPConnection, str] | None:
        """An idle connection to one of the addresses just checked for `target`, in their order."""
        for ip in target.addresses:
            conn = self._pool.take(self._key(target, ip))
            if conn is not None:
                return conn, ip
        return None

    def _open(self, target: Target, end: float, watchdog: Watchdog) -> tuple[HTTPConnection, str]:
        """A new connection to the first of the checked addresses that answers; FetchError "timeout"
        or "network" when none does."""
        import urllib3

        errors = []
        for ip in target.addresses:
            try:
                timeout = min(self.settings.fetch_connect_timeout, max(0.01, end - time.monotonic()))
                conn = self._connect(target, ip, timeout)
            except (OSError, urllib3.exceptions.HTTPError) as exc:
                errors.append(f"{ip}: {exc}")
                if watchdog.fired:
                    break
                continue
            if conn.sock is not None:
                return conn, ip
        if watchdog.fired:
            raise FetchError("timeout", f"connecting to {target.host} took too long")
        raise FetchError("network", f"cannot connect to {target.host}: {'; '.join(errors)[:300]}")

    def _talk(self, target: Target, ex: Exchange, cap: int, end: float) -> None:
        import http.client

        import urllib3

        s = self.settings
        watchdog = Watchdog(end - time.monotonic())
        conn: HTTPConnection | None = None
        resp = None
        keep: PoolKey | None = None   # set once the exchange ended cleanly with the connection reusable
        try:
            reused = self._reuse(target)
            conn, ip = reused or self._open(target, end, watchdog)
            while True:
                ex.resolved_ip = ip
                watchdog.watch(conn.sock)
                conn.timeout = min(s.fetch_read_timeout, max(0.01, end - time.monotonic()))
                try:
                    assert conn.sock is not None
                    conn.sock.settimeout(conn.timeout)
                    conn.request("GET", target.path, headers=ex.request_headers, preload_content=False,
                                 decode_content=False, enforce_content_length=False)
                    _ack_at_once(conn.sock)
                    resp = _response_head(conn, target, watchdog)
                    break
                except (*_stale(), FetchError) as exc:
                    # The server closed the idle connection before reading this request (or before
                    # answering a byte), or what came first on it was no response head (bytes of an
                    # earlier answer that arrived after it was read to its declared end): sent again
                    # once on a new connection, not a retry of the fetch. On a new connection a head
                    # that breaks HTTP is the server's answer ("malformed").
                    if reused is None or watchdog.fired or (isinstance(exc, FetchError) and exc.kind != "malformed"):
                        raise
                    log.debug("idle connection to %s (%s) was closed by the server; reconnecting",
                              target.host, ip)
                    _quiet_close(conn)
                    conn = None
                    reused = None
                    conn, ip = self._open(target, end, watchdog)
            ex.status = resp.status
            ex.reason = resp.reason if isinstance(resp.reason, str) else None
            ex.http_version = {10: "HTTP/1.0", 11: "HTTP/1.1", 20: "HTTP/2"}.get(resp.version, "HTTP/1.1")
            ex.response_headers = list(resp.headers.items())
            framing = str(resp.headers.get("transfer-encoding") or "").strip()
            # http.client undoes exactly "chunked"; "identity" (RFC 2616's) is no transfer coding at all
            codings = {c.strip().lower() for c in framing.split(",")}
            if framing and framing.lower() != "chunked" and codings != {"identity"}:
                # http.client decodes "chunked" alone and would keep any other framing in the body
                raise FetchError("malformed", f"{target.url[:200]}: Transfer-Encoding {framing[:60]!r} is not "
                                              "chunked, the only transfer coding a response may use here")
            declared = resp.headers.get("content-length", "").strip()
            # the cap holds for the bytes on the wire too
            if declared.isascii() and declared.isdigit() and int(declared) > cap:
                ex.truncated = "length"  # not read at all
                raise FetchError("too_large",
                                 f"{target.url[:200]} declares {declared} bytes, over the cap of {cap}")
            self._read_body(resp, ex, cap, end, watchdog)
            read = len(ex.body if ex.wire_body is None else ex.wire_body)
            # A head whose Content-Length is not what was read (a 204 or 304 that declares a body, which
            # HTTP says has none) may have more bytes coming: the connection is not reused.
            chunked = framing.lower() == "chunked"
            if _ended_cleanly(conn, resp) and (chunked or not declared or _declares(declared, read)):
                keep = self._key(target, ip)
        except FetchError:
            if watchdog.fired:
                raise FetchError("timeout", f"{target.url[:200]}: deadline passed") from None
            raise
        except (OSError, urllib3.exceptions.HTTPError, http.client.HTTPException, ValueError) as exc:
            if watchdog.fired or isinstance(exc, (TimeoutError, urllib3.exceptions.TimeoutError)):
                raise FetchError("timeout", f"{target.url[:200]}: timed out") from None
            reason = f"{type(exc).__name__}: {str(exc)[:200]}"
            raise FetchError("network", f"{target.url[:200]}: {reason}") from None
        finally:
            watchdog.cancel()   # after this `fired` no longer changes
            if keep is not None and conn is not None and not watchdog.fired:
                self._pool.put(keep, conn)
            else:
                if resp is not None:
                    resp.release_conn()
                    resp.close()
                if conn is not None:
                    conn.close()

    @staticmethod
    def _read_body(resp: urllib3.HTTPResponse, ex: Exchange, cap: int, end: float,
                   watchdog: Watchdog) -> None:
        """The body into ``ex``, chunk by chunk, read as received (``decode_content=False``; chunked
        transfer coding is removed by http.client) and decoded here with urllib3's own decoders
        (``content_decoder``): ``ex.wire_body`` the bytes as received and ``ex.body`` the decoded
        bytes, or ``ex.body`` alone when there is no content-coding to undo.

        Both are capped at ``cap`` bytes (FetchError "too_large"): the wire bytes as they arrive,
        and the decoded bytes as they are produced, each decoder call asked for at most one byte
        more than the cap leaves, so a decompression bomb never grows past the cap in memory. The
        peak is therefore at most ``cap`` for an uncoded body (one buffer) and ``2 * cap`` for a
        coded one (the wire bytes, usually far fewer, beside the decoded ones). A body still
        arriving at the deadline is FetchError "timeout"; a body whose coding does not decode is
        FetchError "network" (as urllib3's DecodeError was). Whatever arrived before an error is
        kept in ``ex``, with ``ex.truncated`` saying why (the WARC records it so: WARC-Truncated)."""
        import urllib3

        wire_parts: list[bytes] = []
        parts: list[bytes] = []
        wire_total = total = 0
        coding = str(resp.headers.get("content-encoding") or "")

        def undecodable(exc: Exception) -> FetchError:
            return FetchError("network", f"{ex.url[:200]}: the body does not decode as its Content-Encoding "
                                         f"{coding[:60]!r} says ({type(exc).__name__}: {str(exc)[:120]})")

        def decode(data: bytes, *, last: bool = False) -> None:
            """``data`` decoded into ``parts``, at most one byte past the cap."""
            nonlocal total
            assert decoder is not None
            try:
                piece = decoder.decompress(data, max_length=cap - total + 1)
                if last and len(piece) <= cap - total:
                    piece += decoder.flush()[:cap - total - len(piece) + 1]
            except Exception as exc:  # zlib.error, DecodeError, brotli's and zstd's own errors
                raise undecodable(exc) from None
            if piece:
                total += len(piece)
                if total > cap:
                    raise FetchError("too_large", f"{ex.url[:200]}: body over the cap of {cap} bytes (decoded)")
                parts.append(piece)

        try:
            decoder = content_decoder(coding)
        except urllib3.exceptions.DecodeError as exc:
            raise undecodable(exc) from None
        try:
            while True:
                if time.monotonic() >= end or watchdog.fired:
                    raise FetchError("timeout", f"{ex.url[:200]}: body still arriving at the deadline")
                chunk = resp.read1(CHUNK, decode_content=False)
                if not chunk:
                    if watchdog.fired:
                        raise FetchError("timeout", f"{ex.url[:200]}: body still arriving at the deadline")
                    owed = getattr(resp._fp, "length", None)   # http.client's count of declared bytes to come
                    if owed:
                        raise FetchError("network", f"{ex.url[:200]}: the connection closed {owed} bytes before "
                                                    "the end its Content-Length declares")
                    if decoder is not None:
                        decode(b"", last=True)
                        if wire_total and _cut_short(decoder) and not _footer_only(coding, b"".join(wire_parts)):
                            raise undecodable(ValueError("the compressed stream ends before its end"))
                    return
                wire_total += len(chunk)
                if wire_total > cap:
                    raise FetchError("too_large", f"{ex.url[:200]}: body over the cap of {cap} bytes")
                wire_parts.append(chunk)
                if decoder is not None:
                    decode(chunk)
        except FetchError as exc:
            ex.truncated = {"too_large": "length", "timeout": "time"}.get(exc.kind, "disconnect")
            raise
        except BaseException:
            ex.truncated = "time" if watchdog.fired else "disconnect"
            raise
        finally:
            wire = b"".join(wire_parts)
            if decoder is None:
                ex.body, ex.wire_body = wire, None
            else:
                ex.body, ex.wire_body = b"".join(parts), wire


_QUICKACK = getattr(socket, "TCP_QUICKACK", None)   # Linux


def _ack_at_once(sock: socket.socket | None) -> None:
    """Have the kernel acknowledge the next segments at once instead of delaying the ACK (up to 40 ms;
    Linux, elsewhere nothing). A new connection starts in this quick-ack mode, a reused one has left it:
    a server that writes a response's head and body in two writes with Nagle's algorithm on (Python's
    http.server does) then holds the body until the head is acknowledged, 40 ms per response."""
    if _QUICKACK is not None and sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)


@functools.cache
def _checked_response() -> type[http.client.HTTPResponse]:
    """The class `_CheckedResponse` (made once, on the first connection: it subclasses http.client's)."""
    import http.client
    import ssl

    class _CheckedResponse(http.client.HTTPResponse):
        """http.client's response, noting whether bytes had already arrived past the body's end when it
        was read to that end (``leftover``): they sit in the response's read buffer, which is dropped
        with it, so the socket alone cannot tell. A connection with a leftover is never reused."""

        leftover = True   # until the body was read to its end and nothing followed it

        def __init__(self, sock: socket.socket, *args: object, **kw: object) -> None:
            super().__init__(sock, *args, **kw)  # type: ignore[arg-type]
            self._sock = sock

        def _read_status(self) -> tuple[str, int, str]:
            """The status line of the final answer: an informational one (1xx, RFC 9110 15.2: 102
            Processing, 103 Early Hints, ...) is skipped with its header lines, as http.client skips
            100 Continue alone; 101 is final here (no upgrade is ever asked for)."""
            while True:
                version, status, reason = super()._read_status()  # type: ignore[misc]
                if not 100 < status < 200 or status == 101:
                    return version, status, reason
                for _ in range(http.client._MAXHEADERS + 1):  # type: ignore[attr-defined]
                    line = self.fp.readline(http.client._MAXLINE + 1)  # type: ignore[attr-defined]
                    if len(line) > http.client._MAXLINE:  # type: ignore[attr-defined]
                        raise http.client.LineTooLong("header line")
                    if line in (b"\r\n", b"\n", b""):
                        break
                else:
                    most = http.client._MAXHEADERS  # type: ignore[attr-defined]
                    raise http.client.HTTPException(f"got more than {most} headers")

        def _close_conn(self) -> None:
            fp = self.fp
            if fp is not None and not self.will_close and self.length in (0, None):
                timeout = self._sock.gettimeout()
                try:
                    self._sock.settimeout(0)   # peek what is buffered or already on the socket, never wait
                    self.leftover = bool(fp.peek(1))
                except (BlockingIOError, ssl.SSLWantReadError):
                    self.leftover = False
                except (OSError, ValueError):
                    self.leftover = True
                finally:
                    with contextlib.suppress(OSError):
                        self._sock.settimeout(timeout)
            super()._close_conn()  # type: ignore[misc]

    return _CheckedResponse


def _ended_cleanly(conn: HTTPConnection, resp: urllib3.HTTPResponse) -> bool:
    """Whether `conn` may carry another request: its response was read to its end (Content-Length
    reached, or the chunked coding's last chunk; a body ended by closing never is) with no byte after
    it (``_CheckedResponse.leftover``), the server did not ask to close (``Connection: close``,
    HTTP/1.0 without keep-alive: http.client's ``will_close``, which also closes `conn`), the status
    is a final one other than 101, and nothing is waiting on the socket (the server's close, or
    bytes nobody asked for)."""
    import ssl

    raw = resp._fp   # the http.client response urllib3 wraps
    if not isinstance(raw, _checked_response()) or not raw.isclosed() or raw.will_close or raw.leftover:
        return False
    if resp.status < 200 or resp.status == 101 or conn.sock is None:
        return False
    if isinstance(conn.sock, ssl.SSLSocket) and conn.sock.pending():
        return False
    return conn.is_connected


def _cut_short(decoder: ContentDecoder) -> bool:
    """Whether `decoder` (from `content_decoder`, fed the whole body) stopped inside a compressed
    stream: a gzip body whose first member never ended, a deflate, brotli or zstd stream without its
    end. Read from urllib3's decoders (their ``_obj``, and ``_state`` for gzip, whose later members
    urllib3 reads leniently); a decoder of another shape counts as complete."""
    from urllib3.response import GzipDecoderState

    inner = getattr(decoder, "_decoders", None)   # MultiDecoder: a list of codings
    if inner is not None:
        return any(_cut_short(d) for d in inner)
    obj = getattr(decoder, "_obj", None)
    if obj is None or getattr(decoder, "_state", GzipDecoderState.FIRST_MEMBER) != GzipDecoderState.FIRST_MEMBER:
        return False
    if isinstance(getattr(obj, "eof", None), bool):
        return not obj.eof
    finished = getattr(obj, "is_finished", None)   # brotli's Decompressor
    return callable(finished) and not finished()


def _footer_only(coding: str, wire: bytes) -> bool:
    """Whether a gzip or deflate body that `_cut_short` found unfinished lacks only its checksum
    footer (gzip's CRC-32 and size, zlib's Adler-32): its deflate data ends, so the decoded bytes are
    whole, and browsers show such a body. Its first member's deflate data is inflated again (output
    dropped, 64 KiB at a time), which only such a body pays for."""
    import zlib

    coding = coding.strip().lower()
    if coding in ("gzip", "x-gzip"):
        if wire[:2] != b"\x1f\x8b" or len(wire) < 10:
            return False
        flags, pos = wire[3], 10
        if flags & 4:   # FEXTRA
            pos += 2 + int.from_bytes(wire[pos:pos + 2], "little")
        for flag in (8, 16):   # FNAME, FCOMMENT: zero-terminated
            if flags & flag:
                pos = wire.find(b"\x00", pos) + 1
                if pos == 0:
                    return False
        pos += 2 if flags & 2 else 0   # FHCRC
    elif coding == "deflate":
        pos = 2 if len(wire) > 1 and wire[0] & 0x0F == 8 and (wire[0] << 8 | wire[1]) % 31 == 0 else 0
    else:
        return False
    inflate, rest = zlib.decompressobj(-zlib.MAX_WBITS), wire[pos:]
    try:
        while rest and not inflate.eof:
            inflate.decompress(rest, 1 << 16)
            rest = inflate.unconsumed_tail
    except zlib.error:
        return False
    return inflate.eof


def content_decoder(content_encoding: str | None) -> ContentDecoder | None:
    """urllib3's decoder for a response with this ``Content-Encoding`` header: the codings of its comma
    list (``identity`` left out, at most 5), each in ``HTTPResponse.CONTENT_DECODERS`` (gzip, x-gzip,
    deflate; br and zstd when their libraries are installed), undone last to first. None when there
    is nothing to decode or a coding is not one of those (the body is then kept as received, as
    urllib3 keeps a lone unknown coding; urllib3 itself would undo an unknown coding in a list as
    deflate). urllib3.exceptions.DecodeError for a chain over 5 codings."""
    from urllib3.response import HTTPResponse, _get_decoder

    codings = [c.strip() for c in (content_encoding or "").lower().split(",")]
    codings = [c for c in codings if c and c != "identity"]   # identity is no coding (RFC 9110 8.4.1)
    known = HTTPResponse.CONTENT_DECODERS
    if not codings or not all(c in known for c in codings):
        return None
    return _get_decoder(", ".join(codings))
