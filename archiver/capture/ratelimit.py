"""Per-host politeness: at most N requests in flight and R requests per second to any one host.

Every fetch holds a slot of its host while it talks to it. The local runner shares one
in-process limiter between its threads; Celery workers share a token bucket kept in Redis, so the
limits hold for the whole fleet and not per process.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from archiver.errors import MissingExtra

if TYPE_CHECKING:
    from archiver.config.settings import Settings


class LimiterTimeout(Exception):
    """No slot for the host could be had before the caller's deadline."""


class HostLimiter(Protocol):
    """Per-host slots every fetch holds: in-process (LocalHostLimiter) or shared through Redis by the workers."""

    def acquire(self, host: str, deadline: float | None = None) -> AbstractContextManager[None]:
        """Hold one slot of `host`; `deadline` is a time.monotonic() value (LimiterTimeout past it)."""
        ...


@dataclass
class _HostState:
    active: int = 0
    tokens: float = 0.0
    stamp: float = 0.0


class LocalHostLimiter:
    """Concurrency + token bucket per host, shared by the threads of one process."""

    def __init__(self, concurrency: int = 4, rate_per_second: float = 10.0) -> None:
        self.concurrency = max(1, concurrency)
        self.rate = max(0.001, rate_per_second)
        self.burst = max(1.0, self.rate)
        self._cond = threading.Condition()
        self._hosts: dict[str, _HostState] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalHostLimiter:
        return cls(settings.host_concurrency, settings.host_rate_per_second)

    def _try(self, host: str, now: float) -> float:
        """Take a slot and a token (returns 0) or say how long to wait before trying again."""
        st = self._hosts.get(host)
        if st is None:
            if len(self._hosts) >= 1024:
                self._forget_idle(now)
            st = self._hosts[host] = _HostState(tokens=self.burst, stamp=now)
        st.tokens = min(self.burst, st.tokens + (now - st.stamp) * self.rate)
        st.stamp = now
        if st.active >= self.concurrency:
            return 0.05
        if st.tokens < 1.0:
            return (1.0 - st.tokens) / self.rate
        st.tokens -= 1.0
        st.active += 1
        return 0.0

    @contextmanager
    def acquire(self, host: str, deadline: float | None = None) -> Iterator[None]:
        host = host.lower()
        with self._cond:
            while True:
                now = time.monotonic()
                wait = self._try(host, now)
                if wait == 0.0:
                    break
                if deadline is not None and now + wait > deadline:
                    raise LimiterTimeout(f"no request slot for {host} before the deadline")
                self._cond.wait(wait)
        try:
            yield
        finally:
            with self._cond:
                self._hosts[host].active -= 1
                self._cond.notify_all()

    def _forget_idle(self, now: float) -> None:
        """Drop hosts with nothing in flight and a full bucket, so the table does not grow forever."""
        for host, st in list(self._hosts.items()):
            if st.active == 0 and st.tokens + (now - st.stamp) * self.rate >= self.burst:
                del self._hosts[host]


# KEYS[1] = holders zset, KEYS[2] = bucket hash; ARGV = limit, rate, burst, holder id, lease seconds.
# Returns 0 when a slot and a token were taken, else milliseconds to wait before asking again.
_ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local limit = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local lease = tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= limit then
  return 50
end
local tokens = tonumber(redis.call('HGET', KEYS[2], 'tokens') or burst)
local stamp = tonumber(redis.call('HGET', KEYS[2], 'stamp') or now)
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
if tokens < 1 then
  redis.call('HSET', KEYS[2], 'tokens', tokens, 'stamp', now)
  redis.call('EXPIRE', KEYS[2], 3600)
  return math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[2], 'tokens', tokens - 1, 'stamp', now)
redis.call('EXPIRE', KEYS[2], 3600)
redis.call('ZADD', KEYS[1], now + lease, ARGV[4])
redis.call('EXPIRE', KEYS[1], math.ceil(lease) + 60)
return 0
"""


class RedisHostLimiter:
    """The same limits kept in Redis (one Lua script, atomic), shared by every worker.

    A slot is a lease: a worker that dies while holding one frees it after `lease` seconds.
    """

    def __init__(self, redis_url: str, settings: Settings | None = None, *, concurrency: int | None = None,
                 rate_per_second: float | None = None, lease: float = 300.0,
                 prefix: str = "archiver:host") -> None:
        try:
            import redis
        except ImportError as exc:
            raise MissingExtra("per-host limits in Redis", "redis", exc) from None

        self.concurrency = max(1, concurrency or (settings.host_concurrency if settings else 4))
        self.rate = max(0.001, rate_per_second or (settings.host_rate_per_second if settings else 10.0))
        self.burst = max(1.0, self.rate)
        self.lease = lease
        self.prefix = prefix
        self.redis = redis.Redis.from_url(redis_url, socket_timeout=10, socket_connect_timeout=5)
        self._script = self.redis.register_script(_ACQUIRE_LUA)

    @contextmanager
    def acquire(self, host: str, deadline: float | None = None) -> Iterator[None]:
        host = host.lower()
        holders, bucket = f"{self.prefix}:{host}:holders", f"{self.prefix}:{host}:bucket"
        holder = uuid.uuid4().hex
        while True:
            wait_ms = int(self._script(keys=[holders, bucket],
                                       args=[self.concurrency, self.rate, self.burst, holder, self.lease]))
            if wait_ms == 0:
                break
            wait = wait_ms / 1000
            if deadline is not None and time.monotonic() + wait > deadline:
                raise LimiterTimeout(f"no request slot for {host} before the deadline")
            time.sleep(wait)
        try:
            yield
        finally:
            self.redis.zrem(holders, holder)
