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

import hashlib
import json
import logging
import random
import re
import weakref
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from archiver.catalog import Catalog
from archiver.config import Settings
from archiver.errors import InputError
from archiver.pipeline import Runtime, check_article_id, iso, load_plan, load_result, utcnow
from archiver.store import ObjectNotFound

log = logging.getLogger(__name__)

PREFIX = "health/"
STATES = ("unchecked", "live", "suspect", "dead")
HOUR = 3600.0
DAY = 24 * HOUR
MAX_INTERVAL = 30 * DAY
HISTORY_LIMIT = 100
# Generic placeholder images recognised by their 64-bit dHash (media.dhash): a blank single-colour
# image hashes to zero whatever its size or colour (spacer GIFs, "removed" grey boxes).
PLACEHOLDER_DHASHES = {"0000000000000000": "a blank single-colour image"}
PLACEHOLDER_MAX_DISTANCE = 2
_HOME_PATH = re.compile(r"(?i)^/?(?:index\.\w{2,5}|default\.\w{2,5}|home/?)?$")
_NOT_FOUND = re.compile(r"(?i)(?:^|[/_.?=&-])(?:404|410|not[-_]?found|notfound|missing|removed|unavailable|"
                        r"error|deleted)(?:$|[/_.?=&-])")
_HTML_START = re.compile(rb"(?is)^\s*(?:<!doctype|<html|<head|<body|<\?xml|<!--|<div|<p\b|<title)")

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
    if catalog not in _ready:
        for stmt in _SCHEMA:
            catalog.execute(stmt)
        _ready.add(catalog)


