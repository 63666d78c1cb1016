"""Real Celery worker processes for tests and benchmarks, configured through ARCHIVER_* variables."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from archiver.config.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process load exactly these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVER_")}
    for name, value in settings.model_dump().items():
        env[f"ARCHIVER_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


class Worker:
    """`celery -A workers.app worker` in its own process group."""

    def __init__(self, env: dict[str, str], log: Path, concurrency: int = 2, pool: str = "prefork",
                 supervised: bool = False) -> None:
        """`supervised`: run it as production does, through `archiver worker` (which starts the Celery
        worker again when it dies on its own) instead of `celery worker` itself."""
        self.log = log
        argv = ([sys.executable, "-m", "archiver.cli", "worker", "--concurrency", str(concurrency)] if supervised
                else [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "-Q", "archiver", "--pool", pool,
                      "--concurrency", str(concurrency), "--without-gossip", "--without-mingle", "--loglevel", "INFO"])
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def alive(self) -> bool:
        """Whether the worker's (or its supervisor's) process is still running."""
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the worker and its pool children: no chance to ack, requeue or clean up."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
