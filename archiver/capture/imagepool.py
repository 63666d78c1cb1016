"""Image work in worker processes that are killed at the time limit, under a shared memory budget.

Pillow's decoders run in C and cannot be interrupted from Python: a thread that decodes a hostile
progressive JPEG runs for minutes whatever its deadline says. So every decode of untrusted bytes
happens in an image worker process (``archiver.capture.imageworker.serve``), and the caller waits for
its answer only until the time limit, then kills it: the image is rejected with "image decoding
exceeded N s", and a fresh worker replaces the killed one on the next request.

The workers are plain child processes (``subprocess.Popen`` of this Python), kept and reused: a
worker starts once (about a tenth of a second), not once per image. They are not ``multiprocessing``
children, so they can be started from a Celery prefork child (a daemonic process, which
``multiprocessing`` refuses to give children), from the local runner's threads and from the web
server alike. A worker reads its requests on stdin: when the process that started it dies, the
worker ends at its next read, and one busy with a decode ends itself by SIGALRM a few seconds after
the limit.

Each process has one pool per (``media_workers``, ``media_memory_budget``): at most that many workers
decode at once, and before decoding, each image reserves what its worker estimated from the header
(``ImageJob.estimate``: the decoded pixels and the copies deriving makes) from the budget, in arrival
order (an image sent holding a worker's share of the budget, ``ADVANCE`` at most, is decoded at once
when its estimate fits that share). Images that would not fit wait for those ahead to finish; an
image larger than the whole budget runs alone. The time limit counts the worker's own work, not the
wait for a worker or for the budget.

After a big image a worker hands the memory it freed back to the system (glibc's ``malloc_trim``),
so an idle worker does not keep the memory of the last big image.
"""

from __future__ import annotations

import atexit
import fcntl
import itertools
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archiver.capture.imaging import MAX_HEADER, MediaRejected, encode_frame, parse_header

if TYPE_CHECKING:
    from archiver.config.settings import Settings

# The directory that holds the archiver package: the worker imports the same code as its parent.
_ROOT = str(Path(__file__).resolve().parents[2])
_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); "
         "from archiver.capture.imageworker import serve; serve(cards=sys.argv[2:] == ['cards'])")
# Seconds a new worker has to say it is ready (not counted against any image's time limit).
START_TIMEOUT = 30.0

# The most of the memory budget an image holds before its estimate is known (ImagePool.advance): a usual
# photo's estimate fits it (a 1200x800 JPEG's is about 35 MB), so it is opened and decoded in one request.
ADVANCE = 64 << 20
# What "go_within" says where there is no budget: any estimate fits.
MAX_ADVANCE = 1 << 62
# Bytes a pipe to a worker holds (Linux's default ceiling for an unprivileged process is 1 MB).
PIPE_SIZE = 1 << 20


class ImagingUnavailable(OSError):
    """No image worker could be started or it was killed from outside (not by the image): worth retrying."""


class _Timeout(Exception):
    """The worker did not answer before the deadline."""


class _Gone(Exception):
    """The worker's pipe closed or it answered garbage."""


def _died(proc: subprocess.Popen[bytes]) -> str:
    """How a worker that closed its pipe ended, for messages."""
    try:
        code = proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        return "closed its pipe"
    return f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"


