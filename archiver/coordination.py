"""Coordination between concurrent captures: locks and per-article completion sets.

In-process for the local runner, Redis for Celery workers; the pipeline only sees this interface.
A Redis lock lives as long as the process holding it: it is leased for a few seconds and renewed
while held, so a worker killed mid-capture frees it within one lease, not after the longest task.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
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


# KEYS[1] = the lock; ARGV[1] = the holder's token (ARGV[2] = the lease in ms): only the holder
# releases or renews its lock, so a lock that expired and was taken by another is left alone.
_RELEASE_LUA = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
_RENEW_LUA = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"


class RedisCoordinator:
    """Locks and done-sets in Redis, shared by every worker process.

    A lock is one key, set with NX to a random token and a lease (one round trip to take, one to
    release); one renewing thread per process extends every lock the process holds, every third of
    a lease, in one pipelined round trip (no thread per lock)."""

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
        self._release = self.redis.register_script(_RELEASE_LUA)
        self._renew = self.redis.register_script(_RENEW_LUA)
        self._guard = threading.Lock()
        self._held: dict[str, bytes] = {}  # lock key -> this process's token
        self._renewer: tuple[int, threading.Thread] | None = None  # (pid, thread): none yet in a forked child

    @contextmanager
    def lock(self, name: str, timeout: float = 120.0) -> Iterator[None]:
        """Wait up to `timeout` seconds for the lock (polled every 0.1 s); hold it, renewed every third of
        a lease, until done. TimeoutError when not acquired in time; redis errors as they come."""
        key = f"{self.prefix}:lock:{name}"
        token = uuid.uuid4().hex.encode()
        lease_ms = int(self.lease * 1000)
        give_up = time.monotonic() + timeout
        while not self.redis.set(key, token, nx=True, px=lease_ms):
            left = give_up - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"lock {name!r} not acquired within {timeout:.0f}s")
            time.sleep(min(0.1, left))
        self._hold(key, token)
        try:
            yield
        finally:
            with self._guard:
                self._held.pop(key, None)
            with suppress(*self.errors):  # unreachable Redis: the lease ends it
                self._release(keys=[key], args=[token])

    def _hold(self, key: str, token: bytes) -> None:
        """Count the lock among those this process renews, starting the renewing thread if needed."""
        pid = os.getpid()
        with self._guard:
            if self._renewer is None or self._renewer[0] != pid:
                if self._renewer is not None:  # forked: the parent's locks are not this process's
                    self._held.clear()
                thread = threading.Thread(target=self._renew_held, name="lock-renew", daemon=True)
                self._renewer = (pid, thread)
                thread.start()
            self._held[key] = token

    def _renew_held(self) -> None:
        """The renewing thread: every third of a lease, extend every held lock (one pipeline)."""
        lease_ms = int(self.lease * 1000)
        while True:
            time.sleep(self.lease / 3)
            with self._guard:
                held = list(self._held.items())
            if not held:
                continue
            try:
                pipe = self.redis.pipeline(transaction=False)
                for key, token in held:
                    self._renew(keys=[key], args=[token, lease_ms], client=pipe)
                renewed = pipe.execute()
            except self.errors as exc:
                log.warning("locks %s not renewed: %s", ", ".join(k for k, _ in held), exc)
                continue
            for (key, token), ok in zip(held, renewed, strict=True):
                if not ok:
                    with self._guard:
                        if self._held.get(key) == token:
                            log.warning("lock %s lost while held", key)
                            del self._held[key]

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
        pipe = self.redis.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, self.ttl)
        return int(pipe.execute()[0])
