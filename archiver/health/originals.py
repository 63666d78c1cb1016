"""Link health: is every original an article embeds (a tweet, an image URL) still there?

A single probe proves nothing (hosts flap, CDNs time out), so each original has a state machine:
live → suspect at the first failure → dead only after `health_dead_after_failures` failures in a
row spanning at least `health_dead_after_hours`; any good answer makes it live again. Timeouts,
5xx, 429 and network errors are inconclusive and never count. A failure on our side (object
storage, Redis, the catalog) raises before anything is written, so it records nothing.

The truth is one object per original, `health/<sha256 of url>.json` (state, streak, history);
the catalog tables link_health and link_uses index it for the due-list and the per-article views
and can be rebuilt from storage (`reindex`). Intervals grow for stable links: a day, doubling up
to a month.
"""

from __future__ import annotations

import contextvars
import hashlib
import importlib.util
import json
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from archiver.article.versions import RestoreError, chain_docs, map_span, version_body, versions
from archiver.capture.cards.inline import WITHHELD_CLASS
from archiver.capture.fetch import ARTICLE_DEADLINE
from archiver.capture.manifest import CAPTURED_STATUSES
from archiver.catalog.base import row_window
from archiver.catalog.core import Catalog
from archiver.compliance.holds import ensure_schema as ensure_compliance_schema
from archiver.compliance.holds import hidden_reason
from archiver.dates import iso, utcnow
from archiver.errors import InputError
from archiver.health.probes import probe
from archiver.health.state import STATES, Original, advance, check_label, could_not_check, new_record
from archiver.records.base import RecordError
from archiver.records.plan import EmbedItem, ImageItem, Plan
from archiver.records.result import EmbedResult, ImageResult, ItemResult
from archiver.steps.prepare import check_article_id, current_plan, load_plan
from archiver.steps.results import Results, load_results
from archiver.storage.base import ObjectNotFound, stored_json_objects
from archiver.storage.layout import HEALTH_PREFIX, record_key, url_sha256

if TYPE_CHECKING:
    from archiver.runtime import Runtime

log = logging.getLogger(__name__)


_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS link_health (
        url_sha256 TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        kind TEXT NOT NULL,
        provider TEXT,
        post_id TEXT,
        archived_sha256 TEXT,
        state TEXT NOT NULL,
        failures INTEGER NOT NULL DEFAULT 0,
        last_checked_at TEXT,
        last_outcome TEXT,
        next_check_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        since TEXT,
        last_detail TEXT)""",
    "CREATE INDEX IF NOT EXISTS link_health_due ON link_health (next_check_at)",
]
# Columns added to link_health after its first release (added on open; `reindex` fills them): since
# when the original is in its state, and what the last check heard (the dead worklist shows both).
_ADDED = ("since", "last_detail")
_LATER = ["CREATE INDEX IF NOT EXISTS link_health_state ON link_health (state, since)"]


def ensure_schema(catalog: Catalog) -> None:
    """Create the link_health table and its indexes in `catalog` if missing; once per Catalog (link_uses,
    written with every item's row, is the catalog's own: archiver.catalog.schema)."""
    def create() -> None:
        for stmt in _SCHEMA:
            catalog.execute(stmt)
        catalog.add_text_columns("link_health", _ADDED)
        for stmt in _LATER:
            catalog.execute(stmt)

    catalog.ensure_tables("link_health", create)




def originals(rt: Runtime, article_id: str) -> list[Original]:
    """The article's items (the plan of the source it shows now: archiver.steps.prepare.current_source)
    with the URL each one's original lives at."""
    plan = current_plan(rt, article_id)
    return originals_of(plan, load_results(rt, plan))


def originals_of(plan: Plan, results: Results) -> list[Original]:
    """The items of `plan` with the URL each one's original lives at, from their `results` (by item id)."""
    out = []
    for item in plan.items:
        res = results.get(item.item_id)
        url = (res.url if res else None) or item.url
        if not url:
            continue  # a flattened embed nothing resolved: there is no original to ask
        if isinstance(item, EmbedItem):
            post_id = (res.post_id if isinstance(res, EmbedResult) else None) or item.post_id
            out.append(Original(plan.article_id, item.item_id, item.kind, url, item.provider, post_id,
                                res.status if res else None))
        else:
            out.append(Original(plan.article_id, item.item_id, item.kind, url, None, None,
                                res.status if res else None, res.sha256 if isinstance(res, ImageResult) else None))
    return out

def enroll(rt: Runtime, article_id: str, *, now: datetime | None = None) -> list[Original]:
    """Index the article's originals for periodic checks; new ones fall due within the next round."""
    ensure_schema(rt.catalog)
    now = now or utcnow()
    found = originals(rt, article_id)
    for o in found:
        sha = url_sha256(o.url)
        rt.catalog.execute(
            "INSERT INTO link_uses (url_sha256, article_id, item_id) VALUES (?, ?, ?) "
            "ON CONFLICT (url_sha256, article_id, item_id) DO NOTHING", [sha, o.article_id, o.item_id])
        due = iso(now + timedelta(seconds=random.uniform(0, rt.settings.health_round_seconds)))
        rt.catalog.execute(
            "INSERT INTO link_health (url_sha256, url, kind, provider, post_id, archived_sha256, state, failures, "
            "next_check_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'unchecked', 0, ?, ?) "
            "ON CONFLICT (url_sha256) DO NOTHING",
            [sha, o.url, o.kind, o.provider, o.post_id, o.archived_sha256, due, iso(now)])
    return found

