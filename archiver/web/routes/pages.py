"""Server-rendered pages for compliance staff and editors: search, a post's captures, an article.

Plain HTML from Jinja2 templates (autoescaped), one small stylesheet, no JavaScript: the pages work
in any browser and in a text-mode one. Signing in (POST /login with an API token) starts a session
(archiver/web/sessions.py): the HttpOnly, SameSite=Strict cookie `archiver_session` holds its random
id, never the token, `Secure` when the request came over https (directly, or through a proxy listed
in `forwarded_allow_ips` that says so in X-Forwarded-Proto), and it ends after `session_lifetime` or
at sign-out (POST /logout: a GET does not sign out). A page asked for without a session redirects to
the login form. Every form a page shows carries the session's CSRF token, and the request guard
refuses form posts from other sites (Origin). Signing in and out, every search and every view of a
post or an article are audit-logged.

Every page has the navigation its reader's role may use (NAV: search, articles, link health, and for
compliance and admin the holds and exports of routes/compliance.py), the current page marked with
aria-current, and shows a fixed one-line notice after a form's action (NOTICES): the action's outcome
is kept server-side as a one-time flash of the session, the redirect carries only its id
(`outcome_to_flash`, `flash_of`), so a link cannot make a page report anything. Errors on
the pages' paths are the error page (`error_page`, error.html), as archiver/web/errors.py decides.

Everything shown comes from storage or the catalog, that is from third parties (post text,
handles, URLs): it is escaped by the templates, links are built from checked ids, and the only
embedded third-party markup (the static card) is shown in a sandboxed iframe served with a CSP.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from archiver.auth import Principal, authenticate
from archiver.capture.cards.content import (
    clean,
    country_names,
    edit_note,
    interstitial_note,
    link_preview,
    poll_view,
    status_note,
)
from archiver.capture.manifest import STATUS_WORDS
from archiver.catalog.query import SORTS as QUERY_SORTS
from archiver.catalog.query import SYNTAX_HELP, SearchQuery, problems
from archiver.compliance import audit
from archiver.compliance.holds import post_state
from archiver.compliance.holds import visible_state as shown_state
from archiver.compliance.signing import fingerprint, key_path, load_private_key
from archiver.dates import shown
from archiver.errors import ConfigError
from archiver.providers.base import EMBED_STATUSES
from archiver.providers.registry import names as provider_names
from archiver.runtime import Runtime
from archiver.storage.base import ObjectNotFound
from archiver.storage.layout import POST_ID_RE, PROVIDER_RE, PUBLIC_PREFIXES, derived_key
from archiver.web.copies import copy_csp, copy_info, public_origin, serve_copy
from archiver.web.deps import check_csrf, get_runtime, identify, require_role
from archiver.web.errors import PAGE_TITLES, error_response
from archiver.web.sessions import (
    COOKIE_NAME,
    CSRF_FIELD,
    LEGACY_COOKIE,
    csrf_token,
    end_session,
    put_flash,
    session_principal,
    start_session,
    take_flash,
)

HERE = Path(__file__).resolve().parent.parent
PAGE_SIZE = 20
# The search form's fields are SearchQuery's (its paging is the page number); links made before the
# form used those names keep working.
SEARCH_FIELDS = tuple(name for name in SearchQuery.model_fields if name not in ("limit", "offset"))
# The sort menu: SearchQuery's orders (catalog/query.py) as the page names them; the page also shows
# the query language's help (SYNTAX_HELP, catalog/syntax.py) in a panel.
SORT_LABELS = {"relevance": "Best match", "posted": "Newest posted", "captured": "Newest captured"}
SORTS = tuple(s for s in QUERY_SORTS if s in SORT_LABELS)
FORMER_SEARCH_NAMES = {"posted_from": "posted_since", "posted_to": "posted_until", "captured_from": "captured_since",
                       "captured_to": "captured_until", "article": "article_id"}
# Who may open which page (admin may do everything): publishers only use the publish hook.
SEARCH_ROLES = ("compliance", "editor")
ARTICLE_ROLES = ("editor", "compliance")
HEALTH_ROLES = ("editor", "compliance")
COMPLIANCE_ROLES = ("compliance",)
# The navigation: (path, label, roles that may open it; admin may open all). A page is "current" when
# the path asked for is its path or under it ("/" is the search page).
NAV = (("/search", "Search", SEARCH_ROLES), ("/articles", "Articles", ARTICLE_ROLES),
       ("/health", "Link health", HEALTH_ROLES), ("/holds", "Holds and takedowns", COMPLIANCE_ROLES),
       ("/exports", "Exports", COMPLIANCE_ROLES))
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; frame-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` with the pages' own
    # form posts, which the request guard must refuse; other sites still get no referrer.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_LANG = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_WORD = re.compile(r"[a-z][a-z_-]{0,31}")


def seg(value: Any) -> str:
    """One URL path segment: everything but unreserved characters percent-encoded."""
    return quote(str(value), safe="")


def lang_attr(value: Any) -> str | None:
    """A BCP 47-looking language tag from a manifest, or None (never a hostile attribute value)."""
    return value if isinstance(value, str) and _LANG.fullmatch(value) and value != "und" else None


def status_class(value: Any) -> str:
    """The CSS class for a status word (`status-archived`), or `status-other` for anything unexpected."""
    return f"status-{value}" if isinstance(value, str) and _WORD.fullmatch(value) else "status-other"


def ext_url(value: Any) -> str | None:
    """A third party's URL fit for an href: http(s) only (never javascript:, data: and the like)."""
    if not isinstance(value, str):
        return None
    parts = urlsplit(value)
    return value if parts.scheme in ("http", "https") and parts.netloc else None


