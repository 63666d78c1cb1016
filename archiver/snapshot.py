"""Snapshots of posts: the manifest (validated against a versioned JSON Schema) and the raw HTTP
exchanges beside it as WARC records, so a capture can be re-derived and shown to a third party.

Object layout (an interface, keep it stable):
``posts/<provider>/<post_id>/<capture_id>.json`` (manifest) and
``posts/<provider>/<post_id>/<capture_id>.warc.gz`` (the exchanges) and
``posts/<provider>/<post_id>/<capture_id>.card.html`` / ``.card.png`` (the static cards, see
``archiver.card``); media live under ``blobs/``.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import secrets
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import cache
from http import HTTPStatus
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from archiver import __version__
from archiver.errors import ArchiverError

if TYPE_CHECKING:
    from archiver.fetch import Exchange
    from archiver.store import ObjectStore

SCHEMA_ID = "archiver.manifest.v1"
SCHEMA_FILE = "manifest.v1.json"
_CAPTURE_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{8}")
_POST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}")
# Headers that describe the wire form of a body we store decoded; kept under another name.
_WIRE_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length"})


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


def _check_parts(provider: str, post_id: str, capture_id: str) -> None:
    if not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", provider or ""):
        raise ValueError(f"bad provider name {provider!r}")
    if not _POST_ID.fullmatch(post_id or "") or ".." in post_id:
        raise ValueError(f"bad post id {post_id!r}")
    if not _CAPTURE_ID.fullmatch(capture_id or ""):
        raise ValueError(f"bad capture id {capture_id!r}")


def manifest_key(provider: str, post_id: str, capture_id: str) -> str:
    _check_parts(provider, post_id, capture_id)
    return f"posts/{provider}/{post_id}/{capture_id}.json"


def warc_key(provider: str, post_id: str, capture_id: str) -> str:
    _check_parts(provider, post_id, capture_id)
    return f"posts/{provider}/{post_id}/{capture_id}.warc.gz"


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


# --- WARC --------------------------------------------------------------------------------------
def _http_date(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _protocol(http_version: str | None) -> str:
    """``1.1``, ``HTTP/1.1`` or nothing → ``HTTP/1.1``."""
    v = str(http_version or "1.1")
    return v if v.upper().startswith("HTTP/") else f"HTTP/{v}"


def _request_target(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return target, parts.netloc


def _response_headers(ex: Exchange) -> list[tuple[str, str]]:
    """Headers as received, except that the body is stored decoded: wire-form headers are renamed
    (``X-Archive-Orig-…``, the usual WARC convention) and Content-Length states the stored size."""
    out: list[tuple[str, str]] = []
    for name, value in ex.response_headers:
        if name.lower() in _WIRE_HEADERS:
            out.append((f"X-Archive-Orig-{name}", value))
        else:
            out.append((name, value))
    out.append(("Content-Length", str(len(ex.body))))
    return out


def build_warc(exchanges: Iterable[Exchange], *, capture_id: str | None = None) -> bytes:
    """A gzipped WARC: a warcinfo record, then per exchange one request record and one response
    record (or, when no response came, a metadata record with the error)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    info = {"software": f"archiver/{__version__}", "format": "WARC File Format 1.1"}
    if capture_id:
        info["capture-id"] = capture_id
    writer.write_record(writer.create_warcinfo_record(f"{capture_id or 'capture'}.warc.gz", info))
    for ex in exchanges:
        date = _http_date(ex.started_at)
        extra = {"WARC-Date": date}
        if ex.resolved_ip:
            extra["WARC-IP-Address"] = str(ex.resolved_ip)
        target, host = _request_target(ex.url)
        version = _protocol(ex.http_version)
        req_headers = [("Host", host)] + [(k, v) for k, v in (ex.request_headers or {}).items()
                                          if k.lower() != "host"]
        req = writer.create_warc_record(
            ex.url, "request", payload=io.BytesIO(b""),
            http_headers=StatusAndHeaders(f"{ex.method} {target} {version}", req_headers,
                                          is_http_request=True),
            warc_headers_dict=dict(extra),
        )
        writer.write_record(req)
        concurrent = {**extra, "WARC-Concurrent-To": req.rec_headers.get_header("WARC-Record-ID")}
        if ex.status is None:
            meta = f"error: {ex.error or 'no response'}\nelapsed-ms: {ex.elapsed_ms}\n".encode()
            writer.write_record(writer.create_warc_record(
                ex.url, "metadata", payload=io.BytesIO(meta), warc_content_type="text/plain",
                warc_headers_dict=concurrent))
            continue
        try:
            reason = HTTPStatus(ex.status).phrase
        except ValueError:
            reason = ""
        resp = writer.create_warc_record(
            ex.url, "response", payload=io.BytesIO(ex.body),
            http_headers=StatusAndHeaders(f"{ex.status} {reason}".strip(), _response_headers(ex),
                                          protocol=version),
            warc_headers_dict=concurrent,
        )
        writer.write_record(resp)
    return buf.getvalue()


def read_warc(data: bytes) -> list[dict[str, Any]]:
    """The records of a WARC written by ``build_warc``: type, target URI, date, IP, HTTP status
    and payload bytes. For re-deriving a snapshot and for tests."""
    from warcio.archiveiterator import ArchiveIterator

    records = []
    for rec in ArchiveIterator(io.BytesIO(data)):
        http = rec.http_headers
        status = None
        if rec.rec_type == "response" and http is not None:
            status = int(http.get_statuscode())
        records.append({
            "type": rec.rec_type,
            "uri": rec.rec_headers.get_header("WARC-Target-URI"),
            "date": rec.rec_headers.get_header("WARC-Date"),
            "ip": rec.rec_headers.get_header("WARC-IP-Address"),
            "status": status,
            "http_headers": list(http.headers) if http is not None else [],
            "payload": rec.content_stream().read(),
        })
    return records


# --- writing -------------------------------------------------------------------------------------
def dumps(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")


def write_snapshot(store: ObjectStore, manifest: dict[str, Any],
                   exchanges: Sequence[Exchange]) -> str:
    """Validate, then write the WARC (when there were exchanges), the static cards and last the
    manifest (which commits the capture); returns the manifest key. Writing the same capture again
    overwrites the same keys."""
    from archiver.card import card_keys, write_cards

    provider, post_id, capture_id = manifest["provider"], manifest["post_id"], manifest["capture_id"]
    key = manifest_key(provider, post_id, capture_id)
    if exchanges:
        manifest["warc"] = warc_key(provider, post_id, capture_id)
    manifest["cards"] = card_keys(manifest)
    validate_manifest(manifest)
    if exchanges:
        store.put(manifest["warc"], build_warc(exchanges, capture_id=capture_id),
                  content_type="application/warc")
    write_cards(store, manifest)
    store.put(key, dumps(manifest), content_type="application/json")
    return key
