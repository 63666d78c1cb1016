"""Several processes archiving one article at the same moment, in local mode (a local directory and
SQLite, no Redis): they end as one run would, with one new version and every capture written once."""

from __future__ import annotations

import json
import multiprocessing
import re
from collections.abc import Callable, Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from archiver.article.versions import versions
from archiver.config.settings import Settings, load_settings
from archiver.coordination import LocalCoordinator
from archiver.runners.local import archive
from archiver.runtime import Runtime
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture, make_image

TWEET = "1765709230920277604"


def _article(origin: FixtureOrigin) -> bytes:
    return ('<html><body><p>Story</p><blockquote class="twitter-tweet"><p>Hello</p>&mdash; X (@x) '
            f'<a href="https://twitter.com/x/status/{TWEET}">March 5, 2024</a></blockquote>\n'
            f'<p><img src="{origin.url("/media/lead.jpg")}"></p></body></html>').encode()


def _archive_at_once(overrides: dict[str, Any], source: bytes, barrier: Any, out: Any) -> None:
    """One process: open its own Runtime, wait for the others, archive the article, report the outcome."""
    settings = load_settings(env={}).replace(**overrides)
    with Runtime.from_settings(settings) as rt:
        barrier.wait(timeout=60)
        rep = archive(rt, source, article_id="k")
    out.put(json.dumps(rep, default=str))


@pytest.fixture
def origin() -> Iterator[FixtureOrigin]:
    # A little latency, like a real origin: the processes' captures overlap.
    with FixtureOrigin(tweets=[TweetFixture(id=TWEET, handle="x", name="X", text="Hello")],
                       images={"/media/lead.jpg": make_image("lead", 320, 200)}, latency=0.2) as o:
        yield o


# With capture_fresh_for 0 no earlier capture is reused: a process that waited for another's capture
# must take it as it is, not capture the post again.
@pytest.mark.parametrize(("processes", "fresh_for"), [(3, None), (4, 0)])
def test_processes_archiving_one_article_at_once_end_as_one_run(
        tmp_path: Path, origin: FixtureOrigin, processes: int, fresh_for: int | None) -> None:
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter each, as `archiver archive &` twice
    for rnd in range(3):
        home = tmp_path / f"round{rnd}"
        overrides = {"home": str(home), **origin.settings_overrides(),
                     "public_base_url": "https://archive.example/media",
                     **({} if fresh_for is None else {"capture_fresh_for": fresh_for})}
        barrier, out = ctx.Barrier(processes), ctx.Queue()
        procs = [ctx.Process(target=_archive_at_once, args=(overrides, _article(origin), barrier, out))
                 for _ in range(processes)]
        for p in procs:
            p.start()
        reports = [json.loads(out.get(timeout=120)) for _ in procs]
        for p in procs:
            p.join(60)
            assert p.exitcode == 0
        settings = load_settings(env={}).replace(**overrides)
        with Runtime.from_settings(settings) as rt:
            # One new version for one new source, whichever process wrote it.
            assert [v.version for v in versions(rt, "k")] == [1], f"round {rnd}"
            assert {r["version"] for r in reports} == {1}
            # One capture of the post, written once: the version's data-versiondate is its manifest's time.
            manifests = [k for k in rt.store.list(f"posts/twitter/{TWEET}/") if re.search(r"Z-[0-9a-f]{8}\.json$", k)]
            assert len(manifests) == 1, manifests
            manifest = json.loads(rt.store.get(manifests[0]))
            text = rt.store.get(versions(rt, "k")[0].key).decode()
            [date] = re.findall(r'data-versiondate="([^"]*)"', text)
            assert unescape(date) == manifest["captured_at"]
            assert {e["snapshot"] for r in reports for e in r["embeds"]} == {manifests[0]}


def test_a_shared_lock_holds_across_processes(tmp_path: Path) -> None:
    """Two coordinators sharing one directory (as two processes do) exclude each other, time out while
    the other holds the lock, and see it held; the lock file is gone once it is released."""
    one, other = LocalCoordinator(tmp_path / "locks"), LocalCoordinator(tmp_path / "locks")
    with one.lock("article:k"):
        assert other.held("article:k")
        with pytest.raises(TimeoutError), other.lock("article:k", timeout=0.3):
            pass
        with other.lock("article:j", timeout=1):
            pass
    assert not other.held("article:k")
    with other.lock("article:k", timeout=1):
        assert one.held("article:k")
    assert list((tmp_path / "locks").iterdir()) == []


def _hold_in_turn(lock_dir: str, barrier: Any, log_path: str) -> None:
    """Take the shared lock ten times, each time appending 'in' then 'out' to the log."""
    coord = LocalCoordinator(lock_dir)
    barrier.wait(timeout=60)
    for _ in range(10):
        with coord.lock("article:k", timeout=60):
            with open(log_path, "a") as fh:
                fh.write("in\n")
                fh.flush()
            with open(log_path, "a") as fh:
                fh.write("out\n")


def test_shared_locks_exclude_other_processes(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    log = tmp_path / "log"
    procs = [ctx.Process(target=_hold_in_turn, args=(str(tmp_path / "locks"), barrier, str(log)))
             for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    lines = log.read_text().split()
    assert lines == ["in", "out"] * 40


def test_runtimes_on_one_storage_share_their_locks_from_the_first_one_taken(
        tmp_settings: Callable[..., Settings]) -> None:
    """Every Runtime made from settings shares its local locks with the others using that storage (a
    sweep's `held` sees another process's capture, a restore waits for an archive's version write),
    and a Runtime that takes no lock makes no lock directory."""
    settings = tmp_settings()
    first, second = Runtime.from_settings(settings), Runtime.from_settings(settings)
    try:
        assert not (first.settings.home_path / "objects" / ".locks").exists()
        with first.coordinator.lock("article:story", timeout=5):
            assert second.coordinator.held("article:story")
            with pytest.raises(TimeoutError), second.coordinator.lock("article:story", timeout=0.3):
                pass
        assert not second.coordinator.held("article:story")
    finally:
        first.close()
        second.close()
