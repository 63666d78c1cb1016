"""The Celery app: Redis broker, no result backend, settings chosen for crash safety.

acks_late + reject_on_worker_lost: a task whose worker dies is delivered again; prefetch 1 so a dead
worker holds back at most one task. Chords are avoided (celery #4207, #5237): completion is a
per-article done-set in Redis and an idempotent finalize task.

The visibility timeout is how long a message a dead worker held stays invisible before Redis hands it
out again: it is kept short (120 s by default) so a killed worker's tasks come back within about two
minutes, which bounds every task: the hard time limit (90 s) sits under it, fetches end before the
soft limit, and no message is held for later (countdown) longer than half of it; longer waits are
the sweeper's (workers/sweep.py). The README's "Faults" section gives the trade-off.
"""

from __future__ import annotations

from celery import Celery

from archiver.config.settings import Settings, load_settings

settings = load_settings()


def soft_time_limit(s: Settings) -> float:
    """Seconds before the hard limit kills a task that the task is told to stop (SoftTimeLimitExceeded):
    a tenth of the limit, at most 10 s."""
    return s.task_time_limit - min(10.0, s.task_time_limit / 10)


def fetch_window(s: Settings) -> float:
    """Seconds a task's fetches may take: they end a little before the soft limit, so the task stores
    what it has (a capture cut off is stored as failed and retried) rather than being stopped."""
    return max(1.0, soft_time_limit(s) - min(5.0, s.task_time_limit / 10))

app = Celery("archiver", broker=settings.broker_url,
             include=["workers.tasks", "workers.feeds", "workers.health", "workers.sweep"])
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_ignore_result=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    # Unacked messages of a dead worker return to the queue once older than the visibility
    # timeout; scan for them on every restore tick (every 10 s) rather than every tenth.
    broker_transport_options={"visibility_timeout": settings.visibility_timeout, "unacked_restore_throttle": 1},
    task_default_queue="archiver",
    worker_hijack_root_logger=False,
    task_time_limit=settings.task_time_limit,
    task_soft_time_limit=soft_time_limit(settings),
    beat_schedule={"health-checks": {"task": "archiver.health_schedule", "schedule": settings.health_round_seconds},
                   "sweep": {"task": "archiver.sweep", "schedule": settings.sweep_interval},
                   **({"poll-feeds": {"task": "archiver.poll_feeds", "schedule": 300.0}} if settings.feeds else {}),
                   # Trusted time: captures still lacking a token (a TSA down, a note lost) are found again.
                   **({"timestamps": {"task": "archiver.timestamp_pending", "schedule": settings.tsa_scan_interval,
                                      "kwargs": {"scan": True}}} if settings.tsa_url_list else {})},
)
