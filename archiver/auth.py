"""API tokens: who may call the HTTP API, and as what role.

A token is shown once (by `archiver token create`) and only its SHA-256 is kept, in the catalog
table api_tokens; a stolen catalog therefore yields no usable credentials.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from archiver.errors import InputError
from archiver.roles import ROLES as ROLES

if TYPE_CHECKING:
    # Only named in annotations: importing the token code does not load the catalog (its search syntax
    # and the provider registry behind it).
    from archiver.catalog.core import Catalog

TOKEN_PREFIX = "arc_"  # noqa: S105 - a public marker, not a secret
MAX_TOKEN_LENGTH = 200

_SCHEMA = """CREATE TABLE IF NOT EXISTS api_tokens (
    token_id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at TEXT NOT NULL)"""
_ready: weakref.WeakSet[Catalog] = weakref.WeakSet()


@dataclass(frozen=True)
class Principal:
    """Who called: the token's id, its name and its role (one of ROLES)."""

    token_id: str
    name: str
    role: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def ensure_schema(catalog: Catalog) -> None:
    """Create the api_tokens table in `catalog` if missing; done once per Catalog object."""
    if catalog not in _ready:
        catalog.execute(_SCHEMA)
        _ready.add(catalog)


def create_token(catalog: Catalog, role: str, name: str = "") -> str:
    """Make a token for `role`; returns the secret, which is stored nowhere in clear."""
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
    ensure_schema(catalog)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = secrets.token_hex(8)
    created = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    catalog.execute(
        "INSERT INTO api_tokens (token_id, token_hash, name, role, created_at) VALUES (?, ?, ?, ?, ?)",
        [token_id, _hash(token), name or f"{role}-{token_id}", role, created],
    )
    return token


def authenticate(catalog: Catalog, token: str | None) -> Principal | None:
    """The principal a presented token stands for, or None (unknown, malformed or empty)."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.startswith(TOKEN_PREFIX):
        return None
    ensure_schema(catalog)
    digest = _hash(token)
    rows = catalog.query("SELECT token_id, token_hash, name, role FROM api_tokens WHERE token_hash = ?", [digest])
    if not rows or not hmac.compare_digest(rows[0]["token_hash"], digest):
        return None
    row = rows[0]
    return Principal(token_id=row["token_id"], name=row["name"], role=row["role"])
