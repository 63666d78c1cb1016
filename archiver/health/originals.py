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

import json
import logging
import random
import weakref
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from archiver.catalog.core import Catalog
from archiver.dates import iso, utcnow
from archiver.errors import InputError
from archiver.health.probes import probe
from archiver.health.state import STATES, Original, advance, new_record
from archiver.records.plan import EmbedItem, Plan
from archiver.records.result import EmbedResult, ImageResult
from archiver.steps.prepare import check_article_id, load_plan
from archiver.steps.results import Results, load_results
from archiver.storage.base import ObjectNotFound
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
        updated_at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS link_health_due ON link_health (next_check_at)",
    """CREATE TABLE IF NOT EXISTS link_uses (
        url_sha256 TEXT NOT NULL,
        article_id TEXT NOT NULL,
        item_id TEXT NOT NULL,
        PRIMARY KEY (url_sha256, article_id, item_id))""",
    "CREATE INDEX IF NOT EXISTS link_uses_article ON link_uses (article_id)",
]

_ready: weakref.WeakSet[Catalog] = weakref.WeakSet()

def ensure_schema(catalog: Catalog) -> None:
    """Create the link_health and link_uses tables and their indexes in `catalog` if missing; once per Catalog."""
    if catalog not in _ready:
        for stmt in _SCHEMA:
            catalog.execute(stmt)
        _ready.add(catalog)




def originals(rt: Runtime, article_id: str) -> list[Original]:
    """The article's items (its current source's plan) with the URL each one's original lives at."""
    plan = load_plan(rt, check_article_id(article_id))
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
    """The stored liveness record of original `url` (new_record's keys), or None when never stored."""
    try:
        return json.loads(rt.store.get(record_key(url)))
    except ObjectNotFound:
        return None

def _index(rt: Runtime, rec: dict[str, Any]) -> None:
    ensure_schema(rt.catalog)
    rt.catalog.execute(
        "INSERT INTO link_health (url_sha256, url, kind, provider, post_id, archived_sha256, state, failures, "
        "last_checked_at, last_outcome, next_check_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (url_sha256) DO UPDATE SET state = excluded.state, failures = excluded.failures, "
        "last_checked_at = excluded.last_checked_at, last_outcome = excluded.last_outcome, "
        "next_check_at = excluded.next_check_at, updated_at = excluded.updated_at",
        [rec["url_sha256"], rec["url"], rec["kind"], rec["provider"], rec["post_id"], rec.get("archived_sha256"),
         rec["state"],
         len(rec["failures"]), rec["last_checked_at"], rec["last_outcome"], rec["next_check_at"],
         rec["last_checked_at"]])

def check(rt: Runtime, original: Original | dict[str, Any], *, now: datetime | None = None) -> dict[str, Any]:
    """Probe one original and advance its state; returns the stored record.

    Serialized per URL. The record is read before the probe and written after it, so an outage of
    storage or Redis raises (from the lock, the read or the write) and leaves the state as it was.
    """
    o = original if isinstance(original, dict) else asdict(original)
    url = o["url"]
    with rt.coordinator.lock(f"health:{url_sha256(url)}", timeout=60):
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

def reindex(rt: Runtime) -> int:
    """Rebuild link_health from storage (link_uses comes back with `enroll_all`)."""
    n = 0
    for key in rt.store.list(HEALTH_PREFIX):
        if key.endswith(".json"):
            _index(rt, json.loads(rt.store.get(key)))
            n += 1
    return n

# --- reports ----------------------------------------------------------------------------------------
def article_health(rt: Runtime, article_id: str, *, check_now: bool = False,
                   now: datetime | None = None) -> dict[str, Any]:
    """Every item of the article with its state and history (from storage, the truth)."""
    found = enroll(rt, article_id, now=now)
    items = []
    for o in found:
        rec = check(rt, o, now=now) if check_now else load_record(rt, o.url)
        rec = rec or new_record(o.url, o.kind, o.provider, o.post_id)
        items.append({"item_id": o.item_id, "kind": o.kind, "url": o.url, "provider": o.provider,
                      "post_id": o.post_id, "capture_status": o.capture_status, "state": rec["state"],
                      "since": rec["since"], "failures": len(rec["failures"]), "checks": rec["checks"],
                      "last_checked_at": rec["last_checked_at"], "last_detail": rec["last_detail"],
                      "next_check_at": rec["next_check_at"], "history": rec["history"]})
    return {"article_id": article_id, "summary": _summary(i["state"] for i in items), "items": items}

def _summary(states: Any) -> dict[str, int]:
    out = dict.fromkeys(STATES, 0)
    for s in states:
        out[s] = out.get(s, 0) + 1
    return out

def overview(rt: Runtime, *, state: str | None = None, limit: int = 200, offset: int = 0) -> list[dict[str, Any]]:
    """Per article: how many of its originals are in each state (from the index), worst first."""
    ensure_schema(rt.catalog)
    rows = rt.catalog.query(
        "SELECT u.article_id AS article_id, h.state AS state, COUNT(*) AS n FROM link_uses u "
        "JOIN link_health h ON h.url_sha256 = u.url_sha256 GROUP BY u.article_id, h.state")
    per: dict[str, dict[str, int]] = {}
    for r in rows:
        per.setdefault(r["article_id"], dict.fromkeys(STATES, 0))[r["state"]] = int(r["n"])
    out = [{"article_id": aid, **counts} for aid, counts in per.items() if state is None or counts.get(state)]
    out.sort(key=lambda r: (-r["dead"], -r["suspect"], r["article_id"]))
    return out[max(0, offset):max(0, offset) + max(1, limit)]

def dead_items(rt: Runtime, article_id: str) -> list[Original]:
    """The article's originals whose stored state is dead."""
    return dead_among(rt, originals(rt, article_id))


def dead_among(rt: Runtime, found: list[Original]) -> list[Original]:
    """Those of the originals `found` whose stored state is dead."""
    return [o for o in found if (load_record(rt, o.url) or {}).get("state") == "dead"]
