"""Shared fixtures: real Redis, SeaweedFS (S3) and PostgreSQL started lazily, and settings in tmp dirs.

Servers are session-scoped and start only when a test asks for them; a server that cannot start
fails the test with its log tail (never a skip).
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from archiver.config.settings import Settings, load_settings  # noqa: E402
from tests.harness.services import SeaweedFS, start_postgres, start_redis, start_seaweedfs  # noqa: E402


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with start_redis() as server:
        yield server.url


_BROKER_DBS = itertools.count()


@pytest.fixture
def own_broker(redis_url: str) -> str:
    """A broker URL no other test has queued to: one of the session Redis's numbered databases (1-15,
    in turn), emptied first. The session's Redis is shared by every test of an xdist process, and
    tasks another test queued without a worker to take them would otherwise reach this test's worker."""
    import redis

    server = redis_url.rstrip("/")
    if server.count("/") > 2:   # redis://host:port/<db>
        server = server.rsplit("/", 1)[0]
    url = f"{server}/{next(_BROKER_DBS) % 15 + 1}"
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
    return url


@pytest.fixture(scope="session")
def s3() -> Iterator[SeaweedFS]:
    with start_seaweedfs() as server:
        yield server


@pytest.fixture
def s3_bucket(s3: SeaweedFS) -> str:
    """A fresh, empty bucket on the session's SeaweedFS."""
    return s3.make_bucket()


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """ARCHIVER_TEST_POSTGRES_DSN if set, else a throwaway local PostgreSQL."""
    given = os.environ.get("ARCHIVER_TEST_POSTGRES_DSN")
    if given:
        yield given
        return
    with start_postgres() as server:
        yield server.dsn


@pytest.fixture(params=["sqlite", "postgres"])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A fresh, empty catalog: SQLite in tmp_path, then a fresh database on the session's PostgreSQL
    (the search tests run on both; a module may define its own ``catalog``)."""
    from archiver.catalog.backend import open_catalog
    from tests.harness.services import fresh_pg_dsn

    if request.param == "sqlite":
        cat = open_catalog(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    else:
        cat = open_catalog(fresh_pg_dsn(request.getfixturevalue("postgres_dsn")))
    yield cat
    cat.close()


@pytest.fixture
def tmp_settings(tmp_path: Path) -> Callable[..., Settings]:
    """A factory: make_settings(**overrides) -> Settings with defaults, no environment, home=tmp_path."""

    def make_settings(**overrides: Any) -> Settings:
        return load_settings(env={}).replace(**{"home": str(tmp_path), **overrides})

    return make_settings


# The files that take longest (each over about 30 s of a worker's time on a slow two-core machine), run
# first: pytest-xdist hands whole files out in collection order, so one of them collected last ran
# alone at the end while the other workers sat idle.
LONGEST_FIRST = ("test_install.py", "test_workers.py", "test_media_limits.py", "test_schemathesis.py",
                 "test_chaos.py", "test_cli_readme.py", "test_local_concurrency.py", "test_wacz.py",
                 "test_cli_errors.py", "test_cli_defects.py", "test_discover_robust.py", "test_compliance_race.py",
                 "test_browser_states.py", "test_pages_hostile.py", "test_browser_compliance.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Test files in LONGEST_FIRST order, then the rest as collected (the order within a file kept)."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