def enroll_all(rt: Runtime, *, since: str | None = None, now: datetime | None = None) -> int:
    """Enroll every article of the catalog (updated since `since`); returns how many originals."""
    n = 0
    rows = rt.catalog.query("SELECT article_id FROM articles WHERE updated_at >= ? ORDER BY article_id",
                            [since or ""])
    for row in rows:
        try:
            n += len(enroll(rt, row["article_id"], now=now))
        except InputError as exc:  # an article whose plan is not stored (yet)
            log.warning("health: skipping %s: %s", row["article_id"], exc)
    return n

def due(rt: Runtime, *, now: datetime | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """Originals whose next check is due, oldest first."""
    ensure_schema(rt.catalog)
    return rt.catalog.query(
        "SELECT url, kind, provider, post_id, archived_sha256 FROM link_health WHERE next_check_at <= ? "
        "ORDER BY next_check_at LIMIT ?", [iso(now or utcnow()), max(1, limit)])

def claim(rt: Runtime, urls: list[str], until: datetime) -> None:
    """Push the next check of dispatched originals to `until`, so the next scheduling round does not
    queue them again while they wait; the check itself sets the real next time."""
    for url in urls:
        rt.catalog.execute("UPDATE link_health SET next_check_at = ? WHERE url_sha256 = ?",
                           [iso(until), url_sha256(url)])

# --- storage and index ------------------------------------------------------------------------------
def load_record(rt: Runtime, url: str) -> dict[str, Any] | None:
    """The stored liveness record of original `url` (new_record's keys), or None when never stored. A
    damaged record (not JSON, not UTF-8, not a record: a JSON object lacking new_record's keys) counts
    as none: it is reported in the log, never raised, and the next check writes a good one over it."""
    key = record_key(url)
    try:
        raw = rt.store.get(key)
    except ObjectNotFound:
        return None
    try:
        rec = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        log.warning("health: damaged record %s for %s (%s: %s): taken as never checked", key, url,
                    type(exc).__name__, exc)
        return None
    if (not isinstance(rec, dict) or not rec.keys() >= _RECORD_KEYS or rec["state"] not in STATES
            or not isinstance(rec["failures"], list) or not isinstance(rec["history"], list)):
        log.warning("health: damaged record %s for %s (not a health record): taken as never checked", key, url)
        return None
    return rec

# What the reports and the state machine read of a stored record (new_record writes them all).
_RECORD_KEYS = frozenset({"url", "state", "since", "failures", "checks", "history", "last_checked_at",
                          "last_detail", "next_check_at"})


def _index(rt: Runtime, rec: dict[str, Any]) -> None:
    ensure_schema(rt.catalog)
    rt.catalog.execute(
        "INSERT INTO link_health (url_sha256, url, kind, provider, post_id, archived_sha256, state, failures, "
        "last_checked_at, last_outcome, next_check_at, updated_at, since, last_detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (url_sha256) DO UPDATE SET state = excluded.state, failures = excluded.failures, "
        "last_checked_at = excluded.last_checked_at, last_outcome = excluded.last_outcome, "
        "next_check_at = excluded.next_check_at, updated_at = excluded.updated_at, since = excluded.since, "
        "last_detail = excluded.last_detail",
        [rec["url_sha256"], rec["url"], rec["kind"], rec["provider"], rec["post_id"], rec.get("archived_sha256"),
         rec["state"],
         len(rec["failures"]), rec["last_checked_at"], rec["last_outcome"], rec["next_check_at"],
         rec["last_checked_at"], rec.get("since"), (rec.get("last_detail") or "")[:500] or None])

def check(rt: Runtime, original: Original | dict[str, Any], *, now: datetime | None = None,
          lock_timeout: float = 60.0) -> dict[str, Any]:
    """Probe one original and advance its state; returns the stored record.

    Serialized per URL (TimeoutError when another check of it holds the lock for `lock_timeout`
    seconds). The record is read before the probe and written after it, so an outage of storage or
    Redis raises (from the lock, the read or the write) and leaves the state as it was.
    """
    o = original if isinstance(original, dict) else asdict(original)
    url = o["url"]
    with rt.coordinator.lock(f"health:{url_sha256(url)}", timeout=lock_timeout):
        record = load_record(rt, url) or new_record(url, o["kind"], o.get("provider"), o.get("post_id"),
                                                    o.get("archived_sha256"))
        o = {**o, "archived_sha256": o.get("archived_sha256") or record.get("archived_sha256")}
        result = probe(rt, o)
        rec = advance(record, result, now or utcnow(), rt.settings)
        rt.store.put(record_key(url), json.dumps(rec, ensure_ascii=False, sort_keys=True, indent=1).encode(),
                     content_type="application/json")
    _index(rt, rec)
    if rec["state"] != record["state"]:
        log.info("health: %s %s -> %s (%s)", url, record["state"], rec["state"], result.detail)
    return rec


# Why an original of a check run was not probed (it keeps its state; the next run or round asks it).
NOT_IN_TIME = "not checked this time: the check's time limit passed before it was probed"
BUSY = "not checked this time: another check of this original was running"


def check_time_limit(rt: Runtime) -> float:
    """The overall time limit, in seconds, of one article's check run: `archive_deadline`, the limit
    an article's archiving has."""
    return float(rt.settings.archive_deadline)


def check_concurrency(rt: Runtime) -> int:
    """How many originals one check run probes at once: `capture_threads` (per host, the fetcher's
    `host_concurrency` still holds)."""
    return max(1, int(rt.settings.capture_threads))


def check_many(rt: Runtime, found: list[Original] | list[dict[str, Any]], *, now: datetime | None = None,
               time_limit: float | None = None, done: dict[str, Any] | None = None) -> dict[str, Any]:
    """Check each distinct original URL of `found` once (`check`), `check_concurrency` at a time,
    all within `time_limit` seconds (`check_time_limit`): every request of the run is cut at that
    deadline, and what was not probed by then is not probed (NOT_IN_TIME). An original whose check
    another caller is running is not waited for (BUSY). Returns per URL its new record (a dict) or
    why it was not probed (a str). `done`: the same map from earlier articles of the same run, whose
    URLs are not probed again (it is updated in place)."""
    out: dict[str, Any] = {} if done is None else done
    todo: dict[str, dict[str, Any]] = {}
    for o in found:
        d = o if isinstance(o, dict) else asdict(o)
        if out.get(d["url"], NOT_IN_TIME) == NOT_IN_TIME and d["url"] not in todo:
            todo[d["url"]] = d
    if not todo:
        return out
    limit = check_time_limit(rt) if time_limit is None else max(0.0, time_limit)
    end = time.monotonic() + limit
    outer = ARTICLE_DEADLINE.get()
    if outer is not None:
        end = min(end, outer)

    def one(d: dict[str, Any]) -> Any:
        if time.monotonic() >= end:
            return NOT_IN_TIME
        token = ARTICLE_DEADLINE.set(end)
        try:
            return check(rt, d, now=now, lock_timeout=0)
        except TimeoutError:
            return BUSY
        finally:
            ARTICLE_DEADLINE.reset(token)

    pool = ThreadPoolExecutor(max_workers=min(check_concurrency(rt), len(todo)), thread_name_prefix="health")
    try:
        futures = {pool.submit(contextvars.copy_context().run, one, d): url for url, d in todo.items()}
        # Every fetch ends at `end`; the grace covers writing the records of the last probes.
        finished, _ = wait(futures, timeout=max(0.0, end - time.monotonic()) + _GRACE)
        for fut, url in futures.items():
            if fut in finished:
                out[url] = fut.result()  # a fault of our side (storage, catalog) raises here
            else:
                out[url] = NOT_IN_TIME
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return out


_GRACE = 15.0


def check_articles(rt: Runtime, article_ids: list[str], *, now: datetime | None = None) -> list[dict[str, Any]]:
    """`article_health(..., check_now=True)` of each article, probing each distinct original once for
    the whole run (an original several articles use is asked once, its result shown in each); each
    article's remaining originals have their own `check_time_limit`. What `archiver health
    --check-now` without an article runs."""
    done: dict[str, Any] = {}
    return [article_health(rt, aid, check_now=True, now=now, done=done) for aid in article_ids]


def reindex(rt: Runtime, skipped: list[str] | None = None) -> int:
    """Rebuild link_health from storage (link_uses comes back with the items: Catalog.record_item); returns how many
    records were indexed. A damaged record is left out, its key and reason appended to `skipped`."""
    n = 0
    for key, rec in stored_json_objects(rt.store, HEALTH_PREFIX, skipped):
        try:
            _index(rt, rec)
        except (KeyError, TypeError, AttributeError) as exc:
            if skipped is not None:
                skipped.append(f"{key}: not a health record ({exc!r})")
            continue
        n += 1
    return n

# --- reports ----------------------------------------------------------------------------------------
def article_health(rt: Runtime, article_id: str, *, check_now: bool = False,
                   now: datetime | None = None, done: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every item of the article with its state and history (from storage, the truth); each item's
    `label` says its state or why its last check could not decide ("could not check: timed out (last
    known: live)"), `could_not_check` the reason alone (None when it decided).

    With `check_now`, its distinct originals are checked now (`check_many`, within the run's time
    limit; `done` as there). When some were not probed (the time limit passed, another check of them
    was running), the answer adds "check": {"running": False, "probed", "not_checked", "time_limit_s"}
    and each such item "not_checked" (why); a run that probed everything answers exactly what a plain
    read then answers. When a check-now of the same article is running already, nothing is probed:
    the stored results come back with "check": {"running": True, "detail"}."""
    found = enroll(rt, article_id, now=now)
    outcome: dict[str, Any] = {}
    run: dict[str, Any] | None = None
    if check_now:
        try:
            with rt.coordinator.lock(f"health-article:{article_id}", timeout=0):
                outcome = check_many(rt, found, now=now, done=done)
        except TimeoutError:
            run = {"running": True, "detail": "a check of this article is running; these are the last results"}
        else:
            urls = {o.url for o in found}
            missed = sum(1 for u in urls if isinstance(outcome.get(u), str))
            run = {"running": False, "probed": len(urls) - missed, "not_checked": missed,
                   "time_limit_s": check_time_limit(rt)}
    items = []
    for o in found:
        got = outcome.get(o.url)
        rec = got if isinstance(got, dict) else load_record(rt, o.url)
        rec = rec or new_record(o.url, o.kind, o.provider, o.post_id)
        item = {"item_id": o.item_id, "kind": o.kind, "url": o.url, "provider": o.provider,
                "post_id": o.post_id, "capture_status": o.capture_status, "state": rec["state"],
                "label": check_label(rec), "could_not_check": could_not_check(rec),
                "changed_since_archived": rec.get("changed_since_archived"),
                "since": rec["since"], "failures": len(rec["failures"]), "checks": rec["checks"],
                "last_checked_at": rec["last_checked_at"], "last_detail": rec["last_detail"],
                "next_check_at": rec["next_check_at"], "history": rec["history"]}
        if isinstance(got, str):
            item["not_checked"] = got
        items.append(item)
    report: dict[str, Any] = {"article_id": article_id, "summary": _summary(i["state"] for i in items),
                              "could_not_check": sum(1 for i in items if i["could_not_check"]), "items": items}
    if run is not None and (run["running"] or run["not_checked"]):
        report["check"] = run
    return report


def could_not_check_count(rt: Runtime) -> int:
    """How many current items of every article are linked to an original whose last check could not
    decide (a timeout, a server error, ...: the state it shows is its last conclusive one)."""
    ensure_schema(rt.catalog)
    rows = rt.catalog.query(
        "SELECT COUNT(*) AS n FROM link_health h JOIN link_uses u ON u.url_sha256 = h.url_sha256 "
        "JOIN articles a ON a.article_id = u.article_id "
        "JOIN items i ON i.article_id = a.article_id AND i.source_sha256 = a.source_sha256 AND i.item_id = u.item_id "
        "WHERE h.last_outcome = 'inconclusive'")
    return int(rows[0]["n"]) if rows else 0


def scheduler_possible(rt: Runtime) -> bool:
    """Whether this installation can have beat schedule the health rounds: a Redis broker URL and the
    `redis` extra (Celery, redis-py) installed. False is the embedded mode, where nothing checks
    unless `archiver health --check-now` is scheduled (cron, a systemd timer)."""
    if not rt.settings.broker_url.startswith(("redis://", "rediss://", "unix://")):
        return False
    return all(importlib.util.find_spec(name) is not None for name in ("celery", "redis"))


def last_check(rt: Runtime) -> dict[str, Any]:
    """When any original was last checked and whether anything is checking: {"last_checked_at": ISO
    or None, "overdue": how many originals' next check is more than two health rounds and an hour
    past, "scheduler": `scheduler_possible`}. With a scheduler possible, overdue checks say beat is
    not running."""
    ensure_schema(rt.catalog)
    late = iso(utcnow() - timedelta(seconds=2 * rt.settings.health_round_seconds + 3600))
    row = rt.catalog.query("SELECT MAX(last_checked_at) AS last FROM link_health")
    overdue = rt.catalog.query("SELECT COUNT(*) AS n FROM link_health WHERE next_check_at < ?", [late])
    return {"last_checked_at": row[0]["last"] if row else None, "overdue": int(overdue[0]["n"]) if overdue else 0,
            "scheduler": scheduler_possible(rt)}


def _summary(states: Any) -> dict[str, int]:
    out = dict.fromkeys(STATES, 0)
    for s in states:
        out[s] = out.get(s, 0) + 1
    return out

# Each current item of each article with its worst indexed state (0 unchecked .. 3 dead): an item never
# enrolled or never checked is unchecked, so an article counts from the moment it is archived. Items with
# no original URL (a flattened embed nothing resolved) have nothing to check and are left out.
_ITEM_STATES_SQL = (
    "SELECT i.article_id AS article_id, i.item_id AS item_id, MAX(CASE h.state WHEN 'dead' THEN 3 "
    "WHEN 'suspect' THEN 2 WHEN 'live' THEN 1 ELSE 0 END) AS st FROM articles a "
    "JOIN items i ON i.article_id = a.article_id AND i.source_sha256 = a.source_sha256 "
    "LEFT JOIN link_uses u ON u.article_id = i.article_id AND u.item_id = i.item_id "
    "LEFT JOIN link_health h ON h.url_sha256 = u.url_sha256 "
    "WHERE i.url IS NOT NULL AND i.url <> ''{where} GROUP BY i.article_id, i.item_id")
_ITEM_STATES = _ITEM_STATES_SQL.format(where="")
_RANK = {"unchecked": 0, "live": 1, "suspect": 2, "dead": 3}


def _count(state: str) -> str:
    return f"COALESCE(SUM(CASE WHEN s.st = {_RANK[state]} THEN 1 ELSE 0 END), 0)"


def overview(rt: Runtime, *, state: str | None = None, limit: int = 200, offset: int = 0) -> list[dict[str, Any]]:
    """Per article of the catalog: how many of its current items are in each state (an item never
    checked is "unchecked", so every archived article is listed), most dead first, then most suspect,
    then by id. With `state`, only articles having an item in that state. `limit` 1+, `offset` 0+ rows.
    Each row: {"article_id", "headline", "url", "unchecked", "live", "suspect", "dead"} (ints)."""
    ensure_schema(rt.catalog)
    counts = ", ".join(f"{_count(s)} AS {s}" for s in STATES)
    having = f" HAVING {_count(state)} > 0" if state in _RANK else ""
    rows = rt.catalog.query(
        f"SELECT a.article_id AS article_id, a.headline AS headline, a.url AS url, {counts} FROM articles a "  # noqa: S608
        f"LEFT JOIN ({_ITEM_STATES}) s ON s.article_id = a.article_id "
        f"GROUP BY a.article_id, a.headline, a.url{having} "
        f"ORDER BY dead DESC, suspect DESC, a.article_id LIMIT ? OFFSET ?",
        [*row_window(limit, offset)])
    return [{**r, **{s: int(r[s]) for s in STATES}} for r in rows]


def totals(rt: Runtime, *, state: str | None = None) -> dict[str, int]:
    """Items of every article's current source by state (STATES keys), plus "articles": how many
    articles `overview` lists with the same `state` filter (for paging)."""
    ensure_schema(rt.catalog)
    out = dict.fromkeys(STATES, 0)
    for r in rt.catalog.query(f"SELECT s.st AS st, COUNT(*) AS n FROM ({_ITEM_STATES}) s GROUP BY s.st"):  # noqa: S608
        out[STATES[int(r["st"])]] = int(r["n"])
    if state in _RANK:
        n = rt.catalog.query(f"SELECT COUNT(DISTINCT s.article_id) AS n FROM ({_ITEM_STATES}) s "  # noqa: S608
                             f"WHERE s.st = {_RANK[state]}")
    else:
        n = rt.catalog.query("SELECT COUNT(*) AS n FROM articles")
    out["articles"] = int(n[0]["n"]) if n else 0
    return out


_DEAD = ("FROM link_health h JOIN link_uses u ON u.url_sha256 = h.url_sha256 "
         "JOIN articles a ON a.article_id = u.article_id "
         "JOIN items i ON i.article_id = a.article_id AND i.source_sha256 = a.source_sha256 AND i.item_id = u.item_id "
         "WHERE h.state = 'dead'")


def dead_worklist(rt: Runtime, *, limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The dead items of every article's current source, dead longest first (a record indexed before
    `since` was kept counts from its last check), and how many there are in all. Each row:
    article_id, headline, item_id, kind, url, provider, post_id, since, last_checked_at, last_detail."""
    ensure_schema(rt.catalog)
    rows = rt.catalog.query(
        "SELECT u.article_id AS article_id, a.headline AS headline, u.item_id AS item_id, h.kind AS kind, "
        "h.url AS url, h.provider AS provider, h.post_id AS post_id, COALESCE(h.since, h.last_checked_at) AS since, "
        f"h.last_checked_at AS last_checked_at, h.last_detail AS last_detail {_DEAD} "
        "ORDER BY COALESCE(h.since, h.last_checked_at), u.article_id, u.item_id LIMIT ? OFFSET ?",
        [*row_window(limit, offset)])
    total = rt.catalog.query(f"SELECT COUNT(*) AS n {_DEAD}")
    return rows, int(total[0]["n"]) if total else 0


ARTICLE_STATUSES = ("complete", "partial", "capturing", "queued")


def article_listing(rt: Runtime, *, state: str | None = None, limit: int = 50,
                    offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """A page of the catalog's articles, newest archived first, and how many match in all. `state`
    filters: a link-health state (an item in it), an article status (ARTICLE_STATUSES) or any other
    word: an item of the current source with that capture status. Each row has the articles columns
    plus "items" ({"embed"|"image": {capture status: n}}) and "health" ({state: n} over STATES)."""
    ensure_schema(rt.catalog)
    where, params = "", []
    if state in _RANK:
        where = (f" WHERE a.article_id IN (SELECT s.article_id FROM ({_ITEM_STATES}) s "  # noqa: S608
                 f"WHERE s.st = {_RANK[state]})")
    elif state in ARTICLE_STATUSES:
        where, params = " WHERE a.status = ?", [state]
    elif state:
        where = (" WHERE EXISTS (SELECT 1 FROM items i WHERE i.article_id = a.article_id "
                 "AND i.source_sha256 = a.source_sha256 AND i.status = ?)")
        params = [state]
    rows = rt.catalog.query(
        f"SELECT a.* FROM articles a{where} ORDER BY a.created_at DESC, a.article_id LIMIT ? OFFSET ?",  # noqa: S608
        [*params, *row_window(limit, offset)])
    total = rt.catalog.query(f"SELECT COUNT(*) AS n FROM articles a{where}", params)  # noqa: S608
    ids = [r["article_id"] for r in rows]
    if ids:
        marks = ", ".join("?" for _ in ids)
        per: dict[str, dict[str, dict[str, int]]] = {i: {"embed": {}, "image": {}} for i in ids}
        for r in rt.catalog.query(
                "SELECT i.article_id AS article_id, i.kind AS kind, i.status AS status, COUNT(*) AS n FROM items i "  # noqa: S608
                "JOIN articles a ON a.article_id = i.article_id AND a.source_sha256 = i.source_sha256 "
                f"WHERE i.article_id IN ({marks}) GROUP BY i.article_id, i.kind, i.status", ids):
            per[r["article_id"]].setdefault(r["kind"], {})[r["status"]] = int(r["n"])
        health: dict[str, dict[str, int]] = {i: dict.fromkeys(STATES, 0) for i in ids}
        inner = _ITEM_STATES_SQL.format(where=f" AND i.article_id IN ({marks})")
        for r in rt.catalog.query(f"SELECT s.article_id AS article_id, s.st AS st, COUNT(*) AS n FROM ({inner}) s "  # noqa: S608
                                  "GROUP BY s.article_id, s.st", ids):
            health[r["article_id"]][STATES[int(r["st"])]] = int(r["n"])
        rows = [{**r, "items": per[r["article_id"]], "health": health[r["article_id"]]} for r in rows]
    return rows, int(total[0]["n"]) if total else 0


def served_from_archive(rt: Runtime, article_id: str, only: set[str] | None = None) -> set[str]:
    """The item ids the article's current version already serves from the archive, so restoring them
    would write nothing: items a restore put in (the `restored` lists of the patches on the current
    version's chain) and images whose every occurrence already names the stable copy (archiving
    rewrote them). A dead one of these is dead at its origin but covered by the archived copy: not
    in need of a restore. `only`: look at these item ids alone (the version's bytes are decoded only
    when one of them is an image with a stable copy). Empty when the article has no version or its
    records cannot be read."""
    try:
        history = versions(rt, check_article_id(article_id))
        if not history:
            return set()
        current = history[-1]
        docs = chain_docs(rt, history, current.version, current.source_sha256)
        plan = load_plan(rt, article_id, current.source_sha256)
        covered = {i for _, doc in docs for i in (doc.get("restored") or []) if isinstance(i, str)}
        if only is not None:
            covered &= only
        chain = [patch for patch, _ in docs]
        looked_at = [item for item in plan.items if isinstance(item, ImageItem) and item.occurrences
                     and (only is None or item.item_id in only) and item.item_id not in covered]
        results = load_results(rt, plan) if looked_at else {}
        stable = {item.item_id: res.stable_url for item in looked_at
                  if isinstance(res := results.get(item.item_id), ImageResult) and res.stable_url}
        body = version_body(rt, current)  # (checked against its SHA-256 even when not read further)
        text = body.decode(current.encoding or plan.encoding or "utf-8",
                           errors="replace") if stable or covered else ""
    except (RecordError, RestoreError, ObjectNotFound, InputError, ValueError, LookupError):
        return set()
    # A restored card a takedown has since made the withheld notice is not served from the archive.
    for item in plan.items:
        if item.item_id in covered and any(
                span is not None and WITHHELD_CLASS in text[span[0]:span[1]]
                for span in (map_span(chain, occ.start, occ.end) for occ in item.occurrences)):
            covered.discard(item.item_id)
    for item in looked_at:
        url = stable.get(item.item_id)
        if not url:
            continue
        spans = [map_span(chain, occ.start, occ.end) for occ in item.occurrences]
        if all(span is not None and text[span[0]:span[1]] in (url, url.replace("&", "&amp;")) for span in spans):
            covered.add(item.item_id)
    return covered


def current_records(rt: Runtime, article_id: str) -> tuple[Plan, Results] | None:
    """The article's current plan and its item results, read once for `taken_down_items` and
    `uncopied_items`; None when they cannot be read."""
    try:
        plan = current_plan(rt, article_id)
        return plan, load_results(rt, plan)
    except (RecordError, ObjectNotFound, InputError, ValueError, LookupError):
        return None


def taken_down_items(rt: Runtime, article_id: str, records: tuple[Plan, Results] | None = None) -> set[str]:
    """The item ids of the article's current plan that compliance has taken down: an embed whose post is
    taken down, an image whose stable copy a takedown hides. Neither restorable nor in need of a restore
    (restore writes none of them: health.restore.TakenDown). `records`: `current_records`, when the
    caller read them already. Empty when the records cannot be read."""
    found = records if records is not None else current_records(rt, article_id)
    if found is None:
        return set()
    plan, results = found
    ensure_compliance_schema(rt.catalog)
    down = {(r["provider"], r["post_id"]) for r in rt.catalog.query(
        "SELECT provider, post_id FROM post_compliance WHERE taken_down = 1")}
    out = set()
    for item in plan.items:
        res = results.get(item.item_id)
        embed_down = isinstance(res, EmbedResult) and (res.provider, res.filed_id) in down
        image_down = isinstance(res, ImageResult) and bool(res.key) and hidden_reason(rt, res.key or "") is not None
        if embed_down or image_down:
            out.add(item.item_id)
    return out


def archived_copy(rt: Runtime, res: ItemResult | None) -> EmbedResult | None:
    """The capture holding the post an embed's result names that a restore shows: the item's own when it
    holds the post ("archived" or "partial") and storage holds its manifest readable; else, by the
    post's filed id, the latest capture holding it made for any article (the post may have been gone
    when this article was archived, kept by another article's earlier capture), one saying what the
    article's own capture kept of it first (the post may have been edited since), a missing or
    damaged one passed over; as a copy of `res` naming that capture. None when no capture holds the
    post (or `res` is not an embed's)."""
    if not isinstance(res, EmbedResult):
        return None
    if res.status in CAPTURED_STATUSES and res.manifest_key and _readable_manifest(rt, res.manifest_key):
        return res
    post_id = res.filed_id
    if not post_id:
        return None
    marks = ", ".join("?" for _ in CAPTURED_STATUSES)
    rows = rt.catalog.query(
        f"SELECT capture_id, status, manifest_key, captured_at, url, text FROM captures WHERE provider = ? "  # noqa: S608
        f"AND post_id = ? AND status IN ({marks}) ORDER BY captured_at DESC, capture_id DESC LIMIT ?",
        [res.provider, post_id, *CAPTURED_STATUSES, _COPIES_TRIED])
    # What the article showed: its own capture's words (a capture that found the post gone keeps the
    # article's markup). A capture saying the same comes first (the post may have been edited since).
    shown = rt.catalog.query("SELECT text FROM captures WHERE capture_id = ?", [res.capture_id or ""])
    said = shown[0]["text"] if shown and shown[0]["text"] else None
    rows.sort(key=lambda row: said is not None and row["text"] != said)  # stable: newest first within
    for row in rows:  # the first whose manifest storage holds, readable: a damaged one is passed over
        if row["capture_id"] != res.capture_id and row.get("manifest_key") and \
                _readable_manifest(rt, row["manifest_key"]):
            return res.model_copy(update={"status": row["status"], "manifest_key": row["manifest_key"],
                                          "capture_id": row["capture_id"], "captured_at": row["captured_at"],
                                          "url": res.url or row.get("url")})
    return None


# How many of a post's captures holding it `archived_copy` tries, newest first.
_COPIES_TRIED = 20


def _readable_manifest(rt: Runtime, key: str) -> bool:
    """Whether storage holds a JSON object at `key` (a capture's manifest a card can be made from)."""
    try:
        return isinstance(json.loads(rt.store.get(key)), dict)
    except (ObjectNotFound, ValueError):
        return False


def uncopied_items(rt: Runtime, article_id: str, records: tuple[Plan, Results] | None = None,
                   only: set[str] | None = None) -> set[str]:
    """The item ids of the article's current plan with no archived copy to restore from: an embed whose
    post no capture holds (``archived_copy``: neither its own, deleted, protected or failed before
    anything was kept, nor another article's) and an image with no stable copy. Dead, such an item is
    lost, not in need of a restore (restore would refuse it: health.restore.captured). `records`: as
    for `taken_down_items`; `only`: look at these item ids alone. Empty when the records cannot be
    read."""
    found = records if records is not None else current_records(rt, article_id)
    if found is None:
        return set()
    return {item_id for item_id, (kept, _) in _copies(rt, found, only).items() if not kept}


def _copies(rt: Runtime, records: tuple[Plan, Results], only: set[str] | None) -> dict[str, tuple[bool, bool]]:
    """Per item of the plan (those in `only`, or all): (whether an archived copy can restore it, whether
    that copy, or the search for one, went beyond the item's own result to other captures)."""
    plan, results = records
    out = {}
    for item in plan.items:
        if only is not None and item.item_id not in only:
            continue
        res = results.get(item.item_id)
        if isinstance(item, EmbedItem):
            copy = archived_copy(rt, res)
            out[item.item_id] = (copy is not None, copy is not res)
        else:
            out[item.item_id] = (isinstance(res, ImageResult) and bool(res.stable_url), False)
    return out


def needs_restore(rt: Runtime, article_ids: list[str] | None = None) -> dict[str, int]:
    """Per article with dead items (of those in `article_ids`, or all): how many of its dead items its
    current version does not already serve from the archive (`served_from_archive`), compliance has
    not taken down (`taken_down_items`) and have an archived copy (not `uncopied_items`), i.e. what a
    restore would change. Articles with none are left out.

    Each article's count reads its records from storage (a dozen objects), so it is remembered in this
    process for RESTORE_COUNT_SECONDS while the catalog says the same of what it depends on: the
    article's current version, its dead items and their rows, the posts and keys taken down, and, for
    a count that looked beyond the article's own captures, every capture. /health does not read every
    article with a dead item again on every view; what the catalog does not see (a stored object
    damaged since) shows within that time. Counts not remembered are made RESTORE_COUNT_THREADS at
    a time, on threads kept for it (each holds one catalog connection)."""
    ensure_schema(rt.catalog)
    ensure_compliance_schema(rt.catalog)
    # (No list of ids is sent to the catalog: there may be more articles than a query takes parameters.)
    rows = rt.catalog.query(
        "SELECT u.article_id AS article_id, u.item_id AS item_id, a.source_sha256 AS source_sha256, "
        "i.status AS status, i.manifest_key AS manifest_key, i.stable_url AS stable_url, i.sha256 AS sha256, "
        f"i.updated_at AS updated_at {_DEAD} ORDER BY u.article_id, u.item_id")
    dead: dict[str, set[str]] = {}
    said: dict[str, list[Any]] = {}
    for r in rows:
        if article_ids is None or r["article_id"] in article_ids:
            dead.setdefault(r["article_id"], set()).add(r["item_id"])
            said.setdefault(r["article_id"], []).append(list(r.values()))
    if not dead:
        return {}
    for r in rt.catalog.query(
            "SELECT v.article_id AS article_id, v.version AS version, v.sha256 AS sha256 FROM versions v "  # noqa: S608
            "WHERE v.version = (SELECT MAX(w.version) FROM versions w WHERE w.article_id = v.article_id) "
            f"AND v.article_id IN (SELECT u.article_id {_DEAD})"):
        if r["article_id"] in said:
            said[r["article_id"]].append([r["version"], r["sha256"]])
    down = [[r["provider"], r["post_id"]] for r in rt.catalog.query(
        "SELECT provider, post_id FROM post_compliance WHERE taken_down = 1 ORDER BY provider, post_id")]
    down += [[r["key"]] for r in rt.catalog.query("SELECT DISTINCT key FROM takedown_keys ORDER BY key")]
    everywhere = hashlib.sha256(json.dumps(down).encode()).hexdigest()
    now = time.monotonic()
    where = (rt.settings.catalog_url, rt.settings.storage_url, rt.settings.s3_endpoint_url)
    keys = {aid: json.dumps([said[aid], everywhere], default=str) for aid in dead}
    with _RESTORE_COUNTS_LOCK:
        known = {aid: found for aid, key in keys.items() if (found := _RESTORE_COUNTS.get((where, aid))) is not None
                 and found[0] == key and now - found[1] < RESTORE_COUNT_SECONDS}
    # A count that looked at other articles' captures holds while they are the same.
    captures = (_captures_said(rt) if any(k[3] is not None for k in known.values()) else None)
    counts = {aid: k[2] for aid, k in known.items() if k[3] is None or k[3] == captures}
    missing = [aid for aid in dead if aid not in counts]
    if missing:
        if captures is None:  # (read first: a capture added meanwhile makes the next view count again)
            captures = _captures_said(rt)
        found = dict(zip(missing, _restore_pool().map(lambda aid: _restore_count(rt, aid, dead[aid]), missing),
                         strict=True))
        with _RESTORE_COUNTS_LOCK:
            if len(_RESTORE_COUNTS) + len(found) > _RESTORE_COUNTS_MAX:
                _RESTORE_COUNTS.clear()
            for aid, (n, beyond) in found.items():
                _RESTORE_COUNTS[(where, aid)] = (keys[aid], now, n, captures if beyond else None)
                counts[aid] = n
    return {aid: n for aid, n in counts.items() if n}


def _captures_said(rt: Runtime) -> str:
    """What the catalog says of every capture, in short: how many, and the latest."""
    return json.dumps(rt.catalog.query("SELECT COUNT(*) AS n, MAX(captured_at) AS at FROM captures"), default=str)


# Threads making the counts of `needs_restore` (a few objects from storage each, S3's latency), shared by
# every caller of the process: each thread holds a catalog connection, so these are all it adds.
RESTORE_COUNT_THREADS = 8
_RESTORE_POOL: ThreadPoolExecutor | None = None


def _restore_pool() -> ThreadPoolExecutor:
    global _RESTORE_POOL
    with _RESTORE_COUNTS_LOCK:
        if _RESTORE_POOL is None:
            _RESTORE_POOL = ThreadPoolExecutor(max_workers=RESTORE_COUNT_THREADS, thread_name_prefix="restore-count")
        return _RESTORE_POOL


# How long a count of `needs_restore` is used again while the catalog says nothing changed, in seconds.
RESTORE_COUNT_SECONDS = 300.0
_RESTORE_COUNTS: dict[tuple[tuple[str, str], str], tuple[str, float, int, str | None]] = {}
_RESTORE_COUNTS_MAX = 200_000
_RESTORE_COUNTS_LOCK = threading.Lock()


def _restore_count(rt: Runtime, article_id: str, dead: set[str]) -> tuple[int, bool]:
    """(how many of the article's `dead` item ids a restore would change, whether that looked at
    captures made for other articles): `needs_restore` for one article, reading only what it must."""
    left = dead - served_from_archive(rt, article_id, only=dead)
    records = current_records(rt, article_id) if left else None
    if records is None:  # (unreadable records: nothing is known taken down or lost)
        return len(left), False
    left -= taken_down_items(rt, article_id, records)
    copies = _copies(rt, records, left) if left else {}
    lost = {item_id for item_id, (kept, _) in copies.items() if not kept}
    return len(left - lost), any(beyond for _, beyond in copies.values())


def item_records(rt: Runtime, found: list[Original]) -> dict[str, dict[str, Any]]:
    """The stored liveness record of each original `found` by item id (storage, the truth); a new
    "unchecked" record for one never checked."""
    return {o.item_id: load_record(rt, o.url) or new_record(o.url, o.kind, o.provider, o.post_id)
            for o in found}


def dead_items(rt: Runtime, article_id: str) -> list[Original]:
    """The article's originals whose stored state is dead."""
    return dead_among(rt, originals(rt, article_id))


def dead_among(rt: Runtime, found: list[Original]) -> list[Original]:
    """Those of the originals `found` whose stored state is dead."""
    return [o for o in found if (load_record(rt, o.url) or {}).get("state") == "dead"]


def health_answer(rt: Runtime, *, state: str | None = None, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """What GET /v1/health and `archiver health --json` answer: ``{"articles": [overview row +
    "needs_restore"], "totals": totals(...) + "needs_restore"}``. The rows are `overview`'s (most dead
    first; `state` filters, `limit` 1+ rows from `offset` 0+); `needs_restore` (per article and in the
    totals) counts the dead items a restore would change: a dead item the current version already serves
    from the archive (restored, or an image rewritten to its stable copy when archived) is dead at its
    origin but covered, and not counted there. The totals' `could_not_check` counts the items whose
    last check could not decide (each keeps its last conclusive state in the counts per state)."""
    rows = overview(rt, state=state, limit=limit, offset=offset)
    waiting = needs_restore(rt, [r["article_id"] for r in rows if r["dead"]])
    counts: dict[str, Any] = dict(totals(rt, state=state))
    counts["needs_restore"] = sum(needs_restore(rt).values())
    counts["could_not_check"] = could_not_check_count(rt)
    return {"articles": [{**r, "needs_restore": waiting.get(r["article_id"], 0)} for r in rows], "totals": counts}
