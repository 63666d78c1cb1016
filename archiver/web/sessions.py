"""Web sign-in sessions: what the browser's cookie stands for, kept on the server.

Signing in with an API token (POST /login) starts a session: a random id (256 bits, URL-safe text)
goes to the browser in the HttpOnly cookie `archiver_session`; the catalog table web_sessions keeps
only its SHA-256, the token it was started with (token_id) and when it expires. The cookie never
holds the API token, so a leaked cookie ends with its session (sign-out or `session_lifetime`) and a
stolen catalog yields no usable session. A session's principal is its token's, read afresh each time
(`archiver.auth.admit`): a session ends as soon as its token is revoked or expires.

Forms carry a CSRF token derived from the session id (HMAC-SHA256 under the id, which only the
browser and the server know): a page from another site can neither read nor compute it.

What a form's action did (the outcome a page shows after the redirect) is a flash: kept here, bound
to the session that pressed the button, read once; the redirect carries only its random id. A link
cannot make a page report an action that did not happen, and another session's id shows nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from typing import Any

from archiver.auth import ROW_COLUMNS, Principal, admit
from archiver.auth import ensure_schema as ensure_token_schema
from archiver.catalog.core import Catalog

COOKIE_NAME = "archiver_session"
LEGACY_COOKIE = "archiver_token"  # held the raw API token before sessions; cleared, never read
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{32,100}")

_SCHEMA = """CREATE TABLE IF NOT EXISTS web_sessions (
    session_hash TEXT PRIMARY KEY,
    token_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL)"""
_FLASH_SCHEMA = """CREATE TABLE IF NOT EXISTS web_flash (
    flash_hash TEXT PRIMARY KEY,
    session_hash TEXT NOT NULL,
    payload TEXT NOT NULL,
    expires_at BIGINT NOT NULL)"""
FLASH_LIFETIME = 600  # seconds a flash waits to be shown
MAX_FLASH_BYTES = 4096  # of one flash's JSON
_FLASH_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("ascii")).hexdigest()


def ensure_schema(catalog: Catalog) -> None:
    """Create the web_sessions table (and the api_tokens table it refers to) if missing; once per Catalog."""
    def create() -> None:
        ensure_token_schema(catalog)
        catalog.execute(_SCHEMA)
        catalog.execute(_FLASH_SCHEMA)

    catalog.ensure_tables("web_sessions", create)


def start_session(catalog: Catalog, principal: Principal, lifetime: int) -> str:
    """A new session for `principal` that lasts `lifetime` seconds; returns its id (the cookie's value).

    Expired sessions are deleted on the way. Raises what the catalog raises when it cannot be written."""
    ensure_schema(catalog)
    now = int(time.time())
    catalog.execute("DELETE FROM web_sessions WHERE expires_at <= ?", [now])
    session_id = secrets.token_urlsafe(32)
    catalog.execute("INSERT INTO web_sessions (session_hash, token_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                    [_hash(session_id), principal.token_id, now, now + max(1, lifetime)])
    return session_id


def session_principal(catalog: Catalog, session_id: str | None) -> Principal | None:
    """Who a live session stands for; None for no id, a malformed or unknown one, an expired session, or
    one whose token is revoked or expired (`admit`, which also records the token's use)."""
    if not session_id or not _SESSION_ID.fullmatch(session_id):
        return None
    ensure_schema(catalog)
    rows = catalog.query(
        f"SELECT {', '.join(f't.{c}' for c in ROW_COLUMNS)} "  # noqa: S608 - column names, not input
        "FROM web_sessions s JOIN api_tokens t ON t.token_id = s.token_id "
        "WHERE s.session_hash = ? AND s.expires_at > ?", [_hash(session_id), int(time.time())])
    return admit(catalog, rows[0]) if rows else None


def end_session(catalog: Catalog, session_id: str | None) -> None:
    """Forget the session (sign-out); nothing happens for an unknown or malformed id."""
    if session_id and _SESSION_ID.fullmatch(session_id):
        ensure_schema(catalog)
        catalog.execute("DELETE FROM web_sessions WHERE session_hash = ?", [_hash(session_id)])


def put_flash(catalog: Catalog, session_id: str, payload: dict[str, str]) -> str:
    """Keep `payload` (a form action's outcome: short strings by name, at most MAX_FLASH_BYTES of JSON)
    for the session `session_id` for FLASH_LIFETIME seconds; returns the flash's random id (22
    URL-safe characters) for the redirect. Expired flashes are deleted on the way. ValueError for a
    malformed session id or a payload too large."""
    if not _SESSION_ID.fullmatch(session_id or ""):
        raise ValueError("no session to keep the outcome in")
    data = json.dumps({str(k)[:64]: str(v)[:200] for k, v in payload.items()}, ensure_ascii=False)
    if len(data.encode("utf-8")) > MAX_FLASH_BYTES:
        raise ValueError("outcome too large")
    ensure_schema(catalog)
    now = int(time.time())
    catalog.execute("DELETE FROM web_flash WHERE expires_at <= ?", [now])
    flash_id = secrets.token_urlsafe(16)
    catalog.execute("INSERT INTO web_flash (flash_hash, session_hash, payload, expires_at) VALUES (?, ?, ?, ?)",
                    [_hash(flash_id), _hash(session_id), data, now + FLASH_LIFETIME])
    return flash_id


def take_flash(catalog: Catalog, session_id: str | None, flash_id: str | None) -> dict[str, str] | None:
    """The outcome kept under `flash_id` for this session, removed as it is read (shown once); None for
    no or a malformed id, one unknown, expired, already shown, or kept for another session."""
    if not session_id or not flash_id or not _SESSION_ID.fullmatch(session_id) or not _FLASH_ID.fullmatch(flash_id):
        return None
    ensure_schema(catalog)
    rows = catalog.query("SELECT payload FROM web_flash WHERE flash_hash = ? AND session_hash = ? AND expires_at > ?",
                         [_hash(flash_id), _hash(session_id), int(time.time())])
    if not rows:
        return None
    catalog.execute("DELETE FROM web_flash WHERE flash_hash = ?", [_hash(flash_id)])
    try:
        payload: Any = json.loads(rows[0]["payload"])
    except ValueError:
        return None
    return {str(k): str(v) for k, v in payload.items()} if isinstance(payload, dict) else None


def csrf_token(session_id: str) -> str:
    """The CSRF token of the forms of this session: 64 hex digits."""
    return hmac.new(session_id.encode("ascii"), b"archiver-csrf-v1", hashlib.sha256).hexdigest()


def csrf_valid(session_id: str, presented: str | None) -> bool:
    """Whether `presented` is this session's CSRF token (constant-time comparison)."""
    return bool(presented) and hmac.compare_digest(csrf_token(session_id), str(presented))
