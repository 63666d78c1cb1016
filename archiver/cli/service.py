"""CLI of the running service: `archiver serve` (the API, web UI and stable URLs) and `archiver worker`
(a supervised Celery worker; the library itself never imports Celery, this command runs the `celery`
program as its child)."""

from __future__ import annotations

import argparse
import importlib.util
import signal
import subprocess
import sys
import time

from archiver.config.settings import Settings
from archiver.errors import MissingExtra
from archiver.runners.queue import QUEUE
from archiver.web.app import create_app


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver serve`: run the web app with uvicorn on `args.host`:`args.port` until stopped; returns 0.

    X-Forwarded-Proto and X-Forwarded-For are believed only from the proxies in `forwarded_allow_ips`
    (so a request a listed TLS proxy received over https is https to the app: its session cookie is
    `Secure`); uvicorn's own FORWARDED_ALLOW_IPS variable is not consulted."""
    import uvicorn  # only this command serves HTTP; other commands start without it

    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info", proxy_headers=True,
                forwarded_allow_ips=[p.strip() for p in settings.forwarded_allow_ips.split(",") if p.strip()])
    return 0


def cmd_worker(args: argparse.Namespace, _settings: Settings) -> int:
    """`archiver worker`: run a Celery worker on the archiver queue, and run it again when it dies.

    The worker is this interpreter's `python -m celery`, so it runs from the same environment as this
    command whether or not that environment's bin/ is on PATH. Celery's worker ends itself on some
    broker faults ("Unrecoverable error" after Redis went away and came back); this command is its
    supervisor: a worker that exits on its own is started again after a pause (1 s doubling to 30 s,
    back to 1 s once a worker ran for a minute), so a broker outage never leaves the queue without
    workers. SIGTERM or SIGINT is passed on to the worker (a warm shutdown) and ends this command with
    the worker's status. MissingExtra (exit 2, one line) when Celery or kombu's Redis transport is not
    installed (the `redis` extra)."""
    # Checked here so that a missing extra is one line, not the worker's traceback. Celery is looked
    # up, not imported (the library never imports it); kombu's Redis transport is imported, since its
    # own needs (redis, packaging) are what a plain `celery` install lacks.
    try:
        if importlib.util.find_spec("celery") is None:
            raise ModuleNotFoundError("No module named 'celery'", name="celery")
        import kombu.transport.redis  # noqa: F401
    except ImportError as exc:
        raise MissingExtra("archiver worker", "redis", exc) from None
    argv = [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "--loglevel", args.loglevel,
            "--concurrency", str(args.concurrency), "-Q", QUEUE]
    return supervise(argv)


def supervise(argv: list[str], *, pause: float = 1.0, max_pause: float = 30.0, healthy_after: float = 60.0) -> int:
    """Run `argv` as a child and start it again whenever it exits without being asked to stop; returns
    its exit status once a SIGTERM or SIGINT sent to this process (and passed on to it) ends it."""
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    wait = pause
    while True:
        started = time.monotonic()
        child = subprocess.Popen(argv)
        code = child.wait()  # a signal handled meanwhile does not interrupt the wait (PEP 475)
        if stopping:
            return code
        wait = pause if time.monotonic() - started > healthy_after else min(max_pause, wait * 2)
        print(f"archiver worker: the Celery worker exited with status {code}; starting it again in {wait:.0f} s",
              file=sys.stderr, flush=True)
        deadline = time.monotonic() + wait
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.2)
        if stopping:
            return code
