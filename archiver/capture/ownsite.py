"""Which hosts are the article's own site, for politeness (archiver.capture.ratelimit).

A fetch is *own-site* when its host is on the registrable domain of the article being archived
(www.example.co.uk and cdn.example.co.uk are one site; example.co.uk and other.co.uk are not), or is
one of the configured ``own_hosts`` (the site's CDN on another domain: ``media.cdn.example`` or
``*.cdn.example``). The registrable domain comes from the Public Suffix List bundled with the
``publicsuffixlist`` package (read from disk, never fetched), its private section included, so two
users' sites on one shared suffix (foo.github.io, bar.github.io) are two sites. An IP literal is its
own registrable domain, and so is a host the list knows no registrable part of (``localhost``, a
public suffix itself). Ports are ignored: politeness is per machine.

The article being archived reaches the limiter through a context variable set around each item's
capture (``article_site``), so the local runner's threads and the Celery capture tasks share one
rule; a thread pool that runs fetches for an item must copy the context (contextvars.copy_context).
No article URL, no own site: only ``own_hosts`` are own.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Iterable

_SITE: ContextVar[str | None] = ContextVar("archiver_article_site", default=None)
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normal_host(host: str) -> str:
    """`host` as the limiter keys it: lower case, IDNA (punycode) for a Unicode name, no brackets, no
    trailing dot. A name IDNA cannot encode is returned lower-cased as it is."""
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host.isascii():
        with suppress(UnicodeError):
            host = host.encode("idna").decode("ascii")
    return host


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=1)
def _psl() -> Any:
    """The bundled Public Suffix List, parsed once per process (about 50 ms), only when two hosts differ."""
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


@lru_cache(maxsize=4096)
def registrable_domain(host: str) -> str:
    """The registrable domain of `host` (www.example.co.uk -> example.co.uk); an IP literal, a single
    label or a public suffix itself is its own. `host` is normalised first (normal_host)."""
    host = normal_host(host)
    if not host or _is_ip(host) or "." not in host:
        return host
    return _psl().privatesuffix(host) or host


def site_host(url: str | None) -> str | None:
    """The host of the article URL `url` (normal_host, port dropped), or None without a usable one."""
    if not url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return normal_host(host) if host else None


@contextmanager
def article_site(url: str | None) -> Iterator[None]:
    """Within the block, fetches are for the article published at `url` (None: an article without a URL)."""
    token = _SITE.set(site_host(url))
    try:
        yield
    finally:
        _SITE.reset(token)


def current_site() -> str | None:
    """The host of the article whose capture is running in this context, or None."""
    return _SITE.get()


def parse_own_hosts(value: str | Iterable[str]) -> tuple[frozenset[str], tuple[str, ...]]:
    """(exact hosts, wildcard suffixes) of an ``own_hosts`` comma list: ``host`` is that host,
    ``*.domain`` any host under domain (not domain itself). Raises ValueError naming the first bad
    entry: not a host name or IP literal, a port or path, or a wildcard over a public suffix (*.co.uk)."""
    parts = value.split(",") if isinstance(value, str) else list(value)
    exact: set[str] = set()
    wild: list[str] = []
    for raw in (p.strip() for p in parts):
        if not raw:
            continue
        star = raw.startswith("*.")
        host = normal_host(raw[2:] if star else raw)
        ok = bool(host) and (not star if _is_ip(host) else all(_LABEL.match(lab) for lab in host.split(".")))
        if not ok:
            raise ValueError(f"{raw[:200]!r} is not a host name, an IP address or *.domain")
        if star:
            if "." not in host or _psl().is_public(host):
                raise ValueError(f"{raw[:200]!r} covers a public suffix: name the site's own domain")
            wild.append("." + host)
        else:
            exact.add(host)
    return frozenset(exact), tuple(wild)


class OwnSites:
    """Decides whether a fetched host is own-site for the current article (module docstring)."""

    def __init__(self, own_hosts: str | Iterable[str] = "") -> None:
        self.exact, self.wild = parse_own_hosts(own_hosts)

    def is_own(self, host: str, site: str | None = None) -> bool:
        """True when `host` is a configured own host, or on the registrable domain of `site` (default:
        the current article's host, current_site())."""
        host = normal_host(host)
        if host in self.exact or host.endswith(self.wild):
            return True
        site = current_site() if site is None else normal_host(site)
        if not site:
            return False
        return host == site or registrable_domain(host) == registrable_domain(site)
