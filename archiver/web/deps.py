"""Request dependencies shared by every route module: the runtime, settings, the intake and who is calling.

Auth is `Authorization: Bearer TOKEN` or, for browser pages, the HttpOnly cookie `archiver_token`.
No token or an unknown one → 401; a known token whose role may not do this → 403. The admin role
may do everything.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from archiver.auth import ROLES, Principal, authenticate
from archiver.config.settings import Settings
from archiver.runners.intake import Intake
from archiver.runtime import Runtime

COOKIE_NAME = "archiver_token"
_bearer = HTTPBearer(auto_error=False, description="an API token made by `archiver token create`")

__all__ = ["COOKIE_NAME", "Principal", "get_intake", "get_principal", "get_runtime", "get_settings", "require_role"]


def get_runtime(request: Request) -> Runtime:
    """The app's one Runtime (archiver/web/app.py builds it, or the caller gave it)."""
    return request.app.state.runtime


def get_settings(request: Request) -> Settings:
    """The settings of the app's one Runtime (a dependency)."""
    return request.app.state.runtime.settings


def get_intake(request: Request) -> Intake:
    """The app's one Intake: the publish hook's queue (or local runner) and the queue depth metric."""
    return request.app.state.intake


def get_principal(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> Principal:
    """The authenticated caller; 401 when there is no valid token in the header or the cookie."""
    token = credentials.credentials if credentials else request.cookies.get(COOKIE_NAME)
    principal = authenticate(get_runtime(request).catalog, token)
    if principal is None:
        raise HTTPException(status_code=401, detail="authentication required",
                            headers={"WWW-Authenticate": "Bearer"})
    request.state.principal = principal
    return principal


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
