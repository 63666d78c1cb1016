"""What a static card shows, read once from a manifest and made safe to display.

Both cards (the HTML fragment and the PNG) show the same things: the author, notes (the status in plain
words for every status but archived, holding ``STATUS_WORDS[status]``; the platform's interstitial; the
countries a post is withheld in; sensitive media hidden behind the platform's warning; an edit, and
whether a later version exists), the text (marked as a preview when no source gave all of it), the
media (a sensitive one by a notice naming its warning, not shown), the link card and the poll, the
quoted and parent posts (with the warnings the platform shows before them), the attribution and where
the copy came from.
Manifests come from platforms and are hostile input, so every value is reduced here to plain display
text (strings only, without control or bidi-override characters) and every URL is checked with
``safe_url``; the renderers take a ``CardContent`` and never look at the manifest themselves.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from archiver.capture.statuses import STATUS_WORDS
from archiver.lazyre import lazy
from archiver.storage.layout import blob_key

if TYPE_CHECKING:
    from archiver.storage.base import ObjectStore


MAX_TEXT_CHARS = 4000  # a card shows at most this much text; the manifest keeps all of it

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

_LANG = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8}){0,3}")

_SHA256 = re.compile(r"[0-9a-f]{64}")

# The link a tweet's text ends with when it carries media: the card shows the media instead.
_MEDIA_LINK = lazy(r"\s*https?://(?:x|twitter)\.com/\w{1,15}/status/\d{1,20}/(?:photo|video)/\d\s*$")

# Caps on what a card shows of each part (the manifest keeps everything).
MAX_NOTE_CHARS = 500  # a quoted tombstone or interstitial text
MAX_CARD_TITLE_CHARS = 300
MAX_CARD_DESCRIPTION_CHARS = 600
MAX_POLL_CHOICES = 10
MAX_POLL_LABEL_CHARS = 200
MAX_COUNTRIES = 30
MAX_MISSING_READ = 1000  # entries of ``missing`` read to count what is missing
MAX_MISSING_KINDS = 6

# Every status but archived gets a note holding STATUS_WORDS[status] (other code and tests rely on
# that phrase). ``{countries}`` and ``{tombstone}`` are filled in by ``status_note``.
_NOTES = {
    "partial": "The post was {words}: {missing}. This is what was captured.",
    "unavailable": "The post could not be read: {words}. This is what was captured so far.",
    "deleted": "The post has been {words}. {shown}",
    "suspended": "The post is {words}. {shown}",
    "protected": "The post is {words}: only the people the account owner allows can see it. "
                 "{shown}",
    "withheld": "The post is {words}{countries}{tombstone}. {shown}",
    "age_restricted": "The post is {words}: it is not shown to readers who are not logged in. "
                      "{shown}",
    "violated_rules": "The post was {words}. {shown}",
    "tombstoned": "The post is {words}{tombstone}. {shown}",
    "unresolved": "The embed is {words}: the original post could not be identified. "
                  "{shown}",
    "failed": "The post {words}. {shown}",
}
PREVIEW_NOTE = "Preview: the platform did not give the whole text."
# The last sentence of a gone post's note: what the card shows. Another article's capture (a restore
# that found none of the article's own) is said to be one.
ARTICLE_SHOWED = "This is what the article showed."
OTHER_ARTICLE = "This copy was archived for another article."
# What a missing part is called, singular and plural (MissingPart.part).
_PART_WORDS = {
    "photo": ("photo", "photos"), "video": ("video", "videos"), "animated_gif": ("GIF", "GIFs"),
    "thumbnail": ("thumbnail", "thumbnails"), "media": ("photo or video", "photos or videos"),
    "card_image": ("card image", "card images"),
    "quoted": ("quoted post", "quoted posts"), "parent": ("replied-to post", "replied-to posts"),
    "latest_edit": ("latest version of the post", "latest versions of the post"),
    "avatar": ("profile picture", "profile pictures"), "text": ("part of the text", "parts of the text"),
    "part": ("other part", "other parts"),
}
_RELATED_PARTS = ("quoted", "parent", "latest_edit")  # posts captured in their own right
_SINGLE_PARTS = frozenset({"card_image", "quoted", "parent", "latest_edit", "avatar"})  # a post has one
_PART_NAME = lazy(r"[a-z][a-z0-9_]{0,31}")
# Country codes Twitter uses beyond ISO 3166: XX every country, XY a copyright (DMCA) notice.
_SPECIAL_COUNTRIES = {"XX": "every country", "XY": "answer to a copyright notice"}


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


def display_text(m: dict[str, Any], limit: int = MAX_TEXT_CHARS) -> str:
    """The post's text as a card shows it: expanded links, no trailing media link, at most
    ``limit`` characters (MAX_TEXT_CHARS by default; then an ellipsis)."""
    # A tombstoned post's note quotes the tombstone already.
    tombstone = clean(m.get("tombstone")) if m.get("status") != "tombstoned" else ""
    text = clean(m.get("text_expanded")) or clean(m.get("text")) or tombstone
    if m.get("media"):
        text = _MEDIA_LINK.sub("", text)
    return text[:limit] + ("…" if len(text) > limit else "")


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


def _cut(text: str, limit: int) -> str:
    """``text`` at most ``limit`` characters, an ellipsis marking a cut."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _count(value: Any) -> int | None:
    """A count from a manifest: a non-negative int (not a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _and(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def country_names(codes: Any) -> list[str]:
    """The countries of ``withheld_in_countries`` in plain English (``Germany (DE)``), in the manifest's
    order, at most MAX_COUNTRIES (then ``N more``); anything that is not a two-letter code is left out.
    Names come from CLDR (Babel); XX is every country, XY a copyright notice."""
    out: list[str] = []
    seen: set[str] = set()
    valid = [c.upper() for c in _list(codes) if isinstance(c, str) and re.fullmatch(r"[A-Za-z]{2}", c)]
    if "XX" in valid:
        return [_SPECIAL_COUNTRIES["XX"]]
    for code in valid:
        if code in seen:
            continue
        seen.add(code)
        out.append(_SPECIAL_COUNTRIES.get(code) or f"{_territories().get(code) or code} ({code})")
    if len(out) > MAX_COUNTRIES:
        out = [*out[:MAX_COUNTRIES], f"{len(out) - MAX_COUNTRIES} more"]
    return out


@cache
def _territories() -> dict[str, str]:
    from babel import Locale  # imported on first use, like discover/dates.py

    return dict(Locale("en").territories)


def missing_summary(missing: Any) -> str:
    """What ``missing`` (the manifest's MissingPart list, any shape) lacks, counted by kind in plain
    words: ``2 photos and the card image``; "some parts" when it names nothing readable."""
    counts: dict[str, int] = {}
    for entry in _list(missing)[:MAX_MISSING_READ]:
        if not isinstance(entry, dict):
            continue
        part = entry.get("part")
        kind = part if isinstance(part, str) and _PART_NAME.fullmatch(part) else "part"
        counts[kind] = counts.get(kind, 0) + 1
    if not counts:
        return "some parts are missing"
    # A related post is captured in its own right, often from the copy its quoting post carried: it
    # is not missing, its own capture is incomplete.
    related = [_PART_WORDS[k][0] for k in _RELATED_PARTS if k in counts]
    words = []
    for kind, n in [(k, n) for k, n in counts.items() if k not in _RELATED_PARTS][:MAX_MISSING_KINDS]:
        one, many = _PART_WORDS.get(kind, (kind.replace("_", " "), kind.replace("_", " ") + "s"))
        words.append((f"the {one}" if kind in _SINGLE_PARTS else f"one {one}") if n == 1 else f"{n} {many}")
    if len(counts) - len(related) > MAX_MISSING_KINDS:
        words.append("other parts")
    total = sum(n for k, n in counts.items() if k not in _RELATED_PARTS)
    clauses = [f"{_and(words)} {'is' if total == 1 else 'are'} missing"] if words else []
    if related:
        clauses.append(f"the {_and(related)} {'is' if len(related) == 1 else 'are'} not fully captured yet")
    return "; ".join(clauses)


def status_note(m: dict[str, Any], shown: str = ARTICLE_SHOWED) -> str:
    """What the post's status means for the reader, in plain words holding STATUS_WORDS[status]
    (``""`` for archived and for an unknown status): a withheld post names its countries, a
    tombstoned one quotes the platform's text, a partial one says what is missing; a gone post's
    note ends with `shown`, what the card shows (ARTICLE_SHOWED, or OTHER_ARTICLE)."""
    status = m.get("status")
    if not isinstance(status, str) or status not in _NOTES:
        return ""
    countries = country_names(m.get("withheld_in_countries"))
    tombstone = _cut(" ".join(clean(m.get("tombstone")).split()), MAX_NOTE_CHARS)
    return _NOTES[status].format(
        words=STATUS_WORDS[status],
        countries=f" in {_and(countries)}" if countries else "",
        # A withheld post's countries say enough; without them, the platform's text may name them.
        tombstone=f", which says: “{tombstone}”" if tombstone and not (countries and status == "withheld") else "",
        missing=missing_summary(m.get("missing")), shown=shown)


def withheld_note(m: dict[str, Any]) -> str:
    """For a post shown in full that the platform withholds in some countries (the status note of a
    withheld post already names them): ``The platform withholds this post in Germany (DE).``"""
    countries = country_names(m.get("withheld_in_countries"))
    if not countries or m.get("status") == "withheld":
        return ""
    return f"The platform withholds this post in {_and(countries)}."


# What the platform's sensitive_media_warning flags warn of (SensitiveWarning in manifest.py).
_SENSITIVE_WORDS = (("adult_content", "adult content"), ("graphic_violence", "graphic violence"),
                    ("other", "other sensitive content"))
SENSITIVE_DEFAULT = "sensitive content"  # possibly_sensitive without a named warning


def sensitive_warning(m: dict[str, Any], item: Any = None) -> str:
    """What the platform warns of before showing a medium, in plain words (``adult content and graphic
    violence``): the medium's ``sensitive_warning`` flags; ``sensitive content`` when the medium or the
    post (``m``) is only marked ``possibly_sensitive`` (the platform then hides every medium of the
    post behind its warning); ``""`` when neither is marked. ``item`` is None to ask about the post:
    then any medium's warning counts."""
    items = [item] if item is not None else _list(m.get("media"))
    words: list[str] = []
    flagged = m.get("possibly_sensitive") is True
    for x in items:
        x = _dict(x)
        warning = _dict(x.get("sensitive_warning"))
        for key, word in _SENSITIVE_WORDS:
            if warning.get(key) is True and word not in words:
                words.append(word)
        flagged = flagged or x.get("possibly_sensitive") is True or any(v is True for v in warning.values())
    if words:
        return _and(words)
    return SENSITIVE_DEFAULT if flagged else ""


def sensitive_note(m: dict[str, Any]) -> str:
    """For a post whose media the platform hides behind a warning: the card does the same, naming the
    warning; ``""`` when no medium is marked (or the post has none)."""
    if not _list(m.get("media")):
        return ""
    warning = sensitive_warning(m)
    if not warning:
        return ""
    return (f"The platform hides this post's media behind a warning: {warning}. "
            "The card does not show them; they are kept in the capture.")


def interstitial_note(m: dict[str, Any]) -> str:
    """The warning the platform shows before the post, quoted; ``""`` when there is none."""
    text = _cut(" ".join(clean(m.get("interstitial")).split()), MAX_NOTE_CHARS)
    return f"The platform shows a warning before this post: “{text}”" if text else ""


def edit_note(m: dict[str, Any]) -> str:
    """Whether the post was edited, from the manifest's edit fields: every edited post says so (``edit.is_edited``,
    or an edit chain of more than one version); a stale version (``edit.is_stale``, or ``is_latest`` false)
    says the article showed an earlier version and names the latest one (from ``latest_edit``, else the
    edit chain); the latest version says it is the latest. ``""`` for a post not known to be edited."""
    edit = _dict(m.get("edit"))
    ids = [clean(i) for i in _list(edit.get("edit_ids")) if isinstance(i, str) and clean(i)]
    stale = edit.get("is_stale") is True or (edit.get("is_stale") is None and edit.get("is_latest") is False
                                              and len(ids) > 1)
    if stale:
        latest = (clean(_dict(m.get("latest_edit")).get("post_id")) or clean(edit.get("latest_id"))
                  or (ids[-1] if ids else ""))
        latest = latest if re.fullmatch(r"[0-9A-Za-z_-]{1,64}", latest) else ""
        tail = f"; the latest version is {latest}" if latest else ""
        return f"The post was edited: the article showed an earlier version{tail}."
    if edit.get("is_edited") is not True and len(ids) < 2:
        return ""
    versions = f" of its {len(ids)} versions" if len(ids) > 1 else ""
    if edit.get("is_latest") is True:
        return f"The post was edited: this is the latest{versions or ' version'}."
    return "The post was edited."


# "— Name (@handle) Date": the lead (a dash, "shared by"), the name, the handle in brackets, the date.
_SHOWN = lazy(r"(?P<lead>[^(]*?[—–―-]\s*|)(?P<name>[^()]*?)(?P<open>\s*\(\s*)(?P<handle>[^()\s]{1,120})"
                    r"(?P<close>\s*\)\s*)(?P<date>.*)", re.S)


def attribution_parts(shown: str, author: str = "", handle: str = "", date: str = "") -> tuple[tuple[str, bool], ...]:
    """An attribution line (``— الجزيرة (@AJArabic) July 21, 2025``) cut into (text, isolated) parts that
    concatenate back to it, so a renderer puts each isolated part in its own bidi isolate (``<bdi>``)
    and a right-to-left name in a left-to-right line (or a left-to-right handle or date in a
    right-to-left one) keeps the line in logical order. Name, handle and date are isolated; the dash,
    brackets and spaces between them are not. ``author``, ``handle`` and ``date`` (what discovery read
    of the line) are used when the line holds them in that order, else the line's own shape; a line
    of another shape is one isolate. ``()`` for an empty line."""
    if not shown:
        return ()
    if author and handle and date:
        at = shown.find(author)
        h = shown.find(handle, at + len(author)) if at >= 0 else -1
        d = shown.find(date, h + len(handle)) if h >= 0 else -1
        if d >= 0:
            cuts = [(shown[:at], False), (author, True), (shown[at + len(author):h], False), (handle, True),
                    (shown[h + len(handle):d], False), (date, True), (shown[d + len(date):], False)]
            # "@" stays with the handle it belongs to
            if cuts[2][0].endswith("@"):
                cuts[2], cuts[3] = (cuts[2][0][:-1], False), ("@" + handle, True)
            return tuple(p for p in cuts if p[0])
    m = _SHOWN.fullmatch(shown)
    if not m:
        return ((shown, True),)
    date_text = m.group("date")
    tail = len(date_text) - len(date_text.rstrip())
    parts = [(m.group("lead"), False), (m.group("name").rstrip(), True),
             (m.group("name")[len(m.group("name").rstrip()):] + m.group("open"), False), (m.group("handle"), True),
             (m.group("close"), False), (date_text[:len(date_text) - tail], True),
             (date_text[len(date_text) - tail:], False)]
    return tuple(p for p in parts if p[0])


@dataclass(frozen=True)
class Media:
    """One medium of the post: ``kind`` is the manifest's type (photo, video, animated_gif, ...);
    ``key`` and ``poster_key`` are storage keys as the manifest gives them (unchecked)."""

    kind: str
    archived: bool
    key: Any
    poster_key: Any
    alt: str
    width: int | None = None  # pixels as the manifest gives them (a positive int), else None
    height: int | None = None
    # What the platform warns of before showing it (``sensitive_warning``), or "": a card then does not
    # show the medium, only a notice naming the warning (and, in HTML, a link to the archived copy).
    sensitive: str = ""

    @property
    def moving(self) -> bool:
        """A video or an animated GIF: shown by its poster frame with a play mark."""
        return self.kind in ("video", "animated_gif")

    @property
    def label(self) -> str:
        """What to call the medium in a note: video, GIF or image."""
        return {"video": "video", "animated_gif": "GIF"}.get(self.kind, "image")

    @property
    def hidden_label(self) -> str:
        """The notice shown instead of a sensitive medium (``image hidden by the platform's warning: adult
        content``); "" when it is not sensitive."""
        return f"{self.label} hidden by the platform's warning: {self.sensitive}" if self.sensitive else ""


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
    # The warnings the platform shows before it (its interstitial, its sensitive media), as notes.
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class LinkPreview:
    """A link card the post shows: display texts ("" when unknown), ``url`` the link it leads to when
    it passes ``safe_url`` (the expanded URL, else the card's own), ``url_text`` the URL as plain text
    either way, and the archived card image's storage key (unchecked, None when not archived)."""

    title: str
    description: str
    domain: str
    url: str | None
    url_text: str
    image_key: Any
    image_alt: str


@dataclass(frozen=True)
class PollOption:
    """One choice of a poll: its label, its count when known, and its share of the votes as text
    (``62.1%``; "" when a count is unknown)."""

    label: str
    count: int | None
    percent: str
    share: float  # 0..1, for a bar; 0 when unknown


@dataclass(frozen=True)
class PollView:
    """A poll as a card shows it: the choices in order (at most MAX_POLL_CHOICES), the total of the
    counts (None when one is unknown), and a line saying whether the counts are final or when they were
    read, and when the poll ends."""

    choices: tuple[PollOption, ...]
    total: int | None
    final: bool
    state: str


def link_preview(m: dict[str, Any]) -> LinkPreview | None:
    """The manifest's ``card`` (LinkCard) as display values; None when there is none, or it shows
    nothing (no title, description, domain, URL or archived image)."""
    card = m.get("card")
    if not isinstance(card, dict):
        return None
    image = _dict(card.get("image"))
    key = image.get("key") if image.get("status") == "archived" else None
    expanded, short = card.get("expanded_url"), card.get("url")
    url = safe_url(expanded) or safe_url(short)
    url_text = _cut(clean(expanded) or clean(short), 300)
    out = LinkPreview(title=_cut(clean(card.get("title")).strip(), MAX_CARD_TITLE_CHARS),
                      description=_cut(clean(card.get("description")).strip(), MAX_CARD_DESCRIPTION_CHARS),
                      domain=_cut(clean(card.get("domain")).strip(), 100), url=url, url_text=url_text,
                      image_key=key if isinstance(key, str) and key else None,
                      image_alt=_cut(clean(image.get("alt_text")), 300))
    if not (out.title or out.description or out.domain or out.url_text or out.image_key):
        return None
    return out


def poll_view(m: dict[str, Any]) -> PollView | None:
    """The manifest's ``poll`` as display values: each choice with its count and percentage, "final
    results" or "counts at <read_at>", and the end time; None when it has no choice."""
    poll = m.get("poll")
    if not isinstance(poll, dict):
        return None
    raw = [c for c in _list(poll.get("choices")) if isinstance(c, dict)][:MAX_POLL_CHOICES]
    if not raw:
        return None
    counts = [_count(c.get("count")) for c in raw]
    total = sum(c for c in counts if c is not None) if all(c is not None for c in counts) else None
    choices = []
    for c, n in zip(raw, counts, strict=True):
        share = (n / total) if total and n is not None else 0.0
        percent = f"{share * 100:.1f}%" if total is not None and n is not None else ""
        choices.append(PollOption(_cut(" ".join(clean(c.get("label")).split()), MAX_POLL_LABEL_CHARS) or "(no label)",
                                  n, percent, share))
    final = poll.get("counts_are_final") is True
    read_at, end = display_date(poll.get("read_at")), display_date(poll.get("end_datetime"))
    parts = ["final results" if final else (f"counts at {read_at}" if read_at else "counts not final")]
    if end:
        parts.append(f"{'ended' if final else 'ends'} {end}")
    if total is not None:
        parts.append(f"{total} vote{'' if total == 1 else 's'}")
    return PollView(tuple(choices), total, final, "Poll: " + " · ".join(parts))


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
    # --- what manifest v2 adds ---
    status: str = ""  # the manifest's status when it is a known one
    interstitial: str = ""  # the platform's warning before the post, as a note
    withheld: str = ""  # the countries a post shown in full is withheld in, as a note
    preview: bool = False  # the text is a preview (text_complete is false): say so
    edit: str = ""  # an edited post: edited, and when stale, that a later version exists
    sensitive: str = ""  # the platform hides the post's media behind a warning: the card does too
    link: LinkPreview | None = None
    poll: PollView | None = None
    # ``shown`` cut into (text, isolated) parts: name, handle and date isolated (``attribution_parts``)
    shown_parts: tuple[tuple[str, bool], ...] = ()

    @property
    def notes(self) -> tuple[str, ...]:
        """Every note a card shows above the text, in order (the status first)."""
        return tuple(n for n in (self.note, self.interstitial, self.sensitive, self.withheld, self.edit) if n)

    @property
    def avatar_key(self) -> str | None:
        """The storage key of the author's avatar original, if the manifest names one."""
        return blob_key(self.avatar_sha256) if self.avatar_sha256 else None


def content_to_json(content: CardContent) -> dict[str, Any]:
    """``content`` as plain dicts, lists, strings and numbers (the request an image worker reads to draw
    the card; ``content_from_json`` makes it again)."""
    return asdict(content)


def content_from_json(data: dict[str, Any]) -> CardContent:
    """The CardContent ``content_to_json`` gave ``data`` for. TypeError or KeyError when ``data`` is not
    of that shape (it comes from our own process, so that is a bug, not hostile input)."""
    link, poll = data.get("link"), data.get("poll")
    return CardContent(**{
        **data,
        "media": tuple(Media(**m) for m in data["media"]),
        "related": tuple(Related(**{**r, "notes": tuple(r.get("notes", ()))}) for r in data["related"]),
        "source_lines": tuple(data["source_lines"]),
        "link": LinkPreview(**link) if link is not None else None,
        "poll": PollView(**{**poll, "choices": tuple(PollOption(**o) for o in poll["choices"])})
        if poll is not None else None,
        "shown_parts": tuple((str(text), bool(isolated)) for text, isolated in data.get("shown_parts", ())),
    })


def _related(store: ObjectStore, m: dict[str, Any], relation: str, label: str) -> Related | None:
    ref = m.get(relation)
    if not isinstance(ref, dict):
        return None
    rm = related_manifest(store, ref)
    if rm is None:
        return Related(label, False, "", "", "", safe_url(ref.get("url")), clean(ref.get("post_id")))
    name, handle = author_of(rm)
    notes = tuple(n for n in (interstitial_note(rm), sensitive_note(rm)) if n)
    return Related(label, True, name, handle, display_text(rm), safe_url(ref.get("url")), clean(ref.get("post_id")),
                   notes)


def _pixels(value: Any) -> int | None:
    """A width or height from a manifest: a positive int (not a bool) up to 100000, else None."""
    n = _count(value)
    return n if n and n <= 100_000 else None


def card_content(manifest: dict[str, Any], store: ObjectStore, text_limit: int = MAX_TEXT_CHARS) -> CardContent:
    """Read ``manifest`` (any shape: wrong types show as nothing) and the stored manifests of its quoted
    and parent posts, once, into what the cards show; the post's text is cut at ``text_limit``
    characters (the inline card keeps more of it than the fixed-size cards)."""
    m = manifest
    status = clean(m.get("status"))
    name, handle = author_of(m)
    sha = _dict(m.get("author")).get("avatar_sha256")
    lang = clean(m.get("lang"))
    attribution = _dict(m.get("attribution"))
    media = tuple(Media(str(x.get("type")), x.get("status") == "archived", x.get("key"), x.get("poster_key"),
                        clean(x.get("alt_text")), _pixels(x.get("width")), _pixels(x.get("height")),
                        sensitive_warning(m, x))
                  for x in (m.get("media") if isinstance(m.get("media"), list) else []) if isinstance(x, dict))
    related = (_related(store, m, "quoted", "Quoting"), _related(store, m, "parent", "Replying to"))
    source_lines = attribution.get("source_lines") or []
    return CardContent(
        provider=clean(m.get("provider")), post_id=clean(m.get("post_id")), capture_id=clean(m.get("capture_id")),
        name=name, handle=handle,
        avatar_sha256=sha if isinstance(sha, str) and _SHA256.fullmatch(sha) else None,
        lang=lang if _LANG.fullmatch(lang) else None,
        note=status_note(m),
        text=display_text(m, text_limit),
        media=media,
        related=tuple(r for r in related if r is not None),
        created=display_date(m.get("created_at")) or clean(attribution.get("date")),
        created_at=clean(m.get("created_at")),
        shown=clean(attribution.get("shown")),
        shown_parts=attribution_parts(clean(attribution.get("shown")), clean(attribution.get("author")),
                                      clean(attribution.get("handle")), clean(attribution.get("date"))),
        source_lines=tuple(clean(x) for x in source_lines if isinstance(x, str)),
        original=safe_url(m.get("url")),
        captured=display_date(m.get("captured_at")),
        status=status if status in STATUS_WORDS else "",
        interstitial=interstitial_note(m),
        withheld=withheld_note(m),
        preview=m.get("text_complete") is False,
        edit=edit_note(m),
        sensitive=sensitive_note(m),
        link=link_preview(m),
        poll=poll_view(m),
    )
