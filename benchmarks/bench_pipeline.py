"""End-to-end speed of distributed mode: Celery + Redis + SeaweedFS against a local origin.

Articles with 2 tweets and 5 images each (all distinct, so nothing is reused), through 1 and 2
worker processes: articles per minute for a burst, p50/p95 publish-to-rewritten latency, and the
latency of a single article at rest. Beside it, the bare cost of the same fetches and puts done in a
tight loop with the same concurrency. Every URL lives on the one local origin, so the per-host
politeness limits (10 requests/s by default, meant for real hosts) are raised here: left on, they
cap the run at about 46 articles per minute whatever the worker count (13 fetches per article).

    .venv/bin/python benchmarks/bench_pipeline.py [--articles 40] [--at-rest 10]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from celery import Celery

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archiver.config.settings import load_settings  # noqa: E402
from archiver.providers.twitter.ids import syndication_token  # noqa: E402
from archiver.runtime import Runtime  # noqa: E402
from archiver.storage.backend import open_store  # noqa: E402
from archiver.storage.layout import sha256_hex, source_key  # noqa: E402
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture, make_image  # noqa: E402
from tests.harness.celery_worker import Worker, settings_env  # noqa: E402
from tests.harness.services import start_redis, start_seaweedfs  # noqa: E402

BASE_ID = 1945048830047662087


def make_corpus(origin: FixtureOrigin, n: int, tag: str) -> list[tuple[str, bytes]]:
    articles = []
    for a in range(n):
        parts = [f"<html><body><h1>लेख {a} / story {a}</h1>\n"]
        for t in range(2):
            tid = str(BASE_ID + hash((tag, a, t)) % 10**12 * 4096)
            handle = f"desk{a}x{t}"
            origin.add_tweet(TweetFixture(id=tid, handle=handle, name=f"Desk {a}.{t}", text=f"Post {tag} {a}.{t}",
                                          photos=[{"name": f"{tag}-{a}-{t}.jpg", "width": 1024, "height": 683}]))
            parts.append(f'<blockquote class="twitter-tweet"><p>Post {tag} {a}.{t}</p>&mdash; Desk (@{handle}) '
                         f'<a href="https://twitter.com/{handle}/status/{tid}">July 15, 2025</a></blockquote>\n')
        for i in range(5):
            path = f"/img/{tag}/{a}/{i}.jpg"
            origin.add_image(path, make_image(f"{tag}{a}.{i}", 1200, 800))
            parts.append(f'<p><img src="{origin.url(path)}" alt="photo {i}"></p>\n')
        parts.append("</body></html>\n")
        body = "".join(parts).encode()
        articles.append((f"bench-{tag}-{a}", body))
    return articles


def bare_urls(origin: FixtureOrigin, body: bytes) -> list[str]:
    """The fetches one article costs: per tweet oEmbed, syndication, avatar, photo; per image one GET."""
    text = body.decode()
    urls = []
    import re

    for handle, tid in re.findall(r"twitter\.com/(\w+)/status/(\d+)", text):
        urls.append(origin.url(f"/oembed?url=https://twitter.com/{handle}/status/{tid}"))
        urls.append(origin.url(f"/tweet-result?id={tid}&lang=en&token={syndication_token(tid)}"))
        t = origin.tweets[tid]
        urls.append(origin.url(f"/profile_images/{t.user_id}/{t.handle}.jpg"))
        urls.append(origin.url(f"/media/{t.photos[0]['name']}"))
    urls += re.findall(r'<img src="([^"]+)"', text)
    return urls


def bare(settings, origin: FixtureOrigin, corpus: list[tuple[str, bytes]], concurrency: int) -> float:
    """Articles per minute for fetch + sha256 + put of the same bytes, `concurrency` at a time."""
    store = open_store(settings)
    session = requests.Session()

    def one(url: str) -> None:
        data = session.get(url, timeout=30).content
        digest = hashlib.sha256(data).hexdigest()
        store.put(f"bare/{digest}", data)

    urls = [u for _, body in corpus for u in bare_urls(origin, body)]
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, urls))
    return len(corpus) / (time.perf_counter() - started) * 60


def wait_rewritten(rt: Runtime, article_id: str, deadline: float) -> None:
    while not rt.catalog.versions(article_id):
        if time.monotonic() > deadline:
            raise TimeoutError(article_id)
        time.sleep(0.01)


def publish(app: Celery, rt: Runtime, article_id: str, body: bytes) -> None:
    """What `archiver submit` does: store the source, queue the article."""
    sha = sha256_hex(body)
    rt.store.put(source_key(article_id, sha), body, if_none_match=True)
    app.send_task("archiver.process_article", args=[article_id, sha, None, None, "auto"], queue="archiver")


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=int, default=30)
    ap.add_argument("--at-rest", type=int, default=10)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    with start_redis() as redis, start_seaweedfs() as s3, FixtureOrigin() as origin:
        print(f"{'workers':>7} {'articles/min':>12} {'bare/min':>9} {'ratio':>6} {'burst p50':>9} "
              f"{'burst p95':>9} {'rest p50':>8} {'rest p95':>8}")
        for procs in (1, 2):
            settings = load_settings(env={}).replace(
                home=str(tmp / f"w{procs}"), catalog=f"sqlite:///{tmp / f'w{procs}.sqlite3'}",
                broker_url=redis.url, **s3.settings_overrides(s3.make_bucket(), "bench"),
                **origin.settings_overrides(), host_rate_per_second=1000.0, host_concurrency=16)
            app = Celery("bench", broker=redis.url)
            rt = Runtime.from_settings(settings)
            burst = make_corpus(origin, args.articles, f"b{procs}")
            rest = make_corpus(origin, args.at_rest, f"r{procs}")
            bare_corpus = make_corpus(origin, args.articles, f"x{procs}")
            with Worker(settings_env(settings), tmp / f"worker{procs}.log", concurrency=procs):
                # Warm up: the first task pays imports and connections.
                warm = make_corpus(origin, 1, f"w{procs}")[0]
                publish(app, rt, *warm)
                wait_rewritten(rt, warm[0], time.monotonic() + 60)

                rest_lat = []
                for aid, body in rest:
                    t0 = time.monotonic()
                    publish(app, rt, aid, body)
                    wait_rewritten(rt, aid, t0 + 60)
                    rest_lat.append(time.monotonic() - t0)

                t0 = time.monotonic()
                sent = {}
                for aid, body in burst:
                    sent[aid] = time.monotonic()
                    publish(app, rt, aid, body)
                lat = {}
                deadline = t0 + 600
                while len(lat) < len(burst):
                    for aid, _ in burst:
                        if aid not in lat and rt.catalog.versions(aid):
                            lat[aid] = time.monotonic() - sent[aid]
                    if time.monotonic() > deadline:
                        raise TimeoutError("burst did not finish")
                    time.sleep(0.01)
                elapsed = time.monotonic() - t0
            rate = len(burst) / elapsed * 60
            bare_rate = bare(settings, origin, bare_corpus, procs)
            lats = list(lat.values())
            print(f"{procs:>7} {rate:>12.1f} {bare_rate:>9.1f} {rate / bare_rate:>6.2f} "
                  f"{percentile(lats, 50):>8.2f}s {percentile(lats, 95):>8.2f}s "
                  f"{percentile(rest_lat, 50):>7.2f}s {percentile(rest_lat, 95):>7.2f}s")
            rt.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
