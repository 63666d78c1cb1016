"""archiver beside its peers, per article, on one local news site (issue 18): s/article for the bare
loop (fetch + SHA-256 + write the same bytes) into a local folder and into SeaweedFS, archiver in one
process (`archiver archive URL...` in a subprocess, start-up included) and archiver with Celery
workers (submit by the CLI, time until every article is rewritten; and the workers alone, the
articles queued in-process), in interleaved rounds, median reported.

The site: N articles (default 20), each a page with 5 distinct photo-like JPEGs of about 150 KB and
one tweet; pages and images are served from one local host (the fixture origin, which also answers the
tweets' oEmbed and syndication requests, so with the default --site-host every fetch is to the
article's own host, as in the issue's run). --site-host localhost serves pages and images under
`localhost` instead, so the tweet requests (still to 127.0.0.1) are a third party held to the
default 10 requests per second. archiver runs WITH DEFAULT SETTINGS: only what the fixture origin
needs to be reached (its settings_overrides(); fetch_allow) and a fresh ARCHIVER_HOME per run.

Every archiver run is checked article by article in its catalog: rewritten, the tweet archived,
5 images archived; a run that skipped work fails the benchmark (exit 1), so speed cannot come from
doing less. The peers' figures are printed as recorded in issue 18, not measured here.

    .venv/bin/python benchmarks/bench_peers.py [--articles 20] [--rounds 3] [--workers 2] [--site-host 127.0.0.1]
    # the tree before a change (no bulk CLI, no own-site limits: falls back to one call per article):
    cd /tmp/before && PYTHONPATH=/tmp/before /work/main/.venv/bin/python /work/main/benchmarks/bench_peers.py \\
        --root /tmp/before
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
from PIL import Image, ImageChops

PEERS = {"ArchiveBox (wget, no tweet)": 0.84, "auto-archiver (images given, no page)": 0.85}
BASE_ID = 1945048830047662087


from treeroot import tree_root  # noqa: E402  (this folder: on sys.path when run as a script)

ROOT = tree_root()
sys.path.insert(0, str(ROOT))

from archiver.config.settings import Settings, load_settings  # noqa: E402
from archiver.providers.twitter.ids import syndication_token  # noqa: E402
from archiver.storage.backend import open_store  # noqa: E402
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture  # noqa: E402
from tests.harness.celery_worker import Worker, settings_env  # noqa: E402
from tests.harness.services import start_redis, start_seaweedfs  # noqa: E402


# --- the site ------------------------------------------------------------------------------------------
def photos(count: int, size: tuple[int, int] = (1200, 800)) -> list[bytes]:
    """Distinct photo-like JPEGs (gradients + noise, quality 85): about 150 KB each at 1200x800."""
    base = Image.merge("RGB", (Image.linear_gradient("L").resize(size), Image.radial_gradient("L").resize(size),
                               Image.linear_gradient("L").rotate(90).resize(size)))
    noise = Image.merge("RGB", [Image.effect_noise(size, 7)] * 3)
    out = []
    for i in range(count):
        im = ImageChops.add(ImageChops.offset(base, i * 37, i * 11), noise, scale=1.6)
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=85)
        out.append(buf.getvalue())
    return out


class Site:
    """N articles on the fixture origin: pages and images under `host`, tweets from the origin."""

    def __init__(self, origin: FixtureOrigin, n: int, host: str) -> None:
        self.origin = origin
        port = origin.base_url.rsplit(":", 1)[1]
        self.base = f"http://{host}:{port}"
        self.urls: list[str] = []
        self.fetches: list[list[str]] = []  # per article: what a bare loop fetches
        pics = photos(5 * n)
        for a in range(n):
            tid = str(BASE_ID + a * 4096)
            handle = f"desk{a}"
            tweet = origin.add_tweet(TweetFixture(
                id=tid, handle=handle, name=f"Desk {a}", text=f"Council update {a}",
                photos=[{"name": f"peers-{a}.jpg", "width": 1024, "height": 683}]))
            imgs = []
            for i in range(5):
                path = f"/photos/{a}/{i}.jpg"
                origin.add_image(path, pics[a * 5 + i], "image/jpeg")
                imgs.append(self.base + path)
            page = (f"<!doctype html><html><head><title>Story {a}</title></head><body><h1>Story {a}</h1>\n"
                    + "".join(f'<p>Paragraph {i}.</p><figure><img src="{u}" alt="photo {i}"></figure>\n'
                              for i, u in enumerate(imgs))
                    + f'<blockquote class="twitter-tweet"><p lang="en" dir="ltr">Council update {a}</p>&mdash; '
                      f'Desk {a} (@{handle}) <a href="https://twitter.com/{handle}/status/{tid}">July 15, 2025</a>'
                      "</blockquote>\n</body></html>\n").encode()
            path = f"/news/{a}.html"
            origin.add_image(path, page, "text/html; charset=utf-8")
            self.urls.append(self.base + path)
            self.fetches.append([self.base + path, *imgs,
                                 origin.url(f"/oembed?url=https://twitter.com/{handle}/status/{tid}"),
                                 origin.url(f"/tweet-result?id={tid}&lang=en&token={syndication_token(tid)}"),
                                 origin.url(f"/profile_images/{tweet.user_id}/{tweet.handle}.jpg"),
                                 origin.url(f"/media/{tweet.photos[0]['name']}")])


# --- the bare loops -------------------------------------------------------------------------------------
def bare(site: Site, put: Any, threads: int = 8) -> float:
    """Seconds for fetch + SHA-256 + put of every fetch of every article, `threads` at a time."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=threads)
    session.mount("http://", adapter)

    def one(url: str) -> None:
        data = session.get(url, timeout=30).content
        put(hashlib.sha256(data).hexdigest(), data)

    urls = [u for f in site.fetches for u in f]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, urls))
    return time.perf_counter() - t0


