"""Restoring an article whose originals died, and reverting it to any earlier version.

Restore works on the CURRENT version's bytes: each dead item's occurrences (spans in the source the
plan was made from) are carried through the chain of version patches to where they sit now, and
only those spans change — a dead tweet embed becomes its inline static card in the article's own
markup (setting ``restore_style = "inline"``, the default: archiver/capture/cards/inline.py), or a
sandboxed frame showing its stored HTML card (``"iframe"``); the embed markup it replaces stays in the
new version's patch, so the restore can be reversed. A dead image points at its stable copy.
Revert writes an earlier version's bytes, exactly but for takedowns, as a new current version. Both go
through article.versions.write_version, tell the CMS through a signed callback, and are audit-logged.

The takedown rule: every version written here (restore, revert, withhold; any future writer must do the
same) first passes through ``takedown_filter``, which finds archiver cards by their structure and
replaces those of posts compliance has taken down by the withheld notice (and re-renders inline cards of
posts quoting one), so no version written while a post is down carries its words or media.
"""

from __future__ import annotations

import html
import json
import logging
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from archiver.article.splice import Patch, PatchError, Replacement, splice
from archiver.article.versions import (
    DamagedData,
    RestoreError,
    encodable,
    map_span,
    missing_version,
    patch_chain,
    version_body,
    version_entry,
    version_listing,
    versions,
    write_version,
)
from archiver.auth import Principal
from archiver.capture.cards.content import ARTICLE_SHOWED, OTHER_ARTICLE, status_note
from archiver.capture.cards.html_card import card_frame
from archiver.capture.cards.inline import (
    WITHHELD_NOTICE,
    InlineCard,
    gone_note,
    inline_card_html,
    is_amp,
    withheld_card_html,
    xml_safe,
)
from archiver.capture.manifest import CAPTURED_STATUSES, GONE_STATUSES
from archiver.compliance import audit
from archiver.compliance.holds import embeds_taken_down, hidden_reason, quoting_posts, set_takedown
from archiver.compliance.holds import ensure_schema as ensure_compliance_schema
from archiver.discover import srcdoc
from archiver.errors import ArchiverError, InputError
from archiver.health.callback import notify_cms
from archiver.health.originals import (
    archived_copy,
    dead_among,
    ensure_schema,
    load_record,
    needs_restore,
    originals_of,
    url_sha256,
)
from archiver.providers.registry import providers
from archiver.records.plan import EmbedItem, ImageItem
from archiver.records.result import EmbedResult, ImageResult, ItemResult
from archiver.records.version import Version
from archiver.steps.finalize import version_page_url
from archiver.steps.prepare import check_article_id, load_plan
from archiver.steps.results import load_results
from archiver.storage import layout
from archiver.storage.base import ObjectNotFound

if TYPE_CHECKING:
    from archiver.runtime import Runtime

log = logging.getLogger(__name__)


# --- the article's versions --------------------------------------------------------------------------
def _history(rt: Runtime, article_id: str) -> list[Version]:
    history = versions(rt, check_article_id(article_id))
    if not history:
        raise InputError(f"no article {article_id!r}: nothing is stored under that id")
    return history


def _current_history(rt: Runtime, article_id: str) -> list[Version]:
    """The article's readable versions, the last of them its current version; DamagedStoredVersion when
    the latest committed version's record is missing or unreadable (nothing is built on an older one
    as if it were current), InputError for an unknown article."""
    listing = version_listing(rt, check_article_id(article_id))
    if not listing.readable and not listing.unreadable:
        raise InputError(f"no article {article_id!r}: nothing is stored under that id")
    if not listing.readable or listing.last_number != listing.readable[-1].version:
        raise missing_version(article_id, listing.last_number)
    return listing.readable


def _missing(exc: ObjectNotFound) -> str:
    """One line for a stored object found missing (a KeyError's message is only the quoted key)."""
    key = exc.args[0] if exc.args else "?"
    return f"the stored object {key} is missing (damaged stored data: restore it from a backup)"


# --- what compliance has taken down ----------------------------------------------------------------
TAKEN_DOWN = "taken down: not restored"


class TakenDown(RestoreError):
    """The item's post (or its stable copy) is taken down by compliance: restore writes none of it."""


def is_taken_down(rt: Runtime, provider: str | None, post_id: str | None) -> bool:
    """Whether compliance has taken the post down now (the catalog's index of the stored states)."""
    if not provider or not post_id:
        return False
    ensure_compliance_schema(rt.catalog)
    rows = rt.catalog.query("SELECT taken_down FROM post_compliance WHERE provider = ? AND post_id = ?",
                            [provider, post_id])
    return bool(rows and rows[0]["taken_down"])


def _check_not_taken_down(rt: Runtime, res: ItemResult | None) -> None:
    """TakenDown when `res` is a taken-down post, or an image whose stable copy a takedown hides."""
    if isinstance(res, EmbedResult) and is_taken_down(rt, res.provider, res.filed_id):
        raise TakenDown(TAKEN_DOWN)
    if isinstance(res, ImageResult) and res.key and hidden_reason(rt, res.key) is not None:
        raise TakenDown(TAKEN_DOWN)


# --- what a dead item becomes ---------------------------------------------------------------------
def captured(result: ItemResult | None) -> EmbedResult:
    """The item's result when it names a capture holding the post (archived or partial); RestoreError
    when there is none to restore from."""
    embed = result if isinstance(result, EmbedResult) else None
    if embed is None or embed.status not in CAPTURED_STATUSES or not embed.manifest_key:
        raise RestoreError(f"no archived copy of {result.url if result else None} to restore from "
                           f"(capture status {result.status if result else None!r})")
    return embed


