"""Coordination between concurrent captures: locks and per-article completion sets.

In-process for the local runner (shared with the other processes on this host through lock files,
once `share_locks` has been called), Redis for Celery workers; the pipeline only sees this interface.
A Redis lock lives as long as the process holding it: it is leased for a few seconds and renewed
while held, so a worker killed mid-capture frees it within one lease, not after the longest task.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from archiver.errors import MissingExtra
from archiver.storage.base import ObjectStore
from archiver.storage.local import LocalStore

if TYPE_CHECKING:
    from archiver.records.plan import Plan
    from archiver.runtime import Runtime

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
    """Locks and done-sets for the local runner; nothing expires.

    A lock is always this process's (one per name, between threads). Given a lock directory (at
    construction or by `share`), it is also every process's that shares the directory: the holder
    holds an exclusive ``flock`` on ``<dir>/<sha256 of the name>.lock``, released by the kernel when the
    process ends however it ends, so two `archiver archive` runs of one article serialize their
    captures and version writes as the workers do on Redis. Done-sets stay in this process's memory
    (only the workers count completions)."""

    def __init__(self, lock_dir: Path | str | Callable[[], Path] | None = None) -> None:
        """`lock_dir`: where locks are shared with other processes; a callable gives it on the first
        lock (so a command that takes none makes no directory); None: this process's locks only."""
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._done: dict[str, set[str]] = defaultdict(set)
        self._dir: Path | None = None
        self._pending: Callable[[], Path] | None = None
        if callable(lock_dir):
            self._pending = lock_dir
        elif lock_dir is not None:
            self.share(lock_dir)

    def _shared(self) -> Path | None:
        """The lock directory, resolving a pending one on first use (a directory that cannot be made
        leaves the locks this process's, logged once)."""
        with self._guard:
            pending, self._pending = self._pending, None
        if pending is not None:
            try:
                self.share(pending())
            except OSError as exc:
                log.warning("locks not shared with other processes (%s): run one archiver at a time here",
                            exc.strerror or exc)
        with self._guard:
            return self._dir

    @property
    def lock_dir(self) -> Path | None:
        """Where the locks are shared with other processes; None while they are this process's only."""
        return self._dir

    def share(self, lock_dir: Path | str) -> None:
        """Hold the locks taken from now on across the processes sharing `lock_dir` (made if missing).
        OSError when the directory cannot be made."""
        path = Path(lock_dir)
        path.mkdir(parents=True, exist_ok=True)
        with self._guard:
            self._dir = path

    @contextmanager
    def lock(self, name: str, timeout: float = 120.0) -> Iterator[None]:
        give_up = time.monotonic() + timeout
        shared = self._shared()
        with self._guard:
            lk = self._locks[name]
        if not lk.acquire(timeout=timeout):
            raise TimeoutError(f"lock {name!r} not acquired within {timeout:.0f}s")
        try:
            if shared is None:
                yield
            else:
                with _file_lock(shared / _lock_file(name), name, timeout, give_up):
                    yield
        finally:
            lk.release()

    def held(self, name: str) -> bool:
        """Whether this process or (when shared) another one holds the lock `name` now."""
        shared = self._shared()
        with self._guard:
            lk = self._locks.get(name)
        if lk is not None and lk.locked():
            return True
        if shared is None:
            return False
        try:
            fd = os.open(shared / _lock_file(name), os.O_RDWR)
        except FileNotFoundError:
            return False  # a holder removes the file as it lets go
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # releases what it took
        return False

    def mark_done(self, group: str, member: str) -> int:
        with self._guard:
            self._done[group].add(member)
            return len(self._done[group])


def plan_done_group(plan: Plan) -> str:
    """The name of `plan`'s own done-set: its group (``<article id>:<source sha256>``) and a digest of its
    item ids. A plan that replaced another of the same source with other items (planned again after a
    corrected charset or base URL) starts a set of its own, so what the replaced plan marked done never
    counts towards it; plans with the same items share one (their results are the same objects)."""
    ids = "\n".join(sorted({it.item_id for it in plan.items}))
    return f"{plan.group}:{hashlib.sha256(ids.encode()).hexdigest()[:32]}"


def mark_item_done(coord: Coordinator, plan: Plan, item_id: str) -> int:
    """Mark `item_id` done in `plan`'s own done-set (`plan_done_group`) and return how many of the plan's
    items are marked done: at most ``len(plan.items)``, and that only once each of them is (the caller
    that sees the total writes the version). An id the plan does not hold (an item of a plan replaced
    since) marks nothing and returns 0. Idempotent, as `mark_done` is."""
    if not any(it.item_id == item_id for it in plan.items):
        log.info("article %s: item %s is not in the plan of source %s; not counted as done",
                 plan.article_id, item_id, plan.source_sha256[:12])
        return 0
    return coord.mark_done(plan_done_group(plan), item_id)


def _lock_file(name: str) -> str:
    """The file a shared lock is held on: the name's SHA-256 (any name, a safe file name)."""
    return hashlib.sha256(name.encode()).hexdigest() + ".lock"


@contextmanager
def _file_lock(path: Path, name: str, timeout: float, give_up: float) -> Iterator[None]:
    """Hold an exclusive flock on `path` (polled every 50 ms until time.monotonic() reaches `give_up`;
    TimeoutError then). The holder removes the file before letting go, so lock files do not pile up: a
    waiter that gets the lock of a file no longer at `path` tries again on the one there now."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    left = give_up - time.monotonic()
                    if left <= 0:
                        raise TimeoutError(f"lock {name!r} not acquired within {timeout:.0f}s") from None
                    time.sleep(min(0.05, left))
            try:
                now, mine = os.stat(path), os.fstat(fd)
                current = (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino)
            except FileNotFoundError:
                current = False
        except BaseException:
            os.close(fd)
            raise
        if current:
            break
        os.close(fd)  # its holder removed it: take the one at `path` now
    try:
        yield
    finally:
        with suppress(OSError):
            os.unlink(path)
        os.close(fd)


def lock_dir_for(store: ObjectStore, home: Path) -> Path:
    """Where the processes using `store` share their local locks: ``.locks`` under a local store's root
    (archiver.storage.local), else ``locks`` under the home directory."""
    return store.lock_dir() if isinstance(store, LocalStore) else home / "locks"


def share_locks(rt: Runtime) -> None:
    """Make the runtime's local locks hold across the processes on this host that use the same storage
    (what the local runner and every version write call first; idempotent, cheap once done). The lock
    directory is the local store's (``.locks`` under its root, archiver.storage.local); with another
    store, ``locks`` under the home directory. Nothing to do for Redis locks; a directory that cannot be
    made leaves the locks this process's (logged)."""
    coord = rt.coordinator
    if not isinstance(coord, LocalCoordinator) or coord._shared() is not None:
        return
    lock_dir = lock_dir_for(rt.store, rt.settings.home_path)
    try:
        coord.share(lock_dir)
    except OSError as exc:
        log.warning("locks not shared with other processes (%s: %s): run one archiver at a time on %s",
                    lock_dir, exc.strerror or exc, rt.store.describe())


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
