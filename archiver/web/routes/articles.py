"""The article pages for editors: one article with its embeds, images, versions and link health.

Split from pages.py (search and posts) so the editor's pages have one home; they render through
pages.render and share its page route class (errors as pages, login redirects).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from archiver.article.versions import versions
from archiver.auth import Principal
from archiver.capture.cards.content import edit_note, status_note
from archiver.compliance import audit
from archiver.errors import InputError
from archiver.records.plan import EmbedItem
from archiver.records.result import EmbedResult, ImageResult
from archiver.runtime import Runtime
from archiver.steps.prepare import check_article_id, load_plan
from archiver.steps.results import load_results
from archiver.storage.base import ObjectNotFound
from archiver.storage.layout import version_key
from archiver.web.deps import get_runtime, require_role
from archiver.web.routes.pages import ARTICLE_ROLES, PAGE_HEADERS, PageRoute, _manifest, _thumb_key, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)


# --- an article ------------------------------------------------------------------------------------
HealthSource = Callable[[Runtime, str], "dict[str, Any] | None"]
_health_source: list[HealthSource] = []


def provide_article_health(source: HealthSource) -> None:
    """Fill the article page's link-health block (the link-health module calls this once).

    `source(runtime, article_id)` returns None or a dict with `state`, `checked_at`, `items`
    ({item_id: {state, checked_at, detail}}) and an optional `restore_url` (a POST form target,
    rendered as a "Restore" button); the template shows whatever of these keys is present.
    """
    _health_source[:] = [source]


def article_health(rt: Runtime, article_id: str) -> dict[str, Any] | None:
    """The article's link-health block from the registered source (see provide_article_health), or None."""
    return _health_source[0](rt, article_id) if _health_source else None


@router.get("/articles/{article_id}")
def article_page(request: Request, article_id: str, rt: Runtime = Depends(get_runtime),
                 principal: Principal = Depends(require_role(*ARTICLE_ROLES))) -> HTMLResponse:
    """One article: its embeds (with their capture results, and their status and a stale edit said in
    plain words from each manifest) and images, its stored versions and its link health; 404 for a
    malformed id or an unknown article."""
    try:
        check_article_id(article_id)
        plan = load_plan(rt, article_id)
    except InputError:
        raise HTTPException(status_code=404, detail="no such article") from None
    results = load_results(rt, plan)
    embeds, images = [], []
    for item in plan.items:
        res = results.get(item.item_id)
        entry: dict[str, Any] = {"item": item, "result": res or {"status": "pending"},
                                 "occurrences": len(item.occurrences)}
        if isinstance(item, EmbedItem):
            embed = res if isinstance(res, EmbedResult) else None
            entry["stable_url"] = rt.store.public_url(embed.manifest_key) if embed and embed.manifest_key else None
            entry["post_id"] = (embed.post_id if embed else None) or item.post_id
            manifest = _manifest(rt, embed.manifest_key) if embed and embed.manifest_key else {}
            entry["notes"] = [n for n in (status_note(manifest), edit_note(manifest)) if n]
            embeds.append(entry)
        else:
            entry["thumb_key"] = _thumb_key(rt, res.sha256 if isinstance(res, ImageResult) else None)
            images.append(entry)
    history = versions(rt, article_id)
    audit.record(rt, principal, "view", f"article:{article_id}", {"versions": len(history)}, None)
    return render(request, "article.html", {
        "article_id": article_id, "article": rt.catalog.article(article_id) or {}, "plan": plan,
        "versions": history, "embeds": embeds, "images": images,
        "health": article_health(rt, article_id),
    })


@router.get("/articles/{article_id}/versions/{number}")
def article_version(article_id: str, number: int, rt: Runtime = Depends(get_runtime),
                    _principal: Principal = Depends(require_role(*ARTICLE_ROLES))) -> Response:
    """A version's bytes as plain text (never rendered as the publisher's HTML here)."""
    try:
        check_article_id(article_id)
        data = rt.store.get(version_key(article_id, number))
    except (InputError, ObjectNotFound, ValueError):
        raise HTTPException(status_code=404, detail="no such version") from None
    meta = next((v for v in versions(rt, article_id) if v.version == number), None)
    if meta is None:
        raise HTTPException(status_code=404, detail="no such version")
    charset = meta.encoding if re.fullmatch(r"[A-Za-z0-9_.:-]{1,40}", str(meta.encoding)) else "utf-8"
    return Response(data, media_type=f"text/plain; charset={charset}",
                    headers={**PAGE_HEADERS, "Content-Security-Policy": "default-src 'none'; sandbox"})
