"""The provider interface: what one platform's module declares so that discovery, capture, health and
settings all find it (a new platform is one file; ``registry.py`` finds it).

A provider module defines ``PROVIDER = ProviderSpec(...)``: its post URLs (``PostUrl``), the embed
constructs it recognises (``EmbedForms``), its endpoint settings (``SettingSpec``), its capture (a
``Provider``) and its liveness probe. Everything has a shared default, so a small platform declares
little more than its URL patterns.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from archiver.capture.fetch import Fetcher
    from archiver.config.settings import Settings
    from archiver.discover.html import HtmlScanner
    from archiver.discover.model import Embed
    from archiver.discover.tags import Block, Tag
    from archiver.health.state import Probe
    from archiver.runtime import Runtime
    from archiver.storage.base import ObjectStore

# Outcome of one capture. "unavailable" and "failed" are worth retrying; the rest are final.
EMBED_STATUSES = ("archived", "unavailable", "deleted", "protected", "tombstoned", "unresolved", "failed")
RETRYABLE_STATUSES = frozenset({"unavailable", "failed"})


@dataclass
class CaptureContext:
    """What a capture works with: settings, the safe fetcher, the object store, and the article it
    was found in."""

    settings: Settings
    fetcher: Fetcher
    store: ObjectStore
    article_id: str | None = None
    article_url: str | None = None
    # The decoded article text, so a provider can read what surrounded the embed (source lines).
    article_text: str | None = None
    # Fixed by the pipeline before the capture starts, so a capture run twice writes the same keys.
    # The provider uses it for the main post (quoted/parent posts get their own).
    capture_id: str | None = None
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass
class CaptureResult:
    """The outcome of capturing one post: its status (``EMBED_STATUSES``), where the manifest was
    written and, for the caller's indexing, the manifest itself."""

    status: str
    provider: str
    post_id: str | None
    url: str | None
    capture_id: str | None = None
    manifest_key: str | None = None
    error: str | None = None
    manifest: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "provider": self.provider,
            "post_id": self.post_id,
            "url": self.url,
            "capture_id": self.capture_id,
            "snapshot": self.manifest_key,
            "error": self.error,
        }


class Provider(Protocol):
    """The capture of one platform's posts (``registry.get_provider(name)`` gives it)."""

    name: str

    def capture(self, occurrences: Sequence[Embed], ctx: CaptureContext) -> CaptureResult:
        """Capture one post. `occurrences` are every embed of that post in the article
        (same key), richest markup first; never raises for remote trouble, it reports it."""
        ...


@dataclass(frozen=True)
class SettingSpec:
    """A setting a provider declares (an endpoint URL or template): `name` is the settings field and the
    `ARCHIVER_<NAME>` environment variable, `default` its value when unset, `doc` one line for operators."""

    name: str
    default: str
    doc: str


# (provider, post id, canonical URL or None): a post recognised in a URL or an embed.
PostMatch = tuple[str, str, str | None]


@dataclass(frozen=True)
class PostUrl:
    """One spelling of a platform's post URLs.

    ``pattern`` is tried with ``re.match`` at the start of the URL (compile it with ``re.I``). Without
    ``post``, its named group ``id`` is the post id and ``canonical`` (a template over the named groups,
    e.g. ``"https://t.me/{id}"``; None for no canonical URL) the canonical URL. With ``post``, that
    function turns the match into (post id, canonical URL or None), or None when the URL is not a post
    after all (a query parameter missing, a reserved name); ``match.string`` is the whole URL.
    """

    pattern: re.Pattern[str]
    canonical: str | None = None
    post: Callable[[re.Match[str]], tuple[str, str | None] | None] | None = None

    def read(self, m: re.Match[str]) -> tuple[str, str | None] | None:
        """(post id, canonical URL or None) from a match of ``pattern``, or None."""
        if self.post is not None:
            return self.post(m)
        groups = m.groupdict()
        return groups["id"], self.canonical.format(**groups) if self.canonical else None