def _manifest_of(rt: Runtime, embed: EmbedResult) -> dict[str, Any]:
    """The stored manifest of the item's capture (its ``manifest_key`` is set); RestoreError, one line
    naming it, when it is missing or not a JSON object."""
    assert embed.manifest_key is not None
    try:
        manifest = json.loads(rt.store.get(embed.manifest_key))
    except ObjectNotFound:
        raise RestoreError(f"the capture {embed.capture_id} of {embed.url} cannot be used: its manifest "
                           f"{embed.manifest_key} is missing (damaged stored data: restore it from a backup, "
                           "or capture the post again)") from None
    except ValueError as exc:
        raise RestoreError(f"the capture {embed.capture_id} of {embed.url} has an unreadable manifest: "
                           f"{str(exc)[:200]}") from None
    if not isinstance(manifest, dict):
        raise RestoreError(f"the capture {embed.capture_id} of {embed.url} has an unreadable manifest: "
                           "not a JSON object")
    return manifest


def card_key(rt: Runtime, result: ItemResult | None) -> str:
    """The static card of the item's capture; RestoreError when there is none."""
    embed = captured(result)
    assert embed.manifest_key is not None  # captured() checked it
    manifest = _manifest_of(rt, embed)
    key = (manifest.get("cards") or {}).get("html") or embed.manifest_key.removesuffix(".json") + ".card.html"
    if not isinstance(key, str) or not rt.store.exists(key):
        raise RestoreError(f"the capture {embed.capture_id} of {embed.url} has no static card "
                           f"({key}) yet: capture the post again to make one")
    return key


def card_markup(rt: Runtime, result: EmbedResult, key: str, *, html_context: bool) -> str:
    """A sandboxed frame showing the card (HTML, from the cards' frame template), or the card's stable
    URL (text, Markdown lines). The frame's Robust Links name the capture's human page as its version
    (the frame replaces the whole embed, so it carries them itself: there is no link left to decorate)."""
    src = rt.store.public_url(key)
    if not html_context or result.manifest_key is None:
        return src
    return card_frame(src, original=result.url or "", version_url=version_page_url(rt, result.manifest_key),
                      version_date=result.captured_at or "")


def why_gone(rt: Runtime, result: EmbedResult, shown: str = ARTICLE_SHOWED) -> str:
    """The note saying the post is no longer at its source, and why: from the latest later capture of the
    post that found it gone (deleted, suspended, withheld …: ``inline.gone_note``), else from its link's
    health (dead); "" when neither says so. Its last sentence is `shown` (what the card shows:
    OTHER_ARTICLE for another article's capture). Read from the catalog and storage, so restoring
    again with nothing new learnt gives the same note."""
    if result.filed_id:
        row = rt.catalog.latest_capture(result.provider, result.filed_id, result.captured_at or "", GONE_STATUSES)
        if row is not None and row.get("manifest_key") and row["manifest_key"] != result.manifest_key:
            try:
                note = gone_note(json.loads(rt.store.get(row["manifest_key"])), shown)
            except (ObjectNotFound, ValueError):
                note = ""
            if note:
                return note
    record = load_record(rt, result.url) if result.url else None
    if record is not None and record.get("state") == "dead":
        status = _health_status(record)
        if status:
            return "No longer available at the source. " + status_note({"status": status}, shown)
        return "No longer available at the source: the link to the post stopped working."
    return ""


def _health_status(record: dict[str, Any]) -> str:
    """The gone status (deleted, protected, suspended ...: ``GONE_STATUSES``) the health check's latest
    failure named (a provider probe's detail reads "<status>: <reason>"), else ""."""
    if record.get("last_outcome") == "failure":
        detail = record.get("last_detail")
    else:
        detail = next((h.get("detail") for h in reversed(record.get("history") or [])
                       if isinstance(h, dict) and h.get("outcome") == "failure"), None)
    status = detail.split(":", 1)[0].strip().lower() if isinstance(detail, str) else ""
    return status if status in GONE_STATUSES and status_note({"status": status}) else ""


def inline_markup(rt: Runtime, result: EmbedResult, *, html_context: bool, amp: bool,
                  foreign: bool = False) -> str:
    """The inline static card of the item's capture (HTML; ``inline.inline_card_html``), or the capture
    page's public URL (text, Markdown lines). RestoreError when the capture's manifest cannot be read."""
    assert result.manifest_key is not None  # captured() checked it
    page = version_page_url(rt, result.manifest_key)
    if not html_context:
        return page
    manifest = _manifest_of(rt, result)
    if not isinstance(manifest, dict):
        raise RestoreError(f"the capture {result.capture_id} of {result.url} has no manifest object")
    card = InlineCard(page_url=page, original=result.url or "", version_date=result.captured_at or "",
                      tz=rt.settings.display_timezone,
                      gone=why_gone(rt, result, OTHER_ARTICLE if foreign else ARTICLE_SHOWED), amp=amp,
                      withheld=lambda provider, post_id: is_taken_down(rt, provider, post_id))
    return inline_card_html(manifest, rt.store, card)


# --- the takedown filter every written version passes through ---------------------------------------
# A card restore (or a CMS) put in an article, found by its structure wherever it sits: the inline card
# (``<blockquote class="archiver-card" … data-provider data-post-id>``, balanced to its end tag) or the
# frame whose src names a post's card (``…/posts/<provider>/<post_id>/<capture>.card.html``).
_CARD_OPEN = re.compile(r'<(blockquote|iframe)\b[^<>]*\bclass="archiver-card(?:"|\s[^"]*")[^<>]*>', re.I)
_ATTR = re.compile(r'\s([a-z-]+)="([^"]*)"', re.I)
_IFRAME_END = re.compile(r'</iframe\s*>', re.I)
_BLOCKQUOTE = re.compile(r'<(/?)blockquote\b[^<>]*>', re.I)
_CARD_SRC = re.compile(rf'{layout.POSTS_PREFIX}([A-Za-z0-9_-]+)/([^/"?#]+)/[^/"?#]+\.card\.html')
MAX_CARDS = 10_000  # cards the filter looks at in one article version


