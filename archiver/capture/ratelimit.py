"""Per-host politeness: at most N requests in flight and R requests per second to any one host.

Every fetch holds a slot of its host while it talks to it. The local runner shares one
in-process limiter between its threads; Celery workers share a token bucket kept in Redis, so the
limits hold for the whole fleet and not per process.

Two classes of host (archiver.capture.ownsite): a host of the article's own site (its registrable
domain when the plan trusts it, a configured ``own_sites`` domain or ``own_hosts`` entry) gets
``own_host_concurrency`` / ``own_host_rate_per_second``; every other host ``host_concurrency`` /
``host_rate_per_second``. The two classes keep separate buckets, so a host that is one article's own
site and another's third party is bounded by the sum.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from archiver.capture.ownsite import OwnSites, normal_host
from archiver.errors import MissingExtra

if TYPE_CHECKING:
    from archiver.config.settings import Settings


class LimiterTimeout(Exception):
    """No slot for the host could be had before the caller's deadline."""


class HostLimiter(Protocol):
    """Per-host slots every fetch holds: in-process (LocalHostLimiter) or shared through Redis by the workers."""

    def acquire(self, host: str, deadline: float | None = None) -> AbstractContextManager[None]:
        """Hold one slot of `host` (own-site or third-party limits, by the article whose capture runs in
        this context); `deadline` is a time.monotonic() value (LimiterTimeout past it)."""
        ...


@dataclass(frozen=True)
class Limits:
    """One class of host's limits: requests in flight and requests per second (burst: one second's worth)."""

    concurrency: int
    rate: float

    @classmethod
    def of(cls, concurrency: int, rate: float) -> Limits:
        return cls(max(1, int(concurrency)), max(0.001, float(rate)))

    @property
    def burst(self) -> float:
        return max(1.0, self.rate)


class _ThirdPartyLimits:
    """The third-party limits of a limiter (its `limits`), read as `concurrency` and `rate`."""

    limits: Limits

    @property
    def concurrency(self) -> int:
        """Requests in flight to one third-party host."""
        return self.limits.concurrency

    @property
    def rate(self) -> float:
        """Requests per second to one third-party host."""
        return self.limits.rate


@dataclass
class _HostState:
    active: int = 0
    tokens: float = 0.0
    stamp: float = 0.0


class LocalHostLimiter(_ThirdPartyLimits):
    """Concurrency + token bucket per host, shared by the threads of one process.

    `concurrency`/`rate_per_second` bound third-party hosts, `own_concurrency`/`own_rate_per_second`
    the article's own site, `own_hosts` and `own_sites` (defaults: the third-party limits, no configured
    hosts or sites).
    """

    def __init__(self, concurrency: int = 4, rate_per_second: float = 10.0, *, own_concurrency: int | None = None,
                 own_rate_per_second: float | None = None, own_hosts: str = "", own_sites: str = "") -> None:
        self.limits = Limits.of(concurrency, rate_per_second)
        self.own_limits = Limits.of(own_concurrency or concurrency, own_rate_per_second or rate_per_second)
        self.sites = OwnSites(own_hosts, own_sites)
        self._cond = threading.Condition()
        self._hosts: dict[tuple[str, bool], _HostState] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalHostLimiter:
        return cls(settings.host_concurrency, settings.host_rate_per_second,
                   own_concurrency=settings.own_host_concurrency,
                   own_rate_per_second=settings.own_host_rate_per_second, own_hosts=settings.own_hosts,
                   own_sites=settings.own_sites)

    def _try(self, key: tuple[str, bool], now: float) -> float:
        """Take a slot and a token (returns 0) or say how long to wait before trying again."""
        lim = self.own_limits if key[1] else self.limits
        st = self._hosts.get(key)
        if st is None:
            if len(self._hosts) >= 1024:
                self._forget_idle(now)
            st = self._hosts[key] = _HostState(tokens=lim.burst, stamp=now)
        st.tokens = min(lim.burst, st.tokens + (now - st.stamp) * lim.rate)
        st.stamp = now
        if st.active >= lim.concurrency:
            return 0.05
        if st.tokens < 1.0:
            return (1.0 - st.tokens) / lim.rate
        st.tokens -= 1.0
        st.active += 1
        return 0.0

    @contextmanager
    def acquire(self, host: str, deadline: float | None = None) -> Iterator[None]:
        host = normal_host(host)
        key = (host, self.sites.is_own(host))
        with self._cond:
            while True:
                now = time.monotonic()
                wait = self._try(key, now)
                if wait == 0.0:
                    break
                if deadline is not None and now + wait > deadline:
                    raise LimiterTimeout(f"no request slot for {host} before the deadline")
                self._cond.wait(wait)
        try:
            yield
        finally:
            with self._cond:
                self._hosts[key].active -= 1
                self._cond.notify_all()

    def _forget_idle(self, now: float) -> None:
        """Drop hosts with nothing in flight and a full bucket, so the table does not grow forever."""
        for key, st in list(self._hosts.items()):
            lim = self.own_limits if key[1] else self.limits
            if st.active == 0 and st.tokens + (now - st.stamp) * lim.rate >= lim.burst:
                del self._hosts[key]


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


