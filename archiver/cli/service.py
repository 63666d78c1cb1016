"""CLI of the running service: `archiver serve` (the API, web UI and stable URLs) and `archiver worker`
(a Celery worker; the library itself never imports Celery, this command executes the `celery` program)."""

from __future__ import annotations

import argparse
import os

from archiver.config.settings import Settings
from archiver.runners.queue import QUEUE
from archiver.web.app import create_app


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver serve`: run the web app with uvicorn on `args.host`:`args.port` until stopped; returns 0."""
    import uvicorn  # only this command serves HTTP; other commands start without it

    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
    return 0


def cmd_worker(args: argparse.Namespace, _settings: Settings) -> int:
    """`archiver worker`: replace this process with a Celery worker on the archiver queue (never returns);
    OSError when the `celery` program cannot be run."""
    argv = ["celery", "-A", "workers.app", "worker", "--loglevel", args.loglevel,
            "--concurrency", str(args.concurrency), "-Q", QUEUE]
    os.execvp(argv[0], argv)  # noqa: S606 - fixed argv, no shell
    return 0  # pragma: no cover - execvp does not return