def found_cards(text: str) -> list[tuple[int, int, str, str, str]]:
    """Every archiver card in `text` (inline card or frame), as (start, end, tag, provider, post_id), in
    order; the withheld notice card and a card naming no post are left out. Character offsets; an inline
    card runs to its balanced ``</blockquote>`` (to the end of the text when unbalanced)."""
    out: list[tuple[int, int, str, str, str]] = []
    pos = 0
    while len(out) < MAX_CARDS:
        m = _CARD_OPEN.search(text, pos)
        if m is None:
            break
        tag = m.group(1).lower()
        attrs = {k.lower(): html.unescape(v) for k, v in _ATTR.findall(m.group(0))}
        if tag == "iframe":
            close = _IFRAME_END.search(text, m.end())
            end = len(text) if close is None else close.end()
            src = _CARD_SRC.search(unquote(attrs.get("src", "")))
            provider, post_id = (src.group(1), src.group(2)) if src else ("", "")
        else:
            depth, end = 0, len(text)
            for b in _BLOCKQUOTE.finditer(text, m.start()):
                depth += -1 if b.group(1) else 1
                if depth == 0:
                    end = b.end()
                    break
            provider, post_id = attrs.get("data-provider", ""), attrs.get("data-post-id", "")
        if provider and post_id and attrs.get("data-withheld") != "true":
            out.append((m.start(), end, tag, provider, post_id))
        pos = end if end > m.end() else m.end()
    return out


def takedown_filter(rt: Runtime, text: str, *, results: dict[str, ItemResult] | None = None
                    ) -> tuple[list[Replacement], list[str]]:
    """What the takedown rule changes in an article version's `text` before it is written (restore,
    revert, withhold: every writer): each card (``found_cards``) of a post taken down now becomes the
    withheld notice (``inline.withheld_card_html``); an inline card of a post whose capture embeds a
    taken-down post's words (``holds.embeds_taken_down``) is rendered again from the article's item
    `results` so the quoted words become the notice, or, with no capture to render from, becomes the
    notice too. A frame of such a post is left: its card answers 410 publicly. Returns (replacements,
    ["<provider>/<post_id>" of each card changed]); text outside the cards is untouched."""
    cards = cards_everywhere(text)
    if not cards:
        return [], []
    # Each post's capture as restore showed it (its own, else another article's: archived_copy).
    copies = ((archived_copy(rt, r), r) for r in (results or {}).values() if isinstance(r, EmbedResult))
    by_post = {(c.provider, c.filed_id): (c, c.capture_id != r.capture_id) for c, r in copies if c is not None}
    amp = is_amp(text)
    reps, changed = [], []
    for path, (start, end, tag, provider, post_id) in cards:
        if is_taken_down(rt, provider, post_id):
            new = withheld_card_html()
        elif tag == "blockquote" and embeds_taken_down(rt, provider, post_id):
            res, foreign = by_post.get((provider, post_id), (None, False))
            try:
                new = (inline_markup(rt, res, html_context=True, amp=amp, foreign=foreign) if res
                       else withheld_card_html())
            except (RestoreError, ObjectNotFound, ValueError):
                new = withheld_card_html()
        else:
            continue
        mapped = srcdoc.to_outer(path, start, end, xml_safe(new))
        if mapped is None:
            log.warning("a card of %s/%s inside an iframe's srcdoc cannot be withheld in place", provider, post_id)
            continue
        start, end, new = mapped
        if text[start:end] != new:
            reps.append(Replacement(start, end, new))
            changed.append(f"{provider}/{post_id}")
    return reps, changed


def cards_everywhere(text: str) -> list[tuple[list[srcdoc.Nested], tuple[int, int, str, str, str]]]:
    """``found_cards`` of `text` and of every srcdoc document inside it (a restore puts a card there when
    the embed was there), each with the path of srcdoc documents holding it (``srcdoc.path_to``) and
    its offsets in the innermost one's decoded text ([] and offsets in `text` for the article's own)."""
    out: list[tuple[list[srcdoc.Nested], tuple[int, int, str, str, str]]] = [([], c) for c in found_cards(text)]
    for path, doc in srcdoc.walk(srcdoc.documents(text)):
        out += [([*path, doc], c) for c in found_cards(doc.inner)]
    return out


def withheld_line(changed: list[str]) -> str:
    """The report's line for what the takedown filter changed: "1 card withheld: taken down"; "" for none."""
    n = len(changed)
    return f"{n} card{'s' if n != 1 else ''} withheld: taken down" if n else ""


# --- the platforms' loader scripts an embed's span may hold -------------------------------------------
# Discovery puts the platform script right after an embed into its span; one script often serves every
# embed of its platform in the article. Which platform a script loads, by its host (else the platform
# of the embed whose span holds it, when its file is named like one: widgets.js, embed.js, sdk.js ...).
_SCRIPT_ELEMENT = re.compile(r"<script\b[^<>]*>.*?</script\s*>", re.I | re.S)
_SCRIPT_SRC = re.compile(r"""[\s"']src\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'<>]+))""", re.I)
_LOADER_FILE = re.compile(r"/(?:widgets?|embeds?|platform|sdk|all)(?:[._-][\w.-]*)?\.js$", re.I)
# A script that is itself a post's embed (Telegram's widget names its post), never a shared loader.
_POST_SCRIPT = re.compile(r"\sdata-telegram-(?:post|discussion|comments)\s*=", re.I)


