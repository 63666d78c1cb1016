"""The ASGI app behind `archiver serve`: the HTTP API, the web pages, stable URLs and health.

Public paths serve only archived copies (blobs, derivatives, post snapshots; a capture's human page
with its Memento headers, and the TimeGates and TimeMaps of archiver/web/routes/memento.py) with their real
content type, `nosniff`, long cache headers and a strict CSP, so a hostile file cannot run as a page;
what compliance has taken down answers 410 (the copies themselves: archiver/web/copies.py).
Everything else is added by the route modules in archiver/web/routes/ (api, health, pages) and needs
a token or a signed-in session (archiver/web/deps.py, sessions.py). Every request first meets the
request guard (archiver/web/guard.py: body caps, same-site forms, credentials before the body is
read); errors have the shapes and the wording rules of archiver/web/errors.py, and the OpenAPI
document (behind a token at /openapi.json) lists each status code a route answers with its shape.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, nullcontext
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from archiver import __version__
from archiver.auth import ROLES, Principal
from archiver.compliance.holds import hidden_reason
from archiver.config.settings import Settings
from archiver.roles import may_read_reasons
from archiver.runners.intake import Intake
from archiver.runtime import Runtime
from archiver.web import errors
from archiver.web.copies import RANGE_RESPONSES, copy_csp, copy_info, serve_copy
from archiver.web.deps import identify, require_role
from archiver.web.guard import RequestGuard, origin_of
from archiver.web.routes import api, articles, compliance, health, keys, memento, pages

# What a taken-down copy answers the public (410); who may read the takedown's reason there is
# roles.may_read_reasons's (the one rule).
WITHDRAWN = "withdrawn from public access"


def publish_cap(settings: Settings) -> int:
    """The publish hook's body cap in bytes: JSON escaping may double an article, plus 1 MiB."""
    return 2 * settings.max_article_bytes + (1 << 20)


# How long a browser or CDN may keep a public copy: the bytes never change under their key, but a
# takedown must reach caches too (within this hour; purge a CDN in front of /media/ for at once).
COPY_CACHE = "public, max-age=3600"

def create_app(settings: Settings, runtime: Runtime | None = None) -> FastAPI:
    """The app; `runtime` is built from `settings` unless given (tests share one).

    The app's lifespan closes what it built: the publish hook's Intake (waiting for local runs) and
    the runtime, unless the caller gave it."""
    rt = runtime or Runtime.from_settings(settings)
    intake = Intake(rt)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # A runtime the caller gave stays open: the caller closes it.
        with rt if runtime is None else nullcontext(rt), intake:
            yield

    # The OpenAPI description is served below behind a token like everything else; no CDN-backed docs.
    app = FastAPI(title="archiver", version=__version__, lifespan=lifespan, openapi_url=None, docs_url=None,
                  redoc_url=None,
                  description="Archived social posts and images of news articles: publish hook, "
                              "article status, compliance search, holds, takedowns and evidence.")
    app.state.runtime = rt
    app.state.intake = intake
    public_origin = origin_of(settings.public_base_url)
    app.add_middleware(RequestGuard, runtime=rt, caps={("POST", "/v1/articles"): publish_cap(settings)},
                       default_cap=settings.max_request_bytes, body_timeout=settings.request_body_timeout,
                       trusted_origins=frozenset({public_origin} if public_origin else ()))

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(_: Principal = Depends(require_role(*ROLES))) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/healthz", tags=["public"], responses=errors.error_responses(*errors.COMMON))
    def healthz() -> dict[str, Any]:
        """Liveness: the process answers (it says nothing of the catalog or storage: /readyz does)."""
        return {"status": "ok", "version": __version__}

    # An operations probe, like /healthz public, left out of the API's description (a container's
    # healthcheck calls it, not an API client).
    @app.get("/readyz", include_in_schema=False)
    def readyz() -> JSONResponse:
        """Readiness: 200 {"status": "ready", "checks": {"catalog": "ok", "storage": "ok"}}, else 503 with
        the error shape {"detail": "not ready: the catalog did not answer", "status": "not ready",
        "checks": {... "did not answer"}} (`READINESS`); no error detail is shown (the path is public),
        the log has it."""
        checks: dict[str, str] = {}
        for name, probe in READINESS.items():
            try:
                probe(rt)
                checks[name] = "ok"
            except Exception:  # any failure means not ready; the reason goes to the log only
                logging.getLogger("archiver.web").warning("readiness: %s did not answer", name, exc_info=True)
                checks[name] = "did not answer"
        down = [name for name, v in checks.items() if v != "ok"]
        body: dict[str, Any] = {"status": "not ready" if down else "ready", "checks": checks}
        if down:
            body = {"detail": f"not ready: {' and '.join(f'the {n}' for n in down)} did not answer", **body}
        return JSONResponse(body, status_code=503 if down else 200, headers={"Cache-Control": "no-store"})

    # Before /media/{key}: the TimeGates and TimeMaps live under /media/.
    app.include_router(answer_head(memento.router))

    @app.head("/media/{key:path}", include_in_schema=False)  # Memento readers HEAD a capture page
    @app.get("/media/{key:path}", tags=["public"], response_class=Response,
             responses={200: {"description": "the archived copy, with its own content type",
                              "content": {"*/*": {}}},
                        **RANGE_RESPONSES, **errors.error_responses(404, 410, *errors.COMMON)})
    def media(key: str, request: Request) -> Response:
        """A public stable copy (blob, derivative, post snapshot), streamed from storage (never read
        whole): a single byte range gives 206, HEAD reads no body (archiver/web/copies.py)."""
        info = copy_info(rt, key)
        reason = hidden_reason(rt, key)
        if reason is not None:
            return withdrawn(request, reason)
        headers = {
            "X-Content-Type-Options": "nosniff",
            # Not "immutable" for a year: a copy taken down later must stop being served from caches too.
            "Cache-Control": COPY_CACHE,
            "Content-Security-Policy": copy_csp(rt.store.public_base_url),
        }
        headers.update(memento.page_headers(rt, key))  # a capture page: Memento-Datetime, Link
        return serve_copy(request, rt.store, info, headers)

    def withdrawn(request: Request, reason: str) -> Response:
        """410 for a copy compliance has taken down: "withdrawn from public access" (a page for a capture
        page read by a browser: errors.json_errors); the internal reason only for signed-in compliance
        staff, never cached."""
        headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
        caller = identify(rt, request)
        staff = caller is not None and may_read_reasons(caller.principal.role)
        if staff and errors.json_errors(request):
            return JSONResponse({"detail": WITHDRAWN, "reason": reason}, status_code=410,
                                headers={**headers, "Vary": "Accept"})
        return errors.error_response(request, 410, f"{WITHDRAWN} (reason: {reason})" if staff else WITHDRAWN,
                                     headers)

    for routes in (api, health, pages, articles, compliance, keys):
        app.include_router(answer_head(routes.router))
    answer_head(app.router)

    errors.install(app)
    errors.install_page_renderer(app, pages.error_page)
    app.add_middleware(HeadWithoutBody)
    return app


