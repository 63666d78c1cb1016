"""Locks between workers on a real Redis: held as long as their holder lives, and no longer."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from contextlib import ExitStack

import pytest

from archiver.coordination import RedisCoordinator

HOLDER = """
import sys, time
from archiver.coordination import RedisCoordinator
with RedisCoordinator(sys.argv[1], lease=1.0).lock(sys.argv[2], timeout=5):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_held_lock_outlives_its_lease_and_a_killed_holder_frees_it_within_one(redis_url: str) -> None:
    name = f"test:{uuid.uuid4().hex}"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, redis_url, name], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        coord = RedisCoordinator(redis_url, lease=1.0)
        time.sleep(2.5)  # more than two leases: only renewal keeps it
        with pytest.raises(TimeoutError), coord.lock(name, timeout=0.5):
            pass
        holder.kill()
        holder.wait(10)
        start = time.monotonic()
        with coord.lock(name, timeout=5):
            waited = time.monotonic() - start
        assert waited < 1.5
    finally:
        holder.kill()
        holder.wait(10)


def test_a_lock_is_exclusive_while_held_and_free_at_once_after(redis_url: str) -> None:
    coord = RedisCoordinator(redis_url, lease=1.0)
    name = f"test:{uuid.uuid4().hex}"
    with coord.lock(name, timeout=1):
        time.sleep(1.5)  # past the lease: still held, renewed by this process
        with pytest.raises(TimeoutError), coord.lock(name, timeout=0.2):
            pass
    start = time.monotonic()
    with coord.lock(name, timeout=1):
        assert time.monotonic() - start < 0.2


def test_locks_held_at_once_are_all_renewed_and_only_their_holder_releases_them(redis_url: str) -> None:
    """One renewing thread per process keeps every lock it holds; a lock that expired and was taken by
    another holder is neither renewed nor released by the first one."""
    coord = RedisCoordinator(redis_url, lease=1.0)
    other = RedisCoordinator(redis_url, lease=1.0)
    names = [f"test:{uuid.uuid4().hex}" for _ in range(3)]
    with ExitStack() as taken_over:
        with coord.lock(names[0], timeout=1), coord.lock(names[1], timeout=1), coord.lock(names[2], timeout=1):
            time.sleep(2.5)  # more than two leases: only renewal keeps them
            for name in names:
                with pytest.raises(TimeoutError), other.lock(name, timeout=0.2):
                    pass
            # names[0] is taken over behind its holder's back (as after a lease lost in a network split):
            coord.redis.delete(f"archiver:lock:{names[0]}")
            taken_over.enter_context(other.lock(names[0], timeout=0.5))
            time.sleep(0.5)  # a renewal round passes
        # The first holder let its locks go: its own two are free, the taken-over one is still held.
        assert not coord.held(names[1]) and not coord.held(names[2])
        assert coord.held(names[0])
        with pytest.raises(TimeoutError), coord.lock(names[0], timeout=0.2):
            pass
    assert not coord.held(names[0])
