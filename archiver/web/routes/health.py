"""Link health over HTTP: the state of every original (per article and overall), restore and revert.

JSON under /v1 for the CMS and scripts; for editors, the /health page (counts per state from the
catalog, so every archived article is there before its first check, and the worklist of dead items)
and the link-health block of the article page (filled through articles.provide_article_health). The
page's Restore and Revert buttons post to /articles/{id}/restore and /articles/{id}/revert, which
redirect back to the article with the outcome. Restores and reverts are audit-logged by
archiver.health.restore.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from archiver.article.versions import RestoreError, version_listing
from archiver.auth import Principal
from archiver.errors import InputError
from archiver.health import originals as health_originals
from archiver.health.originals import (
    could_not_check_count,
    current_records,
    dead_worklist,
    health_answer,
    item_records,
    last_check,
    needs_restore,
    originals,
    overview,
    served_from_archive,
    taken_down_items,
    totals,
    uncopied_items,
)
from archiver.health.restore import articles_of_post, parse_post, restore, restore_many, revert
from archiver.health.state import check_label, could_not_check
from archiver.providers.registry import names as provider_names
from archiver.records.base import RecordError
from archiver.runtime import Runtime
from archiver.steps.prepare import check_article_id
from archiver.web.deps import get_runtime, refuse_session, require_form_role, require_role
from archiver.web.errors import AUTHENTICATED, ErrorOut, error_responses
from archiver.web.routes import articles, pages

VIEW_ROLES = ("editor", "compliance")
EDIT_ROLES = ("editor",)
_WORST = ("dead", "suspect", "live", "unchecked")

router = APIRouter(responses=error_responses(*AUTHENTICATED))


class RestoreIn(BaseModel):
    """Which items of the article to restore: the listed item ids, plus every dead one with `all_dead`.
    A field it does not name is a 422 (``{"item": [...]}``, a typo, must not restore every dead item)."""

    model_config = ConfigDict(extra="forbid")
    items: list[str] = Field(default_factory=list, max_length=1000,
                             description="item ids to restore; empty: every dead item")
    all_dead: StrictBool = Field(False, description="also restore every dead item")


MAX_BULK_RESTORE = 200  # articles one bulk restore over HTTP may change (`archiver restore` takes any number)


class RestoreManyIn(BaseModel):
    """Which articles to restore at once: the listed ids; with none, every article embedding `post`
    (``provider/post_id``: that post restored in each), or with `all_dead` every article with dead items
    a restore would change. One of the three is required; a field it does not name is a 422."""

    model_config = ConfigDict(extra="forbid")
    article_ids: list[str] = Field(default_factory=list, max_length=10_000,
                                   description=f"the articles' ids (at most {MAX_BULK_RESTORE} distinct ones)")
    post: str | None = Field(None, max_length=300, description="provider/post_id: restore this post everywhere")
    all_dead: StrictBool = Field(False, description="every dead item (of the ids given, or of every article)")


class RevertIn(BaseModel):
    """The earlier version (a JSON integer from 1: not true, "1" or 1.0) whose exact bytes become a new
    current version; a field it does not name is a 422."""

    model_config = ConfigDict(extra="forbid")
    version: StrictInt = Field(ge=1, le=1_000_000_000, description="the version whose bytes become current again")


def _article(article_id: str) -> str:
    try:
        return check_article_id(article_id)
    except InputError:
        raise HTTPException(status_code=404, detail="no such article") from None


def _run(fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        return fn(*args, **kwargs)
    except InputError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    except RestoreError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None


# --- JSON API ------------------------------------------------------------------------------------
@router.get("/v1/health", tags=["health"])
def health_overview(state: str | None = Query(None, pattern="^(unchecked|live|suspect|dead)$"),
                    limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=1_000_000),
                    rt: Runtime = Depends(get_runtime),
                    _principal: Principal = Depends(require_role(*VIEW_ROLES))) -> dict[str, Any]:
    """Per article of the catalog, how many of its current items are in each state (never checked:
    "unchecked"), most dead first; `totals` counts items per state over every article and `articles`
    how many articles match `state` (the /health page shows the same numbers). `needs_restore` (per
    article and in the totals) counts the dead items a restore would change: a dead item the current
    version already serves from the archive (restored, or an image rewritten to its stable copy at
    archiving) is dead at its origin but covered, and not counted there."""
    return health_answer(rt, state=state, limit=limit, offset=offset)


# Check-now over HTTP: at most CHECKS_PER_CALLER running per caller (token) and CHECKS_AT_ONCE per
# process, so check-now requests never take every worker thread from the rest of the API; past
# either, a 429 with Retry-After (one check run's time limit). A check-now of an article whose check
# is running already answers at once, 202 with the last results (never a wait on its lock, never 503).
CHECKS_PER_CALLER = 2
CHECKS_AT_ONCE = 4
_checks_guard = threading.Lock()
_checks_running: dict[str, int] = {}


@contextmanager
def check_slot(rt: Runtime, caller: str) -> Iterator[None]:
    """Hold one of the check-now slots of `caller` (and of the process) while checking; HTTPException
    429 with Retry-After when the caller or the process has none free."""
    retry = {"Retry-After": str(max(1, math.ceil(health_originals.check_time_limit(rt))))}
    with _checks_guard:
        if _checks_running.get(caller, 0) >= CHECKS_PER_CALLER:
            raise HTTPException(status_code=429, headers=retry,
                                detail=f"at most {CHECKS_PER_CALLER} check-now requests of one caller run at once")
        if sum(_checks_running.values()) >= CHECKS_AT_ONCE:
            raise HTTPException(status_code=429, headers=retry,
                                detail=f"at most {CHECKS_AT_ONCE} check-now requests run at once; try again")
        _checks_running[caller] = _checks_running.get(caller, 0) + 1
    try:
        yield
    finally:
        with _checks_guard:
            _checks_running[caller] -= 1
            if not _checks_running[caller]:
                del _checks_running[caller]


_CHECK_RESPONSES: dict[int | str, dict[str, Any]] = {
    **error_responses(404),
    202: {"description": "check_now: a check of this article is running already; the last results "
                         "(`check.running` true)"},
    429: {"description": "check_now: too many check-now requests of this caller or in all (Retry-After)",
          "model": ErrorOut},
}


@router.get("/v1/articles/{article_id}/health", tags=["health"], responses=_CHECK_RESPONSES)
def article_health(request: Request, response: Response, article_id: str, check_now: bool = False,
                   rt: Runtime = Depends(get_runtime),
                   principal: Principal = Depends(require_role(*VIEW_ROLES))) -> dict[str, Any]:
    """Every item of the article with its state and history; `label` says the state or why the last
    check could not decide ("could not check: timed out (last known: live)"). `check_now` (editors)
    checks each distinct original now, within one run's time limit (`archive_deadline`; what was not
    probed in time is listed as not checked, its state kept): it starts requests to the originals, so
    it needs the token in the Authorization header (the session cookie alone is a 401). A check-now
    while one of the same article runs answers 202 with the last results; past CHECKS_PER_CALLER
    running check-nows of the caller (or CHECKS_AT_ONCE in all), 429 with Retry-After."""
    if check_now and principal.role not in (*EDIT_ROLES, "admin"):
        raise HTTPException(status_code=403, detail=f"role {principal.role!r} may not start checks")
    if not check_now:
        return _run(health_originals.article_health, rt, _article(article_id))
    refuse_session(request)
    aid = _article(article_id)
    with check_slot(rt, principal.token_id):
        report = _run(health_originals.article_health, rt, aid, check_now=True)
    if report.get("check", {}).get("running"):
        response.status_code = 202
    return report


@router.post("/v1/articles/{article_id}/restore", tags=["health"], responses=error_responses(404, 409))
def restore_article(article_id: str, body: RestoreIn | None = None, rt: Runtime = Depends(get_runtime),
                    principal: Principal = Depends(require_role(*EDIT_ROLES))) -> dict[str, Any]:
    """Replace dead embeds by their static cards and point dead images at their stable copies, as a
    new version (the report's `version` is what `archiver show --json` lists for it)."""
    body = body or RestoreIn()
    return without_path(_run(restore, rt, _article(article_id), item_ids=body.items or None,
                             all_dead=body.all_dead, principal=principal))


def _restore_many(rt: Runtime, ids: list[str], post: str | None, all_dead: bool,
                  principal: Principal) -> dict[str, Any]:
    """`restore_many` as the API and the /health page run it: the ids as given, each distinct one once
    (one that names no article is that article's error in the answer, not the request's); `post` a
    post of a known provider (400 otherwise), never with `all_dead` (400: say which); at most
    MAX_BULK_RESTORE articles (400 beyond, naming the CLI command that takes any number); nothing is
    written when it refuses."""
    if not ids and not post and not all_dead:
        raise HTTPException(status_code=400, detail="name the articles, a post (provider/post_id) or all_dead")
    if post and all_dead:
        raise HTTPException(status_code=400, detail="give a post or all_dead, not both: a post restores that "
                                                    "post; all_dead every dead item")
    try:
        found = parse_post(post) if post else None
    except InputError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    if found is not None and found[0] not in provider_names():
        raise HTTPException(status_code=400, detail=f"not a post: unknown provider {found[0][:40]!r}")
    ids = list(dict.fromkeys(a[:200] for a in ids))
    if not ids:
        ids = articles_of_post(rt, *found) if found is not None else sorted(needs_restore(rt))
    if len(ids) > MAX_BULK_RESTORE:
        command = (f"archiver restore --post {post}" if found is not None and not all_dead
                   else "archiver restore --all-dead" if all_dead else "archiver restore ID [ID ...]")
        raise HTTPException(status_code=400, detail=f"{len(ids)} articles: more than {MAX_BULK_RESTORE} at once "
                                                    f"over HTTP; run `{command}` on the server")
    answer = _run(restore_many, rt, ids, all_dead=all_dead, post=found, principal=principal)
    answer["articles"] = [r if "error" in r else without_path(r) for r in answer["articles"]]
    return answer


@router.post("/v1/restore", tags=["health"], responses=error_responses(404, 409))
def restore_articles(body: RestoreManyIn, rt: Runtime = Depends(get_runtime),
                     principal: Principal = Depends(require_role(*EDIT_ROLES))) -> dict[str, Any]:
    """Restore many articles at once, each into its own version (`RestoreManyIn`): {"articles": [each
    article's report as POST /v1/articles/{id}/restore answers it, or {"article_id", "error", "damaged"}],
    "summary": {"articles", "new_versions", "unchanged", "failed", "items_restored", "items_failed",
    "items_taken_down"}}. At most MAX_BULK_RESTORE articles (400 beyond); a body naming nothing, or a
    `post` that is not provider/post_id, is a 400 too."""
    return _restore_many(rt, body.article_ids, body.post, body.all_dead, principal)


@router.post("/v1/articles/{article_id}/revert", tags=["health"], responses=error_responses(404, 409))
def revert_article(article_id: str, body: RevertIn, rt: Runtime = Depends(get_runtime),
                   principal: Principal = Depends(require_role(*EDIT_ROLES))) -> dict[str, Any]:
    """Make an earlier version's bytes, exactly, the new current version."""
    return without_path(_run(revert, rt, _article(article_id), body.version, principal=principal))


def without_path(report: dict[str, Any]) -> dict[str, Any]:
    """A restore or revert report as the API answers it: its version without the server's file path
    (``key`` names the object; the CLI's report keeps the path for local mode)."""
    version = {k: v for k, v in (report.get("version") or {}).items() if k != "path"}
    return {**report, "version": version}


# --- pages -----------------------------------------------------------------------------------------
OVERVIEW_PAGE = 50
WORKLIST_PAGE = 50


def health_page(request: Request, state: str | None = Query(None, max_length=200),
                page: int = Query(1, ge=1, le=100_000), dead_page: int = Query(1, ge=1, le=100_000),
                rt: Runtime = Depends(get_runtime),
                principal: Principal = Depends(require_role(*VIEW_ROLES))) -> HTMLResponse:
    """The link-health page: every article's current items counted by state (never-checked items are
    "unchecked", so an article is listed from the moment it is archived), worst first, OVERVIEW_PAGE a
    page (`page`; with `state`, only articles having an item in it); the totals per state; and the
    worklist of dead items across articles, dead longest first (`dead_page`), each with a Restore
    button for editors unless the article's current version already serves it from the archive
    (restored, or an image archiving pointed at its stable copy: "covered by the archived copy"). An unknown `state`
    is a 400 page listing the states. It also says how many items' last check could not decide, when
    the last check ran, and, when no scheduler runs (embedded mode) or checks are overdue, that
    nothing is checking (`originals.last_check`)."""
    state = pages.check_choice("state", state, _WORST)
    rows = overview(rt, state=state, limit=OVERVIEW_PAGE, offset=(page - 1) * OVERVIEW_PAGE)
    counts = totals(rt, state=state)
    dead, dead_total = dead_worklist(rt, limit=WORKLIST_PAGE, offset=(dead_page - 1) * WORKLIST_PAGE)
    readable = {aid: version_listing(rt, aid) for aid in {d["article_id"] for d in dead}}
    restored = {aid: articles.restored_in(rt, listing.readable) if not listing.unreadable else set()
                for aid, listing in readable.items()}
    covered = {aid: _covered(rt, aid) if not readable[aid].unreadable else set() for aid in readable}
    records = {aid: current_records(rt, aid) for aid in readable}
    down = {aid: taken_down_items(rt, aid, records[aid]) for aid in readable}
    listed = {aid: {d["item_id"] for d in dead if d["article_id"] == aid} for aid in readable}
    lost = {aid: uncopied_items(rt, aid, records[aid], only=listed[aid]) for aid in readable}
    dead = [{**d, "restored": d["item_id"] in restored[d["article_id"]],
             "taken_down": d["item_id"] in down[d["article_id"]],
             "uncopied": d["item_id"] in lost[d["article_id"]],
             "covered": d["item_id"] in covered[d["article_id"]],
             "unreadable": readable[d["article_id"]].unreadable} for d in dead]
    pages_n = max(1, -(-counts["articles"] // OVERVIEW_PAGE))
    dead_pages = max(1, -(-dead_total // WORKLIST_PAGE))

    def link(**kw: int) -> str:
        query = {"state": state or "", "page": page, "dead_page": dead_page, **kw}
        return "/health?" + urlencode({k: v for k, v in query.items() if v not in ("", 1)})

    return pages.render(request, "health.html", {
        "outcome": _outcome(request),
        "rows": rows, "state": state or "", "states": ("dead", "suspect", "live", "unchecked"), "totals": counts,
        "last_check": last_check(rt), "could_not_check": could_not_check_count(rt),
        "dead": dead, "dead_total": dead_total,
        "needs_restore": sum(needs_restore(rt).values()), "can_edit": articles.can_edit(principal),
        "page": page, "pages": pages_n, "dead_page": dead_page, "dead_pages": dead_pages,
        "prev_url": link(page=page - 1) if page > 1 else None,
        "next_url": link(page=page + 1) if page < pages_n else None,
        "dead_prev_url": link(dead_page=dead_page - 1) + "#worklist" if dead_page > 1 else None,
        "dead_next_url": link(dead_page=dead_page + 1) + "#worklist" if dead_page < dead_pages else None,
    })


def _outcome(request: Request) -> dict[str, int] | None:
    """A bulk restore's outcome, from the session's flash (what `restore_many_form` redirected with,
    pages.outcome_to_flash): each count a number from 0 (anything else is 0), for the page's sentence;
    None when the page was not reached from a bulk restore."""
    flash = pages.flash_of(request)
    if flash.get("done") != "restore":
        return None
    out = {}
    for name in ("articles", "new", "failed", "items", "items_failed", "withheld"):
        value = flash.get(name, "")
        out[name] = int(value) if value.isdigit() and len(value) < 10 else 0
    return out


def _covered(rt: Runtime, article_id: str) -> set[str]:
    """`served_from_archive`, or nothing counted as covered when a stored record it reads is damaged."""
    try:
        return served_from_archive(rt, article_id)
    except RecordError:
        return set()


def _back(article_id: str, **outcome: int | str) -> RedirectResponse:
    return RedirectResponse(f"/articles/{pages.seg(article_id)}?{urlencode(outcome)}#result", status_code=303)


def restore_form(article_id: str, item: list[str] = Form([], max_length=1000),
                 rt: Runtime = Depends(get_runtime),
                 principal: Principal = Depends(require_form_role(*EDIT_ROLES))) -> RedirectResponse:
    """The Restore buttons: with no `item`, every dead item of the article; with `item` (repeatable,
    item ids), those items. Then back to the article page (303) with the outcome as numbers, which
    the page turns into a sentence. A signed-in browser's post carries the session's CSRF token
    (403 without it); an unknown item is a 404 page, an unrestorable history a 409 page."""
    ids = [i[:64] for i in item if i.strip()][:1000]
    report = _run(restore, rt, _article(article_id), item_ids=ids or None, principal=principal)
    done = [o for o in report["items"] if o["status"] == "restored"]
    return _back(article_id, done="restore", v=report["current"], new=int(report["new_version"]),
                 embeds=sum(o["kind"] == "embed" for o in done), images=sum(o["kind"] == "image" for o in done),
                 failed=sum(o["status"] == "error" for o in report["items"]),
                 already=sum(o["status"] == "already" for o in report["items"]),
                 withheld=sum(o["status"] == "taken_down" for o in report["items"]),
                 cards=len(report.get("withheld_cards") or []))


def restore_many_form(post: str = Form("", max_length=300), all_dead: bool = Form(False),
                      rt: Runtime = Depends(get_runtime),
                      principal: Principal = Depends(require_form_role(*EDIT_ROLES))) -> RedirectResponse:
    """The /health page's bulk buttons: "Restore all" (every article with dead items to restore) and,
    per dead post of the worklist, "Restore everywhere" (`post`: in every article embedding it). CSRF
    as for Restore; over MAX_BULK_RESTORE articles a 400 page naming the CLI command. Then back to
    /health (303) with the outcome as numbers, which the page turns into a sentence."""
    answer = _restore_many(rt, [], post.strip() or None, all_dead and not post.strip(), principal)
    n = answer["summary"]
    query = {"done": "restore", "articles": n["articles"], "new": n["new_versions"], "failed": n["failed"],
             "items": n["items_restored"], "items_failed": n["items_failed"], "withheld": n["items_taken_down"]}
    return RedirectResponse(f"/health?{urlencode(query)}#result", status_code=303)


def revert_form(article_id: str, version: int = Form(..., ge=1, le=1_000_000_000),
                rt: Runtime = Depends(get_runtime),
                principal: Principal = Depends(require_form_role(*EDIT_ROLES))) -> RedirectResponse:
    """The Revert buttons: make `version`'s bytes current again (nothing is written when they already
    are), then back to the article page (303) with the outcome. CSRF as for Restore; an unknown
    version is a 404 page."""
    report = _run(revert, rt, _article(article_id), version, principal=principal)
    return _back(article_id, done="revert", to=version, v=report["current"], new=int(report["new_version"]),
                 cards=len(report.get("withheld_cards") or []))


router.add_api_route("/health", health_page, methods=["GET"], response_class=HTMLResponse,
                     include_in_schema=False, route_class_override=pages.PageRoute)
router.add_api_route("/health/restore", restore_many_form, methods=["POST"],
                     include_in_schema=False, route_class_override=pages.PageRoute)
router.add_api_route("/articles/{article_id}/restore", restore_form, methods=["POST"],
                     include_in_schema=False, route_class_override=pages.PageRoute)
router.add_api_route("/articles/{article_id}/revert", revert_form, methods=["POST"],
                     include_in_schema=False, route_class_override=pages.PageRoute)


def article_block(rt: Runtime, article_id: str) -> dict[str, Any] | None:
    """The article page's link-health block, from the stored records (the truth): the article's worst
    state ("unchecked" until a check), when it was last checked, and per item id its state, its label
    (the state, or "could not check: <why> (last known: <state>)"), whether the image changed since
    it was archived (None: not known), since when, the last check's time and answer and its recent
    checks (newest first); `restore_url` when an item is dead (the page shows the button to editors
    only)."""
    items = {}
    try:
        found = originals(rt, article_id)
    except RecordError:  # a damaged plan or item result: the block covers the items that can be read
        plan, _ = articles.readable_plan(rt, article_id)
        found = health_originals.originals_of(plan, articles.readable_results(rt, plan)[0]) if plan else []
    for item_id, rec in item_records(rt, found).items():
        items[item_id] = {"state": rec["state"], "label": check_label(rec), "could_not_check": could_not_check(rec),
                          "changed_since_archived": rec.get("changed_since_archived"),
                          "checked_at": rec["last_checked_at"], "detail": rec["last_detail"],
                          "since": rec.get("since"), "checks": rec.get("checks") or 0,
                          "history": list(reversed(rec.get("history") or []))[:articles.HISTORY_SHOWN]}
    states = {i["state"] for i in items.values()}
    checked = [i["checked_at"] for i in items.values() if i["checked_at"]]
    return {"state": next((s for s in _WORST if s in states), "unchecked"),
            "checked_at": max(checked) if checked else None, "items": items,
            "restore_url": f"/articles/{pages.seg(article_id)}/restore" if "dead" in states else None}


articles.provide_article_health(article_block)
