"""The catalog's tables, and bringing a catalog written by an older release up to date.

Both backends share these tables in portable SQL; each adds its own `posts` table (`posts_table`
in its own types, with its full-text columns) and index. A catalog is brought up to date when it
is opened (`create_schema`): missing tables and indexes are created, renamed columns get their
new names, added columns are added, then the backend's own upgrade runs. Every table here can be
rebuilt from object storage (`archiver reindex` clears INDEX_TABLES).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from archiver.catalog.base import Backend

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS articles (
        article_id TEXT PRIMARY KEY,
        url TEXT,
        source_sha256 TEXT NOT NULL,
        encoding TEXT NOT NULL,
        status TEXT NOT NULL,
        current_version INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        swept_at TEXT)""",
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
        manifest_key TEXT,
        sha256 TEXT,
        stable_url TEXT,
        occurrences INTEGER NOT NULL DEFAULT 1,
        updated_at TEXT NOT NULL,
        retry_at TEXT,
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
        posted_at TEXT,
        lang TEXT,
        media TEXT,
        card_text TEXT,
        text_complete TEXT)""",
    "CREATE INDEX IF NOT EXISTS captures_post ON captures (provider, post_id, captured_at)",
    "CREATE INDEX IF NOT EXISTS items_post ON items (provider, post_id)",
    # Which items of which articles use an original URL (by its SHA-256, link health's key): written with
    # each item's row, so an item shows its original's health (archiver.health.originals) from the moment
    # it is archived, even when that original was checked for another article before.
    """CREATE TABLE IF NOT EXISTS link_uses (
        url_sha256 TEXT NOT NULL,
        article_id TEXT NOT NULL,
        item_id TEXT NOT NULL,
        PRIMARY KEY (url_sha256, article_id, item_id))""",
    "CREATE INDEX IF NOT EXISTS link_uses_article ON link_uses (article_id)",
    """CREATE TABLE IF NOT EXISTS post_media (
        sha256 TEXT NOT NULL,
        provider TEXT NOT NULL,
        post_id TEXT NOT NULL,
        PRIMARY KEY (sha256, provider, post_id))""",
    """CREATE TABLE IF NOT EXISTS blobs (
        sha256 TEXT PRIMARY KEY,
        key TEXT NOT NULL,
        mime TEXT,
        bytes BIGINT,
        width INTEGER,
        height INTEGER,
        dhash TEXT)""",
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
    # Every fetch of an image URL the archive recorded (an article's image, a post's media, poster, avatar
    # and link-card image): the URL (as the capture step files a fetch, normalize_url), when, and the
    # digest of what it gave; provider/post_id when a post's capture holds it. The Memento TimeMap of an
    # image URL is read from here (url_sha256: the SHA-256 hex of url, indexed whatever the URL's length).
    """CREATE TABLE IF NOT EXISTS url_history (
        url_sha256 TEXT NOT NULL,
        fetched_at TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        url TEXT NOT NULL,
        provider TEXT,
        post_id TEXT,
        PRIMARY KEY (url_sha256, fetched_at, sha256))""",
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
# Columns added after the first release: added to older databases on open.
# articles.swept_at: when the sweeper last re-queued the article's missing work; items.retry_at: when a
# non-final item's next scheduled capture is due (NULL: none is); captures.card_text: the words the
# post shows besides its text (link card title and description, poll choices), searched with it;
# captures.text_complete and posts.text_complete: "false" when the text is only a preview (manifest
# v2 text_complete), "true" when a source gave it whole, NULL when nothing says.
# articles.headline and articles.published_at: what the article says of itself (its plan's metadata,
# archiver/article/metadata.py), for the editors' list of articles.
ADDED_COLUMNS = {"captures": ["lang", "media", "card_text", "text_complete"],
                 "articles": ["swept_at", "headline", "published_at"],
                 "items": ["retry_at"]}
# Columns added to the backends' `posts` table (after it is made).
ADDED_POST_COLUMNS = ["text_complete"]
# The indexed prefix of items.url: a URL may be longer than a B-tree entry may be (PostgreSQL: about
# 2.7 kB), so lookups by URL (the Memento TimeGate and TimeMap of an image) go through its prefix.
ITEM_URL_PREFIX_CHARS = 200
# Indexes on added columns, and later ones: made after the columns are.
SWEEP_INDEXES = [
    "CREATE INDEX IF NOT EXISTS articles_status ON articles (status, updated_at)",
    "CREATE INDEX IF NOT EXISTS items_retry ON items (retry_at)",
    "CREATE INDEX IF NOT EXISTS articles_created ON articles (created_at, article_id)",
    f"CREATE INDEX IF NOT EXISTS items_url_prefix ON items (substr(url, 1, {ITEM_URL_PREFIX_CHARS}))",
]
# Columns renamed after the first release (old name -> new): renamed in older databases on open.
# blobs.phash holds a difference hash (dHash); items.snapshot_key is an item's manifest key.
RENAMED_COLUMNS = {"blobs": {"phash": "dhash"}, "items": {"snapshot_key": "manifest_key"}}
# After the backend's own `posts` table.
POST_INDEXES = [
    "CREATE INDEX IF NOT EXISTS posts_captured ON posts (captured_at)",
    "CREATE INDEX IF NOT EXISTS posts_posted ON posts (posted_at)",
    "CREATE INDEX IF NOT EXISTS posts_handle ON posts (handle_norm, id)",
    "CREATE INDEX IF NOT EXISTS posts_provider ON posts (provider, id)",
    "CREATE INDEX IF NOT EXISTS posts_status ON posts (status, id)",
]
# Every table the catalog rebuilds from storage (reindex clears these, nothing else).
INDEX_TABLES = ("articles", "items", "captures", "posts", "post_media", "blobs", "blob_uses", "url_fetches",
                "url_history", "versions", "link_uses")
POST_FIELDS = ("provider", "post_id", "capture_id", "url", "status", "manifest_key", "captured_at", "posted_at",
               "handle", "author", "text", "lang", "text_complete")


def posts_table(id_column: str, doc_columns: str) -> str:
    """The posts table (one row per post: its latest capture and its words) in a backend's types."""
    return f"""CREATE TABLE IF NOT EXISTS posts (
            {id_column},
            provider TEXT NOT NULL,
            post_id TEXT NOT NULL,
            capture_id TEXT NOT NULL,
            url TEXT,
            status TEXT NOT NULL,
            manifest_key TEXT,
            captured_at TEXT NOT NULL,
            posted_at TEXT,
            handle TEXT,
            handle_norm TEXT,
            author TEXT,
            text TEXT,
            lang TEXT,
            media TEXT,
            text_complete TEXT,
            {doc_columns},
            UNIQUE (provider, post_id))"""


