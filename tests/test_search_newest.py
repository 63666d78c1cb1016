"""The newest matches of a search (its count and the pool relevance ranks) are the same whichever
plan a backend picks to find them: PostgreSQL's window of the newest ids (widened when it holds too
few), its walk of the ids, its sort of every match; SQLite's reverse walk of FTS5 rowids."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from archiver.catalog.backend import open_catalog
from archiver.catalog.core import Catalog
from archiver.catalog.syntax import parse_search
from tests.harness.services import fresh_pg_dsn

POSTS = 3000


def _posts() -> list[dict[str, Any]]:
    out = []
    for i in range(POSTS):
        words = ["filler", f"w{i}"]
        if i % 6 == 0:
            words.append("sixth")  # spread over every age: a window of the newest ids finds it
        if i < 200:
            words.append("ancient")  # only in the oldest posts: a window of the newest ids must widen
        if i % 2 == 0:
            words.append("half")  # in half the posts: the walk
        captured = f"2024-{1 + i // 280:02d}-{1 + i % 28:02d}T{i % 24:02d}:00:00.{i % 1000:03d}Z"
        out.append({"provider": "twitter", "post_id": str(10_000 + i), "capture_id": f"c{i:06d}",
                    "url": None, "status": "archived", "manifest_key": None, "captured_at": captured,
                    "posted_at": None, "handle": f"desk{i % 3}", "author": "Desk", "text": " ".join(words),
                    "lang": "en", "media": []})
    return out


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def big(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalog]:
    if request.param == "sqlite":
        cat = open_catalog(f"sqlite:///{Path(tmp_path_factory.mktemp('newest')) / 'c.sqlite3'}")
    else:
        cat = open_catalog(fresh_pg_dsn(request.getfixturevalue("postgres_dsn")))
    cat.load_posts(_posts())
    cat.execute("ANALYZE")
    yield cat
    cat.close()


def _newest(cat: Catalog, q: str, n: int) -> list[int]:
    source, cond, params, order = cat.backend.match_sql(parse_search(q).text, [], None)
    return cat.backend.newest_ids(cat._sql(f"SELECT {order} AS id FROM {source} WHERE {cond}"), params, order, n)


def _expected(cat: Catalog, q: str, n: int) -> list[int]:
    source, cond, params, _ = cat.backend.match_sql(parse_search(q).text, [], None)
    rows = cat.query(f"SELECT p.id AS id FROM {source} WHERE {cond}", params)
    return sorted((r["id"] for r in rows), reverse=True)[:n]


@pytest.mark.parametrize("q", ["sixth", "ancient", "half", "filler", "w17", "nothing"])
@pytest.mark.parametrize("n", [1, 20, 300])
def test_newest_ids_are_the_newest_matches(big: Catalog, q: str, n: int) -> None:
    assert _newest(big, q, n) == _expected(big, q, n)


def test_a_ranked_search_counts_and_ranks_the_newest(big: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    from archiver.catalog import search as searching

    monkeypatch.setattr(searching, "COUNT_CAP", 40)
    monkeypatch.setattr(searching, "RANK_POOL", 10)
    res = big.search("ancient", sort="relevance", limit=10)
    assert (res.total, res.total_exact) == (40, False)
    newest = _expected(big, "ancient", 10)
    rows = big.query(f"SELECT post_id FROM posts WHERE id IN ({', '.join('?' for _ in newest)})", newest)
    assert sorted(h["post_id"] for h in res.hits) == sorted(r["post_id"] for r in rows)


@pytest.mark.parametrize("big", ["postgres"], indirect=True)  # PostgreSQL's plans: SQLite has no window
def test_postgres_widens_a_window_that_holds_too_few(big: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    """A word only in the oldest posts: the first window of the newest ids holds none of them."""
    assert big.backend.placeholder == "%s"
    shares: list[float] = []
    bound = big.backend._newest_id_bound

    def spy(conn: Any, share: float) -> int | None:
        shares.append(share)
        return bound(conn, share)

    monkeypatch.setattr(big.backend, "_newest_id_bound", spy)
    assert _newest(big, "ancient", 1) == _expected(big, "ancient", 1)
    assert len(shares) >= 2 and shares[1] == 8 * shares[0]  # then the whole table, once the share reaches 1
    shares.clear()
    assert _newest(big, "sixth", 20) == _expected(big, "sixth", 20)
    assert len(shares) == 1  # spread over every age: the first window holds them
