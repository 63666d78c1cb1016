"""Opening the catalog: picks the SQLite or PostgreSQL backend from the catalog URL."""


from __future__ import annotations

from archiver.catalog.core import Catalog
from archiver.catalog.postgres import PostgresBackend
from archiver.catalog.sqlite import SqliteBackend
from archiver.errors import ConfigError
from archiver.redact import redact_url


def open_catalog(url: str) -> Catalog:
    """The Catalog for `sqlite:///path` or `postgresql://...` (connects lazily); ConfigError for any other URL."""
    if url.startswith("sqlite:///"):

        return Catalog(SqliteBackend(url.removeprefix("sqlite:///")))
    if url.startswith(("postgresql://", "postgres://")):

        return Catalog(PostgresBackend(url))
    raise ConfigError(f"ARCHIVER_CATALOG={redact_url(url)!r}: expected sqlite:///path or postgresql://...")
