"""The chaos run: real workers archive articles while a worker, Redis and SeaweedFS are SIGKILLed.

Used by tests/test_chaos.py (30 articles, one fault of each kind) and benchmarks/bench_chaos.py
(more articles, repeated faults). Everything is real: redis-server with the append-only file as
docker-compose.yml runs it, a SeaweedFS S3 server, two Celery workers and one
`celery beat` (which runs the sweeper), a fixture origin with some latency. Articles are submitted
the way the publish hook does (Intake, queue only), and a submit the broker refuses while it is down
is tried again, as a CMS retries a webhook. The workers run as in production, through `archiver
worker`, which starts the Celery worker again if a broker fault makes it end itself. Nothing is
done by hand afterwards: the run waits until every article has a version and every item a final
result, or the wait runs out.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from archiver.article.input import ArticleInput
from archiver.article.versions import versions
from archiver.config.settings import Settings, load_settings
from archiver.errors import ArchiverError
from archiver.faults import is_infrastructure_error
from archiver.records.base import RecordError
from archiver.runners.intake import Intake
from archiver.runtime import Runtime
from archiver.steps.prepare import load_plan
from archiver.steps.results import load_results
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture, make_image
from tests.harness.celery_worker import ROOT, Worker, settings_env
from tests.harness.services import RedisServer, SeaweedFS, start_redis, start_seaweedfs

BASE_ID = 1945048830047662087
IMAGES_PER_ARTICLE = 4  # and one tweet: five items


@dataclass
class ChaosOutcome:
    """What a chaos run ended with. `problems` lists every broken promise (empty when all held)."""

    articles: int
    items: int
    with_version: int = 0
    final_items: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    submitted_after: float = 0.0  # seconds from the start until the last article was accepted
    finished_after: float | None = None  # seconds from the start until everything was done
    faults: list[tuple[float, str]] = field(default_factory=list)  # (seconds from start, what)
    problems: list[str] = field(default_factory=list)


def corpus(origin: FixtureOrigin, n: int, tag: str) -> list[tuple[str, bytes]]:
    """`n` articles of one tweet (with a photo) and IMAGES_PER_ARTICLE images, all distinct."""
    articles = []
    for a in range(n):
        tid = str(BASE_ID + (int(hashlib.sha256(f"{tag}/{a}".encode()).hexdigest()[:10], 16) % 10**9) * 4096)
        handle = f"desk{tag}{a}"
        origin.add_tweet(TweetFixture(id=tid, handle=handle, name=f"Desk {a}", text=f"Post {tag} {a} भारत",
                                      lang="hi", photos=[{"name": f"{tag}-{a}.jpg", "width": 640, "height": 400}]))
        parts = [f"<html><body><h1>लेख {a}</h1>\n",
                 f'<blockquote class="twitter-tweet"><p lang="hi">Post {tag} {a} भारत</p>&mdash; Desk (@{handle}) '
                 f'<a href="https://twitter.com/{handle}/status/{tid}">July 15, 2025</a></blockquote>\n']
        for i in range(IMAGES_PER_ARTICLE):
            path = f"/img/{tag}/{a}/{i}.jpg"
            origin.add_image(path, make_image(f"chaos{tag}{a}.{i}", 320, 200))
            parts.append(f'<p><img src="{origin.url(path)}" alt="photo {i}"></p>\n')
        parts.append("</body></html>\n")
        articles.append((f"chaos-{tag}-{a}", "".join(parts).encode()))
    return articles


def chaos_settings(tmp: Path, redis: RedisServer, s3: SeaweedFS, origin: FixtureOrigin) -> Settings:
    """Short timeouts, so that recovery takes seconds instead of minutes (the same mechanisms)."""
    return load_settings(env={}).replace(
        home=str(tmp), catalog=f"sqlite:///{tmp / 'catalog.sqlite3'}", broker_url=redis.url,
        public_base_url="https://archive.example/media", visibility_timeout=12, task_time_limit=10,
        lock_lease=2.0, sweep_interval=2.0, sweep_stale_after=6.0, fault_retries=8, fault_retry_max_delay=4.0,
        capture_retry_delays="2,4", s3_max_attempts=1, s3_connect_timeout=1.0, s3_read_timeout=5.0,
        fetch_read_timeout=5.0, fetch_deadline=8.0, host_rate_per_second=1000.0, host_concurrency=16,
        **s3.settings_overrides(s3.make_bucket(), "chaos"), **origin.settings_overrides(),
    )


class Beat:
    """`celery beat` (the sweeper's and the health rounds' scheduler) in its own process group."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers.app", "beat", "--loglevel", "INFO",
             "-s", str(tmp / "beat-schedule")], cwd=ROOT, env=env,
            stdout=(tmp / "beat.log").open("ab"), stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def run_chaos(tmp: Path, *, articles: int = 30, rounds: int = 1, down_for: float = 3.0, gap: float = 2.0,
              wait: float = 75.0, latency: float = 0.05, tag: str = "a", sweeper: bool = True) -> ChaosOutcome:
    """Submit `articles` articles while `rounds` times a worker, then Redis, then SeaweedFS are SIGKILLed
    (each restarted after `down_for` seconds, `gap` seconds between faults); then wait up to `wait`
    seconds for the end state and check it. The faults start during the submissions. Without `sweeper`
    no beat runs (to see what the sweeper is for)."""
    out = ChaosOutcome(articles=articles, items=articles * (1 + IMAGES_PER_ARTICLE))
    redis = start_redis(appendonly=True)
    s3 = start_seaweedfs()
    origin = FixtureOrigin(latency=latency)
    origin.start()
    workers: list[Worker] = []
    beat: Beat | None = None
    try:
        docs = corpus(origin, articles, tag)
        settings = chaos_settings(tmp, redis, s3, origin)
        env = settings_env(settings)
        workers = [Worker(env, tmp / f"worker{i}.log", supervised=True) for i in range(2)]
        beat = Beat(env, tmp) if sweeper else None
        start = time.monotonic()
        submitted = threading.Event()
        submitter = threading.Thread(target=_submit_all, args=(settings, docs, submitted, out, start), daemon=True)
        submitter.start()
        time.sleep(1.0)
        for r in range(rounds):
            victim = r % len(workers)
            out.faults.append((time.monotonic() - start, f"SIGKILL worker {victim}"))
            workers[victim].kill()
            time.sleep(down_for)
            workers[victim] = Worker(env, tmp / f"worker{victim}.log", supervised=True)
            time.sleep(gap)
            out.faults.append((time.monotonic() - start, "SIGKILL redis"))
            redis.kill()
            time.sleep(down_for)
            redis.restart()
            time.sleep(gap)
            out.faults.append((time.monotonic() - start, "SIGKILL seaweedfs"))
            s3.kill()
            time.sleep(down_for)
            s3.restart()
            time.sleep(gap)
        submitter.join(timeout=wait)
        if not submitted.is_set():
            out.problems.append("the submissions did not finish")
        deadline = time.monotonic() + wait
        with Runtime.from_settings(settings) as rt:
            while True:
                _tally(rt, docs, out)
                if out.with_version == articles and out.final_items == out.items:
                    out.finished_after = time.monotonic() - start
                    break
                if time.monotonic() > deadline:
                    break
                time.sleep(1.0)
            _check(rt, docs, out)
        for i, w in enumerate(workers):
            # A worker killed near the end is being started again by its supervisor: give it the time a
            # restart takes on a loaded machine (a worker that stays down is still a problem).
            back_by = time.monotonic() + 30
            while not w.alive() and time.monotonic() < back_by:
                time.sleep(0.5)
            if not w.alive():
                out.problems.append(f"worker {i} is not running at the end")
            restarts = w.log.read_text(errors="replace").count("starting it again")
            if restarts:
                out.faults.append((time.monotonic() - start, f"worker {i}'s Celery process died on its own "
                                                             f"{restarts} time(s); its supervisor restarted it"))
    finally:
        for w in workers:
            w.stop()
        if beat is not None:
            beat.stop()
        origin.close()
        s3.stop()
        redis.stop()
    return out


