"""Error answers of the web app: their JSON shapes (also in the OpenAPI document) and what they may say.

Every error is `{"detail": "one line"}` (ErrorOut), except

- 422, a request that does not validate: `{"detail": [{"type", "loc", "msg"}]}` (ValidationErrorOut),
  one entry per problem. The submitted values are not echoed (FastAPI's `input` and `ctx` are left
  out), and `msg` is cut at 300 characters;
- 410 from /media/: `{"detail": "withdrawn from public access"}` (TakenDownOut); the takedown's internal
  `reason` is added only for signed-in compliance staff (a token or session of the compliance or admin role).

What an error says never shows where things are stored (`public_detail`): URLs and DSNs have their
credentials masked (archiver.redact), local storage and catalog locations (file:// and sqlite://
URLs, the paths under the service's home, quoted absolute paths) become "[local path]".

**JSON or a page: decided by the path** (`wants_json`; capture pages also by Accept: `json_errors`).
The API's paths answer JSON errors:
/v1 and everything under /v1/, /metrics, /openapi.json, /healthz, everything under /media/ (stable
copies, TimeGates and TimeMaps that programs read) and under /.well-known/. Every other
path is the web UI's (the pages, /login, /evidence/, /static/, and any unknown path): its errors are a
styled page (error.html, with the navigation when signed in) giving the status and one line: an
unknown path (404), a method the path does not take (405, with Allow), an address whose values do not
validate (422: the field and what is wrong, never the value), a body over its cap (413, from the
request guard), an internal error (500: "internal error" and an error id that the server log records
with the traceback; the page shows no traceback). The Accept header does not change this, with one
exception: a capture page (a `.html` key under /media/, what the inline card's "Archived copy" link
opens for a reader; not a TimeGate, TimeMap or Memento route whose original URL ends in ".html")
answers its errors (404, 410 …) as the page, same status, unless the request's Accept names
application/json (a program), which gets the JSON; those answers carry `Vary: Accept` (`json_errors`).
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from http import HTTPStatus
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import Scope

from archiver.article.versions import RestoreError, VersionConflict
from archiver.capture.manifest import ManifestError
from archiver.capture.memento import MEMENTO, TIMEGATE, TIMEMAP
from archiver.errors import ArchiverError, InputError
from archiver.faults import is_infrastructure_error
from archiver.records.base import RecordError
from archiver.redact import redact_text

log = logging.getLogger(__name__)

LOCAL = "[local path]"
MAX_MESSAGE = 300
_PATH_REST = r"(?:[^\s'\"<>()]*[^\s'\"<>():;,.])?"  # the rest of a path, less a trailing punctuation mark
_LOCAL_URL = re.compile(r"(?:file|sqlite):/" + _PATH_REST, re.IGNORECASE)
_QUOTED_PATH = re.compile(r"(['\"])/[^'\"\s]*/[^'\"]*\1")


class ErrorOut(BaseModel):
    """An error: one line saying what is wrong."""

    detail: str


class TakenDownOut(ErrorOut):
    """A copy compliance has taken down (410): `detail` "withdrawn from public access"; `reason`, the
    takedown's reason, only for signed-in compliance staff."""

    reason: str | None = None


class ValidationProblem(BaseModel):
    """One problem of a request that does not validate: its pydantic type, where (`["body", "reason"]`,
    `["query", "limit"]`, `["path", "post_id"]`) and what is wrong. The submitted value is not echoed."""

    type: str
    loc: list[str | int]
    msg: str


class ValidationErrorOut(BaseModel):
    """422: the request does not validate; one entry per problem."""

    detail: list[ValidationProblem]


