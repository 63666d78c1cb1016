"""Share links that hide their post until followed (``https://vt.tiktok.com/ZSTD5bW7/``,
``https://www.reddit.com/r/x/s/cv5XKIpUIr``, ``https://www.facebook.com/share/p/1BxRgPHRBn/``,
``fb.watch``, Instagram's ``/share/``), for every provider that declares them
(``ProviderSpec.short_links``).

Discovery takes such a link as an embed with no post id. At capture time the link is asked for its
redirects through the safe fetcher, one hop at a time and never followed into the post's page: the
first ``Location`` that is one of the provider's post URLs names the post. No page body is kept (a
hop that answers with a page instead of a redirect has its body dropped before the exchanges go to
the WARC). The provider's own capture then captures the resolved post, and the manifest records
both URLs in a ``shortlink`` source (``short_url``, every ``redirects`` hop, ``resolved_url``,
``post_url``, ``post_id``). A link that does not lead to a post keeps what the article showed:
``unresolved``, or ``unavailable`` (retried) when the link's host did not answer.

Where a link is asked is the ``shortlink_url`` setting, a template over the link's ``{host}`` and
``{path}`` (its path and query): ``https://{host}{path}`` asks the link itself; tests and the demo
point it at the fixture origin. Twitter's t.co links are resolved by the Twitter capture itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from archiver.providers.base import CaptureContext, CapturedPost, Occurrence, Provider, ProviderSpec
from archiver.providers.markup import MARKUP_SOURCE, MarkupProvider
from archiver.providers.sources import Fetched, get

if TYPE_CHECKING:
    from archiver.capture.exchange import Exchange

SOURCE = "shortlink"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_HOST = re.compile(r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+")
_MAX_URL = 4096


def is_short_link(spec: ProviderSpec, url: str | None) -> bool:
    """True when ``url`` is one of ``spec``'s share links (``short_links``)."""
    return bool(url) and len(url or "") <= _MAX_URL and any(p.match(url or "") for p in spec.short_links)


def post_of(spec: ProviderSpec, url: str) -> tuple[str, str | None] | None:
    """(post id, canonical URL or None) when ``url`` is one of ``spec``'s post URLs, else None."""
    if not url or len(url) > _MAX_URL:
        return None
    for spelling in spec.urls:
        m = spelling.pattern.match(url)
        found = spelling.read(m) if m else None
        if found:
            return found
    return None


