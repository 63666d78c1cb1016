"""The compliance officer's pages: hold, release, take down and lift a post from its page, download its
evidence bundle (a signed WACZ), export a search's posts, and the list of holds and takedowns.

Split from pages.py so the compliance actions have one home in the web UI, as the API's have theirs
(routes/api.py). Every action is a POST form of a signed-in session carrying its CSRF token
(deps.require_form_role), for the compliance role (and admin) only, and is done by
archiver.compliance.holds / evidence, which write the audit log under the signed-in user. After an
action the browser is sent back (303) to the post page with a fixed one-line notice (`?done=`) saying
what changed, or that nothing did (a release without a hold, the same reason twice); a reason without a
visible character or too long shows the page again with the error (400) and changes nothing.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from archiver.auth import Principal
from archiver.catalog.query import SearchQuery, problems
from archiver.compliance import audit
from archiver.compliance.evidence import MAX_EXPORT_POSTS, search_posts
from archiver.compliance.holds import MAX_REASON, clean_reason, ensure_schema, set_hold
from archiver.errors import InputError
from archiver.health.restore import takedown_post
from archiver.runtime import Runtime
from archiver.web.bundles import bundle_download
from archiver.web.deps import get_runtime, require_form_role, require_role
from archiver.web.routes.pages import (
    COMPLIANCE_ROLES,
    SEARCH_FIELDS,
    PageRoute,
    _label,
    _search_form,
    check_choice,
    post_view,
    render,
    search_problems,
    seg,
    signing_state,
    visible_state,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)

MAX_FORM_REASON = 20_000  # what the form field may carry at all (longer is a 422 page)
HOLDS_PAGE_SIZE = 25
SHOW = {"all": "held or taken down", "hold": "under legal hold", "takedown": "taken down"}


def reason_problem(reason: str) -> str | None:
    """What is wrong with a hold's or takedown's reason (one line, ``holds.clean_reason``'s rule: a visible
    character, at most MAX_REASON), or None when it will do."""
    try:
        clean_reason(reason)
    except InputError as exc:
        text = str(exc)
        return text[:1].upper() + text[1:] + "."
    return None


# The post page's notice code (pages.NOTICES) for each action's outcome (holds.set_hold / set_takedown).
OUTCOME_NOTICES = {"held": "hold", "hold updated": "hold-updated", "already held: nothing changed": "hold-same",
                   "hold released": "release", "not held: nothing changed": "release-none",
                   "taken down": "takedown", "takedown updated": "takedown-updated",
                   "already taken down: nothing changed": "takedown-same", "served publicly again": "lift",
                   "not taken down: nothing changed": "lift-none"}


def _post_url(provider: str, post_id: str, done: str | None = None) -> str:
    return f"/posts/{seg(provider)}/{seg(post_id)}" + (f"?{urlencode({'done': done})}" if done else "")


def _again(request: Request, rt: Runtime, principal: Principal, provider: str, post_id: str, form: str,
           message: str, reason: str) -> HTMLResponse:
    """The post page again (400) with the error under the form that was sent; nothing was changed."""
    context = post_view(rt, provider, post_id)
    context["compliance"] = visible_state(principal, context["compliance"])
    context["form_error"] = {"form": form, "message": message, "reason": reason[:MAX_REASON]}
    return render(request, "post.html", context, status_code=400)


Officer = Depends(require_form_role(*COMPLIANCE_ROLES))


@router.post("/posts/{provider}/{post_id}/hold")
def hold_form(request: Request, provider: str, post_id: str,
              reason: str = Form("", max_length=MAX_FORM_REASON), rt: Runtime = Depends(get_runtime),
              principal: Principal = Officer) -> Response:
    """The post page's "Place legal hold" form: a hold with its reason (required), audited under the
    signed-in user; 303 back to the post page with a notice. 404 for an unknown post."""
    post_view(rt, provider, post_id)  # 404 for an unknown post, before anything is checked
    problem = reason_problem(reason)
    if problem:
        return _again(request, rt, principal, provider, post_id, "hold", problem, reason)
    state = set_hold(rt, principal, provider, post_id, on=True, reason=reason)
    return RedirectResponse(_post_url(provider, post_id, OUTCOME_NOTICES[state["outcome"]]), status_code=303)


@router.post("/posts/{provider}/{post_id}/release")
def release_form(provider: str, post_id: str, rt: Runtime = Depends(get_runtime),
                 principal: Principal = Officer) -> Response:
    """The "Release hold" button: lifts the legal hold, audited; 303 back with a notice."""
    post_view(rt, provider, post_id)
    state = set_hold(rt, principal, provider, post_id, on=False)
    return RedirectResponse(_post_url(provider, post_id, OUTCOME_NOTICES[state["outcome"]]), status_code=303)


@router.post("/posts/{provider}/{post_id}/takedown")
def takedown_form(request: Request, provider: str, post_id: str,
                  reason: str = Form("", max_length=MAX_FORM_REASON), rt: Runtime = Depends(get_runtime),
                  principal: Principal = Officer) -> Response:
    """The "Take down" form: hides the post's public copies (410) with its reason (required); the
    evidence is kept; audited; 303 back with a notice."""
    post_view(rt, provider, post_id)
    problem = reason_problem(reason)
    if problem:
        return _again(request, rt, principal, provider, post_id, "takedown", problem, reason)
    state = takedown_post(rt, principal, provider, post_id, on=True, reason=reason)
    done = "takedown-still" if state.get("still_carried") else OUTCOME_NOTICES[state["outcome"]]
    return RedirectResponse(_post_url(provider, post_id, done), status_code=303)


@router.post("/posts/{provider}/{post_id}/lift-takedown")
def lift_form(provider: str, post_id: str, rt: Runtime = Depends(get_runtime),
              principal: Principal = Officer) -> Response:
    """The "Lift takedown" button: serves the post's public copies again, audited; 303 back."""
    post_view(rt, provider, post_id)
    state = takedown_post(rt, principal, provider, post_id, on=False)
    return RedirectResponse(_post_url(provider, post_id, OUTCOME_NOTICES[state["outcome"]]), status_code=303)


