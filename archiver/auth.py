"""API tokens: who may call the HTTP API, and as what role, until when.

A token is shown once (by `archiver token create`) and only its SHA-256 is kept, in the catalog
table api_tokens; a stolen catalog therefore yields no usable credentials. A token may be given an
expiry (`expires_at`) and may be revoked (`revoked_at`, `archiver token revoke`); either ends it at
once for the API and for every web session signed in with it, since both read the token's row on
each request (`authenticate`, `admit`). Nothing ever deletes a row: `archiver token list` shows
revoked and expired tokens too, never a secret. `last_used_at` is when the token was last admitted,
recorded at most once a minute (LAST_USED_EVERY), so a busy client costs no write per request.

Catalogs written before expiry and revocation existed get the three columns on first use
(`ensure_schema`), as archiver/catalog/schema.py adds columns to its own tables; their tokens have
none of them set, so they stay valid and never expire until revoked.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from archiver.errors import InputError
from archiver.roles import ROLES as ROLES

if TYPE_CHECKING:
    # Only named in annotations: importing the token code does not load the catalog (its search syntax
    # and the provider registry behind it).
    from archiver.catalog.core import Catalog

TOKEN_PREFIX = "arc_"  # noqa: S105 - a public marker, not a secret
MAX_TOKEN_LENGTH = 200
LAST_USED_EVERY = timedelta(seconds=60)  # last_used_at is rewritten when it is older than this
MAX_LIFETIME = timedelta(days=3650)  # the longest --expires-in: a token meant to outlive it needs none
DURATION_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1),
                  "w": timedelta(weeks=1)}
_DURATION = re.compile(r"([0-9]{1,7})([mhdw])")

_SCHEMA = """CREATE TABLE IF NOT EXISTS api_tokens (
    token_id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT,
    last_used_at TEXT)"""
# Columns added after the first release (ISO 8601 UTC times like created_at, NULL when not set): added
# to older catalogs on first use.
ADDED_COLUMNS = ("expires_at", "revoked_at", "last_used_at")
# A token's row as `admit` and TokenInfo read it (never the hash): what a query joining api_tokens selects.
ROW_COLUMNS = ("token_id", "name", "role", "created_at", "expires_at", "revoked_at", "last_used_at")
_COLUMNS = ", ".join(ROW_COLUMNS)


@dataclass(frozen=True)
class Principal:
    """Who called: the token's id, its name and its role (one of ROLES)."""

    token_id: str
    name: str
    role: str


@dataclass(frozen=True)
class TokenInfo:
    """What the catalog knows of a token, never its secret: times are ISO 8601 UTC (``...Z``), None when
    not set (never expires, not revoked, never used)."""

    token_id: str
    name: str
    role: str
    created_at: str
    expires_at: str | None = None
    revoked_at: str | None = None
    last_used_at: str | None = None

    def state(self, now: str | None = None) -> str:
        """``revoked``, ``expired`` (its expiry is not after `now`, default the present) or ``active``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or stamp()):
            return "expired"
        return "active"

    def as_json(self, now: str | None = None) -> dict[str, Any]:
        """{"id", "name", "role", "created_at", "last_used_at", "expires_at", "revoked_at", "state"}."""
        return {"id": self.token_id, "name": self.name, "role": self.role, "created_at": self.created_at,
                "last_used_at": self.last_used_at, "expires_at": self.expires_at, "revoked_at": self.revoked_at,
                "state": self.state(now)}


@dataclass(frozen=True)
class NewToken:
    """A token just made: its secret (to be shown once, stored nowhere) and what the catalog keeps."""

    token: str
    info: TokenInfo


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def stamp(at: datetime | None = None) -> str:
    """`at` (default now) as the token times are stored: ISO 8601 UTC to the second, ``Z`` (so that
    they compare as text)."""
    return (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_duration(text: str) -> timedelta:
    """``90d``, ``12h``, ``30m`` or ``2w``: a whole number of minutes, hours, days or weeks, from 1
    minute to MAX_LIFETIME (ten years). InputError otherwise."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not match:
        raise InputError(f"{text[:40]!r} is not a duration: give a whole number and a unit, m (minutes), h (hours), "
                         "d (days) or w (weeks), e.g. 90d or 12h")
    length = int(match.group(1)) * DURATION_UNITS[match.group(2)]
    if not timedelta(minutes=1) <= length <= MAX_LIFETIME:
        raise InputError(f"{text[:40]!r}: a token may last from 1m to {MAX_LIFETIME.days}d")
    return length


def ensure_schema(catalog: Catalog) -> None:
    """Create the api_tokens table in `catalog` if missing and add the columns an older catalog's table
    lacks (ADDED_COLUMNS); done once per Catalog object."""
    def create() -> None:
        catalog.execute(_SCHEMA)
        catalog.add_text_columns("api_tokens", ADDED_COLUMNS)

    catalog.ensure_tables("api_tokens", create)