class _Worker:
    """One image worker process and its two pipes; every read and write is bounded by a deadline."""

    def __init__(self, cards: bool = False) -> None:
        """Start the process and wait for its greeting; with `cards` it loads the card stack (fonts,
        templates) before it greets (``imageworker.serve``). ImagingUnavailable when it does not start."""
        env = {**os.environ, "MALLOC_ARENA_MAX": "2"}
        try:
            self.proc = subprocess.Popen([sys.executable, "-I", "-c", _BOOT, _ROOT, *(["cards"] if cards else [])],
                                         stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                                         close_fds=True, bufsize=0)
        except OSError as exc:   # kept as the cause: EAGAIN or ENOMEM make it an infrastructure fault
            raise ImagingUnavailable(f"could not start an image worker: {exc}") from exc
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.wfd, self.rfd = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        os.set_blocking(self.wfd, False)
        for fd in (self.wfd, self.rfd):   # a photo in one write, not a poll per 64 KB (Linux; else as is)
            with suppress(OSError, AttributeError):
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        self._readable, self._writable = select.poll(), select.poll()
        self._readable.register(self.rfd, select.POLLIN)
        self._writable.register(self.wfd, select.POLLOUT)
        try:
            header, _ = self.receive(time.monotonic() + START_TIMEOUT)
        except (_Timeout, _Gone) as exc:
            self.kill()
            raise ImagingUnavailable(f"the image worker did not start: {exc}") from None
        if not header.get("ready"):
            self.kill()
            raise ImagingUnavailable("the image worker did not start: no greeting")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the worker, reap it, close the pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
        with suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()

    def _wait(self, poller: select.poll, deadline: float) -> None:
        timeout = deadline - time.monotonic()
        if timeout <= 0 or not poller.poll(max(1, int(timeout * 1000))):
            raise _Timeout()

    def send(self, header: dict[str, Any], blobs: list[bytes], deadline: float) -> None:
        """Write one frame; _Timeout past the deadline, _Gone when the worker closed its end."""
        for piece in encode_frame(header, blobs):
            view = memoryview(piece)
            while view:
                self._wait(self._writable, deadline)
                try:
                    n = os.write(self.wfd, view)
                except BlockingIOError:
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    raise _Gone(_died(self.proc)) from None
                view = view[n:]

    def _read(self, n: int, deadline: float) -> bytes:
        parts, left = [], n
        while left:
            self._wait(self._readable, deadline)
            chunk = os.read(self.rfd, min(left, 1 << 20))
            if not chunk:
                raise _Gone(_died(self.proc))
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)

    def receive(self, deadline: float, max_blobs: int = 1 << 30) -> tuple[dict[str, Any], list[bytes]]:
        """Read one frame; _Timeout past the deadline, _Gone for a closed pipe or a frame not ours."""
        (length,) = struct.unpack(">I", self._read(4, deadline))
        if length > MAX_HEADER:
            raise _Gone(f"sent a header of {length} bytes")
        try:
            header, lengths = parse_header(self._read(length, deadline))
        except ValueError as exc:
            raise _Gone(f"sent garbage: {exc}") from None
        if sum(lengths) > max_blobs:
            raise _Gone(f"sent {sum(lengths)} bytes of results")
        return header, [self._read(n, deadline) for n in lengths]


