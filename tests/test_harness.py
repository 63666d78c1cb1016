"""The harness really starts, reaches and cleans up its servers, and explains failures."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import psycopg
import pytest
import redis

from tests.harness.services import SeaweedFS, Service, ServiceError, start_redis


def test_redis_answers_and_keeps_nothing(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    assert redis_url.startswith("redis://127.0.0.1:")
    assert client.set("harness", "yes") and client.get("harness") == b"yes"
    assert client.config_get("save")["save"] == ""


def test_postgres_answers(postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn, connect_timeout=5) as conn:
        assert conn.execute("SELECT 1 + 1").fetchone() == (2,)
        assert conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)


def test_seaweedfs_buckets_are_fresh_and_lockable(s3: SeaweedFS, s3_bucket: str) -> None:
    assert s3.endpoint_url.startswith("http://127.0.0.1:")
    client = s3.client()
    assert client.list_objects_v2(Bucket=s3_bucket).get("KeyCount", 0) == 0
    locked = s3.make_bucket(object_lock=True)
    conf = client.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]
    assert conf["ObjectLockEnabled"] == "Enabled"
    assert client.get_bucket_versioning(Bucket=locked)["Status"] == "Enabled"


def test_stop_ends_the_process_and_removes_its_directory() -> None:
    with start_redis() as server:
        assert server.ping()
        proc, tmpdir = server.proc, server.tmpdir
    assert proc is not None and proc.poll() is not None
    assert not tmpdir.exists()
    server.stop()  # idempotent


def test_a_server_that_dies_is_reported_with_its_log() -> None:
    tmpdir = Path(tempfile.mkdtemp(prefix="archiver-test-"))
    service = Service(tmpdir, tmpdir / "log")
    service._spawn([sys.executable, "-c", "print('port already taken, giving up'); raise SystemExit(3)"])
    with pytest.raises(ServiceError, match=r"(?s)exited with status 3.*port already taken"):
        service._wait(lambda: False, timeout=10)
    assert not service.tmpdir.exists()