def put_local(folder: Path) -> Any:
    folder.mkdir(parents=True, exist_ok=True)

    def put(digest: str, data: bytes) -> None:
        (folder / digest).write_bytes(data)

    return put


# --- archiver runs --------------------------------------------------------------------------------------
def cli_help(env: dict[str, str], command: str) -> str:
    return subprocess.run([sys.executable, "-m", "archiver.cli", command, "--help"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60).stdout


def takes_many(help_text: str) -> bool:
    """Whether `archiver archive|submit --help` shows the bulk form (many sources)."""
    return bool(re.search(r"source[s]? \[source[s]? \.\.\.\]|\[?sources? \.\.\.|--from-file", help_text))


def child_env(settings: Settings) -> dict[str, str]:
    env = settings_env(settings)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_one_process(settings: Settings, urls: list[str], bulk: bool) -> float:
    """Wall seconds of `archiver archive` over all URLs in one process (start-up included)."""
    env = child_env(settings)
    if bulk:
        argv = [sys.executable, "-m", "archiver.cli", "archive", "--json", *urls]
    else:  # no bulk CLI in this tree: the same command, once per URL, in one process
        argv = [sys.executable, "-c",
                "import sys\nfrom archiver.cli.main import main\n"
                "sys.exit(max(main(['archive', '--json', u]) for u in sys.argv[1:]))", *urls]
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"archiver archive exited {proc.returncode}: {proc.stderr[-2000:]}")
    return wall


def catalog_path(settings: Settings) -> Path:
    url = settings.catalog_url
    assert url.startswith("sqlite:///"), url
    return Path(url[len("sqlite:///"):])


def rewritten_count(settings: Settings, urls: list[str]) -> int:
    path = catalog_path(settings)
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            rows = db.execute("SELECT url FROM articles WHERE current_version >= 1").fetchall()
    except sqlite3.OperationalError:
        return 0
    wanted = set(urls)
    return sum(1 for (u,) in rows if u in wanted)


def check(settings: Settings, urls: list[str], mode: str) -> dict[str, int]:
    """Per article: rewritten, its tweet archived, its 5 images archived. Raises SystemExit otherwise."""
    with sqlite3.connect(f"file:{catalog_path(settings)}?mode=ro", uri=True, timeout=5) as db:
        arts = {u: (aid, v) for aid, u, v in db.execute("SELECT article_id, url, current_version FROM articles")}
        items = db.execute("SELECT article_id, kind, status FROM items").fetchall()
    counts: dict[str, int] = {}
    bad = []
    for u in urls:
        if u not in arts or arts[u][1] < 1:
            bad.append(f"{u}: not rewritten")
            continue
        mine = [(k, s) for aid, k, s in items if aid == arts[u][0]]
        for k, s in mine:
            counts[f"{k} {s}"] = counts.get(f"{k} {s}", 0) + 1
        if [s for k, s in mine if k == "embed"] != ["archived"]:
            bad.append(f"{u}: tweet {[s for k, s in mine if k == 'embed']}")
        if sorted(s for k, s in mine if k == "image") != ["archived"] * 5:
            bad.append(f"{u}: images {[s for k, s in mine if k == 'image']}")
    if bad:
        raise SystemExit(f"{mode}: captures did not all succeed ({len(bad)} articles):\n  " + "\n  ".join(bad[:10]))
    return counts