def _submit_all(settings: Settings, docs: list[tuple[str, bytes]], done: threading.Event, out: ChaosOutcome,
                start: float) -> None:
    """Submit each article as the publish hook does; one the service refuses (broker or storage down: what
    the web API answers with 503, an ArchiverError or an infrastructure fault such as the Redis client's
    error when the broker dies between two commands) is submitted again after a second, as a CMS
    retries its webhook. Anything else is a bug and ends the submissions."""
    with Runtime.from_settings(settings) as rt, Intake(rt) as intake:
        for aid, body in docs:
            while True:
                try:
                    intake.submit(aid, ArticleInput(body, url=f"https://news.example/{aid}"), queue_only=True)
                    break
                except Exception as exc:
                    if not isinstance(exc, ArchiverError | OSError) and not is_infrastructure_error(exc):
                        raise
                    intake.close()
                    time.sleep(1.0)
            time.sleep(0.1)
    out.submitted_after = time.monotonic() - start
    done.set()


def _tally(rt: Runtime, docs: list[tuple[str, bytes]], out: ChaosOutcome) -> None:
    """Count articles with a version and items with a final result, read from storage (the truth)."""
    out.with_version = out.final_items = 0
    out.statuses = Counter()
    for aid, body in docs:
        try:
            if any(v.source_sha256 == hashlib.sha256(body).hexdigest() for v in versions(rt, aid)):
                out.with_version += 1
            plan = load_plan(rt, aid, hashlib.sha256(body).hexdigest())
        except (ArchiverError, RecordError):
            continue
        for res in load_results(rt, plan).values():
            out.statuses[res.status] += 1
            out.final_items += res.final


