"""The address guard: which URLs may be fetched, and at which addresses.

Article pages, tweets and images are chosen by whoever wrote the article, so every URL is hostile
until checked: it must be http(s) without credentials, its host is resolved once (within the
caller's deadline), and every address it resolves to must be globally routable or listed in
ARCHIVER_FETCH_ALLOW. The fetcher (fetch.py) connects to the very addresses checked here, on every
redirect hop; the health callback checks its CMS URL here too.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import os
import queue
import re
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from archiver.capture.exchange import FetchError
from archiver.config.settings import Settings, parse_allow
from archiver.lazyre import lazy

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Hosts as they may appear in a URL once IDNA-encoded; anything else is refused before resolving.
_HOST_RE = re.compile(r"^[a-z0-9_]([a-z0-9_.-]{0,252})$")


class _Resolver:
    """Runs lookups (``submit(fn, *args)`` -> Future) in up to `size` daemon threads, started as
    needed and kept. DNS has no timeout of its own: the caller waits for the future only until its
    deadline, and a lookup that never returns holds neither the caller nor the process's end (a
    ThreadPoolExecutor's threads are joined when the interpreter exits, so one hung lookup kept a
    finished `archiver archive` from exiting, and its idle threads kept the CLI from ending quickly)."""

    def __init__(self, size: int = 8) -> None:
        self._size = size
        self._jobs: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0   # started, all alive (they never end)
        self._idle = 0      # waiting for a job no one has claimed yet
        self._queued = 0    # jobs waiting for a busy thread to finish

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """A future of ``fn(*args)``: an idle thread takes it, else a new one (below `size`), else the
        first thread to finish."""
        future: Future[Any] = Future()
        with self._lock:
            if self._idle:
                self._idle -= 1
                queued = True
            elif self._threads < self._size and self._spawn():
                queued = True
            elif self._threads:
                self._queued += 1
                queued = True
            else:   # no thread, and none to be had (a process or thread limit)
                queued = False
            if queued:
                self._jobs.put((future, fn, args))
                return future
        # Run here, untimed: better than failing every lookup while the machine is out of threads.
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # the caller's to see, as from a thread
            future.set_exception(exc)
        return future

    def _spawn(self) -> bool:
        """Start one more thread (caller holds the lock); False when none can be had."""
        try:
            threading.Thread(target=self._work, name=f"resolve-{self._threads + 1}", daemon=True).start()
        except RuntimeError:   # "can't start new thread"
            return False
        self._threads += 1
        return True

    def _work(self) -> None:
        while True:
            future, fn, args = self._jobs.get()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except BaseException as exc:  # the caller's to see, as from an executor
                    future.set_exception(exc)
            with self._lock:
                if self._queued:
                    self._queued -= 1   # the next job is this thread's
                else:
                    self._idle += 1


_resolver = _Resolver()


def _new_resolver() -> None:
    """A forked child gets a resolver of its own: it inherits none of the parent's threads, yet the
    parent's would count its idle ones as ready and queue the child's first lookup to nobody."""
    global _resolver
    _resolver = _Resolver()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_resolver)


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect and what to say."""

    url: str
    scheme: str
    host: str          # the name as sent in Host/SNI (IDNA, lower case, no brackets)
    port: int
    path: str          # path + query, as sent on the request line
    addresses: tuple[str, ...]   # every address the host resolved to, all checked

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return name if self.port == default else f"{name}:{self.port}"


