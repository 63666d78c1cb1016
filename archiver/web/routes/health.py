"""Link health over HTTP: the state of every original (per article and overall), restore and revert.

JSON under /v1 for the CMS and scripts; for editors, the /health page and the link-health block of
the article page (filled through pages.provide_article_health) with its "Restore" button, a form
POST back to /articles/{id}/restore. Restores and reverts are audit-logged by archiver.health.restore.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field

from archiver.article.versions import RestoreError
from archiver.auth import Principal
from archiver.errors import InputError
from archiver.health import originals as health_originals
from archiver.health.originals import load_record, originals, overview
from archiver.health.restore import restore, revert
from archiver.runtime import Runtime
from archiver.steps.prepare import check_article_id
from archiver.web.deps import get_runtime, require_form_role, require_role
from archiver.web.errors import AUTHENTICATED, error_responses
from archiver.web.routes import articles, pages

VIEW_ROLES = ("editor", "compliance")
EDIT_ROLES = ("editor",)
_WORST = ("dead", "suspect", "live", "unchecked")

router = APIRouter(responses=error_responses(*AUTHENTICATED))


class RestoreIn(BaseModel):
    """Which items of the article to restore: the listed item ids, plus every dead one with `all_dead`."""

    items: list[str] = Field(default_factory=list, max_length=1000,
                             description="item ids to restore; empty: every dead item")
    all_dead: bool = Field(False, description="also restore every dead item")


class RevertIn(BaseModel):
    """The earlier version (a number from 1) whose exact bytes become a new current version."""

    version: int = Field(ge=1, description="the version whose bytes become current again")


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
                    limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0),
                    rt: Runtime = Depends(get_runtime),
                    _principal: Principal = Depends(require_role(*VIEW_ROLES))) -> dict[str, Any]:
    """Per article, how many of its originals are in each state; worst first."""
    return {"articles": overview(rt, state=state, limit=limit, offset=offset)}


@router.get("/v1/articles/{article_id}/health", tags=["health"], responses=error_responses(404))
def article_health(article_id: str, check_now: bool = False, rt: Runtime = Depends(get_runtime),
                   principal: Principal = Depends(require_role(*VIEW_ROLES))) -> dict[str, Any]:
    """Every item of the article with its state and history; `check_now` (editors) checks each now."""
    if check_now and principal.role not in (*EDIT_ROLES, "admin"):
        raise HTTPException(status_code=403, detail=f"role {principal.role!r} may not start checks")
    return _run(health_originals.article_health, rt, _article(article_id), check_now=check_now)


@router.post("/v1/articles/{article_id}/restore", tags=["health"], responses=error_responses(404, 409))
def restore_article(article_id: str, body: RestoreIn | None = None, rt: Runtime = Depends(get_runtime),
                    principal: Principal = Depends(require_role(*EDIT_ROLES))) -> dict[str, Any]:
    """Replace dead embeds by their static cards and point dead images at their stable copies, as a
    new version (the report's `version` is what `archiver show --json` lists for it)."""
    body = body or RestoreIn()
    return _run(restore, rt, _article(article_id), item_ids=body.items or None,
                all_dead=body.all_dead, principal=principal)


@router.post("/v1/articles/{article_id}/revert", tags=["health"], responses=error_responses(404, 409))
def revert_article(article_id: str, body: RevertIn, rt: Runtime = Depends(get_runtime),
                   principal: Principal = Depends(require_role(*EDIT_ROLES))) -> dict[str, Any]:
    """Make an earlier version's bytes, exactly, the new current version."""
    return _run(revert, rt, _article(article_id), body.version, principal=principal)


# --- pages -----------------------------------------------------------------------------------------
def health_page(request: Request, state: str | None = Query(None, pattern="^(|unchecked|live|suspect|dead)$"),
                rt: Runtime = Depends(get_runtime),
                _principal: Principal = Depends(require_role(*VIEW_ROLES))) -> HTMLResponse:
    """The link-health page: up to 500 articles with their originals counted by state, worst first;
    with `state`, only the articles having an original in that state."""
    rows = overview(rt, state=state or None, limit=500)
    return pages.render(request, "health.html", {"rows": rows, "state": state or "",
                                                 "states": ("dead", "suspect", "live", "unchecked")})


def restore_form(article_id: str, rt: Runtime = Depends(get_runtime),
                 principal: Principal = Depends(require_form_role(*EDIT_ROLES))) -> RedirectResponse:
    """The article page's "Restore" button: restore every dead item, then back to the page (303).
    A signed-in browser's post carries the session's CSRF token (403 without it)."""
    _run(restore, rt, _article(article_id), principal=principal)
    return RedirectResponse(f"/articles/{pages.seg(article_id)}#health", status_code=303)


router.add_api_route("/health", health_page, methods=["GET"], response_class=HTMLResponse,
                     include_in_schema=False, route_class_override=pages.PageRoute)
router.add_api_route("/articles/{article_id}/restore", restore_form, methods=["POST"],
                     include_in_schema=False, route_class_override=pages.PageRoute)


def article_block(rt: Runtime, article_id: str) -> dict[str, Any] | None:
    """The article page's link-health block; None until one of its originals has been checked."""
    items = {}
    for o in originals(rt, article_id):
        rec = load_record(rt, o.url)
        if rec is not None and rec["state"] != "unchecked":
            items[o.item_id] = {"state": rec["state"], "checked_at": rec["last_checked_at"],
                                "detail": rec["last_detail"]}
    if not items:
        return None
    states = {i["state"] for i in items.values()}
    return {"state": next(s for s in _WORST if s in states),
            "checked_at": max(i["checked_at"] for i in items.values()), "items": items,
            "restore_url": f"/articles/{pages.seg(article_id)}/restore" if "dead" in states else None}


articles.provide_article_health(article_block)
