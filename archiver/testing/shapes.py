"""The answers of the endpoints the fixture origin plays, in their real shapes: syndication and oEmbed
JSON for a tweet fixture (with quoted and parent tweets nested as the real endpoint nests them), the
tombstone, and the oEmbed answers of YouTube, TikTok, Reddit, Bluesky and Mastodon for a post fixture.
``tests/test_fixture_origin.py`` checks their top-level keys against the real answers.
"""

from __future__ import annotations

import copy
import html
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from archiver.testing.fixtures import RTL_LANGS, TOMBSTONE_TEXT, PostFixture, TweetFixture


class ResponseShapes:
    """JSON answers built from fixtures (a base class of ``FixtureOrigin``: media URLs point at it)."""

    tweets: dict[str, TweetFixture]

    def url(self, path: str) -> str:
        raise NotImplementedError

    @staticmethod
    def thumbnail_path(p: PostFixture) -> str:
        """Where the post's thumbnail is served."""
        return f"/thumbs/{p.provider}/{p.slug}.jpg"

    def _variants(self, t: TweetFixture, kind: str, spec: Mapping[str, Any]) -> list[tuple[str, int | None]]:
        name = str(spec["name"]).removesuffix(".mp4")
        if kind == "gif":
            return [(self.url(f"/tweet_video/{name}.mp4"), 0)]
        w, h = int(spec.get("width", 1280)), int(spec.get("height", 720))
        # The best variant is deliberately not listed first.
        return [
            (self.url(f"/amplify_video/{t.id}/vid/{w // 2}x{h // 2}/{name}.mp4?tag=16"), 832000),
            (self.url(f"/amplify_video/{t.id}/pl/{name}.m3u8?tag=16"), None),
            (self.url(f"/amplify_video/{t.id}/vid/{w}x{h}/{name}.mp4?tag=16"), 2176000),
            (self.url(f"/amplify_video/{t.id}/vid/{w // 4}x{h // 4}/{name}.mp4?tag=16"), 256000),
        ]

    def _poster(self, t: TweetFixture, kind: str, spec: Mapping[str, Any]) -> str:
        name = str(spec["name"]).removesuffix(".mp4")
        folder = "tweet_video_thumb" if kind == "gif" else f"amplify_video_thumb/{t.id}/img"
        return f"/{folder}/{name}.jpg"

    def _displayed_text(self, t: TweetFixture) -> tuple[str, list[dict[str, Any]]]:
        """Text as the API states it (HTML-escaped, media t.co appended) and the media entities.
        As in the real responses, entity indices count characters of the escaped text."""
        escaped = html.escape(t.text, quote=False)
        if not t.media_code:
            return escaped, []
        media_url = f"https://t.co/{t.media_code}"
        text = f"{escaped} {media_url}" if escaped else media_url
        kind = "photo" if t.photos else "video"
        start = len(text) - len(media_url)
        return text, [{"display_url": f"pic.x.com/{t.media_code}",
                       "expanded_url": f"https://x.com/{t.handle}/status/{t.id}/{kind}/1",
                       "indices": [start, len(text)], "url": media_url}]

    def syndication_json(self, t: TweetFixture, *, nested: bool = False) -> dict[str, Any]:
        """The tweet-result JSON for ``t`` (quoted and parent tweets nested unless ``nested``):
        ``t.syndication`` verbatim when set, else built and ``t.extra`` merged in (and wrapped in a
        TweetWithVisibilityResults when ``t.interstitial`` is set)."""
        if t.syndication is not None:
            return copy.deepcopy(t.syndication)
        body = merge(self._syndication_json(t, nested=nested), t.extra)
        return visibility_json(body, t.interstitial) if t.interstitial is not None else body

    def _syndication_json(self, t: TweetFixture, *, nested: bool) -> dict[str, Any]:
        text, media_entities = self._displayed_text(t)
        urls = []
        for short, expanded in t.links.items():
            i = text.find(short)
            if i >= 0:
                urls.append({"display_url": expanded.split("://", 1)[-1][:26], "expanded_url": expanded,
                             "indices": [i, i + len(short)], "url": short})
        edit_ids = t.edit_ids or [t.id]
        created = t.created
        chain = {
            "edit_tweet_ids": edit_ids,
            "editable_until_msecs": str(int(created.timestamp() * 1000) + 3_600_000),
            "is_edit_eligible": True,
            "edits_remaining": str(max(0, 5 - len(edit_ids) + 1)),
        }
        # The first version carries the chain; a later version names the first and carries its chain.
        edit_control = chain if t.id == edit_ids[0] else {"initial_tweet_id": edit_ids[0],
                                                          "edit_control_initial": chain}
        body: dict[str, Any] = {
            "__typename": "Tweet",
            "lang": t.lang,
            "favorite_count": 0,
            "possibly_sensitive": t.possibly_sensitive,
            "created_at": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "display_text_range": [0, len(html.escape(t.text, quote=False))],
            "entities": {"hashtags": [], "urls": urls, "user_mentions": [], "symbols": [],
                         **({"media": media_entities} if media_entities else {})},
            "id_str": t.id,
            "text": text,
            "user": {
                "id_str": t.user_id, "name": t.name, "screen_name": t.handle,
                "profile_image_url_https": self.url(f"/profile_images/{t.user_id}/{t.handle}_normal.jpg"),
                "verified": t.verified, "is_blue_verified": False, "profile_image_shape": "Circle",
            },
            "edit_control": edit_control,
            "mediaDetails": self._media_details(t, media_entities),
            "photos": [],
            "conversation_count": 0,
            "news_action_type": "conversation",
            "isEdited": len(edit_ids) > 1,
            "isStaleEdit": edit_ids[-1] != t.id,
        }
        if not nested:
            if t.quoted_id:
                # As the endpoint does: the quoted post's id always, its object when it is shown (a
                # post; a TweetTombstone when it is gone with a notice).
                body["quoted_status_id_str"] = t.quoted_id
                quoted = self.tweets.get(t.quoted_id)
                if quoted is not None and quoted.state == "live":
                    body["quoted_tweet"] = self.syndication_json(quoted, nested=True)
                elif quoted is not None and quoted.state == "tombstone":
                    body["quoted_tweet"] = tombstone_json(quoted.tombstone_text)
            if t.parent_id:
                body["in_reply_to_status_id_str"] = t.parent_id
                parent = self.tweets.get(t.parent_id)
                if parent is not None:
                    body["in_reply_to_screen_name"] = parent.handle
                    if parent.state == "live":
                        body["parent"] = self.syndication_json(parent, nested=True)
        return body

    def _media_details(self, t: TweetFixture, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not entities:
            return []
        ent = entities[0]
        base = {"display_url": ent["display_url"], "expanded_url": ent["expanded_url"],
                "ext_media_availability": {"status": "Available"}, "indices": ent["indices"],
                "url": ent["url"]}
        out = []
        for photo in t.photos:
            w, h = int(photo.get("width", 96)), int(photo.get("height", 64))
            out.append(merge({**base, "type": "photo", "media_url_https": self.url(f"/media/{photo['name']}"),
                              "original_info": {"width": w, "height": h},
                              **({"ext_alt_text": photo["alt"]} if photo.get("alt") else {})},
                             photo.get("extra") or {}))
        for kind, spec in (("video", t.video), ("animated_gif", t.gif)):
            if not spec:
                continue
            variants = [{"content_type": "application/x-mpegURL" if b is None else "video/mp4", "url": u,
                         **({} if b is None else {"bitrate": b})}
                        for u, b in self._variants(t, "gif" if kind == "animated_gif" else "video", spec)]
            info: dict[str, Any] = {"aspect_ratio": [16, 9], "variants": variants}
            if kind == "video":
                info["duration_millis"] = int(spec.get("duration_ms", 1000))
            poster = self._poster(t, "gif" if kind == "animated_gif" else "video", spec)
            out.append({**base, "type": kind, "media_url_https": self.url(poster),
                        "original_info": {"width": int(spec.get("width", 1280)),
                                          "height": int(spec.get("height", 720))},
                        "video_info": info, **({"ext_alt_text": spec["alt"]} if spec.get("alt") else {})})
        return out

    def oembed_json(self, t: TweetFixture) -> dict[str, Any]:
        """publish.twitter.com/oembed's answer for ``t``."""
        parts = html.escape(t.oembed_text if t.oembed_text is not None else t.text, quote=False)
        for short in t.links:
            parts = parts.replace(short, f'<a href="{short}">{short}</a>')
        parts = parts.replace("\n", "<br>")
        if t.media_code:
            code = t.media_code
            parts += f' <a href="https://t.co/{code}">pic.twitter.com/{code}</a>'
        direction = "rtl" if t.lang in RTL_LANGS else "ltr"
        status = f"https://twitter.com/{t.handle}/status/{t.id}"
        date = _month_day_year(t.created)
        blockquote = (f'<blockquote class="twitter-tweet"><p lang="{t.lang}" dir="{direction}">{parts}</p>'
                      f"&mdash; {html.escape(t.name)} (@{t.handle}) "
                      f'<a href="{status}?ref_src=twsrc%5Etfw">{date}</a></blockquote>\n'
                      '<script async src="https://platform.twitter.com/widgets.js" charset="utf-8">'
                      "</script>\n\n")
        return {"url": status, "author_name": t.name, "author_url": f"https://twitter.com/{t.handle}",
                "html": blockquote, "width": 550, "height": None, "type": "rich", "cache_age": "3153600000",
                "provider_name": "Twitter", "provider_url": "https://twitter.com", "version": "1.0"}

    def post_oembed_json(self, p: PostFixture) -> dict[str, Any]:
        """The platform's oEmbed answer for ``p``, in that platform's shape."""
        thumb = {"thumbnail_url": self.url(self.thumbnail_path(p)), "thumbnail_width": 120,
                 "thumbnail_height": 90} if p.thumbnail else {}
        text, name, handle = html.escape(p.text, quote=False), html.escape(p.author_name), html.escape(p.handle)
        if p.provider == "youtube":
            vid = re.sub(r".*[?&]v=([-\w]{11}).*", r"\1", p.url)
            return {"title": p.text, "author_name": p.author_name,
                    "author_url": f"https://www.youtube.com/@{p.handle}", "type": "video", "height": 113,
                    "width": 200, "version": "1.0", "provider_name": "YouTube",
                    "provider_url": "https://www.youtube.com/", **thumb,
                    "html": f'<iframe width="200" height="113" src="https://www.youtube.com/embed/{vid}'
                            f'?feature=oembed" frameborder="0" allowfullscreen title="{html.escape(p.text)}">'
                            "</iframe>"}
        if p.provider == "tiktok":
            vid = p.url.rstrip("/").rsplit("/", 1)[-1]
            return {"version": "1.0", "type": "video", "title": p.text,
                    "author_url": f"https://www.tiktok.com/@{p.handle}", "author_name": p.author_name,
                    "width": "100%", "height": "100%", **thumb,
                    "html": f'<blockquote class="tiktok-embed" cite="{html.escape(p.url)}" '
                            f'data-video-id="{vid}"><section><a target="_blank" title="@{handle}" '
                            f'href="https://www.tiktok.com/@{handle}?refer=embed">@{handle}</a> {text}'
                            '</section></blockquote> <script async src="https://www.tiktok.com/embed.js"></script>',
                    "provider_url": "https://www.tiktok.com", "provider_name": "TikTok",
                    "author_unique_id": p.handle, "embed_product_id": vid, "embed_type": "video"}
        if p.provider == "reddit":
            return {"provider_url": "https://www.reddit.com/", "version": "1.0", "title": p.text,
                    "provider_name": "reddit", "type": "rich", "author_name": p.handle,
                    "html": f'<blockquote class="reddit-embed-bq" style="height:500px" ><a href="{html.escape(p.url)}">'
                            f'{text}</a><br> by <a href="https://www.reddit.com/user/{handle}/">u/{handle}</a>'
                            '</blockquote><script async src="https://embed.reddit.com/widgets.js" '
                            'charset="UTF-8"></script>', "height": 316, "width": 640}
        if p.provider == "bluesky":
            return {"type": "rich", "version": "1.0", "author_name": p.author_name,
                    "author_url": f"https://bsky.app/profile/{p.handle}", "provider_name": "Bluesky Social",
                    "provider_url": "https://bsky.app", "cache_age": 86400, "width": 600, "height": None,
                    "html": f'<blockquote class="bluesky-embed" data-bluesky-uri="at://{handle}/app.bsky.feed.'
                            f'post/{p.url.rsplit("/", 1)[-1]}"><p lang="{p.lang}">{text}</p>&mdash; {name} '
                            f'(<a href="https://bsky.app/profile/{handle}?ref_src=embed">@{handle}</a>) '
                            f'<a href="{html.escape(p.url)}?ref_src=embed">March 6, 2024 at 10:00 AM</a>'
                            '</blockquote><script async src="https://embed.bsky.app/static/embed.js" '
                            'charset="utf-8"></script>'}
        host = urlsplit(p.url).hostname or ""
        return {"type": "rich", "version": "1.0", "title": f"New status by {p.handle}",
                "author_name": p.author_name, "author_url": f"https://{host}/@{p.handle}",
                "provider_name": host, "provider_url": f"https://{host}/", "cache_age": 86400,
                "html": f'<blockquote class="mastodon-embed" data-embed-url="{html.escape(p.url)}/embed">'
                        f'<p lang="{p.lang}">{text}</p></blockquote>'
                        f'<script data-allowed-prefixes="https://{host}/" async src="https://{host}/embed.js">'
                        "</script>", "width": 400, "height": None}


def merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in: nested dicts key by key, anything else replaced (a deep copy)."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def tombstone_json(text: str | None = None) -> dict[str, Any]:
    """The syndication tweet-result body of a post the platform shows a notice for instead: a
    TweetTombstone with its notice text (``text``, default the age-restriction notice
    ``TOMBSTONE_TEXT``) and its "Learn more" link over the text's last ten characters."""
    text = TOMBSTONE_TEXT if text is None else text
    return {"__typename": "TweetTombstone", "tombstone": {"text": {
        "text": text,
        "entities": [{"from_index": max(0, len(text) - 10), "to_index": len(text), "ref": {
            "__typename": "TimelineUrl", "url": "https://help.x.com/rules-and-policies/notices-on-x",
            "url_type": "ExternalUrl"}}],
        "rtl": False}}}


def unavailable_json(reason: str | None) -> dict[str, Any]:
    """The syndication body of a post it will not show: a TweetUnavailable with ``reason``
    (NsfwLoggedOut, Protected, Suspended, Unavailable; no reason key when None)."""
    return {"__typename": "TweetUnavailable", **({"reason": reason} if reason is not None else {})}


def visibility_json(tweet: dict[str, Any], interstitial: str) -> dict[str, Any]:
    """``tweet`` (a syndication body) wrapped as the endpoint wraps a post shown behind a warning:
    a TweetWithVisibilityResults with its tweetInterstitial text."""
    return {"__typename": "TweetWithVisibilityResults", "tweet": copy.deepcopy(tweet),
            "tweetInterstitial": {"__typename": "ContextualTweetInterstitial", "displayType": "EntireTweet",
                                  "text": {"rtl": False, "text": interstitial, "entities": []}}}


def _month_day_year(dt: datetime) -> str:
    return f"{dt:%B} {dt.day}, {dt.year}"
