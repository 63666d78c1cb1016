"""Archived copies served as they are (blobs, derivatives, post snapshots): by the public /media/ route
of archiver/web/app.py, the signed-in /evidence/ page route and an image's Memento
(archiver/web/routes/memento.py).

Only keys under the public prefixes are served, with their type decided by the key or the bytes
(never by what the origin claimed), and under a strict CSP so a hostile file cannot run as a page.

A copy is never read whole into memory (videos of hundreds of MiB are kept): ``serve_copy`` answers
HEAD from the store's ``head`` (size) and, when the key does not say the type, the first
SNIFF_BYTES bytes; GET streams the object from the store in chunks of STREAM_CHUNK bytes
(``ObjectStore.stream``), closing the file or connection however the answer ends (sent, the client
gone, an error). A single byte range (RFC 9110 §14: ``Range: bytes=a-b``, ``bytes=a-``,
``bytes=-n``) answers 206 with Content-Range; one that selects nothing 416 with
``Content-Range: bytes */size``; several ranges, a syntax this does not know or an ``If-Range`` (the
copies have no validator it could match) the whole copy (200). Every answer says
``Accept-Ranges: bytes``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from fastapi.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from archiver.capture.media import sniff
from archiver.runtime import Runtime
from archiver.storage.base import ObjectInfo, ObjectNotFound, ObjectStore, ObjectStream
from archiver.storage.layout import PUBLIC_PREFIXES
from archiver.web import errors

CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


def public_origin(url: Any) -> str | None:
    """`scheme://host[:port]` of an http(s) URL without anything a CSP source would misread; else None."""
    if not isinstance(url, str):
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not re.fullmatch(r"[A-Za-z0-9.\[\]:-]{1,260}", parts.netloc or ""):
        return None
    return f"{parts.scheme}://{parts.netloc}"


def copy_csp(public_base_url: str) -> str:
    """The CSP a served copy gets (CSP, for a static card in its frame too): images from this server
    and from the origin of the archive's public base URL, where a card's photos are linked (a CDN or
    another host in front of storage), nothing that runs."""
    origin = public_origin(public_base_url)
    return CSP.replace("img-src 'self';", f"img-src 'self' {origin};") if origin else CSP
_TYPES = {
    ".json": "application/json",
    ".warc.gz": "application/warc",
    ".html": "text/html; charset=utf-8",
    ".png": "image/png",
    ".webp": "image/webp",
}


# The bytes of a copy read to tell its type when the key does not say it (sniff looks at 8 KiB at most).
SNIFF_BYTES = 8192

# OpenAPI `responses` of a route answering through serve_copy, besides its 200.
RANGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    206: {"description": "the byte range asked for (Range: bytes=a-b, a- or -n), with Content-Range",
          "content": {"*/*": {}}},
    416: {"description": "the range asked for starts past the copy's end (Content-Range: bytes */size)",
          "model": errors.ErrorOut},
}
UNSATISFIABLE = "range not satisfiable"


def copy_info(rt: Runtime, key: str) -> ObjectInfo:
    """What the store's ``head`` says of an archived copy (blob, derivative, post snapshot: size in
    bytes, stored type), without reading its bytes. HTTPException 404 for a key outside the public
    prefixes, a bad key or no object; StoreError when storage does not answer."""
    if not key.startswith(PUBLIC_PREFIXES):
        raise HTTPException(status_code=404, detail="not found")
    try:
        return rt.store.head(key)
    except (ObjectNotFound, ValueError):
        raise HTTPException(status_code=404, detail="not found") from None


def content_type_by_key(key: str) -> str | None:
    """The content type a key's kind says (by its ending), None when only the bytes can tell."""
    for suffix, ctype in _TYPES.items():
        if key.endswith(suffix):
            return ctype
    return None


def content_type_for(key: str, data: bytes) -> str:
    """By the key's kind, else by the bytes themselves (never by what the origin claimed). `data` may
    be the copy's first SNIFF_BYTES bytes only: no more are looked at."""
    return content_type_by_key(key) or sniff(data[:SNIFF_BYTES]) or "application/octet-stream"


class RangeNotSatisfiable(Exception):
    """A Range header whose one range starts at or past the end of the copy (or asks for its last 0 bytes)."""


