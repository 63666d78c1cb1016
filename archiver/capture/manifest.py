"""The capture manifest: what was captured of a post and how, validated against the versioned JSON
Schema in archiver/schemas/, with the capture id and source entries it is built from.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from archiver import __version__
from archiver.errors import ArchiverError

if TYPE_CHECKING:
    from archiver.capture.fetch import Exchange


SCHEMA_ID = "archiver.manifest.v1"

SCHEMA_FILE = "manifest.v1.json"

class ManifestError(ArchiverError):
    """A manifest does not satisfy the schema; the message names the first offending field."""

def utc_iso(dt: datetime) -> str:
    """ISO 8601 in UTC with millisecond precision and a Z: ``2024-03-05T08:15:00.132Z``."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

def new_capture_id(now: datetime | None = None) -> str:
    """Sortable and unique: ``YYYYMMDDTHHMMSSZ-<8 hex>``."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"

# --- schema ------------------------------------------------------------------------------------
@cache
def load_schema() -> dict[str, Any]:
    text = resources.files("archiver").joinpath(f"schemas/{SCHEMA_FILE}").read_text(encoding="utf-8")
    return json.loads(text)

@cache
def _validator() -> Any:
    import jsonschema

    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)

def validate_manifest(manifest: Any) -> None:
    """Raise ManifestError naming the first problem if ``manifest`` breaks the schema."""
    errors = sorted(_validator().iter_errors(manifest), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "(top)"
        raise ManifestError(f"manifest invalid at {where}: {err.message}")

# --- manifest pieces ----------------------------------------------------------------------------
def base_manifest(*, provider: str, post_id: str, capture_id: str, captured_at: datetime,
                  status: str, url: str | None) -> dict[str, Any]:
    """Every required field, empty; providers fill in what they learn."""
    return {
        "schema": SCHEMA_ID,
        "archiver_version": __version__,
        "capture_id": capture_id,
        "captured_at": utc_iso(captured_at),
        "provider": provider,
        "post_id": post_id,
        "status": status,
        "error": None,
        "url": url,
        "author": {"name": None, "handle": None, "id": None, "avatar_sha256": None},
        "created_at": None,
        "text": None,
        "text_expanded": None,
        "lang": None,
        "media": [],
        "quoted": None,
        "parent": None,
        "attribution": {"shown": None, "source_lines": []},
        "articles": [],
        "sources": [],
        "warc": None,
    }

def source_entry(name: str, exchanges: Sequence[Exchange], *, outcome: str, error: str | None = None,
                 data: dict[str, Any] | None = None, fallback_url: str | None = None,
                 fetched_at: datetime | None = None) -> dict[str, Any]:
    """Provenance of one source from the exchanges that produced it: the first request's URL,
    the last response's URL, status and body hash."""
    first = exchanges[0] if exchanges else None
    last = exchanges[-1] if exchanges else None
    when = first.started_at if first is not None else (fetched_at or datetime.now(UTC))
    answered = last is not None and last.status is not None
    return {
        "name": name,
        "request_url": first.url if first is not None else fallback_url,
        "final_url": last.url if last is not None else fallback_url,
        "fetched_at": utc_iso(when),
        "http_status": last.status if answered else None,
        "response_sha256": hashlib.sha256(last.body).hexdigest() if answered else None,
        "outcome": outcome,
        "error": error,
        "data": data,
    }

# --- writing -------------------------------------------------------------------------------------
def dumps(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")
