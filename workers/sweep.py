"""The periodic sweep (Celery beat): re-queue what stuck articles miss (archiver/runners/sweep.py).

One round runs at a time across workers and beats (a Redis lock). Only work older than the last time
the queue was seen empty is taken for lost: articles waiting behind a backlog are slow, not lost, and
queuing them again would only add copies behind them.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from archiver.coordination import RedisCoordinator
from archiver.dates import utcnow
from archiver.faults import is_infrastructure_error
from archiver.runners.queue import QUEUE
from archiver.runners.sweep import queue_drained_at, sweep
from workers.app import app
from workers.tasks import runtime

log = logging.getLogger(__name__)


def _send(task: str, args: Any, kwargs: dict[str, Any]) -> None:
    app.send_task(task, args=list(args), kwargs=kwargs, queue=QUEUE)


@app.task(name="archiver.sweep", ignore_result=True)
def sweep_stuck_articles() -> dict[str, Any]:
    """One sweep round; returns what it did (or why it skipped)."""
    rt = runtime()
    coord = rt.coordinator
    assert isinstance(coord, RedisCoordinator)
    try:
        with coord.lock("sweep", timeout=1):
            now = utcnow()
            drained = queue_drained_at(coord.redis, QUEUE, now)
            if drained is None:
                return {"skipped": "the queue has not been seen empty yet: its messages are waiting, not lost"}
            return asdict(sweep(rt, _send, now=now, queued_before=drained))
    except TimeoutError:
        return {"skipped": "another sweep is running"}
    except Exception as exc:
        if not is_infrastructure_error(exc):
            raise
        # Storage, the catalog or the broker is down: the next round (sweep_interval) goes on.
        log.warning("sweep round ended early: %s: %s", type(exc).__name__, exc)
        return {"skipped": f"{type(exc).__name__}"}
