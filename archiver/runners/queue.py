"""Sending work to the Celery workers without importing Celery.

The API process and the CLI only ever send three kinds of task message (process an article, capture
an item, finalize an article) and never wait for results, so they publish the message themselves
with kombu (Celery's own messaging library) in Celery's task message protocol v2, JSON-serialized:
headers name the task and its id, the body is `[args, kwargs, embed]`
(https://docs.celeryq.dev/en/stable/internals/protocol.html). The message goes where Celery's
`send_task(..., queue=QUEUE)` puts it: the anonymous direct exchange with the queue's name as routing
key, the queue declared as Celery declares it. Only `workers/` imports Celery. kombu comes with the
`redis` extra; it is imported when a queue is made, so commands that never queue run on the base install.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from archiver.errors import ArchiverError, MissingExtra

if TYPE_CHECKING:
    from kombu import Connection, Producer

QUEUE = "archiver"
PROCESS_ARTICLE = "archiver.process_article"
CAPTURE_ITEM = "archiver.capture_item"
FINALIZE_ARTICLE = "archiver.finalize_article"
# A broker that does not answer fails the call within about three seconds instead of hanging it.
_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}


def task_message(task: str, task_id: str, args: Sequence[Any], kwargs: Mapping[str, Any]
                 ) -> tuple[dict[str, Any], tuple[list[Any], dict[str, Any], dict[str, None]]]:
    """(headers, body) of a protocol v2 task message with no ETA, expiry, group or workflow.

    The headers are those Celery 5 sends for `send_task`; `ignore_result` None leaves it to the task."""
    args, kwargs = list(args), dict(kwargs)
    headers = {
        "lang": "py", "task": task, "id": task_id, "shadow": None, "eta": None, "expires": None,
        "group": None, "group_index": None, "retries": 0, "timelimit": [None, None], "root_id": task_id,
        "parent_id": None, "argsrepr": repr(args), "kwargsrepr": repr(kwargs),
        "origin": f"gen{os.getpid()}@{socket.gethostname()}", "ignore_result": None,
        "replaced_task_nesting": 0, "stamped_headers": None, "stamps": {},
    }
    return headers, (args, kwargs, {"callbacks": None, "errbacks": None, "chain": None, "chord": None})


class TaskQueue:
    """A publisher of task messages onto one queue of the broker; safe to share between threads.

    `send` raises ArchiverError when the broker cannot be reached after a short retry; making one raises
    MissingExtra when kombu or its Redis transport (redis, packaging) is not installed."""

    def __init__(self, broker_url: str, queue: str = QUEUE) -> None:
        try:
            from kombu import Exchange, Queue
            if broker_url.startswith(("redis://", "rediss://")):
                import kombu.transport.redis  # noqa: F401 - needs redis and packaging: fail here, not at send
        except ImportError as exc:
            raise MissingExtra("queueing to the workers", "redis", exc) from None
        self.broker_url = broker_url
        self.queue = Queue(queue, Exchange(queue, type="direct"), routing_key=queue)
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        self._producer: Producer | None = None

    def send(self, task: str, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None) -> str:
        """Publish one message for `task` (a registered task name, e.g. PROCESS_ARTICLE); returns its id."""
        from kombu import Connection, Producer  # importable: __init__ checked

        task_id = str(uuid.uuid4())
        headers, body = task_message(task, task_id, args, kwargs or {})
        try:
            with self._lock:
                if self._producer is None:
                    self._connection = Connection(self.broker_url, connect_timeout=2,
                                                  transport_options={"socket_timeout": 5})
                    self._producer = Producer(self._connection)
                self._producer.publish(
                    body, exchange="", routing_key=self.queue.name, serializer="json", headers=headers,
                    correlation_id=task_id, reply_to="", delivery_mode=2, declare=[self.queue],
                    retry=True, retry_policy=_RETRY_POLICY)
        except Exception as exc:  # kombu and redis raise their own connection errors
            raise ArchiverError(f"cannot queue {task} on {self.queue.name!r}: {exc}") from exc
        return task_id

    def close(self) -> None:
        """Release the broker connection (a later `send` opens a new one)."""
        with self._lock:
            if self._connection is not None:
                self._connection.release()
            self._connection = self._producer = None