def loader_family(open_tag: str, provider: str | None) -> str | None:
    """The platform whose embeds the script element opening with `open_tag` loads (the provider whose
    ``loader_hosts`` serve it, from the provider registry; else `provider`, the platform of the embed
    whose span holds it, for a file named like a loader); None for any other script and for a script
    that is itself a post's embed."""
    m = _SCRIPT_SRC.search(open_tag)
    if m is None or _POST_SCRIPT.search(open_tag):
        return None
    src = html.unescape(next(g for g in m.groups() if g is not None)).strip()
    parts = urlsplit(("https:" + src) if src.startswith("//") else src)
    host = (parts.hostname or "").lower().rstrip(".")
    for spec in providers():
        if host and any(host == h or host.endswith("." + h) for h in spec.loader_hosts):
            return spec.name
    return provider if provider and _LOADER_FILE.search(parts.path or "") else None


def loader_scripts(doc: str, start: int, end: int, provider: str | None) -> list[tuple[int, int, str]]:
    """Each platform loader script element inside doc[start:end], as (start, end, platform), in order."""
    out = []
    for m in _SCRIPT_ELEMENT.finditer(doc, start, end):
        family = loader_family(doc[m.start():doc.index(">", m.start()) + 1], provider)
        if family is not None and (m.start(), m.end()) != (start, end):
            out.append((m.start(), m.end(), family))
    return out


def _keeping(doc: str, start: int, end: int, new: str, keep: list[tuple[int, int, str]]) -> list[srcdoc.Edit]:
    """doc[start:end] becomes `new`, but for the script elements in `keep` (and the white space before
    each), which stay in place byte for byte after it."""
    edits: list[srcdoc.Edit] = []
    cursor, made = start, False
    for a, b, _ in keep:
        a_ws = a
        while a_ws > cursor and doc[a_ws - 1] in " \t\r\n\f":
            a_ws -= 1
        if not made:
            edits.append((cursor, a_ws, new))
            made = True
        elif a_ws > cursor:
            edits.append((cursor, a_ws, ""))
        cursor = b
    if not made:
        return [(start, end, new)]
    if cursor < end:
        edits.append((cursor, end, ""))
    return edits


def line_ending(doc: str, start: int, end: int) -> str:
    """The line ending the text around doc[start:end] uses: that of the nearest line break before it
    (else after it); "\n" when there is none."""
    before = max(doc.rfind("\n", 0, start), doc.rfind("\r", 0, start))
    if before >= 0:
        if doc[before] == "\n":
            return "\r\n" if before > 0 and doc[before - 1] == "\r" else "\n"
        return "\r"
    m = re.compile(r"\r\n|\n|\r").search(doc, end)
    return m.group(0) if m else "\n"


def _with_line_ending(markup: str, eol: str) -> str:
    """`markup` (written with "\n") with each line break made `eol`."""
    return markup if eol == "\n" else markup.replace("\r\n", "\n").replace("\n", eol)


def _replacements(rt: Runtime, text: str, encoding: str, chain: list[Patch], item: EmbedItem | ImageItem,
                  res: ItemResult | None, live: frozenset[str] = frozenset()) -> list[Replacement]:
    """What restoring `item` (with its result `res`) changes in the current version's `text`: each
    occurrence's span, carried through `chain`, replaced by what the item becomes, as it reads back
    once encoded in the article's `encoding` (characters it lacks become character references), with
    the article's line ending (``line_ending``). A platform loader script inside the span is kept in
    place, byte for byte, when an embed of its platform stays live (`live`: their platforms)."""
    reps = []
    _check_not_taken_down(rt, res)
    amp = is_amp(text)
    inline = rt.settings.restore_style == "inline" or amp  # AMP forbids the iframe's style attribute
    # The item's own capture, else another article's capture of the post (the post may have been gone
    # when this article was archived); RestoreError when no capture holds it.
    embed = (archived_copy(rt, res) or captured(res)) if isinstance(item, EmbedItem) else None
    foreign = embed is not None and isinstance(res, EmbedResult) and embed.capture_id != res.capture_id
    key = card_key(rt, embed) if embed is not None and not inline else None
    stable_url = res.stable_url if isinstance(res, ImageResult) else None
    if isinstance(item, ImageItem) and not stable_url:
        raise RestoreError(f"no stable copy of {item.url} (capture status {res.status if res else None!r})")
    made: dict[bool, str] = {}

    def becomes(doc: str, start: int, end: int) -> list[srcdoc.Edit]:
        """What doc[start:end] (the article's text, or a srcdoc document's) becomes."""
        html_context = doc[start:end].lstrip().startswith("<")
        if embed is None:
            return [(start, end, xml_safe(stable_url or ""))]
        if html_context not in made:
            made[html_context] = (inline_markup(rt, embed, html_context=html_context, amp=amp, foreign=foreign)
                                  if inline
                                  else card_markup(rt, embed, key or "", html_context=html_context))
        new = _with_line_ending(xml_safe(made[html_context]), line_ending(doc, start, end))
        keep = [s for s in loader_scripts(doc, start, end, item.provider) if s[2] in live] if html_context else []
        return _keeping(doc, start, end, new, keep)

    nested = srcdoc.documents(text)  # an embed inside an iframe's srcdoc: its card is written there, escaped
    for occ in item.occurrences:
        span = map_span(chain, occ.start, occ.end)
        if span is None:
            raise RestoreError(f"an edit in a later version cut across {item.url} at {occ.start}")
        edits = srcdoc.edit_within(text, nested, span[0], span[1], becomes)
        if not edits:
            raise RestoreError(f"{item.url} at {occ.start} lies across a character reference of an iframe's srcdoc")
        for start, end, new in edits:
            new = encodable(new, encoding)
            if new != text[start:end]:
                reps.append(Replacement(start, end, new))
    return reps