def unknown_value(name: str, value: Any, allowed: Any) -> str:
    """The one line that says a filter's value is not one it takes, listing those it does:
    `unknown state "bogus": use one of dead, suspect, live, unchecked` (the value cut to 40
    characters, control characters dropped; the page escapes it)."""
    shown_value = "".join(c for c in str(value)[:40] if c.isprintable())
    return f'unknown {name} "{shown_value}": use one of {", ".join(str(a) for a in allowed)}'


def check_choice(name: str, value: str | None, allowed: Any) -> str | None:
    """`value` stripped when it is one of `allowed` (None for empty); HTTPException 400 with the
    `unknown_value` line otherwise (the pages show it as the error page)."""
    value = (value or "").strip()
    if not value:
        return None
    if value not in allowed:
        raise HTTPException(status_code=400, detail=unknown_value(name, value, allowed))
    return value


def may(principal: Principal | None, roles: tuple[str, ...]) -> bool:
    """Whether `principal` has one of `roles` (admin has them all); False for no principal."""
    return principal is not None and (principal.role == "admin" or principal.role in roles)


def visible_state(principal: Principal | None, state: Any) -> Any:
    """A post's compliance state (`post_state`) as `principal` may see it (`holds.visible_state`, the one
    rule): whole for REASON_ROLES (compliance, admin: those the 410 of a withdrawn copy shows the reason
    to); for others only THAT the post is held or taken down, and since when: no reason, no name of who
    placed it, nothing else."""
    return shown_state(principal.role if principal is not None else None, state)


def nav_for(principal: Principal | None, path: str) -> list[dict[str, Any]]:
    """The navigation links `principal` may follow: [{href, label, current}], `current` for the page at
    `path` (or under it); empty when nobody is signed in."""
    path = "/search" if path == "/" else path
    return [{"href": href, "label": label, "current": path == href or path.startswith(href + "/")}
            for href, label, roles in NAV if may(principal, roles)]