def create_schema(backend: Backend) -> None:
    """Create the tables and indexes a catalog lacks and upgrade one an older release wrote
    (idempotent: what is already there is left as it is). Raises the backend's database errors."""
    conn = backend.connect()
    for stmt in SCHEMA:
        conn.execute(stmt)
    _rename_columns(backend, conn)
    for table, cols in ADDED_COLUMNS.items():
        _add_columns(backend, conn, table, cols)
    for stmt in backend.search_schema:
        conn.execute(stmt)
    _add_columns(backend, conn, "posts", ADDED_POST_COLUMNS)
    for stmt in [*POST_INDEXES, *SWEEP_INDEXES]:
        conn.execute(stmt)
    _file_item_post_ids(conn)
    backend.upgrade()


def _file_item_post_ids(conn: Any) -> None:
    """Name each embed's post in ``items`` by the id its post is filed under (layout.filed_post_id:
    Telegram's "durov/43" is filed "durov:43"), as releases before this one did not: once per catalog
    (catalog_meta's ``item_post_ids``), idempotent, so processes opening the catalog at once agree."""
    conn.execute("CREATE TABLE IF NOT EXISTS catalog_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
    if conn.execute("SELECT 1 FROM catalog_meta WHERE name = 'item_post_ids'").fetchone():
        return
    conn.execute("UPDATE items SET post_id = replace(post_id, '/', ':') "
                 "WHERE kind = 'embed' AND replace(post_id, '/', ':') <> post_id")
    conn.execute("INSERT INTO catalog_meta (name, value) VALUES ('item_post_ids', 'filed') "
                 "ON CONFLICT (name) DO NOTHING")


def _add_columns(backend: Backend, conn: Any, table: str, cols: list[str]) -> None:
    """Add the TEXT columns ``cols`` that ``table`` lacks (a catalog an older release wrote)."""
    have = backend.columns(table)
    for col in cols:
        if col not in have:
            try:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {col} TEXT")
            except Exception:
                if col not in backend.columns(table):  # not another process adding it first
                    raise


def _rename_columns(backend: Backend, conn: Any) -> None:
    """Give a catalog written by an older release the current column names (RENAMED_COLUMNS)."""
    for table, names in RENAMED_COLUMNS.items():
        have = backend.columns(table)
        for old, new in names.items():
            if old not in have or new in have:
                continue
            try:
                conn.execute(f"ALTER TABLE {table} RENAME COLUMN {old} TO {new}")
            except Exception:
                if new not in backend.columns(table):  # not another process renaming it first
                    raise


def earlier_words(conn: Any, posts: Sequence[tuple[str, str, str]], mark: str) -> dict[tuple[str, str], list[Any]]:
    """The (capture_id, text, card_text) of the captures of each post in `posts` ((provider, post_id, its
    latest capture_id, or "" to leave none out)) but that latest one, newest first, by (provider,
    post_id): a post's earlier words (text.post_doc_tokens). At most EARLIER_CAPTURES_READ of them a
    post (its newest), so indexing a post captured thousands of times, or a batch of such posts, stays
    bounded. `conn` is a backend connection and `mark` its placeholder ("?", "%s")."""
    if not posts:
        return {}
    latest = {(p, i): c for p, i, c in posts}
    providers, ids = sorted({p for p, _ in latest}), sorted({i for _, i in latest})
    sql = ("SELECT provider, post_id, capture_id, text, card_text FROM (SELECT provider, post_id, capture_id, "  # noqa: S608
           "text, card_text, ROW_NUMBER() OVER (PARTITION BY provider, post_id ORDER BY captured_at DESC, "
           f"capture_id DESC) AS n FROM captures WHERE provider IN ({', '.join(mark for _ in providers)}) "
           f"AND post_id IN ({', '.join(mark for _ in ids)})) c WHERE n <= {EARLIER_CAPTURES_READ + 1} "
           "ORDER BY provider, post_id, n")
    out: dict[tuple[str, str], list[Any]] = {}
    for r in conn.execute(sql, (*providers, *ids)).fetchall():
        key = (r["provider"], r["post_id"])
        if key in latest and r["capture_id"] != latest[key]:
            out.setdefault(key, []).append((r["capture_id"], r["text"], r["card_text"]))
    return out


# The newest captures of a post whose words its search row holds (text.post_doc_tokens keeps at most
# EARLIER_PARTS distinct parts of them).
EARLIER_CAPTURES_READ = 200
