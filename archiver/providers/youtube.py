"""YouTube: its video URLs (embed, shorts, live, watch, youtu.be; a /clip/ link names no video until
followed, like a share link), the lazy-loaded player WordPress plugins write, ``<amp-youtube>``, the
youtube shortcode; captured from the embed markup, oEmbed (``youtube_oembed_url``: title, channel,
thumbnail) and the thumbnail archived. The video itself is not downloaded. Liveness: the generic
page probe.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from archiver.discover.html import HtmlScanner
from archiver.discover.readers import amp_reader, post_from
from archiver.discover.shortcodes import id_reader
from archiver.discover.tags import Tag
from archiver.discover.urls import PostMatch, query
from archiver.lazyre import lazy
from archiver.providers.base import EmbedForms, PostUrl, ProviderSpec, SettingSpec
from archiver.providers.oembed import OEmbedProvider, PlatformSpec

NAME = "youtube"
ENDPOINT = SettingSpec("youtube_oembed_url", "https://www.youtube.com/oembed", "YouTube's oEmbed endpoint.")

_PATH = lazy(
    r"https?://(?:(?:www|m|music)\.)?youtube(?:-nocookie)?\.com/(?:embed|shorts|live|v|e)/(?P<id>[-\w]{11})(?![-\w])",
    re.I,
)
_SHORT = lazy(r"https?://(?:www\.)?youtu\.be/(?P<id>[-\w]{11})(?![-\w])", re.I)
# A clip's URL names the clip, not the video it cuts (its page says which): a share link to follow.
_CLIP = lazy(r"https?://(?:(?:www|m)\.)?youtube\.com/clip/[-\w]{10,60}(?![-\w])", re.I)
_WATCH = lazy(r"https?://(?:(?:www|m|music)\.)?youtube\.com/watch/?\?", re.I)


_NOT_VIDEOS = frozenset({"videoseries", "live_stream"})


def _video(video: str) -> tuple[str, str | None] | None:
    """A video id as the post; the words of YouTube's embed paths that are no video ("videoseries": a
    playlist, "live_stream": a channel's current stream) are none."""
    if not video or video.lower() in _NOT_VIDEOS:
        return None
    return video, f"https://www.youtube.com/watch?v={video}"


def _watch(m: re.Match[str]) -> tuple[str, str | None] | None:
    v = query(m.string).get("v", [""])[0]
    return _video(v if re.fullmatch(r"[-\w]{11}", v) else "")


def _watch_url(video: str) -> PostMatch | None:
    return post_from([f"https://www.youtube.com/watch?v={video}"], NAME)


def _lazy_player(scan: HtmlScanner, tag: Tag) -> None:
    """WP Rocket's ``<div class="rll-youtube-player" data-src=… data-id=…>`` placeholder."""
    found = post_from([tag.get("data-src")], NAME) or _watch_url(tag.get("data-id") or "")
    if found:
        _, end = scan.element_end(tag)
        scan.add(found, NAME, tag.start, end, "lazy-player")


def _handle(body: dict[str, Any]) -> str | None:
    """``https://www.youtube.com/@PinecrestObserver`` → ``PinecrestObserver``."""
    m = re.search(r"youtube\.com/@([\w.\-]{1,100})/?$", str(body.get("author_url") or ""))
    return m.group(1) if m else None


SPEC = PlatformSpec(NAME, ENDPOINT.name, handle=_handle)

PROVIDER = ProviderSpec(
    name=NAME,
    platform_domains=("ytimg.com", "ggpht.com", "googlevideo.com", "googleusercontent.com"),
    order=3,
    urls=(PostUrl(_PATH, post=lambda m: _video(m["id"])), PostUrl(_SHORT, post=lambda m: _video(m["id"])),
          PostUrl(_WATCH, post=_watch)),
    short_links=(_CLIP,),
    embeds=EmbedForms(
        divs={"rll-youtube-player": _lazy_player},
        amp={"amp-youtube": amp_reader("data-videoid", _watch_url)},
        shortcodes=dict.fromkeys(("youtube", "yt"),
                                 id_reader(NAME, "https://www.youtube.com/watch?v={id}", r"[-\w]{11}")),
        names=("youtube",),
        id_attrs=dict.fromkeys(("id", "videoid", "video-id", "data-videoid", "data-video-id", "vid", "v", "data-id",
                                "youtubeid", "youtube-id", "data-youtube-id", "data-ytid"), _watch_url),
    ),
    settings=(ENDPOINT,),
    capture=partial(OEmbedProvider, SPEC),
)
