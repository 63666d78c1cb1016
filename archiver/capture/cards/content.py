"""What a static card shows, read once from a manifest and made safe to display.

Both cards (the HTML fragment and the PNG) show the same things: the author, a note for posts that are
gone, the text, the media, the quoted and parent posts, the attribution and where the copy came from.
Manifests come from platforms and are hostile input, so every value is reduced here to plain display
text (strings only, without control or bidi-override characters) and every URL is checked with
``safe_url``; the renderers take a ``CardContent`` and never look at the manifest themselves.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from archiver.storage.layout import blob_key

if TYPE_CHECKING:
    from archiver.storage.base import ObjectStore


MAX_TEXT_CHARS = 4000  # a card shows at most this much text; the manifest keeps all of it

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

_LANG = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8}){0,3}")

_SHA256 = re.compile(r"[0-9a-f]{64}")

# The link a tweet's text ends with when it carries media: the card shows the media instead.
_MEDIA_LINK = re.compile(r"\s*https?://(?:x|twitter)\.com/\w{1,15}/status/\d{1,20}/(?:photo|video)/\d\s*$")

STATUS_NOTE = {
    "deleted": "The post has been deleted. This is what the article showed.",
    "protected": "The post is protected. This is what the article showed.",
    "tombstoned": "The post is withheld by the platform. This is what the article showed.",
    "unresolved": "The original post could not be identified. This is what the article showed.",
    "unavailable": "The platform did not answer; this is what was captured so far.",
    "failed": "The capture failed; this is what was captured so far.",
}


def clean(value: Any) -> str:
    """A manifest value as display text: strings only ("" for anything else), control and
    bidi-override characters dropped."""
    return _CONTROL.sub("", value) if isinstance(value, str) else ""


def safe_url(url: Any) -> str | None:
    """``url`` if it is an absolute http(s) URL of at most 4096 characters without spaces or control
    characters; None otherwise (never raises)."""
    if not isinstance(url, str) or not url or len(url) > 4096 or re.search(r"[\s\x00-\x1f\x7f]", url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def stable_url(store: ObjectStore, key: Any) -> str | None:
    """The public URL of stored object ``key`` if it is a safe URL; None for no key or an unusable one."""
    if not isinstance(key, str) or not key:
        return None
    try:
        return safe_url(store.public_url(key))
    except ValueError:
        return None


def display_date(value: Any) -> str:
    """``2025-07-15T09:12:33.123Z`` → ``15 Jul 2025, 09:12 UTC``; other strings as they are."""
    text = clean(value)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    return f"{dt.day} {dt:%b %Y, %H:%M} UTC"


def display_text(m: dict[str, Any]) -> str:
    """The post's text as a card shows it: expanded links, no trailing media link, at most
    MAX_TEXT_CHARS characters (then an ellipsis)."""
    text = clean(m.get("text_expanded")) or clean(m.get("text")) or clean(m.get("tombstone"))
    if m.get("media"):
        text = _MEDIA_LINK.sub("", text)
    return text[:MAX_TEXT_CHARS] + ("…" if len(text) > MAX_TEXT_CHARS else "")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def author_of(m: dict[str, Any]) -> tuple[str, str]:
    """(name, handle) of the post's author, each "" when unknown."""
    a = _dict(m.get("author"))
    return clean(a.get("name")), clean(a.get("handle"))


