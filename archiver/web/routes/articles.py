"""The article pages for editors: the list of articles, one article with its embeds, images, versions
and link health, and what changed between two versions.

Split from pages.py (search and posts) so the editor's pages have one home; they render through
pages.render and share its page route class (errors as pages, login redirects). The Restore and
Revert forms post to health.py's routes, which redirect back here with the outcome
(`done=restore&v=3&new=1&embeds=1`: only numbers, turned into a sentence here and checked against the
article's versions), kept server-side as the session's one-time flash (pages.outcome_to_flash): the
address carries only its id, so a crafted link cannot put words on the page.
"""

from __future__ import annotations

import codecs
import difflib
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from archiver.article.decode import web_name
from archiver.article.versions import RestoreError, chain_docs, version_listing
from archiver.auth import Principal
from archiver.capture.cards.content import edit_note, status_note
from archiver.capture.cards.inline import withheld_card_html
from archiver.compliance import audit
from archiver.errors import InputError
from archiver.health.originals import (
    ARTICLE_STATUSES,
    article_listing,
    served_from_archive,
    taken_down_items,
    uncopied_items,
)
from archiver.health.restore import inline_markup
from archiver.health.state import STATES
from archiver.records.base import RecordError
from archiver.records.plan import EmbedItem, Plan
from archiver.records.result import CAPTURING, EMBED_STATUSES, IMAGE_STATUSES, EmbedResult, ImageResult
from archiver.records.version import Version
from archiver.runtime import Runtime
from archiver.steps.prepare import check_article_id, load_plan
from archiver.steps.results import load_result
from archiver.storage.base import ObjectNotFound
from archiver.storage.layout import capture_page_key, plan_key, result_key, source_key, version_key
from archiver.web.deps import get_runtime, require_role
from archiver.web.routes.pages import (
    ARTICLE_ROLES,
    PAGE_HEADERS,
    PageRoute,
    _manifest,
    _thumb_key,
    check_choice,
    outcome_request,
    render,
    seg,
    word_diff,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)

# Who may press Restore and Revert (admin may do everything); others never see the buttons.
EDIT_ROLES = ("editor",)
LIST_PAGE = 50
HISTORY_SHOWN = 10  # checks of one original shown on the article page, newest first
REASON_WORDS = {"archive": "archived", "retry": "captured again", "restore": "restored dead items",
                "auto-restore": "restored dead items (automatically)", "revert": "reverted",
                "takedown": "withheld a post compliance took down"}


def can_edit(principal: Principal | None) -> bool:
    """Whether `principal` may restore and revert (and so sees those buttons)."""
    return principal is not None and principal.role in (*EDIT_ROLES, "admin")


