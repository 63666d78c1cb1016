"""Post URL recognition: one place that turns any URL variant of any registered provider into
(provider, post id, canonical URL).

Discovery uses it on links found in embed markup and on bare URL lines; providers use it to
canonicalize what they are given. The patterns themselves live in the provider modules
(``PROVIDER.urls``); each is anchored and free of nested quantifiers, so a hostile string costs time
linear in its length.
"""

from __future__ import annotations

import re
from contextlib import suppress
from urllib.parse import parse_qs, parse_qsl, urlsplit

from archiver.discover import constructs
from archiver.lazyre import lazy
from archiver.providers.base import PostMatch

__all__ = ["PostMatch", "handle_in_url", "is_short_link", "match_post_url", "normalize", "post_in_query", "query"]

_MAX_URL = 8192


def normalize(url: str) -> str:
    """``url`` stripped, a protocol-relative ``//host/...`` made https, and a host in another script (an
    internationalized domain name, as a Mastodon server may have) in its ASCII form, as a browser
    sends it (IDNA, the same ``str.encode("idna")`` the address guard uses): patterns match ASCII
    hosts. A host IDNA refuses is left as written (it then names no post)."""
    url = url.strip()
    if url.startswith("//"):
        url = "https:" + url
    if not url.isascii():
        m = _HOST.match(url)
        if m and not m.group(2).isascii():
            with suppress(UnicodeError):
                url = url[:m.start(2)] + m.group(2).encode("idna").decode("ascii") + url[m.end(2):]
    return url


# The scheme and the host of an http(s) URL without credentials (a port may follow the host).
_HOST = lazy(r"(https?://)([^/?#:@\s\[\]]{1,253})(?=[/?#:]|$)", re.I)


def match_post_url(url: str, provider: str | None = None) -> PostMatch | None:
    """Recognize a post URL: (provider, post_id, canonical url) or None. With ``provider``, only that
    provider's spellings are tried.

    A share link that hides its post until followed (a provider's ``short_links``) gives
    (provider, None, the short link as written, stripped). Profiles, timelines, hashtags, intents and
    other non-post URLs give None.
    """
    if not isinstance(url, str) or not url or len(url) > _MAX_URL:
        return None
    url = normalize(url)
    if url[:4].lower() != "http" and not url.lower().startswith("at://"):
        return None
    tables = constructs.current()
    for name, spelling in tables.post_urls:
        if provider is not None and name != provider:
            continue
        m = spelling.pattern.match(url)
        if m:
            found = spelling.read(m)
            if found and (found[0] is None or found[0].isascii()):  # ids are ASCII as issued:
                # a pattern's \d and \w also take other scripts' digits and letters (full-width
                # "１７６４", "ééé"), which name no post
                return name, found[0], found[1]
    for name, pattern in tables.short_links:
        if (provider is None or name == provider) and pattern.match(url):
            return name, None, url
    return None


def is_short_link(found: PostMatch | None) -> bool:
    """True when ``found`` is a share link whose post id is known only once it is followed."""
    return found is not None and found[1] is None


def handle_in_url(found: PostMatch | None) -> str | None:
    """The account name a canonical post URL carries, if its provider declares where (``handle_in_url``)."""
    if not found or not found[2]:
        return None
    pattern = constructs.current().handles.get(found[0])
    m = pattern.search(found[2]) if pattern is not None else None
    return m.group(1) if m else None


def query(url: str) -> dict[str, list[str]]:
    """The URL's query parameters ({} when it cannot be split)."""
    try:
        return parse_qs(urlsplit(url).query)
    except ValueError:
        return {}


def _pairs(url: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(urlsplit(url).query)
    except ValueError:
        return []


def post_in_query(url: str) -> PostMatch | None:
    """The post a player proxy shows: a post URL percent-encoded in a query parameter of ``url``
    (absolute, protocol-relative or relative: Drupal's ``/media/oembed?url=https%3A//youtu…``,
    Embedly's ``//cdn.embedly.com/widgets/media.html?url=…``, iframely, noembed), or None.

    A platform's own widget URL is read by that platform's spellings alone (``match_post_url``): a
    like button, share button or comment box on the platform's host names a post it does not show, so
    a post on the same registrable domain as ``url``, as written or canonical (``facebook.com/plugins/
    like.php?href=<a facebook post>``, ``platform.twitter.com/…?url=<an x.com status>``), is not taken.
    Costs nothing for a URL without an encoded URL in its query.
    """
    if not isinstance(url, str) or len(url) > _MAX_URL:
        return None
    mark = url.find("?")
    if mark < 0:
        return None
    low = url.lower()
    if "%3a" not in low and "http" not in low[mark:] and "at:" not in low[mark:]:
        return None
    for _, value in _pairs(url):
        value = value.strip()
        if not value.lower().startswith(("http", "//", "at://")):
            continue
        found = match_post_url(value)
        if found and found[1] and not _same_site(url, value) and not _same_site(url, found[2] or value):
            return found
    return None


def _same_site(outer: str, inner: str) -> bool:
    """Whether ``outer`` (which may be relative) is on the registrable domain of ``inner`` (by its last
    two host labels: ``platform.twitter.com`` and ``twitter.com``)."""
    try:
        outer_host = (urlsplit(normalize(outer)).hostname or "").lower()
        inner_host = (urlsplit(normalize(inner)).hostname or "").lower()
    except ValueError:
        return False
    return bool(outer_host) and outer_host.split(".")[-2:] == inner_host.split(".")[-2:]

