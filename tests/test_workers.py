"""Distributed mode on real Celery worker processes, a real Redis broker and a real S3 (SeaweedFS)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from archiver.article.splice import Patch, revert_patch
from archiver.article.versions import versions
from archiver.capture.manifest import STATUS_WORDS
from archiver.config.settings import Settings
from archiver.health.originals import article_health
from archiver.records.result import EmbedResult
from archiver.runtime import Runtime
from archiver.steps.capture import RETRY_MARK
from archiver.steps.prepare import load_plan
from archiver.steps.results import load_result
from archiver.storage.layout import capture_page_key, patch_key
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture, make_image
from tests.harness.celery_worker import Worker, settings_env

ROOT = Path(__file__).resolve().parent.parent
TWEET = "1945048830047662087"

pytestmark = pytest.mark.integration


@pytest.fixture
def origin() -> Iterator[FixtureOrigin]:
    tweets = [TweetFixture(id=TWEET, handle="ANI", name="ANI", text="भारत और रूस: Lavrov meets Jaishankar",
                           lang="hi", photos=[{"name": "p1.jpg", "alt": "handshake", "width": 640, "height": 400}],
                           media_code="HA2sQBIEQc")]
    images = {f"/img/{i}.jpg": make_image(f"img{i}", 320, 200) for i in range(3)}
    with FixtureOrigin(tweets=tweets, images=images, timeout_sleep=30.0) as o:
        yield o


def article(origin: FixtureOrigin) -> bytes:
    imgs = "".join(f'<p><img src="{origin.url(f"/img/{i}.jpg")}" alt="photo {i}"></p>\n' for i in range(3))
    return (
        "<html><body><h1>तियानजिन में जयशंकर-लावरोव वार्ता</h1>\n" + imgs +
        '<blockquote class="twitter-tweet"><p lang="hi" dir="ltr">भारत और रूस: Lavrov meets Jaishankar '
        '<a href="https://t.co/HA2sQBIEQc">pic.twitter.com/HA2sQBIEQc</a></p>&mdash; ANI (@ANI) '
        f'<a href="https://twitter.com/ANI/status/{TWEET}">July 15, 2025</a></blockquote>\n</body></html>\n'
    ).encode()


@pytest.fixture
def settings(tmp_path: Path, redis_url: str, s3, origin: FixtureOrigin) -> Settings:
    from archiver.config.settings import load_settings

    return load_settings(env={}).replace(
        home=str(tmp_path), catalog=f"sqlite:///{tmp_path / 'catalog.sqlite3'}", broker_url=redis_url,
        public_base_url="https://archive.example/media", visibility_timeout=4, lock_lease=3.0, fetch_read_timeout=60.0,
        fetch_deadline=60.0, **s3.settings_overrides(s3.make_bucket(), "prod"), **origin.settings_overrides(),
    )


def submit(settings: Settings, path: Path, wait: float, *flags: str, article_id: str = "story") -> dict:
    out = subprocess.run([sys.executable, "-m", "archiver.cli", "submit", str(path), "--article-id", article_id,
                          "--json", "--wait", str(wait), *flags], env=settings_env(settings), capture_output=True,
                         text=True, timeout=wait + 60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def check_article(settings: Settings, src: bytes, origin: FixtureOrigin) -> Runtime:
    rt = Runtime.from_settings(settings)
    history = versions(rt, "story")
    assert [v.version for v in history] == [1]
    body = rt.store.get(history[0].key).decode()
    plan = load_plan(rt, "story", hashlib.sha256(src).hexdigest())
    results = [load_result(rt, plan, it.item_id) for it in plan.items]
    assert sorted(r.status for r in results if r) == ["archived"] * 4
    for i in range(3):
        digest = hashlib.sha256(origin.media_bytes(f"/img/{i}.jpg")).hexdigest()
        assert rt.store.get(f"blobs/sha256/{digest[:2]}/{digest}") == origin.media_bytes(f"/img/{i}.jpg")
        assert f"https://archive.example/media/blobs/sha256/{digest[:2]}/{digest}" in body
    assert body.count("data-versionurl=") == 1
    patch = Patch.from_json(json.loads(rt.store.get(patch_key("story", 1))))
    assert revert_patch(body, patch) == src.decode()
    return rt


def test_worker_archives_an_article(settings: Settings, origin: FixtureOrigin, tmp_path: Path) -> None:
    src = article(origin)
    path = tmp_path / "story.html"
    path.write_bytes(src)
    worker = Worker(settings_env(settings), tmp_path / "worker.log")
    try:
        out = submit(settings, path, wait=90)
    finally:
        worker.stop()
    assert out["version"] == 1
    rt = check_article(settings, src, origin)
    manifests = [k for k in rt.store.list(f"posts/twitter/{TWEET}/") if k.endswith(".json")]
    assert len(manifests) == 1
    rt.close()


def test_submit_charset_reaches_the_plan_on_the_workers(settings: Settings, tmp_path: Path) -> None:
    """`submit --charset` travels in the queued message: the worker decodes with it, not with a guess."""
    src = "<p>Привет, мир</p>".encode("cp1251")  # undeclared; detection alone guesses another code page
    path = tmp_path / "cyr.html"
    path.write_bytes(src)
    with Worker(settings_env(settings), tmp_path / "worker.log"):
        out = submit(settings, path, 90, "--charset", "windows-1251", article_id="cyr")
    assert out["version"] == 1
    with Runtime.from_settings(settings) as rt:
        assert load_plan(rt, "cyr", hashlib.sha256(src).hexdigest()).encoding == "cp1251"
        assert rt.store.get(versions(rt, "cyr")[-1].key) == src


def test_worker_killed_mid_capture(settings: Settings, origin: FixtureOrigin, tmp_path: Path) -> None:
    """SIGKILL the worker while it is fetching the tweet's photo; a new worker finishes the article
    with no object lost and none duplicated."""
    src = article(origin)
    path = tmp_path / "story.html"
    path.write_bytes(src)
    origin.set_behaviour("/media/p1", "timeout")  # the first photo fetch hangs (once)
    env = settings_env(settings)
    first = Worker(env, tmp_path / "worker1.log")
    try:
        submit_proc = subprocess.Popen([sys.executable, "-m", "archiver.cli", "submit", str(path), "--article-id",
                                        "story", "--json"], env=env, cwd=ROOT, stdout=subprocess.PIPE)
        assert submit_proc.wait(timeout=60) == 0
        deadline = time.monotonic() + 60
        while origin.count("/media/p1") == 0:
            assert time.monotonic() < deadline, (tmp_path / "worker1.log").read_text()[-3000:]
            time.sleep(0.05)
        first.kill()
    finally:
        first.stop()
    rt = Runtime.from_settings(settings)
    assert versions(rt, "story") == []  # nothing finished while the capture hung
    time.sleep(settings.visibility_timeout + 1)  # the dead worker's task becomes visible again

    second = Worker(env, tmp_path / "worker2.log")
    try:
        deadline = time.monotonic() + 120
        while not versions(rt, "story"):
            assert time.monotonic() < deadline, (tmp_path / "worker2.log").read_text()[-3000:]
            time.sleep(0.2)
    finally:
        second.stop()
    rt.close()
    rt = check_article(settings, src, origin)
    assert origin.count("/media/p1") >= 2  # fetched again after the kill
    # The capture that died and the one that finished share one capture id: one manifest, one WARC.
    post_keys = sorted(rt.store.list(f"posts/twitter/{TWEET}/"))
    assert len([k for k in post_keys if k.endswith(".json")]) == 1, post_keys
    assert len([k for k in post_keys if k.endswith(".warc.gz")]) == 1, post_keys
    photo = hashlib.sha256(origin.media_bytes("/media/p1.jpg")).hexdigest()
    assert rt.store.exists(f"blobs/sha256/{photo[:2]}/{photo}")
    rt.close()


def test_workers_back_off_and_finish_a_failed_capture(settings: Settings, origin: FixtureOrigin,
                                                      tmp_path: Path) -> None:
    """A tweet whose endpoints fail once: the article is rewritten without it, then the workers'
    backoff captures it again and the article gets a second version with the snapshot."""
    settings = settings.replace(capture_retry_delays="1", fetch_retries=0)
    origin.set_behaviour("/tweet-result", "500")
    origin.set_behaviour("/oembed", "500")
    src = article(origin)
    path = tmp_path / "story.html"
    path.write_bytes(src)
    with Worker(settings_env(settings), tmp_path / "worker.log"):
        out = submit(settings, path, wait=90)
        assert out["version"] == 1
        rt = Runtime.from_settings(settings)
        deadline = time.monotonic() + 60
        while len(versions(rt, "story")) < 2:
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-3000:]
            time.sleep(0.2)
    history = versions(rt, "story")
    assert [v.reason for v in history] == ["archive", "retry"]
    assert "data-versionurl" not in rt.store.get(history[0].key).decode()
    assert rt.store.get(history[1].key).decode().count("data-versionurl=") == 1
    rt.close()


def test_workers_retrying_a_partial_capture_of_a_post_gone_since_keep_it(settings: Settings, origin: FixtureOrigin,
                                                                         tmp_path: Path) -> None:
    """x15 F1 on real workers: the post is captured partial (its photo answers 500), then the platform
    shows a tombstone instead of it. The workers' scheduled retries capture that under new capture
    ids, but the item keeps pointing at the partial capture, whose objects are never written again,
    and the retries end with capture_retry_delays."""
    # Delays under half the visibility timeout: the workers schedule them by countdown themselves.
    settings = settings.replace(capture_retry_delays="2,1", fetch_retries=0)
    for path in ("/media/p1", "/media/p1.jpg"):
        origin.set_behaviour(path, "500", sticky=True)
    origin.set_behaviour("/tweet-result", "ok", "tombstone", sticky=True)
    origin.set_behaviour("/oembed", "ok", "404", sticky=True)
    src = article(origin)
    path = tmp_path / "story.html"
    path.write_bytes(src)
    with Worker(settings_env(settings), tmp_path / "worker.log"):
        out = submit(settings, path, wait=90)
        assert out["version"] == 1
        rt = Runtime.from_settings(settings)
        plan = load_plan(rt, "story", hashlib.sha256(src).hexdigest())
        [item] = [it for it in plan.items if it.kind == "embed"]
        first = load_result(rt, plan, item.item_id)
        assert isinstance(first, EmbedResult) and first.status == "partial" and first.manifest_key
        assert json.loads(rt.store.get(first.manifest_key))["status"] == "partial"
        kept = {k: rt.store.get(k) for k in rt.store.list(f"posts/twitter/{TWEET}/") if first.capture_id in k}
        assert len(kept) >= 3   # manifest, WARC, cards
        deadline = time.monotonic() + 60
        while (now := load_result(rt, plan, item.item_id)) is None or (now.attempt < 2 and not now.final):
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-3000:]
            time.sleep(0.2)
        time.sleep(2)   # nothing more is scheduled
    result = load_result(rt, plan, item.item_id)
    assert isinstance(result, EmbedResult)
    assert (result.status, result.manifest_key, result.capture_id, result.attempt) == \
        ("partial", first.manifest_key, first.capture_id, 2)
    assert RETRY_MARK in (result.error or "") and STATUS_WORDS["age_restricted"] in (result.error or "")
    assert {k: rt.store.get(k) for k in kept} == kept
    statuses = [c["status"] for c in rt.catalog.post_captures("twitter", TWEET)]
    assert statuses[0] == "partial" and set(statuses[1:]) == {"age_restricted"}
    [row] = [r for r in rt.catalog.items("story", plan.source_sha256) if r["item_id"] == item.item_id]
    assert (row["status"], row["manifest_key"], row["retry_at"]) == ("partial", first.manifest_key, None)
    assert all(rt.store.public_url(capture_page_key(first.manifest_key)) in rt.store.get(v.key).decode()
               for v in versions(rt, "story"))
    rt.close()


def test_health_round_on_real_workers_declares_a_deleted_tweet_dead(settings: Settings, origin: FixtureOrigin,
                                                                   tmp_path: Path) -> None:
    """The beat task's round, run by a real worker: it enrolls the article, queues the checks, and
    a tweet whose oEmbed answers 404 and syndication {} becomes dead; the live images stay live."""
    from celery import Celery


    settings = settings.replace(health_round_seconds=1.0, health_dead_after_failures=1, health_dead_after_hours=0.0)
    src = article(origin)
    path = tmp_path / "story.html"
    path.write_bytes(src)
    with Worker(settings_env(settings), tmp_path / "worker.log"):
        assert submit(settings, path, wait=90)["version"] == 1
        origin.set_behaviour("/oembed", "404", sticky=True)
        origin.set_behaviour("/tweet-result", "empty", sticky=True)
        beat = Celery("t", broker=settings.broker_url)
        rt = Runtime.from_settings(settings)
        deadline = time.monotonic() + 60
        while True:
            beat.send_task("archiver.health_schedule", queue="archiver")  # what beat sends every round
            time.sleep(0.7)
            states = {it["kind"] + ":" + it["url"]: it["state"]
                      for it in article_health(rt, "story")["items"]}
            if "unchecked" not in states.values():
                break
            assert time.monotonic() < deadline, (states, (tmp_path / "worker.log").read_text()[-3000:])
    assert states[f"embed:https://twitter.com/ANI/status/{TWEET}"] == "dead"
    assert [s for k, s in states.items() if k.startswith("image:")] == ["live"] * 3
    rt.close()


def test_archiver_worker_starts_a_worker_that_ended_itself_again_and_passes_sigterm_on(tmp_path: Path) -> None:
    """`archiver worker` supervises its Celery worker (which ends itself after some broker faults):
    a child that exits on its own is started again; SIGTERM goes to the child and ends both."""
    import signal

    runs = tmp_path / "runs"
    child = (f"import pathlib, sys, time; p = pathlib.Path({str(runs)!r}); p.write_text(p.read_text() + 'x' "
             "if p.exists() else 'x'); n = len(p.read_text()); sys.exit(3) if n < 3 else time.sleep(60)")
    boss = subprocess.Popen([sys.executable, "-c", "import sys; from archiver.cli.service import supervise; "
                             f"sys.exit(supervise([sys.executable, '-c', {child!r}], pause=0.1))"],
                            cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (runs.exists() and len(runs.read_text()) == 3):
        assert time.monotonic() < deadline and boss.poll() is None
        time.sleep(0.05)
    time.sleep(0.3)
    assert boss.poll() is None  # the third child runs on
    boss.send_signal(signal.SIGTERM)
    assert boss.wait(timeout=10) != 0  # the child's status: ended by SIGTERM
    stderr = boss.stderr.read() if boss.stderr else ""
    assert stderr.count("starting it again") == 2, stderr
    assert len(runs.read_text()) == 3
