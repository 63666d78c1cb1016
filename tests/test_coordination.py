"""Locks between workers on a real Redis: held as long as their holder lives, and no longer."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

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
