"""How the image pool hands out workers (``ImagePool._checkout``): started ahead by ``prestart``, the
first one free taken whether it was started for this image or given back by another, a start's
failure reported only when no worker is left that could come back. Unit tests with a stand-in for the
worker process (its start is what they control); real workers are exercised by test_media_limits."""

from __future__ import annotations

import errno
import itertools
import threading
from collections.abc import Callable, Iterator

import pytest

from archiver.capture import imagepool
from archiver.capture.imagepool import ImagePool, ImagingUnavailable
from archiver.faults import is_infrastructure_error


class FakeWorker:
    """Starts when the test lets it (``gate``), or fails as told; never dies on its own."""

    gate = threading.Event()
    fail: BaseException | None = None   # every start fails with it
    fail_next = 0                       # or only the next this many starts do
    lock = threading.Lock()
    ids = itertools.count(1)

    def __init__(self, cards: bool = False) -> None:
        if not FakeWorker.gate.wait(10):
            raise AssertionError("a worker start was never let through")
        if FakeWorker.fail is not None:
            raise FakeWorker.fail
        with FakeWorker.lock:
            if FakeWorker.fail_next:
                FakeWorker.fail_next -= 1
                raise ImagingUnavailable("could not start an image worker: out of memory")
        self.id = next(FakeWorker.ids)
        self.killed = False

    def alive(self) -> bool:
        return not self.killed

    def kill(self) -> None:
        self.killed = True


@pytest.fixture(autouse=True)
def fake_worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeWorker]]:
    FakeWorker.gate = threading.Event()
    FakeWorker.fail = None
    FakeWorker.fail_next = 0
    FakeWorker.ids = itertools.count(1)
    monkeypatch.setattr(imagepool, "_Worker", FakeWorker)
    yield FakeWorker
    FakeWorker.gate.set()


def checkout_in_thread(pool: ImagePool, give_back: bool = False) -> tuple[threading.Thread, list[object]]:
    """A thread checking a worker out (and, with `give_back`, in again at once, as an image done);
    what it got, or raised, is in the list."""
    got: list[object] = []

    def run() -> None:
        try:
            worker = pool._checkout()
        except BaseException as exc:
            got.append(exc)
            return
        got.append(worker)
        if give_back:
            pool._checkin(worker, True)  # type: ignore[arg-type]

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, got