# --- restore and revert ---------------------------------------------------------------------------
def restore(rt: Runtime, article_id: str, *, item_ids: list[str] | None = None, all_dead: bool = False,
            principal: Principal | None = None, auto: bool = False,
            post: tuple[str, str] | None = None) -> dict[str, Any]:
    """Restore the given items (and the items embedding `post`, (provider, post_id); with `all_dead`,
    or when none are given: every dead one too) into a new version; report what happened to each.

    The current version's plan and item results are read once, and its dead items found among them.
    The current version's stored bytes are verified against their SHA-256 first (DamagedStoredVersion
    when they, or its record, are missing or damaged). An attempt that fails is audited too
    ("restore_failed", with its reason)."""
    try:
        return _restore(rt, article_id, item_ids=item_ids, all_dead=all_dead, principal=principal, auto=auto,
                        post=post)
    except (ArchiverError, DamagedData, ObjectNotFound, ValueError, PatchError) as exc:
        _audit_failure(rt, principal, "restore_failed", article_id, exc, {"auto": auto, "items": item_ids or []})
        if isinstance(exc, ObjectNotFound):
            raise RestoreError(f"restoring {article_id!r}: {_missing(exc)}") from None
        raise


def _live_platforms(text: str, chain: list[Patch], plan: Any, restoring: set[str]) -> frozenset[str]:
    """The platforms of the article's embeds that stay live once the items `restoring` are restored: each
    other embed item whose markup still stands in `text` (not already a card; one an edit cut across counts
    as live)."""
    live = set()
    for item in plan.items:
        if not isinstance(item, EmbedItem) or item.item_id in restoring or item.provider in live:
            continue
        for occ in item.occurrences:
            span = map_span(chain, occ.start, occ.end)
            if span is None or "archiver-card" not in text[span[0]:span[1]]:
                live.add(item.provider)
                break
    return frozenset(live)


def _unneeded_loaders(text: str, chain: list[Patch], plan: Any, wanted: set[str], live: frozenset[str],
                      reps: list[Replacement]) -> list[Replacement]:
    """The loader scripts an earlier restore kept beside a card (an embed of their platform was live
    then) that no embed staying live needs now: each removed with the white space before it."""
    out: list[Replacement] = []
    for item in plan.items:
        if not isinstance(item, EmbedItem) or item.item_id in wanted:
            continue
        for occ in item.occurrences:
            span = map_span(chain, occ.start, occ.end)
            if span is None or "archiver-card" not in text[span[0]:span[1]]:
                continue
            for a, b, family in loader_scripts(text, span[0], span[1], item.provider):
                if family in live:
                    continue
                while a > span[0] and text[a - 1] in " \t\r\n\f":
                    a -= 1
                if not any(a < r.end and r.start < b for r in [*reps, *out]):
                    out.append(Replacement(a, b, ""))
    return out


def _restore(rt: Runtime, article_id: str, *, item_ids: list[str] | None, all_dead: bool,
             principal: Principal | None, auto: bool, post: tuple[str, str] | None = None) -> dict[str, Any]:
    with rt.coordinator.lock(f"restore:{article_id}", timeout=120):
        history = _current_history(rt, article_id)
        current = history[-1]
        body = version_body(rt, current)  # verified: nothing is built on damaged bytes
        plan = load_plan(rt, article_id, current.source_sha256)
        results = load_results(rt, plan)
        wanted = set(item_ids or [])
        unknown = sorted(wanted - {it.item_id for it in plan.items})
        if unknown:
            raise InputError(f"article {article_id!r} has no item {', '.join(unknown)}")
        if post is not None:
            of_post = {it.item_id for it in plan.items
                       if isinstance(it, EmbedItem) and it.provider == post[0] and post[1] in
                       (layout.filed_post_id(it.post_id), _filed_id_of(results.get(it.item_id)))}
            if not of_post:
                raise InputError(f"article {article_id!r} does not embed {post[0]}/{post[1]}")
            wanted |= of_post
        if all_dead or not wanted:
            wanted |= {o.item_id for o in dead_among(rt, originals_of(plan, results))}
        encoding = current.encoding or plan.encoding
        text = body.decode(encoding)
        chain = patch_chain(rt, history, current.version, plan.source_sha256)
        failed: set[str] = set()
        while True:  # an item that fails stays live: its platform's loader script is kept for it
            live = _live_platforms(text, chain, plan, wanted - failed)
            reps, outcome = _item_replacements(rt, text, encoding, chain, plan, results, wanted, live)
            now_failed = {o["item_id"] for o in outcome if o["status"] != "restored" and o["status"] != "already"}
            if now_failed <= failed:
                break
            failed |= now_failed
        reps += _unneeded_loaders(text, chain, plan, wanted, live, reps)
        # the takedown filter, on the cards restore does not rewrite now (every written version passes it)
        held, changed = takedown_filter(rt, text, results=results)
        kept = [(h, c) for h, c in zip(held, changed, strict=True)
                if not any(h.start < r.end and r.start < h.end for r in reps)]
        changed = [c for _, c in kept]
        reps.extend(replace(h, new=encodable(h.new, encoding)) for h, _ in kept)
        version = current
        new = False
        if reps:
            try:
                new_text, patch = splice(text, reps)
            except (ValueError, PatchError) as exc:
                raise RestoreError(f"restoring {article_id!r}: {exc}") from None
            base = {"kind": "version", "version": current.version, "sha256": current.sha256, "key": current.key}
            version = write_version(
                rt, article_id, new_text.encode(encoding), reason="auto-restore" if auto else "restore",
                source_sha256=plan.source_sha256, encoding=encoding,
                patch_doc={"base": base, **patch.to_json(),
                           "restored": [o["item_id"] for o in outcome if o["status"] == "restored"],
                           "withheld": sorted(set(changed))},
                unless_current=False, expected_current=current.version, history=history).version
            new = True
    report = {"article_id": article_id, "current": version.version, "version": version_entry(rt, version),
              "new_version": new, "items": outcome, "withheld": withheld_line(changed) if new else "",
              "withheld_cards": sorted(set(changed)) if new else []}
    report["callback"] = notify_cms(rt, "restore", report) if new else None
    _audit(rt, principal, "restore", article_id, {"version": version.version, "new_version": new,
                                                  "auto": auto, "items": outcome,
                                                  "callback": report["callback"]},
           sum(1 for o in outcome if o["status"] == "restored"))
    return report


