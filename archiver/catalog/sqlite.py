"""SQLite backend: the default (no server), one file, safe for several processes (WAL).

Full text is an FTS5 table over the posts index (external content, kept in step by triggers, so
a post and its words change in one statement). Tokens come from archiver.catalog.text, already
cut and folded; FTS5's `ascii` tokenizer treats every non-ASCII character as part of a token, so
it only splits them at the spaces between them.
"""

from __future__ import annotations

import fcntl
import os
import random
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from archiver.catalog.base import ThreadConnections
from archiver.catalog.schema import earlier_words, posts_table
from archiver.catalog.syntax import All, AnyOf, Node, Not, Term
from archiver.catalog.text import TOKEN_VERSION, Clause, post_doc_tokens, tokenize
from archiver.errors import ConfigError

# The handle as one FTS token (hex, so the ascii tokenizer never splits it): words by one account
# are then one FTS query instead of a walk over every post holding the words.
# CROSS JOIN: the full-text matches drive, each match's post read by id. Left to itself the planner
# may walk a filter's index (every post of a provider or status) and run the MATCH again for each
# post: at 30,000 posts `provider:facebook "서울 東 北"` took 6 s that way, 0.05 s this way.
FTS_SOURCE = "posts_fts f CROSS JOIN posts p ON p.id = f.rowid"
FTS_WHERE = " WHERE posts_fts MATCH ?"
HANDLE_DOC = "handle_doc TEXT GENERATED ALWAYS AS ('h' || lower(hex(handle_norm))) VIRTUAL"
# The columns a user's words are matched against (as on PostgreSQL, where a word finds the post's
# text and its author's name): never handle_doc, whose hex token only a handle filter asks for.
WORD_COLUMNS = "{text_doc author_doc}"


def _phrase(c: Clause, column: str) -> str:
    """`c` as an FTS5 phrase restricted to `column` (a column or a {column list})."""
    quoted = '"' + " ".join(t.replace('"', '""') for t in c.tokens) + '"' + (" *" if c.prefix else "")
    return f"({column} : {quoted})"


def _fts(node: Node) -> str:
    """`node` in FTS5 query syntax, every part in parentheses; tokens only ever inside quotes, every
    phrase on WORD_COLUMNS."""
    if isinstance(node, Term):
        return _phrase(node.clause, WORD_COLUMNS)
    if isinstance(node, AnyOf):
        return "(" + " OR ".join(_fts(p) for p in node.parts) + ")"
    if isinstance(node, All):
        return _combine([_fts(p) for p in node.parts if not isinstance(p, Not)],
                        [_fts(p.node) for p in node.parts if isinstance(p, Not)])
    raise TypeError(f"an exclusion stands only inside an All: {node!r}")


def _combine(positive: Sequence[str], negative: Sequence[str]) -> str:
    expr = "(" + " AND ".join(positive) + ")"
    for neg in negative:
        expr = f"({expr} NOT {neg})"  # FTS5's NOT is binary: what the left side finds, less the right
    return expr


def fts_query(words: All | None, author: Sequence[Clause], handle: str | None) -> str:
    """The FTS5 MATCH expression: the positive parts of `words` (on WORD_COLUMNS), the `author`
    clauses on author_doc and the handle token on handle_doc, ANDed, less each exclusion of `words`."""
    parts = words.parts if words else ()
    positive = [_fts(p) for p in parts if not isinstance(p, Not)]
    positive += [_phrase(c, "author_doc") for c in author]
    if handle:
        positive.append(f'(handle_doc : "h{handle.encode().hex()}")')
    return _combine(positive, [_fts(p.node) for p in parts if isinstance(p, Not)])


# How long a connection waits for another's lock (ms), and the same bound for retrying an open.
BUSY_TIMEOUT_MS = 30000


