"""Taking in a published article from the publish hook or the feed poller, exactly once.

The source is stored first (content-addressed, if_none_match), then the article is queued to the
Celery workers when the broker answers, else archived here on one background thread (the
embedded mode). The job id is `<article_id>:<first 16 hex of the source sha256>`: the same
article with the same bytes is the same job, queued at most once (a Redis SET NX marker; an
already committed version for those bytes also counts as done).
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from archiver.article.decode import decode_article
from archiver.article.versions import versions
from archiver.dates import iso, utcnow
from archiver.errors import ArchiverError
from archiver.runners.local import archive
from archiver.runtime import Runtime
from archiver.steps.prepare import check_article_id
from archiver.storage.layout import sha256_hex, source_key

log = logging.getLogger(__name__)
QUEUE = "archiver"
JOB_TTL = 30 * 24 * 3600


@dataclass
class Job:
    job_id: str
    article_id: str
    source_sha256: str
    mode: str  # "queue" (Celery) or "embedded"
    queued: bool  # queued (or started) by this call; False when it already was


def job_id_for(article_id: str, source_sha256: str) -> str:
    return f"{article_id}:{source_sha256[:16]}"


def intake_key(article_id: str, source_sha256: str) -> str:
    return f"intake/{article_id}/{source_sha256}.json"


class Intake:
    """One per process (the API app, the feed poller); safe to share between threads."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._guard = threading.Lock()
        self._redis: Any = None
        self._celery: Any = None
        self._executor: ThreadPoolExecutor | None = None
        self._running: set[str] = set()

    # --- the broker ------------------------------------------------------------------------
    def redis(self) -> Any | None:
        """A client of the broker's Redis when it answers a PING now; None otherwise."""
        url = self.rt.settings.broker_url
        if not url.startswith(("redis://", "rediss://", "unix://")):
            return None
        import redis

        with self._guard:
            if self._redis is None:
                self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=0.5)
        try:
            self._redis.ping()
        except redis.RedisError:
            return None
        return self._redis

    def _producer(self) -> Any:
        from celery import Celery

        with self._guard:
            if self._celery is None:
                self._celery = Celery("archiver-intake", broker=self.rt.settings.broker_url,
                                      set_as_current=False)
                self._celery.conf.update(task_serializer="json", accept_content=["json"],
                                         task_default_queue=QUEUE, broker_connection_retry=False,
                                         broker_connection_max_retries=1)
            return self._celery

    # --- submitting --------------------------------------------------------------------------
    def submit(self, article_id: str, data: bytes, *, url: str | None = None, base_url: str | None = None,
               published_at: str | None = None, via: str = "api", fmt: str = "auto",
               queue_only: bool = False) -> Job:
        """Store the source and start archiving it once; InputError for an unusable article.
        With `queue_only` an unreachable broker is an error instead of a reason to archive here."""
        article_id = check_article_id(article_id)
        decode_article(data, max_bytes=self.rt.settings.max_article_bytes)
        sha = sha256_hex(data)
        job_id = job_id_for(article_id, sha)
        store = self.rt.store
        store.put(source_key(article_id, sha), data, content_type="application/octet-stream",
                  if_none_match=True)
        record = {"job_id": job_id, "article_id": article_id, "source_sha256": sha, "url": url,
                  "base_url": base_url, "published_at": published_at, "via": via,
                  "received_at": iso(utcnow())}
        store.put(intake_key(article_id, sha), json.dumps(record, ensure_ascii=False, sort_keys=True).encode(),
                  content_type="application/json", if_none_match=True)
        done = any(v.get("source_sha256") == sha for v in versions(self.rt, article_id))
        client = self.redis()
        if client is not None:
            queued = not done and self._enqueue(client, job_id, [article_id, sha, url, base_url or url, fmt])
            return Job(job_id, article_id, sha, "queue", queued)
        if queue_only:
            raise ArchiverError(f"cannot reach the broker at {self.rt.settings.broker_url}")
        queued = not done and self._run_embedded(job_id, data, article_id, url, base_url)
        return Job(job_id, article_id, sha, "embedded", queued)

    def _enqueue(self, client: Any, job_id: str, args: list[Any]) -> bool:
        marker = f"archiver:job:{job_id}"
        if not client.set(marker, "1", nx=True, ex=JOB_TTL):
            return False
        try:
            self._producer().send_task("archiver.process_article", args=args, queue=QUEUE)
        except Exception as exc:
            client.delete(marker)
            raise ArchiverError(f"cannot queue {job_id}: {exc}") from None
        return True

    def _run_embedded(self, job_id: str, data: bytes, article_id: str, url: str | None,
                      base_url: str | None) -> bool:
        with self._guard:
            if job_id in self._running:
                return False
            self._running.add(job_id)
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedded-archive")
            executor = self._executor

        def work() -> None:
            rt = Runtime.from_settings(self.rt.settings)
            try:
                archive(rt, data, url=url, base_url=base_url or url, article_id=article_id)
            except Exception:
                log.exception("embedded archive of %s failed; `archiver retry %s` resumes it", job_id, article_id)
            finally:
                rt.close()
                with self._guard:
                    self._running.discard(job_id)

        executor.submit(work)
        return True

    def wait_idle(self) -> None:
        """Let embedded jobs finish (tests, shutdown)."""
        with self._guard:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    def close(self) -> None:
        self.wait_idle()
        if self._redis is not None:
            self._redis.close()
