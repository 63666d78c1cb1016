"""Which hosts are the article's own site, for politeness (archiver.capture.ratelimit).

A fetch is *own-site* when its host is on the registrable domain of the article being archived
(www.example.co.uk and cdn.example.co.uk are one site; example.co.uk and other.co.uk are not), or is
one of the configured ``own_hosts`` (the site's CDN on another domain: ``media.cdn.example`` or
``*.cdn.example``). The registrable domain comes from the Public Suffix List bundled with the
``publicsuffixlist`` package (read from disk, never fetched), its private section included, so two
users' sites on one shared suffix (foo.github.io, bar.github.io) are two sites. An IP literal is its
own registrable domain, and so is a host the list knows no registrable part of (``localhost``, a
public suffix itself). Ports are ignored: politeness is per machine.

Whose word makes a site the article's own (``trusted_site``, decided once when the plan is made and
stored as ``Plan.own_site``): the article's URL counts only when archiver fetched the page from it
(its final URL after redirects served the article), or when the operator gave it (the CLI, library
callers that say so with ``ArticleInput.url_trusted``), or when its registrable domain is one of the
configured ``own_sites`` (or its host one of ``own_hosts``). A URL merely claimed in an API or webhook
payload that carries its own HTML gives the article no own site. Hosts a provider declares as its
endpoints (oEmbed, syndication, short links, post pages) and the media CDNs it declares
(``ProviderSpec.platform_domains``) are never own-site, whatever the article's URL or the configuration
says (``platform_domains()``; an ``own_hosts``/``own_sites`` entry on one is a config error).

The article being archived reaches the limiter through a context variable set around each item's
capture (``site_scope(plan.own_site)``), so the local runner's threads and the Celery capture tasks
share one stored decision; a thread pool that runs fetches for an item must copy the context
(contextvars.copy_context). No own site: only ``own_hosts`` and ``own_sites`` are own.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from contextvars import ContextVar
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from archiver.providers import registry

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
def site_scope(site: str | None) -> Iterator[None]:
    """Within the block, fetches are for an article whose own site is `site` (a registrable domain or a
    host, as ``Plan.own_site`` stores it; None: no own site, only configured hosts are own)."""
    token = _SITE.set(normal_host(site) or None if site else None)
    try:
        yield
    finally:
        _SITE.reset(token)


def article_site(url: str | None) -> AbstractContextManager[None]:
    """Within the block, fetches are for the article published at `url`, a URL the caller vouches for
    (the page archiver is fetching from it, or one the operator gave); None: an article without one."""
    return site_scope(site_host(url))


def current_site() -> str | None:
    """The own site of the article whose capture is running in this context, or None."""
    return _SITE.get()


# --- platforms: never own-site ------------------------------------------------------------------------
_platforms: tuple[int, frozenset[str]] | None = None


def platform_domains() -> frozenset[str]:
    """The registrable domains of every registered provider's declared hosts (its endpoint settings'
    defaults, short-link hosts, canonical post URLs, and the ``platform_domains`` its file declares: its
    CDNs): never own-site. Recomputed when the registry changes."""
    global _platforms
    gen = registry.generation()
    cached = _platforms
    if cached is not None and cached[0] == gen:
        return cached[1]
    hosts: set[str] = set()
    for spec in registry.providers():
        hosts.update(spec.platform_domains)
        urls = [s.default for s in spec.settings] + [u.canonical or "" for u in spec.urls]
        hosts.update(spec.redirect_hosts)
        for url in urls:
            try:
                host = urlsplit(url).hostname if url.startswith(("http://", "https://")) else None
            except ValueError:
                host = None
            if host and "{" not in host and "}" not in host:
                hosts.add(host)
    found = frozenset(registrable_domain(h) for h in hosts)
    _platforms = (gen, found)
    return found


def is_platform(host: str) -> bool:
    """Whether `host` is on a platform's registrable domain (platform_domains). An IP literal or a single
    label never is (answered without loading the Public Suffix List)."""
    host = normal_host(host)
    if "." not in host or _is_ip(host):
        return False
    return registrable_domain(host) in platform_domains()


# --- configuration ----------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _suffix_parents() -> frozenset[str]:
    """Every rule of the Public Suffix List (wildcard and exception marks dropped) and every domain above
    one: ``*.D`` over such a D would cover some public suffix's registrants (*.amazonaws.com covers
    every s3.amazonaws.com bucket)."""
    out: set[str] = set()
    for rule in _psl()._publicsuffix:  # the parsed rules; publicsuffixlist has no public accessor
        labels = rule.lstrip("!").removeprefix("*.").split(".")
        out.update(".".join(labels[i:]) for i in range(len(labels)))
    return frozenset(out)


def _refuse_platform(raw: str, host: str) -> None:
    if is_platform(host):
        raise ValueError(f"{raw[:200]!r} is a platform's host ({registrable_domain(host)}), never own-site")


def parse_own_hosts(value: str | Iterable[str]) -> tuple[frozenset[str], tuple[str, ...]]:
    """(exact hosts, wildcard suffixes) of an ``own_hosts`` comma list: ``host`` is that host,
    ``*.domain`` any host under domain (not domain itself). Raises ValueError naming the first bad
    entry: not a host name or IP literal, a port or path, a host that is a public suffix (shared by
    many registrants: s3.amazonaws.com), a wildcard over a domain with any public suffix at or under it
    (*.co.uk, *.amazonaws.com, *.github.io), or a platform's host (platform_domains). A string is parsed
    once per process (cached)."""
    if isinstance(value, str):
        return _parse_own_hosts(value)
    return _parse_own_hosts(",".join(value))


@lru_cache(maxsize=8)
def _parse_own_hosts(value: str) -> tuple[frozenset[str], tuple[str, ...]]:
    exact: set[str] = set()
    wild: list[str] = []
    for raw in (p.strip() for p in value.split(",")):
        if not raw:
            continue
        star = raw.startswith("*.")
        host = normal_host(raw[2:] if star else raw)
        ip = _is_ip(host)
        ok = bool(host) and (not star if ip else all(_LABEL.match(lab) for lab in host.split(".")))
        if not ok:
            raise ValueError(f"{raw[:200]!r} is not a host name, an IP address or *.domain")
        if star:
            if "." not in host or host in _suffix_parents() or _psl().is_public(host):
                raise ValueError(f"{raw[:200]!r} covers a public suffix: name the site's own domain")
            wild.append("." + host)
        else:
            if not ip and "." in host and _psl().is_public(host):
                raise ValueError(f"{raw[:200]!r} is a public suffix, shared by many sites")
            exact.add(host)
        _refuse_platform(raw, host)
    return frozenset(exact), tuple(wild)


@lru_cache(maxsize=8)
def parse_own_sites(value: str) -> frozenset[str]:
    """The registrable domains of an ``own_sites`` comma list (the newsroom's sites: every host on one
    is own-site, and an article claimed to be on one has it as its own site). Raises ValueError naming
    the first bad entry: not a host name, not a registrable domain (www.example.com: name example.com),
    or a platform's. Parsed once per process (cached)."""
    out: set[str] = set()
    for raw in (p.strip() for p in value.split(",")):
        if not raw:
            continue
        host = normal_host(raw)
        if not host or _is_ip(host) or "." not in host or not all(_LABEL.match(lab) for lab in host.split(".")):
            raise ValueError(f"{raw[:200]!r} is not a domain name")
        domain = registrable_domain(host)
        if domain != host or _psl().is_public(host):
            hint = f": name {domain}" if domain != host else ""
            raise ValueError(f"{raw[:200]!r} is not a registrable domain{hint}")
        _refuse_platform(raw, host)
        out.add(host)
    return frozenset(out)


