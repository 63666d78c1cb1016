"""Telegram: public channel post URLs (t.me, telegram.me, telegram.dog) and the widget script
``<script data-telegram-post="channel/123">``. A post's id is "channel/number" (stored with ":" for
"/", see ``markup.filing_id``). No public endpoint to ask: the shared markup capture and the
generic page probe.
"""

from __future__ import annotations

import re

from archiver.discover.html import HtmlScanner
from archiver.discover.shortcodes import id_reader
from archiver.discover.tags import Tag
from archiver.discover.urls import PostMatch
from archiver.lazyre import lazy
from archiver.providers.base import EmbedForms, PostUrl, ProviderSpec

NAME = "telegram"
# Channel names and numbers are ASCII (a username is letters, digits and "_"); so are the patterns.
_POST = lazy(
    r"https?://(?:www\.)?(?:t\.me|telegram\.me|telegram\.dog)/(?:s/)?(?P<channel>[A-Za-z]\w{3,31})/(?P<n>\d{1,10})(?:/(?P<topic_n>\d{1,10}))?(?!\d)",
    re.I | re.A,
)
# A message of a private channel or group: t.me/c/<channel number>/<message> (or /<topic>/<message>).
_PRIVATE = lazy(
    r"https?://(?:www\.)?(?:t\.me|telegram\.me|telegram\.dog)/c/(?P<channel>\d{4,16})/(?:\d{1,10}/)?(?P<n>\d{1,10})(?!\d)",
    re.I | re.A,
)
_WIDGET_POST = lazy(r"([A-Za-z]\w{3,31})/(\d{1,10})", re.A)


def telegram_post(value: str) -> PostMatch | None:
    """A ``data-telegram-post`` value ("channel/123") as a post, the channel in lower case: Telegram's
    usernames are case-insensitive (t.me/DurovChannel is t.me/durovchannel), so one post is one id
    however an article spells it (and one takedown covers it)."""
    m = _WIDGET_POST.fullmatch(value.strip())
    if not m:
        return None
    post_id = f"{m.group(1).lower()}/{m.group(2)}"
    return NAME, post_id, f"https://t.me/{post_id}"


def _url(m: re.Match[str]) -> tuple[str, str | None] | None:
    # In a forum topic (t.me/channel/<topic>/<message>) the message is the last number.
    found = telegram_post(f"{m['channel']}/{m['topic_n'] or m['n']}")
    return (found[1], found[2]) if found else None


def _private(m: re.Match[str]) -> tuple[str, str | None]:
    """Private channels are numbered: the post is "c/<channel>/<message>"."""
    return f"c/{m['channel']}/{m['n']}", f"https://t.me/c/{m['channel']}/{m['n']}"


def _widget(scan: HtmlScanner, tag: Tag, value: str, end: int) -> None:
    """The widget script stands where the post shows: the script element is the embed."""
    found = telegram_post(value)
    if found:
        scan.add(found, NAME, tag.start, end, "script", handle=found[1].split("/")[0])


PROVIDER = ProviderSpec(
    name=NAME,
    loader_hosts=("telegram.org",),
    platform_domains=("t.me", "telegram.me", "telegram.org", "cdn-telegram.org"),
    order=8,
    urls=(PostUrl(_POST, post=_url), PostUrl(_PRIVATE, post=_private)),
    embeds=EmbedForms(scripts={"data-telegram-post": _widget},
                      shortcodes={"telegram": id_reader(NAME, "https://t.me/{id}",
                                                        r"[A-Za-z][A-Za-z0-9_]{3,31}/[0-9]{1,10}")}),
)