def address_refusal(ip: IPAddress) -> str | None:
    """Why this address may not be fetched, or None when it is globally routable."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return f"{ip} is an IPv4-mapped IPv6 address"
    checks = (
        ("loopback", ip.is_loopback), ("unspecified", ip.is_unspecified),
        ("link-local", ip.is_link_local), ("multicast", ip.is_multicast), ("reserved", ip.is_reserved),
        ("shared address space (100.64/10)", isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT),
        ("private", ip.is_private), ("site-local", getattr(ip, "is_site_local", False)),
        ("not globally routable", not ip.is_global),
    )
    for name, hit in checks:
        if hit:
            return f"{ip} is {name}"
    if isinstance(ip, ipaddress.IPv6Address):
        # Addresses that carry an IPv4 address inside (6to4, NAT64, IPv4-compatible) answer for it.
        embedded = ip.sixtofour or (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
                                    if ip in _NAT64 or int(ip) >> 32 == 0 else None)
        if embedded is not None and address_refusal(embedded):
            return f"{ip} embeds the non-public address {embedded}"
    return None


_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


# The allow-list parser (parse_allow) lives with the settings, which validate ARCHIVER_FETCH_ALLOW with
# it when they load (a mistyped entry is a configuration error at start, not at the first fetch).


def _literal_address(host: str) -> IPAddress | None:
    """The address a numeric host stands for, read the way the C resolver reads it
    (2130706433, 0177.0.0.1, 0x7f.1 and 127.1 are all 127.0.0.1)."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise FetchError("bad_url", f"{host!r} is not a valid IPv6 address") from None
    if re.fullmatch(r"[0-9a-fx.]+", host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def parse_target(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of an http(s) URL, or FetchError('bad_url')."""
    if not isinstance(url, str) or len(url) > 8192 or any(c in url for c in "\x00\r\n\t "):
        raise FetchError("bad_url", f"not a usable URL: {str(url)[:200]!r}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchError("bad_url", f"not a usable URL: {url[:200]!r} ({exc})") from None
    scheme = parts.scheme.lower()
    if not scheme:
        raise FetchError("refused", "only http and https are fetched, not a relative URL with no address to resolve "
                                    f"it against (give the article's --base-url, or archive it by URL): {url[:200]}")
    if scheme not in ("http", "https"):
        raise FetchError("refused", f"only http and https are fetched, not {scheme!r}: {url[:200]}")
    if parts.username is not None or parts.password is not None:
        raise FetchError("refused", f"URLs with credentials are not fetched: {parts.hostname}")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise FetchError("bad_url", f"no host in {url[:200]!r}")
    if ":" not in host:
        try:
            host = host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise FetchError("bad_url", f"invalid host name {host[:100]!r}") from None
        if not _HOST_RE.match(host):
            raise FetchError("bad_url", f"invalid host name {host[:100]!r}")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, host, port or (443 if scheme == "https" else 80), request_target(path)


# What a request-target's path and query keep as they are (RFC 3986 §2.2 reserved characters, §2.3
# unreserved ones, which quote() keeps anyway, and "%": an escape's, once every other "%" is encoded).
_TARGET_SAFE = "!#$%&'()*+,/:;=?@[]~"
_NOT_AN_ESCAPE = lazy(r"%(?![0-9A-Fa-f]{2})")


def request_target(path: str) -> str:
    """`path` (with its "?query") as sent on the request line: every character a URL may not hold as
    it is (a space, a control, a non-ASCII letter, ``"<>\\^`{|}``) percent-encoded as UTF-8
    (RFC 3986 §2.1), the escapes already there kept as they are, and each "%" that starts no escape
    encoded itself ("100%" -> "100%25", "%zz" -> "%25zz"; requests' ``requote_uri`` did the same for
    "%zz", browsers send such a "%" raw, which RFC 3986 does not allow). FetchError('bad_url') for text
    that has no UTF-8 form (a lone surrogate)."""
    try:
        return quote(_NOT_AN_ESCAPE.sub("%25", path), safe=_TARGET_SAFE)
    except UnicodeEncodeError:
        raise FetchError("bad_url", f"not a usable URL path: {path[:200]!r}") from None


def _resolve(host: str, port: int, timeout: float) -> list[IPAddress]:
    literal = _literal_address(host)
    if literal is not None:
        return [literal]
    future = _resolver.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        infos = future.result(timeout=max(0.01, timeout))
    except concurrent.futures.TimeoutError:
        future.cancel()   # still queued: dropped, so later lookups do not wait behind abandoned ones
        raise FetchError("timeout", f"resolving {host} took too long") from None
    except (OSError, UnicodeError) as exc:
        raise FetchError("network", f"cannot resolve {host}: {exc}") from None
    addresses: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise FetchError("network", f"{host} has no address")
    return addresses


def resolve_target(url: str, settings: Settings, timeout: float | None = None) -> Target:
    """Parse, resolve and check a URL; every address must pass (no mixed public/private answers)."""
    scheme, host, port, path = parse_target(url)
    allow = parse_allow(settings.fetch_allow_list)
    addresses = _resolve(host, port, settings.fetch_connect_timeout if timeout is None else timeout)
    for ip in addresses:
        reason = address_refusal(ip)
        if reason and not any(rule.matches(host, ip, port) for rule in allow):
            raise FetchError("refused", f"refused {url[:200]}: {reason} (port {port})")
    return Target(url, scheme, host, port, path, tuple(str(ip) for ip in addresses))


def normalize_url(url: str) -> str:
    """The key under which a URL is fetched once: scheme and host lower-cased, the scheme's default
    port and the fragment dropped; user info, path and query exactly as given. A URL that does not
    parse is returned as it is."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    userinfo, at, _ = parts.netloc.rpartition("@")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != {"http": 80, "https": 443}.get(scheme):
        host += f":{port}"
    return urlunsplit((scheme, userinfo + at + host, parts.path, parts.query, ""))


def check_url(url: str, settings: Settings) -> None:
    """The address guard alone: raises FetchError('refused' or 'bad_url') for what may not be fetched."""
    resolve_target(url, settings)
