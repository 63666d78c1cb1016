"""Catalog queries in portable SQL (SQLite 3.35+ and PostgreSQL share upserts and types).

Every row here can be rebuilt from object storage (`archiver reindex`): manifests, item results
and article versions. Search runs over `posts`, one row per post holding its latest capture and
its words (full-text machinery per backend: FTS5 or a tsvector); `post_media` lists the blobs of
every capture of a post, so an image hash leads to the posts and, through blob_uses and items,
to every article that used it. What a search asks is a SearchQuery (query.py); how it is run over
`posts` is search.py; the hits it returns are assembled here (`Catalog.hits`). The tables and their
upgrades are schema.py; what a backend supplies is base.py.

The search's modules (query.py's model, search.py, the query syntax: pydantic and about 10 ms of
imports) are imported by name on the first `Catalog.search`, not with the Catalog: every command opens
a catalog (`archiver archive` records its article), few search.
"""

from __future__ import annotations

import importlib
import json
import random
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from archiver.catalog.base import MAX_LIMIT, Backend
from archiver.catalog.schema import INDEX_TABLES, POST_FIELDS, create_schema, earlier_words
from archiver.catalog.text import handle_norm, post_doc_tokens, tokenize
from archiver.errors import InputError
from archiver.storage.layout import blob_key, derived_key, url_sha256

if TYPE_CHECKING:
    from archiver.catalog.query import SearchQuery
    from archiver.catalog.search import SearchResult


