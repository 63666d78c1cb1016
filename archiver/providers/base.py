"""The provider interface: what one platform's module declares so that discovery, capture, health and
settings all find it (a new platform is one file; ``registry.py`` finds it).

A provider module defines ``PROVIDER = ProviderSpec(...)``: its post URLs (``PostUrl``), the embed
constructs it recognises (``EmbedForms``), its endpoint settings (``SettingSpec``), its capture (a
``Provider``) and its liveness probe. Everything has a shared default, so a small platform declares
little more than its URL patterns.

A capture sees each occurrence's markup (``Occurrence``), never the whole article, and returns what it
captured (``CapturedPost``) without storing anything: the capture step stores it in one place
(``archiver.capture.record``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

# Every outcome of a capture: the manifest's statuses (archiver/capture/statuses.py, which loads no
# pydantic: discovery reaches this module through the registry).
from archiver.capture.statuses import EMBED_STATUSES as EMBED_STATUSES
from archiver.capture.statuses import RETRYABLE_STATUSES as RETRYABLE_STATUSES

if TYPE_CHECKING:
    from archiver.capture.exchange import Exchange
    from archiver.capture.fetch import Fetcher
    from archiver.capture.manifest import Manifest
    from archiver.config.settings import Settings
    from archiver.discover.html import HtmlScanner
    from archiver.discover.model import Embed
    from archiver.discover.tags import Block, Tag
    from archiver.health.state import Probe
    from archiver.runtime import Runtime

# How much of the article after an occurrence a provider sees (``Occurrence.after``), in code points.
AFTER_WINDOW = 600


@dataclass
class CaptureContext:
    """What a capture works with: settings, the safe fetcher, the article the post was found in, and
    the capture id. A provider stores nothing: it returns a ``CapturedPost``."""

    settings: Settings
    fetcher: Fetcher
    article_id: str | None = None
    article_url: str | None = None
    # Fixed by the capture step (archiver/steps/capture.py) before the capture starts, so a capture
    # run twice writes the same keys.
    # The provider uses it for the main post (quoted/parent posts get ids derived from it).
    capture_id: str | None = None
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class Occurrence:
    """One occurrence of a post as its provider sees it: what discovery found (``embed``), its markup
    as the article wrote it (``markup``: the embed's span of the decoded article) and the text right
    after it (``after``: the rest of the span's line and the next non-empty line, at most
    ``AFTER_WINDOW`` code points; where a flattened embed's "(Source: …)" line sits)."""

    embed: Embed
    markup: str = ""
    after: str = ""


def is_digits(value: str) -> bool:
    """Whether ``value`` is a number as platforms issue ids: ASCII digits only (``str.isdigit`` takes
    any script's digits, full-width and Arabic-Indic ones among them, and superscripts)."""
    return value.isascii() and value.isdigit()


def occurrences_in(text: str, embeds: Sequence[Embed]) -> list[Occurrence]:
    """Each embed with its markup and what follows it, cut from the decoded article ``text``. A span
    that does not fit the text gives empty markup (and, past the end, nothing after)."""
    out = []
    for e in embeds:
        markup = text[e.start:e.end] if 0 <= e.start <= e.end <= len(text) else ""
        after = ""
        if 0 <= e.end <= len(text):
            lines = text[e.end:e.end + AFTER_WINDOW].split("\n")
            picked = [lines[0]]
            for line in lines[1:3]:
                picked.append(line)
                if line.strip():
                    break
            after = "\n".join(picked)
        out.append(Occurrence(e, markup, after))
    return out


@dataclass
class MediaRef:
    """A medium a post shows, for the capture step to archive into the manifest's ``media``.

    ``type`` is the manifest's media type (photo, video, animated_gif, thumbnail); ``url`` is fetched
    first and ``listed_url`` (as the platform listed it) when that fails and differs; ``poster_url``
    is the still shown before playback, archived too; ``source`` names the medium's source entries.
    ``duration`` is in seconds, ``bitrate`` in bits per second.

    ``variants`` (when a platform serves several sizes) are (size label, URL) pairs, largest first,
    tried in order instead of ``url``/``listed_url``: the first archived one is kept, its label goes
    into the manifest's ``variant`` and the medium is ``degraded`` when it is not the first.
    ``poster_variants`` do the same for the poster. ``slot`` says where the medium's record goes:
    the manifest's ``media`` list, or ``card`` (the link card's ``image``). ``flags`` are manifest
    Media fields copied as they are (availability, sensitive_warning, possibly_sensitive,
    source_status_id, source_user_id).
    """

    type: str
    url: str
    listed_url: str | None = None
    alt_text: str | None = None
    bitrate: int | None = None
    duration: float | None = None
    poster_url: str | None = None
    source: str = "media"
    variants: tuple[tuple[str, str], ...] = ()
    poster_variants: tuple[tuple[str, str], ...] = ()
    slot: Literal["media", "card"] = "media"
    flags: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """How the fetcher and ``archive_media`` treat it: "image" or "video"."""
        return "image" if self.type in ("photo", "thumbnail") else "video"


# How a related post captured with a post relates to it: quoted, replied to (parent), or the latest
# version of an edited post whose earlier version the article shows.
Relation = Literal["quoted", "parent", "latest_edit"]


@dataclass
class CapturedPost:
    """What a provider captured of one post, before anything is stored.

    ``manifest`` holds what the sources said (status and error included, ``sources`` with their
    provenance); ``exchanges`` are every raw HTTP exchange, for the WARC; ``media`` (and the author's
    ``avatar_url`` in the manifest) are the media to archive; ``related`` are the quoted and parent
    posts captured in their own right. ``archiver.capture.record`` (called by the capture step,
    ``archiver.steps.capture``) archives the media, stores the related posts, fills ``media``,
    ``quoted`` and ``parent``, and writes the WARC, the cards and the manifest. ``manifest`` is None
    when nothing could be captured (``error`` says why).
    """

    provider: str
    manifest: Manifest | None
    exchanges: list[Exchange] = field(default_factory=list)
    media: list[MediaRef] = field(default_factory=list)
    related: dict[Relation, CapturedPost] = field(default_factory=dict)
    error: str | None = None

    @property
    def status(self) -> str:
        """The capture's status as the provider decided it (``EMBED_STATUSES``)."""
        return self.manifest.status if self.manifest is not None else "failed"


class Provider(Protocol):
    """The capture of one platform's posts (``registry.get_provider(name)`` gives it)."""

    name: str

    def capture(self, occurrences: Sequence[Occurrence], ctx: CaptureContext) -> CapturedPost:
        """Capture one post. `occurrences` are every embed of that post in the article (same key),
        richest markup first; never raises for remote trouble, it reports it; stores nothing."""
        ...


@dataclass(frozen=True)
class SettingSpec:
    """A setting a provider declares (an endpoint URL or template): `name` is the settings field and the
    `ARCHIVER_<NAME>` environment variable, `default` its value when unset, `doc` one line for operators."""

    name: str
    default: str
    doc: str


# (provider, post id, canonical URL or None): a post recognised in a URL or an embed. The post id is
# None for a short link that hides it until followed (``ProviderSpec.short_links``); the URL is then
# the short link itself.
PostMatch = tuple[str, str | None, str | None]


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
    iframes, WordPress blocks and figures, AMP iframes, URL lines, ``<p>URL</p>`` paragraphs, and any
    element standing as its own block with one in an attribute, JSON props included: web components,
    MDX components, ``<object>``/``<embed>``).

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
    # Words that name the platform in markup (lower case, letters and digits only: "tweet", "youtube"),
    # searched in an element's name (``<Tweet>``, ``<lite-youtube>``), its class, an attribute's name
    # (``data-tweet-id``) or a component-naming attribute (``data-react-class="TweetEmbed"``).
    names: tuple[str, ...] = ()
    # Attribute (or hydration-props JSON key) that carries a post id, lower case ("videoid", "id",
    # "data-tweet-id") -> reader of the id. Any element standing as its own block is an embed when one
    # of these holds a valid id and the element (or the attribute's own name) carries one of ``names``.
    id_attrs: Mapping[str, IdReader] = field(default_factory=dict)
    # The platform's widgets that name a post without showing it (like and share buttons, comment boxes,
    # page and profile plugins), lower case: an element name (``fb:like``), a class (``fb-like``) or the
    # value of a component-naming attribute (``data-embed-type="creator"``). Markup carrying one is never
    # an embed of this platform, whatever post it names.
    not_posts: tuple[str, ...] = ()


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
    # Registrable domains it serves its pages and media from (its CDNs: ``twimg.com``): with its endpoints,
    # short-link hosts and post URLs, never an article's own site, so their fetches keep the third-party
    # politeness limits whatever an article's URL or ``own_hosts`` says (archiver.capture.ownsite).
    platform_domains: tuple[str, ...] = ()
    # Hosts its embed loader script is served from (``platform.twitter.com/widgets.js``): one such script
    # serves every embed of the platform in an article, so a restore keeps it while one of them stays live
    # (archiver.health.restore.loader_family). A host matches itself and its subdomains.
    loader_hosts: tuple[str, ...] = ()
    # Share links that hide the post id until followed (``https://vt.tiktok.com/ZSTD5bW7/``), tried with
    # ``re.match`` after every provider's post URLs (compile them with ``re.I``). Discovery takes one as
    # an embed of this provider with no post id and the short link as its URL; the capture follows its
    # redirects (``archiver.providers.shortlinks``: no page body kept) to one of ``urls`` and captures
    # that post, recording both URLs.
    short_links: tuple[re.Pattern[str], ...] = ()
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