def is_lock_error(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's "database is locked" / "database is busy" (another process's lock)."""
    return isinstance(exc, sqlite3.OperationalError) and any(
        word in str(exc).lower() for word in ("database is locked", "database is busy", "database table is locked"))


@contextmanager
def creation_lock(path: str) -> Iterator[None]:
    """An exclusive lock (fcntl) on the sidecar file ``<path>.lock``, held while a catalog file is made
    WAL and given its schema, so that processes opening a fresh catalog at once do it one at a time.
    Waits as long as the holder takes; raises OSError when the sidecar cannot be opened."""
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def hamming(a: str | None, b: str | None) -> int | None:
    """Bits that differ between two 64-bit hex hashes (None if either is not one)."""
    try:
        return (int(a, 16) ^ int(b, 16)).bit_count() if a and b else None
    except ValueError:
        return None


class SqliteBackend(ThreadConnections):
    """The catalog in one SQLite file (WAL), a connection per thread; full text by FTS5."""

    placeholder = "?"
    search_schema = (
        posts_table("id INTEGER PRIMARY KEY", f"text_doc TEXT, author_doc TEXT, {HANDLE_DOC}"),
        """CREATE VIRTUAL TABLE IF NOT EXISTS posts_fts USING fts5(
            text_doc, author_doc, handle_doc, content='posts', content_rowid='id', tokenize='ascii',
            detail='full')""",
        """CREATE TRIGGER IF NOT EXISTS posts_fts_ai AFTER INSERT ON posts BEGIN
            INSERT INTO posts_fts (rowid, text_doc, author_doc, handle_doc)
            VALUES (new.id, new.text_doc, new.author_doc, new.handle_doc);
        END""",
        """CREATE TRIGGER IF NOT EXISTS posts_fts_ad AFTER DELETE ON posts BEGIN
            INSERT INTO posts_fts (posts_fts, rowid, text_doc, author_doc, handle_doc)
            VALUES ('delete', old.id, old.text_doc, old.author_doc, old.handle_doc);
        END""",
        """CREATE TRIGGER IF NOT EXISTS posts_fts_au AFTER UPDATE ON posts BEGIN
            INSERT INTO posts_fts (posts_fts, rowid, text_doc, author_doc, handle_doc)
            VALUES ('delete', old.id, old.text_doc, old.author_doc, old.handle_doc);
            INSERT INTO posts_fts (rowid, text_doc, author_doc, handle_doc)
            VALUES (new.id, new.text_doc, new.author_doc, new.handle_doc);
        END""",
    )
    integrity_error = sqlite3.IntegrityError
    doc_columns: ClassVar[dict[str, str]] = {"text_doc": "?", "author_doc": "?"}
    # Whether a catalog file that does not exist is created (empty) when first opened. The CLI turns
    # this off for the commands that only read what was archived (search, show, export...): there a
    # missing file means a mistyped path or a lost catalog, and an empty one would answer "0 posts".
    create_missing: ClassVar[bool] = True

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        if path != ":memory:" and self.create_missing:
            Path(path).parent.mkdir(parents=True, exist_ok=True)

    def _open(self) -> sqlite3.Connection:
        if not self.create_missing and self.path != ":memory:" and not Path(self.path).exists():
            raise ConfigError(f"there is no catalog at {self.path!r}: nothing was archived there (a mistyped "
                              "ARCHIVER_CATALOG or ARCHIVER_HOME?); if its storage holds archived articles, "
                              "`archiver reindex` rebuilds it")
        # A lock error left after busy_timeout (switching to WAL does not wait on it) is retried with
        # jittered backoff for as long again, then raised: an OperationalError, which
        # archiver.faults.is_infrastructure_error counts as retryable (a task retries, not drops, it).
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        delay = 0.05
        while True:
            try:
                return self._open_once()
            except sqlite3.OperationalError as exc:
                if not is_lock_error(exc) or time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 2.0)

    def _open_once(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")  # first: every later step waits on locks
            if self.path != ":memory:" and conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                with creation_lock(self.path):  # once per file: a fresh catalog, one process at a time
                    conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.row_factory = sqlite3.Row
            conn.create_function("hamming", 2, hamming, deterministic=True)
        except BaseException:
            conn.close()
            raise
        return conn

    def describe(self) -> str:
        return f"sqlite:///{self.path}"

    # --- search ---------------------------------------------------------------------------------
    def columns(self, table: str) -> set[str]:
        # table_xinfo: generated columns too
        return {row["name"] for row in self.connect().execute(f"PRAGMA table_xinfo({table})")}

    @staticmethod
    def doc_values(text_tokens: Sequence[str], author_tokens: Sequence[str], handle: str | None) -> list[Any]:
        return [" ".join(text_tokens), " ".join(author_tokens)]  # handle_doc is computed by SQLite

    @staticmethod
    def match_sql(words: All | None, author: Sequence[Clause],
                  handle: str | None) -> tuple[str, str, list[Any], str]:
        """(FROM, WHERE fragment, parameters, ORDER column): FTS5 walks its matches newest id first."""
        return FTS_SOURCE, FTS_WHERE.removeprefix(" WHERE "), [fts_query(words, author, handle)], "f.rowid"

    @staticmethod
    def rank_sql(words: All | None, author: Sequence[Clause], handle: str | None) -> tuple[str, list[Any], bool]:
        """FTS5's bm25 of the match (lower is better)."""
        return "f.rank", [], False

    @staticmethod
    def date_walk(source: str, cond: str, column: str) -> tuple[str, str]:
        """The date's index, walked newest first, each post tested against the matches (their ids
        collected once, from FTS5 alone when the full-text match is the first condition): SQLite's
        planner would rather sort every match."""
        index = {"posted_at": "posts_posted", "captured_at": "posts_captured"}[column]
        if source == FTS_SOURCE and cond.startswith(FTS_WHERE):  # the other conditions test the walked post
            rest = cond.removeprefix(FTS_WHERE)
            return f"posts p INDEXED BY {index}", f" WHERE p.id IN (SELECT rowid FROM posts_fts{FTS_WHERE}){rest}"  # noqa: S608
        return f"posts p INDEXED BY {index}", f" WHERE p.id IN (SELECT p.id FROM {source}{cond})"  # noqa: S608

    @staticmethod
    def exclude_sql(nodes: Sequence[Node]) -> tuple[str, list[Any]]:
        """Posts that FTS5 does not find for any of `nodes`."""
        return ("p.id NOT IN (SELECT rowid FROM posts_fts WHERE posts_fts MATCH ?)",
                [_fts(AnyOf(tuple(nodes)) if len(nodes) > 1 else nodes[0])])

    @contextmanager
    def serialized(self, name: str) -> Iterator[None]:
        """As Backend.serialized: a write transaction (SQLite's one write lock serializes every name)."""
        conn = self.connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def upgrade(self) -> None:
        """Give a catalog written by an older release its handle column, then rebuild the FTS table;
        then re-tokenize the words of a catalog indexed under another cut (`_retokenize`)."""
        conn = self.connect()
        if "handle_doc" not in self.columns("posts"):
            self._add_handle_doc(conn)
        self._retokenize(conn)

    def _retokenize(self, conn: sqlite3.Connection) -> None:
        """Rebuild every post's text_doc and author_doc (and the FTS table) when they were cut under
        another text.TOKEN_VERSION than this release's (recorded in catalog_meta; a catalog without it
        is older), from the posts' text, author and card words and their earlier captures' words
        (text.post_doc_tokens), in one transaction: searches see the old words or the new. About as
        long as `archiver reindex`'s indexing of the words."""
        conn.execute("CREATE TABLE IF NOT EXISTS catalog_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        done = "SELECT 1 FROM catalog_meta WHERE name = 'token_version' AND value = ?"
        if conn.execute(done, (TOKEN_VERSION,)).fetchone():
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            if not conn.execute(done, (TOKEN_VERSION,)).fetchone():
                if conn.execute("SELECT 1 FROM posts LIMIT 1").fetchone():
                    for trigger in ("posts_fts_ai", "posts_fts_ad", "posts_fts_au"):
                        conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
                    conn.execute("DROP TABLE IF EXISTS posts_fts")
                    last = -1 << 63
                    # A row without the text (or name) its words came from keeps the words it has.
                    batch = ("SELECT p.id, p.provider, p.post_id, p.capture_id, p.text, p.author, p.text_doc, "
                             "p.author_doc, c.card_text FROM posts p LEFT JOIN captures c ON c.capture_id = "
                             "p.capture_id WHERE p.id > ? ORDER BY p.id LIMIT 5000")
                    while rows := conn.execute(batch, (last,)).fetchall():
                        earlier = earlier_words(conn, [(r["provider"], r["post_id"], r["capture_id"]) for r in rows],
                                                self.placeholder)
                        docs = [(r, post_doc_tokens(r["text"], r["card_text"],
                                                    earlier.get((r["provider"], r["post_id"]), ()))) for r in rows]
                        conn.executemany("UPDATE posts SET text_doc = ?, author_doc = ? WHERE id = ?", [(
                            " ".join(doc) if doc else r["text_doc"],
                            r["author_doc"] if r["author"] is None else " ".join(tokenize(r["author"])),
                            r["id"]) for r, doc in docs])
                        last = rows[-1]["id"]
                    for stmt in self.search_schema[1:]:
                        conn.execute(stmt)
                    conn.execute("INSERT INTO posts_fts (posts_fts) VALUES ('rebuild')")
                conn.execute("INSERT INTO catalog_meta (name, value) VALUES ('token_version', ?) "
                             "ON CONFLICT (name) DO UPDATE SET value = excluded.value", (TOKEN_VERSION,))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _add_handle_doc(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if "handle_doc" not in self.columns("posts"):
                for trigger in ("posts_fts_ai", "posts_fts_ad", "posts_fts_au"):
                    conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
                conn.execute("DROP TABLE IF EXISTS posts_fts")
                conn.execute(f"ALTER TABLE posts ADD COLUMN {HANDLE_DOC}")
                for stmt in self.search_schema[1:]:
                    conn.execute(stmt)
                conn.execute("INSERT INTO posts_fts (posts_fts) VALUES ('rebuild')")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @staticmethod
    def hamming_sql(a: str, b: str) -> str:
        return f"hamming({a}, {b})"

    @staticmethod
    def page_order(matches_sql: str, params: Sequence[Any], order: str, wanted: int) -> str:
        """FTS5 hands its matches over newest id first: the walk stops after `wanted`."""
        return f"{order} DESC"

    def newest_ids(self, matches_sql: str, params: Sequence[Any], order: str, n: int) -> list[int]:
        """FTS5 hands its matches over newest id first: the walk stops after `n`."""
        rows = self.connect().execute(f"{matches_sql} ORDER BY {order} DESC LIMIT ?", (*params, n))
        return [r["id"] for r in rows]

    def rank_pool(self, source: str, cond: str, params: Sequence[Any], order: str,
                  rank: tuple[str, list[Any], bool], ids: Sequence[int]) -> list[int]:
        """bm25 comes from the FTS5 match: the matches between the oldest and the newest of `ids`
        (which are every match there) are matched again, FTS5 reading only that stretch of rowids."""
        value, rank_params, higher = rank
        sql = (f"SELECT id FROM (SELECT p.id AS id, {value} AS r FROM {source}{cond} "  # noqa: S608
               f"AND {order} >= ? AND {order} <= ?) ranked ORDER BY r {'DESC' if higher else 'ASC'}, id DESC")
        rows = self.connect().execute(sql, (*rank_params, *params, min(ids), max(ids)))
        return [r["id"] for r in rows]

    def bulk_insert(self, table: str, cols: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        conn = self.connect()
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"  # noqa: S608
        conn.execute("BEGIN")
        try:
            conn.executemany(sql, rows)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