def ask_url(template: str, url: str) -> str | None:
    """The URL that asks ``url`` for its redirect (``shortlink_url`` filled in); None when ``url`` is
    not an http(s) URL with a plain host name."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if parts.scheme.lower() not in ("http", "https") or not _HOST.fullmatch(host):
        return None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return template.replace("{host}", host).replace("{path}", path)


def _without_bodies(exchanges: Sequence[Exchange]) -> list[Exchange]:
    """The exchanges with the body of every answer that is not a redirect dropped (a page's body is
    never kept; a redirect's few bytes are)."""
    for ex in exchanges:
        if ex.status not in _REDIRECTS:
            ex.drop_body()
    return list(exchanges)


def resolve(ctx: CaptureContext, spec: ProviderSpec, short_url: str) -> tuple[tuple[str, str | None] | None, Fetched]:
    """Follow ``short_url``'s redirects, one hop at a time (at most ``fetch_max_redirects``), until a
    ``Location`` is one of ``spec``'s post URLs: ((post id, canonical URL or None) or None, the
    ``shortlink`` source). Its outcome: ok, no_post (a page, or a redirect chain that never names a
    post), bad_url, or what ``sources.get`` made of a hop (not_found, forbidden, error; network,
    rate_limited, server_error and bad_response are transient). Never raises for remote trouble."""
    data: dict[str, Any] = {"short_url": short_url, "redirects": [], "resolved_url": None, "post_url": None,
                            "post_id": None}
    source = Fetched(SOURCE, "no_post", data=data, url=short_url)
    current = short_url
    for _ in range(max(1, ctx.settings.fetch_max_redirects)):
        asked = ask_url(str(ctx.settings.shortlink_url), current)
        if asked is None:
            source.outcome, source.error = "bad_url", f"shortlink: cannot ask {current[:200]} for its redirect"
            return None, source
        resp, fetched = get(ctx, SOURCE, asked, kind="html", follow_redirects=False)
        source.exchanges += _without_bodies(fetched.exchanges)
        if resp is None or fetched.outcome != "ok":
            source.outcome = fetched.outcome
            source.error = fetched.error or f"shortlink: {current[:200]} answered HTTP {resp.status if resp else '?'}"
            return None, source
        location = (resp.headers.get("location") or "").strip()
        if resp.status not in _REDIRECTS or not location:
            source.error = f"shortlink: {current[:200]} answered HTTP {resp.status} without a redirect to a post"
            return None, source
        current = urljoin(current, location)
        data["redirects"].append(current)
        found = post_of(spec, current)
        if found:
            source.outcome = "ok"
            data.update(resolved_url=current, post_url=found[1] or current, post_id=found[0])
            return found, source
    source.error = f"shortlink: {short_url[:200]} did not lead to a post of {spec.name} in " \
                   f"{len(data['redirects'])} redirects"
    return None, source


class ShortLinkCapture:
    """A provider's capture with its share links resolved first (``registry.get_provider`` wraps the
    capture of every provider that declares ``short_links``); anything else goes to ``inner`` as is."""

    def __init__(self, spec: ProviderSpec, inner: Provider) -> None:
        self.spec = spec
        self.inner = inner
        self.name = spec.name

    def capture(self, occurrences: Sequence[Occurrence], ctx: CaptureContext) -> CapturedPost:
        """``Provider.capture``: a post whose occurrences are all share links without an id is
        resolved, then captured by ``inner`` under its own id and URL; the ``shortlink`` source and
        its exchanges are added and the publisher's markup source still says what the article showed
        (the short link). Never raises for remote trouble; stores nothing."""
        short = None
        if occurrences and not any(o.embed.post_id for o in occurrences):
            short = next((o.embed.url for o in occurrences if is_short_link(self.spec, o.embed.url)), None)
        if short is None:
            return self.inner.capture(occurrences, ctx)
        found, source = resolve(ctx, self.spec, short)
        if found is None:
            return self._unresolved(occurrences, ctx, source)
        post_id, url = found[0], found[1] or source.data["resolved_url"]
        resolved = [replace(o, embed=replace(o.embed, post_id=post_id, url=url)) for o in occurrences]
        captured = self.inner.capture(resolved, ctx)
        captured.exchanges[:0] = source.exchanges
        m = captured.manifest
        if m is not None:
            for entry in m.sources:
                if entry.name == MARKUP_SOURCE and entry.data is not None:
                    entry.data = {**entry.data, "post_id": occurrences[0].embed.post_id,
                                  "url": occurrences[0].embed.url}
            at = next((i + 1 for i, entry in enumerate(m.sources) if entry.name == MARKUP_SOURCE), 0)
            m.sources.insert(at, source.entry(source.data))
        return captured

    def _unresolved(self, occurrences: Sequence[Occurrence], ctx: CaptureContext, source: Fetched) -> CapturedPost:
        """What the article showed, filed as unresolved (unavailable when the link may answer later)."""
        captured = MarkupProvider(self.name).capture(occurrences, ctx)
        captured.exchanges[:0] = source.exchanges
        m = captured.manifest
        if m is not None:
            m.sources.append(source.entry(source.data))
            if source.transient:
                m.status, m.error = "unavailable", f"the short link did not answer; try again ({source.error})"
            else:
                m.status, m.error = "unresolved", source.error or "the short link did not lead to a post"
        return captured