class OwnSites:
    """Decides whether a fetched host is own-site for the current article (module docstring)."""

    def __init__(self, own_hosts: str | Iterable[str] = "", own_sites: str = "") -> None:
        self.exact, self.wild = parse_own_hosts(own_hosts)
        self.sites = parse_own_sites(own_sites)

    def is_own(self, host: str, site: str | None = None) -> bool:
        """True when `host` is a configured own host, on a configured own site, or on the registrable
        domain of `site` (default: the current article's own site, current_site()); never for a
        platform's host (platform_domains)."""
        host = normal_host(host)
        # Configured hosts and sites are never a platform's (refused when configured).
        if host in self.exact or host.endswith(self.wild) or (self.sites and registrable_domain(host) in self.sites):
            return True
        site = current_site() if site is None else normal_host(site)
        if not site or not (host == site or registrable_domain(host) == registrable_domain(site)):
            return False
        return not is_platform(host)

    def trusted_site(self, url: str | None, *, trusted: bool) -> str | None:
        """The own site of an article published at `url`, as a plan stores it: the registrable domain of
        its host when the URL is `trusted` (archiver fetched the article from it, or the operator gave
        it) or that domain is a configured own site; else None, as for a platform's host."""
        host = site_host(url)
        if not host:
            return None
        domain = registrable_domain(host)
        if is_platform(host) or not (trusted or domain in self.sites):
            return None
        return domain
