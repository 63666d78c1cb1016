"""Search latency over a large catalog on SQLite (FTS5) and PostgreSQL (tsvector + GIN).

Generates N synthetic stored posts (default 1,000,000: English-like, Hindi, Arabic, CJK, emoji,
with Zipf-distributed words and handles, five years of dates), loads them straight into each
catalog in bulk, then times a few hundred representative `Catalog.search` calls (word, phrase,
prefix, Hindi, Arabic, CJK, emoji, handle filter, date range) and prints p50 and p95 per kind and
overall, and the index size. The aim: p95 under 50 ms on both backends.

    .venv/bin/python benchmarks/bench_search.py [--posts 1000000] [--queries 300] [--backend both]

The throwaway PostgreSQL runs with `shared_buffers=1GB` (`--pg-shared-buffers`), what a server
for a million posts is given (its 2.8 GB database has about 1 GB of indexes); PostgreSQL's own
default, 128 MB, is sized for a laptop and leaves the index to the operating system's cache.

`--pg-dsn` uses a PostgreSQL of your own (its catalog tables are replaced) instead of a throwaway
server, and `--reuse` times the queries again over a catalog an earlier run with the same
`--posts` loaded there (`--sqlite-path` names a kept SQLite file the same way).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archiver.catalog.backend import open_catalog  # noqa: E402
from archiver.catalog.core import Catalog  # noqa: E402

BATCH = 50_000
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
SPAN_DAYS = 5 * 365
EN_ONSETS = ["b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "br", "ch",
             "st", "tr", "sh", "pl", "gr"]
EN_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "io"]
HI_CONSONANTS = "कखगघचछजझटठडढणतथदधनपफबभमयरलवशसह"
HI_MATRAS = ["", "ा", "ि", "ी", "ु", "ू", "े", "ै", "ो", "ौ", "ं", "्र"]
AR_LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"
EMOJI = [chr(c) for c in range(0x1F600, 0x1F640)] + ["🎉", "🤝", "👇", "🔥", "🇮🇳"]


class Vocab:
    """Words with Zipf weights; `draw(k)` samples k of them."""

    def __init__(self, words: list[str], rng: random.Random) -> None:
        self.words = list(dict.fromkeys(words))
        self.rng = rng
        total, self.cum = 0.0, []
        for rank in range(1, len(self.words) + 1):
            total += 1.0 / rank
            self.cum.append(total)

    def draw(self, k: int) -> list[str]:
        return self.rng.choices(self.words, cum_weights=self.cum, k=k)

    def mid(self) -> str:
        """A word of middling frequency: what people search for."""
        return self.words[self.rng.randrange(50, len(self.words))]


def make_vocabs(rng: random.Random) -> dict[str, Vocab]:
    def en() -> str:
        return "".join(rng.choice(EN_ONSETS) + rng.choice(EN_VOWELS) for _ in range(rng.randint(1, 4)))

    def hi() -> str:
        return "".join(rng.choice(HI_CONSONANTS) + rng.choice(HI_MATRAS) for _ in range(rng.randint(2, 4)))

    def ar() -> str:
        return "".join(rng.choice(AR_LETTERS) for _ in range(rng.randint(3, 7)))

    def cjk() -> str:
        return "".join(chr(0x4E00 + int(rng.paretovariate(1.2) * 40) % 6000) for _ in range(rng.randint(2, 3)))

    return {"en": Vocab([en() for _ in range(60_000)], rng), "hi": Vocab([hi() for _ in range(30_000)], rng),
            "ar": Vocab([ar() for _ in range(30_000)], rng), "cjk": Vocab([cjk() for _ in range(20_000)], rng)}


def posts(n: int, vocabs: dict[str, Vocab], handles: Vocab, rng: random.Random) -> Iterator[list[dict[str, Any]]]:
    langs = rng.choices(["en", "hi", "ar", "cjk"], weights=[50, 22, 18, 10], k=n)
    batch: list[dict[str, Any]] = []
    for i in range(n):
        lang = langs[i]
        words = vocabs[lang].draw(rng.randint(8, 24))
        if lang == "hi" and rng.random() < 0.3:
            words += vocabs["en"].draw(3)
        text = ("" if lang == "cjk" else " ").join(words)
        if rng.random() < 0.2:
            text += " " + rng.choice(EMOJI)
        posted = EPOCH + timedelta(seconds=rng.randrange(SPAN_DAYS * 86400))
        # Milliseconds from the row number: catalog ids come from the capture time, so they differ.
        captured = posted + timedelta(seconds=rng.randrange(30 * 86400), milliseconds=i % 1000)
        handle = handles.draw(1)[0]
        batch.append({
            "provider": "twitter" if rng.random() < 0.8 else rng.choice(["instagram", "bluesky", "youtube"]),
            "post_id": str(10**17 + i), "capture_id": f"{captured:%Y%m%dT%H%M%S}Z-{i:08x}",
            "url": f"https://twitter.com/{handle}/status/{10**17 + i}",
            "status": "archived" if rng.random() < 0.9 else rng.choice(["deleted", "protected", "unavailable"]),
            "manifest_key": f"posts/twitter/{10**17 + i}/c.json",
            "captured_at": f"{captured:%Y-%m-%dT%H:%M:%S}.{captured.microsecond // 1000:03d}Z",
            "posted_at": f"{posted:%Y-%m-%dT%H:%M:%S}Z",
            "handle": handle, "author": handle.split("_")[0].title() + " " + vocabs["en"].draw(1)[0].title(),
            "text": text, "lang": lang, "media": [],
        })
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def queries(count: int, vocabs: dict[str, Vocab], handles: list[str], sample: list[dict[str, Any]],
            rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    def phrase() -> dict[str, Any]:
        words = rng.choice([p for p in sample if p["lang"] != "cjk"])["text"].split()
        i = rng.randrange(len(words) - 2)
        return {"q": f'"{words[i]} {words[i + 1]}"'}

    def date_range() -> dict[str, Any]:
        start = EPOCH + timedelta(days=rng.randrange(SPAN_DAYS - 30))
        return {"posted_since": f"{start:%Y-%m-%d}", "posted_until": f"{start + timedelta(days=30):%Y-%m-%d}"}

    kinds: dict[str, Callable[[], dict[str, Any]]] = {
        "word": lambda: {"q": vocabs["en"].mid()},
        "common word": lambda: {"q": vocabs["en"].words[rng.randrange(20)]},
        "two words": lambda: {"q": f"{vocabs['en'].mid()} {vocabs['en'].words[rng.randrange(200)]}"},
        "phrase": phrase,
        "prefix": lambda: {"q": vocabs["en"].mid()[:4] + "*"},
        "hindi": lambda: {"q": vocabs["hi"].mid()},
        "arabic": lambda: {"q": vocabs["ar"].mid()},
        "cjk": lambda: {"q": vocabs["cjk"].mid()},
        "emoji": lambda: {"q": rng.choice(EMOJI[:20])},
        "handle": lambda: {"handle": handles[rng.randrange(2000)]},
        "handle + word": lambda: {"q": vocabs["en"].words[rng.randrange(100)], "handle": handles[rng.randrange(200)]},
        "date range": date_range,
        "word + dates": lambda: {"q": vocabs["en"].mid(), **date_range()},
    }
    names = list(kinds)
    return [(names[i % len(names)], kinds[names[i % len(names)]]()) for i in range(count)]


def size_of(cat: Catalog, backend: str) -> str:
    if backend == "sqlite":
        rows = cat.query("SELECT name, sum(pgsize) AS n FROM dbstat GROUP BY name")
        sizes = {r["name"]: r["n"] for r in rows}
        fts = sum(v for k, v in sizes.items() if k.startswith("posts_fts"))
        total = sum(sizes.values())
        return f"database {total / 2**20:.0f} MiB, of which full-text index {fts / 2**20:.0f} MiB"
    row = cat.query("SELECT pg_database_size(current_database()) AS db, pg_relation_size('posts_doc') AS gin, "
                    "pg_indexes_size('posts') AS idx")[0]
    return (f"database {row['db'] / 2**20:.0f} MiB, posts indexes {row['idx'] / 2**20:.0f} MiB, "
            f"of which GIN {row['gin'] / 2**20:.0f} MiB")


def settings_of(cat: Catalog, backend: str) -> str:
    """The database's version and the settings that decide how much of the index stays in memory."""
    if backend == "sqlite":
        import sqlite3

        cache = cat.query("PRAGMA cache_size")[0]
        return f"SQLite {sqlite3.sqlite_version}, cache_size {next(iter(cache.values()))} (pages, or KiB if negative)"
    names = ("server_version", "shared_buffers", "effective_cache_size", "work_mem")
    values = {n: cat.query(f"SHOW {n}")[0][n] for n in names}
    return "PostgreSQL " + ", ".join(f"{n} {v}" if n != "server_version" else v for n, v in values.items())


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run(args: argparse.Namespace) -> None:
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    with ExitStack() as stack:
        cats: dict[str, Catalog] = {}
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-search-")))
        if "sqlite" in backends:
            cats["sqlite"] = open_catalog(f"sqlite:///{args.sqlite_path or tmp / 'catalog.sqlite3'}")
        if "postgres" in backends:
            dsn = args.pg_dsn
            if not dsn:
                from tests.harness.services import start_postgres

                dsn = stack.enter_context(start_postgres(settings={
                    "shared_buffers": args.pg_shared_buffers, "effective_cache_size": "3GB"})).dsn
                print(f"throwaway PostgreSQL with shared_buffers={args.pg_shared_buffers}")
            cats["postgres"] = open_catalog(dsn)
            if not args.reuse:
                for table in ("posts", "captures", "post_media"):
                    cats["postgres"].backend.connect().execute(f"DROP TABLE IF EXISTS {table}")
                cats["postgres"].ensure_schema()
                cats["postgres"].execute("DROP INDEX posts_doc")  # built once after loading: much faster
        load_time: dict[str, float] = defaultdict(float)
        sample: list[dict[str, Any]] = []
        t0 = time.perf_counter()
        rng = random.Random(7)
        vocabs = make_vocabs(rng)
        handles = Vocab([f"{w}_{i}" for i, w in enumerate(vocabs["en"].words[:20_000])], rng)
        if args.reuse:
            # The same sample a full run takes: the first 200 posts of every batch.
            ids = [str(10**17 + b + j) for b in range(0, args.posts, BATCH) for j in range(min(200, args.posts - b))]
            cat = next(iter(cats.values()))
            for i in range(0, len(ids), 500):
                marks = ", ".join("?" for _ in ids[i:i + 500])
                sample += cat.query(f"SELECT * FROM captures WHERE post_id IN ({marks}) "
                                    "ORDER BY post_id", ids[i:i + 500])
            cats_to_load: dict[str, Catalog] = {}
        else:
            cats_to_load = cats
            for batch in posts(args.posts, vocabs, handles, rng):
                sample += batch[:200]
                for name, cat in cats.items():
                    t = time.perf_counter()
                    cat.load_posts(batch)
                    load_time[name] += time.perf_counter() - t
            print(f"generated {args.posts:,} posts in {time.perf_counter() - t0:.0f}s")
        if "postgres" in cats_to_load:
            t = time.perf_counter()
            cats["postgres"]._ready = False
            cats["postgres"].ensure_schema()
            cats["postgres"].execute("VACUUM ANALYZE posts")
            load_time["postgres"] += time.perf_counter() - t
        if "sqlite" in cats_to_load:
            cats["sqlite"].execute("ANALYZE")
            cats["sqlite"].execute("INSERT INTO posts_fts (posts_fts) VALUES ('optimize')")
        qs = queries(args.queries, vocabs, handles.words, sample, random.Random(11))
        # Other queries of the same kinds first, untimed: a running service has answered searches
        # before, so its caches hold the index's upper pages and the common words' posting lists.
        warmup = queries(args.warmup, vocabs, handles.words, sample, random.Random(13))
        for name, cat in cats.items():
            for _, q in warmup:
                cat.search(**q)
            by_kind: dict[str, list[float]] = defaultdict(list)
            totals: dict[str, list[int]] = defaultdict(list)
            for kind, q in qs:
                t = time.perf_counter()
                res = cat.search(**q)
                by_kind[kind].append((time.perf_counter() - t) * 1000)
                totals[kind].append(res.total)
            every = [v for vs in by_kind.values() for v in vs]
            print(f"\n{name}: loaded in {load_time[name]:.0f}s; {size_of(cat, name)}")
            print(f"  {settings_of(cat, name)}")
            print(f"  {'kind':<14} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'median hits':>12}")
            for kind, vs in by_kind.items():
                print(f"  {kind:<14} {len(vs):>4} {pct(vs, 50):>8.1f} {pct(vs, 95):>8.1f} "
                      f"{statistics.median(totals[kind]):>12,.0f}")
            print(f"  {'all':<14} {len(every):>4} {pct(every, 50):>8.1f} {pct(every, 95):>8.1f}")
            cat.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--posts", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=312)
    ap.add_argument("--warmup", type=int, default=312, help="untimed queries of the same kinds first")
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--pg-shared-buffers", default="1GB", help="the throwaway PostgreSQL's shared_buffers")
    ap.add_argument("--pg-dsn", help="a PostgreSQL of your own instead of a throwaway one")
    ap.add_argument("--sqlite-path", help="keep the SQLite catalog in this file")
    ap.add_argument("--reuse", action="store_true", help="time the queries over a catalog loaded before")
    run(ap.parse_args())


if __name__ == "__main__":
    main()