def related_manifest(store: ObjectStore, ref: Any) -> dict[str, Any] | None:
    """The manifest a quoted/parent reference points at, when it was stored and reads as an object."""
    if not isinstance(ref, dict) or not isinstance(ref.get("manifest_key"), str):
        return None
    try:
        data = json.loads(store.get(ref["manifest_key"]))
    except (KeyError, OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@dataclass(frozen=True)
class Media:
    """One medium of the post: ``kind`` is the manifest's type (photo, video, animated_gif, ...);
    ``key`` and ``poster_key`` are storage keys as the manifest gives them (unchecked)."""

    kind: str
    archived: bool
    key: Any
    poster_key: Any
    alt: str

    @property
    def moving(self) -> bool:
        """A video or an animated GIF: shown by its poster frame with a play mark."""
        return self.kind in ("video", "animated_gif")

    @property
    def label(self) -> str:
        """What to call the medium in a note: video, GIF or image."""
        return {"video": "video", "animated_gif": "GIF"}.get(self.kind, "image")


@dataclass(frozen=True)
class Related:
    """A quoted or parent post: ``label`` is "Quoting" or "Replying to"; ``found`` when its own
    manifest was stored (then name, handle and text are its), else only its URL or post id is known."""

    label: str
    found: bool
    name: str
    handle: str
    text: str
    url: str | None
    post_id: str


@dataclass(frozen=True)
class CardContent:
    """Everything a card shows, as display text and checked URLs (``original`` is None when unsafe)."""

    provider: str
    post_id: str
    capture_id: str
    name: str
    handle: str
    avatar_sha256: str | None  # a valid lowercase hex digest, or None
    lang: str | None  # a well-formed language tag, or None
    note: str  # what the post's status means for the reader, or ""
    text: str
    media: tuple[Media, ...]
    related: tuple[Related, ...]  # quoted first, then parent
    created: str  # the post's date as displayed, or ""
    created_at: str  # the post's date as the manifest gives it (for <time datetime>)
    shown: str  # the attribution line the article showed
    source_lines: tuple[str, ...]
    original: str | None
    captured: str

    @property
    def avatar_key(self) -> str | None:
        """The storage key of the author's avatar original, if the manifest names one."""
        return blob_key(self.avatar_sha256) if self.avatar_sha256 else None


def _related(store: ObjectStore, m: dict[str, Any], relation: str, label: str) -> Related | None:
    ref = m.get(relation)
    if not isinstance(ref, dict):
        return None
    rm = related_manifest(store, ref)
    if rm is None:
        return Related(label, False, "", "", "", safe_url(ref.get("url")), clean(ref.get("post_id")))
    name, handle = author_of(rm)
    return Related(label, True, name, handle, display_text(rm), safe_url(ref.get("url")), clean(ref.get("post_id")))


def card_content(manifest: dict[str, Any], store: ObjectStore) -> CardContent:
    """Read ``manifest`` (any shape: wrong types show as nothing) and the stored manifests of its quoted
    and parent posts, once, into what both cards show."""
    m = manifest
    name, handle = author_of(m)
    sha = _dict(m.get("author")).get("avatar_sha256")
    lang = clean(m.get("lang"))
    attribution = _dict(m.get("attribution"))
    media = tuple(Media(str(x.get("type")), x.get("status") == "archived", x.get("key"), x.get("poster_key"),
                        clean(x.get("alt_text")))
                  for x in (m.get("media") if isinstance(m.get("media"), list) else []) if isinstance(x, dict))
    related = (_related(store, m, "quoted", "Quoting"), _related(store, m, "parent", "Replying to"))
    source_lines = attribution.get("source_lines") or []
    return CardContent(
        provider=clean(m.get("provider")), post_id=clean(m.get("post_id")), capture_id=clean(m.get("capture_id")),
        name=name, handle=handle,
        avatar_sha256=sha if isinstance(sha, str) and _SHA256.fullmatch(sha) else None,
        lang=lang if _LANG.fullmatch(lang) else None,
        note=STATUS_NOTE.get(clean(m.get("status")), ""),
        text=display_text(m),
        media=media,
        related=tuple(r for r in related if r is not None),
        created=display_date(m.get("created_at")) or clean(attribution.get("date")),
        created_at=clean(m.get("created_at")),
        shown=clean(attribution.get("shown")),
        source_lines=tuple(clean(x) for x in source_lines if isinstance(x, str)),
        original=safe_url(m.get("url")),
        captured=display_date(m.get("captured_at")),
    )
