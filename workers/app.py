"""The Celery app: Redis broker, no result backend, settings chosen for crash safety.

acks_late + reject_on_worker_lost: a task whose worker dies is delivered again; the visibility
timeout sits above the longest task; prefetch 1 so a dead worker holds back at most one task.
Chords are avoided (celery #4207, #5237): completion is a per-article done-set in Redis and an
idempotent finalize task.
"""

from __future__ import annotations

from celery import Celery

from archiver.config.settings import load_settings

settings = load_settings()

app = Celery("archiver", broker=settings.broker_url, include=["workers.tasks", "workers.feeds", "workers.health"])
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
    task_soft_time_limit=max(1, settings.task_time_limit - 10),
    beat_schedule={"health-checks": {"task": "archiver.health_schedule", "schedule": settings.health_round_seconds},
                   **({"poll-feeds": {"task": "archiver.poll_feeds", "schedule": 300.0}} if settings.feeds else {})},
)
