"""What the fixture origin knows and serves: tweets and other platforms' posts as fixtures, and real,
deterministic media bytes (Pillow images, small MP4 files with valid boxes) to stand for their media.
Tests build these; ``fixture_origin.FixtureOrigin`` answers for them.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from archiver.providers.twitter.ids import snowflake_time

STATES = ("live", "deleted", "tombstone", "protected")
POST_STATES = ("live", "deleted", "private")
OEMBED_PROVIDERS = ("youtube", "tiktok", "reddit", "bluesky", "mastodon")
RTL_LANGS = frozenset({"ar", "he", "fa", "ur", "ps", "yi"})
TOMBSTONE_TEXT = ("Age-restricted adult content. This content might not be appropriate for people under "
                  "18 years old. To view this media, you’ll need to log in to X. Learn more")


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
    # The shapes of ../shared/formats/twitter-shapes.md: ``extra`` is merged into the syndication
    # JSON (nested dicts merged key by key: a card, a note_tweet, withheld_in_countries, counts, a
    # user's flags); ``syndication`` replaces the whole body (a TweetTombstone, a TweetUnavailable, a
    # TweetWithVisibilityResults wrapper, ``{}``); ``oembed_text`` replaces the text oEmbed shows (a
    # long post whose whole text only oEmbed has). Each photo may carry ``extra`` merged into its
    # mediaDetails entry (ext_media_availability, sensitive_media_warning, source_status_id_str).
    extra: dict[str, Any] = field(default_factory=dict)
    syndication: dict[str, Any] | None = None
    oembed_text: str | None = None
    # The text of the TweetTombstone syndication answers for state "tombstone" (TOMBSTONE_TEXT when
    # None); a warning that wraps the post in a TweetWithVisibilityResults (as the endpoint does for
    # sensitive posts, also when the post is nested as another's quoted_tweet or parent).
    tombstone_text: str | None = None
    interstitial: str | None = None

    def __post_init__(self) -> None:
        """ValueError naming the first field that is not of its type or form (a `--tweets` file's entry
        is read through here: what it gets wrong is said, not met later as an HTTP 500 of the origin)."""
        if not re.fullmatch(r"[0-9]{1,20}", str(self.id)):
            raise ValueError(f"tweet fixture id must be digits, not {self.id!r}")
        for name in ("handle", "name", "text", "lang"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"tweet fixture {name} must be a string, not {getattr(self, name)!r:.60}")
        if self.created_at is not None:
            try:
                self.created  # noqa: B018 - parsed now, so a bad one is said here
            except (TypeError, ValueError, AttributeError):
                raise ValueError(f"tweet fixture created_at must be an ISO 8601 time such as "
                                 f"2025-07-15T09:12:33Z, not {self.created_at!r:.60}") from None
        for name in ("photos", "edit_ids"):
            if not isinstance(getattr(self, name), list):
                raise ValueError(f"tweet fixture {name} must be a list")
        if any(not isinstance(p, dict) for p in self.photos):
            raise ValueError("tweet fixture photos must be objects ({name, alt, width, height})")
        if self.state not in STATES:
            raise ValueError(f"tweet fixture state must be one of {STATES}, not {self.state!r}")
        self.id = str(self.id)
        self.user_id = self.user_id or str(int(hashlib.sha256(self.handle.encode()).hexdigest()[:12], 16))
        if (self.photos or self.video or self.gif) and not self.media_code:
            self.media_code = "m" + hashlib.sha256(self.id.encode()).hexdigest()[:9]

    @property
    def created(self) -> datetime:
        """When it was posted: ``created_at``, else the time in its snowflake id."""
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
        """A short name for the post derived from its URL (its thumbnail's file name)."""
        return hashlib.sha256(self.url.encode()).hexdigest()[:16]


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


def media_type(body: bytes) -> str:
    """The content type of generated (or other common) media bytes, from their first bytes."""
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