# Where HEAD answers as GET does (same status and headers, no body): the stored copies and capture pages
# (/media/, /evidence/), the stylesheet, the signing keys and the liveness check. Pages and the API are
# left out: their GETs are audited views and searches, which a HEAD must not record.
HEAD_PREFIXES = ("/media/", "/evidence/", "/static/", "/.well-known/")
HEAD_PATHS = frozenset({"/healthz", "/readyz"})
# The key readiness looks up in storage (it need not exist: the store answering is what counts).
READY_PROBE_KEY = "readyz/probe"


def _catalog_answers(rt: Runtime) -> None:
    rt.catalog.query("SELECT 1")


def _storage_answers(rt: Runtime) -> None:
    rt.store.exists(READY_PROBE_KEY)


# Each service the app needs and how to ask it (raises what the service's client raises when it does
# not answer): /readyz and `archiver serve`'s start both use these.
READINESS: dict[str, Callable[[Runtime], None]] = {"catalog": _catalog_answers, "storage": _storage_answers}


def answer_head(router: APIRouter) -> APIRouter:
    """Give every GET route of `router` under HEAD_PREFIXES (or at HEAD_PATHS) a HEAD twin: the same
    endpoint, route class and response class (so the same dependencies, status and headers), unless
    the path answers HEAD already. Idempotent (the route modules' routers are shared by every app);
    returns `router`."""
    routes = [r for r in router.routes if isinstance(r, APIRoute)]
    has_head = {r.path for r in routes if "HEAD" in r.methods}
    for route in routes:
        if "GET" in route.methods and route.path not in has_head and (
                route.path in HEAD_PATHS or route.path.startswith(HEAD_PREFIXES)):
            router.add_api_route(route.path, route.endpoint, methods=["HEAD"], include_in_schema=False,
                                 response_class=route.response_class, status_code=route.status_code,
                                 dependencies=route.dependencies, route_class_override=type(route))
            has_head.add(route.path)
    return router


class HeadWithoutBody:
    """ASGI middleware: a HEAD request's answer keeps the status and every header (Content-Length and
    Content-Type included) of the GET it mirrors, and sends no body bytes, whatever the route wrote."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        ended = False

        async def send_headers_only(message: Message) -> None:
            nonlocal ended
            if message["type"] == "http.response.body":
                if ended:
                    return
                ended = not message.get("more_body", False)
                if not ended:
                    return  # drop the chunk; the last one (empty) ends the answer
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app(scope, receive, send_headers_only)
