"""The last step: once every item has a result, splice stable URLs and Robust Links over the spans
and write the next article version (on top of an editor's restore or revert when there is one).

Robust Links go on each embed's link to the post (archiver/article/splice.py: add_robust_links) when
its capture holds the post or what the platform shows instead (ROBUST_LINK_STATUSES); their
``data-versionurl`` is the capture's human page (archiver/capture/cards/page.py), a Memento of the post.
A link already carrying someone else's Robust Links (a Wayback Machine Memento) keeps them; ours from an
earlier run are updated (``our_version_url`` tells them apart).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from archiver.article.splice import Replacement, on_public_archive, robust_link_edits, same_url, splice
from archiver.article.versions import (
    RestoreError,
    VersionConflict,
    Written,
    chain_docs,
    encodable,
    map_span,
    version_body,
    versions,
    write_version,
)
from archiver.capture.cards.page import ensure_capture_page
from archiver.capture.manifest import CAPTURED_STATUSES
from archiver.capture.memento import MEMENTO_STATUSES
from archiver.dates import iso, utcnow
from archiver.discover import srcdoc
from archiver.discover.urls import match_post_url
from archiver.records.plan import EmbedItem, Plan
from archiver.records.result import EmbedResult, ImageResult
from archiver.records.version import Version
from archiver.steps.prepare import load_source
from archiver.steps.results import Results, is_final, load_results
from archiver.storage.base import ObjectNotFound
from archiver.storage.layout import source_key

if TYPE_CHECKING:
    from archiver.runtime import Runtime

log = logging.getLogger(__name__)

# Embeds whose capture the article's Robust Links name: those holding the post and those holding what
# the platform shows instead (deleted, tombstoned ...): the Memento statuses (archiver/capture/memento.py).
ROBUST_LINK_STATUSES = MEMENTO_STATUSES

# Where a source span [start, end) sits in a later version's text; None where an edit cut across it.
SpanMap = Callable[[int, int], tuple[int, int] | None]


class NotReady(Exception):
    """Some items of the article have no stored result yet."""


def build_replacements(rt: Runtime, text: str, plan: Plan, results: Results, where: SpanMap | None = None,
                       leave: Collection[str] = ()) -> list[Replacement]:
    """What the archived items change in `text`: images point at their stable copies, embeds get
    Robust Links. `text` is the source, or with `where` (an occurrence's source span to its span in
    `text`, None where an edit cut across it) a later version; items in `leave` stay as they are.

    One edit per element, however many occurrences hold it: an occurrence inside another of the same
    item (an AMP placeholder's blockquote inside its ``<amp-twitter>``) is rewritten as part of the
    outer one, and the edits of all occurrences are merged (the same edit once; of two different edits
    of one element, or of overlapping text, the one earlier in the text is kept and the other logged),
    so a link never gets an attribute twice and archiving the rewritten article again changes nothing."""

    safe = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$*+,;=:@/?%")

    def with_fragment(stable: str, url: str, written: str) -> str:
        """The stable URL with the fragment of the URL it replaces (a media fragment ``#xywh=…``, an SVG
        view ``#v``), written as the article wrote it (the span's suffix from a "#" that is, or decodes
        as an attribute value to, the fragment: its character references stay), else percent-encoded
        down to characters no context (HTML, CSS, Markdown, JSON) reads."""
        if "#" not in url or "#" in stable:
            return stable
        fragment = url.split("#", 1)[1]
        at, tries = written.find("#"), 4  # a few "#" tried: each try reads the rest of the span
        while at >= 0 and tries:
            if not written.endswith("&", 0, at):  # not a numeric character reference's "#"
                tries -= 1
                tail = written[at + 1:]
                if fragment in (tail, srcdoc.decode_value(tail)[0]):
                    return stable + written[at:]
            at = written.find("#", at + 1)
        return stable + "#" + "".join(
            c if c in safe else "".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass")) for c in fragment)

    reps: set[tuple[int, int, str]] = set()
    ours = our_version_url(rt)
    nested = srcdoc.documents(text)  # a span inside an iframe's srcdoc is edited in its decoded document
    for item in plan.items:
        res = results.get(item.item_id)
        if res is None or item.item_id in leave:
            continue
        spans = [where(o.start, o.end) if where else (o.start, o.end) for o in item.occurrences]
        if isinstance(res, ImageResult) and res.stable_url and res.status in CAPTURED_STATUSES:
            stable = res.stable_url
            for o, span in zip(item.occurrences, spans, strict=True):
                if span is not None:
                    reps.update(srcdoc.edit_within(text, nested, span[0], span[1], lambda t, s, e, u=stable, f=o.url: (
                        [(s, e, new)] if t[s:e] != (new := with_fragment(u, f, t[s:e])) else [])))
        elif (isinstance(res, EmbedResult) and isinstance(item, EmbedItem) and res.manifest_key
              and res.status in ROBUST_LINK_STATUSES):
            original = res.url or item.url
            if not original:
                continue
            version_url = version_page_url(rt, res.manifest_key)
            names_post = post_link_test(res.provider or item.provider, {res.post_id, item.post_id},
                                        {original, item.url})
            date = res.captured_at or ""
            for start, end in outermost(spans):
                reps.update(srcdoc.edit_within(text, nested, start, end, lambda t, s, e, o=original, v=version_url,
                                               d=date, n=names_post: [
                    (s + r.start, s + r.end, r.new) for r in robust_link_edits(t[s:e], o, v, d, n, ours)]))
    kept: list[Replacement] = []
    for start, end, new in sorted(reps):
        # Sorted by start: one that starts where the last kept one does edits the same element (two
        # insertions into one tag), one that starts before the last kept one ends overlaps it.
        if kept and (start < kept[-1].end or start == kept[-1].start):
            log.warning("dropping overlapping replacement at %d-%d", start, end)
            continue
        kept.append(Replacement(start, end, new))
    return kept


def outermost(spans: Collection[tuple[int, int] | None]) -> list[tuple[int, int]]:
    """The spans of `spans` inside no other one (each once, in order; None ones left out)."""
    out: list[tuple[int, int]] = []
    reach = -1  # the furthest end of the spans kept so far: one ending within it lies inside one of them
    for start, end in sorted({s for s in spans if s is not None}, key=lambda s: (s[0], -s[1])):
        if end > reach:
            out.append((start, end))
            reach = end
    return out


# An object of ours a Robust Links data-versionurl names: a capture's page or manifest, under any public
# base URL this storage was served from (``posts/<provider>/<post_id>/<name>.html|.json``).
_OUR_CAPTURE_PATH = re.compile(r"/posts/[a-z][a-z0-9_-]{0,31}/[^/?#]+/[^/?#]+\.(?:html|json)\Z")


def our_version_url(rt: Runtime) -> Callable[[str], bool]:
    """Whether a ``data-versionurl`` found in an article was written by us (an earlier run, an older
    release): a URL under this storage's public base URL, or naming a capture page or manifest by our
    layout (written under another base URL), and on no public web archive. Any other set of Robust
    Links attributes is someone else's, and the rewrite keeps it (archiver.article.splice.add_robust_links)."""
    base = rt.store.public_base_url.rstrip("/") + "/"

    def ours(url: str) -> bool:
        url = url.strip()
        if on_public_archive(url):
            return False
        try:
            path = urlsplit(url).path
        except ValueError:
            return False
        return url.startswith(base) or bool(_OUR_CAPTURE_PATH.search(path))
    return ours


def version_page_url(rt: Runtime, manifest_key: str) -> str:
    """The public URL of the human page of the capture whose manifest is ``manifest_key`` (what an
    article's ``data-versionurl`` names), the page written first when the capture has none yet (stored
    before pages existed); the manifest's own URL when no page can be made of it (logged)."""
    try:
        return rt.store.public_url(ensure_capture_page(rt.store, manifest_key))
    except (ObjectNotFound, ValueError) as exc:  # ValueError covers a manifest that is not JSON
        log.warning("no capture page for %s (%s): data-versionurl names the manifest", manifest_key, exc)
        return rt.store.public_url(manifest_key)


def post_link_test(provider: str | None, post_ids: Collection[str | None],
                   urls: Collection[str | None]) -> Callable[[str], bool]:
    """Whether a link (an ``href``) names the embedded post: a URL of ``provider`` (any spelling its
    registry patterns know) whose post id is one of ``post_ids``, or one of ``urls`` itself (a share link,
    a platform archiver has no patterns for)."""
    ids = {i for i in post_ids if i}
    known = [u for u in urls if u]

    def names_post(href: str) -> bool:
        found = match_post_url(href)
        if found is not None and found[0] == provider and found[1] in ids:
            return True
        return any(same_url(href, u) for u in known)
    return names_post


def finalize(rt: Runtime, plan: Plan, *, reason: str = "archive", results: Results | None = None) -> Written:
    """Write the rewritten article as a new version unless the current one has the same bytes.

    The rewrite is made from the source, unless an editor's restore or revert lies under the
    current version: then it is made on the current version, so their work stays (see `_edited`).
    `results` are the items' results when the caller has them all (the local runner); otherwise each
    is read from storage, once. Raises NotReady when an item has none.
    """
    if results is None:
        results = load_results(rt, plan)
    missing = [it.item_id for it in plan.items if it.item_id not in results]
    if missing:
        raise NotReady(f"item {missing[0]} of {plan.article_id} has no result yet")
    for attempt in range(3):
        # A restore or revert that lands meanwhile makes the write fail, and the next turn sees it.
        history = versions(rt, plan.article_id)
        edited = _edited(rt, plan, history)
        if edited is None:
            text = load_source(rt, plan).text
            encoding = plan.encoding
            reps = build_replacements(rt, text, plan, results)
            base: dict[str, Any] = {"kind": "source", "sha256": plan.source_sha256,
                                    "key": source_key(plan.article_id, plan.source_sha256)}
        else:
            current, text, encoding = edited.current, edited.text, edited.encoding
            reps = build_replacements(rt, text, plan, results, edited.where, edited.restored)
            base = {"kind": "version", "version": current.version, "sha256": current.sha256, "key": current.key}
        # Each new text as it reads back from the stored bytes, so the patch's spans stay true there.
        new_text, patch = splice(text, [Replacement(r.start, r.end, encodable(r.new, encoding)) for r in reps])
        try:
            written = write_version(rt, plan.article_id, new_text.encode(encoding, errors="xmlcharrefreplace"),
                                    reason=reason, source_sha256=plan.source_sha256, encoding=encoding,
                                    patch_doc={"base": base, **patch.to_json()},
                                    expected_current=history[-1].version if history else None, history=history)
            break
        except VersionConflict:
            if attempt == 2:
                raise
    aid = plan.article_id
    statuses = [r.status for r in results.values()]
    done = all(is_final(r) for r in results.values())
    now = iso(utcnow())
    rt.catalog.record_article(article_id=aid, url=plan.url, source_sha256=plan.source_sha256,
                              encoding=plan.encoding, status="complete" if done else "partial",
                              created_at=now, updated_at=now)
    log.info("article %s: version %d (%s), statuses %s", aid, written.number,
             "new" if written.new else "unchanged", statuses)
    return written


@dataclass(frozen=True)
class Edited:
    """The current version when an editor's restore or revert lies under it: its `text` in its
    `encoding`, where each source span sits in it, and the items the editor restored (left alone)."""

    current: Version
    text: str
    encoding: str
    where: SpanMap
    restored: set[str]


def _edited(rt: Runtime, plan: Plan, history: list[Version]) -> Edited | None:
    """The current version of `history` when it derives from this plan's source through an editor's
    restore or revert; None when the article is written from the source."""

    if not history:
        return None
    current = history[-1]
    if current.source_sha256 != plan.source_sha256:
        return None  # a new text of the article: written from its source
    try:
        docs = chain_docs(rt, history, current.version, plan.source_sha256)
        # Its bytes as recorded (versions.version_body): damaged bytes are never built on.
        body = version_body(rt, current) if len(docs) > 1 else b""
    except RestoreError as exc:
        log.warning("article %s: version %s cannot be traced to its source (%s); rewriting from the source",
                    plan.article_id, current.version, exc)
        return None
    if len(docs) == 1:
        return None  # written from the source itself
    chain = [patch for patch, _ in docs]
    restored = {str(i) for _, doc in docs for i in doc.get("restored") or []}
    encoding = current.encoding or plan.encoding
    text = body.decode(encoding)
    return Edited(current, text, encoding, lambda start, end: map_span(chain, start, end), restored)
