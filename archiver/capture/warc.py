"""WARC records of a capture's HTTP exchanges (ISO 28500, written and read with warcio), so a capture
can be re-derived and shown to a third party.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from archiver import __version__

if TYPE_CHECKING:
    from archiver.capture.exchange import Exchange


# Headers that describe the wire form of a body we store decoded; kept under another name.
_WIRE_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length"})

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
