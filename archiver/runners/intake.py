"""Taking in a published article from the publish hook, the feed poller or `archiver submit`, exactly once.

The source is stored first (content-addressed, if_none_match), then the article is queued to the
Celery workers when the broker answers, else archived here by the local runner on one background
thread. The job id is `<article_id>:<first 16 hex of the source sha256>`: the same article with the
same bytes is the same job, queued at most once (a Redis SET NX marker; an already committed
version for those bytes also counts as done). Task messages are published with kombu
(archiver/runners/queue.py), so this process never imports Celery. The Redis client and kombu come
with the `redis` extra: on the base install no broker answers, and articles are archived here.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from archiver.article.decode import same_encoding
from archiver.article.input import ArticleInput
from archiver.article.versions import versions
from archiver.dates import iso, utcnow
from archiver.errors import ArchiverError, MissingExtra
from archiver.runners.local import archive
from archiver.runners.queue import CAPTURE_ITEM, FINALIZE_ARTICLE, PROCESS_ARTICLE, TaskQueue
from archiver.runners.sweep import intake_fields
from archiver.runtime import Runtime
from archiver.steps.prepare import check_article_id, load_plan
from archiver.steps.results import pending_items
from archiver.storage.layout import intake_key, plan_key, source_key

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)
JOB_TTL = 30 * 24 * 3600
MODE_QUEUE = "queue"
# The local runner's value of Job.mode. It is part of the publish hook's JSON answer, so it keeps
# the name it had before the local runner was called that.
MODE_LOCAL = "embedded"


@dataclass
class Job:
    """One submitted article source, as the publish hook answers it (JSON keys are these fields)."""

    job_id: str
    article_id: str
    source_sha256: str
    mode: str  # MODE_QUEUE (Celery workers) or MODE_LOCAL (the local runner, in this process)
    queued: bool  # queued (or started) by this call; False when it already was


def job_id_for(article_id: str, source_sha256: str) -> str:
    """The job id of one article source: `<article_id>:<first 16 hex digits of its SHA-256>`."""
    return f"{article_id}:{source_sha256[:16]}"


class Intake:
    """One per process (the API app, the feed poller, a CLI command); safe to share between threads.

    A context manager: leaving the `with` block waits for local runs and closes the connections."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._guard = threading.Lock()
        self._redis: redis.Redis | None = None
        self._missing: MissingExtra | None = None  # the Redis client is not installed
        self._answered = False  # the broker answered a PING once (queue_only submits then skip theirs)
        self._warned = False
        self._tasks: TaskQueue | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._running: set[str] = set()

    # --- the broker ------------------------------------------------------------------------
    def redis(self) -> redis.Redis | None:
        """A client of the broker's Redis when it answers a PING now; None otherwise, also when the Redis
        client is not installed (the base install: a warning names the extra, once)."""
        client = self._client()
        if client is None and self._missing is not None and not self._warned:
            self._warned = True
            log.warning("%s; articles are archived in this process", self._missing)
        return client

    def _client(self) -> redis.Redis | None:
        url = self.rt.settings.broker_url
        if not url.startswith(("redis://", "rediss://", "unix://")) or self._missing is not None:
            return None
        try:
            import redis
        except ImportError as exc:
            self._missing = MissingExtra("queueing to the workers", "redis", exc)
            return None
        with self._guard:
            if self._redis is None:
                self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=0.5)
        try:
            self._redis.ping()
        except redis.RedisError:
            return None
        self._answered = True
        return self._redis

    def tasks(self) -> TaskQueue:
        """The publisher of task messages onto the workers' queue."""
        with self._guard:
            if self._tasks is None:
                self._tasks = TaskQueue(self.rt.settings.broker_url)
            return self._tasks

    def reachable_broker(self) -> redis.Redis:
        """A client of the broker's Redis that answers now; ArchiverError when it does not (MissingExtra
        without the redis extra)."""
        client = self._client()
        if client is None and self._missing is not None:
            raise self._missing
        if client is None:
            raise ArchiverError(f"cannot reach the broker at {self.rt.settings.broker_url}")
        return client

    # --- submitting --------------------------------------------------------------------------
    def submit(self, article_id: str, article: ArticleInput, *, via: str = "api", queue_only: bool = False) -> Job:
        """Store the source and start archiving it once; InputError for an unusable article.

        The article goes to the workers when the broker answers, else to the local runner here; with
        `queue_only` an unreachable broker is an ArchiverError instead. With `queue_only`, once the broker
        answered a PING this Intake does not ask again (a bulk `archiver submit` pays one round trip
        less per article): a broker lost since fails the queueing itself (a RedisError, or ArchiverError
        from the publish)."""
        article_id = check_article_id(article_id)
        encoding = article.decode(max_bytes=self.rt.settings.max_article_bytes).encoding
        sha = article.sha256
        job_id = job_id_for(article_id, sha)
        store = self.rt.store
        store.put(source_key(article_id, sha), article.data, content_type="application/octet-stream",
                  if_none_match=True)
        record = {"job_id": job_id, "article_id": article_id, "source_sha256": sha, "url": article.url,
                  "base_url": article.base_url, "published_at": article.published_at, "via": via,
                  "format": article.format, "charset": article.charset, "url_trusted": article.url_trusted,
                  "received_at": iso(utcnow())}
        store.put(intake_key(article_id, sha), json.dumps(record, ensure_ascii=False, sort_keys=True).encode(),
                  content_type="application/json", if_none_match=True)
        # Done when a version of these bytes exists and their plan was decided as this submission
        # would decide it: a corrected charset or base URL for the same bytes is archived again
        # (prepare plans again), as `archiver archive` does.
        decided = self._decided(article_id, sha, article, encoding)
        done = decided and any(v.source_sha256 == sha for v in versions(self.rt, article_id))
        if queue_only:
            client = self._redis if self._answered and self._redis is not None else self.reachable_broker()
        else:
            client = self.redis()
        if client is not None:
            queued = not done and self._enqueue(client, job_id, article_id, article, encoding, again=not decided)
            return Job(job_id, article_id, sha, MODE_QUEUE, queued)
        queued = not done and self._run_locally(job_id, article_id, article, encoding)
        return Job(job_id, article_id, sha, MODE_LOCAL, queued)

    def _decided(self, article_id: str, sha: str, article: ArticleInput, encoding: str) -> bool:
        """Whether the stored plan of these bytes (if any) was decided as this submission decides it:
        the same encoding, article URL and base URL (archiver.steps.prepare reuses it only then)."""
        try:
            plan = load_plan(self.rt, article_id, sha)
        except ArchiverError:
            return True   # no plan yet (or an unreadable one): nothing to compare; the job runs once
        return same_encoding(plan.encoding, encoding) and plan.url == article.url and plan.base_url == article.base

    def _enqueue(self, client: redis.Redis, job_id: str, article_id: str, article: ArticleInput,
                 encoding: str, *, again: bool = False) -> bool:
        # A submission that plans the bytes again has a marker of its own: the first job's does not
        # hold it back (its encoding, URL and base URL name it).
        marker = f"archiver:job:{job_id}" + (f":{encoding}:{article.url}:{article.base}" if again else "")
        if not client.set(marker, "1", nx=True, ex=JOB_TTL):
            return False
        self._record_queued(article_id, article, encoding)
        fields: dict[str, Any] = {"url": article.url, "base_url": article.base, "fmt": article.format,
                                  "charset": article.charset, "published_at": article.published_at}
        if article.url_trusted:  # only then, so a message for an untrusted URL reads as before
            fields["url_trusted"] = True
        try:
            self.tasks().send(PROCESS_ARTICLE, [article_id, article.sha256], fields)
        except ArchiverError as exc:
            client.delete(marker)
            raise ArchiverError(f"cannot queue {job_id}: {exc}") from None
        return True

    def _record_queued(self, article_id: str, article: ArticleInput, encoding: str) -> None:
        """The catalog's row says "queued" until a worker stores the plan: the sweeper finds the article
        by it if the message is lost (archiver/runners/sweep.py). A row already past that for these
        bytes is left as it is."""
        row = self.rt.catalog.article(article_id)
        if row is not None and row["source_sha256"] == article.sha256 and row["status"] != "queued":
            return
        now = iso(utcnow())
        self.rt.catalog.record_article(article_id=article_id, url=article.url, source_sha256=article.sha256,
                                       encoding=encoding, status="queued", created_at=now, updated_at=now)

    def _run_locally(self, job_id: str, article_id: str, article: ArticleInput, encoding: str) -> bool:
        """Archive the article on this process's background thread. Its catalog row says "queued" first,
        as for the workers: should this process die before the thread gets to it (the article is only
        in its memory), the sweeper finds the row and queues it once a broker answers again."""
        with self._guard:
            if job_id in self._running:
                return False
            self._running.add(job_id)
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-archive")
            executor = self._executor
        try:
            self._record_queued(article_id, article, encoding)
        except BaseException:
            with self._guard:
                self._running.discard(job_id)
            raise

        def work() -> None:
            try:
                with Runtime.from_settings(self.rt.settings) as rt:
                    archive(rt, article, article_id=article_id, source_stored=True)
            except Exception:
                log.exception("local archive of %s failed; `archiver retry %s` resumes it", job_id, article_id)
            finally:
                with self._guard:
                    self._running.discard(job_id)

        executor.submit(work)
        return True

    # --- retrying ----------------------------------------------------------------------------
    def retry(self, article_id: str) -> int:
        """Queue a fresh capture of every item of the article that did not end well; a finalize follows
        (queued here when nothing is left to capture). Returns how many items were queued.

        Raises InputError for an unknown article, ArchiverError when the broker cannot be reached."""
        self.reachable_broker()
        row = self.rt.catalog.article(check_article_id(article_id))
        if row is not None and not self.rt.store.exists(plan_key(article_id, row["source_sha256"])):
            # Submitted, but no worker stored its plan yet (or the message was lost): start it again.
            fields = intake_fields(self.rt, article_id, row["source_sha256"], row)
            self.tasks().send(PROCESS_ARTICLE, [article_id, row["source_sha256"]], fields)
            return 0
        plan = load_plan(self.rt, article_id)
        todo = pending_items(self.rt, plan)
        for item_id in todo:
            self.tasks().send(CAPTURE_ITEM, [plan.article_id, plan.source_sha256, item_id], {"force": True})
        if not todo:
            self.tasks().send(FINALIZE_ARTICLE, [plan.article_id, plan.source_sha256, "retry"])
        return len(todo)

    # --- shutting down -----------------------------------------------------------------------
    def wait_idle(self) -> None:
        """Let local runs finish (tests, shutdown)."""
        with self._guard:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    def close(self) -> None:
        """Wait for local runs, then close the broker connections."""
        self.wait_idle()
        if self._tasks is not None:
            self._tasks.close()
        if self._redis is not None:
            self._redis.close()

    def __enter__(self) -> Intake:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
