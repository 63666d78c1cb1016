"""Catalog connections (issue 18): one per thread, kept for the thread's next calls; `close()` closes
every thread's; a forked child opens its own and never closes the parent's (a closed PostgreSQL
connection would end the parent's session). Against SQLite and a real PostgreSQL."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from archiver.catalog.backend import open_catalog
from archiver.catalog.core import Catalog
from tests.harness.services import fresh_pg_dsn


@pytest.fixture(params=["sqlite", "postgres"])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        cat = open_catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    else:
        cat = open_catalog(fresh_pg_dsn(request.getfixturevalue("postgres_dsn")))
    cat.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY)")
    yield cat
    cat.close()


def is_open(conn: Any) -> bool:
    try:
        conn.execute("SELECT 1").fetchall()
    except Exception:
        return False
    return True


def counting_opens(cat: Catalog) -> list[Any]:
    """Every connection the backend opens from now on."""
    opened: list[Any] = []
    real = cat.backend._open  # type: ignore[attr-defined]

    def _open() -> Any:
        opened.append(real())
        return opened[-1]

    cat.backend._open = _open  # type: ignore[attr-defined]
    return opened


def in_thread(fn: Callable[[], Any]) -> Any:
    out: list[Any] = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    t.join(30)
    return out[0]


def test_a_thread_keeps_its_connection(catalog: Catalog) -> None:
    catalog.close()
    opened = counting_opens(catalog)
    for n in range(50):
        catalog.execute("INSERT INTO t (n) VALUES (?)", [n])
        assert catalog.query("SELECT count(*) AS c FROM t")[0]["c"] == n + 1
    assert len(opened) == 1


def test_close_closes_every_threads_connection(catalog: Catalog) -> None:
    ready, done = threading.Barrier(4), threading.Event()
    conns: list[Any] = []
    after: list[bool] = []

    def worker(n: int) -> None:
        catalog.execute("INSERT INTO t (n) VALUES (?)", [n])
        conns.append(catalog.backend.connect())
        ready.wait(10)
        done.wait(10)
        catalog.execute("INSERT INTO t (n) VALUES (?)", [100 + n])  # a fresh connection after close()
        after.append(is_open(catalog.backend.connect()))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    ready.wait(10)
    mine = catalog.backend.connect()
    catalog.close()
    assert not is_open(mine) and not any(is_open(c) for c in conns)
    done.set()
    for t in threads:
        t.join(30)
    assert after == [True] * 3
    assert catalog.query("SELECT count(*) AS c FROM t")[0]["c"] == 6


def test_a_dead_threads_connection_is_closed_by_the_next_open(catalog: Catalog) -> None:
    gone = in_thread(catalog.backend.connect)
    assert is_open(gone)
    in_thread(catalog.backend.connect)
    assert not is_open(gone)


def _child(catalog: Catalog, inherited_id: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        conn = catalog.backend.connect()
        catalog.execute("INSERT INTO t (n) VALUES (?)", [2])
        catalog.close()
        out.put(id(conn) != inherited_id)
    except Exception as exc:
        out.put(f"{type(exc).__name__}: {exc}")


def test_a_forked_child_opens_its_own_and_leaves_the_parents_alone(catalog: Catalog) -> None:
    catalog.execute("INSERT INTO t (n) VALUES (?)", [1])
    parents = catalog.backend.connect()
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_child, args=(catalog, id(parents), out))
    child.start()
    assert out.get(timeout=30) is True
    child.join(30)
    assert child.exitcode == 0
    assert catalog.backend.connect() is parents and is_open(parents)  # its session was not ended
    assert [r["n"] for r in catalog.query("SELECT n FROM t ORDER BY n")] == [1, 2]
