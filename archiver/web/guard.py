"""The request guard: what every HTTP request meets before any route reads it (a pure ASGI middleware).

In this order, before one byte of the body is read:

1. **Size.** Each route's body has a cap: the publish hook's (POST /v1/articles) is twice
   `max_article_bytes` plus 1 MiB (JSON escaping may double an article), every other route's
   `max_request_bytes`. A `Content-Length` over the cap (or not a number) is refused with 413 at once.
2. **Same site.** A request that changes something (POST, PUT, PATCH, DELETE) and has no
   `Authorization` header comes from a browser form: it is refused with 403 when `Sec-Fetch-Site`
   says cross-site or same-site, or its `Origin` (else its `Referer`) is not this site, that is the
   `Host` it was sent to or the origin of `public_base_url`. (`Origin: null` is not this site.)
3. **Who.** A changing request is identified (archiver/web/deps.py: `identify`) except the two
   forms that work signed out (/login, /logout); unknown → 401 `{"detail": "authentication required"}`.
   The caller is left in the scope, so the route does not look it up again.

Then the body is counted as it arrives, chunked or not: once it passes the cap the route's reading
fails with 413, and whatever the route would have answered is replaced by that 413. The whole body
must arrive within `body_timeout` seconds (a client trickling it byte by byte holds a connection no
longer): else 408. Every refusal here says `Connection: close`, so the server stops reading the rest
of the body; so does any answer given before the route read its whole body (a route that reads no
body), so a client cannot make the server drain gigabytes it never needed.

An infrastructure fault (archiver.faults) raised here or by the route before it answered becomes a
503 with Retry-After and one log line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from archiver.faults import is_infrastructure_error
from archiver.runtime import Runtime
from archiver.web.deps import CALLER_KEY, SAFE_METHODS, bearer_token, identify
from archiver.web.errors import UNAVAILABLE, scope_error_response, unavailable_reason

log = logging.getLogger(__name__)

OPEN_FORMS = frozenset({"/login", "/logout"})  # changing requests that need no sign-in
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def too_large(cap: int) -> str:
    """The 413 message for a body over `cap` bytes."""
    return f"request body too large (over {cap} bytes)"


def _origin(scheme: str, netloc: str) -> str:
    """`scheme://host[:port]` in lower case, the scheme's default port left out."""
    host, colon, port = netloc.lower().rpartition(":")
    if not colon or not port.isdigit():  # no port (or an IPv6 literal without one)
        host, port = netloc.lower(), ""
    return f"{scheme.lower()}://{host}" + (f":{port}" if port and port != _DEFAULT_PORTS.get(scheme.lower()) else "")


def origin_of(url: str) -> str | None:
    """The origin of an http(s) URL (`Origin` and `Referer` values), None for anything else ("null")."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.netloc or "@" in parts.netloc:
        return None
    return _origin(parts.scheme, parts.netloc)


class RequestGuard:
    """The ASGI middleware described in the module docstring.

    `caps` maps (method, path) to that route's body cap in bytes; `default_cap` is every other's.
    `trusted_origins` are origins (`https://host[:port]`) accepted besides the request's own `Host`.
    `body_timeout`: seconds the whole request body may take to arrive.
    """

    def __init__(self, app: ASGIApp, *, runtime: Runtime, caps: Mapping[tuple[str, str], int], default_cap: int,
                 trusted_origins: frozenset[str] = frozenset(), body_timeout: float = 30.0) -> None:
        self.app = app
        self.body_timeout = body_timeout
        self.runtime = runtime
        self.caps = dict(caps)
        self.default_cap = default_cap
        self.trusted_origins = trusted_origins

    def cap_for(self, method: str, path: str) -> int:
        """The body cap of a route, in bytes."""
        return self.caps.get((method, path), self.default_cap)

    def _same_site(self, headers: Headers) -> bool:
        if headers.get("sec-fetch-site", "").lower() in ("cross-site", "same-site"):
            return False
        claimed = headers.get("origin")
        if claimed is None:
            claimed = headers.get("referer")
            if claimed is None:
                return True  # not a browser's form (browsers send Origin with every POST)
        origin = origin_of(claimed)
        if origin is None:
            return False
        if origin in self.trusted_origins:
            return True
        scheme = origin.partition("://")[0]
        return origin == _origin(scheme, headers.get("host", ""))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._guarded(scope, receive, watched_send)
        except Exception as exc:
            # Storage, the catalog or the broker did not answer (here or in the route): a retryable
            # 503 and one log line, not a 500 and a traceback for every request of an outage.
            if started or not is_infrastructure_error(exc):
                raise
            log.warning("%s %s: 503, %s", scope["method"], scope["path"], unavailable_reason(exc))
            await _refuse(scope, send, 503, UNAVAILABLE, {"Retry-After": "30"})

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        cap = self.cap_for(method, path)
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or len(length) > 18 or int(length) > cap):
            await _refuse(scope, send, 413, too_large(cap))
            return
        if method not in SAFE_METHODS:
            conn = HTTPConnection(scope)
            if bearer_token(conn) is None and not self._same_site(headers):
                await _refuse(scope, send, 403, "cross-site request refused: send it from this site's own pages")
                return
            if path not in OPEN_FORMS:
                caller = await run_in_threadpool(identify, self.runtime, conn)
                if caller is None:
                    await _refuse(scope, send, 401, "authentication required", {"WWW-Authenticate": "Bearer"})
                    return
                scope[CALLER_KEY] = caller
        await self._bounded(scope, receive, send, cap)

    async def _bounded(self, scope: Scope, receive: Receive, send: Send, cap: int) -> None:
        received = 0
        refusal: tuple[int, str] | None = None  # the answer that replaces the route's (413, 408)
        started = replaced = False
        headers = Headers(scope=scope)
        # A request without Content-Length and not chunked has no body: it is whole from the start.
        body_done = headers.get("content-length") in (None, "0") and "chunked" not in \
            headers.get("transfer-encoding", "").lower()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout

        async def counting_receive() -> Message:
            nonlocal received, refusal, body_done
            if body_done:
                return await receive()  # the body is in: waiting for a disconnect has no deadline
            try:
                message = await asyncio.wait_for(receive(), timeout=max(0.001, deadline - loop.time()))
            except TimeoutError:
                refusal = (408, f"request body too slow (not whole within {self.body_timeout:g} s)")
                raise HTTPException(status_code=408, detail=refusal[1]) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    refusal = (413, too_large(cap))
                    raise HTTPException(status_code=413, detail=refusal[1])
                body_done = not message.get("more_body", False)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started, replaced
            if replaced:
                return
            if message["type"] == "http.response.start" and not started:
                started = True
                if refusal is not None and message["status"] != refusal[0]:
                    replaced = True  # the route answered otherwise: the cap (or the deadline) wins
                    await _refuse(scope, send, *refusal)
                    return
                if refusal is not None or not body_done:
                    # Leave the rest of the body unread: close instead of draining it for keep-alive.
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except HTTPException:
            if refusal is None or started:
                raise
            await _refuse(scope, send, *refusal)


async def _refuse(scope: Scope, send: Send, status: int, detail: str, headers: Mapping[str, str] | None = None,
                  ) -> None:
    """Answer `{"detail": detail}` with `status` (the error page on a page's path: errors.error_response),
    closing the connection (the body is left unread)."""
    response = await run_in_threadpool(scope_error_response, scope, status, detail,
                                       {**(headers or {}), "Connection": "close", "Cache-Control": "no-store"})

    async def no_body() -> Message:
        return {"type": "http.disconnect"}

    await response(scope, no_body, send)