def wait_all(settings: Settings, urls: list[str], timeout: float = 900) -> float:
    end = time.monotonic() + timeout
    while rewritten_count(settings, urls) < len(urls):
        if time.monotonic() > end:
            raise SystemExit(f"workers: {rewritten_count(settings, urls)}/{len(urls)} rewritten after {timeout:.0f}s")
        time.sleep(0.02)
    return time.perf_counter()


def fresh_broker(settings: Settings) -> None:
    """Empty Redis: job markers of an earlier run would make `archiver submit` skip the same article."""
    import redis

    redis.Redis.from_url(settings.broker_url).flushall()


def warm_worker(settings: Settings, site: Site, warm_url: str) -> None:
    """Queue one article outside the corpus and wait for it: the worker's start-up is not timed."""
    env = child_env(settings)
    subprocess.run([sys.executable, "-m", "archiver.cli", "submit", warm_url], cwd=ROOT, env=env,
                   check=True, capture_output=True, timeout=120)
    wait_all(settings, [warm_url], timeout=180)


def run_workers_submit(settings: Settings, site: Site, urls: list[str], workers: int, bulk: bool,
                       log: Path, warm_url: str) -> tuple[float, float]:
    """(seconds from the first submit to all rewritten, seconds the submitting took) with `workers`
    Celery worker processes; submitted by the CLI (one call for all when it takes many, else one per URL)."""
    env = child_env(settings)
    fresh_broker(settings)
    with Worker(settings_env(settings) | {"PYTHONPATH": env["PYTHONPATH"]}, log, concurrency=workers):
        warm_worker(settings, site, warm_url)
        t0 = time.perf_counter()
        if bulk:
            subprocess.run([sys.executable, "-m", "archiver.cli", "submit", *urls], cwd=ROOT, env=env, check=True,
                           capture_output=True, timeout=600)
        else:
            for u in urls:
                subprocess.run([sys.executable, "-m", "archiver.cli", "submit", u], cwd=ROOT, env=env, check=True,
                               capture_output=True, timeout=120)
        t_sub = time.perf_counter()
        t_done = wait_all(settings, urls)
    limiter_buckets(settings)
    return t_done - t0, t_sub - t0


def limiter_buckets(settings: Settings) -> None:
    """Print the workers' per-host buckets in Redis once: own-site ones are named <prefix>:own:<host>."""
    import redis

    if getattr(limiter_buckets, "done", False):
        return
    limiter_buckets.done = True  # type: ignore[attr-defined]
    keys = sorted(k.decode() for k in redis.Redis.from_url(settings.broker_url).keys("archiver:host:*:bucket"))
    print(f"workers' per-host buckets in Redis: {', '.join(keys) or 'none'}")


def run_workers_queued(settings: Settings, site: Site, urls: list[str], workers: int, log: Path,
                       warm_url: str) -> float:
    """Seconds from the first article queued to all rewritten, the sources stored and the tasks sent
    in-process (what `archiver submit` does, without its start-up): the workers alone."""
    from celery import Celery

    from archiver.storage.layout import sha256_hex, source_key

    bodies = [requests.get(u, timeout=30).content for u in urls]
    takes_trust = "url_trusted" in (ROOT / "workers" / "tasks.py").read_text(encoding="utf-8")
    store = open_store(settings)
    app = Celery("bench", broker=settings.broker_url)
    env = child_env(settings)
    fresh_broker(settings)
    with Worker(settings_env(settings) | {"PYTHONPATH": env["PYTHONPATH"]}, log, concurrency=workers):
        warm_worker(settings, site, warm_url)
        t0 = time.perf_counter()
        for i, (u, body) in enumerate(zip(urls, bodies, strict=True)):
            sha = sha256_hex(body)
            aid = f"peers-{i}"
            store.put(source_key(aid, sha), body)
            # The body was fetched from `u`, as `archiver submit URL` fetches it: the URL is vouched for
            # (url_trusted), so the article's site gets the own-site limits as in the CLI modes.
            # A tree from before own-site trust (--root) has no such argument.
            app.send_task("archiver.process_article", args=[aid, sha, u, None, "auto"],
                          kwargs={"url_trusted": True} if takes_trust else {}, queue="archiver")
        t_done = wait_all(settings, urls)
    app.close()
    return t_done - t0


