"""The periodic feed poll (Celery beat). A Redis lock makes one run at a time across workers,
so even two beat schedulers by mistake never submit an entry twice concurrently."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from archiver.runners.feeds import poll_feeds as poll
from archiver.runners.intake import Intake
from workers.app import app
from workers.tasks import runtime

_intake: Intake | None = None


@app.task(name="archiver.poll_feeds", ignore_result=True)
def poll_feeds() -> dict[str, Any]:

    global _intake
    rt = runtime()
    if _intake is None:
        _intake = Intake(rt)
    try:
        with rt.coordinator.lock("poll-feeds", timeout=1):
            return asdict(poll(_intake))
    except TimeoutError:
        return {"skipped": "another poll is running"}