def url_sha256(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def record_key(url: str) -> str:
    return f"{PREFIX}{url_sha256(url)}.json"


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


# --- what to check --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Original:
    """One original URL an article item points at, with what its capture kept."""

    article_id: str
    item_id: str
    kind: str                 # "embed" or "image"
    url: str
    provider: str | None = None
    post_id: str | None = None
    capture_status: str | None = None
    archived_sha256: str | None = None


def originals(rt: Runtime, article_id: str) -> list[Original]:
    """The article's items (its current source's plan) with the URL each one's original lives at."""
    plan = load_plan(rt, check_article_id(article_id))
    out = []
    for item in plan.items:
        res = load_result(rt, plan, item["item_id"]) or {}
        url = res.get("url") or item.get("url")
        if not url:
            continue  # a flattened embed nothing resolved: there is no original to ask
        out.append(Original(plan.article_id, item["item_id"], item["kind"], url, item.get("provider"),
                            res.get("post_id") or item.get("post_id"), res.get("status"), res.get("sha256")))
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


# --- probes: what the original says now ------------------------------------------------------------
@dataclass(frozen=True)
class Probe:
    outcome: str   # "ok", "failure" (counts toward dead) or "inconclusive" (never counts)
    detail: str


def probe(rt: Runtime, original: Original | dict[str, Any]) -> Probe:
    """Ask the original once, through the safe fetcher. Failures of our own side raise."""
    o = original if isinstance(original, dict) else asdict(original)
    if o["kind"] == "embed" and o.get("provider") == "twitter" and o.get("post_id"):
        return probe_tweet(rt, o["post_id"], o["url"])
    if o["kind"] == "embed":
        return probe_page(rt, o["url"])
    return probe_image(rt, o["url"], o.get("archived_sha256"))


def probe_tweet(rt: Runtime, post_id: str, url: str) -> Probe:
    """oEmbed and syndication, read as a capture reads them (providers/twitter.decide)."""
    from archiver.providers.base import CaptureContext
    from archiver.providers.twitter import decide, fetch_oembed, fetch_syndication, parse_status_url

    ctx = CaptureContext(settings=rt.settings, fetcher=rt.fetcher, store=rt.store)
    found = parse_status_url(url)
    synd = fetch_syndication(ctx, post_id)
    oembed = fetch_oembed(ctx, post_id, found[0] if found else None)
    status, reason = decide(oembed, synd, True)
    if status == "archived":
        return Probe("ok", "the post is up")
    if status in ("deleted", "tombstoned", "protected"):
        return Probe("failure", f"{status}: {reason}")
    return Probe("inconclusive", reason or status)


def probe_page(rt: Runtime, url: str) -> Probe:
    """A post of a provider without an API: only 404/410 of its page count."""
    from archiver.fetch import FetchError

    try:
        resp = rt.fetcher.get(url, kind="html")
    except FetchError as exc:
        return Probe("inconclusive", f"{exc.kind}: {exc}")
    if resp.status in (404, 410, 451):
        return Probe("failure", f"HTTP {resp.status}")
    if 200 <= resp.status < 300:
        return Probe("ok", f"HTTP {resp.status}")
    return Probe("inconclusive", f"HTTP {resp.status}")


def _redirect_failure(url: str, final_url: str) -> str | None:
    if final_url == url:
        return None
    before, after = urlsplit(url), urlsplit(final_url)
    if _HOME_PATH.match(after.path) and not _HOME_PATH.match(before.path):
        return f"redirected to the site's home page ({final_url[:200]})"
    target = f"{after.path}?{after.query}"
    if _NOT_FOUND.search(target) and not _NOT_FOUND.search(f"{before.path}?{before.query}"):
        return f"redirected to a 'not found' page ({final_url[:200]})"
    return None


def placeholder_reason(data: bytes, settings: Settings, archived_sha256: str | None = None) -> str | None:
    """Why these image bytes are a generic placeholder rather than the image, or None."""
    from archiver.media import MediaRejected, inspect_image

    sha = hashlib.sha256(data).hexdigest()
    if sha == archived_sha256:
        return None
    known = {s.strip().lower() for s in settings.health_placeholder_sha256s.split(",") if s.strip()}
    if sha in known:
        return "a known placeholder image (sha256 listed in health_placeholder_sha256s)"
    try:
        info = inspect_image(data, settings)
    except (MediaRejected, ValueError, OSError):
        return None
    if not info.phash:
        return None
    for ref, label in PLACEHOLDER_DHASHES.items():
        if bin(int(info.phash, 16) ^ int(ref, 16)).count("1") <= PLACEHOLDER_MAX_DISTANCE:
            return f"a placeholder image ({label})"
    return None


def probe_image(rt: Runtime, url: str, archived_sha256: str | None = None) -> Probe:
    from archiver.fetch import FetchError
    from archiver.media import sniff

    try:
        resp = rt.fetcher.get(url, kind="image")
    except FetchError as exc:
        return Probe("inconclusive", f"{exc.kind}: {exc}")
    if resp.status == 429 or resp.status >= 500:
        return Probe("inconclusive", f"HTTP {resp.status}")
    if resp.status in (404, 410, 451):
        return Probe("failure", f"HTTP {resp.status}")
    moved = _redirect_failure(url, resp.final_url)
    if moved:
        return Probe("failure", moved)
    if resp.status >= 300:
        return Probe("inconclusive", f"HTTP {resp.status}")
    if hashlib.sha256(resp.body).hexdigest() == archived_sha256:
        return Probe("ok", "the same bytes as archived")
    mime = sniff(resp.body)
    if mime is None or not mime.startswith(("image/", "video/")):
        if resp.content_type in ("text/html", "application/xhtml+xml") or _HTML_START.match(resp.body[:512]):
            return Probe("failure", "the image became an HTML page")
        return Probe("failure", f"no longer an image ({resp.content_type or 'no content type'})")
    reason = placeholder_reason(resp.body, rt.settings, archived_sha256)
    if reason:
        return Probe("failure", reason)
    return Probe("ok", f"HTTP {resp.status}, {mime}")


# --- the state machine ------------------------------------------------------------------------------
def new_record(url: str, kind: str, provider: str | None = None, post_id: str | None = None,
               archived_sha256: str | None = None) -> dict[str, Any]:
    return {"url": url, "url_sha256": url_sha256(url), "kind": kind, "provider": provider, "post_id": post_id,
            "archived_sha256": archived_sha256,
            "state": "unchecked", "since": None, "failures": [], "checks": 0, "last_checked_at": None,
            "last_outcome": None, "last_detail": None, "interval": 0, "next_check_at": None, "history": []}


def advance(record: dict[str, Any], result: Probe, now: datetime, settings: Settings) -> dict[str, Any]:
    """The record after one probe (pure: no I/O)."""
    rec = {**record, "failures": list(record["failures"]), "history": list(record["history"])}
    before = rec["state"]
    interval = float(rec.get("interval") or 0)
    if result.outcome == "ok":
        rec["state"], rec["failures"] = "live", []
        interval = min(MAX_INTERVAL, interval * 2) if before == "live" and interval >= DAY else DAY
    elif result.outcome == "failure":
        rec["failures"].append(iso(now))
        span = (now - _parse(rec["failures"][0])).total_seconds()
        enough = len(rec["failures"]) >= max(1, settings.health_dead_after_failures)
        rec["state"] = "dead" if enough and span >= settings.health_dead_after_hours * HOUR else "suspect"
        if rec["state"] == "dead":
            interval = min(MAX_INTERVAL, interval * 2) if before == "dead" and interval >= DAY else DAY
        else:  # spread the remaining checks over the required span, at most a day apart
            gaps = max(1, settings.health_dead_after_failures - 1)
            interval = min(DAY, max(HOUR, settings.health_dead_after_hours * HOUR / gaps))
    else:
        interval = HOUR  # ask again soon; the state stays what it was
    if rec["state"] != before:
        rec["since"] = iso(now)
    rec["checks"] = int(rec.get("checks") or 0) + 1
    rec["last_checked_at"], rec["last_outcome"], rec["last_detail"] = iso(now), result.outcome, result.detail
    rec["interval"] = interval
    rec["next_check_at"] = iso(now + timedelta(seconds=interval * random.uniform(0.9, 1.1)))
    rec["history"].append({"at": iso(now), "outcome": result.outcome, "detail": result.detail[:500],
                           "state": rec["state"]})
    rec["history"] = rec["history"][-HISTORY_LIMIT:]
    return rec


# --- storage and index ------------------------------------------------------------------------------
def load_record(rt: Runtime, url: str) -> dict[str, Any] | None:
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
    for key in rt.store.list(PREFIX):
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
    return [o for o in originals(rt, article_id)
            if (load_record(rt, o.url) or {}).get("state") == "dead"]
