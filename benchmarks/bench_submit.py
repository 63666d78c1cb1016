"""Bulk submit: 1,000 small generated articles queued for the workers by one `archiver submit --from-file`
call, against a real Redis (the test harness's start_redis) and a local store under a temporary
ARCHIVER_HOME; no worker runs. Prints the seconds of that one call, and, for comparison, the seconds
per `archiver submit` call of one article (measured over `--single` calls, default 5) and what 1,000
such calls would take.

    .venv/bin/python benchmarks/bench_submit.py [--articles 1000] [--single 5]

Figures on a shared machine are indicative. Issue 18's target: 1,000 articles in under 10 s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness.services import start_redis  # noqa: E402


def _env(home: Path, broker: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVER_")}
    env.update(ARCHIVER_HOME=str(home), ARCHIVER_BROKER_URL=broker)
    return env


def _articles(folder: Path, n: int, tag: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"{tag}-{i:05d}.html"
        path.write_text(f"<html><body><h1>Story {tag} {i}</h1><p>Paragraph {i} of a small article.</p>"
                        f'<img src="https://cdn.news.example/{tag}/{i}.jpg" alt="photo {i}"></body></html>\n')
        paths.append(path)
    return paths


def _cli(env: dict[str, str], *args: str) -> float:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "archiver.cli", *args], env=env, capture_output=True, text=True,
                         cwd=ROOT, timeout=600)
    took = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"archiver {' '.join(args[:2])} ... failed ({out.returncode}): {out.stderr[-2000:]}")
    return took


def main() -> None:
    """Run the benchmark and print its figures (seconds)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--single", type=int, default=5, help="single-article calls to time (0: none)")
    parser.add_argument("--concurrency", type=int, help="ARCHIVER_ARTICLE_CONCURRENCY (default: the setting's)")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-submit-") as tmp, start_redis() as redis:
        work = Path(tmp)
        env = _env(work / "home", redis.url)
        if opts.concurrency:
            env["ARCHIVER_ARTICLE_CONCURRENCY"] = str(opts.concurrency)
        singles = _articles(work / "single", opts.single, "single")
        per_call = None
        if singles:
            _cli(env, "submit", str(singles[0]))  # the first call creates the home, catalog and queue
            took = [_cli(env, "submit", str(p)) for p in singles[1:]] or [0.0]
            per_call = sum(took) / len(took)
        paths = _articles(work / "bulk", opts.articles, "bulk")
        listing = work / "sources.txt"
        listing.write_text("# generated articles\n" + "".join(f"{p}\n" for p in paths))
        bulk = _cli(env, "submit", "--from-file", str(listing))
        import redis as redis_client

        queued = redis_client.Redis.from_url(redis.url).llen("archiver")
    print(f"bulk submit of {opts.articles} articles in one call: {bulk:.2f} s "
          f"({bulk / opts.articles * 1000:.1f} ms per article); messages on the queue: {queued}")
    if per_call is not None:
        print(f"single submit calls: {per_call:.3f} s per call; {opts.articles} calls would take "
              f"{per_call * opts.articles:.0f} s")


if __name__ == "__main__":
    main()
