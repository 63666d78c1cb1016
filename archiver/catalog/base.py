"""What the Catalog asks of a backend, and what the SQLite and PostgreSQL backends share.

The Catalog (core.py) speaks portable SQL; a backend (sqlite.py, postgres.py) supplies its
connections, its placeholder, its `posts` table and full-text machinery, and its upgrades.
Both keep one connection per thread (`ThreadConnections`): SQLite and psycopg connections are not
shared between threads, and the local runner's thread pool and the API's workers write at once.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Protocol

from archiver.catalog.text import Clause


class Backend(Protocol):
    """A catalog database: SQLite (sqlite.py) or PostgreSQL (postgres.py).

    `placeholder` is its parameter mark ("?" or "%s"); `search_schema` creates its `posts` table
    and full-text index; `doc_columns` maps each full-text column of `posts` to the SQL of its value
    (`?` marks where `doc_values` go); `integrity_error` is what a unique-key clash raises.
    """

    placeholder: str
    search_schema: Sequence[str]
    integrity_error: type[Exception]
    doc_columns: dict[str, str]

    def connect(self) -> Any: ...
    def describe(self) -> str: ...
    def close(self) -> None: ...
    def columns(self, table: str) -> set[str]: ...
    def doc_values(self, text_tokens: Sequence[str], author_tokens: Sequence[str],
                   handle: str | None) -> list[Any]: ...
    def match_sql(self, words: Sequence[Clause], author: Sequence[Clause],
                  handle: str | None) -> tuple[str, str, list[Any], str]: ...
    def upgrade(self) -> None: ...
    def hamming_sql(self, a: str, b: str) -> str: ...
    def page_order(self, matches_sql: str, params: Sequence[Any], order: str, wanted: int) -> str: ...
    def bulk_insert(self, table: str, cols: Sequence[str], rows: Sequence[Sequence[Any]]) -> None: ...


class ThreadConnections:
    """One database connection per thread, opened on the thread's first `connect()`.

    A backend subclasses it and gives `_open()` (a new connection, ready to use); `_usable(conn)`
    says whether a thread's connection can still serve (True unless a backend knows better).
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def connect(self) -> Any:
        """This thread's connection, opened when it has none (or none it can still use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or not self._usable(conn):
            conn = self._open()
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's connection, if it has one; the next `connect()` opens another."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _open(self) -> Any:
        raise NotImplementedError

    def _usable(self, conn: Any) -> bool:
        return True