# --- main -----------------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--articles", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", default="2", help="comma list of worker counts (the first is the main figure)")
    ap.add_argument("--site-host", default="127.0.0.1", choices=["127.0.0.1", "localhost"])
    ap.add_argument("--root", default=str(ROOT), help="the archiver tree to benchmark (default: this one)")
    ap.add_argument("--skip", default="", help="comma list of modes to leave out: s3, workers, queued")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a setting changed from its default for archiver's runs (experiments only: the "
                         "issue's figures are with default settings)")
    args = ap.parse_args()
    worker_counts = [int(w) for w in args.workers.split(",") if w.strip()]
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    tmp = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)  # the homes, catalogs and stores of every run
    n = args.articles
    times: dict[str, list[float]] = {}
    checked: dict[str, dict[str, int]] = {}

    def add(mode: str, seconds: float) -> None:
        times.setdefault(mode, []).append(seconds)

    with start_redis() as redis, start_seaweedfs() as s3, FixtureOrigin() as origin:
        site = Site(origin, n, args.site_host)
        origin.add_image("/news/warm.html", b"<html><body><p>warm</p></body></html>", "text/html")
        warm_url = site.base + "/news/warm.html"
        overrides = {**origin.settings_overrides(), "fetch_allow": "127.0.0.1,localhost",
                     **dict(kv.split("=", 1) for kv in args.set)}
        if args.set:
            print(f"NOT default settings: {', '.join(args.set)}")
        probe = child_env(load_settings(env={}).replace(home=str(tmp / "probe"), **overrides))
        bulk_archive, bulk_submit = takes_many(cli_help(probe, "archive")), takes_many(cli_help(probe, "submit"))
        print(f"tree {ROOT}; {n} articles, 5 JPEGs of ~{len(photos(1)[0]) // 1000} KB and 1 tweet each, pages "
              f"and images on {args.site_host}, tweets on 127.0.0.1; {args.rounds} interleaved rounds, median")
        print("archive: " + ("one call for all (bulk CLI)" if bulk_archive else "no bulk CLI: one call per URL "
                             "in one process") + "; submit: " + ("one call for all" if bulk_submit else
                                                                 "one `archiver submit` process per URL"))
        bucket = s3.make_bucket()
        for r in range(args.rounds):
            add("bare loop, local folder", bare(site, put_local(tmp / f"bare{r}")))
            if "s3" not in skip:
                store = open_store(load_settings(env={}).replace(**s3.settings_overrides(bucket, f"bare{r}")))
                add("bare loop, SeaweedFS", bare(site, store.put))
            s = load_settings(env={}).replace(home=str(tmp / f"one{r}"), **overrides)
            add("archiver, one process (CLI, start-up incl.)", run_one_process(s, site.urls, bulk_archive))
            checked["one process"] = check(s, site.urls, "one process")
            for w in worker_counts:
                if "workers" not in skip:
                    s = load_settings(env={}).replace(home=str(tmp / f"w{w}-{r}"), broker_url=redis.url, **overrides)
                    total, sub = run_workers_submit(s, site, site.urls, w, bulk_submit, tmp / f"w{w}-{r}.log",
                                                    warm_url)
                    checked[f"{w} workers"] = check(s, site.urls, f"{w} workers")
                    add(f"archiver, {w} Celery workers (CLI submit incl.)", total)
                    add(f"  of which submitting ({w} workers)", sub)
                if "queued" not in skip:
                    s = load_settings(env={}).replace(home=str(tmp / f"q{w}-{r}"), broker_url=redis.url, **overrides)
                    add(f"archiver, {w} Celery workers (queued in-process, excl. submit)",
                        run_workers_queued(s, site, site.urls, w, tmp / f"q{w}-{r}.log", warm_url))
                    checked[f"{w} workers queued"] = check(s, site.urls, f"{w} workers queued")
            print(f"round {r + 1}: " + "; ".join(f"{m.strip()} {v[-1]:.2f}s" for m, v in times.items()), flush=True)
    print()
    print(f"{'mode':<66} {'s/article':>9} {'wall s':>7}")
    for mode, vals in times.items():
        med = statistics.median(vals)
        print(f"{mode:<66} {med / n:>9.3f} {med:>7.2f}")
    for name, fig in PEERS.items():
        print(f"{'recorded in issue 18, not measured: ' + name:<66} {fig:>9.2f}")
    print()
    for mode, counts in checked.items():
        print(f"checked ({mode}, last round): {n} rewritten; " + json.dumps(dict(sorted(counts.items()))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
