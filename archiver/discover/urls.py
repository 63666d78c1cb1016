"""Post URL recognition: one place that turns any URL variant of any registered provider into
(provider, post id, canonical URL).

Discovery uses it on links found in embed markup and on bare URL lines; providers use it to
canonicalize what they are given. The patterns themselves live in the provider modules
(``PROVIDER.urls``); each is anchored and free of nested quantifiers, so a hostile string costs time
linear in its length.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from archiver.discover import constructs
from archiver.providers.base import PostMatch

__all__ = ["PostMatch", "handle_in_url", "is_short_link", "match_post_url", "normalize", "query"]

_MAX_URL = 8192


def normalize(url: str) -> str:
    """``url`` stripped, a protocol-relative ``//host/...`` made https."""
    url = url.strip()
    if url.startswith("//"):
        return "https:" + url
    return url


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
            if found:
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