# Seconds a Redis request slot outlives the longest request (fetch_deadline): its release's round trip.
LEASE_MARGIN = 10.0


class RedisHostLimiter(_ThirdPartyLimits):
    """The same limits kept in Redis (one Lua script, atomic), shared by every worker.

    A slot is a lease: a worker that dies while holding one (or whose release is lost to a Redis blip)
    frees it after `lease` seconds. A slot is held for one request, which the fetcher ends by
    `fetch_deadline`, so the lease is that plus LEASE_MARGIN: a killed worker blocks the host for
    half a minute, not for minutes of failed captures across the fleet.
    """

    def __init__(self, redis_url: str, settings: Settings | None = None, *, concurrency: int | None = None,
                 rate_per_second: float | None = None, own_concurrency: int | None = None,
                 own_rate_per_second: float | None = None, own_hosts: str | None = None,
                 own_sites: str | None = None, lease: float | None = None, prefix: str = "archiver:host") -> None:
        try:
            import redis
        except ImportError as exc:
            raise MissingExtra("per-host limits in Redis", "redis", exc) from None

        conc = concurrency or (settings.host_concurrency if settings else 4)
        rate = rate_per_second or (settings.host_rate_per_second if settings else 10.0)
        self.limits = Limits.of(conc, rate)
        self.own_limits = Limits.of(own_concurrency or (settings.own_host_concurrency if settings else conc),
                                    own_rate_per_second or (settings.own_host_rate_per_second if settings else rate))
        self.sites = OwnSites(own_hosts if own_hosts is not None else (settings.own_hosts if settings else ""),
                              own_sites if own_sites is not None else (settings.own_sites if settings else ""))
        self.lease = lease if lease is not None else (settings.fetch_deadline if settings else 20.0) + LEASE_MARGIN
        self.prefix = prefix
        self.redis = redis.Redis.from_url(redis_url, socket_timeout=10, socket_connect_timeout=5)
        self._script = self.redis.register_script(_ACQUIRE_LUA)

    @contextmanager
    def acquire(self, host: str, deadline: float | None = None) -> Iterator[None]:
        host = normal_host(host)
        own = self.sites.is_own(host)
        lim = self.own_limits if own else self.limits
        # Own-site buckets live beside the third-party ones: "<prefix>:own:<host>:..." never equals
        # "<prefix>:<host>:..." (a host name has no ':' and ends each key before ':holders'/':bucket').
        base = f"{self.prefix}:own:{host}" if own else f"{self.prefix}:{host}"
        holders, bucket = f"{base}:holders", f"{base}:bucket"
        holder = uuid.uuid4().hex
        while True:
            wait_ms = int(self._script(keys=[holders, bucket],
                                       args=[lim.concurrency, lim.rate, lim.burst, holder, self.lease]))
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
