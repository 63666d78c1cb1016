"""The timestamp step: after the article is rewritten, the captures of the run get their RFC 3161
tokens (archiver/compliance/timestamps.py), off the capture's critical path.

- The local runner calls ``timestamp_after_run`` once ``finalize`` has written the version: the run's
  captures (and those they store as quoted, parent or latest_edit) are batched into one Merkle tree,
  together with earlier captures still lacking a token (``find_pending`` over the newest
  LOCAL_SCAN_LIMIT captures: a TSA that was down is asked again here, once its ``tsa_retry_delays``
  entry has passed). It never raises: a failure is logged and recorded, and the rewrite is already
  written.
- The workers put each committed capture in a pending set in Redis (``note_captures``: a sorted set,
  manifest key -> when it is due) and schedule one ``archiver.timestamp_pending`` task per
  ``tsa_batch_window``, which timestamps every due capture as one batch (``run_pending``); the beat
  runs the same task every ``tsa_scan_interval`` with ``scan``, which also adds what the catalog
  shows without a complete record (a capture whose worker died before noting it, or a Redis that lost
  its data). A capture leaves the set only once its record is complete; one still waiting for a TSA
  is given the time its next try is due.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from archiver.compliance.timestamps import (
    TimestampRun,
    find_pending,
    load_record,
    next_due,
    one_line,
    timestamp_captures,
)
from archiver.dates import utcnow
from archiver.records.result import EmbedResult

if TYPE_CHECKING:
    from archiver.runtime import Runtime
    from archiver.steps.results import Results

log = logging.getLogger(__name__)

PENDING_KEY = "archiver:timestamps:pending"
# How many of the newest captures the local step looks at for earlier ones still pending (a record
# read each; `archiver timestamp` looks further and also re-reads each manifest's digest).
LOCAL_SCAN_LIMIT = 200
SCHEDULED_KEY = "archiver:timestamps:scheduled"


def run_manifest_keys(results: Results) -> list[str]:
    """The manifest keys of the embeds in `results` that have a stored capture, in item order."""
    return [r.manifest_key for r in results.values() if isinstance(r, EmbedResult) and r.manifest_key]


def step_deadline(rt: Runtime) -> float:
    """A time.monotonic() after which the local step asks no TSA again: about three rounds of
    requests to every TSA (``tsa_timeout`` times attempts times TSAs, thrice)."""
    s = rt.settings
    return time.monotonic() + 3 * s.tsa_timeout * (s.tsa_retries + 1) * max(1, len(s.tsa_url_list))


def timestamp_after_run(rt: Runtime, results: Results) -> TimestampRun | None:
    """Timestamp the captures of a local run (and earlier ones still pending); None when no TSA is
    configured or the round could not run (logged). Never raises: the article is already rewritten."""
    if not rt.settings.tsa_url_list:
        return None
    try:
        keys = run_manifest_keys(results)
        earlier = find_pending(rt, limit=min(LOCAL_SCAN_LIMIT, rt.settings.tsa_scan_limit), check_digest=False)
        run = timestamp_captures(rt, [*keys, *earlier], deadline=step_deadline(rt))
    except Exception as exc:
        log.warning("timestamping after the run did not happen: %s: %s (`archiver timestamp` retries it)",
                    type(exc).__name__, one_line(exc, 300))
        return None
    if run.pending:
        log.warning("timestamping: %d capture(s) wait for a TSA (%s); retried by the next run or "
                    "`archiver timestamp`", len(run.pending), "; ".join(run.failures)[:500] or "not due yet")
    return run


# --- distributed mode ------------------------------------------------------------------------------
def note_captures(redis: Any, keys: Iterable[str], schedule: Callable[[float], Any], window: float,
                  max_countdown: float) -> bool:
    """Put manifest keys in the pending set, due now (an earlier due time is kept), and schedule one
    batch `window` seconds from now unless one is scheduled already (``schedule(countdown)``, the
    countdown at most `max_countdown`). Returns whether a batch was scheduled."""
    keys = [k for k in keys if k]
    if not keys:
        return False
    now = time.time()
    # LT: a new key is added, a known one only moves earlier (Redis 6.2+).
    redis.zadd(PENDING_KEY, dict.fromkeys(keys, now), lt=True)
    countdown = min(max(0.0, window), max_countdown)
    if redis.set(SCHEDULED_KEY, "1", nx=True, ex=max(1, math.ceil(countdown))):
        schedule(countdown)
        return True
    return False


def run_pending(rt: Runtime, redis: Any, *, scan: bool = False, deadline: float | None = None,
                now: datetime | None = None) -> TimestampRun:
    """One batch of the workers: every capture of the pending set that is due (at most
    ``tsa_scan_limit``), with `scan` also those ``find_pending`` finds; afterwards a complete capture
    leaves the set and one still waiting is given its next due time (``next_due``). Storage and
    Redis faults propagate (the task retries them)."""
    settings = rt.settings
    if not settings.tsa_url_list:
        return TimestampRun(skipped="no time-stamping authority configured (tsa_urls)")
    now = now or utcnow()
    due = [k.decode() if isinstance(k, bytes) else str(k)
           for k in redis.zrangebyscore(PENDING_KEY, "-inf", now.timestamp(), start=0, num=settings.tsa_scan_limit)]
    found = find_pending(rt) if scan else []
    run = timestamp_captures(rt, [*due, *found], now=now, deadline=deadline)
    if run.skipped:
        return run
    pending = set(run.pending)
    done = [k for k in dict.fromkeys([*due, *found]) if k not in pending]
    if done:
        redis.zrem(PENDING_KEY, *done)
    delays = settings.tsa_retry_delay_list
    later = {}
    for key in pending:
        when = next_due(load_record(rt.store, key), settings.tsa_url_list, now, delays)
        later[key] = when.timestamp()
    if later:
        redis.zadd(PENDING_KEY, later)
    return run