def wait_until(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    pause = threading.Event()
    for _ in range(int(seconds / 0.01)):
        if predicate():
            return
        pause.wait(0.01)
    raise AssertionError("condition not reached")


def test_prestart_starts_workers_in_the_background_up_to_the_maximum() -> None:
    pool = ImagePool(2, 0)
    assert pool.prestart(5) == 2            # returns at once: the starts wait on the gate
    assert pool.prestart(1) == 0            # the maximum is reached
    FakeWorker.gate.set()
    wait_until(lambda: len(pool._idle) == 2)
    first, second = pool._checkout(), pool._checkout()
    assert {first.id, second.id} == {1, 2} and pool.started == 2   # nothing more was started


def test_a_checkout_takes_a_worker_given_back_before_its_own_one_has_started() -> None:
    pool = ImagePool(4, 0)
    FakeWorker.gate.set()
    busy = pool._checkout()                 # one worker, in use by another image
    FakeWorker.gate.clear()                 # the next start is slow
    thread, got = checkout_in_thread(pool)
    wait_until(lambda: pool._starting == 1)  # it started one of its own ...
    pool._checkin(busy, True)               # ... but the busy one came back first
    thread.join(5)
    assert got == [busy]
    FakeWorker.gate.set()                   # the one it started is kept for the next image
    wait_until(lambda: len(pool._idle) == 1)
    assert pool._checkout() is not busy and pool.started == 2


def test_waiting_checkouts_start_one_worker_each_not_more() -> None:
    pool = ImagePool(8, 0)
    assert pool.prestart(1) == 1
    threads = [checkout_in_thread(pool) for _ in range(3)]
    wait_until(lambda: pool._waiting == 3)
    assert pool._starting == 3 and pool._count == 3   # the prestarted one counts for the first waiter
    FakeWorker.gate.set()
    for thread, _ in threads:
        thread.join(5)
    assert sorted(got[0].id for _, got in threads) == [1, 2, 3]  # type: ignore[attr-defined]


def test_a_failed_start_is_reported_with_its_cause_when_no_worker_can_come() -> None:
    pool = ImagePool(2, 0)
    cause = OSError(errno.EAGAIN, "Resource temporarily unavailable")
    failure = ImagingUnavailable(f"could not start an image worker: {cause}")
    failure.__cause__ = cause
    FakeWorker.fail = failure
    FakeWorker.gate.set()
    with pytest.raises(ImagingUnavailable, match="could not start an image worker") as raised:
        pool._checkout()
    assert raised.value is not failure and raised.value.__cause__ is cause
    assert is_infrastructure_error(raised.value)   # EAGAIN: the machine's trouble, retried later
    assert pool._count == 0 and pool._starting == 0
    FakeWorker.fail = None                  # the next image tries again, and gets one
    assert pool._checkout().id >= 1


def test_a_failed_start_waits_for_a_busy_worker_rather_than_failing_the_image() -> None:
    pool = ImagePool(2, 0)
    FakeWorker.gate.set()
    busy = pool._checkout()
    FakeWorker.fail = ImagingUnavailable("could not start an image worker: out of memory")
    thread, got = checkout_in_thread(pool)
    wait_until(lambda: pool._failures == 1)
    assert got == [] and thread.is_alive()   # the busy worker may still come back
    pool._checkin(busy, True)
    thread.join(5)
    assert got == [busy]


def test_a_start_failing_for_an_unexpected_reason_is_imaging_unavailable() -> None:
    pool = ImagePool(1, 0)
    FakeWorker.fail = RuntimeError("boom")
    FakeWorker.gate.set()
    with pytest.raises(ImagingUnavailable, match="RuntimeError: boom"):
        pool._checkout()


def test_a_failed_prestart_does_not_fail_the_image_that_waited_for_it() -> None:
    pool = ImagePool(1, 0)
    FakeWorker.fail_next = 1                 # the prestart fails, the image's own start does not
    assert pool.prestart(1) == 1
    thread, got = checkout_in_thread(pool)
    wait_until(lambda: pool._waiting == 1)
    FakeWorker.gate.set()
    thread.join(5)
    assert len(got) == 1 and isinstance(got[0], FakeWorker) and pool._failures == 1


def test_one_failed_start_fails_at_most_the_image_that_made_it_not_all_waiting() -> None:
    pool = ImagePool(1, 0)
    FakeWorker.gate.set()
    busy = pool._checkout()
    FakeWorker.gate.clear()
    threads = [checkout_in_thread(pool, give_back=True) for _ in range(6)]
    wait_until(lambda: pool._waiting == 6)
    FakeWorker.fail_next = 1
    pool._checkin(busy, False)               # the only worker dies: one waiter starts the next, which
    FakeWorker.gate.set()                    # fails; the next one does not
    for thread, _ in threads:
        thread.join(5)
    outcomes = [type(got[0]).__name__ for _, got in threads]
    # The waiter whose start failed fails unless another's worker reached it first; the others do not.
    assert outcomes.count("FakeWorker") >= 5 and set(outcomes) <= {"FakeWorker", "ImagingUnavailable"}, outcomes


def test_no_thread_for_a_start_is_a_failed_start_not_a_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = ImagePool(1, 0)
    FakeWorker.gate.set()
    start = threading.Thread.start

    def no_thread(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", no_thread)
    assert pool.prestart(1) == 0 and pool._count == 0 and pool._starting == 0
    with pytest.raises(ImagingUnavailable, match="can't start new thread"):
        pool._checkout()
    monkeypatch.setattr(threading.Thread, "start", start)
    assert isinstance(pool._checkout(), FakeWorker)


# --- workers started ahead of any pool (``start_ahead``: the console script, before the settings) -----
@pytest.fixture
def no_ahead(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An empty list of workers started ahead and no pools, for this test only, on two cores."""
    monkeypatch.setattr(imagepool, "_AHEAD", [])
    monkeypatch.setattr(imagepool, "_POOLS", {})
    monkeypatch.setattr(imagepool, "_cores", lambda: 2)
    yield


def test_no_worker_is_started_ahead_on_a_single_core(no_ahead: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imagepool, "_cores", lambda: 1)
    assert imagepool.start_ahead() == 0 and imagepool._AHEAD == []


class Limits:
    """What ``pool_for`` reads of the settings."""

    def __init__(self, workers: int) -> None:
        self.media_workers = workers
        self.media_memory_budget = 0


def test_workers_started_ahead_are_the_first_pools_own(no_ahead: None) -> None:
    assert imagepool.start_ahead(2) == 2
    pool = imagepool.pool_for(Limits(4))  # type: ignore[arg-type]
    assert pool._count == 2 and pool._starting == 2
    assert pool.start_up_to(1) == 0 and pool.start_up_to(3) == 1   # the ahead ones count
    FakeWorker.gate.set()
    wait_until(lambda: len(pool._idle) == 3)
    assert sorted(w.id for w in pool._idle) == [1, 2, 3] and pool.started == 3   # type: ignore[attr-defined]
    assert imagepool._AHEAD == [] and imagepool.pool_for(Limits(1)) is not pool  # another pool gets none
    assert imagepool.pool_for(Limits(1))._count == 0


def test_workers_started_ahead_past_the_pools_maximum_are_ended(no_ahead: None) -> None:
    FakeWorker.gate.set()
    assert imagepool.start_ahead(3) == 3
    wait_until(lambda: all(f.done() for f in imagepool._AHEAD))
    workers = [f.result() for f in imagepool._AHEAD]
    pool = imagepool.pool_for(Limits(1))  # type: ignore[arg-type]
    assert pool._count == 1 and [w.killed for w in workers] == [False, True, True]
    assert pool._checkout() is workers[0]


def test_a_worker_started_ahead_that_fails_is_a_failed_start(no_ahead: None) -> None:
    FakeWorker.fail_next = 1
    FakeWorker.gate.set()
    assert imagepool.start_ahead() == 1
    pool = imagepool.pool_for(Limits(2))  # type: ignore[arg-type]
    wait_until(lambda: pool._failures == 1 and pool._count == 0)
    assert pool._checkout().id == 1   # the image starts its own


def test_workers_started_ahead_that_no_pool_took_end_with_the_process(no_ahead: None) -> None:
    FakeWorker.gate.set()
    imagepool.start_ahead(2)
    wait_until(lambda: all(f.done() for f in imagepool._AHEAD))
    workers = [f.result() for f in imagepool._AHEAD]
    imagepool.close_pools()   # what runs at exit
    assert [w.killed for w in workers] == [True, True] and imagepool._AHEAD == []


@pytest.mark.parametrize(("argv", "ahead"), [(["archive", "story.html"], 1), (["--debug", "archive", "x"], 1),
                                            (["retry", "a1"], 1), (["archive", "--help"], 0),
                                            (["retry", "--queue", "a1"], 0), (["search", "words"], 0), ([], 0),
                                            (["retry", "a1", "--que"], 0), (["archive", "--he"], 0),
                                            (["--version", "archive"], 0), (["retry", "--queue=1", "a"], 0),
                                            (["archive", "--json", "x"], 1)])
def test_the_console_script_starts_a_worker_ahead_for_capturing_commands(
        no_ahead: None, monkeypatch: pytest.MonkeyPatch, argv: list[str], ahead: int) -> None:
    from archiver.cli import launch, main

    monkeypatch.setattr("sys.argv", ["archiver", *argv])
    monkeypatch.setattr(main, "console", lambda: None)  # what launch runs next
    launch.console()
    assert len(imagepool._AHEAD) == ahead
    FakeWorker.gate.set()


def test_workers_started_ahead_are_taken_before_another_thread_finds_the_pool(no_ahead: None) -> None:
    """The pool is published with the workers started ahead already its own: a checkout from another
    thread right after does not start a worker of its own."""
    imagepool.start_ahead()
    pool = imagepool.pool_for(Limits(1))  # type: ignore[arg-type]
    assert pool._count == 1 and pool._starting == 1
    thread, got = checkout_in_thread(imagepool.pool_for(Limits(1)))  # type: ignore[arg-type]
    wait_until(lambda: pool._waiting == 1)
    assert pool._count == 1   # nothing more was started
    FakeWorker.gate.set()
    thread.join(5)
    assert isinstance(got[0], FakeWorker) and pool.started == 1 and pool._count == 1