# --- the list of articles --------------------------------------------------------------------------
@router.get("/articles")
def articles_page(request: Request, state: str = Query("", max_length=32), page: int = Query(1, ge=1, le=100_000),
                  rt: Runtime = Depends(get_runtime),
                  _principal: Principal = Depends(require_role(*ARTICLE_ROLES))) -> HTMLResponse:
    """Every article of the catalog, newest archived first, LIST_PAGE a page: headline, URL, published
    and archived times, embeds and images counted by capture status, items counted by link-health
    state. `state` filters (a health state, an article status or an item's capture status); a
    `state` that is none of these is a 400 page listing them."""
    health_states = ("dead", "suspect", "live", "unchecked")
    item_statuses = tuple(dict.fromkeys(s for s in (*EMBED_STATUSES, *IMAGE_STATUSES, CAPTURING)
                                        if s not in STATES and s not in ARTICLE_STATUSES))
    state = check_choice("state", state, (*health_states, *ARTICLE_STATUSES, *item_statuses)) or ""
    rows, total = article_listing(rt, state=state or None, limit=LIST_PAGE, offset=(page - 1) * LIST_PAGE)
    pages = max(1, -(-total // LIST_PAGE))

    def link(n: int) -> str:
        return "/articles?" + urlencode({**({"state": state} if state else {}), "page": n})

    return render(request, "articles.html", {
        "rows": rows, "total": total, "page": page, "pages": pages, "state": state,
        "health_states": health_states, "article_statuses": ARTICLE_STATUSES, "item_statuses": item_statuses,
        "prev_url": link(page - 1) if page > 1 else None, "next_url": link(page + 1) if page < pages else None,
    })


# --- an article ------------------------------------------------------------------------------------
HealthSource = Callable[[Runtime, str], "dict[str, Any] | None"]
_health_source: list[HealthSource] = []


def provide_article_health(source: HealthSource) -> None:
    """Fill the article page's link-health block (the link-health module calls this once).

    `source(runtime, article_id)` returns None or a dict with `state`, `checked_at`, `items`
    ({item_id: {state, checked_at, detail, since, history}}) and an optional `restore_url` (a POST
    form target, rendered as a "Restore" button for editors); the template shows what is present.
    """
    _health_source[:] = [source]


def article_health(rt: Runtime, article_id: str) -> dict[str, Any] | None:
    """The article's link-health block from the registered source (see provide_article_health), or None."""
    return _health_source[0](rt, article_id) if _health_source else None


def readable_results(rt: Runtime, plan: Plan) -> tuple[dict[str, Any], dict[str, str]]:
    """The stored results of `plan`'s items that can be read, by item id, and the keys of those whose
    stored record is damaged (not a valid item result), by item id: a damaged one is reported for its
    item, as a damaged version record is, and hides nothing else. Storage faults are raised."""
    results: dict[str, Any] = {}
    damaged: dict[str, str] = {}
    for item in plan.items:
        try:
            res = load_result(rt, plan, item.item_id)
        except RecordError:
            damaged[item.item_id] = result_key(plan.article_id, plan.source_sha256, item.item_id)
            continue
        if res is not None:
            results[item.item_id] = res
    return results, damaged


def readable_plan(rt: Runtime, article_id: str, source_sha: str | None = None) -> tuple[Plan | None, str | None]:
    """The article's stored plan (`load_plan`), or (None, its key) when the stored plan is damaged;
    InputError when the article or its plan is unknown. Storage faults are raised."""
    try:
        return load_plan(rt, article_id, source_sha), None
    except RecordError:
        sha = source_sha or (rt.catalog.article(article_id) or {}).get("source_sha256") or ""
        return None, plan_key(article_id, sha)


def restored_in(rt: Runtime, history: list[Version]) -> set[str]:
    """The item ids a restore put into the current version and no later version took out: the
    `restored` lists of the patches on the current version's chain from its source (a revert's chain
    runs through the version it went back to). Empty when the chain cannot be read."""
    if not history:
        return set()
    current = history[-1]
    try:
        docs = chain_docs(rt, history, current.version, current.source_sha256)
    except (RestoreError, ObjectNotFound, ValueError):
        return set()
    return {i for _, doc in docs for i in (doc.get("restored") or []) if isinstance(i, str)}


def reverted_target(rt: Runtime, version: Version) -> int | None:
    """The version a revert went back to (its patch document's `reverted_to`), or None when unreadable."""
    try:
        doc = json.loads(rt.store.get(version.patch_key)) if version.patch_key else {}
    except (ObjectNotFound, ValueError):
        return None
    target = doc.get("reverted_to") if isinstance(doc, dict) else None
    return target if isinstance(target, int) and not isinstance(target, bool) else None


def card_preview(rt: Runtime, result: Any, *, withheld: bool = False) -> Markup | None:
    """The inline static card of a restored embed as the article's readers see it, made by the code a
    restore writes it with (health.restore.inline_markup: inert HTML, every value escaped, photos at
    their public stable copies; a quoted post taken down shows the notice), for the editor to look at;
    with `withheld` (the post is taken down) the withheld notice card readers get instead; None when the
    item has no capture or its manifest cannot be read. Shown under the page's own CSP (no script)."""
    if withheld:
        return Markup(withheld_card_html())  # noqa: S704 - a fixed string of ours
    if not isinstance(result, EmbedResult) or not result.manifest_key:
        return None
    try:
        return Markup(inline_markup(rt, result, html_context=True, amp=False))  # noqa: S704 - our own escaped card
    except (RestoreError, ObjectNotFound, ValueError, InputError):
        return None


def stable_copy(rt: Runtime, manifest_key: Any) -> dict[str, Any]:
    """Where an embed's stable copy is: {"page_key", "stable_url", "manifest_key"}. The capture's human
    page (posts/…/<capture_id>.html, what the article's data-versionurl names) when it is stored, with
    its public URL; the manifest (.json) is kept as a secondary link. All None for no valid key."""
    if not isinstance(manifest_key, str) or not manifest_key:
        return {"page_key": None, "stable_url": None, "manifest_key": None}
    try:
        page_key: str | None = capture_page_key(manifest_key)
    except ValueError:
        page_key = None
    if page_key is not None and not rt.store.exists(page_key):
        page_key = None
    return {"page_key": page_key, "stable_url": rt.store.public_url(page_key or manifest_key),
            "manifest_key": manifest_key}


def _int(request: Request, name: str) -> int | None:
    value = request.query_params.get(name, "")
    return int(value) if value.isdigit() and len(value) <= 9 else None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _cards_withheld(request: Request, new: bool) -> str:
    """" N card(s) withheld: taken down (…)" when the version written replaced cards of taken-down posts
    by the withheld notice (the ``cards`` number), else ""."""
    n = _int(request, "cards") or 0
    if not (new and n > 0):
        return ""
    return (f" {_plural(n, 'card')} withheld: taken down (the version is exact except for posts compliance "
            "has taken down, shown as the withheld notice).")


def outcome_notice(request: Request, history: list[Version]) -> dict[str, Any] | None:
    """The sentence saying what the last Restore or Revert did, from the redirect's query numbers
    (`done`, `v`, `new`, `embeds`, `images`, `failed`, `already`, `withheld`, `to`), with the version it wrote
    (for its diff); None without `done` or with a version the article does not have."""
    done = request.query_params.get("done")
    v = _int(request, "v")
    numbers = {v.version for v in history}
    if done not in ("restore", "revert") or v not in numbers:
        return None
    new = _int(request, "new") == 1
    if done == "revert":
        to = _int(request, "to")
        if to not in numbers:
            return None
        text = (f"Reverted to version {to}: version {v} written." if new else
                f"Version {to} already current: nothing written.")
        return {"text": text + _cards_withheld(request, new), "version": v if new else None, "ok": True}
    embeds, images = _int(request, "embeds") or 0, _int(request, "images") or 0
    failed, already = _int(request, "failed") or 0, _int(request, "already") or 0
    withheld = _int(request, "withheld") or 0
    if new:
        what = " and ".join(p for p in (_plural(embeds, "embed") if embeds else "",
                                        _plural(images, "image") if images else "") if p) or "nothing"
        text = f"Restored {what}: version {v} written."
    elif already:
        uses = "uses" if already == 1 else "use"
        text = f"Nothing to restore: {_plural(already, 'item')} already {uses} the archived copy in version {v}."
    else:
        text = "Nothing to restore: no item is dead." if not (failed or withheld) else "Nothing restored."
    if withheld:
        text += (f" {_plural(withheld, 'item')} taken down by compliance: not restored (its words and media "
                 "are not written into the article).")
    text += _cards_withheld(request, new)
    if failed:
        text += (f" {_plural(failed, 'item')} could not be restored (no archived copy or static card yet; "
                 "see the item's row).")
    return {"text": text, "version": v if new else None, "ok": not failed}


@router.get("/articles/{article_id}")
def article_page(request: Request, article_id: str, rt: Runtime = Depends(get_runtime),
                 principal: Principal = Depends(require_role(*ARTICLE_ROLES))) -> HTMLResponse:
    """One article: headline and URL, its embeds (with their capture results, status and a stale edit
    said in plain words from each manifest) and images, each with its link-health state and recent
    checks, its stored versions (with diffs and, for editors, Revert) and the outcome of the last
    Restore or Revert with what it changed; for one received but not yet read by a worker, a page
    saying so; 404 for a malformed id or an unknown article."""
    try:
        check_article_id(article_id)
    except InputError:
        raise HTTPException(status_code=404, detail="no such article") from None
    try:
        plan, damaged_plan = readable_plan(rt, article_id)
    except InputError:
        row = rt.catalog.article(article_id)
        if not row:
            raise HTTPException(status_code=404, detail="no such article") from None
        # Received (the publish hook, submit) but no plan stored yet: say so, not "no such article".
        return render(request, "error.html", {
            "status": row.get("status") or "queued", "title": f"Article {article_id} is not processed yet",
            "detail": f"Received {row.get('created_at') or ''} and {row.get('status') or 'queued'}: this page "
                      "shows its embeds, images and versions once a worker has read it. Reload later."})
    results, damaged = readable_results(rt, plan) if plan is not None else ({}, {})
    health = article_health(rt, article_id)
    checks = (health or {}).get("items") or {}
    embeds, images = [], []
    for item in plan.items if plan is not None else ():
        res = results.get(item.item_id)
        shown = res or ({"status": "unreadable", "error": f"its stored result is damaged (not a valid item "
                                                          f"result): {damaged[item.item_id]}"}
                        if item.item_id in damaged else {"status": "pending"})
        entry: dict[str, Any] = {"item": item, "result": shown, "damaged": item.item_id in damaged,
                                 "occurrences": len(item.occurrences), "health": checks.get(item.item_id)}
        if isinstance(item, EmbedItem):
            embed = res if isinstance(res, EmbedResult) else None
            entry.update(stable_copy(rt, embed.manifest_key if embed else None))
            entry["post_id"] = (embed.post_id if embed else None) or item.post_id
            manifest = _manifest(rt, embed.manifest_key) if embed and embed.manifest_key else {}
            entry["notes"] = [n for n in (status_note(manifest), edit_note(manifest)) if n]
            embeds.append(entry)
        else:
            entry["thumb_key"] = _thumb_key(rt, res.sha256 if isinstance(res, ImageResult) else None)
            images.append(entry)
    listing = version_listing(rt, article_id)
    history, unreadable = listing.readable, listing.unreadable
    restored = restored_in(rt, history) if not unreadable else set()
    covered: set[str] = set()
    if not unreadable and plan is not None:
        try:
            covered = served_from_archive(rt, article_id)
        except RecordError:  # a damaged plan or item result: nothing counted as covered
            covered = set()
    records = (plan, results)  # read above: the current plan and its readable results
    down = taken_down_items(rt, article_id, records) if plan is not None else set()
    lost = uncopied_items(rt, article_id, records) - set(damaged) if plan is not None else set()
    reverted_to = {v.version: reverted_target(rt, v) for v in history if v.reason == "revert"}
    for entry in (*embeds, *images):
        entry["restored"] = entry["item"].item_id in restored
        # served from the archive already (restored, or rewritten to the stable copy at archiving)
        entry["covered"] = entry["restored"] or entry["item"].item_id in covered
        # taken down by compliance: neither restorable nor "showing the archived copy" (readers see the
        # withheld notice where a card was)
        entry["taken_down"] = entry["item"].item_id in down
        # nothing archived to restore from (a post deleted before its capture, an image never fetched)
        entry["uncopied"] = entry["item"].item_id in lost
    for entry in embeds:
        entry["preview"] = card_preview(rt, entry["result"], withheld=entry["taken_down"]) if entry["restored"] \
            else None
    dead = [e for e in (*embeds, *images)
            if (e["health"] or {}).get("state") == "dead" and not e["taken_down"] and not e["uncopied"]]
    notice = outcome_notice(outcome_request(request), history)  # from the session's flash, never the address
    changes = None
    if notice and notice["version"]:
        changes = version_changes(rt, article_id, notice["version"], history, context=1, max_rows=60)
    row = rt.catalog.article(article_id) or {}
    meta = plan.metadata if plan is not None else None
    audit.record(rt, principal, "view", f"article:{article_id}", {"versions": len(history)}, None)
    return render(request, "article.html", {
        "article_id": article_id, "article": row, "plan": plan,
        "headline": row.get("headline") or (meta.headline if meta else None),
        "published_at": row.get("published_at") or (meta.published_at if meta else None),
        "url": (plan.url if plan else None) or row.get("url") or (plan.base_url if plan else None),
        "base_url": plan.base_url if plan else None, "damaged_plan": damaged_plan, "damaged_results": damaged,
        "versions": history, "reasons": REASON_WORDS, "reverted_to": reverted_to, "embeds": embeds, "images": images,
        "health": health, "can_edit": can_edit(principal), "result": notice, "changes": changes,
        "unrestored_dead": sum(not e["covered"] for e in dead), "restored_dead": sum(e["restored"] for e in dead),
        "covered_dead": sum(e["covered"] and not e["restored"] for e in dead),
        "history_shown": HISTORY_SHOWN, "unreadable_versions": unreadable,
        "taken_down_dead": sum(e["taken_down"] and (e["health"] or {}).get("state") == "dead"
                               for e in (*embeds, *images)),
        "uncopied_dead": sum(e["uncopied"] and not e["taken_down"] and (e["health"] or {}).get("state") == "dead"
                             for e in (*embeds, *images)),
    })


@router.get("/articles/{article_id}/versions/{number}")
def article_version(article_id: str, number: int, rt: Runtime = Depends(get_runtime),
                    principal: Principal = Depends(require_role(*ARTICLE_ROLES))) -> Response:
    """A version's bytes as plain text (never rendered as the publisher's HTML here). Audit-logged as
    a view of `article:<id>/v<number>`."""
    try:
        check_article_id(article_id)
        data = rt.store.get(version_key(article_id, number))
    except (InputError, ObjectNotFound, ValueError):
        raise HTTPException(status_code=404, detail="no such version") from None
    meta = next((v for v in version_listing(rt, article_id).readable if v.version == number), None)
    if meta is None:
        raise HTTPException(status_code=404, detail="no such version")
    # The WHATWG name a browser knows (a plan's codec may be archiver's own: x-cp1252, x-keep-utf-8).
    charset = web_name(str(meta.encoding))
    charset = charset if re.fullmatch(r"[A-Za-z0-9_.:-]{1,40}", charset) else "utf-8"
    audit.record(rt, principal, "view", f"article:{article_id}/v{number}", {"what": "version", "bytes": len(data)})
    return Response(data, media_type=f"text/plain; charset={charset}",
                    headers={**PAGE_HEADERS, "Content-Security-Policy": "default-src 'none'; sandbox"})


# --- what changed between versions ------------------------------------------------------------------
MAX_DIFF_BYTES = 2 * 1024 * 1024  # of each side compared; the rest is said to be left out
MAX_DIFF_LINES = 20_000  # lines of each side compared
MAX_LINE = 240  # characters of one compared line: longer lines are cut after a tag's end or a space
MAX_ROWS = 3_000  # rows of one diff shown
WORD_DIFF_CHARS = 4_000  # a changed block up to this many characters (both sides) is diffed word by word
WORD_DIFF_BUDGET = 24_000  # characters word-diffed in one diff in all (a word diff can cost the square)


def _decode(data: bytes, encoding: str | None) -> str:
    try:
        codecs.lookup(encoding or "utf-8")
        return data.decode(encoding or "utf-8", errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")


# Characters that reorder or hide text (bidi embeddings, overrides, isolates, zero-width marks) and
# control characters: a diff shows each as its code point ("⟨U+202E⟩"), so the bytes are what is seen.
_HIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e"
                     "\u2060-\u2069\ufeff\ufff9-\ufffb]")


def visible(text: str) -> str:
    """`text` with its hidden and direction-changing characters written out as ⟨U+XXXX⟩."""
    return _HIDDEN.sub(lambda m: f"⟨U+{ord(m.group()):04X}⟩", text)


def diff_lines(text: str) -> list[str]:
    """`text` cut into the lines a diff compares: its own lines, each longer one cut into pieces of
    at most MAX_LINE characters after a '>' or a space where there is one (so a one-line HTML
    article still diffs tag by tag); at most MAX_DIFF_LINES lines."""
    out: list[str] = []
    for line in text.splitlines():
        while len(line) > MAX_LINE and len(out) < MAX_DIFF_LINES:
            cut = max(line.rfind(">", 0, MAX_LINE), line.rfind(" ", 0, MAX_LINE)) + 1 or MAX_LINE
            out.append(line[:cut])
            line = line[cut:]
        if len(out) >= MAX_DIFF_LINES:
            break
        out.append(line)
    return out[:MAX_DIFF_LINES]


def line_diff(old: str, new: str, *, context: int = 3, max_rows: int = MAX_ROWS) -> dict[str, Any]:
    """The changed hunks between two texts, for people: {"hunks": [[row, ...], ...], "added", "removed",
    "cut" (rows left out past `max_rows`)}. A row is {"op": "equal"|"delete"|"insert", "old": line
    number or None, "new": line number or None, "runs": [(op, text), ...]}: a changed line paired with
    its replacement carries a word diff (pages.word_diff) in its runs, else one run of its text.
    `context` unchanged lines surround each change. Hidden and direction-changing characters are
    shown as ⟨U+XXXX⟩ (`visible`)."""
    a, b = diff_lines(visible(old)), diff_lines(visible(new))
    matcher = difflib.SequenceMatcher(None, a, b)  # autojunk: lines repeated everywhere anchor nothing
    hunks: list[list[dict[str, Any]]] = []
    added = removed = shown = cut = 0
    budget = WORD_DIFF_BUDGET
    for group in matcher.get_grouped_opcodes(context):
        hunk: list[dict[str, Any]] = []
        for tag, i1, i2, j1, j2 in group:
            rows: list[dict[str, Any]] = []
            if tag == "equal":
                rows = [{"op": "equal", "old": i + 1, "new": j1 + k + 1, "runs": [("equal", a[i])]}
                        for k, i in enumerate(range(i1, i2))]
            else:
                removed += i2 - i1
                added += j2 - j1
                old_block, new_block = "\n".join(a[i1:i2]), "\n".join(b[j1:j2])
                size = len(old_block) + len(new_block)
                if tag == "replace" and size <= WORD_DIFF_CHARS and budget >= size:
                    budget -= size
                    # A changed block small enough is diffed word by word: the block before with its
                    # removed words marked, then the block after with its added words marked.
                    runs = word_diff(old_block, new_block)
                    rows = [{"op": "delete", "old": i1 + 1, "new": None,
                             "runs": [r for r in runs if r[0] != "insert"]},
                            {"op": "insert", "old": None, "new": j1 + 1,
                             "runs": [r for r in runs if r[0] != "delete"]}]
                else:
                    rows = [{"op": "delete", "old": i + 1, "new": None, "runs": [("delete", a[i])]}
                            for i in range(i1, i2)]
                    rows += [{"op": "insert", "old": None, "new": j + 1, "runs": [("insert", b[j])]}
                             for j in range(j1, j2)]
            room = max(0, max_rows - shown)
            cut += max(0, len(rows) - room)
            hunk += rows[:room]
            shown += min(len(rows), room)
        if hunk:
            hunks.append(hunk)
    return {"hunks": hunks, "added": added, "removed": removed, "cut": cut}


def version_changes(rt: Runtime, article_id: str, number: int, history: list[Version], *,
                    context: int = 3, max_rows: int = MAX_ROWS) -> dict[str, Any] | None:
    """Version `number` against the one before it (version 1 against the source as received), each
    side decoded in its own encoding and cut at MAX_DIFF_BYTES: line_diff's dict plus "version",
    "base" (the earlier version's number, 0 for the source) and "truncated"; None when the version
    or what it is compared with is not stored."""
    current = next((v for v in history if v.version == number), None)
    if current is None:
        return None
    earlier = max((v for v in history if v.version < number), key=lambda v: v.version, default=None)
    try:
        new_bytes = rt.store.get(current.key)
        old_bytes = (rt.store.get(earlier.key) if earlier else
                     rt.store.get(source_key(article_id, current.source_sha256)))
    except (ObjectNotFound, ValueError):
        return None
    truncated = len(new_bytes) > MAX_DIFF_BYTES or len(old_bytes) > MAX_DIFF_BYTES
    old_text = _decode(old_bytes[:MAX_DIFF_BYTES], (earlier or current).encoding)
    new_text = _decode(new_bytes[:MAX_DIFF_BYTES], current.encoding)
    diff = line_diff(old_text, new_text, context=context, max_rows=max_rows)
    return {**diff, "version": current, "base": earlier.version if earlier else 0, "truncated": truncated,
            "same": old_bytes == new_bytes}


@router.get("/articles/{article_id}/versions/{number}/diff")
def version_diff(request: Request, article_id: str, number: int, rt: Runtime = Depends(get_runtime),
                 principal: Principal = Depends(require_role(*ARTICLE_ROLES))) -> HTMLResponse:
    """Version `number` of the article against the version before it (version 1 against the source as
    received): changed lines with their neighbours, changed words marked, everything escaped; 404
    for an unknown article or version. Audit-logged as a view of `article:<id>/v<number>` (a diff)."""
    try:
        check_article_id(article_id)
    except InputError:
        raise HTTPException(status_code=404, detail="no such article") from None
    history = version_listing(rt, article_id).readable
    changes = version_changes(rt, article_id, number, history)
    if changes is None:
        raise HTTPException(status_code=404, detail="no such version")
    audit.record(rt, principal, "view", f"article:{article_id}/v{number}",
                 {"what": "diff", "base": changes["base"]})
    return render(request, "diff.html", {"article_id": article_id, "changes": changes, "reasons": REASON_WORDS,
                                         "headline": (rt.catalog.article(article_id) or {}).get("headline"),
                                         "numbers": [v.version for v in history]})


__all__ = ["article_health", "can_edit", "line_diff", "provide_article_health", "router", "seg"]
