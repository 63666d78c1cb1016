"""The periodic sweep (Celery beat): re-queue what stuck articles miss (archiver/runners/sweep.py).

One round runs at a time across workers and beats (a Redis lock). A round is skipped while the queue
holds more than a batch of waiting messages: articles waiting there are slow, not lost, and queuing
them again would only add copies behind them.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from archiver.coordination import RedisCoordinator
from archiver.faults import is_infrastructure_error
from archiver.runners.queue import QUEUE
from archiver.runners.sweep import sweep
from workers.app import app, settings
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
    backlog = int(coord.redis.llen(QUEUE))
    if backlog > settings.sweep_batch:
        return {"skipped": f"{backlog} messages are waiting in the queue"}
    try:
        with coord.lock("sweep", timeout=1):
            return asdict(sweep(rt, _send))
    except TimeoutError:
        return {"skipped": "another sweep is running"}
    except Exception as exc:
        if not is_infrastructure_error(exc):
            raise
        # Storage, the catalog or the broker is down: the next round (sweep_interval) goes on.
        log.warning("sweep round ended early: %s: %s", type(exc).__name__, exc)
        return {"skipped": f"{type(exc).__name__}"}
