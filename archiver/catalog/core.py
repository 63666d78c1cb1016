"""Catalog queries in portable SQL (SQLite 3.24+ and PostgreSQL share upserts and types).

Every row here can be rebuilt from object storage: manifests, item results and article versions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS articles (
        article_id TEXT PRIMARY KEY,
        url TEXT,
        source_sha256 TEXT NOT NULL,
        encoding TEXT NOT NULL,
        status TEXT NOT NULL,
        current_version INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS items (
        article_id TEXT NOT NULL,
        source_sha256 TEXT NOT NULL,
        item_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        provider TEXT,
        post_id TEXT,
        url TEXT,
        status TEXT NOT NULL,
        error TEXT,
        snapshot_key TEXT,
        sha256 TEXT,
        stable_url TEXT,
        occurrences INTEGER NOT NULL DEFAULT 1,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (article_id, source_sha256, item_id))""",
    """CREATE TABLE IF NOT EXISTS captures (
        capture_id TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        post_id TEXT NOT NULL,
        url TEXT,
        status TEXT NOT NULL,
        manifest_key TEXT,
        captured_at TEXT NOT NULL,
        handle TEXT,
        author TEXT,
        text TEXT,
        posted_at TEXT)""",
    "CREATE INDEX IF NOT EXISTS captures_post ON captures (provider, post_id, captured_at)",
    """CREATE TABLE IF NOT EXISTS blobs (
        sha256 TEXT PRIMARY KEY,
        key TEXT NOT NULL,
        mime TEXT,
        bytes BIGINT,
        width INTEGER,
        height INTEGER,
        phash TEXT)""",
    """CREATE TABLE IF NOT EXISTS blob_uses (
        sha256 TEXT NOT NULL,
        article_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        url TEXT NOT NULL,
        PRIMARY KEY (sha256, article_id, position))""",
    """CREATE TABLE IF NOT EXISTS url_fetches (
        url TEXT PRIMARY KEY,
        sha256 TEXT NOT NULL,
        fetched_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS versions (
        article_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        key TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        source_sha256 TEXT NOT NULL,
        reason TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (article_id, version))""",
]


class Backend(Protocol):
    placeholder: str

    def connect(self) -> Any: ...
    def describe(self) -> str: ...
    def close(self) -> None: ...


class Catalog:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._ready = False

    # --- plumbing -------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql if self.backend.placeholder == "?" else sql.replace("?", self.backend.placeholder)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.ensure_schema()
        self.backend.connect().execute(self._sql(sql), tuple(params))

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self.ensure_schema()
        cur = self.backend.connect().execute(self._sql(sql), tuple(params))
        return [dict(row) for row in cur.fetchall()]

    def ensure_schema(self) -> None:
        if self._ready:
            return
        conn = self.backend.connect()
        for stmt in SCHEMA:
            conn.execute(stmt)
        self._ready = True

    def describe(self) -> str:
        return self.backend.describe()

    def close(self) -> None:
        self.backend.close()

    def _upsert(self, table: str, row: dict[str, Any], keys: Iterable[str]) -> None:
        cols = list(row)
        keys = list(keys)
        updates = [c for c in cols if c not in keys]
        action = (
            "DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in updates) if updates else "DO NOTHING"
        )
        sql = (
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)}) "  # noqa: S608
            f"ON CONFLICT ({', '.join(keys)}) {action}"
        )
        self.execute(sql, [row[c] for c in cols])

    # --- articles and versions ------------------------------------------------------------
    def record_article(self, **row: Any) -> None:
        existing = self.article(row["article_id"])
        if existing:
            row.setdefault("current_version", existing["current_version"])
            row["created_at"] = existing["created_at"]
        self._upsert("articles", row, ["article_id"])

    def article(self, article_id: str) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM articles WHERE article_id = ?", [article_id])
        return rows[0] if rows else None

    def record_version(self, **row: Any) -> None:
        self._upsert("versions", row, ["article_id", "version"])
        self.execute(
            "UPDATE articles SET current_version = ? WHERE article_id = ? AND current_version < ?",
            [row["version"], row["article_id"], row["version"]],
        )

    def versions(self, article_id: str) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM versions WHERE article_id = ? ORDER BY version", [article_id])

    # --- items of an article ------------------------------------------------------------------
    def record_item(self, **row: Any) -> None:
        self._upsert("items", row, ["article_id", "source_sha256", "item_id"])

    def items(self, article_id: str, source_sha256: str) -> list[dict[str, Any]]:
        return self.query(
            "SELECT * FROM items WHERE article_id = ? AND source_sha256 = ? ORDER BY kind, item_id",
            [article_id, source_sha256],
        )

    # --- captures of posts ---------------------------------------------------------------------
    def record_capture(self, **row: Any) -> None:
        self._upsert("captures", row, ["capture_id"])

    def latest_capture(self, provider: str, post_id: str, since: str, statuses: Sequence[str]) -> dict | None:
        marks = ", ".join("?" for _ in statuses)
        rows = self.query(
            f"SELECT * FROM captures WHERE provider = ? AND post_id = ? AND captured_at >= ? "  # noqa: S608
            f"AND status IN ({marks}) ORDER BY captured_at DESC, capture_id DESC LIMIT 1",
            [provider, post_id, since, *statuses],
        )
        return rows[0] if rows else None

    def captures(self, provider: str, post_id: str) -> list[dict[str, Any]]:
        return self.query(
            "SELECT * FROM captures WHERE provider = ? AND post_id = ? ORDER BY captured_at, capture_id",
            [provider, post_id],
        )

    # --- blobs -------------------------------------------------------------------------------
    def record_blob(self, **row: Any) -> None:
        self._upsert("blobs", row, ["sha256"])

    def blob(self, sha256: str) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM blobs WHERE sha256 = ?", [sha256])
        return rows[0] if rows else None

    def record_blob_use(self, sha256: str, article_id: str, position: int, url: str) -> None:
        self._upsert(
            "blob_uses",
            {"sha256": sha256, "article_id": article_id, "position": position, "url": url},
            ["sha256", "article_id", "position"],
        )

    def blob_uses(self, sha256: str) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM blob_uses WHERE sha256 = ? ORDER BY article_id, position", [sha256])

    def record_url_fetch(self, url: str, sha256: str, fetched_at: str) -> None:
        self._upsert("url_fetches", {"url": url, "sha256": sha256, "fetched_at": fetched_at}, ["url"])

    def recent_url_fetch(self, url: str, since: str) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM url_fetches WHERE url = ? AND fetched_at >= ?", [url, since])
        return rows[0] if rows else None