# --- evidence bundles --------------------------------------------------------------------------------
@router.post("/posts/{provider}/{post_id}/export")
def export_form(provider: str, post_id: str, rt: Runtime = Depends(get_runtime),
                principal: Principal = Officer) -> Response:
    """The "Download evidence (WACZ)" button: the same bundle as GET /v1/posts/{provider}/{post_id}/export
    (every capture with its WARC, manifest, cards, timestamps and media, and the posts it quotes and
    replies to), as an attachment `evidence-<provider>-<post_id>.wacz`; audited. 404 for an unknown post."""
    post_view(rt, provider, post_id)
    return bundle_download(rt, principal, [(provider, post_id)], None, f"evidence-{provider}-{post_id}.wacz",
                           via="web")


def _recent_exports(rt: Runtime, limit: int = 20) -> list[dict[str, Any]]:
    audit.ensure_schema(rt.catalog)
    rows = rt.catalog.query("SELECT at, actor, role, target, detail, result_count FROM audit_log "
                            "WHERE action = 'export' ORDER BY at DESC LIMIT ?", [limit])
    out = []
    for row in rows:
        try:
            detail = json.loads(row.get("detail") or "{}")
        except ValueError:
            detail = {}
        detail = detail if isinstance(detail, dict) else {}
        targets = [t for t in str(row.get("target") or "").split(",") if t][:20]
        out.append({"at": row.get("at"), "actor": row.get("actor"), "role": row.get("role"),
                    "via": str(detail.get("via") or "")[:20], "posts": targets,
                    # the fingerprint that signed it, False when unsigned, None when the record does not say
                    "signed": (detail["signed"][:100] if isinstance(detail.get("signed"), str)
                               else False if "signed" in detail and detail["signed"] is None else None),
                    "more": max(0, (row.get("result_count") or len(targets)) - len(targets))})
    return out


@router.get("/exports")
def exports_page(request: Request, rt: Runtime = Depends(get_runtime),
                 _principal: Principal = Depends(require_role(*COMPLIANCE_ROLES))) -> HTMLResponse:
    """The exports page: how to export (a post's page, or the posts a search finds, with the search's
    form here), and the latest exports from the audit log (who, when, which posts). A search carried
    here whose filters do not validate (an unknown status, provider or sort) is shown with its errors
    (400), as the search page shows them."""
    form = _search_form(request.query_params)
    errors = search_problems({k: v for k, v in form.items() if v})
    return render(request, "exports.html", {"form": form, "fields": SearchQuery.model_fields, "errors": errors,
                                            "recent": _recent_exports(rt), "max_posts": MAX_EXPORT_POSTS,
                                            "signing": signing_state(rt)},
                  status_code=400 if errors else 200)


