"""Web sign-in sessions: what the browser's cookie stands for, kept on the server.

Signing in with an API token (POST /login) starts a session: a random id (256 bits, URL-safe text)
goes to the browser in the HttpOnly cookie `archiver_session`; the catalog table web_sessions keeps
only its SHA-256, the token it was started with (token_id) and when it expires. The cookie never
holds the API token, so a leaked cookie ends with its session (sign-out or `session_lifetime`) and a
stolen catalog yields no usable session. A session's principal is its token's, read afresh each time.

Forms carry a CSRF token derived from the session id (HMAC-SHA256 under the id, which only the
browser and the server know): a page from another site can neither read nor compute it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import weakref

from archiver.auth import Principal
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
_ready: weakref.WeakSet[Catalog] = weakref.WeakSet()


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("ascii")).hexdigest()


def ensure_schema(catalog: Catalog) -> None:
    """Create the web_sessions table (and the api_tokens table it refers to) if missing; once per Catalog."""
    if catalog not in _ready:
        ensure_token_schema(catalog)
        catalog.execute(_SCHEMA)
        _ready.add(catalog)


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
    """Who a live session stands for; None for no id, a malformed or unknown one, or an expired session."""
    if not session_id or not _SESSION_ID.fullmatch(session_id):
        return None
    ensure_schema(catalog)
    rows = catalog.query(
        "SELECT t.token_id, t.name, t.role FROM web_sessions s JOIN api_tokens t ON t.token_id = s.token_id "
        "WHERE s.session_hash = ? AND s.expires_at > ?", [_hash(session_id), int(time.time())])
    if not rows:
        return None
    row = rows[0]
    return Principal(token_id=row["token_id"], name=row["name"], role=row["role"])


def end_session(catalog: Catalog, session_id: str | None) -> None:
    """Forget the session (sign-out); nothing happens for an unknown or malformed id."""
    if session_id and _SESSION_ID.fullmatch(session_id):
        ensure_schema(catalog)
        catalog.execute("DELETE FROM web_sessions WHERE session_hash = ?", [_hash(session_id)])


def csrf_token(session_id: str) -> str:
    """The CSRF token of the forms of this session: 64 hex digits."""
    return hmac.new(session_id.encode("ascii"), b"archiver-csrf-v1", hashlib.sha256).hexdigest()


def csrf_valid(session_id: str, presented: str | None) -> bool:
    """Whether `presented` is this session's CSRF token (constant-time comparison)."""
    return bool(presented) and hmac.compare_digest(csrf_token(session_id), str(presented))
