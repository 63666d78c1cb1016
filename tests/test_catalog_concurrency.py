"""A fresh SQLite catalog opened by four processes at the same moment (issue 18): every opener
creates the schema and writes, none fails with `database is locked`, and the file is in WAL mode."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
from pathlib import Path

import pytest

from archiver.catalog.backend import open_catalog

OPENERS = 4
ROUNDS = 10


def _open_and_write(path: str, barrier: mp.synchronize.Barrier, n: int) -> str:
    """Open the catalog when all openers are ready, then write one row; '' or the error's line."""
    barrier.wait(timeout=60)
    try:
        cat = open_catalog(f"sqlite:///{path}")
        cat.ensure_schema()
        conn = cat.backend.connect()
        conn.execute("CREATE TABLE IF NOT EXISTS opened (n INTEGER PRIMARY KEY)")
        conn.execute("INSERT INTO opened (n) VALUES (?)", (n,))
        cat.backend.close()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return ""


def test_fresh_catalog_opened_by_four_processes_at_once(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    with ctx.Pool(OPENERS) as pool, ctx.Manager() as manager:
        for round_ in range(ROUNDS):
            path = str(tmp_path / f"r{round_}" / "catalog.sqlite")
            barrier = manager.Barrier(OPENERS)
            errors = pool.starmap(_open_and_write, [(path, barrier, n) for n in range(OPENERS)])
            assert errors == [""] * OPENERS, f"round {round_}: {errors}"
            conn = sqlite3.connect(path)
            try:
                assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
                assert sorted(r[0] for r in conn.execute("SELECT n FROM opened")) == list(range(OPENERS))
                assert conn.execute("SELECT count(*) FROM posts").fetchone()[0] == 0  # the schema is whole
            finally:
                conn.close()


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__])


def test_module_tables_created_by_many_catalogs_at_once_on_postgres(postgres_dsn: str) -> None:
    """The tables each module creates on first use (compliance, audit, tokens, sessions) are created by
    many Catalog objects at once, as capture threads and worker processes do (health's too), without an error:
    PostgreSQL's CREATE TABLE IF NOT EXISTS is not atomic (a UniqueViolation on pg_type)."""
    import threading

    from archiver.auth import ensure_schema as tokens
    from archiver.compliance.audit import ensure_schema as audit
    from archiver.compliance.holds import ensure_schema as compliance
    from archiver.health.originals import ensure_schema as health
    from archiver.web.sessions import ensure_schema as sessions
    from tests.harness.services import fresh_pg_dsn

    for _ in range(3):
        dsn = fresh_pg_dsn(postgres_dsn)
        catalogs = [open_catalog(dsn) for _ in range(8)]
        for c in catalogs:
            c.ensure_schema()   # the catalog's own tables: done under its advisory lock
        start, errors = threading.Barrier(len(catalogs)), []

        def create(catalog: object) -> None:
            start.wait()
            try:
                for ensure in (compliance, audit, sessions, tokens, health):
                    ensure(catalog)  # type: ignore[arg-type]
            except Exception as exc:   # what the capture that raced would have failed with
                errors.append(exc)

        threads = [threading.Thread(target=create, args=(c,)) for c in catalogs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for c in catalogs:
            c.close()
        assert errors == []
