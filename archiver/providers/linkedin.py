"""LinkedIn: feed update URLs (``urn:li:share|ugcPost|activity:<id>``, also percent-encoded in embed
iframes) and the /posts/ slugs that end in the same id; lnkd.in short links (followed for the post
they lead to). No public endpoint to ask: the shared markup capture and the generic page probe.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from archiver.discover.shortcodes import id_reader
from archiver.lazyre import lazy
from archiver.providers.base import EmbedForms, PostUrl, ProviderSpec

NAME = "linkedin"
# A cheap first test; the URL is decoded before the real patterns run.
_HOST = lazy(r"https?(?::|%3A)(?://|%2F%2F)(?:[\w]{1,10}\.)?linkedin\.com", re.I)
_UPDATE = lazy(
    r"https?://(?:[\w]{1,10}\.)?linkedin\.com/(?:embed/)?feed/update/(urn:li:(?:share|ugcPost|activity):\d{5,25})",
    re.I,
)
_POSTS = lazy(
    r"https?://(?:[\w]{1,10}\.)?linkedin\.com/posts/[^/?#\s]{1,300}?-(activity|share|ugcPost)-(\d{10,25})(?!\d)",
    re.I,
)


def _post(m: re.Match[str]) -> tuple[str, str | None] | None:
    """Embed iframes write the URN percent-encoded: the URL is decoded first."""
    url = m.string
    if "%3a" in url.lower():
        url = unquote(url)
    found = _UPDATE.match(url)
    urn = found.group(1) if found else None
    if urn is None:
        found = _POSTS.match(url)
        if not found:
            return None
        urn = f"urn:li:{found.group(1)}:{found.group(2)}"
    return urn, f"https://www.linkedin.com/feed/update/{urn}/"


# LinkedIn's link shortener: a shared post's short link names no post until followed.
_SHORT = lazy(r"https?://lnkd\.in/[\w\-]{4,20}(?![\w\-])", re.I)

PROVIDER = ProviderSpec(name=NAME, order=10, urls=(PostUrl(_HOST, post=_post),), short_links=(_SHORT,),
                        platform_domains=("linkedin.com", "licdn.com"), redirect_hosts=("lnkd.in",), embeds=EmbedForms(
    shortcodes={"linkedin": id_reader(NAME, "https://www.linkedin.com/feed/update/{id}/",
                                      r"urn:li:(?:activity|share|ugcPost):\d{5,25}")}))