def _item_replacements(rt: Runtime, text: str, encoding: str, chain: list[Patch], plan: Any,
                       results: dict[str, ItemResult], wanted: set[str], live: frozenset[str]
                       ) -> tuple[list[Replacement], list[dict[str, Any]]]:
    """(replacements, each wanted item's outcome) of restoring the `wanted` items of `plan`."""
    reps: list[Replacement] = []
    outcome = []
    for item in plan.items:
        if item.item_id not in wanted:
            continue
        entry = {"item_id": item.item_id, "kind": item.kind, "url": item.url}
        try:
            found = _replacements(rt, text, encoding, chain, item, results.get(item.item_id), live)
        except TakenDown as exc:
            outcome.append({**entry, "status": "taken_down", "error": str(exc)})
            continue
        except RestoreError as exc:
            outcome.append({**entry, "status": "error", "error": str(exc)})
            continue
        except ObjectNotFound as exc:
            outcome.append({**entry, "status": "error", "error": _missing(exc)})
            continue
        except ValueError as exc:  # a damaged stored record (not JSON, not a record)
            outcome.append({**entry, "status": "error", "error": f"a stored record is damaged: {str(exc)[:200]}"})
            continue
        reps.extend(found)
        outcome.append({**entry, "status": "restored" if found else "already", "error": None})
    return reps, outcome


def _filed_id_of(result: ItemResult | None) -> str | None:
    """The filed id of the post an embed's result names (None for an image's or no result)."""
    return result.filed_id if isinstance(result, EmbedResult) else None


def parse_post(value: str) -> tuple[str, str]:
    """(provider, filed post id) of "<provider>/<post_id>" (as reports name posts; the id as the platform
    writes it, Telegram's "durov/43", or as it is filed, "durov:43": ``layout.filed_post_id``);
    InputError otherwise."""
    provider, _, post_id = value.strip().partition("/")
    filed = layout.filed_post_id(post_id)
    if not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", provider) or filed is None:
        raise InputError(f"not a post: {value[:60]!r} (expected PROVIDER/POST_ID, e.g. twitter/1945048830047662087)")
    return provider, filed


def restore_many(rt: Runtime, article_ids: list[str], *, item_ids: list[str] | None = None,
                 all_dead: bool = False, post: tuple[str, str] | None = None,
                 principal: Principal | None = None) -> dict[str, Any]:
    """Restore many articles, each as ``restore`` does (its own version, callback and audit event): the
    `article_ids` given; with none, every article embedding `post` (``articles_of_post``), or with
    `all_dead` every article with dead items a restore would change (``originals.needs_restore``).
    An article that fails does not stop the others. Returns {"articles": [each article's report, or
    {"article_id", "error", "damaged"} for one that failed], "summary": {"articles", "new_versions",
    "unchanged", "failed", "items_restored", "items_failed", "items_taken_down"}}."""
    ids = list(dict.fromkeys(article_ids))
    if not ids and post is not None:
        ids = articles_of_post(rt, *post)
    elif not ids and all_dead:
        ids = sorted(needs_restore(rt))
    out: list[dict[str, Any]] = []
    for aid in ids:
        try:
            out.append(restore(rt, aid, item_ids=item_ids, all_dead=all_dead, principal=principal, post=post))
        except (ArchiverError, DamagedData) as exc:
            out.append({"article_id": aid, "error": (str(exc).strip().splitlines() or [""])[0],
                        "damaged": isinstance(exc, DamagedData)})
    items = [i for r in out for i in r.get("items", [])]
    summary = {"articles": len(out), "new_versions": sum(1 for r in out if r.get("new_version")),
               "unchanged": sum(1 for r in out if "error" not in r and not r.get("new_version")),
               "failed": sum(1 for r in out if "error" in r),
               "items_restored": sum(1 for i in items if i["status"] == "restored"),
               "items_failed": sum(1 for i in items if i["status"] == "error"),
               "items_taken_down": sum(1 for i in items if i["status"] == "taken_down")}
    return {"articles": out, "summary": summary}


def articles_of_post(rt: Runtime, provider: str, post_id: str) -> list[str]:
    """The ids of the articles whose items embed the post (any of their sources), sorted."""
    rows = rt.catalog.query("SELECT DISTINCT article_id FROM items WHERE kind = 'embed' AND provider = ? "
                            "AND post_id = ? ORDER BY article_id", [provider, post_id])
    return [r["article_id"] for r in rows]


def _current(rt: Runtime, article_id: str) -> tuple[list[Version], Any, str, str, dict[str, ItemResult]]:
    """(history, plan, encoding, current text, item results) of the article's current version."""
    history = _current_history(rt, article_id)
    current = history[-1]
    body = version_body(rt, current)
    plan = load_plan(rt, article_id, current.source_sha256)
    encoding = current.encoding or plan.encoding
    return history, plan, encoding, body.decode(encoding), load_results(rt, plan)


