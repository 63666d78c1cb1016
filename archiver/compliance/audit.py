"""The append-only audit log: who searched, viewed, exported, held, took down or restored what.

Each event is written once to object storage (`audit/<YYYY>/<MM>/<DD>/<timestamp>-<id>.json`,
with if_none_match so nothing is ever overwritten) and indexed in the catalog table audit_log,
which is only ever inserted into; `reindex` rebuilds it from storage. There is deliberately no
update or delete function here, nor any route that changes the log.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from archiver.auth import Principal
from archiver.catalog.base import row_window
from archiver.catalog.core import Catalog
from archiver.dates import as_datetime, iso_precise
from archiver.storage.base import stored_json_objects
from archiver.storage.layout import AUDIT_PREFIX, audit_key

if TYPE_CHECKING:
    from archiver.runtime import Runtime

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS audit_log (
        event_id TEXT PRIMARY KEY,
        at TEXT NOT NULL,
        token_id TEXT,
        actor TEXT NOT NULL,
        role TEXT,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL,
        result_count INTEGER,
        key TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at)",
]
_COLUMNS = ("event_id", "at", "token_id", "actor", "role", "action", "target", "detail", "result_count", "key")


def ensure_schema(catalog: Catalog) -> None:
    """Create the audit_log table and its index in `catalog` if missing; once per Catalog object."""
    def create() -> None:
        for stmt in _SCHEMA:
            catalog.execute(stmt)

    catalog.ensure_tables("audit", create)


def _index(catalog: Catalog, event: dict[str, Any], key: str) -> None:
    ensure_schema(catalog)
    actor = event.get("actor") or {}
    row = (event["id"], event["at"], actor.get("token_id"), actor.get("name") or "system", actor.get("role"),
           event["action"], event["target"], json.dumps(event.get("detail") or {}, ensure_ascii=False,
                                                        sort_keys=True),
           event.get("result_count"), key)
    catalog.execute(
        f"INSERT INTO audit_log ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)}) "  # noqa: S608
        "ON CONFLICT (event_id) DO NOTHING",
        row,
    )


def record(rt: Runtime, principal: Principal | None, action: str, target: str, detail: dict[str, Any],
           result_count: int | None = None) -> dict[str, Any]:
    """Append one event (storage first: it is the truth) and index it; returns the event."""
    now = datetime.now(UTC)
    event_id = secrets.token_hex(8)
    event = {
        "schema": "archiver.audit.v1",
        "id": event_id,
        "at": now.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "actor": None if principal is None else
        {"token_id": principal.token_id, "name": principal.name, "role": principal.role},
        "action": action,
        "target": target,
        "detail": detail,
        "result_count": result_count,
    }
    key = audit_key(now, event_id)
    data = json.dumps(event, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")
    rt.store.put(key, data, content_type="application/json", if_none_match=True)
    _index(rt.catalog, event, key)
    return event


def list_events(rt: Runtime, since: str | None = None, limit: int = 100, *, action: str | None = None,
                offset: int = 0) -> list[dict[str, Any]]:
    """Newest first; `since` (inclusive) a date (its start in UTC) or an ISO 8601 time with or without an
    offset (none: UTC), compared as the instant it names. One before year 1 in UTC bounds nothing.
    ValueError when `since` is not a date or time."""
    ensure_schema(rt.catalog)
    where, params = [], []
    if since:
        bound = _instant(since)
        if bound is not None:
            where.append("at >= ?")
            params.append(bound)
    if action:
        where.append("action = ?")
        params.append(action)
    sql = "SELECT * FROM audit_log" + (" WHERE " + " AND ".join(where) if where else "")  # noqa: S608
    rows = rt.catalog.query(sql + " ORDER BY at DESC, event_id DESC LIMIT ? OFFSET ?",
                            [*params, max(0, min(limit, 1000)), row_window(1, offset)[1]])
    for row in rows:
        row["detail"] = json.loads(row["detail"])
    return rows


def _instant(since: str) -> str | None:
    """`since` as the stored events' `at` is written (UTC, microseconds, `iso_precise`), so a string
    comparison is a comparison of instants; None when it is before every event (year 1 in UTC)."""
    try:
        dt = as_datetime(since)
    except OverflowError:  # before 0001-01-01 in UTC: no lower bound
        return None
    if dt is None:
        raise ValueError(f"since: not a date or time: {since[:40]!r}")
    return iso_precise(dt)


def reindex(rt: Runtime, skipped: list[str] | None = None) -> int:
    """Insert every stored event missing from the catalog; returns how many were seen. A damaged
    event is left out, its key and reason appended to `skipped`."""
    n = 0
    for key, event in stored_json_objects(rt.store, AUDIT_PREFIX, skipped):
        try:
            _index(rt.catalog, event, key)
        except (KeyError, TypeError, AttributeError) as exc:
            if skipped is not None:
                skipped.append(f"{key}: not an audit event ({exc!r})")
            continue
        n += 1
    return n
