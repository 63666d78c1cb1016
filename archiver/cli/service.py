"""CLI of the running service: `archiver serve` (the API, web UI and stable URLs) and `archiver worker`
(a Celery worker; the library itself never imports Celery, this command executes the `celery` program)."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

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
    """`archiver worker`: replace this process with a Celery worker on the archiver queue (never returns).

    The worker is this interpreter's `python -m celery`, so it runs from the same environment as this
    command whether or not that environment's bin/ is on PATH. MissingExtra (exit 2, one line) when
    Celery or kombu's Redis transport is not installed (the `redis` extra); OSError if exec fails."""
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
    os.execv(argv[0], argv)  # noqa: S606 - fixed argv, no shell
    return 0  # pragma: no cover - execv does not return
