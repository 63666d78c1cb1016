"""PostgreSQL backend: the catalog at scale, shared by every worker and the API."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
from psycopg.rows import dict_row


class PostgresBackend:
    placeholder = "%s"

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._local = threading.local()

    def connect(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = psycopg.connect(self.dsn, autocommit=True, row_factory=dict_row, connect_timeout=10)
            self._local.conn = conn
        return conn

    def describe(self) -> str:
        return self.dsn.split("@")[-1]

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
