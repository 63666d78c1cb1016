"""Request dependencies shared by every route module: the runtime, settings, the intake and who is calling.

Who is calling (`identify`): `Authorization: Bearer TOKEN` (an API token) or, for browser pages, the
HttpOnly session cookie `archiver_session` (archiver/web/sessions.py: a session id, never the token).
The cookie is not accepted for the JSON API's changing methods (POST, PUT, PATCH, DELETE under /v1):
those need the header, so no other site can make a signed-in browser call them. Nor for the API's GETs
that do something (an evidence export, checks started by `check_now`): those answer 401 to the cookie
alone (`refuse_session`, `require_token_role`); the pages do them by a form post with the CSRF token. No credentials or
unknown ones → 401; a known caller whose role may not do this → 403. The admin role may do everything.

Requests that change something are identified before their body is read, by the request guard
(archiver/web/guard.py), which leaves the caller in the ASGI scope for `get_principal`. Form posts
of a session also carry its CSRF token (`check_csrf`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from archiver.auth import ROLES, Principal, authenticate
from archiver.config.settings import Settings
from archiver.runners.intake import Intake
from archiver.runtime import Runtime
from archiver.web.sessions import COOKIE_NAME, CSRF_FIELD, CSRF_HEADER, csrf_valid, session_principal

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CALLER_KEY = "archiver.caller"  # the ASGI scope key where the request guard leaves the caller
_bearer = HTTPBearer(auto_error=False, description="an API token made by `archiver token create`")

__all__ = ["CALLER_KEY", "COOKIE_NAME", "SAFE_METHODS", "Caller", "Principal", "check_csrf", "get_intake",
           "get_principal", "get_runtime", "get_settings", "identify", "is_api_path", "refuse_session",
           "require_form_role", "require_role", "require_token_role"]


@dataclass(frozen=True)
class Caller:
    """An identified caller: the principal, and the session id when it came by the session cookie
    (None when it came by the Authorization header)."""

    principal: Principal
    session_id: str | None = None


def get_runtime(request: Request) -> Runtime:
    """The app's one Runtime (archiver/web/app.py builds it, or the caller gave it)."""
    return request.app.state.runtime


def get_settings(request: Request) -> Settings:
    """The settings of the app's one Runtime (a dependency)."""
    return request.app.state.runtime.settings


def get_intake(request: Request) -> Intake:
    """The app's one Intake: the publish hook's queue (or local runner) and the queue depth metric."""
    return request.app.state.intake


def is_api_path(path: str) -> bool:
    """Whether `path` is the JSON API's (/v1/..., /metrics, /openapi.json) rather than a page's."""
    return path.startswith("/v1/") or path in ("/v1", "/metrics", "/openapi.json")


def bearer_token(conn: HTTPConnection) -> str | None:
    """The token of an `Authorization: Bearer ...` header (scheme in any case), else None."""
    scheme, _, token = conn.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def identify(rt: Runtime, conn: HTTPConnection) -> Caller | None:
    """Who sent this request, or None. A Bearer header decides alone (a bad one is not helped by a
    cookie); else the session cookie, except for the API's changing methods. Queries the catalog."""
    token = bearer_token(conn)
    if token is not None:
        principal = authenticate(rt.catalog, token)
        return Caller(principal) if principal else None
    if conn.scope.get("method", "GET") not in SAFE_METHODS and is_api_path(conn.url.path):
        return None
    session_id = conn.cookies.get(COOKIE_NAME)
    principal = session_principal(rt.catalog, session_id)
    return Caller(principal, session_id) if principal else None


def get_principal(
    request: Request, _credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> Principal:
    """The authenticated caller; 401 when there is no valid token in the header or session in the cookie.

    (`_credentials` only declares the Bearer scheme in the OpenAPI document; `identify` reads the header.)"""
    caller = request.scope[CALLER_KEY] if CALLER_KEY in request.scope else identify(get_runtime(request), request)
    if caller is None:
        raise HTTPException(status_code=401, detail="authentication required",
                            headers={"WWW-Authenticate": "Bearer"})
    request.state.principal = caller.principal
    request.state.session_id = caller.session_id
    return caller.principal


def require_role(*roles: str) -> Callable[..., Principal]:
    """A dependency admitting the given roles (and admin); others get 403."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")
    allowed = frozenset(roles) | {"admin"}

    def dependency(principal: Principal = Depends(get_principal)) -> Principal:
        if principal.role not in allowed:
            raise HTTPException(status_code=403, detail=f"role {principal.role!r} may not do this")
        return principal

    return dependency


def refuse_session(request: Request) -> None:
    """401 when the caller came by the session cookie alone (`get_principal` ran first): for a GET that
    does something (writes, exports, starts outbound requests), which a link from another site could
    otherwise make a signed-in browser do. Callers with the Authorization header pass."""
    if getattr(request.state, "session_id", None) is not None:
        raise HTTPException(status_code=401, detail="this call does something: send the token as "
                                                    "Authorization: Bearer (the session cookie is not accepted)",
                            headers={"WWW-Authenticate": "Bearer"})


def require_token_role(*roles: str) -> Callable[..., Principal]:
    """`require_role` for a GET with side effects: the role, and the Authorization header
    (`refuse_session`: the session cookie alone is a 401)."""
    role = require_role(*roles)

    def dependency(request: Request, principal: Principal = Depends(role)) -> Principal:
        refuse_session(request)
        return principal

    return dependency


async def check_csrf(request: Request) -> None:
    """403 unless a request of a session carries the session's CSRF token (form field `csrf` or the
    X-CSRF-Token header). Requests authenticated by the Authorization header need none. Reads the form
    (after the request guard has identified the caller and bounded the body)."""
    session_id = getattr(request.state, "session_id", None)
    if session_id is None:
        return
    presented = request.headers.get(CSRF_HEADER)
    if presented is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        presented = value if isinstance(value, str) else None
    if not csrf_valid(session_id, presented):
        raise HTTPException(status_code=403, detail="this form is out of date or not from this site: "
                                                    "reload the page and try again")


def require_form_role(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """`require_role` for a page's form post: the role, then the session's CSRF token (check_csrf)."""
    role = require_role(*roles)

    async def dependency(request: Request, principal: Principal = Depends(role)) -> Principal:
        await check_csrf(request)
        return principal

    return dependency