# Readers of embed markup. Each one is handed the HTML scanner (``archiver.discover.html``) and adds
# what it finds with ``scan.add(...)``; finding nothing is fine. ``archiver.discover.readers`` has
# ready-made ones for the common shapes and the helpers they share.
BlockquoteReader = Callable[["HtmlScanner", "Block"], None]
TagReader = Callable[["HtmlScanner", "Tag"], None]
# (scanner, the <script> tag, the attribute's value, where the script element ends)
ScriptReader = Callable[["HtmlScanner", "Tag", str, int], None]
# An id as written in markup (an AMP or iframe attribute, a shortcode's argument) -> the post, or None.
IdReader = Callable[[str], "PostMatch | None"]
# (shortcode argument: an id or URL, the shortcode's user= parameter or None) -> the post, or None.
ShortcodeReader = Callable[[str, "str | None"], "PostMatch | None"]
# (runtime, the post's URL, its id) -> what the original says now; raises only for our own side's failures.
LivenessProbe = Callable[["Runtime", str, str], "Probe"]


@dataclass(frozen=True, eq=False)
class EmbedForms:
    """The embed constructs a platform recognises beyond its post URLs (which alone already give
    iframes, WordPress blocks and figures, AMP iframes, URL lines and ``<p>URL</p>`` paragraphs).

    Keys are names as written in markup, lower case; the discover scanners gather them from every
    registered provider.
    """

    # <blockquote class="..."> -> reader of the whole element (text, author, handle, date).
    blockquotes: Mapping[str, BlockquoteReader] = field(default_factory=dict)
    # <div class="..."> -> reader (the scanner only looks at divs that carry one of these classes).
    divs: Mapping[str, TagReader] = field(default_factory=dict)
    # AMP element name ("amp-twitter") -> reader.
    amp: Mapping[str, TagReader] = field(default_factory=dict)
    # <iframe> attribute carrying the post id when its src names no post ("data-tweet-id") -> reader.
    iframe_ids: Mapping[str, IdReader] = field(default_factory=dict)
    # <script> attribute naming the post the script renders ("data-telegram-post") -> reader.
    scripts: Mapping[str, ScriptReader] = field(default_factory=dict)
    # Hugo/Jekyll shortcode name ("tweet", "youtube") -> reader of its argument.
    shortcodes: Mapping[str, ShortcodeReader] = field(default_factory=dict)
    # Plain-text forms (Markdown and text articles): text -> embeds with spans (flattened tweets).
    text: Callable[[str], list[Embed]] | None = None


@dataclass(frozen=True, eq=False)
class ProviderSpec:
    """Everything about one platform. A provider module defines ``PROVIDER = ProviderSpec(...)``.

    ``name`` is the provider as discovery, storage keys (``posts/<name>/...``) and the catalog call it:
    lower case, ``[a-z][a-z0-9_-]{0,31}``.
    """

    name: str
    # Its post URLs, in the order they are tried.
    urls: tuple[PostUrl, ...] = ()
    # Where its URLs are tried and its embed classes looked up among the providers': lower first, then
    # by name. The commonest platforms first keep discovery fast (most links are tweets).
    order: int = 100
    # True when its post URLs live on any host (a federated platform): tried after every other provider.
    any_host: bool = False
    # The account name in one of its canonical post URLs (group 1), searched; None: URLs carry none.
    handle_in_url: re.Pattern[str] | None = None
    # Hosts whose URLs redirect to its posts (short links): never taken for images.
    redirect_hosts: tuple[str, ...] = ()
    embeds: EmbedForms = field(default_factory=EmbedForms)
    # Last touch on each of its embeds once discovery folded nested findings (e.g. a canonical URL
    # completed with the handle the markup showed).
    finish: Callable[[Embed], None] | None = None
    # Its endpoints, as settings (``settings.<name>``, ``ARCHIVER_<NAME>``).
    settings: tuple[SettingSpec, ...] = ()
    # Its capture; None: the shared markup capture (what the publisher's embed carries).
    capture: Callable[[], Provider] | None = None
    # Its liveness probe for originals with a post id; None: the generic page probe (404/410 is gone).
    probe: LivenessProbe | None = None

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", self.name or ""):
            raise ValueError(f"not a provider name: {self.name!r}")