def _info(row: dict[str, Any]) -> TokenInfo:
    return TokenInfo(token_id=row["token_id"], name=row["name"], role=row["role"], created_at=row["created_at"],
                     expires_at=row.get("expires_at"), revoked_at=row.get("revoked_at"),
                     last_used_at=row.get("last_used_at"))


def issue_token(catalog: Catalog, role: str, name: str = "", expires_in: timedelta | None = None) -> NewToken:
    """Make a token for `role`, valid for `expires_in` when given (else until revoked); returns its
    secret, which is stored nowhere in clear, and its row. InputError for an unknown role."""
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
    ensure_schema(catalog)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = secrets.token_hex(8)
    now = datetime.now(UTC)
    info = TokenInfo(token_id=token_id, name=name or f"{role}-{token_id}", role=role, created_at=stamp(now),
                     expires_at=stamp(now + expires_in) if expires_in is not None else None)
    catalog.execute(
        "INSERT INTO api_tokens (token_id, token_hash, name, role, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
        [token_id, _hash(token), info.name, role, info.created_at, info.expires_at],
    )
    return NewToken(token, info)


def create_token(catalog: Catalog, role: str, name: str = "", expires_in: timedelta | None = None) -> str:
    """Make a token for `role` (`issue_token`); returns the secret, which is stored nowhere in clear."""
    return issue_token(catalog, role, name, expires_in).token


def admit(catalog: Catalog, row: dict[str, Any]) -> Principal | None:
    """The principal of a token's row (its ROW_COLUMNS), or None when the token is revoked or expired;
    its use is recorded (last_used_at, at most once every LAST_USED_EVERY). The API (`authenticate`)
    and the web sessions (archiver/web/sessions.py) both admit through here, so a revoked or expired
    token ends for both at once."""
    now = datetime.now(UTC)
    info = _info(row)
    if info.state(stamp(now)) != "active":
        return None
    if info.last_used_at is None or info.last_used_at < stamp(now - LAST_USED_EVERY):
        catalog.execute("UPDATE api_tokens SET last_used_at = ? WHERE token_id = ?", [stamp(now), info.token_id])
    return Principal(token_id=info.token_id, name=info.name, role=info.role)


def authenticate(catalog: Catalog, token: str | None) -> Principal | None:
    """The principal a presented token stands for, or None (unknown, malformed, empty, revoked or expired)."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.startswith(TOKEN_PREFIX):
        return None
    ensure_schema(catalog)
    digest = _hash(token)
    rows = catalog.query(f"SELECT token_hash, {_COLUMNS} FROM api_tokens WHERE token_hash = ?",  # noqa: S608
                         [digest])
    if not rows or not hmac.compare_digest(rows[0]["token_hash"], digest):
        return None
    return admit(catalog, rows[0])


def list_tokens(catalog: Catalog) -> list[TokenInfo]:
    """Every token, revoked and expired ones too, oldest first; never a secret nor its hash."""
    ensure_schema(catalog)
    return [_info(r) for r in catalog.query(f"SELECT {_COLUMNS} FROM api_tokens "  # noqa: S608
                                            "ORDER BY created_at, token_id")]


def find_token(catalog: Catalog, ref: str) -> TokenInfo:
    """The token whose id is `ref`, else the one token named `ref`. InputError when there is none, or
    when several share that name (their ids are named: give one)."""
    ensure_schema(catalog)
    rows = catalog.query(f"SELECT {_COLUMNS} FROM api_tokens WHERE token_id = ?", [ref])  # noqa: S608
    if not rows:
        rows = catalog.query(f"SELECT {_COLUMNS} FROM api_tokens WHERE name = ? "  # noqa: S608
                             "ORDER BY created_at, token_id", [ref])
    if not rows:
        raise InputError(f"no API token has the id or name {ref[:80]!r} (`archiver token list` shows them)")
    if len(rows) > 1:
        ids = ", ".join(r["token_id"] for r in rows[:10])
        raise InputError(f"{len(rows)} API tokens are named {ref[:80]!r} (ids {ids}): revoke one by its id")
    return _info(rows[0])


def revoke_token(catalog: Catalog, ref: str) -> tuple[TokenInfo, bool]:
    """Revoke the token `ref` names (`find_token`: its id or its name); returns its row as it now is
    and whether this call revoked it (False: it was revoked already, nothing changed). From now on the
    token and every session started with it are refused. InputError for an unknown or ambiguous `ref`."""
    info = find_token(catalog, ref)
    if info.revoked_at is not None:
        return info, False
    catalog.execute("UPDATE api_tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL",
                    [stamp(), info.token_id])
    return find_token(catalog, info.token_id), True
