"""TODO docstring."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archiver.capture.fetch import Fetcher
from archiver.catalog.backend import open_catalog
from archiver.catalog.core import Catalog
from archiver.config.settings import Settings
from archiver.coordination import Coordinator, LocalCoordinator
from archiver.storage.backend import open_store
from archiver.storage.base import ObjectStore


# --- runtime -----------------------------------------------------------------------------------
@dataclass
class Runtime:
    """What every step needs; built once per process (or per CLI command)."""

    settings: Settings
    store: ObjectStore
    catalog: Catalog
    coordinator: Coordinator = field(default_factory=LocalCoordinator)
    limiter: Any = None
    _fetcher: Any = None

    @classmethod
    def from_settings(cls, settings: Settings, *, coordinator: Coordinator | None = None,
                      limiter: Any = None) -> Runtime:
        return cls(settings, open_store(settings), open_catalog(settings.catalog_url),
                   coordinator or LocalCoordinator(), limiter)

    @property
    def fetcher(self) -> Any:
        if self._fetcher is None:

            self._fetcher = Fetcher(self.settings, self.limiter)
        return self._fetcher

    def close(self) -> None:
        if self._fetcher is not None:
            self._fetcher.close()
        self.catalog.close()