DESCRIPTIONS = {
    400: "bad input (one line saying what)",
    401: "no valid credentials: an API token as `Authorization: Bearer ...` (WWW-Authenticate: Bearer)",
    403: "the caller's role may not do this, or a browser form from another site",
    404: "no such thing",
    409: "the request conflicts with the article's versions",
    410: "withdrawn from public access by compliance",
    413: "the request body is over its cap (Content-Length or counted as it arrives)",
    422: "the request does not validate: the problems, without the submitted values",
    500: "internal error (no details), or damaged stored data (one line naming the damaged record)",
    503: "storage, catalog or broker unavailable, or misconfigured",
}
_MODELS: dict[int, type[BaseModel]] = {410: TakenDownOut, 422: ValidationErrorOut}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these status codes, each with its description and JSON model."""
    return {code: {"description": DESCRIPTIONS[code], "model": _MODELS.get(code, ErrorOut)} for code in codes}


# What every route may answer (413 too: any request may carry an oversized body), and what every
# route that needs credentials may answer (400: an InputError from the library, wherever it arises).
COMMON = (413, 500, 503)
AUTHENTICATED = (400, 401, 403, 422, *COMMON)


def public_detail(message: str, local_roots: Iterable[str] = ()) -> str:
    """`message` fit for an error body: credentials masked, local storage/catalog locations hidden
    (`local_roots`: directories to hide wherever they appear, e.g. the service's home)."""
    text = _LOCAL_URL.sub(LOCAL, redact_text(message))
    for root in sorted({r.rstrip("/") for r in local_roots if len(r.rstrip("/")) > 1}, key=len, reverse=True):
        text = re.sub(re.escape(root) + _PATH_REST, LOCAL, text)
    return _QUOTED_PATH.sub(lambda m: f"{m.group(1)}{LOCAL}{m.group(1)}", text)


def local_roots(app: FastAPI) -> list[str]:
    """The directories of the app's runtime that an error must not show: home, storage, catalog."""
    settings = app.state.runtime.settings
    roots = [settings.home, str(settings.home_path)]
    for url in (settings.storage_url, settings.catalog_url):
        if url.startswith(("file://", "sqlite:///")):
            path = url.removeprefix("file://").removeprefix("sqlite:///")
            roots += [path, str(Path(path).parent)] if url.startswith("sqlite") else [path]
    return [r for r in roots if len(r) > 1]


def problems(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """FastAPI's validation errors as ValidationProblem dicts: type, loc, msg (cut; a validator's own
    message as it wrote it, without pydantic's "Value error, " prefix, so the API, the page and the CLI
    say the same line), nothing echoed but what a validator quotes."""
    out = []
    for error in errors:
        error = error if isinstance(error, dict) else {"msg": str(error)}
        loc = [part if isinstance(part, int) else str(part) for part in error.get("loc") or ()]
        ctx_error = (error.get("ctx") or {}).get("error")  # a validator's own line, without "Value error, "
        msg = str(ctx_error) if error.get("type") == "value_error" and ctx_error else str(error.get("msg") or "")
        out.append({"type": str(error.get("type") or "value_error"), "loc": loc,
                    "msg": msg.removeprefix("Value error, ")[:MAX_MESSAGE]})
    return out


def _document_422(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with FastAPI's default 422 (HTTPValidationError: `input`, `ctx`) replaced by
    what the app answers, ValidationErrorOut, wherever a route did not declare its own."""
    ours, default = "#/components/schemas/ValidationErrorOut", "#/components/schemas/HTTPValidationError"
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            response = operation.get("responses", {}).get("422") if isinstance(operation, dict) else None
            content = (response or {}).get("content", {}).get("application/json", {})
            if content.get("schema", {}).get("$ref") == default:
                content["schema"] = {"$ref": ours}
                response["description"] = DESCRIPTIONS[422]
    if "ValidationErrorOut" not in components:  # no route declared it: add it and what it refers to
        doc = ValidationErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(doc.pop("$defs", {}))
        components["ValidationErrorOut"] = doc
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    return schema


# The answer when storage, the catalog or the broker is down (archiver.faults): no detail, try again.
UNAVAILABLE = "the service is unavailable for a moment (storage, catalog or queue); try again"


def unavailable_reason(exc: BaseException) -> str:
    """One log line about an infrastructure fault: its type and first line, credentials masked."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {redact_text(text.splitlines()[0]) if text else ''}"


# --- JSON or a page ---------------------------------------------------------------------------------
JSON_PATHS = frozenset({"/v1", "/metrics", "/openapi.json", "/healthz", "/readyz"})
JSON_PREFIXES = ("/v1/", "/media/", "/.well-known/")
# The error page's title for each status a page may meet (its one line is the error's detail).
PAGE_TITLES = {400: "Bad request", 401: "Sign-in needed", 403: "Not allowed", 404: "Not found",
               405: "Method not allowed", 408: "Too slow", 409: "Conflict", 410: "Gone",
               413: "Too large", 422: "Not valid", 500: "Internal error", 503: "Unavailable"}
# The page's line when the error says no more than its status phrase ("Not Found").
PAGE_LINES = {400: "The request could not be understood.", 401: "Sign in to see this page.",
              403: "Your role may not open this page.", 404: "There is no page at this address.",
              405: "This address does not take a {method} request.", 413: "What was sent is too large.",
              500: "internal error",
              503: "The service is unavailable for a moment; try again."}
# Renders the error page: (connection, status, one-line detail, error id or None) -> an HTML response.
PageRenderer = Callable[[HTTPConnection, int, str, "str | None"], Response]


def wants_json(path: str) -> bool:
    """Whether errors on `path` are the API's JSON (see the module docstring) rather than a page."""
    return path in JSON_PATHS or path.startswith(JSON_PREFIXES)


# The Memento routes under /media/ (TimeGate, TimeMap, an image's Memento): their path ends in the
# original URL, often a ".html" article, and programs read their errors.
_MEMENTO_PATHS = tuple(f"/media/{route}/" for route in (TIMEGATE, TIMEMAP, MEMENTO))


def is_capture_page(path: str) -> bool:
    """Whether `path` is a capture page's stable URL (a `.html` key under /media/, not a Memento route
    whose original URL ends in ".html")."""
    return path.startswith("/media/") and path.lower().endswith(".html") and not path.startswith(_MEMENTO_PATHS)


def json_errors(conn: HTTPConnection) -> bool:
    """Whether the errors of this request are JSON: `wants_json` of its path, except that a capture page
    answers a page unless the Accept header names application/json (see the module docstring)."""
    if is_capture_page(conn.url.path):
        return "application/json" in conn.headers.get("accept", "").lower()
    return wants_json(conn.url.path)


def _vary(conn: HTTPConnection, headers: dict[str, str] | None) -> dict[str, str] | None:
    """`headers` plus `Vary: Accept` on a capture page, whose error form depends on Accept."""
    return {**(headers or {}), "Vary": "Accept"} if is_capture_page(conn.url.path) else headers


def install_page_renderer(app: FastAPI, renderer: PageRenderer) -> None:
    """Use `renderer` for the error pages of `app` (the web UI's error.html; archiver/web/app.py)."""
    app.state.error_page = renderer


def validation_line(errors: Sequence[Any]) -> str:
    """A validation error as one line for a page: `page: Input should be greater than or equal to 1`
    (each problem's field and message, never the submitted value), at most MAX_MESSAGE characters."""
    parts = []
    for p in problems(errors)[:3]:
        where = ".".join(str(x) for x in p["loc"] if x not in ("query", "path", "body", "header"))
        parts.append(f"{where}: {p['msg']}" if where else p["msg"])
    line = "; ".join(parts) or "the request does not validate"
    return line[:MAX_MESSAGE]


def error_response(conn: HTTPConnection, status: int, detail: str, headers: dict[str, str] | None = None,
                   error_id: str | None = None) -> Response:
    """The answer to an error: `{"detail": detail}` on an API path, else the error page (status, the
    one line, the error id of a 500) when the app has a page renderer. `detail` is made public
    (public_detail) and cut to one line of at most MAX_MESSAGE characters."""
    app = conn.scope.get("app")
    roots = local_roots(app) if app is not None and hasattr(app.state, "runtime") else []
    line = " ".join(public_detail(detail, roots).split())[:MAX_MESSAGE]
    renderer = getattr(app.state, "error_page", None) if app is not None else None
    headers = _vary(conn, headers)
    if renderer is None or json_errors(conn):
        return JSONResponse({"detail": line}, status_code=status, headers=headers)
    if status in PAGE_LINES and line.lower() == _phrase(status).lower():
        line = PAGE_LINES[status].format(method=conn.scope.get("method", "")[:10])
    response = renderer(conn, status, line, error_id)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def scope_error_response(scope: Scope, status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    """error_response for a middleware that has only the ASGI scope (the request guard's refusals)."""
    return error_response(HTTPConnection(scope), status, detail, headers)


def new_error_id() -> str:
    """A short random id that ties a 500 page to its server log line (12 hex characters)."""
    return secrets.token_hex(6)


def install(app: FastAPI) -> None:
    """The app's error handlers: HTTP errors and InputError (400) as ErrorOut with public_detail,
    validation errors as ValidationErrorOut, an infrastructure fault 503 with Retry-After, an ArchiverError
    of the environment (a StoreError, a ConfigError, a queue that does not answer) 503 with its line: 503
    means only that. Damaged stored data (a RecordError or ManifestError, naming the record) is a 500
    with its one line and an error id (the article routes report a damaged part in their answer
    instead); a RestoreError or VersionConflict 409. Anything else is 500 "internal error".
    Also makes the OpenAPI document describe that 422 on every route (see _document_422)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document_422(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    def answer(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        if json_errors(request):
            return JSONResponse({"detail": public_detail(message, local_roots(request.app))}, status_code=status,
                                headers=_vary(request, headers))
        return error_response(request, status, message, headers)

    @app.exception_handler(HTTPException)
    def http_error(request: Request, exc: HTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else "error"
        return answer(request, exc.status_code, detail, dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    def invalid(request: Request, exc: RequestValidationError) -> Response:
        if json_errors(request):
            return JSONResponse({"detail": problems(exc.errors())}, status_code=422)
        return error_response(request, 422, validation_line(exc.errors()))

    @app.exception_handler(InputError)
    def bad_input(request: Request, exc: InputError) -> Response:
        return answer(request, 400, str(exc))

    @app.exception_handler(ArchiverError)
    def archiver_error(request: Request, exc: ArchiverError) -> Response:
        if isinstance(exc, RestoreError | VersionConflict):  # the request conflicts with the versions
            return answer(request, 409, str(exc))
        if not isinstance(exc, RecordError | ManifestError):  # down (a fault, a queue), or misconfigured
            return answer(request, 503, str(exc))
        # Damaged stored data (a record that is not valid): not the service being down, never a 503.
        error_id = new_error_id()
        log.error("%s %s: damaged stored data, error %s: %s", request.method, request.url.path, error_id,
                  unavailable_reason(exc))
        line = " ".join(public_detail(str(exc), local_roots(request.app)).split())[:MAX_MESSAGE]
        if json_errors(request):
            return JSONResponse({"detail": f"damaged stored data: {line}"}, status_code=500)
        return error_response(request, 500, f"damaged stored data: {line}", error_id=error_id)

    @app.exception_handler(Exception)
    def internal(request: Request, exc: Exception) -> Response:
        if is_infrastructure_error(exc):  # where no RequestGuard runs (archiver/web/guard.py does it first)
            log.warning("%s %s: 503, %s", request.method, request.url.path, unavailable_reason(exc))
            if json_errors(request):
                return JSONResponse({"detail": UNAVAILABLE}, status_code=503, headers={"Retry-After": "30"})
            return error_response(request, 503, UNAVAILABLE, {"Retry-After": "30"})
        error_id = new_error_id()
        log.error("%s %s: internal error %s", request.method, request.url.path, error_id, exc_info=exc)
        if json_errors(request):
            return JSONResponse({"detail": "internal error"}, status_code=500)
        return error_response(request, 500, "internal error: something went wrong on the server, not in what "
                              "you asked; the server log has the details under this error id", error_id=error_id)


def validation_error(loc: Sequence[str | int], msg: str) -> RequestValidationError:
    """A 422 of the same shape as the ones pydantic's checks give, for a check made in a route."""
    return RequestValidationError([{"type": "value_error", "loc": tuple(loc), "msg": msg}])