def _carries(text: str, posts: set[tuple[str, str]]) -> bool:
    """Whether `text` still holds a card of one of `posts` that the takedown filter did not replace: a
    card found by structure, or the markers only our cards carry, left where the CMS changed the rest
    (an inline card's ``data-post-id="<id>"``, a frame's ``posts/<provider>/<id>/….card.html``). The
    publisher's own embed markup and the Robust Links to the capture page (which answers 410) are not
    counted."""
    if any((p, i) in posts for _, (_, _, _, p, i) in cards_everywhere(text)):
        return True
    texts = [text, *(doc.inner for _, doc in srcdoc.walk(srcdoc.documents(text)))]
    for provider, post_id in posts:
        if any(f'data-post-id="{html.escape(post_id)}"' in t for t in texts):
            return True
        marker = re.compile(re.escape("/" + layout.post_prefix(provider, post_id)) + r'[^"\s<>/]+\.card\.html')
        if any(marker.search(t) for t in texts):
            return True
    return False


def withhold(rt: Runtime, provider: str, post_id: str, *, principal: Principal | None = None
             ) -> list[dict[str, Any]]:
    """After a takedown of the post: in every article that embeds it or a post quoting it, the CURRENT
    version passes through ``takedown_filter`` (cards found by their structure, so a version the CMS
    re-published with edits is withheld too): its cards become the withheld notice, cards of posts
    quoting it are rendered again without its words; written as a new version with reason "takedown",
    under the article's restore lock, audited ("withhold") and told to the CMS as restore does.
    Idempotent: an article already withheld gets no version. Returns one report per article changed
    ({"article_id", "current", "version", "new_version", "items", "callback"}). An article that cannot
    be read is logged and left out (``still_carried`` names it)."""
    target = (provider, post_id)
    articles = sorted({a for p in {target, *quoting_posts(rt, provider, post_id)} for a in articles_of_post(rt, *p)})
    done = []
    for article_id in articles:
        try:
            with rt.coordinator.lock(f"restore:{article_id}", timeout=120):
                history, plan, encoding, text, results = _current(rt, article_id)
                reps, changed = takedown_filter(rt, text, results=results)
                if not reps:
                    continue
                reps = [replace(r, new=encodable(r.new, encoding)) for r in reps]
                new_text, patch = splice(text, reps)
                current = history[-1]
                base = {"kind": "version", "version": current.version, "sha256": current.sha256,
                        "key": current.key}
                version = write_version(
                    rt, article_id, new_text.encode(encoding), reason="takedown", source_sha256=plan.source_sha256,
                    encoding=encoding, patch_doc={"base": base, **patch.to_json(), "withheld": sorted(changed),
                                                  "post": f"{provider}/{post_id}"},
                    unless_current=False, expected_current=current.version, history=history).version
        except (ArchiverError, DamagedData, ObjectNotFound, ValueError, PatchError) as exc:
            log.warning("withholding %s/%s in %s failed: %s", provider, post_id, article_id, exc)
            continue
        report = {"article_id": article_id, "current": version.version, "version": version_entry(rt, version),
                  "new_version": True, "items": sorted(set(changed)), "withheld": withheld_line(changed)}
        report["callback"] = notify_cms(rt, "takedown", report)
        _audit(rt, principal, "withhold", article_id, {"version": version.version, "post": f"{provider}/{post_id}",
                                                      "items": sorted(set(changed)), "callback": report["callback"]},
               len(changed))
        done.append(report)
    return done


def still_carried(rt: Runtime, provider: str, post_id: str) -> list[str]:
    """The articles whose current version still shows the taken-down post after ``withhold``: a card of
    it (found by structure), a link into its stored copies or its words, where the filter could not
    replace them (markup the CMS changed beyond recognition, an unreadable version). Sorted ids."""
    target = (provider, post_id)
    out = []
    for article_id in articles_of_post(rt, provider, post_id):
        try:
            _, _, _, text, _ = _current(rt, article_id)
        except (ArchiverError, DamagedData, ObjectNotFound, ValueError):
            out.append(article_id)
            continue
        if _carries(text, {target}):
            out.append(article_id)
    return out


def withheld_in(rt: Runtime, provider: str, post_id: str) -> list[str]:
    """The articles (embedding the post or a post quoting it) whose current version shows the withheld
    notice: once its takedown is lifted, an editor may restore there again (nothing re-inserts its words
    automatically). Sorted article ids; an article that cannot be read is left out."""
    out = []
    for article_id in sorted({a for p in {(provider, post_id), *quoting_posts(rt, provider, post_id)}
                              for a in articles_of_post(rt, *p)}):
        try:
            _, _, _, text, _ = _current(rt, article_id)
        except (ArchiverError, DamagedData, ObjectNotFound, ValueError):
            continue
        if WITHHELD_NOTICE in text:
            out.append(article_id)
    return out


def takedown_post(rt: Runtime, principal: Principal | None, provider: str, post_id: str, *, on: bool,
                  reason: str = "") -> dict[str, Any]:
    """A takedown (or its lift) as the API, the UI and the CLI do it: ``holds.set_takedown`` (its state,
    ``changed`` and ``outcome``), then for a takedown the post's cards withheld in every article
    (``withhold``: "withheld" lists the articles given a new version; run even when the takedown was
    already in place, so an interrupted one is finished) and "still_carried": the articles that still
    show the post because its card could not be found or replaced (``still_carried``; [] when none);
    for a lift the articles an editor may restore the post in again ("restore_again": article ids;
    nothing is re-inserted automatically). Raises what set_takedown raises (InputError, PostNotFound)."""
    state = set_takedown(rt, principal, provider, post_id, on=on, reason=reason)
    if on:
        withheld = [r["article_id"] for r in withhold(rt, provider, post_id, principal=principal)]
        return {**state, "withheld": withheld, "still_carried": still_carried(rt, provider, post_id)}
    return {**state, "restore_again": withheld_in(rt, provider, post_id)}