class Catalog:
    """The catalog over one backend: records what storage holds and reads it back as dicts of columns.

    Tables are created or upgraded on first use; record_* methods upsert (safe to repeat, as a
    reindex does); reads return lists of row dicts, oldest or lowest first unless said otherwise.
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._ready = False
        self._tables_ready: set[str] = set()
        self._tables_lock = threading.RLock()   # a module's tables may need another's first

    def ensure_tables(self, name: str, create: Callable[[], None]) -> None:
        """Run `create` (CREATE ... IF NOT EXISTS statements of a module's own tables, `name`) once per
        Catalog object, one thread at a time. PostgreSQL's IF NOT EXISTS is not atomic: two processes
        creating the same table at once, one fails on the system catalog's unique index; that one runs
        `create` again once the other is done (up to 5 tries, then the error is raised)."""
        if name in self._tables_ready:
            return
        with self._tables_lock:
            if name in self._tables_ready:
                return
            for attempt in range(5):
                try:
                    create()
                    break
                except Exception:
                    if attempt == 4:
                        raise
                    time.sleep(0.05 * (attempt + 1) + random.random() * 0.05)
            self._tables_ready.add(name)

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

    def add_text_columns(self, table: str, columns: Sequence[str]) -> None:
        """Add the TEXT columns of `columns` that `table` lacks (a table an older release made, of a
        module keeping its own tables: tokens, link health). Another process adding one first is fine;
        any other failure is raised (the backend's database error)."""
        have = self.backend.columns(table)
        for col in columns:
            if col in have:
                continue
            try:
                self.execute(f"ALTER TABLE {table} ADD COLUMN {col} TEXT")
            except Exception:
                if col not in self.backend.columns(table):  # not another process adding it first
                    raise

    def ensure_schema(self) -> None:
        """Create or upgrade the catalog's tables once per Catalog (schema.py: create_schema)."""
        if self._ready:
            return
        create_schema(self.backend)
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
        """Index a version; one newer than the article's current version becomes current, and its
        source the article's (a revert to a version of an earlier source puts the article back on
        that source: retry, health and `show` read the source of what the article shows)."""
        self._upsert("versions", row, ["article_id", "version"])
        self.execute(
            "UPDATE articles SET current_version = ?, source_sha256 = COALESCE(?, source_sha256) "
            "WHERE article_id = ? AND current_version < ?",
            [row["version"], row.get("source_sha256"), row["article_id"], row["version"]],
        )

    def sweep_candidates(self, *, now: str, stale_before: str, recent_since: str, limit: int) -> list[dict[str, Any]]:
        """Articles the sweeper should look at (ISO 8601 UTC times; oldest first, at most `limit`),
        each not swept since `stale_before`:

        - not finished ("queued" or "capturing") and without progress since `stale_before` (neither
          the article nor any of its items' rows changed): a lost task, a dead capture, a lost finalize;
        - an item's scheduled capture due (`items.retry_at` <= `now`);
        - changed since `recent_since`, with an item result newer than the article's last finalize
          and older than `stale_before`: the finalize that should have followed was lost.
        """
        return self.query(
            """SELECT a.article_id, a.source_sha256, a.url, a.status, a.updated_at FROM articles a
               WHERE (a.swept_at IS NULL OR a.swept_at < ?) AND (
                 (a.status IN ('queued', 'capturing') AND a.updated_at < ?
                  AND NOT EXISTS (SELECT 1 FROM items i WHERE i.article_id = a.article_id
                                  AND i.source_sha256 = a.source_sha256 AND i.updated_at >= ?))
                 OR EXISTS (SELECT 1 FROM items i WHERE i.article_id = a.article_id
                            AND i.source_sha256 = a.source_sha256 AND i.retry_at IS NOT NULL AND i.retry_at <= ?)
                 OR (a.updated_at >= ? AND EXISTS (
                       SELECT 1 FROM items i WHERE i.article_id = a.article_id AND i.source_sha256 = a.source_sha256
                       AND i.updated_at > a.updated_at AND i.updated_at < ?)))
               ORDER BY a.updated_at LIMIT ?""",
            [stale_before, stale_before, stale_before, now, recent_since, stale_before, limit],
        )

    def mark_swept(self, article_id: str, swept_at: str) -> None:
        """Record that the sweeper re-queued what `article_id` was missing at `swept_at` (ISO 8601 UTC)."""
        self.execute("UPDATE articles SET swept_at = ? WHERE article_id = ?", [swept_at, article_id])

    def versions(self, article_id: str) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM versions WHERE article_id = ? ORDER BY version", [article_id])

    # --- items of an article ------------------------------------------------------------------
    def record_item(self, **row: Any) -> None:
        """Index one item result (an embed's ``post_id`` is the id its post is filed under:
        EmbedResult.filed_id), and the item's use of its original URL (link_uses), so the item shows
        that original's health at once (archiver.health.originals)."""
        self._upsert("items", row, ["article_id", "source_sha256", "item_id"])
        if row.get("url"):
            self.execute("INSERT INTO link_uses (url_sha256, article_id, item_id) VALUES (?, ?, ?) "
                         "ON CONFLICT (url_sha256, article_id, item_id) DO NOTHING",
                         [url_sha256(row["url"]), row["article_id"], row["item_id"]])

    def items(self, article_id: str, source_sha256: str) -> list[dict[str, Any]]:
        return self.query(
            "SELECT * FROM items WHERE article_id = ? AND source_sha256 = ? ORDER BY kind, item_id",
            [article_id, source_sha256],
        )

    # --- captures of posts ---------------------------------------------------------------------
    def record_capture(self, *, media: Sequence[dict[str, Any]] | None = None, **row: Any) -> None:
        """Record one capture (optionally with its manifest's media list) and refresh the post's
        search row (its latest capture's, with the words of every capture: text.post_doc_tokens).
        `card_text` (optional) is searched after the text: the words of the post's link card and poll
        (indexing.card_words)."""
        media_rows = _media_summary(media or [])
        row["media"] = json.dumps(media_rows, sort_keys=True) if media is not None else None
        self.ensure_schema()
        # One post's captures indexed at once (a capture of it beside one of a post quoting it) read and
        # write its search row one after the other, so the row is always its latest capture's with every
        # capture's words, as reindex would make it.
        with self.backend.serialized(f"post:{row['provider']}/{row['post_id']}"):
            self._upsert("captures", row, ["capture_id"])
            for m in media_rows:
                self._upsert("post_media", {"sha256": m["sha256"], "provider": row["provider"],
                                            "post_id": row["post_id"]}, ["sha256", "provider", "post_id"])
            latest = self.query(
                "SELECT * FROM captures WHERE provider = ? AND post_id = ? ORDER BY captured_at DESC, "
                "capture_id DESC LIMIT 1", [row["provider"], row["post_id"]])
            if latest:  # the post's row is its latest capture's; its words hold this capture's too
                self._index_post(latest[0])

    def _index_post(self, cap: dict[str, Any]) -> None:
        """The post's search row from its latest capture `cap`, its words with its earlier captures'
        (text.post_doc_tokens)."""
        handle = handle_norm(cap.get("handle"))
        values = [cap.get(c) for c in POST_FIELDS] + [handle, cap.get("media") or "[]"]
        key = (cap["provider"], cap["post_id"])
        earlier = earlier_words(self.backend.connect(), [(*key, cap["capture_id"])], self.backend.placeholder)
        values += self.backend.doc_values(post_doc_tokens(cap.get("text"), cap.get("card_text"), earlier.get(key, ())),
                                          tokenize(cap.get("author")), handle)
        cols = ["id", *POST_FIELDS, "handle_norm", "media", *self.backend.doc_columns]
        marks = ["?"] * (len(POST_FIELDS) + 3) + list(self.backend.doc_columns.values())
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in ("id", "provider", "post_id"))
        sql = (f"INSERT INTO posts ({', '.join(cols)}) VALUES ({', '.join(marks)}) "  # noqa: S608
               f"ON CONFLICT (provider, post_id) DO UPDATE SET {updates}")
        row_id = post_row_id(cap)
        for attempt in range(8):
            try:
                self.execute(sql, [row_id + attempt, *values])
                return
            except self.backend.integrity_error:
                if attempt == 7:
                    raise

    def post_captures(self, provider: str, post_id: str) -> list[dict[str, Any]]:
        """Every capture of a post, oldest first, media decoded."""
        rows = self.captures(provider, post_id)
        for r in rows:
            r["media"] = json.loads(r["media"]) if r.get("media") else []
        return rows

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

    def articles_using_blob(self, sha256: str) -> list[dict[str, Any]]:
        """Every article that used this image: as an image of its own (blob_uses) or inside an
        embedded post whose capture holds it (items of the posts in post_media)."""
        direct = self.query(
            "SELECT article_id, position, url FROM blob_uses WHERE sha256 = ? ORDER BY article_id, position", [sha256])
        via_posts = self.query(
            "SELECT DISTINCT i.article_id, i.provider, i.post_id, i.url FROM post_media m JOIN items i "
            "ON i.provider = m.provider AND i.post_id = m.post_id AND i.kind = 'embed' WHERE m.sha256 = ? "
            "ORDER BY i.article_id, i.provider, i.post_id", [sha256])
        return ([{"article_id": r["article_id"], "via": "image", "position": r["position"], "url": r["url"]}
                 for r in direct] +
                [{"article_id": r["article_id"], "via": "post", "provider": r["provider"], "post_id": r["post_id"],
                  "url": r["url"]} for r in via_posts])

    def near_blobs(self, dhash: str, max_distance: int = 8, limit: int = 100) -> list[dict[str, Any]]:
        """Blobs whose difference hash is within `max_distance` bits of `dhash`, closest first."""
        dhash = _check_dhash(dhash)
        dist = self.backend.hamming_sql("dhash", "?")
        return self.query(
            f"SELECT * FROM (SELECT b.*, {dist} AS distance FROM blobs b WHERE dhash IS NOT NULL "  # noqa: S608
            f"AND length(dhash) = 16) n WHERE distance <= ? ORDER BY distance, sha256 LIMIT ?",
            [dhash, int(max_distance), _limit(limit)])

    # --- search ------------------------------------------------------------------------------
    def search(self, query: SearchQuery | str = "", /, **filters: Any) -> SearchResult:
        """Posts matching a SearchQuery (archiver/catalog/query.py), newest archived first.

        Also callable as `search("words", handle=..., ...)`: the words and filters (field names or
        public names) are validated into a SearchQuery first; InputError says what does not fit.
        """
        model = importlib.import_module("archiver.catalog.query").SearchQuery  # see the module's docstring
        if not isinstance(query, model):
            query = model.parse({"q": query, **filters})
        elif filters:
            raise TypeError("give a SearchQuery or words and filters, not both")
        return importlib.import_module("archiver.catalog.search").run_search(self, query)

    def hits(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Search hits for rows of `posts`: the POST_FIELDS ("text_complete" as True, False for a text
        that is only a preview, or None), plus "articles" (ids embedding the post),
        "media" (archived blobs with thumbnails) and "captures" (how many)."""
        if not rows:
            return []
        # Two IN lists walk the (provider, post_id) indexes on both backends; pairs are then matched here.
        providers, post_ids = sorted({r["provider"] for r in rows}), sorted({r["post_id"] for r in rows})
        cond = (f"provider IN ({', '.join('?' for _ in providers)}) "
                f"AND post_id IN ({', '.join('?' for _ in post_ids)})")
        articles: dict[tuple[str, str], set[str]] = {}
        for r in self.query(f"SELECT DISTINCT provider, post_id, article_id FROM items "  # noqa: S608
                            f"WHERE kind = 'embed' AND {cond}", [*providers, *post_ids]):
            articles.setdefault((r["provider"], r["post_id"]), set()).add(r["article_id"])
        counts = {(r["provider"], r["post_id"]): r["n"] for r in self.query(
            f"SELECT provider, post_id, count(*) AS n FROM captures WHERE {cond} "  # noqa: S608
            "GROUP BY provider, post_id", [*providers, *post_ids])}
        hits = []
        for r in rows:
            key = (r["provider"], r["post_id"])
            hit = {c: r[c] for c in POST_FIELDS}
            hit["text_complete"] = _flag(r["text_complete"])
            hit["articles"] = sorted(articles.get(key, ()))
            hit["media"] = json.loads(r["media"]) if r["media"] else []
            hit["captures"] = counts.get(key, 0)
            hits.append(hit)
        return hits

    # --- bulk loading and clearing (reindex, benchmarks) -------------------------------------
    def load_posts(self, captures: Sequence[dict[str, Any]]) -> None:
        """Insert captures of posts not yet in the catalog, one capture per post, in bulk.

        For a fresh catalog (benchmarks, a cleared reindex); `record_capture` is the general path.
        """
        self.ensure_schema()
        cap_cols = [*POST_FIELDS, "media", "card_text"]
        post_cols = ["id", *POST_FIELDS, "handle_norm", "media", *self.backend.doc_columns]
        cap_rows, post_rows, media_rows = [], [], []
        for c in captures:
            media = _media_summary(c.get("media") or [])
            media_json = json.dumps(media, sort_keys=True)
            base = [c.get(k) for k in POST_FIELDS]
            cap_rows.append([*base, media_json, c.get("card_text")])
            handle = handle_norm(c.get("handle"))
            post_rows.append([post_row_id(c), *base, handle, media_json,
                              *self.backend.doc_values(post_doc_tokens(c.get("text"), c.get("card_text")),
                                                       tokenize(c.get("author")), handle)])
            media_rows += [[m["sha256"], c["provider"], c["post_id"]] for m in media]
        self.backend.bulk_insert("captures", cap_cols, cap_rows)
        self.backend.bulk_insert("posts", post_cols, post_rows)
        if media_rows:
            self.backend.bulk_insert("post_media", ["sha256", "provider", "post_id"], media_rows)

    def clear_index(self) -> None:
        """Empty every table rebuilt from storage (not tokens, not the audit log)."""
        for table in INDEX_TABLES:
            self.execute(f"DELETE FROM {table}")  # noqa: S608


def post_row_id(capture: dict[str, Any]) -> int:
    """A post's catalog id, from its first indexed capture: capture time in milliseconds, then
    three digits of a hash of the post, so result order (newest id first) is a function of what
    storage holds and a reindex restores it. A clash (same millisecond and hash) takes the next id."""
    at = datetime.fromisoformat(capture["captured_at"].replace("Z", "+00:00"))
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    bucket = zlib.crc32(f"{capture['provider']}/{capture['post_id']}".encode()) % 1000
    return int(at.timestamp() * 1000) * 1000 + bucket


def _media_summary(media: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a search hit shows of a capture's media: archived blobs, with their thumbnail key."""
    out = []
    for m in media:
        sha = m.get("sha256")
        if not sha or m.get("status", "archived") != "archived":
            continue
        mime = m.get("mime")
        thumb = derived_key(sha, "thumb.webp") if (mime or "").startswith("image/") else m.get("thumb_key")
        out.append({"sha256": sha, "key": m.get("key") or _blob_key_or_none(sha), "mime": mime,
                    "type": m.get("type"), "thumb_key": thumb})
    return out


def _blob_key_or_none(sha256: str) -> str | None:
    """The original's key under the layout; None for a digest that is not lowercase SHA-256 hex
    (no such key can exist; the entry is still listed, and its sha256 still finds the post)."""
    try:
        return blob_key(sha256)
    except ValueError:
        return None


def _flag(value: Any) -> bool | None:
    """A stored "true"/"false" column as a bool; None for anything else (NULL: nothing said)."""
    return {"true": True, "false": False}.get(value) if isinstance(value, str) else None


def _limit(limit: int) -> int:
    return max(1, min(int(limit), MAX_LIMIT))


def _check_dhash(dhash: str) -> str:
    value = (dhash or "").strip().lower()
    if len(value) != 16 or any(ch not in "0123456789abcdef" for ch in value):
        raise InputError(f"perceptual hash {dhash!r} must be 16 hex digits")
    return value
