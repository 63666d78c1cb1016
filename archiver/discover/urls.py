"""Post URL recognition for every provider: one place that turns any URL variant into an id.

Discovery uses it on links found in embed markup and on bare URL lines; providers use it to
canonicalize what they are given. Patterns are anchored and free of nested quantifiers, so a
hostile string costs time linear in its length.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlsplit

PostMatch = tuple[str, str, str | None]  # (provider, post_id, canonical url)

_MAX_URL = 8192

_TWITTER = re.compile(
    r"https?://(?:(?:www|mobile|m)\.)?(?:(?:fx|vx)?twitter|fixupx|fixvx|x)\.com/(?:#!/)?"
    r"(?:i/web/status|i/status|i/topics/tweet|(\w{1,15})/status(?:es)?)/(\d{1,20})(?![\d\w])",
    re.I,
)
_TWEET_IFRAME = re.compile(r"https?://platform\.twitter\.com/embed/(?:Tweet|index)\.html\?", re.I)
_INSTAGRAM = re.compile(
    r"https?://(?:(?:www|m)\.)?instagr(?:am\.com|\.am)/(?!share/)(?:[\w.]{1,30}/)?(p|reels?|tv)/([-\w]{5,40})",
    re.I,
)
_FB_HOST = r"https?://(?:(?:www|m|mbasic|web|business|touch)\.)?facebook\.com/"
_FB_PLUGIN = re.compile(_FB_HOST + r"(?:v[\d.]{1,8}/)?plugins/(?:post|video|comment_embed)\.php\?", re.I)
_FB_POST = re.compile(
    _FB_HOST + r"([\w.\-]{1,80})/(posts|videos|photos)/(?:[\w.\-]{1,80}/)?(pfbid\w{10,100}|\d{5,25})(?![\w])",
    re.I,
)
_FB_QUERY = re.compile(_FB_HOST + r"(permalink\.php|story\.php|photo\.php|photo/|watch/?)\?", re.I)
_FB_REEL = re.compile(_FB_HOST + r"reel/(\d{5,25})", re.I)
_YOUTUBE_PATH = re.compile(
    r"https?://(?:(?:www|m|music)\.)?youtube(?:-nocookie)?\.com/(?:embed|shorts|live|v|e)/([-\w]{11})(?![-\w])",
    re.I,
)
_YOUTUBE_WATCH = re.compile(r"https?://(?:(?:www|m|music)\.)?youtube\.com/watch/?\?", re.I)
_YOUTU_BE = re.compile(r"https?://(?:www\.)?youtu\.be/([-\w]{11})(?![-\w])", re.I)
_TIKTOK = re.compile(
    r"https?://(?:(?:www|m)\.)?tiktok\.com/(?:@([\w.\-]{1,60})/video/|embed/v2/|embed/|v/)(\d{5,25})(?!\d)",
    re.I,
)
_BSKY = re.compile(r"https?://(?:www\.)?bsky\.app/profile/([\w.:\-]{1,253})/post/([a-z0-9]{5,20})(?![\w])", re.I)
_AT_URI = re.compile(r"at://([\w.:\-]{1,253})/app\.bsky\.feed\.post/([a-z0-9]{5,20})(?![\w])", re.I)
_BSKY_EMBED = re.compile(
    r"https?://embed\.bsky\.app/embed/([\w.:\-]{1,253})/app\.bsky\.feed\.post/([a-z0-9]{5,20})(?![\w])", re.I
)
_THREADS = re.compile(r"https?://(?:www\.)?threads\.(?:net|com)/@([\w.]{1,40})/post/([-\w]{5,40})", re.I)
_TELEGRAM = re.compile(
    r"https?://(?:www\.)?(?:t\.me|telegram\.me|telegram\.dog)/(?:s/)?([A-Za-z]\w{3,31})/(\d{1,10})(?!\d)", re.I
)
_REDDIT = re.compile(
    r"https?://(?:(?:www|old|new|np|m|embed|sh)\.)?reddit(?:media)?\.com/"
    r"(?:r/(\w{2,21})/|u(?:ser)?/[\w\-]{2,30}/)?comments/([a-z0-9]{1,12})(?![a-z0-9])",
    re.I,
)
_REDD_IT = re.compile(r"https?://(?:www\.)?redd\.it/([a-z0-9]{1,12})(?![a-z0-9])", re.I)
_LINKEDIN = re.compile(
    r"https?://(?:[\w]{1,10}\.)?linkedin\.com/(?:embed/)?feed/update/(urn:li:(?:share|ugcPost|activity):\d{5,25})",
    re.I,
)
_LINKEDIN_POSTS = re.compile(
    r"https?://(?:[\w]{1,10}\.)?linkedin\.com/posts/[^/?#\s]{1,300}?-(activity|share|ugcPost)-(\d{10,25})(?!\d)",
    re.I,
)
_MASTODON = re.compile(
    r"https?://((?:[a-z0-9\-]{1,63}\.){1,8}[a-z]{2,63})/"
    r"(?:@([\w.]{1,64})(?:@[\w.\-]{1,253})?/(\d{1,20})|users/([\w.]{1,64})/statuses/(\d{1,20}))"
    r"(?:/embed)?/?(?=$|[?#])",
    re.I,
)
# Hosts whose /@user/<digits> paths are not Mastodon statuses.
_NOT_MASTODON = re.compile(r"(?:^|\.)(?:tiktok|threads|youtube|medium|instagram|twitter|x)\.(?:com|net)$", re.I)


def _normalize(url: str) -> str:
    url = url.strip()
    if url.startswith("//"):
        return "https:" + url
    return url


def match_post_url(url: str) -> PostMatch | None:
    """Recognize a post URL of any provider: (provider, post_id, canonical url) or None.

    Profiles, timelines, hashtags, intents and other non-post URLs give None.
    """
    if not isinstance(url, str) or not url or len(url) > _MAX_URL:
        return None
    url = _normalize(url)
    if url[:4].lower() != "http" and not url.lower().startswith("at://"):
        return None
    for matcher in _MATCHERS:
        found = matcher(url)
        if found:
            return found
    return None


def _twitter(url: str) -> PostMatch | None:
    m = _TWITTER.match(url)
    if m:
        handle, tweet_id = m.group(1), m.group(2)
        return "twitter", tweet_id, twitter_url(tweet_id, handle)
    if _TWEET_IFRAME.match(url):
        ids = _query(url).get("id")
        if ids and ids[0].isdigit() and len(ids[0]) <= 20:
            return "twitter", ids[0], twitter_url(ids[0], None)
    return None


def twitter_url(tweet_id: str, handle: str | None) -> str:
    """The canonical status URL; without a handle the i/web form that twitter.com redirects."""
    if handle:
        return f"https://twitter.com/{handle}/status/{tweet_id}"
    return f"https://twitter.com/i/web/status/{tweet_id}"


def _instagram(url: str) -> PostMatch | None:
    m = _INSTAGRAM.match(url)
    if not m:
        return None
    kind = m.group(1).lower()
    kind = "reel" if kind.startswith("reel") else kind
    return "instagram", m.group(2), f"https://www.instagram.com/{kind}/{m.group(2)}/"


def _facebook(url: str) -> PostMatch | None:
    if _FB_PLUGIN.match(url):
        href = _query(url).get("href")
        if href:
            inner = _normalize(href[0])
            return None if _FB_PLUGIN.match(inner) else _facebook(inner)
        return None
    m = _FB_POST.match(url)
    if m:
        page, kind, post_id = m.groups()
        return "facebook", post_id, f"https://www.facebook.com/{page}/{kind.lower()}/{post_id}"
    m = _FB_REEL.match(url)
    if m:
        return "facebook", m.group(1), f"https://www.facebook.com/reel/{m.group(1)}"
    m = _FB_QUERY.match(url)
    if not m:
        return None
    page = m.group(1).lower()
    q = _query(url)
    if page in ("permalink.php", "story.php"):
        story, owner = q.get("story_fbid", [""])[0], q.get("id", [""])[0]
        if _is_fb_id(story) and owner.isdigit():
            return "facebook", story, f"https://www.facebook.com/permalink.php?story_fbid={story}&id={owner}"
        return None
    if page.startswith("photo"):
        fbid = q.get("fbid", [""])[0]
        if fbid.isdigit():
            return "facebook", fbid, f"https://www.facebook.com/photo.php?fbid={fbid}"
        return None
    video = q.get("v", [""])[0]
    if video.isdigit():
        return "facebook", video, f"https://www.facebook.com/watch/?v={video}"
    return None


def _is_fb_id(value: str) -> bool:
    return value.isdigit() or (value.startswith("pfbid") and value.isalnum())


def _youtube(url: str) -> PostMatch | None:
    m = _YOUTUBE_PATH.match(url) or _YOUTU_BE.match(url)
    video = m.group(1) if m else None
    if video is None and _YOUTUBE_WATCH.match(url):
        v = _query(url).get("v", [""])[0]
        video = v if re.fullmatch(r"[-\w]{11}", v) else None
    if not video or video.lower() == "videoseries":
        return None
    return "youtube", video, f"https://www.youtube.com/watch?v={video}"


def _tiktok(url: str) -> PostMatch | None:
    m = _TIKTOK.match(url)
    if not m:
        return None
    user, video = m.groups()
    return "tiktok", video, f"https://www.tiktok.com/@{user}/video/{video}" if user else None


def _bluesky(url: str) -> PostMatch | None:
    m = _BSKY.match(url) or _AT_URI.match(url) or _BSKY_EMBED.match(url)
    if not m:
        return None
    actor, rkey = m.groups()
    return "bluesky", rkey, f"https://bsky.app/profile/{actor}/post/{rkey}"


def _threads(url: str) -> PostMatch | None:
    m = _THREADS.match(url)
    if not m:
        return None
    return "threads", m.group(2), f"https://www.threads.com/@{m.group(1)}/post/{m.group(2)}"


def _telegram(url: str) -> PostMatch | None:
    m = _TELEGRAM.match(url)
    if not m:
        return None
    return telegram_post(f"{m.group(1)}/{m.group(2)}")


def telegram_post(value: str) -> PostMatch | None:
    """A `data-telegram-post` value ("channel/123") as a post."""
    m = re.fullmatch(r"([A-Za-z]\w{3,31})/(\d{1,10})", value.strip())
    if not m:
        return None
    post_id = f"{m.group(1)}/{m.group(2)}"
    return "telegram", post_id, f"https://t.me/{post_id}"


def _reddit(url: str) -> PostMatch | None:
    m = _REDDIT.match(url)
    if m:
        sub, post_id = m.groups()
        post_id = post_id.lower()
        if sub:
            return "reddit", post_id, f"https://www.reddit.com/r/{sub}/comments/{post_id}/"
        return "reddit", post_id, f"https://www.reddit.com/comments/{post_id}/"
    m = _REDD_IT.match(url)
    if m:
        post_id = m.group(1).lower()
        return "reddit", post_id, f"https://www.reddit.com/comments/{post_id}/"
    return None


def _linkedin(url: str) -> PostMatch | None:
    if "%3a" in url.lower():
        url = unquote(url)
    m = _LINKEDIN.match(url)
    urn = m.group(1) if m else None
    if urn is None:
        m = _LINKEDIN_POSTS.match(url)
        if not m:
            return None
        urn = f"urn:li:{m.group(1)}:{m.group(2)}"
    return "linkedin", urn, f"https://www.linkedin.com/feed/update/{urn}/"


def _mastodon(url: str) -> PostMatch | None:
    m = _MASTODON.match(url)
    if not m:
        return None
    host = m.group(1).lower()
    if _NOT_MASTODON.search(host):
        return None
    user = m.group(2) or m.group(4)
    status = m.group(3) or m.group(5)
    return "mastodon", status, f"https://{host}/@{user}/{status}"


def _query(url: str) -> dict[str, list[str]]:
    try:
        return parse_qs(urlsplit(url).query)
    except ValueError:
        return {}


_MATCHERS = (
    _twitter, _instagram, _facebook, _youtube, _tiktok, _bluesky,
    _threads, _telegram, _reddit, _linkedin, _mastodon,
)
