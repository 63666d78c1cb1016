"""What the Catalog asks of a backend, and what the SQLite and PostgreSQL backends share.

The Catalog (core.py) speaks portable SQL; a backend (sqlite.py, postgres.py) supplies its
connections, its placeholder, its `posts` table and full-text machinery, and its upgrades.
Both keep one connection per thread (`ThreadConnections`): SQLite and psycopg connections are not
shared between threads, and the local runner's thread pool and the API's workers write at once.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    # Only named in annotations: a backend is opened by commands that never search (archive, show), and
    # the search syntax loads the provider registry.
    from archiver.catalog.syntax import All, Node
    from archiver.catalog.text import Clause

# The most rows one catalog query or search page returns (SearchQuery's `limit` is at most this).
MAX_LIMIT = 1000
# The largest integer SQLite and PostgreSQL take as a parameter (a signed 64-bit integer).
SQL_INT_MAX = (1 << 63) - 1


def row_window(limit: int, offset: int) -> tuple[int, int]:
    """``limit`` and ``offset`` as SQL takes them: 1 to SQL_INT_MAX rows, 0 to SQL_INT_MAX skipped.
    A larger offset than any table holds returns no rows either way; without the bound Python's ints
    (a hostile ``offset=9223372036854775808``) overflow the driver (OverflowError, a 500)."""
    return max(1, min(int(limit), SQL_INT_MAX)), max(0, min(int(offset), SQL_INT_MAX))


class Backend(Protocol):
    """A catalog database: SQLite (sqlite.py) or PostgreSQL (postgres.py). A new backend implements
    what follows and gets its URL scheme in backend.py (`open_catalog`); the Catalog (core.py) and
    the search (search.py) write the rest in portable SQL. `ThreadConnections` gives `connect` and
    `close`. Every method may raise the database driver's own errors (connection lost, bad SQL); the
    Catalog does not translate them.

    `placeholder` is its parameter mark ("?" or "%s"): the Catalog writes `?` and replaces it.
    `search_schema` are the statements (each idempotent, `IF NOT EXISTS`) that create its `posts`
    table (`schema.posts_table` with the backend's id column and full-text columns) and full-text
    index. `doc_columns` maps each full-text column of `posts` to the SQL of its value, `?` marking
    where the values of `doc_values` go, in order. `integrity_error` is the exception class a
    unique-key clash raises (the Catalog catches it to retry a post id that is taken).
    """

    placeholder: str
    search_schema: Sequence[str]
    integrity_error: type[Exception]
    doc_columns: dict[str, str]

    def connect(self) -> Any:
        """This thread's connection, opened on first use (one per thread: the local runner's pool
        and the API's workers write at once). In autocommit mode: each statement commits on its own.
        `execute(sql, params)` on it takes SQL with this backend's placeholders and a tuple, and
        returns a cursor whose `fetchone()` / `fetchall()` rows are read by column name
        (`row["col"]`, `dict(row)`). Raises the driver's error when the database cannot be reached."""
        ...

    def serialized(self, name: str) -> AbstractContextManager[None]:
        """A block that no other process or thread runs under the same `name` at once, on this thread's
        connection (the Catalog's read-then-write of one post's search row). SQLite: a write
        transaction (BEGIN IMMEDIATE ... COMMIT, rolled back on an error; a unique-key clash inside
        undoes only its statement). PostgreSQL: a session advisory lock on the name's hash, the
        statements still autocommitted one by one. Waits as long as the driver's own lock timeout."""
        ...

    def describe(self) -> str:
        """Where the catalog is, for messages ("sqlite:///path", "postgresql://user:***@host:port/db"): its
        URL with credentials masked (archiver.redact.redact_url)."""
        ...

    def close(self) -> None:
        """Close this thread's connection, if it has one; the next `connect()` opens another."""
        ...

    def columns(self, table: str) -> set[str]:
        """The names of `table`'s columns (generated ones included); empty if there is no such table.
        Schema upgrades use it to see which columns an older catalog lacks."""
        ...

    def doc_values(self, text_tokens: Sequence[str], author_tokens: Sequence[str],
                   handle: str | None) -> list[Any]:
        """The values of a post's full-text columns, one per `?` in `doc_columns` (in its order), from
        the post's text and author tokens (already cut and folded by catalog/text.py) and its
        normalized handle (None if it has none). Pure: no database access."""
        ...

    def match_sql(self, words: All | None, author: Sequence[Clause],
                  handle: str | None) -> tuple[str, str, list[Any], str]:
        """How to find the posts matching `words` (a parsed query's full-text tree, archiver/catalog/
        syntax.py: terms anywhere in the text, ANDed, ORed and excluded as the tree says), holding
        every clause of `author` (in the author's name), and, when `handle` (normalized) is given, by
        that handle: `(from_sql, where_sql, params, order_column)`. `from_sql` names `posts` as `p`
        (joined to whatever else the index needs); `where_sql` is one condition with `?` marks for
        `params`; `order_column` is an SQL expression that orders like `p.id` (a higher id is a post
        first captured later), the one the search pages by. Each clause is a phrase (its tokens next
        to each other, the last one a prefix when `prefix`). Something positive is given: a part of
        `words` that is not an exclusion, a clause of `author`, or `handle`."""
        ...

    def rank_sql(self, words: All | None, author: Sequence[Clause],
                 handle: str | None) -> tuple[str, list[Any], bool]:
        """(expression, params, higher_is_better): the relevance of a match of the same arguments,
        an SQL value usable with `match_sql`'s FROM and WHERE (`?` marks for the params): FTS5's
        bm25 (lower is better) or PostgreSQL's ts_rank (higher is better)."""
        ...

    def date_walk(self, source: str, cond: str, column: str) -> tuple[str, str]:
        """(from_sql, where_sql) selecting the same posts as `source` + `cond` (a FROM naming `posts`
        as `p` and " WHERE ..." or "", with the same params), written so that a query adding
        `p.<column> IS NOT NULL` and ORDER BY `p.<column> DESC, p.id DESC` with a LIMIT walks the
        column's index newest first rather than sorting every match. `column`: posted_at or
        captured_at."""
        ...

    def exclude_sql(self, nodes: Sequence[Node]) -> tuple[str, list[Any]]:
        """(where_sql, params): one condition on `p` that holds for posts matching none of `nodes`
        (full-text subtrees), for a query whose only words are exclusions next to a filter."""
        ...

    def upgrade(self) -> None:
        """Bring full-text data written by an older release up to this one (rebuild the index, add a
        column), after `search_schema` ran. Idempotent and cheap when there is nothing to do, and safe
        when several processes open the same catalog at once (one does the work; searches meanwhile
        see the old data or the new, never half of it)."""
        ...

    def hamming_sql(self, a: str, b: str) -> str:
        """An SQL expression for the number of bits that differ between `a` and `b`, each an SQL
        expression (a column or `?`) holding a 64-bit hash as 16 hex digits: the distance near-image
        search filters and sorts by."""
        ...

    def page_order(self, matches_sql: str, params: Sequence[Any], order: str, wanted: int) -> str:
        """The ORDER BY (without the keywords) for one page of a search with more matches than the
        count cap: newest first by `order` (the `order_column` of `match_sql`), `wanted` the rows up to
        the end of the page. `matches_sql` (already in this backend's placeholders, with `params`)
        selects the matches, should the backend want to estimate how many there are to choose a plan."""
        ...

    def newest_ids(self, matches_sql: str, params: Sequence[Any], order: str, n: int) -> list[int]:
        """The ids of the `n` newest matches (all of them when there are fewer), newest first by
        `order` (the `order_column` of `match_sql`). `matches_sql` (in this backend's placeholders,
        with `params`) selects the matches' `order` as `id`; the backend adds the ordering and limit
        (and may add conditions that select the same first `n`)."""
        ...

    def rank_pool(self, source: str, cond: str, params: Sequence[Any], order: str,
                  rank: tuple[str, list[Any], bool], ids: Sequence[int]) -> list[int]:
        """`ids` best first by `rank` (what `rank_sql` gave), ties newest first. `ids` are the newest
        matches of `source` + `cond` (`?` marks, with `params`), and every match between the oldest
        and the newest of them, so the backend may match that stretch again or rank the ids alone."""
        ...

    def bulk_insert(self, table: str, cols: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert `rows` (values in `cols` order) into `table` at once, in one transaction: all of
        them or, on any error (which is raised), none. For loading a fresh or cleared catalog
        (`Catalog.load_posts`), so no upsert: a row whose key is already there raises
        `integrity_error`."""
        ...


# Connections a forked child inherited (ThreadConnections._after_fork): referenced, never closed.
_INHERITED: list[Any] = []
# Every ThreadConnections of this process, for the fork hook.
_BACKENDS: weakref.WeakSet[ThreadConnections] = weakref.WeakSet()


def _alive(ref: weakref.ref[threading.Thread]) -> bool:
    thread = ref()
    return thread is not None and thread.is_alive()


class ThreadConnections:
    """One database connection per thread, opened on the thread's first `connect()` and kept for the
    thread's next calls (opening one costs several ms: a connect, pragmas or a session setting).

    A backend subclasses it and gives `_open()` (a new connection, ready to use); `_usable(conn)`
    says whether a thread's connection can still serve (True unless a backend knows better).

    Connections never cross a fork: a process forked after opening some (a Celery pool process from
    a warmed parent) opens its own on first use and leaves the inherited ones alone, never closing
    them (that would end the parent's PostgreSQL session, or touch its SQLite locks). `close()`
    closes every connection this process opened, so it is called once no other thread uses the
    backend any more; a thread that ended leaves its connection to be closed by the next open.
    """

    def __init__(self) -> None:
        self._local = threading.local()
        self._pid = os.getpid()
        self._gen = 0  # bumped by close() and by a fork: a thread's connection of an older one is not used
        self._conns_lock = threading.Lock()
        # This process's connections, by the thread that opened them (to close a dead thread's).
        self._conns: list[tuple[weakref.ref[threading.Thread], Any]] = []
        _BACKENDS.add(self)

    def connect(self) -> Any:
        """This thread's connection, opened when it has none (or none it can still use, or one from
        before `close()` or a fork)."""
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is not None and local.gen == self._gen and local.pid == os.getpid() and self._usable(conn):
            return conn
        fresh = self._open()
        with self._conns_lock:
            self._after_fork()
            gone = [c for ref, c in self._conns if c is conn or not _alive(ref)]
            self._conns = [(ref, c) for ref, c in self._conns if c is not conn and _alive(ref)]
            self._conns.append((weakref.ref(threading.current_thread()), fresh))
            local.conn, local.gen, local.pid = fresh, self._gen, os.getpid()
        for c in gone:  # an unusable one, or a dead thread's: no thread of this process uses it
            with contextlib.suppress(Exception):
                c.close()
        return fresh

    def close(self) -> None:
        """Close every connection this process opened (none inherited from before a fork); the next
        `connect()` of any thread opens another."""
        with self._conns_lock:
            self._after_fork()
            conns, self._conns = self._conns, []
            self._gen += 1
        self._local.conn = None
        for _, c in conns:
            c.close()

    def _after_fork(self) -> None:
        """In a forked child: forget the parent's connections, keeping them referenced so that they are
        never closed, not even by the garbage collector (under the lock, or from the fork hook)."""
        if self._pid != os.getpid():
            _INHERITED.extend(c for _, c in self._conns)
            self._conns, self._pid = [], os.getpid()
            self._gen += 1

    def _forked(self) -> None:
        """The fork hook, in the child: a fresh lock (another thread may have held it at the fork)."""
        self._conns_lock = threading.Lock()
        self._after_fork()

    def _open(self) -> Any:
        raise NotImplementedError

    def _usable(self, conn: Any) -> bool:
        return True


def _after_fork_in_child() -> None:
    for backend in list(_BACKENDS):
        backend._forked()


os.register_at_fork(after_in_child=_after_fork_in_child)
