"""Twitter/X, declared for the registry: its status URLs, how articles embed tweets, its three
endpoints as settings, its capture (``capture.py``) and its liveness probe (oEmbed and syndication
read as a capture reads them).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from archiver.capture.manifest import CAPTURED_STATUSES, GONE_STATUSES
from archiver.discover.urls import query
from archiver.health.state import Probe
from archiver.providers.base import CaptureContext, EmbedForms, PostUrl, ProviderSpec, SettingSpec, is_digits
from archiver.providers.twitter.api import fetch_sources
from archiver.providers.twitter.capture import TwitterProvider
from archiver.providers.twitter.discovery import (
    finish,
    flattened_tweets,
    post_of_id,
    read_amp,
    read_blockquote,
    read_rendered,
    shortcode_post,
)
from archiver.providers.twitter.ids import NAME, canonical_url, parse_status_url, status_url
from archiver.providers.twitter.states import decide

if TYPE_CHECKING:
    from archiver.runtime import Runtime

# The segment before /status/ is not checked: Twitter redirects /<anything>/status/ID to the post
# (a renamed account, a handle over 15 characters, "i/web", a percent-encoded name). Only a valid
# handle goes into the canonical URL (``status_url`` via ``canonical_url``).
_STATUS = re.compile(
    r"https?://(?:(?:www|mobile|m)\.)?(?:(?:fx|vx)?twitter|fixupx|fixvx|x)\.com/(?:#!/)?"
    r"(?:i/web/status|i/status|i/topics/tweet|statuses|(?P<user>[^/?#\s<>\"']{1,200})/status(?:es)?)"
    r"/(?P<id>\d{1,20})(?![\d\w])",
    re.I,
)
_WIDGET = re.compile(r"https?://platform\.twitter\.com/embed/(?:Tweet|index)\.html\?", re.I)


def _status(m: re.Match[str]) -> tuple[str, str | None]:
    return m["id"], canonical_url(m["id"], m["user"])


def _widget(m: re.Match[str]) -> tuple[str, str | None] | None:
    """The widget's iframe: the id is a query parameter."""
    ids = query(m.string).get("id")
    if ids and is_digits(ids[0]) and len(ids[0]) <= 20:
        return ids[0], status_url(ids[0], None)
    return None


def probe(rt: Runtime, url: str, post_id: str) -> Probe:
    """oEmbed and syndication, read as a capture reads them (``states.decide``): archived (or partial:
    the post is there, some media could not be named) is up; a gone status (``GONE_STATUSES``:
    deleted, suspended, protected, withheld, age-restricted, removed for the rules, tombstoned) is a
    failure; anything else is inconclusive."""
    ctx = CaptureContext(settings=rt.settings, fetcher=rt.fetcher)
    found = parse_status_url(url)
    oembed, synd = fetch_sources(ctx, post_id, found[0] if found else None)
    status, reason = decide(oembed, synd, True)
    if status in CAPTURED_STATUSES:
        return Probe("ok", "the post is up")
    if status in GONE_STATUSES:
        return Probe("failure", f"{status}: {reason}")
    return Probe("inconclusive", reason or status)


PROVIDER = ProviderSpec(
    name=NAME,
    loader_hosts=("platform.twitter.com", "platform.x.com"),
    platform_domains=("twimg.com",),
    order=0,
    urls=(PostUrl(_STATUS, post=_status), PostUrl(_WIDGET, post=_widget)),
    handle_in_url=re.compile(r"twitter\.com/(?!i/)(\w{1,15})/status/"),
    redirect_hosts=("pic.twitter.com", "t.co", "pic.x.com"),
    embeds=EmbedForms(
        blockquotes={"twitter-tweet": read_blockquote, "twitter-video": read_blockquote},
        divs={"twitter-tweet": read_rendered},
        amp={"amp-twitter": read_amp},
        iframe_ids={"data-tweet-id": post_of_id},
        shortcodes={"tweet": shortcode_post, "x": shortcode_post, "twitter": shortcode_post},
        text=flattened_tweets,
        names=("tweet", "twitter"),
        # Buttons and timelines name a status (data-url, in_reply_to) but show none.
        not_posts=("twitter-share-button", "twitter-follow-button", "twitter-mention-button", "twitter-hashtag-button",
                   "twitter-timeline", "twitter-grid", "twitter-moment"),
        id_attrs=dict.fromkeys(("id", "tweetid", "tweet-id", "data-tweet-id", "data-tweetid", "tweet", "status",
                                "statusid", "status-id", "data-id"), post_of_id),
    ),
    finish=finish,
    settings=(
        SettingSpec("twitter_oembed_url", "https://publish.twitter.com/oembed", "Twitter's oEmbed endpoint."),
        SettingSpec("twitter_syndication_url", "https://cdn.syndication.twimg.com/tweet-result",
                    "Twitter's syndication endpoint (the tweet-result JSON)."),
        SettingSpec("twitter_shortlink_url", "https://t.co/{code}",
                    "Template of t.co / pic.twitter.com short links; {code} is the code."),
    ),
    capture=TwitterProvider,
    probe=probe,
)
