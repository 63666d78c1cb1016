"""The safe fetcher: the one way any capture talks to the outside world.

Article pages, tweets and images are chosen by whoever wrote the article, so every URL is hostile
until checked: the host is resolved once, every address it resolves to must be globally routable
(or listed in ARCHIVER_FETCH_ALLOW), and the connection goes to the very address that was checked,
with Host, SNI and certificate checks still made for the real name. Redirects are followed here,
hop by hop, each hop checked again. Every request has connect/read timeouts and a wall-clock
deadline enforced by a watchdog that cuts the socket, and a streamed cap on decoded bytes. Each
exchange is recorded for the manifest and the WARC.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import http.client
import ipaddress
import json
import random
import re
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import certifi
import urllib3
from requests.structures import CaseInsensitiveDict
from requests.utils import requote_uri
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.util.request import ACCEPT_ENCODING
from urllib3.util.ssl_ import create_urllib3_context

from archiver.capture.ratelimit import HostLimiter, LimiterTimeout, LocalHostLimiter
from archiver.config.settings import Settings
from archiver.errors import ConfigError
from archiver.metrics import observe_fetch

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK = 64 * 1024
# Hosts as they may appear in a URL once IDNA-encoded; anything else is refused before resolving.
_HOST_RE = re.compile(r"^[a-z0-9_]([a-z0-9_.-]{0,252})$")
# Headers that must not follow a redirect to another host.
_PRIVATE_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
# DNS has no timeout of its own: lookups run here so the caller's deadline still holds.
_resolver = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="resolve")


@dataclass
class Exchange:
    """One HTTP request and its response (each redirect hop and each retry is its own)."""

    method: str
    url: str
    request_headers: dict[str, str]
    status: int | None = None
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    http_version: str = "HTTP/1.1"
    resolved_ip: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    elapsed_ms: float = 0.0
    body: bytes = b""
    error: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


@dataclass
class Response:
    url: str
    final_url: str
    status: int
    headers: Mapping[str, str]
    body: bytes
    exchanges: list[Exchange]

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise FetchError("bad_response", f"{self.final_url}: invalid JSON ({exc})",
                             self.exchanges) from None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


RETRYABLE_KINDS = frozenset({"timeout", "network"})


class FetchError(Exception):
    """A fetch that produced no usable response; `kind` says why, str() says it in one line."""

    def __init__(self, kind: str, message: str, exchanges: list[Exchange] | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retryable = kind in RETRYABLE_KINDS
        self.exchanges: list[Exchange] = exchanges if exchanges is not None else []


# --- the address guard ------------------------------------------------------------------------
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


@dataclass(frozen=True)
class _Allow:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    host: str | None
    port: int | None

    def matches(self, host: str, ip: IPAddress, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.network is not None:
            return ip in self.network
        return self.host == host


def parse_allow(entries: list[str]) -> list[_Allow]:
    """ARCHIVER_FETCH_ALLOW entries: host, host:port, IP, IP:port, [IPv6]:port or CIDR."""
    rules = []
    for raw in entries:
        entry = raw.strip().lower()
        try:
            rules.append(_Allow(ipaddress.ip_network(entry, strict=False), None, None))
            continue
        except ValueError:
            pass
        host, port = entry, None
        m = re.fullmatch(r"\[([0-9a-f:.]+)\](?::(\d+))?|([^:\[\]]+):(\d+)", entry)
        if m:
            host = m.group(1) or m.group(3)
            port = int(m.group(2) or m.group(4)) if (m.group(2) or m.group(4)) else None
        try:
            ip = ipaddress.ip_address(host)
            rules.append(_Allow(ipaddress.ip_network(ip), None, port))
        except ValueError:
            rules.append(_Allow(None, host.rstrip("."), port))
    return rules


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
    if scheme not in ("http", "https"):
        raise FetchError("refused", f"only http and https are fetched, not {scheme or 'none'!r}: {url[:200]}")
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
    return scheme, host, port or (443 if scheme == "https" else 80), requote_uri(path)


def _resolve(host: str, port: int, timeout: float) -> list[IPAddress]:
    literal = _literal_address(host)
    if literal is not None:
        return [literal]
    future = _resolver.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        infos = future.result(timeout=max(0.01, timeout))
    except concurrent.futures.TimeoutError:
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


# --- the fetcher --------------------------------------------------------------------------------
class _Watchdog:
    """Cuts a socket when the deadline passes, whatever the socket is blocked on."""

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self.sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, seconds), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket | None) -> None:
        with self._lock:
            self.sock = sock
            if self.fired:
                self._cut()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            self._cut()

    def _cut(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


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
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


class Fetcher:
    """GET with the address guard, limits, politeness, retries and exchange records."""

    def __init__(self, settings: Settings, limiter: HostLimiter | None = None) -> None:
        self.settings = settings
        self.limiter: HostLimiter = limiter or LocalHostLimiter.from_settings(settings)
        # An absolute time.monotonic() no request may outlive (the local runner's overall deadline).
        self.deadline_at: float | None = None
        self._ssl_context = create_urllib3_context()
        bundle = settings.fetch_ca_bundle or certifi.where()
        try:
            self._ssl_context.load_verify_locations(bundle)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"fetch_ca_bundle {bundle!r} is not a readable PEM bundle: {exc}") from None

    def close(self) -> None:
        """Nothing is pooled; kept so callers can release the fetcher the same way in every mode."""

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
        exchanges: list[Exchange] = []
        extra = dict(headers or {})
        current = url
        for hop in range(self.settings.fetch_max_redirects + 1):
            ex = self._with_retries(current, extra, cap, end, exchanges)
            resp_headers = CaseInsensitiveDict(ex.response_headers)
            location = resp_headers.get("location")
            assert ex.status is not None
            if not (follow_redirects and ex.status in REDIRECT_STATUSES and location):
                return Response(url, current, ex.status, resp_headers, ex.body, exchanges)
            if hop == self.settings.fetch_max_redirects:
                break
            previous, current = current, urljoin(current, location.strip())
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
        target = resolve_target(url, self.settings,
                                timeout=min(remaining, self.settings.fetch_connect_timeout))
        req_headers = {"Host": target.host_header, "User-Agent": self.settings.user_agent,
                       "Accept": "*/*", "Accept-Encoding": ACCEPT_ENCODING, "Connection": "close"}
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
        if target.scheme == "https":
            conn: HTTPConnection = HTTPSConnection(
                ip, target.port, timeout=timeout, server_hostname=target.host,
                ssl_context=self._ssl_context, cert_reqs="CERT_REQUIRED")
        else:
            conn = HTTPConnection(ip, target.port, timeout=timeout)
        conn.connect()
        return conn

    def _talk(self, target: Target, ex: Exchange, cap: int, end: float) -> None:
        s = self.settings
        watchdog = _Watchdog(end - time.monotonic())
        conn: HTTPConnection | None = None
        resp = None
        try:
            errors = []
            for ip in target.addresses:
                try:
                    timeout = min(s.fetch_connect_timeout, max(0.01, end - time.monotonic()))
                    conn = self._connect(target, ip, timeout)
                    ex.resolved_ip = ip
                    break
                except (OSError, urllib3.exceptions.HTTPError) as exc:
                    errors.append(f"{ip}: {exc}")
                    if watchdog.fired:
                        break
            if conn is None or conn.sock is None:
                if watchdog.fired:
                    raise FetchError("timeout", f"connecting to {target.host} took too long")
                raise FetchError("network", f"cannot connect to {target.host}: {'; '.join(errors)[:300]}")
            watchdog.watch(conn.sock)
            conn.timeout = min(s.fetch_read_timeout, max(0.01, end - time.monotonic()))
            conn.request("GET", target.path, headers=ex.request_headers, preload_content=False,
                         decode_content=True, enforce_content_length=False)
            resp = conn.getresponse()
            ex.status = resp.status
            ex.http_version = {10: "HTTP/1.0", 11: "HTTP/1.1", 20: "HTTP/2"}.get(resp.version, "HTTP/1.1")
            ex.response_headers = list(resp.headers.items())
            declared = resp.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > cap and resp.headers.get("content-encoding") is None:
                raise FetchError("too_large",
                                 f"{target.url[:200]} declares {declared} bytes, over the cap of {cap}")
            self._read_body(resp, ex, cap, end, watchdog)
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
            watchdog.cancel()
            if resp is not None:
                resp.release_conn()
                resp.close()
            if conn is not None:
                conn.close()

    @staticmethod
    def _read_body(resp: urllib3.HTTPResponse, ex: Exchange, cap: int, end: float,
                   watchdog: _Watchdog) -> None:
        """Decoded body into ex.body, chunk by chunk: cut (kept truncated) past the cap or the deadline."""
        parts: list[bytes] = []
        total = 0
        try:
            while True:
                if time.monotonic() >= end or watchdog.fired:
                    raise FetchError("timeout", f"{ex.url[:200]}: body still arriving at the deadline")
                chunk = resp.read1(CHUNK)
                if not chunk:
                    if watchdog.fired:
                        raise FetchError("timeout", f"{ex.url[:200]}: body still arriving at the deadline")
                    return
                total += len(chunk)
                if total > cap:
                    raise FetchError("too_large", f"{ex.url[:200]}: body over the cap of {cap} bytes")
                parts.append(chunk)
        finally:
            ex.body = b"".join(parts)