@router.post("/exports")
async def export_search_form(request: Request, rt: Runtime = Depends(get_runtime),
                             principal: Principal = Officer) -> Response:
    """Export every post a search finds (a search matching more than MAX_EXPORT_POSTS is refused with
    the count) as one WACZ download, the search
    recorded in the bundle and the audit log. A search that searches nothing or finds nothing, or one
    that does not validate, shows the exports page again with the error (400)."""
    data = await request.form()
    form = _search_form([(k, v) for k, v in data.multi_items() if k in SEARCH_FIELDS and isinstance(v, str)],
                        cut=2000)
    given = {k: v for k, v in form.items() if v}

    def again(errors: list[str]) -> HTMLResponse:
        return render(request, "exports.html", {"form": form, "fields": SearchQuery.model_fields,
                                                "errors": errors, "recent": _recent_exports(rt),
                                                "max_posts": MAX_EXPORT_POSTS, "signing": signing_state(rt)},
                      status_code=400)

    if not given:
        return await run_in_threadpool(again, ["The search searches nothing: give words or a filter."])
    errors = search_problems(given)  # unknown provider, status or sort: one readable line each
    if errors:
        return await run_in_threadpool(again, errors)
    try:
        query = SearchQuery.model_validate({**given, "limit": MAX_EXPORT_POSTS, "offset": 0})
    except ValidationError as exc:
        return await run_in_threadpool(again, problems(exc, _label))
    try:  # every match, paged through; more than MAX_EXPORT_POSTS is refused, never cut
        posts, matched, elsewhere = await run_in_threadpool(search_posts, rt.catalog.search, query)
    except InputError as exc:
        return await run_in_threadpool(again, [str(exc)])
    if not posts:
        return await run_in_threadpool(again, ["The search finds no post: nothing to export."])
    recorded = {**query.model_dump(mode="json", by_alias=True, exclude={"limit", "offset"}), "matched": matched,
                "matched_captures": elsewhere}
    return await run_in_threadpool(partial(bundle_download, via="web"), rt, principal, posts,
                                   recorded, "evidence-search.wacz")


# --- the holds and takedowns -------------------------------------------------------------------------
def _latest_capture(rt: Runtime, provider: str, post_id: str) -> dict[str, Any]:
    rows = rt.catalog.query("SELECT handle, author, text FROM captures WHERE provider = ? AND post_id = ? "
                            "ORDER BY captured_at DESC LIMIT 1", [provider, post_id])
    return rows[0] if rows else {}


@router.get("/holds")
def holds_page(request: Request, show: str = Query("all", max_length=200),
               page: int = Query(1, ge=1, le=10_000), rt: Runtime = Depends(get_runtime),
               principal: Principal = Depends(require_role(*COMPLIANCE_ROLES))) -> HTMLResponse:
    """The posts under legal hold or taken down now, latest change first, HOLDS_PAGE_SIZE a page: for
    each the post (linked), who placed the hold or takedown, when and why. `show`: all, hold or
    takedown (anything else is a 400 page listing them). A page past the last shows no rows (and a link
    back to the first)."""
    show = check_choice("show", show, tuple(SHOW)) or "all"
    ensure_schema(rt.catalog)
    where = {"all": "held = 1 OR taken_down = 1", "hold": "held = 1", "takedown": "taken_down = 1"}[show]
    total = rt.catalog.query(f"SELECT COUNT(*) AS n FROM post_compliance WHERE {where}")[0]["n"]  # noqa: S608
    rows = rt.catalog.query(
        f"SELECT provider, post_id, state, updated_at FROM post_compliance WHERE {where} "  # noqa: S608
        "ORDER BY updated_at DESC, provider, post_id LIMIT ? OFFSET ?",
        [HOLDS_PAGE_SIZE, (page - 1) * HOLDS_PAGE_SIZE])
    entries = []
    for row in rows:
        try:
            state = json.loads(row["state"])
        except ValueError:
            state = {}
        state = visible_state(principal, state if isinstance(state, dict) else {})
        latest = _latest_capture(rt, row["provider"], row["post_id"])
        entries.append({"provider": row["provider"], "post_id": row["post_id"],
                        "link": _post_url(row["provider"], row["post_id"]),
                        "hold": state.get("hold") if isinstance(state.get("hold"), dict) else None,
                        "takedown": state.get("takedown") if isinstance(state.get("takedown"), dict) else None,
                        "handle": latest.get("handle"), "author": latest.get("author"),
                        "text": str(latest.get("text") or "")[:200]})
    pages = max(1, -(-int(total) // HOLDS_PAGE_SIZE))
    link = "/holds?" + (f"show={show}&" if show != "all" else "")
    return render(request, "holds.html", {
        "entries": entries, "total": int(total), "page": page, "pages": pages, "show": show, "shows": SHOW,
        "prev_url": f"{link}page={page - 1}" if 1 < page <= pages else None,
        "next_url": f"{link}page={page + 1}" if page < pages else None,
        "first_url": f"{link}page=1" if page > pages else None})
