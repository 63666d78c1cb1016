"""The handles every step works with (settings, object store, catalog, coordinator, fetcher), in one
object built once per process or per CLI command, and closed once by a `with` block."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from archiver.article.decode import SourceCache
from archiver.capture.fetch import Fetcher
from archiver.catalog.backend import open_catalog
from archiver.catalog.core import Catalog
from archiver.config.settings import Settings
from archiver.coordination import Coordinator, LocalCoordinator
from archiver.steps.results import ResultGate
from archiver.storage.backend import open_store
from archiver.storage.base import ObjectStore


@dataclass
class Runtime:
    """What every step needs; built once per process (or per CLI command).

    Use it as a context manager, `with Runtime.from_settings(settings) as rt: ...`, which closes the
    fetcher's connections and the catalog on the way out; `close()` does the same by hand.
    """

    settings: Settings
    store: ObjectStore
    catalog: Catalog
    coordinator: Coordinator = field(default_factory=LocalCoordinator)
    limiter: Any = None
    _fetcher: Fetcher | None = None
    # Decoded article sources, shared by the steps of this process (see SourceCache).
    sources: SourceCache = field(default_factory=SourceCache)
    # Item results this process committed, so a late capture does not overwrite them (see ResultGate).
    results: ResultGate = field(default_factory=ResultGate)

    @classmethod
    def from_settings(cls, settings: Settings, *, coordinator: Coordinator | None = None,
                      limiter: Any = None) -> Runtime:
        """Open the store and the catalog the settings name. Raises ConfigError for bad URLs."""
        return cls(settings, open_store(settings), open_catalog(settings.catalog_url),
                   coordinator or LocalCoordinator(), limiter)

    @property
    def fetcher(self) -> Fetcher:
        """The safe fetcher, made on first use (many commands never fetch)."""
        if self._fetcher is None:
            self._fetcher = Fetcher(self.settings, self.limiter)
        return self._fetcher

    def close(self) -> None:
        """Close the fetcher's connections and the catalog; the store holds nothing to close."""
        if self._fetcher is not None:
            self._fetcher.close()
        self.catalog.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
