"""The liveness state machine of one original: live → suspect → dead, with growing check intervals.
Pure: it takes a record and a probe result and returns the next record.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from archiver.config.settings import Settings
from archiver.dates import iso
from archiver.storage.layout import url_sha256

STATES = ("unchecked", "live", "suspect", "dead")

HOUR = 3600.0

DAY = 24 * HOUR

MAX_INTERVAL = 30 * DAY

HISTORY_LIMIT = 100

def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))

# --- probes: what the original says now ------------------------------------------------------------
@dataclass(frozen=True)
class Probe:
    """What one liveness check of an original found: its outcome and a one-line detail for people."""

    outcome: str   # "ok", "failure" (counts toward dead) or "inconclusive" (never counts)
    detail: str
    # An image probe that read the body: whether it differs from the archived bytes (None: not known).
    changed: bool | None = None


# Why a check could not decide, from its detail (the probe's "<fetch error kind>: ..." or "HTTP n"):
# the first matching prefix or pattern names it for people ("could not check: timed out").
_WHY = (("timeout:", "timed out"), ("too_large:", "the answer is too large"),
        ("refused:", "refused by the address guard"), ("network:", "network error"),
        ("malformed:", "malformed answer"), ("bad_response:", "bad answer (e.g. too many redirects)"),
        ("bad_url:", "not a usable URL"), ("HTTP 429", "rate limited (HTTP 429)"))


def unchecked_reason(detail: str | None) -> str:
    """A short phrase for why a check could not decide, from its stored `detail` ("timed out",
    "server error (HTTP 503)", "access refused (HTTP 403)", ...); the detail itself otherwise."""
    text = (detail or "").strip()
    for prefix, why in _WHY:
        if text.startswith(prefix):
            return why
    if text.startswith("HTTP 5"):
        return f"server error ({text[:8]})"
    if text.startswith(("HTTP 401", "HTTP 403")):
        return f"access refused ({text[:8]})"
    return text[:120] or "no answer"


def check_label(rec: dict[str, Any]) -> str:
    """What the pages and the API say of an original's record: its state, or, when its last check
    could not decide, "could not check: <why>" with its last conclusive state kept visible
    ("could not check: timed out (last known: live)"; never conclusive: without the parenthesis)."""
    if rec.get("last_outcome") != "inconclusive":
        return str(rec["state"])
    label = f"could not check: {unchecked_reason(rec.get('last_detail'))}"
    return label if rec["state"] == "unchecked" else f"{label} (last known: {rec['state']})"


def could_not_check(rec: dict[str, Any]) -> str | None:
    """Why the last check of `rec` could not decide (`unchecked_reason`), or None when it decided
    (or there was none)."""
    return unchecked_reason(rec.get("last_detail")) if rec.get("last_outcome") == "inconclusive" else None

# --- the state machine ------------------------------------------------------------------------------
def new_record(url: str, kind: str, provider: str | None = None, post_id: str | None = None,
               archived_sha256: str | None = None) -> dict[str, Any]:
    """The record of an original never checked: state "unchecked", no failures or history (times are ISO strings,
    `interval` seconds); the shape advance() takes and returns and storage keeps."""
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
    if result.outcome == "ok" and result.changed is not None:
        rec["changed_since_archived"] = result.changed
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
