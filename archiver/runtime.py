"""The handles every step works with (settings, object store, catalog, coordinator, fetcher), in one
object built once per process or per CLI command, and closed once by a `with` block."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from types import TracebackType
from typing import Any

from archiver.article.decode import SourceCache
from archiver.capture.fetch import Fetcher
from archiver.catalog.backend import open_catalog
from archiver.catalog.core import Catalog
from archiver.config.settings import Settings
from archiver.coordination import Coordinator, LocalCoordinator, lock_dir_for
from archiver.steps.results import ResultGate
from archiver.storage.backend import open_store
from archiver.storage.base import ObjectStore


@dataclass
class Runtime:
    """What every step needs; built once per process (or per CLI command).

    Use it as a context manager, `with Runtime.from_settings(settings) as rt: ...`, which closes the
    capture pool, the fetcher's connections and the catalog on the way out; `close()` does the same by
    hand.
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
    # The local runner's capture threads, shared by every article this Runtime archives (capture_pool).
    _pool: ThreadPoolExecutor | None = field(default=None, repr=False)
    _pool_pid: int = field(default=0, repr=False)
    _pool_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, *, coordinator: Coordinator | None = None,
                      limiter: Any = None) -> Runtime:
        """Open the store and the catalog the settings name. Raises ConfigError for bad URLs."""
        store = open_store(settings)
        # Local locks are shared with the other processes using this storage on this host, from the
        # first lock taken (two `archiver archive` runs of one article, a sweep beside them).
        local = LocalCoordinator(partial(lock_dir_for, store, settings.home_path)) if coordinator is None else None
        return cls(settings, store, open_catalog(settings.catalog_url), coordinator or local, limiter)

    @property
    def fetcher(self) -> Fetcher:
        """The safe fetcher, made on first use (many commands never fetch)."""
        if self._fetcher is None:
            self._fetcher = Fetcher(self.settings, self.limiter)
        return self._fetcher

    def capture_pool(self) -> ThreadPoolExecutor:
        """The thread pool the local runner captures items on: `capture_threads` threads, made on first
        use and shared by every article archived on this Runtime (a pool per article started a thread per
        item), shut down by `close()`. A forked child gets a pool of its own (threads do not survive a
        fork)."""
        with self._pool_lock:
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = ThreadPoolExecutor(max_workers=max(1, self.settings.capture_threads),
                                                thread_name_prefix="capture")
                self._pool_pid = os.getpid()
            return self._pool

    def close(self) -> None:
        """Shut the capture pool down (captures not started are cancelled; running ones are waited for,
        each bounded by its article's deadline), then close the fetcher's connections and the catalog;
        the store holds nothing to close."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None and self._pool_pid == os.getpid():
            pool.shutdown(wait=True, cancel_futures=True)
        if self._fetcher is not None:
            self._fetcher.close()
        self.catalog.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