def _check(rt: Runtime, docs: list[tuple[str, bytes]], out: ChaosOutcome) -> None:
    """The promises besides completion: every item archived, the last version points at every copy,
    no post captured twice (one manifest, one WARC), no two versions with the same bytes, every blob
    stored under its own digest."""
    if out.with_version != out.articles:
        out.problems.append(f"{out.articles - out.with_version} of {out.articles} articles have no version")
    if out.final_items != out.items:
        out.problems.append(f"{out.items - out.final_items} of {out.items} items have no final result "
                            f"(statuses {dict(out.statuses)})")
    if out.statuses.get("archived", 0) != out.final_items:
        out.problems.append(f"not every final item is archived: {dict(out.statuses)}")
    posts = [k for k in rt.store.list("posts/twitter/")]
    per_post = Counter(k.split("/")[2] for k in posts if k.endswith(".json"))
    warcs = Counter(k.split("/")[2] for k in posts if k.endswith(".warc.gz"))
    twice = sorted(p for p, n in per_post.items() if n > 1) + sorted(p for p, n in warcs.items() if n > 1)
    if twice:
        out.problems.append(f"posts captured more than once: {twice[:5]}")
    if len(per_post) != out.articles:
        out.problems.append(f"{len(per_post)} posts have a manifest, expected {out.articles}")
    for aid, _body in docs:
        history = versions(rt, aid)
        shas = [v.sha256 for v in history]
        if len(shas) != len(set(shas)):
            out.problems.append(f"{aid}: two versions with the same bytes ({len(shas)} versions)")
        if history:
            text = rt.store.get(history[-1].key).decode()
            if text.count("https://archive.example/media/blobs/sha256/") != IMAGES_PER_ARTICLE:
                out.problems.append(f"{aid}: the last version does not point at every image's copy")
            if text.count("data-versionurl=") != 1:
                out.problems.append(f"{aid}: the last version does not link the tweet's capture")
    for key in rt.store.list("blobs/sha256/"):
        if key.count("/") == 3 and hashlib.sha256(rt.store.get(key)).hexdigest() != key.rsplit("/", 1)[1]:
            out.problems.append(f"{key} does not hold the bytes its name says")