class MemoryBudget:
    """A counting semaphore on bytes, granted in arrival order.

    ``hold(n)`` waits until the holders leave room for `n` bytes (or hold nothing at all, so an
    amount over the whole capacity still runs, alone) and everyone who came before was served.
    A capacity of 0 means no budget. ``peak`` is the most ever held at once (for tests and metrics).
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = max(0, int(capacity))
        self.used = 0
        self.peak = 0
        self._cond = threading.Condition()
        self._queue: deque[object] = deque()

    @contextmanager
    def hold(self, amount: int) -> Iterator[None]:
        """Hold `amount` bytes of the budget for the duration of the block (waiting for them first)."""
        amount = max(0, int(amount)) if self.capacity else 0
        ticket = object()
        with self._cond:
            self._queue.append(ticket)
            try:
                while not (self._queue[0] is ticket and (self.used == 0 or self.used + amount <= self.capacity)):
                    self._cond.wait()
            except BaseException:
                self._queue.remove(ticket)
                self._cond.notify_all()
                raise
            self._queue.popleft()
            self.used += amount
            self.peak = max(self.peak, self.used)
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self.used -= amount
                self._cond.notify_all()


@dataclass(frozen=True)
class ImageOutcome:
    """What a worker found: size as displayed, frames, difference hash, and the serving copies by name
    (a copy whose bytes are the original's is the very bytes object given to ``ImagePool.run``)."""

    width: int
    height: int
    frames: int
    dhash: str | None
    derived: dict[str, bytes]


class ImagePool:
    """Up to `workers` image worker processes, started when needed and reused, and the memory budget
    their images share. Thread-safe; one per process (``pool_for``)."""

    def __init__(self, workers: int, budget: int) -> None:
        self.max_workers = max(1, int(workers))
        self.budget = MemoryBudget(budget)
        # What each image holds while its header is read (``run``): a worker's share of the budget, at
        # most ADVANCE (every worker holding one leaves most of the budget to images that need more).
        self.advance = min(self.budget.capacity // self.max_workers, ADVANCE) if self.budget.capacity else MAX_ADVANCE
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._count = 0      # workers alive: idle, in use or starting
        self._starting = 0   # of those, being started (in a background thread each)
        self._failures = 0   # starts that failed, ever
        self._ids = itertools.count(1)        # checkouts, numbered
        self._waiters: set[int] = set()       # those waiting now
        self._failed_for: dict[int, BaseException] = {}   # those of them whose own start failed: why
        self.started = 0     # workers ever started (for tests)

    def run(self, data: bytes, limits: dict[str, Any], limit: float) -> ImageOutcome:
        """Open, then (once the budget allows) decode and derive `data` in a worker.

        `limits` are the ImageJob limits; `limit` the seconds the worker may spend, waiting excluded.
        MediaRejected for an image we do not keep, including one whose work passed the limit (its
        worker is killed) or crashed its worker; ImagingUnavailable when no worker could run it."""
        worker = self._checkout()
        healthy = False
        try:
            # A share of the budget is held while the worker opens the image: when the estimate fits
            # it, the worker decodes at once (one round trip, not two); else the share is let go and
            # the estimate waited for. Decoding never starts without its estimate held either way.
            with self.budget.hold(self.advance):
                start = time.monotonic()
                header, blobs = self._call(worker, {**limits, "op": "open", "limit": limit,
                                                    "go_within": self.advance},
                                           [data], start + limit, limit, max_blobs=len(data) + (64 << 20))
            if not header.get("ok"):
                healthy = True
                raise MediaRejected(str(header.get("error") or "refused by the image worker"))
            if "info" in header:
                healthy = True
                return _outcome(header, blobs, data)
            estimate = header.get("estimate")
            if not isinstance(estimate, int):
                raise MediaRejected("the image worker answered without an estimate")
            left = limit - (time.monotonic() - start)   # the wait for the budget is not the image's time
            with self.budget.hold(estimate):
                deadline = time.monotonic() + max(0.0, left)
                header, blobs = self._call(worker, {"op": "go", "limit": max(0.0, left)}, [], deadline, limit,
                                           max_blobs=len(data) + (64 << 20))
            healthy = True
            if not header.get("ok"):
                raise MediaRejected(str(header.get("error") or "refused by the image worker"))
            return _outcome(header, blobs, data)
        finally:
            self._checkin(worker, healthy)

    def render_cards(self, request: bytes, pictures: dict[str, bytes], limit: float) -> tuple[bytes, bytes, bytes]:
        """(HTML card, PNG card, page) of one capture, rendered by a worker from `request` (JSON:
        ``cards.write.CardSources.request``) and `pictures` (bytes by the key the content names them
        by), within `limit` seconds of the worker's own time, holding a worker's share of the memory
        budget.

        MediaRejected when the rendering passed the limit (its worker is killed), crashed or killed its
        worker (from outside too) or failed; ImagingUnavailable when no worker could be started."""
        names = list(pictures)
        worker = self._checkout()
        healthy = False
        try:
            with self.budget.hold(self.advance):
                try:
                    header, blobs = self._call(worker, {"op": "cards", "limit": limit, "pictures": names},
                                               [request, *(pictures[n] for n in names)],
                                               time.monotonic() + limit, limit, max_blobs=256 << 20,
                                               what="rendering the cards")
                except ImagingUnavailable as exc:
                    # Killed from outside while it rendered (the OOM killer): these pictures may be why,
                    # so the caller must not decode them itself, as it may when no worker could start.
                    raise MediaRejected(f"rendering the cards failed: {exc}") from None
            healthy = True
            if not header.get("ok"):
                raise MediaRejected(str(header.get("error") or "refused by the image worker"))
            if len(blobs) != 3:
                raise MediaRejected("the image worker answered garbage")
            return blobs[0], blobs[1], blobs[2]
        finally:
            self._checkin(worker, healthy)

    def _call(self, worker: _Worker, header: dict[str, Any], blobs: list[bytes], deadline: float, limit: float,
              max_blobs: int = 1 << 30, what: str = "image decoding") -> tuple[dict[str, Any], list[bytes]]:
        try:
            worker.send(header, blobs, deadline)
            return worker.receive(deadline, max_blobs)
        except _Timeout:
            worker.kill()
            raise MediaRejected(f"{what} exceeded {limit:g} s") from None
        except _Gone as exc:
            code = worker.proc.poll()
            worker.kill()
            if code == -signal.SIGKILL:   # not sent by us: the kernel's OOM killer, an operator
                raise ImagingUnavailable(f"the image worker was killed from outside ({exc})") from None
            failed = "the image decoder" if what == "image decoding" else what
            raise MediaRejected(f"{failed} failed: it {exc}") from None

    def prestart(self, n: int = 1) -> int:
        """Start up to `n` workers now, in the background, so images that come later find one ready
        instead of waiting for a worker's start (about 110 ms: an interpreter, Pillow, a first image, the card stack).
        Returns how many were started (never past ``max_workers``)."""
        with self._cond:
            started = 0
            while started < n and self._count < self.max_workers and self._start(cards=True):
                started += 1
            return started

    def _start(self, owner: int = 0, cards: bool = False) -> bool:
        """Start one worker in a background thread (caller holds the lock; below ``max_workers``); `owner`
        is the id of the checkout making it (0: ``prestart``), told of its failure in ``_failed_for``.
        A worker started ahead (`cards`) also loads the card stack before it is ready; one an image is
        waiting for does not (the first card it renders loads it).
        False, counted as a failed start, when no thread can be had (a process or thread limit)."""
        self._count += 1
        self._starting += 1
        try:
            threading.Thread(target=self._started, args=(owner, cards), name="image-worker-start",
                             daemon=True).start()
        except RuntimeError as exc:   # "can't start new thread"
            self._starting -= 1
            failure = ImagingUnavailable(f"could not start an image worker: {exc}")
            failure.__cause__ = exc
            self._start_failed(owner, failure)
            return False
        return True

    def _start_failed(self, owner: int, failure: BaseException) -> None:
        """Count a start that failed (caller holds the lock) and tell its checkout, if still waiting."""
        self._count -= 1
        self._failures += 1
        if owner in self._waiters:
            self._failed_for[owner] = failure
        self._cond.notify_all()

    def start_up_to(self, n: int) -> int:
        """Start workers in the background until `n` (at most ``max_workers``) are alive or starting,
        those started ahead of any pool (``start_ahead``) included; returns how many it started."""
        with self._cond:
            started = 0
            while self._count < min(n, self.max_workers) and self._start(cards=True):
                started += 1
            return started

    def adopt(self, futures: list[Future[_Worker]]) -> None:
        """Take workers started before this pool existed (``start_ahead``) as this pool's own, each as it
        comes up (or fails, counted as a failed start); those past ``max_workers`` are ended."""
        with self._cond:
            room = max(0, self.max_workers - self._count)
            taken, extra = futures[:room], futures[room:]
            self._count += len(taken)
            self._starting += len(taken)
        for future in extra:
            future.add_done_callback(_end_worker)
        for future in taken:
            future.add_done_callback(self._arrived)

    def _arrived(self, future: Future[_Worker]) -> None:
        failure = future.exception()
        self._arrive(0, None if failure is not None else future.result(), failure)

    def _started(self, owner: int, cards: bool = False) -> None:
        try:
            worker = _Worker(cards)
        except BaseException as exc:   # ImagingUnavailable; anything else is reported the same way
            self._arrive(owner, None, exc)
            return
        self._arrive(owner, worker, None)

    def _arrive(self, owner: int, worker: _Worker | None, failure: BaseException | None) -> None:
        """A start ended: `worker` joins the idle ones, or the start made for checkout `owner` failed."""
        with self._cond:
            self._starting -= 1
            if worker is None:
                self._start_failed(owner, failure or ImagingUnavailable("the image worker did not start"))
                return
            self.started += 1
            self._idle.append(worker)
            self._cond.notify_all()

    def _checkout(self) -> _Worker:
        """An idle worker: the first one free, whether just started or given back by another image.

        A checkout that finds none starts one (below ``max_workers``, and unless enough are starting
        for the checkouts already waiting) and takes whichever is ready first: a worker starts in tens
        of milliseconds, a usual image takes a few, so waiting for a busy one is often quicker. The one
        it started is kept for the next image. A start that fails is made up by a waiting checkout's
        start; a checkout whose own start failed starts no more, and raises ImagingUnavailable once
        no worker is left that could come back."""
        with self._cond:
            me = next(self._ids)
            self._waiters.add(me)
            seen = self._failures   # failed starts (anyone's) already made up for
            try:
                while True:
                    while self._idle:
                        worker = self._idle.pop()
                        if worker.alive():
                            return worker
                        worker.kill()
                        self._count -= 1
                    if me in self._failed_for:
                        if self._count == 0:   # nothing starting, nothing busy
                            raise self._unavailable(self._failed_for[me])
                    elif self._count < self.max_workers and \
                            (self._starting < self._waiting or self._failures > seen):
                        seen = self._failures
                        if not self._start(me):
                            continue
                    self._cond.wait()
            finally:
                self._waiters.discard(me)
                self._failed_for.pop(me, None)

    @property
    def _waiting(self) -> int:
        """How many checkouts are waiting for a worker."""
        return len(self._waiters)

    @staticmethod
    def _unavailable(failure: BaseException) -> ImagingUnavailable:
        """A checkout's own failed start, as the ImagingUnavailable it raises (the cause kept: EAGAIN or
        ENOMEM make it an infrastructure fault)."""
        if isinstance(failure, ImagingUnavailable):
            exc = ImagingUnavailable(str(failure))
            exc.__cause__ = failure.__cause__
        else:
            exc = ImagingUnavailable(f"could not start an image worker: {type(failure).__name__}: {failure}")
            exc.__cause__ = failure
        return exc

    def _checkin(self, worker: _Worker, healthy: bool) -> None:
        healthy = healthy and worker.alive()
        if not healthy:
            worker.kill()   # also closes the pipes of one that died after answering
        with self._cond:
            if healthy:
                self._idle.append(worker)
            else:
                self._count -= 1
            self._cond.notify_all()

    def close(self) -> None:
        """Kill the idle workers (those in use are killed by their callers' limits)."""
        with self._cond:
            idle, self._idle = self._idle, []
            self._count -= len(idle)
        for worker in idle:   # every one signalled first, so they die together, then each is reaped
            with suppress(OSError):
                worker.proc.kill()
        for worker in idle:
            worker.kill()

    def worker_pids(self) -> list[int]:
        """The idle workers' process ids (for tests)."""
        with self._cond:
            return [w.proc.pid for w in self._idle]


def _outcome(header: dict[str, Any], blobs: list[bytes], data: bytes) -> ImageOutcome:
    """The worker's answer to "go" as an ImageOutcome; the copies it named "original" are `data` itself."""
    info, names, same = header.get("info"), header.get("names"), header.get("original", [])
    if not isinstance(info, dict) or not isinstance(names, list) or len(names) != len(blobs) \
            or not isinstance(same, list) or not all(isinstance(n, str) for n in same):
        raise MediaRejected("the image worker answered garbage")
    try:
        width, height, frames = int(info["width"]), int(info["height"]), int(info["frames"])
    except (KeyError, TypeError, ValueError):
        raise MediaRejected("the image worker answered garbage") from None
    dhash = info.get("dhash")
    derived = {str(n): b for n, b in zip(names, blobs, strict=True)}
    derived.update((n, data) for n in same)
    return ImageOutcome(width, height, frames, dhash if isinstance(dhash, str) else None, derived)


_POOLS: dict[tuple[int, int], ImagePool] = {}
_POOLS_LOCK = threading.Lock()
# Workers started before any pool existed (``start_ahead``), for the first pool made to take.
_AHEAD: list[Future[_Worker]] = []


def start_ahead(n: int = 1) -> int:
    """Start `n` image workers now, in the background, before the settings (and so the pool) are known:
    what the console script calls first for a command that will archive, so the workers start (about
    110 ms: an interpreter, Pillow, the card stack) while the command's modules and settings load. The
    first pool made (``pool_for``) takes them as its own; one never taken ends when this process does
    (its worker reads end of input). Returns how many were started: none on a single core, where the
    worker would only take the CPU the command's own start needs (the pool starts it when an image
    comes), fewer when no thread can be had."""
    if _cores() < 2:
        return 0
    started = 0
    for _ in range(n):
        future: Future[_Worker] = Future()
        try:
            threading.Thread(target=_make_worker, args=(future,), name="image-worker-start", daemon=True).start()
        except RuntimeError:   # "can't start new thread": the pool starts its workers when needed
            break
        with _POOLS_LOCK:
            _AHEAD.append(future)
        started += 1
    return started


def _cores() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _make_worker(future: Future[_Worker]) -> None:
    try:
        future.set_result(_Worker(cards=True))
    except BaseException as exc:   # ImagingUnavailable; the pool that takes it counts a failed start
        future.set_exception(exc)


def _end_worker(future: Future[_Worker]) -> None:
    if future.exception() is None:
        future.result().kill()


def pool_for(settings: Settings) -> ImagePool:
    """This process's pool for the settings' ``media_workers`` and ``media_memory_budget``; the first one
    made takes the workers started ahead (``start_ahead``)."""
    key = (max(1, int(settings.media_workers)), max(0, int(settings.media_memory_budget)))
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is not None:
            return pool
        pool = _POOLS[key] = ImagePool(*key)
        ahead = _AHEAD[:]
        _AHEAD.clear()
        if ahead:   # before another thread can find the pool and start a worker of its own
            pool.adopt(ahead)
        return pool


def prestart_workers(settings: Settings, n: int = 1) -> int:
    """Make sure `n` image workers of this process's pool for `settings` are up or starting, in the
    background (``ImagePool.start_up_to``; those started ahead count): what a run that is about to
    capture calls first, so the workers start while it reads its article."""
    return pool_for(settings).start_up_to(n)


def _forget_pools() -> None:
    """In a forked child: the parent's workers are not ours to use (their pipes stay the parent's)."""
    global _POOLS_LOCK
    _POOLS_LOCK = threading.Lock()
    _POOLS.clear()
    _AHEAD.clear()


def close_pools() -> None:
    """Kill every idle image worker of this process (also run at exit), and those started ahead that no
    pool took."""
    with _POOLS_LOCK:
        pools = list(_POOLS.values())
        ahead = _AHEAD[:]
        _AHEAD.clear()
    for pool in pools:
        pool.close()
    for future in ahead:
        if future.done():
            _end_worker(future)
        else:
            future.add_done_callback(_end_worker)


os.register_at_fork(after_in_child=_forget_pools)
atexit.register(close_pools)
