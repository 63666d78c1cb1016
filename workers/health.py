"""Link-health tasks: a beat-driven scheduling round and one check per original.

Only one scheduling round runs at a time across all workers and beats (a Redis lock), so a second
beat by mistake queues nothing twice. Each round enrolls recently updated articles, takes the
originals that are due and queues their checks spread over the round's period (per-host politeness
is still the fetcher's job). A check that becomes dead triggers the per-site auto-restore policy.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from celery import Task

from archiver.dates import iso, utcnow
from archiver.health.originals import check, claim, due, enroll_all
from archiver.health.restore import auto_restore
from workers.app import app, settings
from workers.tasks import retry_faults, runtime

ROUND_SECONDS = settings.health_round_seconds
BATCH = 500
_last_enrolled: str | None = None


@app.task(name="archiver.health_schedule", ignore_result=True)
def schedule_checks() -> dict[str, Any]:
    global _last_enrolled
    rt = runtime()
    now = utcnow()
    try:
        with rt.coordinator.lock("health-schedule", timeout=1):
            enrolled = enroll_all(rt, since=_last_enrolled, now=now)
            _last_enrolled = iso(now - timedelta(seconds=ROUND_SECONDS))
            batch = due(rt, now=now, limit=BATCH)
            claim(rt, [o["url"] for o in batch], now + timedelta(hours=1))
    except TimeoutError:
        return {"skipped": "another scheduling round is running"}
    for o in batch:
        check_original.apply_async((o,), countdown=random.uniform(0, ROUND_SECONDS))
    return {"enrolled": enrolled, "queued": len(batch)}


@app.task(bind=True, name="archiver.health_check", ignore_result=True)
@retry_faults
def check_original(self: Task, original: dict[str, Any]) -> str:
    """Check one original (archiver.health.originals.check); a fault of storage or the catalog is
    retried, and a check that still cannot run is due again in a later round."""
    rt = runtime()
    rec = check(rt, original)
    if rec["state"] == "dead" and rec["since"] == rec["last_checked_at"]:
        auto_restore(rt, rec["url"])
    return rec["state"]
