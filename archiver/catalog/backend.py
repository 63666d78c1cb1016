"""Opening the catalog: picks the SQLite or PostgreSQL backend from the catalog URL.

The backend's module is imported when a catalog of its kind is opened, by the URL's scheme: a local
run does not load the PostgreSQL backend's code, nor a server the SQLite one's.
"""


from __future__ import annotations

import importlib

from archiver.catalog.core import Catalog
from archiver.errors import ConfigError
from archiver.redact import redact_url


def open_catalog(url: str) -> Catalog:
    """The Catalog for `sqlite:///path` or `postgresql://...` (connects lazily); ConfigError for any other URL."""
    if url.startswith("sqlite:///"):
        sqlite = importlib.import_module("archiver.catalog.sqlite")
        return Catalog(sqlite.SqliteBackend(url.removeprefix("sqlite:///")))
    if url.startswith(("postgresql://", "postgres://")):
        postgres = importlib.import_module("archiver.catalog.postgres")
        return Catalog(postgres.PostgresBackend(url))
    raise ConfigError(f"ARCHIVER_CATALOG={redact_url(url)!r}: expected sqlite:///path or postgresql://...")
