"""Coordination between concurrent captures: locks and per-article completion sets.

In-process for the local runner, Redis for Celery workers; the pipeline only sees this interface.
A Redis lock lives as long as the process holding it: it is leased for a few seconds and renewed
while held, so a worker killed mid-capture frees it within one lease, not after the longest task.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import Protocol

from archiver.errors import MissingExtra

log = logging.getLogger(__name__)


class Coordinator(Protocol):
    """What the pipeline needs: named locks (timeout in seconds; TimeoutError if not acquired) and done-sets."""

    def lock(self, name: str, timeout: float = 120.0) -> AbstractContextManager[None]: ...

    def mark_done(self, group: str, member: str) -> int:
        """Add member to the group's done-set and return the set's size (idempotent)."""
        ...

    def held(self, name: str) -> bool:
        """Whether someone holds the lock `name` now (a capture still running, for the sweeper)."""
        ...


class LocalCoordinator:
    """Locks and done-sets in this process's memory, for the local runner; nothing expires."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._done: dict[str, set[str]] = defaultdict(set)

    @contextmanager
    def lock(self, name: str, timeout: float = 120.0) -> Iterator[None]:
        with self._guard:
            lk = self._locks[name]
        if not lk.acquire(timeout=timeout):
            raise TimeoutError(f"lock {name!r} not acquired within {timeout:.0f}s")
        try:
            yield
        finally:
            lk.release()

    def held(self, name: str) -> bool:
        with self._guard:
            lk = self._locks.get(name)
        return lk is not None and lk.locked()

    def mark_done(self, group: str, member: str) -> int:
        with self._guard:
            self._done[group].add(member)
            return len(self._done[group])


class RedisCoordinator:
    """Locks and done-sets in Redis, shared by every worker process."""

    def __init__(self, url: str, prefix: str = "archiver", ttl: int = 7 * 24 * 3600, lease: float = 30.0) -> None:
        try:  # the Redis client only where Redis is used: the local runner starts without it
            import redis
        except ImportError as exc:
            raise MissingExtra("locks in Redis", "redis", exc) from None

        self.errors: tuple[type[Exception], ...] = (redis.exceptions.LockError, redis.exceptions.RedisError)
        self.lock_error: type[Exception] = redis.exceptions.LockError
        self.redis = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
        self.prefix = prefix
        self.ttl = ttl
        self.lease = max(1.0, lease)

    @contextmanager
    def lock(self, name: str, timeout: float = 120.0) -> Iterator[None]:
        """Wait up to `timeout` seconds for the lock; hold it, renewed every third of a lease, until done."""
        # thread_local=False: the renewing thread must see the token the acquiring thread got.
        lk = self.redis.lock(f"{self.prefix}:lock:{name}", timeout=self.lease, blocking_timeout=timeout,
                             thread_local=False)
        if not lk.acquire():
            raise TimeoutError(f"lock {name!r} not acquired within {timeout:.0f}s")
        done = threading.Event()

        def renew() -> None:
            while not done.wait(self.lease / 3):
                try:
                    lk.reacquire()
                except self.errors as exc:
                    log.warning("lock %s lost while held: %s", name, exc)
                    return

        renewer = threading.Thread(target=renew, name=f"lock-renew:{name}", daemon=True)
        renewer.start()
        try:
            yield
        finally:
            done.set()
            renewer.join()
            with suppress(self.lock_error):  # an expired lock is already gone
                lk.release()

    def held(self, name: str) -> bool:
        """Whether the lock exists in Redis: held and renewed, or its holder died less than a lease ago."""
        return bool(self.redis.exists(f"{self.prefix}:lock:{name}"))

    def mark_done(self, group: str, member: str) -> int:
        key = f"{self.prefix}:done:{group}"
        pipe = self.redis.pipeline()
        pipe.sadd(key, member)
        pipe.expire(key, self.ttl)
        pipe.scard(key)
        return int(pipe.execute()[2])

    def attempt(self, task_id: str) -> int:
        """Count deliveries of one task; bounded redelivery after a worker died."""
        key = f"{self.prefix}:attempts:{task_id}"
        pipe = self.redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, self.ttl)
        return int(pipe.execute()[0])