class PageRoute(APIRoute):
    """Errors of page routes as pages: no login → the login form, others → the error page
    (archiver/web/errors.py decides the form of every error by its path)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                response = await handler(request)
                if request.method == "POST" and response.status_code == 303:
                    response = await run_in_threadpool(outcome_to_flash, request, response)
                if request.method == "GET" and self.path in AUDITED_DOWNLOADS and response.status_code in (200, 206):
                    await run_in_threadpool(audit_download, request, response.status_code)
                return response
            except HTTPException as exc:
                if exc.status_code == 401 and request.method in ("GET", "HEAD"):
                    return RedirectResponse(login_url(request), status_code=303)
                return await run_in_threadpool(error_response, request, exc.status_code, str(exc.detail),
                                               dict(exc.headers or {}))

        return page_handler


router = APIRouter(route_class=PageRoute, include_in_schema=False)

FLASH_PARAM = "flash"
# The page routes whose GET hands out stored bytes (a copy under /evidence/): audit-logged as views of
# what they served (`audit_download`), as page views are; a HEAD reads nothing and is not.
AUDITED_DOWNLOADS = frozenset({"/evidence/{key:path}"})


def audit_download(request: Request, status: int) -> None:
    """Audit-log a download from /evidence/ by the signed-in caller: a "view" of `evidence:<key>`."""
    runtime = getattr(request.app.state, "runtime", None)
    principal = getattr(request.state, "principal", None)
    if runtime is not None and principal is not None:
        key = str(request.path_params.get("key", ""))[:1000]
        audit.record(runtime, principal, "view", f"evidence:{key}", {"download": True, "status": status}, None)


def outcome_to_flash(request: Request, response: Response) -> Response:
    """A form action's redirect back to its page (the action's path is under the page's: POST
    /posts/x/1/hold → /posts/x/1) with its outcome kept server-side: the outcome the handler put in
    the location's query (`?done=hold`, `?done=restore&v=3&new=1…`) becomes a flash of the session
    (sessions.put_flash) and the location carries only `?flash=<id>` (its #fragment kept). Other
    redirects (sign-in to `next`, sign-out) pass unchanged. Without a session, the outcome is dropped."""
    location = response.headers.get("location", "")
    parts = urlsplit(location)
    page = parts.path.rstrip("/")
    if parts.scheme or parts.netloc or not parts.query or not page or not request.url.path.startswith(page + "/"):
        return response
    outcome = dict(parse_qsl(parts.query))
    session_id = getattr(request.state, "session_id", None)
    query = ""
    if session_id:
        try:
            query = "?" + urlencode({FLASH_PARAM: put_flash(request.app.state.runtime.catalog, session_id, outcome)})
        except ValueError:
            query = ""
    response.headers["location"] = parts.path + query + (f"#{parts.fragment}" if parts.fragment else "")
    return response


def flash_of(request: Request) -> dict[str, str]:
    """The outcome of the form action that redirected here (`?flash=<id>`, this session's, shown once);
    {} for none, an unknown or a foreign id. Read once per request (kept in request.state)."""
    cached = getattr(request.state, "flash", None)
    if cached is None:
        runtime = getattr(request.app.state, "runtime", None)
        flash_id = request.query_params.get(FLASH_PARAM)
        taken = (take_flash(runtime.catalog, getattr(request.state, "session_id", None), flash_id)
                 if runtime is not None and flash_id else None)
        cached = request.state.flash = taken or {}
    return cached


def outcome_request(request: Request) -> Request:
    """`request` as if its query were the flash's outcome (and nothing else): what the outcome sentences
    read instead of the address, which a link can forge."""
    return Request({**request.scope, "query_string": urlencode(flash_of(request)).encode()})


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    """Template `name` rendered with `context` (plus the signed-in principal and, for a session, the CSRF
    token its forms carry as the field `csrf`) and the page security headers."""
    context.setdefault("principal", getattr(request.state, "principal", None))
    session_id = getattr(request.state, "session_id", None)
    context.setdefault("csrf", csrf_token(session_id) if session_id else "")
    context.setdefault("csrf_field", CSRF_FIELD)
    runtime = getattr(request.app.state, "runtime", None)
    context.setdefault("display_tz", runtime.settings.display_timezone if runtime is not None else "UTC")
    context.setdefault("nav", nav_for(context["principal"], request.url.path))
    context.setdefault("can_comply", may(context["principal"], COMPLIANCE_ROLES))
    context.setdefault("notice", NOTICES.get(flash_of(request).get("done", "")))
    headers = PAGE_HEADERS
    media_origin = public_origin(getattr(runtime.store, "public_base_url", None)) if runtime is not None else None
    if media_origin:  # the inline card's photos are the public stable copies, wherever they are served
        headers = {**PAGE_HEADERS, "Content-Security-Policy": PAGE_HEADERS["Content-Security-Policy"].replace(
            "img-src 'self';", f"img-src 'self' {media_origin};")}
    return templates.TemplateResponse(request, name, context, status_code=status_code, headers=headers)


# The one-line notices a page shows after a form's action redirected back to it (`?done=<code>`): fixed
# texts, so a link cannot make a page say anything else.
NOTICES = {
    "hold": "Legal hold placed. The post's stored objects are kept until the hold is released.",
    "hold-updated": "Legal hold updated: the new reason is recorded (the old one stays in the audit log).",
    "hold-same": "Already under legal hold for that reason: nothing changed.",
    "release": "Legal hold released.",
    "release-none": "Not held: nothing changed.",
    "takedown": "Taken down: the post's public copies now answer 410 Gone. The evidence is kept. Where a "
                "restore had put its card into an article, a withheld notice replaces it.",
    "takedown-still": "Taken down: the post's public copies now answer 410 Gone. But some articles still show "
                      "the post: its card could not be found or replaced there (markup the CMS changed). See "
                      "\"Used in\" and edit those articles; the API's and CLI's takedown answer lists them "
                      "(still_carried).",
    "takedown-updated": "Takedown reason updated (the old one stays in the audit log).",
    "takedown-same": "Already taken down for that reason: nothing changed.",
    "lift": "Takedown lifted: the post's public copies are served again. Articles where its card was "
            "withheld keep the notice: an editor may restore the post there again (see \"Used in\").",
    "lift-none": "Not taken down: nothing changed.",
}


def error_page(conn: HTTPConnection, status: int, detail: str, error_id: str | None = None) -> Response:
    """The error page (error.html) for `status` with its one-line `detail` and, for a 500, the error id
    the server log records; with the navigation when the request carries a live session. Never raises
    for a catalog that does not answer: the page then has no navigation."""
    request = conn if isinstance(conn, Request) else Request(conn.scope)
    if getattr(request.state, "principal", None) is None and status != 503:
        try:
            caller = identify(request.app.state.runtime, request)
        except Exception:  # an error page must not fail on who is asking
            caller = None
        if caller is not None:
            request.state.principal, request.state.session_id = caller.principal, caller.session_id
    title = PAGE_TITLES.get(status, "Error")
    return render(request, "error.html", {"status": status, "title": title, "detail": detail,
                                          "error_id": error_id}, status_code=status)


def media_url(key: Any) -> str | None:
    """The /evidence/ path of a stored object (public prefixes only), each segment encoded; None for
    anything else (a number, a list, a key outside the public prefixes)."""
    if not isinstance(key, str) or not key.startswith(PUBLIC_PREFIXES):
        return None
    return "/evidence/" + "/".join(seg(p) for p in key.split("/"))


# The longest `next` (the path to go to after signing in) kept: a longer one is dropped for "/".
MAX_NEXT = 4000


def safe_next(target: Any) -> str:
    """Only a path on this site: never `//host`, a scheme or a backslash trick (no open redirect); "/"
    for anything else, a value that is not a string and one over MAX_NEXT characters included."""
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if len(target) > MAX_NEXT:
        return "/"
    return target if not any(ord(c) < 32 for c in target) else "/"


def login_url(conn: HTTPConnection) -> str:
    """The sign-in form's address for a page asked for without a session: `/login?next=<the page>`, the
    page's query left out when the whole is over MAX_NEXT (`next` is then the path alone, or "/" when
    even that is too long), so the form never carries a `next` the sign-in refuses or drops."""
    path, query = conn.url.path, conn.url.query
    target = path + (f"?{query}" if query else "")
    if len(target) > MAX_NEXT:
        target = path if len(path) <= MAX_NEXT else "/"
    return "/login?" + urlencode({"next": safe_next(target)})


@pass_context
def when(context: Context, value: Any) -> Markup | str:
    """A stored time as people read it, in the display time zone (setting `display_timezone`):
    `<time class="when" datetime="2026-11-30T11:53:00Z" title="30 Nov 2026, 11:53:00 UTC">30 Nov 2026,
    17:23 IST</time>`; "—" for no value, the value itself (escaped) when it is not a time."""
    if value in (None, ""):
        return "—"
    parts = shown(value, context.get("display_tz") or "UTC")
    if parts is None:
        return escape(as_text(value, 64)) or "—"
    text, instant, hover = parts
    return Markup('<time class="when" datetime="{}" title="{}">{}</time>').format(instant, hover, text)


# Bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069): in a name or a reason they
# reorder the text around them (a handle shown backwards, a reason that reads otherwise). Removed from
# everything a page prints (`finalize`); the diff view shows them as ⟨U+XXXX⟩ instead (articles.visible).
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def unbidi(value: Any) -> Any:
    """`value` with its bidi embedding/override/isolate controls removed when it is text (Markup stays
    Markup); anything else unchanged."""
    if isinstance(value, str) and BIDI_CONTROLS.search(value):
        return type(value)(BIDI_CONTROLS.sub("", value)) if isinstance(value, Markup) else BIDI_CONTROLS.sub("", value)
    return value


# What HTML forbids in a document's text (control characters other than tab, newline, form feed and
# carriage return; C1 controls; noncharacters) and what UTF-8 cannot carry (lone surrogates, which a
# JSON record may hold): each printed as U+FFFD (`html_safe`), everywhere a page prints, so a NUL byte
# of a post's text never reaches the HTML. The diff view shows controls as ⟨U+XXXX⟩ first.
FORBIDDEN_IN_HTML = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff"
                               + "".join(f"{chr(p + 0xFFFE)}{chr(p + 0xFFFF)}" for p in range(0x10000, 0x110000,
                                                                                              0x10000))
                               + "]")
REPLACEMENT = "\ufffd"


def html_safe(value: Any) -> Any:
    """`value` with the characters HTML forbids (FORBIDDEN_IN_HTML) replaced by U+FFFD when it is text
    (Markup stays Markup); anything else unchanged."""
    if isinstance(value, str) and FORBIDDEN_IN_HTML.search(value):
        cleaned = FORBIDDEN_IN_HTML.sub(REPLACEMENT, value)
        return Markup(cleaned) if isinstance(value, Markup) else cleaned  # noqa: S704 - was Markup already
    return value


def finalize(value: Any) -> Any:
    """What every `{{ ... }}` of every page prints, before escaping: text without bidi controls
    (`unbidi`) and with what HTML forbids as U+FFFD (`html_safe`), numbers as they are, "" for None and
    "—" for a list or a mapping (a forged record putting a structure where a value belongs is shown as
    missing, never as its repr)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return html_safe(unbidi(value))
    if isinstance(value, (list, tuple, dict, set)):
        return "—"
    return value


def as_text(value: Any, limit: int | None = None) -> str:
    """A record's value as display text: a string (cut to `limit` characters), a number written out,
    "" for anything else (None, a list, a mapping); never raises."""
    if isinstance(value, str):
        out = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out = str(value)
    else:
        return ""
    return out[:limit] if limit is not None and limit >= 0 else out


templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.finalize = finalize
templates.env.filters.update(seg=seg, status_class=status_class, ext_url=ext_url, media_url=media_url,
                             local_path=safe_next, when=when, text=as_text)


# --- static ----------------------------------------------------------------------------------------
@router.get("/static/archiver.css")
def stylesheet() -> Response:
    """The pages' one stylesheet (text/css), cacheable for an hour; no sign-in needed."""
    css = (HERE / "static" / "archiver.css").read_bytes()
    return Response(css, media_type="text/css; charset=utf-8",
                    headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"})


@router.get("/evidence/{key:path}")
def evidence(key: str, request: Request, rt: Runtime = Depends(get_runtime),
             _principal: Principal = Depends(require_role(*SEARCH_ROLES))) -> Response:
    """A stored copy for signed-in staff: what /media/ serves, taken-down posts included (the
    evidence is kept; only the public copy is hidden), never cached by shared caches. Streamed from
    storage, never read whole: a single byte range gives 206, HEAD reads no body (copies.serve_copy)."""
    info = copy_info(rt, key)
    return serve_copy(request, rt.store, info, {
        "X-Content-Type-Options": "nosniff", "Content-Security-Policy": copy_csp(rt.store.public_base_url),
        "Cache-Control": "private, no-store"})


# --- login -----------------------------------------------------------------------------------------
@router.get("/login")
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    """The sign-in form: paste an API token; `next` is the path on this site to go to afterwards."""
    return render(request, "login.html", {"next": safe_next(next), "error": None})


@router.post("/login")
def login(request: Request, token: str = Form("", max_length=1000), next: str = Form("/"),
          rt: Runtime = Depends(get_runtime)) -> Response:
    """Sign in with an API token: starts a session, sets its id in the HttpOnly cookie `archiver_session`
    (Secure over https) and redirects (303) to `next`, or to "/" when `next` is not one to follow
    (`safe_next`: off-site, or over MAX_NEXT characters; the body cap bounds the field); 401 with the
    form again when the token is not valid; 403 with the form again for a role no page is for (a
    publisher's). Audit-logged as "login" (the request guard has already refused posts from other sites)."""
    principal = authenticate(rt.catalog, token.strip())
    if principal is None:
        return render(request, "login.html", {"next": safe_next(next), "error": "That token is not valid."},
                      status_code=401)
    if not nav_for(principal, "/"):  # a publisher's token: the API's, no page would open for it
        return render(request, "login.html", {"next": safe_next(next), "error": (
            f"A {principal.role} token is for the API only (POST /v1/articles): no page of this site is "
            "for that role. Sign in with an editor, compliance or admin token.")}, status_code=403)
    lifetime = rt.settings.session_lifetime
    session_id = start_session(rt.catalog, principal, lifetime)
    audit.record(rt, principal, "login", "session", {"lifetime": lifetime})
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(COOKIE_NAME, session_id, max_age=lifetime, httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https")
    response.delete_cookie(LEGACY_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.post("/logout")
async def logout(request: Request, rt: Runtime = Depends(get_runtime)) -> Response:
    """Sign out (POST only: a link or a GET cannot sign anyone out): ends the session, deletes the cookie
    and redirects (303) to the sign-in form; audit-logged as "logout". A session's post must carry its
    CSRF token (403 without it); without a live session there is nothing to end."""
    session_id = request.cookies.get(COOKIE_NAME)
    principal = await run_in_threadpool(session_principal, rt.catalog, session_id)
    if principal is not None:
        request.state.session_id = session_id
        await check_csrf(request)
        await run_in_threadpool(end_session, rt.catalog, session_id)
        await run_in_threadpool(audit.record, rt, principal, "logout", "session", {})
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")
    response.delete_cookie(LEGACY_COOKIE, path="/", httponly=True, samesite="strict")
    return response


# --- search ----------------------------------------------------------------------------------------
# The search fields that may be repeated (`status=archived&status=deleted`): every value is taken, as
# the API takes them.
REPEATED_FIELDS = tuple(name for name in SEARCH_FIELDS if name == "status")


def _search_form(params: Any, cut: int | None = None) -> dict[str, Any]:
    """The search form's values by SearchQuery field name ("" when not given), from the query string or
    a posted form (each value cut to `cut` characters when given). A repeatable field (REPEATED_FIELDS)
    given more than once is the list of its non-empty values, in order; once, its value."""
    pairs = (params.multi_items() if hasattr(params, "multi_items") else
             params.items() if hasattr(params, "items") else params)
    given: dict[str, Any] = {}
    for key, value in pairs:
        name = FORMER_SEARCH_NAMES.get(key, key)
        value = str(value)[:cut].strip() if cut is not None else str(value).strip()
        if name in REPEATED_FIELDS:
            if value:
                given.setdefault(name, []).append(value)
        else:
            given[name] = value
    if "provider" in given:  # provider names are lower case; "Twitter" means twitter, as in `provider:`
        given["provider"] = given["provider"].lower()
    for name in REPEATED_FIELDS:
        values = given.get(name) or []
        given[name] = values[0] if len(values) == 1 else values or ""
    return {name: given.get(name, "") for name in SEARCH_FIELDS}


def _label(name: str) -> str:
    """A SearchQuery field as the form's error messages name it: its title, in lower case."""
    return (SearchQuery.model_fields[name].title or name).lower()


def search_problems(given: dict[str, Any]) -> list[str]:
    """What is wrong with a search's fields (by SearchQuery name), one readable line each: a provider
    no registered provider is called (`unknown_value`, listing those that are), then SearchQuery's own
    checks (the same lines the CLI and the API give; a status or sort lists the values it takes).
    Empty when the search will run."""
    out = []
    if given.get("provider") and given["provider"] not in provider_names():
        out.append(unknown_value("provider", given["provider"], provider_names()))
        given = {k: v for k, v in given.items() if k != "provider"}
    try:
        SearchQuery.model_validate({**given, "limit": PAGE_SIZE, "offset": 0})
    except ValidationError as exc:
        out += problems(exc, _label)
    return out


def _card_of(rt: Runtime, hit: dict[str, Any]) -> dict[str, Any]:
    """A hit as the result card shows it (with its status in plain words, and whether its text is
    only a preview). A catalog row without the post's language was indexed without its manifest's
    details: language and media are then read from the manifest itself."""
    hit = {**hit, "compliance": post_state(rt, hit["provider"], hit["post_id"]),
           "status_words": STATUS_WORDS.get(hit.get("status") or "", ""),
           "preview": hit.get("text_complete") is False}
    if hit.get("lang"):
        return {**hit, "lang": lang_attr(hit["lang"])}
    manifest = _manifest(rt, hit.get("manifest_key"))
    media = hit.get("media") or [
        {"sha256": m["sha256"], "key": m.get("key"), "mime": m.get("mime"),
         "thumb_key": _thumb_key(rt, m["sha256"])}
        for m in _media_of(manifest) if m.get("status") == "archived" and m.get("sha256")
    ]
    return {**hit, "lang": lang_attr(manifest.get("lang")), "media": media}


@router.get("/")
@router.get("/search")
def search_page(
    request: Request,
    page: int = Query(1, ge=1, le=10_000),
    rt: Runtime = Depends(get_runtime),
    principal: Principal = Depends(require_role(*SEARCH_ROLES)),
) -> HTMLResponse:
    """The search form and a page of its hits. The form's fields are SearchQuery's: each is read
    from the query string by its field name (or its former name), empty ones are no filter, and
    what does not validate is shown as a message (400), with nothing searched."""
    form = _search_form(request.query_params)
    context: dict[str, Any] = {"form": form, "fields": SearchQuery.model_fields, "statuses": EMBED_STATUSES,
                               "result": None, "errors": [], "page": page, "syntax_help": SYNTAX_HELP,
                               "sorts": [(s, SORT_LABELS[s]) for s in SORTS]}
    given = {k: v for k, v in form.items() if v}
    if not given:
        return render(request, "search.html", context)
    context["errors"] = search_problems(given)
    if context["errors"]:
        return render(request, "search.html", context, status_code=400)
    query = SearchQuery.model_validate({**given, "limit": PAGE_SIZE, "offset": (page - 1) * PAGE_SIZE})
    result = rt.catalog.search(query)
    filters = {k: v for k, v in query.filters().items() if k not in ("q", "limit", "offset")}
    audit.record(rt, principal, "search", "posts", {"q": query.q, **filters, "page": page}, result.total)
    hits = [{**card, "compliance": visible_state(principal, card["compliance"])}
            for card in (_card_of(rt, hit) for hit in result.hits)]
    context.update(result=result, hits=hits, pages=max(1, -(-result.total // PAGE_SIZE)),
                   export_url=f"/exports?{urlencode(given, doseq=True)}",
                   prev_url=f"/search?{urlencode({**given, 'page': page - 1}, doseq=True)}" if page > 1 else None,
                   next_url=(f"/search?{urlencode({**given, 'page': page + 1}, doseq=True)}"
                             if page * PAGE_SIZE < result.total else None))
    return render(request, "search.html", context)


# --- a post ----------------------------------------------------------------------------------------
def _manifest(rt: Runtime, key: str | None) -> dict[str, Any]:
    if not key:
        return {}
    try:
        doc = json.loads(rt.store.get(key))
    except (ObjectNotFound, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _media_of(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    media = manifest.get("media")
    return [m for m in media if isinstance(m, dict)] if isinstance(media, list) else []


def _author_of(manifest: dict[str, Any]) -> dict[str, Any]:
    author = manifest.get("author")
    return author if isinstance(author, dict) else {}


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """(op, text) runs, op one of equal/insert/delete, word by word (whitespace kept)."""
    a, b = re.findall(r"\s+|\S+", old), re.findall(r"\s+|\S+", new)
    runs: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag in ("equal", "delete", "replace") and i1 != i2:
            runs.append(("equal" if tag == "equal" else "delete", "".join(a[i1:i2])))
        if tag in ("insert", "replace") and j1 != j2:
            runs.append(("insert", "".join(b[j1:j2])))
    return runs


def capture_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """What differs between two manifests of one post: text, media, author, status."""
    old_text, new_text = as_text(old.get("text")), as_text(new.get("text"))
    old_media = {m["sha256"]: m for m in _media_of(old) if isinstance(m.get("sha256"), str) and m["sha256"]}
    new_media = {m["sha256"]: m for m in _media_of(new) if isinstance(m.get("sha256"), str) and m["sha256"]}
    author_changes = [
        {"field": f, "old": _author_of(old).get(f), "new": _author_of(new).get(f)}
        for f in ("name", "handle", "id", "verified")
        if _author_of(old).get(f) != _author_of(new).get(f)
    ]
    changes = {
        "text": word_diff(old_text, new_text) if old_text != new_text else None,
        "media_added": [new_media[s] for s in new_media if s not in old_media],
        "media_removed": [old_media[s] for s in old_media if s not in new_media],
        "author": author_changes,
        "status": (old.get("status"), new.get("status")) if old.get("status") != new.get("status") else None,
    }
    changes["any"] = bool(changes["text"] or changes["media_added"] or changes["media_removed"]
                          or author_changes or changes["status"])
    return changes


def _thumb_key(rt: Runtime, sha256: Any) -> str | None:
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        return None
    key = derived_key(sha256, "thumb.webp")
    return key if rt.store.exists(key) else None


# --- what a capture says beyond its text (manifest v2) ----------------------------------------
MAX_LISTED = 200  # entries of one list a page shows (texts, entities, missing parts, edit ids)
MAX_SOURCE_TEXT = 50_000  # characters of one source's text
_CAPTURE_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{8}")
METRIC_LABELS = (("favorite_count", "likes"), ("retweet_count", "reposts"), ("reply_count", "replies"),
                 ("quote_count", "quotes"), ("conversation_count", "in the conversation"), ("view_count", "views"))
SENSITIVE_LABELS = (("adult_content", "adult content"), ("graphic_violence", "graphic violence"), ("other", "other"))


def _dicts(value: Any, limit: int = MAX_LISTED) -> list[dict[str, Any]]:
    return [x for x in value[:limit] if isinstance(x, dict)] if isinstance(value, list) else []


def _strs(value: Any, limit: int = MAX_LISTED, chars: int = 200) -> list[str]:
    """The non-empty strings of a list (at most ``limit``, each cut at ``chars``), as display text."""
    return [clean(x)[:chars] for x in value[:limit] if clean(x)] if isinstance(value, list) else []


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def post_link(provider: str, post_id: Any, capture_id: Any = None) -> str | None:
    """The page of post ``post_id`` of ``provider`` (at capture ``capture_id`` when it is one), or None
    for an id that is not one."""
    if not isinstance(post_id, str) or not POST_ID_RE.fullmatch(post_id) or ".." in post_id:
        return None
    anchor = f"#capture-{capture_id}" if isinstance(capture_id, str) and _CAPTURE_ID.fullmatch(capture_id) else ""
    return f"/posts/{seg(provider)}/{seg(post_id)}{anchor}"


def media_notes(medium: dict[str, Any]) -> list[str]:
    """What a stored medium's v2 fields say, in plain words: the size stored (``stored at 4096x4096, not
    the original``), the platform's availability (``geoblocked``), sensitivity warnings, reuse."""
    notes = []
    variant = clean(medium.get("variant"))[:40]
    if medium.get("degraded") is True:
        notes.append(f"stored at {variant or 'a smaller size'}, not the original")
    elif variant:
        notes.append(f"stored at its original size ({variant})")
    if clean(medium.get("poster_variant")) and medium.get("poster_variant") != "orig":
        notes.append(f"poster stored at {clean(medium.get('poster_variant'))[:40]}")
    availability = _obj(medium.get("availability"))
    reason = clean(availability.get("reason"))[:80]
    if reason.lower() == "geoblocked":
        notes.append("geoblocked: the platform does not show it in some countries")
    elif availability.get("status") == "Unavailable" or reason:
        notes.append("unavailable on the platform" + (f" ({reason})" if reason else ""))
    warning = _obj(medium.get("sensitive_warning"))
    kinds = [label for key, label in SENSITIVE_LABELS if warning.get(key) is True]
    if kinds:
        notes.append("the platform warns it is sensitive: " + ", ".join(kinds))
    elif medium.get("possibly_sensitive") is True:
        notes.append("marked possibly sensitive")
    source = clean(medium.get("source_status_id"))
    if source and POST_ID_RE.fullmatch(source):
        notes.append(f"first posted in post {source}")
    return notes


def capture_details(rt: Runtime, provider: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """What the post page shows of one manifest beyond its text and media, each value display text
    (escaped by the templates) or a checked link: the status in plain words (``note`` holds
    STATUS_WORDS[status]) and the provider's one-line reason, the interstitial, the countries it is
    withheld in, whether the text is a preview, each source's text, the link card and poll, counts
    with their read time, entities, the edit chain (links to the latest version's capture and, on the
    latest version, back to the earlier one the article showed) and the missing parts."""
    status = manifest.get("status")
    link = link_preview(manifest)
    card_image = _obj(_obj(manifest.get("card")).get("image"))
    metrics = _obj(manifest.get("metrics"))
    counts = [(label, _count(metrics.get(key))) for key, label in METRIC_LABELS]
    entities = _obj(manifest.get("entities"))
    return {
        "status_words": STATUS_WORDS.get(status, "") if isinstance(status, str) else "",
        "note": status_note(manifest),
        "error": clean(manifest.get("error"))[:1000],
        "interstitial": interstitial_note(manifest),
        "withheld": country_names(manifest.get("withheld_in_countries")),
        "preview": manifest.get("text_complete") is False,
        "texts": [{"source": clean(t.get("source"))[:64] or "?", "text": clean(t.get("text"))[:MAX_SOURCE_TEXT],
                   "complete": t.get("complete") if isinstance(t.get("complete"), bool) else None}
                  for t in _dicts(manifest.get("texts"))],
        "link": link,
        "link_image_key": card_image.get("key") if link and link.image_key else None,
        "link_image_notes": media_notes(card_image) if card_image else [],
        "poll": poll_view(manifest),
        "metrics": [(label, n) for label, n in counts if n is not None],
        "metrics_read_at": clean(metrics.get("read_at"))[:40],
        "mentions": [{"handle": clean(x.get("handle"))[:64], "name": clean(x.get("name"))[:200],
                      "id": clean(x.get("id"))[:32]} for x in _dicts(entities.get("mentions"))],
        "hashtags": _strs(entities.get("hashtags")),
        "urls": [{"text": clean(x.get("display_url") or x.get("expanded_url") or x.get("url"))[:500],
                  "href": ext_url(x.get("expanded_url")) or ext_url(x.get("url"))}
                 for x in _dicts(entities.get("urls"))],
        "edit": _edit_view(rt, provider, manifest),
        "missing": [{"part": clean(x.get("part"))[:64], "ref": clean(x.get("ref"))[:500],
                     "reason": clean(x.get("reason"))[:1000]} for x in _dicts(manifest.get("missing"))],
    }


def _edit_view(rt: Runtime, provider: str, manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The edit chain of a manifest: its ids (each with its page), which one this post is, whether
    this version is stale (then ``note`` and the latest version's capture), and the earlier versions
    whose capture led to this one (referenced_by, relation latest_edit); None when nothing says."""
    edit = _obj(manifest.get("edit"))
    this = manifest.get("post_id")
    latest = _obj(manifest.get("latest_edit"))
    earlier = []
    for ref in _dicts(manifest.get("referenced_by"), 20):
        cid = ref.get("capture_id")
        if ref.get("relation") != "latest_edit" or not isinstance(cid, str) or not _CAPTURE_ID.fullmatch(cid):
            continue
        rows = rt.catalog.query("SELECT provider, post_id FROM captures WHERE capture_id = ?", [cid])
        row = rows[0] if rows else {}
        earlier.append({"post_id": clean(row.get("post_id")), "capture_id": cid,
                        "link": post_link(row.get("provider") or provider, row.get("post_id"), cid)})
    ids = _strs(edit.get("edit_ids"), chars=64)
    # A post never edited has a chain of itself alone: nothing to say.
    never_edited = edit.get("is_edited") is not True and len(ids) <= 1 and edit.get("is_stale") is not True
    if (not edit or never_edited) and not latest and not earlier:
        return None
    latest_id = clean(latest.get("post_id")) or clean(edit.get("latest_id")) or (ids[-1] if ids else "")
    return {
        "chain": [{"id": i, "link": post_link(provider, i), "this": i == this, "latest": i == latest_id}
                  for i in ids],
        "edited": edit.get("is_edited") is True or len(ids) > 1,
        "stale": edit.get("is_stale") is True,
        "note": edit_note(manifest),
        "latest": {"post_id": latest_id, "captured": bool(latest.get("capture_id")),
                   "status": clean(latest.get("status")),
                   "link": post_link(provider, latest_id, latest.get("capture_id"))} if latest_id else None,
        "earlier": earlier,
    }


def signing_state(rt: Runtime) -> dict[str, Any]:
    """Whether evidence exports will be signed now: {"signed": bool, "fingerprint": "sha256:…" or None,
    "problem": one line or None}. Unsigned when the archive has no signing key (an admin runs
    `archiver keys create`) or its key file cannot be read (`problem` says why); never raises."""
    try:
        key = load_private_key(key_path(rt.settings.home_path))
    except ConfigError as exc:
        return {"signed": False, "fingerprint": None, "problem": str(exc).splitlines()[0][:300]}
    except OSError:
        return {"signed": False, "fingerprint": None, "problem": "the signing key cannot be read"}
    if key is None:
        return {"signed": False, "fingerprint": None, "problem": None}
    return {"signed": True, "fingerprint": fingerprint(key.public_key()), "problem": None}


def post_view(rt: Runtime, provider: str, post_id: str) -> dict[str, Any]:
    """The post page's context: every capture of one post, newest first, each with what changed since
    the one before, the articles that embed it and its hold or takedown. HTTPException 404 for a
    malformed id or a post never captured."""
    if not PROVIDER_RE.fullmatch(provider) or not POST_ID_RE.fullmatch(post_id) or ".." in post_id:
        raise HTTPException(status_code=404, detail="no such post")
    rows = sorted(rt.catalog.post_captures(provider, post_id), key=lambda r: r.get("captured_at") or "")
    if not rows:
        raise HTTPException(status_code=404, detail="no capture of this post")
    captures: list[dict[str, Any]] = []
    previous: dict[str, Any] | None = None
    for row in rows:
        manifest = _manifest(rt, row.get("manifest_key"))
        key = row.get("manifest_key") or ""
        card_key = key[: -len(".json")] + ".card.html" if key.endswith(".json") else None
        media = [{**m, "thumb_key": _thumb_key(rt, m.get("sha256")), "notes": media_notes(m)}
                 for m in _media_of(manifest)]
        captures.append({
            "row": row, "manifest": manifest, "author": _author_of(manifest), "media": media,
            "lang": lang_attr(manifest.get("lang")),
            "sources": _dicts(manifest.get("sources")),
            "warc_key": manifest.get("warc") if isinstance(manifest.get("warc"), str) else None,
            "card_key": card_key if card_key and rt.store.exists(card_key) else None,
            "changes": capture_changes(previous, manifest) if previous is not None else None,
            "details": capture_details(rt, provider, manifest),
        })
        previous = manifest
    captures.reverse()  # newest first; each shows what changed since the one before it
    articles = [r["article_id"] for r in rt.catalog.query(
        "SELECT DISTINCT article_id FROM items WHERE provider = ? AND post_id = ? ORDER BY article_id",
        [provider, post_id])]
    return {"provider": provider, "post_id": post_id, "captures": captures, "latest": captures[0],
            "articles": articles, "compliance": post_state(rt, provider, post_id), "form_error": None,
            "signing": signing_state(rt)}


@router.get("/posts/{provider}/{post_id}")
def post_page(request: Request, provider: str, post_id: str, rt: Runtime = Depends(get_runtime),
              principal: Principal = Depends(require_role(*SEARCH_ROLES))) -> HTMLResponse:
    """The post page (post_view), with the compliance forms for those who may use them; 404 for a
    malformed id or a post never captured. Audit-logged as a view."""
    context = post_view(rt, provider, post_id)
    context["compliance"] = visible_state(principal, context["compliance"])
    captures = context["captures"]
    audit.record(rt, principal, "view", f"post:{provider}/{post_id}", {"captures": len(captures)}, len(captures))
    return render(request, "post.html", context)