def revert(rt: Runtime, article_id: str, to_version: int, *, principal: Principal | None = None) -> dict[str, Any]:
    """Write version `to_version`'s bytes as a new current version, exactly but for takedowns: the
    bytes pass through ``takedown_filter`` like every version written, so a card of a post taken down
    now (or the quoted words of one) is written as the withheld notice, and the report says so
    ("withheld": "1 card withheld: taken down", "" when none). When the current version already has
    the (filtered) bytes nothing is written (``new_version`` False), as a restore that changes nothing.
    InputError for an unknown version; DamagedStoredVersion (a RestoreError; the CLI exits 1) when its
    record or its stored bytes are missing or fail their SHA-256. An attempt that fails is audited too
    ("revert_failed", with its reason)."""
    try:
        return _revert(rt, article_id, to_version, principal=principal)
    except (ArchiverError, DamagedData, ObjectNotFound, ValueError, PatchError) as exc:
        _audit_failure(rt, principal, "revert_failed", article_id, exc, {"reverted_to": to_version})
        if isinstance(exc, ObjectNotFound):
            raise RestoreError(f"reverting {article_id!r}: {_missing(exc)}") from None
        raise


def _revert(rt: Runtime, article_id: str, to_version: int, *, principal: Principal | None) -> dict[str, Any]:
    with rt.coordinator.lock(f"restore:{article_id}", timeout=120):
        listing = version_listing(rt, check_article_id(article_id))
        history = listing.readable
        if not history and not listing.unreadable:
            raise InputError(f"no article {article_id!r}: nothing is stored under that id")
        target = next((v for v in history if v.version == to_version), None)
        if target is None and 1 <= to_version <= listing.last_number:
            raise missing_version(article_id, to_version)  # committed once: its record is gone or damaged
        if target is None:
            raise InputError(f"article {article_id!r} has no version {to_version} "
                             f"(versions 1-{listing.last_number})")
        body = version_body(rt, target)
        encoding = target.encoding or "utf-8"
        text = body.decode(encoding, errors="replace")
        try:
            results = load_results(rt, load_plan(rt, article_id, target.source_sha256))
        except (ArchiverError, ObjectNotFound, ValueError):
            results = {}
        reps, changed = takedown_filter(rt, text, results=results)
        reps = [replace(r, new=encodable(r.new, encoding)) for r in reps]
        new_text, patch = splice(text, reps)
        if reps:
            body = new_text.encode(encoding)
        base = {"kind": "version", "version": to_version, "sha256": target.sha256, "key": target.key}
        written = write_version(rt, article_id, body, reason="revert", source_sha256=target.source_sha256,
                                encoding=encoding, patch_doc={"base": base, **patch.to_json(),
                                                              "reverted_to": to_version,
                                                              "withheld": sorted(set(changed))},
                                unless_current=True, expected_current=history[-1].version,
                                history=history)
        version = written.version
    report = {"article_id": article_id, "current": version.version, "version": version_entry(rt, version),
              "new_version": written.new, "reverted_to": to_version, "withheld": withheld_line(changed),
              "withheld_cards": sorted(set(changed))}
    report["callback"] = notify_cms(rt, "revert", report) if written.new else None
    _audit(rt, principal, "revert", article_id, {"version": version.version, "reverted_to": to_version,
                                                 "new_version": written.new, "withheld": sorted(set(changed)),
                                                 "callback": report["callback"]},
           1 if written.new else 0)
    return report


def _audit(rt: Runtime, principal: Principal | None, action: str, article_id: str, detail: dict[str, Any],
           count: int) -> None:

    audit.record(rt, principal, action, f"article:{article_id}", detail, count)


def _audit_failure(rt: Runtime, principal: Principal | None, action: str, article_id: str, exc: BaseException,
                   detail: dict[str, Any]) -> None:
    """Audit a failed restore or revert attempt (`action`) with its one-line reason; an audit that
    cannot be written is logged, and the attempt's own error is what the caller sees."""
    reason = _missing(exc) if isinstance(exc, ObjectNotFound) else (str(exc).strip().splitlines() or [""])[0]
    try:
        audit.record(rt, principal, action, f"article:{article_id}",
                     {**detail, "error": reason[:500], "error_type": type(exc).__name__}, 0)
    except Exception as audit_exc:
        log.debug("auditing a failed %s of %s failed: %s", action, article_id, audit_exc)

# --- auto-restore policy ----------------------------------------------------------------------------
def auto_restore_sites(rt: Runtime) -> set[str]:
    """The host names of the auto_restore_sites setting (comma-separated), lower-cased; each covers its subdomains."""
    return {h.strip().lower().rstrip(".") for h in rt.settings.auto_restore_sites.split(",") if h.strip()}

def auto_restore(rt: Runtime, url: str) -> list[dict[str, Any]]:
    """Restore every article of a policy site that uses this (now dead) original."""
    sites = auto_restore_sites(rt)
    if not sites:
        return []
    ensure_schema(rt.catalog)
    rows = rt.catalog.query(
        "SELECT DISTINCT a.article_id AS article_id, a.url AS url FROM link_uses u "
        "JOIN articles a ON a.article_id = u.article_id WHERE u.url_sha256 = ? ORDER BY a.article_id",
        [url_sha256(url)])
    done = []
    for row in rows:
        host = (urlsplit(row["url"] or "").hostname or "").lower()
        if host and any(host == s or host.endswith("." + s) for s in sites):
            try:
                done.append(restore(rt, row["article_id"], auto=True))
            except ArchiverError as exc:
                log.warning("auto-restore of %s failed: %s", row["article_id"], exc)
    return done
