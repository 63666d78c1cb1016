"""The sweeper's decisions, the capture step's handling of infrastructure faults, and late results.

These run the real steps on a local store and a SQLite catalog, in one process: the sweeper's
`send` is a list. tests/test_chaos.py shows the same on real workers, Redis and S3 under faults."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from archiver.article.input import ArticleInput
from archiver.config.settings import Settings
from archiver.dates import iso, parse_iso, utcnow
from archiver.faults import is_infrastructure_error
from archiver.records.result import CAPTURING, ImageResult, failed_result
from archiver.runners.queue import CAPTURE_ITEM, FINALIZE_ARTICLE, PROCESS_ARTICLE
from archiver.runners.reindex import reindex
from archiver.runners.sweep import sweep
from archiver.runtime import Runtime
from archiver.steps import capture as capture_step
from archiver.steps.capture import capture_item, capture_lock
from archiver.steps.finalize import finalize
from archiver.steps.prepare import prepare
from archiver.steps.results import commit_result, load_result, load_results, record_item, save_result
from archiver.storage.base import StoreError
from archiver.storage.layout import intake_key, source_key
from archiver.testing.fixture_origin import FixtureOrigin, make_image

ARTICLE = b'<p><img src="https://img.example/a.jpg"> <img src="https://img.example/b.jpg"></p>'


@pytest.fixture
def rt(tmp_settings: Callable[..., Settings]) -> Iterator[Runtime]:
    with Runtime.from_settings(tmp_settings(capture_retry_delays="60,600", sweep_stale_after=300.0)) as runtime:
        yield runtime


def later(seconds: float) -> Any:
    return utcnow() + timedelta(seconds=seconds)


def run_sweep(rt: Runtime, now: Any) -> list[tuple[str, list[Any], dict[str, Any]]]:
    sent: list[tuple[str, list[Any], dict[str, Any]]] = []
    sweep(rt, lambda task, args, kwargs: sent.append((task, list(args), dict(kwargs))), now=now)
    return sent


def archived(item_id: str, url: str) -> ImageResult:
    return ImageResult(item_id=item_id, url=url, status="archived", sha256="a" * 64,
                       key=f"blobs/sha256/aa/{'a' * 64}", stable_url="https://archive.example/x")


def test_a_plan_without_results_gets_its_captures_queued_once(rt: Runtime) -> None:
    plan = prepare(rt, ArticleInput(ARTICLE), article_id="s1")
    assert run_sweep(rt, later(10)) == []  # progress is recent: nothing is stuck yet
    sent = run_sweep(rt, later(400))
    assert sorted(sent) == sorted((CAPTURE_ITEM, [plan.article_id, plan.source_sha256, it.item_id], {})
                                  for it in plan.items)
    assert run_sweep(rt, later(401)) == []  # swept: left alone for sweep_stale_after
    assert len(run_sweep(rt, later(800))) == 2  # still nothing happened: queued again


def test_only_the_missing_item_is_queued(rt: Runtime) -> None:
    plan = prepare(rt, ArticleInput(ARTICLE), article_id="s2")
    first = plan.items[0]
    save_result(rt, plan, archived(first.item_id, first.url or ""))
    sent = run_sweep(rt, later(400))
    assert sent == [(CAPTURE_ITEM, [plan.article_id, plan.source_sha256, plan.items[1].item_id], {})]


TWEETS = (b'<blockquote class="twitter-tweet"><a href="https://twitter.com/ANI/status/1945048830047662087">x</a>'
          b'</blockquote><blockquote class="twitter-tweet"><a href="https://twitter.com/ANI/status/1945048830047662088">'
          b'y</a></blockquote>')


def test_a_capture_whose_lock_is_held_is_left_running_and_a_dead_one_is_redone(rt: Runtime) -> None:
    plan = prepare(rt, ArticleInput(TWEETS), article_id="s3")
    assert [it.kind for it in plan.items] == ["embed", "embed"]
    for it in plan.items:
        save_result(rt, plan, failed_result(it, None).model_copy(update={"status": CAPTURING, "attempt": 1}))
    held, dead = plan.items
    with rt.coordinator.lock(capture_lock(plan, held)):
        sent = run_sweep(rt, later(400))
    assert sent == [(CAPTURE_ITEM, [plan.article_id, plan.source_sha256, dead.item_id], {"attempt": 1})]


def test_a_failed_item_is_captured_again_when_its_retry_is_due(rt: Runtime) -> None:
    plan = prepare(rt, ArticleInput(ARTICLE), article_id="s4")
    a, b = plan.items
    save_result(rt, plan, archived(a.item_id, a.url or ""))
    save_result(rt, plan, failed_result(b, "HTTP 503"))
    finalize(rt, plan)  # partial: b failed
    assert rt.catalog.article("s4")["status"] == "partial"
    due = parse_iso(rt.catalog.items("s4", plan.source_sha256)[1]["retry_at"] or "")
    assert run_sweep(rt, due - timedelta(seconds=5)) == []
    assert run_sweep(rt, due) == [(CAPTURE_ITEM, [plan.article_id, plan.source_sha256, b.item_id],
                                   {"force": True, "attempt": 1})]
    # The last scheduled attempt used up: no retry is due any more, however long one waits.
    save_result(rt, plan, failed_result(b, "HTTP 503").model_copy(update={"attempt": 2}))
    assert [r["retry_at"] for r in rt.catalog.items("s4", plan.source_sha256) if r["item_id"] == b.item_id] == [None]
    # (An item changed after the last finalize is finalized again, as that capture's task does; the test
    # failed whenever the two writes fell in different seconds.)
    assert [name for name, _, _ in run_sweep(rt, later(86400))] in ([], [FINALIZE_ARTICLE])
    finalize(rt, plan)
    assert run_sweep(rt, later(86400)) == []


def test_results_all_final_without_a_version_get_their_finalize(rt: Runtime) -> None:
    plan = prepare(rt, ArticleInput(ARTICLE), article_id="s5")
    for it in plan.items:
        save_result(rt, plan, archived(it.item_id, it.url or ""))
    assert run_sweep(rt, later(400)) == [(FINALIZE_ARTICLE, [plan.article_id, plan.source_sha256, "archive"], {})]


def test_a_result_newer_than_the_last_finalize_gets_a_finalize(rt: Runtime) -> None:
    plan = prepare(rt, ArticleInput(ARTICLE), article_id="s6")
    for it in plan.items:
        save_result(rt, plan, archived(it.item_id, it.url or ""))
    finalize(rt, plan)
    assert run_sweep(rt, later(400)) == []  # complete, nothing changed since
    res = archived(plan.items[0].item_id, plan.items[0].url or "").model_copy(update={"attempt": 1})
    save_result(rt, plan, res)
    record_item(rt, "s6", plan.source_sha256, res, iso(later(60)))  # a retry ended; its finalize was lost
    assert run_sweep(rt, later(400)) == [(FINALIZE_ARTICLE, [plan.article_id, plan.source_sha256, "retry"], {})]


def test_a_submitted_article_without_a_plan_is_processed_again(rt: Runtime) -> None:
    data = ARTICLE.replace(b"a.jpg", b"c.jpg")
    article = ArticleInput(data, url="https://news.example/s7", base_url="https://news.example/")
    rt.store.put(source_key("s7", article.sha256), data)
    rt.store.put(intake_key("s7", article.sha256), json.dumps(
        {"url": article.url, "base_url": article.base_url, "format": "html", "charset": None,
         "published_at": None, "received_at": iso(utcnow())}).encode())
    now = iso(utcnow())
    rt.catalog.record_article(article_id="s7", url=article.url, source_sha256=article.sha256, encoding="utf-8",
                              status="queued", created_at=now, updated_at=now)
    expected = [(PROCESS_ARTICLE, ["s7", article.sha256], {
        "url": "https://news.example/s7", "base_url": "https://news.example/", "fmt": "html", "charset": None,
        "published_at": None})]
    assert run_sweep(rt, later(400)) == expected
    # The catalog rebuilt from storage still knows the article is waiting for its plan.
    reindex(rt, fresh=True)
    assert rt.catalog.article("s7")["status"] == "queued"
    assert run_sweep(rt, later(400)) == expected


def test_an_article_whose_source_is_gone_is_reported_not_queued_round_after_round(rt: Runtime) -> None:
    """A row names a source this storage lacks (another bucket, a storage emptied): processing it
    would fail the same way each time, so it is reported unreadable instead of queued forever."""
    now = iso(utcnow())
    rt.catalog.record_article(article_id="gone", url=None, source_sha256="ab" * 32, encoding="utf-8",
                              status="queued", created_at=now, updated_at=now)
    report = sweep(rt, lambda *call: pytest.fail(f"queued {call}"), now=later(400))
    assert report.unreadable == ["gone"] and not report.queued


# --- infrastructure faults ----------------------------------------------------------------------------
def test_the_fault_rule_tells_infrastructure_from_input() -> None:
    import sqlite3

    import redis

    assert is_infrastructure_error(StoreError("cannot write x"))
    assert is_infrastructure_error(sqlite3.OperationalError("database is locked"))
    assert is_infrastructure_error(redis.exceptions.ConnectionError("refused"))
    assert is_infrastructure_error(TimeoutError("lock 'capture:x' not acquired within 90s"))
    assert is_infrastructure_error(OSError(28, "No space left on device"))
    try:
        try:
            raise ConnectionRefusedError(111, "refused")
        except ConnectionRefusedError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert is_infrastructure_error(outer)  # found through the cause
    assert not is_infrastructure_error(ValueError("bad key"))
    assert not is_infrastructure_error(OSError("cannot identify image file"))  # Pillow's refusal: input
    assert not is_infrastructure_error(sqlite3.IntegrityError("UNIQUE constraint failed"))


def test_a_storage_fault_during_a_capture_is_raised_not_recorded(tmp_settings: Callable[..., Settings]) -> None:
    """The store refuses to write the image's original: the capture raises, and the item keeps no
    'failed' outcome (the worker retries it; the sweeper finds it if that fails too)."""
    with FixtureOrigin(images={"/i.jpg": make_image("i", 64, 48)}) as origin, \
            Runtime.from_settings(tmp_settings(**origin.settings_overrides())) as rt:
        plan = prepare(rt, ArticleInput(f'<img src="{origin.url("/i.jpg")}">'.encode()), article_id="f1")
        real_put = rt.store.put

        def failing_put(key: str, data: bytes, **kw: Any) -> bool:
            if key.startswith("blobs/"):
                raise StoreError(f"cannot write {key!r}: disk full")
            return real_put(key, data, **kw)

        rt.store.put = failing_put  # type: ignore[method-assign]
        with pytest.raises(StoreError):
            capture_item(rt, plan, plan.items[0].item_id)
        assert load_result(rt, plan, plan.items[0].item_id) is None
        rt.store.put = real_put  # type: ignore[method-assign]
        assert capture_item(rt, plan, plan.items[0].item_id).status == "archived"


def test_a_late_capture_never_overwrites_a_committed_result(tmp_settings: Callable[..., Settings],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The local runner commits 'timed out' at its deadline and writes the version with it; the capture
    that ends afterwards (here: held on an event) stores nothing and gets the committed result back."""
    with Runtime.from_settings(tmp_settings()) as rt:
        plan = prepare(rt, ArticleInput(ARTICLE), article_id="late")
        item = plan.items[0]
        release, started = threading.Event(), threading.Event()

        def slow_image(rt_: Runtime, plan_: Any, item_: Any) -> ImageResult:
            started.set()
            release.wait(10)
            return ImageResult(item_id=item_.item_id, url=item_.url, status="rejected", error="too slow to decode")

        monkeypatch.setattr(capture_step, "_capture_image", slow_image)
        got: list[Any] = []
        worker = threading.Thread(target=lambda: got.append(capture_item(rt, plan, item.item_id)))
        worker.start()
        assert started.wait(10)
        commit_result(rt, plan, failed_result(item, "timed out after 60s"))
        release.set()
        worker.join(10)
        stored = load_results(rt, plan)[item.item_id]
        assert (stored.status, stored.error) == ("failed", "timed out after 60s")
        assert got and got[0].status == "failed"