def _position(digits: str) -> int:
    """A byte position from its digits (leading zeros allowed, RFC 9110 §14.1.1); more than 18
    significant digits is past the end of anything stored."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 18 else 10 ** 18


def byte_range(headers: Mapping[str, str], size: int) -> tuple[int, int] | None:
    """The one byte range ``(start, stop)`` (bytes ``start`` to ``stop - 1`` of a copy of `size` bytes,
    ``stop`` cut at `size`) that a GET's `headers` ask for (RFC 9110 §14.1.2: ``bytes=a-b``, ``bytes=a-``,
    ``bytes=-n``; the unit in any case, spaces around the one range), or None to send the whole copy:
    no Range, another unit, a syntax error or a reversed range (which RFC 9110 lets a server ignore),
    several ranges, or an If-Range (the copies have no validator it could match). RangeNotSatisfiable
    when the range starts at or past the end, or is a suffix of 0 bytes or of an empty copy."""
    header = headers.get("range")
    if header is None or "if-range" in headers:
        return None
    unit, eq, ranges = header.partition("=")
    if not eq or unit.strip().lower() != "bytes":
        return None
    specs = [spec.strip() for spec in ranges.split(",") if spec.strip()]
    match = re.fullmatch(r"([0-9]*)-([0-9]*)", specs[0]) if len(specs) == 1 else None
    if match is None or not (match.group(1) or match.group(2)):
        return None
    if match.group(1):
        first = _position(match.group(1))
        last = _position(match.group(2)) if match.group(2) else None
        if last is not None and last < first:
            return None
        if first >= size:
            raise RangeNotSatisfiable(header)
        return first, size if last is None else min(last + 1, size)
    suffix = _position(match.group(2))
    if suffix == 0 or size == 0:
        raise RangeNotSatisfiable(header)
    return max(0, size - suffix), size


class StreamedCopy(StreamingResponse):
    """A StreamingResponse of an ObjectStream (after `first`, bytes already read from it) that closes
    the stream however the answer ends: sent whole, the client gone mid-way, or an error."""

    def __init__(self, stream: ObjectStream, first: bytes, status_code: int, headers: Mapping[str, str],
                 media_type: str) -> None:
        super().__init__(_chunks(first, stream), status_code=status_code, headers=headers, media_type=media_type)
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.stream.close()


def _chunks(first: bytes, stream: ObjectStream) -> Iterator[bytes]:
    if first:
        yield first
    yield from stream


def serve_copy(request: Request, store: ObjectStore, info: ObjectInfo, headers: Mapping[str, str]) -> Response:
    """The answer to a GET or HEAD of the stored object `info` describes (``store.head``'s answer): its
    content type by its key or its first SNIFF_BYTES bytes (content_type_for), `headers` plus
    Accept-Ranges and Content-Length. HEAD reads no more than those first bytes (none when the key
    says the type); GET streams the object (StreamedCopy), the range byte_range picks from the
    request (206 with Content-Range) or the whole (200); an unsatisfiable range answers 416 (the error
    shape, Content-Range ``bytes */size``, never stored by a cache). HTTPException 404 when the object
    is gone since `info` was read; StoreError when storage fails."""
    key, size = info.key, info.size
    base = {**headers, "Accept-Ranges": "bytes"}
    wanted = None
    if request.method == "GET":
        try:
            wanted = byte_range(request.headers, size)
        except RangeNotSatisfiable:
            return errors.error_response(request, 416, UNSATISFIABLE, {
                "Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes", "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff"})
    try:
        ctype = content_type_by_key(key)
        if request.method != "GET" or wanted is not None:
            if ctype is None:
                with store.stream(key, 0, SNIFF_BYTES) as head:
                    ctype = content_type_for(key, head.read(SNIFF_BYTES))
            if request.method != "GET":
                return Response(b"", media_type=ctype, headers={**base, "Content-Length": str(size)})
        start, stop = wanted or (0, size)
        stream = store.stream(key, start, stop)
    except ObjectNotFound:
        raise HTTPException(status_code=404, detail="not found") from None
    try:
        first = b""
        if ctype is None:   # the whole copy: its first bytes come from the stream it is sent from
            first = stream.read(SNIFF_BYTES)
            ctype = content_type_for(key, first)
        if wanted is None:
            return StreamedCopy(stream, first, 200, {**base, "Content-Length": str(stream.length)}, ctype)
        return StreamedCopy(stream, first, 206, {**base, "Content-Length": str(stream.length),
                                                 "Content-Range": f"bytes {start}-{stop - 1}/{size}"}, ctype)
    except BaseException:
        stream.close()
        raise
