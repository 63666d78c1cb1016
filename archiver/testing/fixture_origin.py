"""A local stand-in for Twitter's oEmbed, syndication and t.co endpoints, the oEmbed endpoints of
YouTube, TikTok, Reddit, Bluesky and Mastodon, and media hosts.

Tests and ``archiver demo`` need the real response shapes without the network: this in-process
HTTP server (loopback, port 0, daemon threads) generates oEmbed and syndication JSON from tweet
fixtures in the shapes publish.twitter.com/oembed and cdn.syndication.twimg.com/tweet-result
answer (``tests/test_fixture_origin.py`` checks their top-level keys against those real answers),
and the other platforms' oEmbed answers from post fixtures, in the shapes those endpoints return;
it redirects t.co codes, serves real media bytes (Pillow JPEG/PNG, small MP4 files with valid
boxes) and plays failures on request (404, ``{}``, tombstone, 429 then success, timeouts, garbage,
500). Every request is recorded.

    with FixtureOrigin(tweets=[{"id": "1757429972446608301", "handle": "LakemontDPW", ...}]) as origin:
        settings = settings.replace(**origin.settings_overrides())
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import re
import struct
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from archiver.providers.twitter.ids import parse_status_url, snowflake_time, syndication_token

STATES = ("live", "deleted", "tombstone", "protected")
POST_STATES = ("live", "deleted", "private")
OEMBED_PROVIDERS = ("youtube", "tiktok", "reddit", "bluesky", "mastodon")
RTL_LANGS = frozenset({"ar", "he", "fa", "ur", "ps", "yi"})
STEP_NAMES = ("ok", "empty", "tombstone", "429", "timeout", "garbage", "redirect")
TOMBSTONE_TEXT = ("Age-restricted adult content. This content might not be appropriate for people under "
                  "18 years old. To view this media, you’ll need to log in to X. Learn more")
_MAX_SLEEP = 30.0


@dataclass
class TweetFixture:
    """One post the origin knows. ``text`` is the text as displayed, without the media link;
    ``links`` maps each ``https://t.co/…`` in the text to its expanded URL."""

    id: str
    handle: str
    name: str
    text: str = ""
    lang: str = "en"
    created_at: str | None = None  # ISO 8601; default: the time in the snowflake id
    photos: list[dict[str, Any]] = field(default_factory=list)  # {name, alt, width, height}
    video: dict[str, Any] | None = None  # {name, width, height, duration_ms}
    gif: dict[str, Any] | None = None  # {name, width, height}
    quoted_id: str | None = None
    parent_id: str | None = None
    edit_ids: list[str] = field(default_factory=list)
    state: str = "live"
    links: dict[str, str] = field(default_factory=dict)
    media_code: str | None = None  # the pic.twitter.com code
    user_id: str | None = None
    verified: bool = False
    possibly_sensitive: bool = False

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[0-9]{1,20}", str(self.id)):
            raise ValueError(f"tweet fixture id must be digits, not {self.id!r}")
        if self.state not in STATES:
            raise ValueError(f"tweet fixture state must be one of {STATES}, not {self.state!r}")
        self.id = str(self.id)
        self.user_id = self.user_id or str(int(hashlib.sha256(self.handle.encode()).hexdigest()[:12], 16))
        if (self.photos or self.video or self.gif) and not self.media_code:
            self.media_code = "m" + hashlib.sha256(self.id.encode()).hexdigest()[:9]

    @property
    def created(self) -> datetime:
        if self.created_at:
            return datetime.fromisoformat(self.created_at.replace("Z", "+00:00")).astimezone(UTC)
        return snowflake_time(self.id) or datetime(2010, 1, 1, tzinfo=UTC)


