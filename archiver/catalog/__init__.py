"""The catalog: an index over object storage (which stays the truth), on SQLite or PostgreSQL.

`open_catalog(url)` picks the backend from the URL; both speak the same portable SQL here, and
each backend module only supplies connections and its own full-text machinery.
"""

from __future__ import annotations

from archiver.catalog.core import Catalog
from archiver.errors import ConfigError

__all__ = ["Catalog", "open_catalog"]


def open_catalog(url: str) -> Catalog:
    if url.startswith("sqlite:///"):
        from archiver.catalog.sqlite import SqliteBackend

        return Catalog(SqliteBackend(url.removeprefix("sqlite:///")))
    if url.startswith(("postgresql://", "postgres://")):
        from archiver.catalog.postgres import PostgresBackend

        return Catalog(PostgresBackend(url))
    raise ConfigError(f"ARCHIVER_CATALOG={url!r}: expected sqlite:///path or postgresql://...")