@dataclass
class PostFixture:
    """A post of another platform, answered by its oEmbed endpoint. ``url`` is the canonical post
    URL discovery reports (the ``url`` the capture asks oEmbed about); ``text`` the title, caption
    or post text; ``state`` live, deleted (oEmbed 404) or private (401 from YouTube, else 403)."""

    provider: str
    url: str
    text: str = ""
    author_name: str = ""
    handle: str = ""
    lang: str = "en"
    state: str = "live"
    thumbnail: bool = True

    def __post_init__(self) -> None:
        if self.provider not in OEMBED_PROVIDERS:
            raise ValueError(f"post fixture provider must be one of {OEMBED_PROVIDERS}, not {self.provider!r}")
        if self.state not in POST_STATES:
            raise ValueError(f"post fixture state must be one of {POST_STATES}, not {self.state!r}")

    @property
    def slug(self) -> str:
        return hashlib.sha256(self.url.encode()).hexdigest()[:16]


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


# --- generated media ------------------------------------------------------------------------------
def make_image(seed: str, width: int = 96, height: int = 64, fmt: str = "JPEG") -> bytes:
    """A real, deterministic image (same seed, same bytes)."""
    from PIL import Image, ImageDraw

    digest = hashlib.sha256(seed.encode()).digest()
    img = Image.new("RGB", (max(1, width), max(1, height)), tuple(digest[:3]))
    draw = ImageDraw.Draw(img)
    for i in range(0, 8):
        x, y = digest[3 + i] * width // 256, digest[11 + i] * height // 256
        draw.rectangle([x, y, x + width // 4, y + height // 4], fill=tuple(digest[i * 3 + 2:i * 3 + 5]))
    buf = io.BytesIO()
    save_fmt = {"JPG": "JPEG"}.get(fmt.upper(), fmt.upper())
    img.save(buf, save_fmt, **({"quality": 85} if save_fmt == "JPEG" else {}))
    return buf.getvalue()


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def make_mp4(seed: str, duration_ms: int = 1000, size: int = 4096) -> bytes:
    """A small MP4 byte stream with valid ftyp, moov/mvhd (timescale 1000) and mdat boxes."""
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41")
    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    mvhd = _box(b"mvhd", b"\x00\x00\x00\x00" + struct.pack(">IIII", 0, 0, 1000, max(0, duration_ms))
                + struct.pack(">IH", 0x10000, 0x100) + b"\x00" * 10 + matrix + b"\x00" * 24
                + struct.pack(">I", 2))
    data = bytearray()
    block = hashlib.sha256(seed.encode()).digest()
    while len(data) < size:
        data += block
        block = hashlib.sha256(block).digest()
    return ftyp + _box(b"moov", mvhd) + _box(b"mdat", bytes(data[:size]))


def _sniff(body: bytes) -> str:
    if body.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if body.startswith(b"\x89PNG"):
        return "image/png"
    if body.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if body[:4] == b"RIFF" and body[8:12] == b"WEBP":
        return "image/webp"
    if body[4:8] == b"ftyp":
        return "video/mp4"
    return "application/octet-stream"


def _month_day_year(dt: datetime) -> str:
    return f"{dt:%B} {dt.day}, {dt.year}"


class FixtureOrigin:
    """The in-process origin. Use as a context manager; ``base_url`` is valid inside it."""

    def __init__(self, tweets: Iterable[TweetFixture | Mapping[str, Any]] = (),
                 images: Mapping[str, bytes] | None = None, *,
                 posts: Iterable[PostFixture | Mapping[str, Any]] = (), retry_after: int = 1,
                 timeout_sleep: float = 2.0, port: int = 0) -> None:
        self.port = port  # 0: any free port; a fixed port falls back to a free one when taken
        self.tweets: dict[str, TweetFixture] = {}
        self.posts: dict[str, PostFixture] = {}
        self.retry_after = retry_after
        self.timeout_sleep = min(_MAX_SLEEP, max(0.0, timeout_sleep))
        self.requests: list[RecordedRequest] = []
        self._files: dict[str, tuple[bytes, str]] = {}
        self._behaviours: dict[str, tuple[list[str], bool]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""
        for path, body in (images or {}).items():
            self.add_image(path, body)
        self._pending = [t if isinstance(t, TweetFixture) else TweetFixture(**dict(t)) for t in tweets]
        self._pending_posts = [p if isinstance(p, PostFixture) else PostFixture(**dict(p)) for p in posts]

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FixtureOrigin:
        if self._server is not None:
            return self
        origin = self

        class Handler(_Handler):
            fixture = origin

        try:
            self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        except OSError:
            self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        for t in self._pending:
            self.add_tweet(t)
        for p in self._pending_posts:
            self.add_post(p)
        self._pending, self._pending_posts = [], []
        self._thread = threading.Thread(target=self._server.serve_forever, name="fixture-origin", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FixtureOrigin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- configuration ----------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def settings_overrides(self) -> dict[str, str]:
        """Settings that point the Twitter capture at this origin and allow fetching loopback."""
        return {
            "twitter_oembed_url": self.url("/oembed"),
            "twitter_syndication_url": self.url("/tweet-result"),
            "twitter_shortlink_url": self.url("/t.co/{code}"),
            **{f"{name}_oembed_url": self.url(f"/oembed/{name}") for name in OEMBED_PROVIDERS
               if name != "mastodon"},
            "mastodon_oembed_url": self.url("/mastodon/{host}/api/oembed"),
            "fetch_allow": "127.0.0.1",
        }

    def add_image(self, path: str, body: bytes, content_type: str | None = None) -> str:
        """Serve ``body`` at ``path`` (query strings ignored); returns its URL."""
        path = urlsplit(path).path or "/"
        with self._lock:
            self._files[path] = (body, content_type or _sniff(body))
        return self.url(path)

    def add_tweet(self, tweet: TweetFixture | Mapping[str, Any]) -> TweetFixture:
        t = tweet if isinstance(tweet, TweetFixture) else TweetFixture(**dict(tweet))
        if not self.base_url:
            self._pending.append(t)
            return t
        self.tweets[t.id] = t
        avatar = make_image(f"avatar:{t.handle}", 48, 48)
        self.add_image(f"/profile_images/{t.user_id}/{t.handle}.jpg", avatar)
        self.add_image(f"/profile_images/{t.user_id}/{t.handle}_normal.jpg", avatar)
        for photo in t.photos:
            name = str(photo["name"])
            stem, _, ext = name.rpartition(".")
            body = make_image(f"photo:{name}", int(photo.get("width", 96)), int(photo.get("height", 64)),
                              "PNG" if ext.lower() == "png" else "JPEG")
            self.add_image(f"/media/{name}", body)
            self.add_image(f"/media/{stem}", body)
        for kind, spec in (("video", t.video), ("gif", t.gif)):
            if spec:
                for url, _bitrate in self._variants(t, kind, spec):
                    path = urlsplit(url).path
                    if path.endswith(".mp4"):
                        self.add_image(path, make_mp4(path, int(spec.get("duration_ms", 1000))))
                    else:
                        self.add_image(path, b"#EXTM3U\n", "application/x-mpegURL")
                self.add_image(self._poster(t, kind, spec), make_image(f"poster:{spec['name']}", 64, 36))
        return t

    def add_post(self, post: PostFixture | Mapping[str, Any]) -> PostFixture:
        """Answer oEmbed requests about ``post.url``; its thumbnail is served too."""
        p = post if isinstance(post, PostFixture) else PostFixture(**dict(post))
        if not self.base_url:
            self._pending_posts.append(p)
            return p
        self.posts[p.url] = p
        if p.thumbnail:
            self.add_image(self.thumbnail_path(p), make_image(f"thumb:{p.url}", 120, 90))
        return p

    @staticmethod
    def thumbnail_path(p: PostFixture) -> str:
        return f"/thumbs/{p.provider}/{p.slug}.jpg"

    def set_behaviour(self, match: str, *steps: str, sticky: bool = False) -> None:
        """Answer requests matching ``match`` ("/path" or "/path?id=…", the given query values
        must match) with ``steps`` in turn, then normally; with ``sticky`` the last step stays.
        Steps: "ok", "empty" ({}), "tombstone", "429" (Retry-After), "timeout" (sleeps
        ``timeout_sleep``), "garbage" (200 with a body that is not JSON), or any HTTP status
        such as "404", "500"."""
        for step in steps:
            if step not in STEP_NAMES and not re.fullmatch(r"[1-5]\d\d", step):
                raise ValueError(f"unknown behaviour {step!r}")
        with self._lock:
            self._behaviours[match] = (list(steps), sticky)

    def count(self, path: str, **query: str) -> int:
        """How many requests hit ``path`` with (at least) the given query values."""
        with self._lock:
            return sum(1 for r in self.requests
                       if r.path == path and all(r.query.get(k) == v for k, v in query.items()))

    def media_bytes(self, url_or_path: str) -> bytes:
        """The bytes served at a URL or path (query ignored); KeyError if nothing is served there."""
        return self._files[urlsplit(url_or_path).path][0]

    # --- generated JSON --------------------------------------------------------------------------
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
        text, media_entities = self._displayed_text(t)
        urls = []
        for short, expanded in t.links.items():
            i = text.find(short)
            if i >= 0:
                urls.append({"display_url": expanded.split("://", 1)[-1][:26], "expanded_url": expanded,
                             "indices": [i, i + len(short)], "url": short})
        edit_ids = t.edit_ids or [t.id]
        created = t.created
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
            "edit_control": {
                "edit_tweet_ids": edit_ids,
                "editable_until_msecs": str(int(created.timestamp() * 1000) + 3_600_000),
                "is_edit_eligible": True,
                "edits_remaining": str(max(0, 5 - len(edit_ids) + 1)),
            },
            "mediaDetails": self._media_details(t, media_entities),
            "photos": [],
            "conversation_count": 0,
            "news_action_type": "conversation",
            "isEdited": len(edit_ids) > 1,
            "isStaleEdit": edit_ids[-1] != t.id,
        }
        if not nested:
            if t.quoted_id and t.quoted_id in self.tweets and self.tweets[t.quoted_id].state == "live":
                body["quoted_tweet"] = self.syndication_json(self.tweets[t.quoted_id], nested=True)
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
            out.append({**base, "type": "photo", "media_url_https": self.url(f"/media/{photo['name']}"),
                        "original_info": {"width": w, "height": h},
                        **({"ext_alt_text": photo["alt"]} if photo.get("alt") else {})})
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
        parts = html.escape(t.text, quote=False)
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

    def _post_oembed(self, provider: str, query: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
        p = self.posts.get(query.get("url", ""))
        if p is None or p.provider != provider or p.state == "deleted":
            return 404, [("Content-Type", "text/html; charset=utf-8")], b"Not Found"
        if p.state == "private":
            status = 401 if provider == "youtube" else 403
            return status, [("Content-Type", "text/html; charset=utf-8")], b"Unauthorized"
        return _json(200, self.post_oembed_json(p))

    def shortlink_target(self, code: str) -> str | None:
        for t in self.tweets.values():
            if t.media_code == code:
                kind = "photo" if t.photos else "video"
                return f"https://twitter.com/{t.handle}/status/{t.id}/{kind}/1"
            for short, expanded in t.links.items():
                if short.rsplit("/", 1)[-1] == code:
                    return expanded
        return None

    # --- request handling ------------------------------------------------------------------------
    def _record(self, method: str, path: str, query: dict[str, str], headers: dict[str, str]) -> str | None:
        """Log the request; the behaviour step to play, if one matches."""
        with self._lock:
            self.requests.append(RecordedRequest(method, path, query, headers))
            for match, (steps, sticky) in self._behaviours.items():
                m_path, _, m_query = match.partition("?")
                if m_path != path or any(query.get(k) != v for k, v in parse_qsl(m_query)):
                    continue
                if not steps:
                    continue
                return steps[0] if sticky and len(steps) == 1 else steps.pop(0)
        return None

    def sleep(self) -> None:
        """A bounded sleep that ends early when the origin closes."""
        self._stop.wait(self.timeout_sleep)

    def respond(self, path: str, query: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
        """The normal answer (no behaviour) to a GET."""
        if path == "/oembed":
            found = parse_status_url(query.get("url", ""))
            t = self.tweets.get(found[1]) if found else None
            if t is None or t.state in ("deleted", "tombstone"):
                return _json(404, {"errors": [{"message": "Sorry, that page does not exist", "code": 34}]})
            if t.state == "protected":
                return _json(403, {"errors": [{"message": "Not authorized", "code": 179}]})
            return _json(200, self.oembed_json(t))
        if path == "/tweet-result":
            tid = query.get("id", "")
            if not re.fullmatch(r"[0-9]{1,20}", tid):
                return _json(400, {"error": "id must be a tweet id"})
            t = self.tweets.get(tid)
            if t is None or query.get("token") != syndication_token(tid) or t.state == "protected":
                return 404, [("Content-Type", "text/plain")], b""
            if t.state == "deleted":
                return _json(200, {})
            if t.state == "tombstone":
                return _json(200, tombstone_json())
            return _json(200, self.syndication_json(t))
        if path.startswith("/oembed/"):
            return self._post_oembed(path[len("/oembed/"):], query)
        if m := re.fullmatch(r"/mastodon/([a-z0-9.\-]{1,253})/api/oembed", path):
            if urlsplit(query.get("url", "")).hostname != m.group(1):
                return 404, [("Content-Type", "text/html; charset=utf-8")], b"Not Found"
            return self._post_oembed("mastodon", query)
        if path.startswith("/t.co/"):
            target = self.shortlink_target(path[len("/t.co/"):])
            if target is None:
                return 404, [("Content-Type", "text/html")], b"<html><body>Not found</body></html>"
            esc = html.escape(target)
            body = (f'<head><meta name="referrer" content="always"><noscript><META http-equiv="refresh" '
                    f'content="0;URL={esc}"></noscript><title>{esc}</title></head>'
                    '<script>window.opener = null; location.replace("' + esc + '")</script>').encode()
            return 301, [("Location", target), ("Content-Type", "text/html; charset=utf-8")], body
        with self._lock:
            found_file = self._files.get(path)
        if found_file is None:
            return 404, [("Content-Type", "text/plain")], b"not found"
        body, ctype = found_file
        return 200, [("Content-Type", ctype)], body

    def play(self, step: str, path: str, query: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
        if step == "ok":
            return self.respond(path, query)
        if step == "empty":
            return _json(200, {})
        if step == "tombstone":
            return _json(200, tombstone_json())
        if step == "429":
            return 429, [("Retry-After", str(self.retry_after)), ("Content-Type", "application/json")], \
                b'{"errors":[{"message":"Rate limit exceeded","code":88}]}'
        if step == "timeout":
            self.sleep()
            return self.respond(path, query)
        if step == "garbage":
            return 200, [("Content-Type", "application/json")], b"<html>\x00\xff\xfe{{not json"
        if step == "redirect":  # to the site's home page, as CDNs do for what they removed
            return 302, [("Location", "/"), ("Content-Type", "text/plain")], b""
        return int(step), [("Content-Type", "text/plain")], f"fixture status {step}".encode()


def tombstone_json() -> dict[str, Any]:
    return {"__typename": "TweetTombstone", "tombstone": {"text": {
        "text": TOMBSTONE_TEXT,
        "entities": [{"from_index": 147, "to_index": 157, "ref": {
            "__typename": "TimelineUrl", "url": "https://help.x.com/rules-and-policies/media-policy",
            "url_type": "ExternalUrl"}}],
        "rtl": False}}}


def _json(status: int, body: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, [("Content-Type", "application/json;charset=utf-8")], \
        json.dumps(body, ensure_ascii=False).encode("utf-8")


class _Handler(BaseHTTPRequestHandler):
    fixture: FixtureOrigin
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def do_GET(self) -> None:
        try:
            parts = urlsplit(self.path)
            query = dict(parse_qsl(parts.query, keep_blank_values=True))
            headers_in = {k.lower(): v for k, v in self.headers.items()}
            step = self.fixture._record("GET", parts.path, query, headers_in)
            if step is None:
                status, headers, body = self.fixture.respond(parts.path, query)
            else:
                status, headers, body = self.fixture.play(step, parts.path, query)
        except Exception as exc:  # the origin must answer, whatever it was asked
            status, headers, body = 500, [("Content-Type", "text/plain")], f"fixture error: {exc}".encode()
        try:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client went away (e.g. it timed out)
            self.close_connection = True
