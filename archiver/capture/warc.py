"""WARC records of a capture (ISO 28500:2017, WARC 1.1, written and read with warcio), so a capture can
be shown to a third party and re-derived from what the platform sent.

Written (``build_warc``): a ``warcinfo`` record naming the software, its version and the capture; the
capture's static cards as ``resource`` records under ``urn:archiver:<object key>`` URIs
(``resource_uri``); and per HTTP exchange a ``request`` and a ``response`` record (a ``metadata`` record
with the error when no response came) whose payload is the body exactly as it came off the wire,
content-coding kept (``Exchange.wire``), under the response headers as received.

Read (``read_warc``, ``derive_from_warc``, ``check_manifest_against_warc``): WARC 1.1 files written so,
and the WARC 1.0 files of earlier versions, whose bodies were stored decoded under renamed
``X-Archive-Orig-Content-Encoding`` headers. Payloads are decoded with the fetcher's own decoders
(``archiver.capture.fetch.content_decoder``), so a decoded payload's SHA-256 is the one the capture
recorded.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import unicodedata
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlsplit

from archiver import __version__, foreign_json
from archiver.capture.fetch import content_decoder
from archiver.capture.manifest import SCHEMA_ID as SCHEMA_V2
from archiver.capture.manifest import SCHEMA_V1
from archiver.providers.markup import MARKUP_SOURCE
from archiver.providers.oembed import OEmbedProvider
from archiver.providers.registry import get_provider
from archiver.providers.sources import Fetched
from archiver.providers.twitter.answers import RELATED, post_times, shows_media
from archiver.providers.twitter.api import (
    _oembed_text,
    entities_info,
    expand_text,
    metrics_info,
    note_text,
    quoted_link,
    related_id,
    str_or_none,
)
from archiver.providers.twitter.ids import HANDLE, parse_status_url, parse_time
from archiver.providers.twitter.media import plan_media
from archiver.providers.twitter.states import Answer, decide, read_answer
from archiver.providers.twitter.texts import MAX_TEXT_CHARS

if TYPE_CHECKING:
    from archiver.capture.exchange import Exchange

WARC_VERSION = "1.1"

# zlib levels of the WARC's gzip members. Payloads compressed already (images other than BMP, TIFF and
# SVG; audio; video; bodies sent with a Content-Encoding) are stored in the member uncompressed (level 0,
# still one valid gzip member): deflate shrinks them by 1-4% at 3.5 ms per 150 KB JPEG and 5.5 ms per
# 200 KB PNG card, most of build_warc's time for a tweet. Everything else (headers, JSON, HTML) at zlib's
# default level (warcio's own is 9: no smaller for these records, and slower).
GZIP_LEVEL_COMPRESSED = 0
GZIP_LEVEL = 6
_COMPRESSED_TYPE = re.compile(r"\s*(?:image/(?!svg|bmp|x-ms-bmp|tiff)|video/|audio/)", re.I)
WARC_SPEC = "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/"
# A resource record's target URI: this prefix and the object's key (the card's key beside its manifest).
RESOURCE_SCHEME = "urn:archiver:"
# Reading: a coded payload decodes to at most this many bytes (more is a problem, not a crash), all of a
# WARC's payloads together to at most READ_BUDGET decoded bytes, and a JSON answer is parsed only up to
# JSON_LIMIT bytes. Problems are listed up to MAX_PROBLEMS, then counted.
DECODED_LIMIT = 512 * 1024 * 1024
READ_BUDGET = 1024 * 1024 * 1024
JSON_LIMIT = 16 * 1024 * 1024
MAX_PROBLEMS = 50
# What derive_from_warc keeps of the answers: at most MAX_POSTS posts, MAX_SAID values of each kind a post.
MAX_POSTS = 1000
MAX_SAID = 50
_CHUNK = 64 * 1024


# --- writing ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Resource:
    """A file the archiver made for a capture (its static cards), stored as a ``resource`` record:
    its object ``key``, bytes and Content-Type."""

    key: str
    data: bytes
    content_type: str


def resource_uri(key: str) -> str:
    """The WARC-Target-URI of the resource stored under object ``key``: ``urn:archiver:<key>``
    (RFC 8141 syntax: characters outside a URN's NSS are percent-encoded). Chosen over the public URL
    so the record names the same object whatever base URL the store is served under."""
    return RESOURCE_SCHEME + quote(key, safe="/:@!$&'()*+,;=-._~")


def _warc_date(dt: datetime) -> str:
    """WARC 1.1's W3C date with microseconds, in UTC: ``2025-07-15T09:12:33.123000Z``."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _protocol(http_version: str | None) -> str:
    """``1.1``, ``HTTP/1.1`` or nothing → ``HTTP/1.1``."""
    v = str(http_version or "1.1")
    return v if v.upper().startswith("HTTP/") else f"HTTP/{v}"


def _request_target(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return target, parts.netloc


def _status_line(ex: Exchange) -> str:
    """``200 OK``: the status and the reason phrase as received (the standard one when none was kept)."""
    from http import HTTPStatus

    reason = ex.reason
    if reason is None:
        try:
            reason = HTTPStatus(int(ex.status or 0)).phrase
        except ValueError:
            reason = ""
    return f"{ex.status} {' '.join(str(reason).split())}".strip()


def response_headers(ex: Exchange) -> list[tuple[str, str]]:
    """The response headers as received, ``Content-Encoding`` included (the payload is stored coded),
    with two changes the stored payload makes true: ``Transfer-Encoding`` is renamed
    ``X-Archive-Orig-Transfer-Encoding`` (the payload is stored de-chunked), and a ``Content-Length``
    that is not the stored payload's length (none sent, or a body cut short) is renamed
    ``X-Archive-Orig-Content-Length`` with the stored length added as ``Content-Length``."""
    size = str(len(ex.wire))
    out: list[tuple[str, str]] = []
    lengths = [v.strip() for k, v in ex.response_headers if k.lower() == "content-length"]
    length_true = lengths == [size]
    for name, value in ex.response_headers:
        low = name.lower()
        if low == "transfer-encoding" or (low == "content-length" and not length_true):
            out.append((f"X-Archive-Orig-{name}", value))
        else:
            out.append((name, value))
    if not length_true:
        out.append(("Content-Length", size))
    return out


def truncation(ex: Exchange) -> str | None:
    """WARC-Truncated for the response ``ex`` stored: its ``truncated`` reason (length, time,
    disconnect, unspecified), else "unspecified" when a Content-Length it declared is not what is
    stored; None for a whole body."""
    if ex.truncated:
        return ex.truncated
    size = str(len(ex.wire))
    declared = [v.strip() for k, v in ex.response_headers if k.lower() == "content-length"]
    return "unspecified" if declared and any(v != size for v in declared) else None


def build_warc(exchanges: Iterable[Exchange], *, capture_id: str | None = None,
               resources: Sequence[Resource] = (), created_at: datetime | None = None) -> bytes:
    """A gzipped WARC/1.1 file (one gzip member per record) of a capture.

    Records, in order: a ``warcinfo`` (software ``archiver/<version>``, the format, ``capture-id``);
    each of ``resources`` as a ``resource`` record under ``resource_uri(key)``, dated ``created_at``
    (now when None); then per exchange a ``request`` record (method, path and the request headers sent, Host first, no
    body) and a ``response`` record (status line and headers as received, ``response_headers``;
    payload ``Exchange.wire``, the bytes as received; ``WARC-Truncated`` when cut short) or, when
    no response came, a ``metadata`` record with the error. Request and response carry
    WARC-Target-URI, WARC-Date (when the exchange started), WARC-IP-Address (the address connected
    to, when known), WARC-Concurrent-To each other, WARC-Warcinfo-ID; warcio adds WARC-Block-Digest
    and WARC-Payload-Digest (sha1, base32) over what is stored, so ``warcio check`` holds. Header
    values outside ASCII are percent-encoded by warcio (RFC 8187)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buf = io.BytesIO()
    # Each record is written plain, then gzipped as its own member (what warcio's gzip=True does, at
    # the level its payload deserves: GZIP_LEVEL or GZIP_LEVEL_COMPRESSED).
    plain = io.BytesIO()
    writer = WARCWriter(plain, gzip=False, warc_version=WARC_VERSION)

    def write(record: Any, compressed: bool = False) -> None:
        plain.seek(0)
        plain.truncate()
        writer.write_record(record)
        member = zlib.compressobj(GZIP_LEVEL_COMPRESSED if compressed else GZIP_LEVEL, zlib.DEFLATED,
                                  zlib.MAX_WBITS | 16)
        with plain.getbuffer() as view:
            buf.write(member.compress(view))
        buf.write(member.flush())

    info = {"software": f"archiver/{__version__}", "format": f"WARC File Format {WARC_VERSION}",
            "conformsTo": WARC_SPEC}
    if capture_id:
        info["capture-id"] = capture_id
    warcinfo = writer.create_warcinfo_record(f"{capture_id or 'capture'}.warc.gz", info)
    write(warcinfo)
    info_id = warcinfo.rec_headers.get_header("WARC-Record-ID")
    when = _warc_date(created_at or datetime.now(UTC))
    for res in resources:
        write(writer.create_warc_record(
            resource_uri(res.key), "resource", payload=io.BytesIO(res.data), warc_content_type=res.content_type,
            warc_headers_dict={"WARC-Date": when, "WARC-Warcinfo-ID": info_id}),
            compressed=bool(_COMPRESSED_TYPE.match(res.content_type or "")))
    for ex in exchanges:
        base = {"WARC-Date": _warc_date(ex.started_at), "WARC-Warcinfo-ID": info_id}
        if ex.resolved_ip:
            base["WARC-IP-Address"] = str(ex.resolved_ip)
        req_id, resp_id = writer._make_warc_id(), writer._make_warc_id()
        target, host = _request_target(ex.url)
        version = _protocol(ex.http_version)
        req_headers = [("Host", host)] + [(k, v) for k, v in (ex.request_headers or {}).items()
                                          if k.lower() != "host"]
        write(writer.create_warc_record(
            ex.url, "request", payload=io.BytesIO(b""),
            http_headers=StatusAndHeaders(f"{ex.method} {target} {version}", req_headers, is_http_request=True),
            warc_headers_dict={**base, "WARC-Record-ID": req_id, "WARC-Concurrent-To": resp_id}))
        answer = {**base, "WARC-Record-ID": resp_id, "WARC-Concurrent-To": req_id}
        if ex.status is None:
            meta = f"error: {ex.error or 'no response'}\nelapsed-ms: {ex.elapsed_ms}\n".encode()
            write(writer.create_warc_record(
                ex.url, "metadata", payload=io.BytesIO(meta), warc_content_type="text/plain; charset=utf-8",
                warc_headers_dict=answer))
            continue
        cut = truncation(ex)
        if cut:
            answer["WARC-Truncated"] = cut
        headers = response_headers(ex)
        coded = any(k.lower() == "content-encoding" and v.strip().lower() not in ("", "identity")
                    for k, v in headers)
        write(writer.create_warc_record(
            ex.url, "response", payload=io.BytesIO(ex.wire),
            http_headers=StatusAndHeaders(_status_line(ex), headers, protocol=version),
            warc_headers_dict=answer),
            compressed=coded or bool(_COMPRESSED_TYPE.match(_header(headers, "content-type") or "")))
    return buf.getvalue()


# --- reading ------------------------------------------------------------------------------------
class WarcReadError(ValueError):
    """A WARC (or a record of it) that cannot be read; str() says why in one line."""


@dataclass
class _Budget:
    left: int = READ_BUDGET


def _header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    name = name.lower()
    return next((v for k, v in headers if k.lower() == name), None)


def decoded_chunks(wire: bytes, coding: str | None, limit: int = DECODED_LIMIT) -> Iterator[bytes]:
    """``wire`` decoded as ``coding`` (a Content-Encoding value) says, in pieces of at most 1 MiB, with
    the decoders the fetcher uses (``fetch.content_decoder``: gzip, deflate, br/zstd when available,
    a list of them); ``wire`` itself when the coding is absent or one the fetcher keeps as received.
    WarcReadError when it does not decode or decodes to more than ``limit`` bytes; every decoder call
    is bounded, so a decompression bomb costs at most ``limit`` bytes of work and 1 MiB of memory."""

    try:
        decoder = content_decoder(coding)
    except Exception as exc:
        raise WarcReadError(f"has a Content-Encoding that does not decode ({str(exc)[:100]})") from None
    if decoder is None:
        yield wire
        return
    step = 1024 * 1024
    total = 0

    def bounded(piece: bytes) -> bytes:
        nonlocal total
        total += len(piece)
        if total > limit:
            raise WarcReadError(f"decodes to more than {limit} bytes")
        return piece

    try:
        view = memoryview(wire)
        for i in range(0, len(wire) + 1, _CHUNK):
            data = bytes(view[i:i + _CHUNK])
            while True:
                piece = decoder.decompress(data, max_length=min(step, limit - total + 1))
                data = b""
                if piece:
                    yield bounded(piece)
                if not piece or not decoder.has_unconsumed_tail:
                    break
        tail = decoder.flush()
        if tail:
            yield bounded(tail[:limit - total + 1])
    except WarcReadError:
        raise
    except Exception as exc:  # zlib.error, DecodeError, brotli's and zstd's errors
        raise WarcReadError(f"does not decode as its Content-Encoding {str(coding)[:40]!r} says "
                            f"({type(exc).__name__})") from None


def decode_payload(wire: bytes, coding: str | None, limit: int = DECODED_LIMIT) -> bytes:
    """``decoded_chunks`` joined: the whole decoded payload (at most ``limit`` bytes, else WarcReadError)."""
    return b"".join(decoded_chunks(wire, coding, limit))


@dataclass
class WarcRecord:
    """One record as read: type, target URI, date, IP, HTTP status and headers, the payload as stored
    (``wire``) and decoded: its SHA-256 and size (None when it does not decode: ``error`` says why)
    and the bytes themselves (``payload``) when they are at most the reader's ``keep`` bytes; whether
    it says it was truncated (WARC-Truncated), whether its digests hold (None: not checked, or none)."""

    type: str
    uri: str | None
    date: str | None
    ip: str | None
    status: int | None
    http_headers: list[tuple[str, str]]
    wire: bytes
    payload: bytes | None
    payload_sha256: str | None = None
    payload_size: int | None = None
    content_type: str | None = None
    truncated: str | None = None
    digests_ok: bool | None = None
    digest_problems: list[str] = field(default_factory=list)
    error: str | None = None
    warc_version: str | None = None


def iter_warc(data: bytes, *, check_digests: bool = True, keep: int = DECODED_LIMIT,
              budget: _Budget | None = None) -> Iterator[WarcRecord]:
    """Every record of a WARC (1.0 or 1.1, gzipped per record or not) with its digests checked when
    ``check_digests``; a response's payload decoded (``decoded_chunks``: its Content-Encoding undone;
    a payload still chunked, as other tools write, de-chunked by warcio first), hashed as it is
    decoded and kept when at most ``keep`` bytes. The decoding of coded payloads shares ``budget``
    (READ_BUDGET decoded bytes per WARC by default); past it a payload is not decoded (its ``error``
    says so). WarcReadError when the file holds no WARC record, holds another format's, or breaks off
    inside a record."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.bufferedreaders import ChunkedDataReader

    budget = budget or _Budget()
    seen = 0
    try:
        for rec in ArchiveIterator(io.BytesIO(data), check_digests=check_digests):
            if rec.format != "warc":
                raise WarcReadError(f"is not a WARC (a record of format {str(rec.format)[:20]!r})")
            http = rec.http_headers
            headers = list(http.headers) if http is not None else []
            raw = rec.raw_stream.read()
            block = len(raw) + ((getattr(http, "total_len", 0) or 0) if http is not None else 0)
            if isinstance(rec.length, int) and block < rec.length:
                raise WarcReadError(f"breaks off inside record {seen + 1} ({block} of its {rec.length} bytes)")
            seen += 1
            status = None
            if rec.rec_type in ("response", "revisit") and http is not None:
                try:
                    status = int(http.get_statuscode())
                except (TypeError, ValueError):
                    status = None
            checker = rec.digest_checker
            out = WarcRecord(type=str(rec.rec_type), uri=rec.rec_headers.get_header("WARC-Target-URI"),
                             date=rec.rec_headers.get_header("WARC-Date"),
                             ip=rec.rec_headers.get_header("WARC-IP-Address"), status=status,
                             http_headers=headers, wire=raw, payload=raw if len(raw) <= keep else None,
                             payload_sha256=hashlib.sha256(raw).hexdigest(), payload_size=len(raw),
                             content_type=_header(headers, "content-type") or rec.rec_headers.get_header(
                                 "Content-Type"),
                             truncated=rec.rec_headers.get_header("WARC-Truncated"),
                             digests_ok=checker.passed if checker is not None else None,
                             digest_problems=list(checker.problems) if checker is not None else [],
                             warc_version=rec.rec_headers.protocol)
            if http is not None and rec.rec_type in ("response", "revisit"):
                _decode_record(out, headers, keep, budget, ChunkedDataReader)
            yield out
        if not seen:
            raise WarcReadError("holds no records")
    except WarcReadError:
        raise
    except Exception as exc:  # ArchiveLoadFailed, a broken gzip member, a malformed header block
        raise WarcReadError(f"is not a readable WARC ({type(exc).__name__}: "
                            f"{' '.join(str(exc).split())[:120]})") from None


def _decode_record(out: WarcRecord, headers: list[tuple[str, str]], keep: int, budget: _Budget,
                   dechunker: Any) -> None:
    """Fill ``out``'s decoded payload fields from its stored payload (``iter_warc``)."""
    coding = _header(headers, "content-encoding")
    chunked = (_header(headers, "transfer-encoding") or "").strip().lower() == "chunked"
    if not chunked and coding is None:
        return  # stored as it decodes: the fields already hold it
    digest = hashlib.sha256()
    kept: list[bytes] | None = []
    size = 0
    try:
        body = out.wire
        if chunked:  # never longer than the stored bytes
            reader, parts = dechunker(io.BytesIO(out.wire)), []
            while piece := reader.read(_CHUNK):
                parts.append(piece)
            body = b"".join(parts)
        for piece in decoded_chunks(body, coding, min(DECODED_LIMIT, max(0, budget.left))):
            size += len(piece)
            digest.update(piece)
            if kept is not None and size <= keep:
                kept.append(piece)
            else:
                kept = None
    except WarcReadError as exc:
        out.payload, out.payload_sha256, out.payload_size, out.error = None, None, None, str(exc)
        budget.left -= size
        return
    except Exception as exc:  # warcio's de-chunking of a broken chunked payload
        out.payload, out.payload_sha256, out.payload_size = None, None, None
        out.error = f"does not de-chunk ({type(exc).__name__})"
        return
    if coding is not None:
        budget.left -= size
    out.payload = b"".join(kept) if kept is not None else None
    out.payload_sha256, out.payload_size = digest.hexdigest(), size


def read_warc(data: bytes) -> list[dict[str, Any]]:
    """The records of a WARC written by ``build_warc`` (WARC 1.1, or 1.0 by earlier versions): type,
    target URI, date, IP, HTTP status and headers, ``payload`` (decoded: what the capture parsed; the
    stored bytes when they do not decode), ``wire`` (as stored), ``truncated``, ``warc_version``.
    WarcReadError when it cannot be read. For re-deriving a capture and for tests."""
    return [{"type": r.type, "uri": r.uri, "date": r.date, "ip": r.ip, "status": r.status,
             "http_headers": r.http_headers, "payload": r.payload if r.payload is not None else r.wire,
             "wire": r.wire, "truncated": r.truncated, "warc_version": r.warc_version}
            for r in iter_warc(data, check_digests=False)]


# --- re-deriving a capture -------------------------------------------------------------------------
def _json_object(rec: WarcRecord) -> dict[str, Any] | None:
    if rec.payload is None or len(rec.payload) > JSON_LIMIT or rec.payload.lstrip()[:1] != b"{":
        return None
    try:
        body = foreign_json.loads(rec.payload)   # as the capture read it (a lone surrogate is U+FFFD)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _asked_url(uri: str | None) -> str | None:
    """The ``url`` query parameter of an oEmbed request URI."""
    try:
        query = dict(parse_qsl(urlsplit(uri or "").query, keep_blank_values=True))
    except ValueError:
        return None
    asked = query.get("url")
    return asked if isinstance(asked, str) and asked else None


def _oembed_reader(provider: str | None) -> Any:
    """The ``PlatformSpec`` of an oEmbed provider named ``provider`` (its text and handle readers), or None."""
    if not provider:
        return None
    try:
        inner = get_provider(provider)
    except ValueError:
        return None
    inner = getattr(inner, "inner", inner)  # a share-link wrapper
    return inner.spec if isinstance(inner, OEmbedProvider) else None


def _nonempty(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


class _Posts:
    """What the answers say about each post: texts and authors by source."""

    def __init__(self) -> None:
        self.posts: dict[str, dict[str, list[dict[str, str]]]] = {}

    def _post(self, key: str) -> dict[str, list[dict[str, str]]]:
        return self.posts.setdefault(key, {"texts": [], "names": [], "handles": []})

    def add(self, key: str, source: str, uri: str | None, *, text: str | None = None, name: str | None = None,
            handle: str | None = None) -> None:
        if key not in self.posts and len(self.posts) >= MAX_POSTS:
            return
        post = self._post(key)
        for kind, value in (("texts", text), ("names", name), ("handles", handle)):
            if isinstance(value, str) and value.strip():
                entry = {"source": source, "value": value, "uri": uri or ""}
                if len(post[kind]) < MAX_SAID and entry not in post[kind]:
                    post[kind].append(entry)


def _read_twitter_answer(posts: _Posts, body: dict[str, Any], uri: str | None) -> str | None:
    """A syndication answer (``twitter.states.read_answer``): the post's texts ("syndication", and
    "note_tweet" when it carries the note), author name and handle, and the copies of its quoted
    ("quoting_post") and replied-to ("replying_post") posts, read as the Twitter capture reads them.
    Returns the answer's kind ("tweet", "tombstone", ...)."""
    answer = read_answer(body)

    def tweet(tw: dict[str, Any], source: str) -> None:
        post_id = tw.get("id_str")
        if not isinstance(post_id, str) or not post_id:
            return
        user = tw.get("user") if isinstance(tw.get("user"), dict) else {}
        text = expand_text(tw)[0]
        # a screen_name the capture would not take as a handle (``twitter.capture._handle``: not 1-15 of
        # [A-Za-z0-9_]) is no handle the answer gives: the capture took oEmbed's or the markup's instead
        screen_name = str_or_none(user.get("screen_name"))
        posts.add(post_id, source, uri, text=text[:MAX_TEXT_CHARS] if text else None,
                  name=str_or_none(user.get("name")),
                  handle=screen_name if screen_name and HANDLE.fullmatch(screen_name) else None)
        note = note_text(tw)
        if note:
            posts.add(post_id, "note_tweet", uri, text=note[:MAX_TEXT_CHARS])

    if answer.kind == "tweet" and answer.tweet is not None:
        tweet(answer.tweet, "syndication")
        for key, source in (("quoted_tweet", "quoting_post"), ("parent", "replying_post")):
            inner = read_answer(answer.tweet.get(key))
            if inner.kind == "tweet" and inner.tweet is not None:
                tweet(inner.tweet, source)
    return answer.kind


def _read_oembed(posts: _Posts, body: dict[str, Any], uri: str | None, provider: str | None) -> str | None:
    """An oEmbed answer: for a Twitter status (the asked ``url``, else the answer's ``url``), filed
    under the post id and read as ``twitter.api.fetch_oembed`` reads it; for any other post, filed
    under ``url:<asked URL>`` and read by ``provider``'s PlatformSpec (the title as text otherwise).
    Returns the key it was filed under."""
    asked = _asked_url(uri)
    found = parse_status_url(asked or "") or (parse_status_url(body["url"]) if isinstance(body.get("url"), str)
                                              else None)
    if found is not None:
        m = re.search(r"(?:twitter|x)\.com/([A-Za-z0-9_]{1,15})/?$", str(body.get("author_url") or ""))
        name = body.get("author_name") if isinstance(body.get("author_name"), str) else None
        posts.add(found[1], "oembed", uri, text=_oembed_text(str(body.get("html") or "")) or None, name=name,
                  handle=m.group(1) if m else None)
        return found[1]
    if not asked:
        return None
    spec = _oembed_reader(provider)
    text = spec.text(body) if spec is not None else _nonempty(body.get("title"))
    handle = spec.handle(body) if spec is not None else None
    posts.add(f"url:{asked}", "oembed", uri, text=text, name=_nonempty(body.get("author_name")), handle=handle)
    return f"url:{asked}"


def derive_from_warc(warc: bytes, provider: str | None = None) -> dict[str, Any]:
    """What a capture's WARC says on its own, read the way the capture read the answers.

    Returns a dict:
    - ``warc_version`` ("1.1"; "1.0" for earlier archivers' files), ``software`` and ``capture_id``
      (from the warcinfo record; None when absent);
    - ``responses``: per response record, in order: ``uri``, ``status``, ``sha256`` (of the payload
      decoded, as the capture hashed it; None when it does not decode), ``wire_sha256`` (as stored),
      ``bytes`` (decoded), ``content_type``, ``truncated``;
    - ``resources``: per resource record: ``uri``, ``content_type``, ``sha256``;
    - ``posts``: by post id (Twitter) or ``url:<post URL>`` (other oEmbed providers), each with
      ``texts``, ``names`` and ``handles``: lists of {source, value, uri}. Sources: "syndication"
      and "note_tweet" (the post's own syndication answer), "quoting_post" / "replying_post" (its
      copy in the answer of a post quoting or replying to it), "oembed". Only 2xx answers count.
      Twitter answers are known by their shape (syndication: ``twitter.states.read_answer``; oEmbed:
      a JSON object with ``html`` or ``type``+``version`` about a status URL); another platform's
      oEmbed answer is read by ``provider``'s PlatformSpec when given (its title otherwise). A
      capture made from the publisher's markup alone has no answers: nothing to derive.
    - ``answers``: per response (or metadata record: no response came) to a platform request, in
      order, at most MAX_ANSWERS: ``source`` ("syndication", "oembed"), ``post`` (the id, or
      ``url:<post URL>``, it asked about: ``_asked_about``), ``uri``, ``status`` (None: no response),
      ``date``, ``truncated``, ``json`` (a whole 2xx JSON object), ``answer`` (a syndication answer's
      ``states.Answer``; the first MAX_BODIES keep their post object), ``text`` (an oEmbed answer's);
    - ``first_exchange``: the earliest WARC-Date of a request, response or metadata record, and
      ``written``: the warcinfo's (when the file was written); aware datetimes or None;
    - ``problems``: one line each: a record whose digests fail, a payload that does not decode.

    WarcReadError when the file cannot be read at all. Bounded: decoded payloads as
    ``DECODED_LIMIT``/``READ_BUDGET`` say, JSON parsed up to ``JSON_LIMIT`` bytes."""
    out: dict[str, Any] = {"warc_version": None, "software": None, "capture_id": None, "responses": [],
                           "resources": [], "posts": {}, "answers": [], "first_exchange": None, "written": None,
                           "problems": []}
    posts = _Posts()
    problems: list[str] = out["problems"]
    for rec in iter_warc(warc, keep=JSON_LIMIT):
        if out["warc_version"] is None and rec.warc_version:
            out["warc_version"] = rec.warc_version.removeprefix("WARC/")
        where = f"{rec.type} record {_shown(rec.uri, 160)}"
        if rec.digests_ok is False:
            problems.append(f"{where}: {'; '.join(rec.digest_problems)[:160] or 'digest does not match'}")
        when = _parse_date(rec.date)
        first = out["first_exchange"]
        if rec.type in ("request", "response", "metadata") and when is not None and (first is None or when < first):
            out["first_exchange"] = when
        if rec.type == "warcinfo" and out["written"] is None:
            out["written"] = when
        if rec.type in ("response", "metadata"):
            _note_answer(out["answers"], rec)
        if rec.type == "warcinfo":
            for line in rec.wire[:1 << 16].decode("utf-8", "replace").splitlines():
                name, _, value = line.partition(":")
                key = {"software": "software", "capture-id": "capture_id"}.get(name.strip().lower())
                if key and out[key] is None:
                    out[key] = value.strip()
            continue
        if rec.type == "resource":
            out["resources"].append({"uri": rec.uri, "content_type": rec.content_type,
                                     "sha256": hashlib.sha256(rec.wire).hexdigest()})
            continue
        if rec.type != "response":
            continue
        if rec.error and not rec.truncated:
            problems.append(f"{where}: the payload {rec.error}")
        out["responses"].append({
            "uri": rec.uri, "status": rec.status, "sha256": rec.payload_sha256,
            "wire_sha256": hashlib.sha256(rec.wire).hexdigest(), "bytes": rec.payload_size,
            "content_type": rec.content_type, "truncated": rec.truncated})
        if rec.status is None or not 200 <= rec.status < 300 or rec.truncated:
            continue
        body = _json_object(rec)
        if body is None:
            continue
        if isinstance(body.get("html"), str) or ("type" in body and "version" in body):
            _read_oembed(posts, body, rec.uri, provider)
            _answer_body(out["answers"], rec, body, oembed=True, provider=provider)
        else:
            _read_twitter_answer(posts, body, rec.uri)
            _answer_body(out["answers"], rec, body, oembed=False, provider=provider)
    out["posts"] = posts.posts
    return out


# What derive_from_warc keeps of the platforms' answers (``answers``): at most MAX_ANSWERS entries, of
# which the first MAX_BODIES syndication answers of at most BODY_KEEP bytes keep their post object (a
# capture's own answer is a few kilobytes; what is not kept is reported, never taken as agreeing).
MAX_ANSWERS = 200
MAX_BODIES = 8
BODY_KEEP = 2 * 1024 * 1024


def _parse_date(value: str | None) -> datetime | None:
    """A WARC-Date (W3C date, UTC, any precision) as an aware datetime; None when it is not one."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _asked_about(uri: str | None) -> tuple[str, str] | None:
    """(source, post key) a platform request URI asks about: ("syndication", id) for a syndication
    request (a ``tweet-result`` path, or ``id`` with ``token``, the id all digits); ("oembed", id) for an
    oEmbed request whose ``url`` is a Twitter status URL, ("oembed", "url:<url>") for another post URL."""
    try:
        parts = urlsplit(uri or "")
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
    except ValueError:
        return None
    post_id = query.get("id")
    if isinstance(post_id, str) and post_id.isascii() and post_id.isdigit() and (
            parts.path.endswith("/tweet-result") or "token" in query):
        return "syndication", post_id
    asked = query.get("url")
    if isinstance(asked, str) and asked:
        found = parse_status_url(asked)
        return ("oembed", found[1]) if found is not None else ("oembed", f"url:{asked}")
    return None


def _note_answer(answers: list[dict[str, Any]], rec: WarcRecord) -> None:
    """A response (or a metadata record: no response came) to a platform request, in ``answers``:
    source, post, uri, HTTP status (None: no response), date, truncated; ``answer``/``text`` filled
    by ``_answer_body`` when it is a whole 2xx JSON answer."""
    asked = _asked_about(rec.uri)
    if asked is None or len(answers) >= MAX_ANSWERS:
        return
    answers.append({"source": asked[0], "post": asked[1], "uri": rec.uri, "date": rec.date,
                    "status": rec.status if rec.type == "response" else None, "truncated": rec.truncated,
                    "json": False, "answer": None, "text": None, "lang": None})


def _answer_body(answers: list[dict[str, Any]], rec: WarcRecord, body: dict[str, Any], *, oembed: bool,
                 provider: str | None) -> None:
    """Fill the last ``answers`` entry (``rec``'s) from its parsed JSON ``body``: an oEmbed answer's
    text (read as the capture reads it: Twitter's blockquote, else ``provider``'s PlatformSpec, else
    the title), a syndication answer's ``Answer`` (``states.read_answer``)."""
    if not answers or answers[-1]["uri"] != rec.uri:
        return
    entry = answers[-1]
    entry["json"] = True
    if entry["source"] == "oembed" and oembed:
        fragment = str(body.get("html") or "")
        entry["text"] = _oembed_text(fragment) or None
        if not entry["post"].startswith("url:"):
            return
        spec = _oembed_reader(provider)
        entry["text"] = spec.text(body) if spec is not None else _nonempty(body.get("title"))
    elif entry["source"] == "syndication" and not oembed:
        answer = read_answer(body)
        kept = sum(1 for a in answers if isinstance(a.get("answer"), Answer) and a["answer"].tweet is not None)
        if answer.tweet is not None and (kept >= MAX_BODIES or len(rec.payload or b"") > BODY_KEEP):
            answer = Answer(answer.kind, answer.typename, None, answer.interstitial)
        entry["answer"] = answer


# --- checking a manifest against its WARC ------------------------------------------------------------
_INVISIBLE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _shown(value: Any, limit: int = 80) -> str:
    """``value`` quoted for a one-line report: JSON string syntax, cut at ``limit`` characters, control
    and format characters (bidi overrides among them) escaped."""
    if value is None:
        return "none"
    text = str(value)
    cut = text[:limit] + ("…" if len(text) > limit else "")
    quoted = json.dumps(cut, ensure_ascii=False)
    return "".join(f"\\u{ord(c):04x}" if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c
                   for c in _INVISIBLE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", quoted))


def _said(entries: Sequence[Mapping[str, str]]) -> str:
    return ", ".join(f"{_shown(e['value'], 60)} ({e['source']})" for e in entries[:4])


def _sha(value: Any) -> str | None:
    return value if isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value) else None


def check_manifest_against_warc(manifest: dict[str, Any], warc: bytes) -> list[str]:
    """Problems, one line each, with ``manifest`` (a stored manifest's parsed JSON) as its capture's
    WARC shows it; [] when everything below is re-derived from the WARC's records
    (``derive_from_warc``):

    - the WARC's records hold their digests and their payloads decode;
    - every source the manifest says was answered (``http_status`` and ``response_sha256``) has a
      whole response record at its ``final_url`` whose decoded payload has that SHA-256;
    - text: each text in ``texts`` from a platform answer is what that answer says (by source
      name: syndication, note_tweet, quoting_post, replying_post, oembed), every text the answers
      give for the post is listed there, and ``text`` is the text of its ``text_source``; a version
      2 manifest without ``texts`` takes its text from an answer whenever the WARC's answers give
      one. A text from the publisher's markup is not in the WARC (markup-only captures have no WARC
      at all): the article it came from holds it, so it is not checked here beyond that;
    - author: ``author.name`` and ``author.handle`` are among the names and handles the answers give
      for the post, when they give any;
    - media: every archived medium (``media``, the link card's image) has a whole 2xx response at its
      ``final_url`` whose decoded payload has its ``sha256``; each poster and the avatar has some 2xx
      response with its SHA-256;
    - sources, both ways (``_check_sources``): an entry with an ``http_status`` has a response at its
      ``final_url`` with that status and its ``response_sha256``; one without has no response there;
      every response that is not a redirect is some entry's;
    - captured_at (``_check_time``): not before the first exchange by more than CLOCK_SLACK_S, not
      after it by more than CAPTURE_SPAN_S, not after the WARC was written;
    - status (``_check_answers``): Twitter's is what ``twitter.states.decide`` makes of the re-read
      syndication and oEmbed answers and of a copy in a quoting or replying post's answer ("partial"
      standing for "archived"); another oEmbed provider's what ``OEmbedProvider._decide`` makes of its
      oEmbed answer (404 deleted, 401/403 protected, 2xx with a text archived);
    - Twitter, from the post's answer: ``created_at``, ``created_at_snowflake`` and
      ``created_at_consistent`` by the capture's own rule (``post_times``), ``author.id``,
      ``lang``, the quoted and parent post ids (``twitter.api.related_id``/``quoted_link``), and in a
      version 2 manifest ``metrics`` counts and ``entities``; every medium the answer lists
      (``twitter.media.plan_media``) is in ``media`` or ``missing``, one not archived is in ``missing``
      and has no whole 2xx image/video answer in the WARC, an "archived" capture lacks nothing, and an
      avatar answered with a whole 2xx image has its SHA-256.

    A field absent from ``manifest`` is not compared (the schema, which the caller validates, requires
    the ones a capture always writes).

    The post is found by ``post_id`` (Twitter) and by ``url`` (another oEmbed provider). The
    warcinfo's capture-id is the caller's to compare (``archiver.compliance.evidence`` does). Never
    raises: an unreadable WARC is one problem. At most MAX_PROBLEMS lines, then a count."""
    if not isinstance(manifest, dict):
        return ["the manifest is not a JSON object"]
    provider = manifest.get("provider") if isinstance(manifest.get("provider"), str) else None
    try:
        derived = derive_from_warc(warc, provider)
    except WarcReadError as exc:
        return [f"the WARC {exc}"]
    except Exception as exc:  # hostile input must end in a line, never a traceback
        return [f"the WARC could not be read ({type(exc).__name__}: {' '.join(str(exc).split())[:120]})"]
    try:
        problems = list(derived["problems"]) + _check(manifest, derived)
    except Exception as exc:  # a manifest of an unexpected shape: said, never raised
        problems = [f"the manifest could not be checked against its WARC ({type(exc).__name__}: "
                    f"{' '.join(str(exc).split())[:120]})"]
    if len(problems) > MAX_PROBLEMS:
        problems = [*problems[:MAX_PROBLEMS], f"and {len(problems) - MAX_PROBLEMS} more problems"]
    return problems


def _is_in(value: Any, values: set[str]) -> bool:
    """``value`` is one of ``values`` (a value of another type, from a hostile manifest, is not)."""
    return isinstance(value, str) and value in values


def _check(manifest: dict[str, Any], derived: dict[str, Any]) -> list[str]:
    """``check_manifest_against_warc``'s checks of ``manifest`` against what ``derive_from_warc`` said."""
    problems: list[str] = []
    at: dict[Any, list[dict[str, Any]]] = {}  # responses by URI
    for r in derived["responses"]:
        at.setdefault(r["uri"], []).append(r)
    whole_2xx = {(r["uri"], r["sha256"]) for r in derived["responses"] if not r["truncated"] and r["sha256"]
                 and isinstance(r["status"], int) and 200 <= r["status"] < 300}
    ok_shas = {sha for _, sha in whole_2xx}
    problems += _check_sources(manifest, at)

    post: dict[str, list[dict[str, str]]] = {"texts": [], "names": [], "handles": []}
    for key in (str(manifest.get("post_id") or ""), f"url:{manifest.get('url')}"):
        for kind, entries in derived["posts"].get(key, {}).items():
            post[kind] += [e for e in entries if e not in post[kind]]
    problems += _check_texts(manifest, post["texts"])
    author = manifest.get("author") if isinstance(manifest.get("author"), dict) else {}
    for field_, kind, what in (("name", "names", "author name"), ("handle", "handles", "author handle")):
        said = post[kind]
        if said and not _is_in(author.get(field_), {e["value"] for e in said}):
            problems.append(f"{what} {_shown(author.get(field_))} is not what the WARC's answers say: {_said(said)}")
    problems += _check_media(manifest, whole_2xx, ok_shas)
    problems += _check_answers(manifest, derived)
    return problems


def _check_sources(manifest: dict[str, Any], at: Mapping[Any, list[dict[str, Any]]]) -> list[str]:
    """Each source entry against the WARC's responses (``at``: by URI), both ways: an entry that says
    it was answered (``http_status``) has a response at its ``final_url`` with that status and, when
    it names one, its ``response_sha256`` (a body cut short is hashed as far as it came); an entry
    that says no answer came has none there (unless another entry names that answer); and every
    response in the WARC that is not a redirect is some entry's answer."""
    problems: list[str] = []
    listed = manifest.get("sources")
    sources = [s for s in listed if isinstance(s, dict)] if isinstance(listed, list) else []
    answered = {s["final_url"] for s in sources
                if s.get("http_status") is not None and isinstance(s.get("final_url"), str)}
    named = {s[k] for s in sources for k in ("final_url", "request_url") if isinstance(s.get(k), str)}
    for i, src in enumerate(sources):
        url, status, sha = src.get("final_url"), src.get("http_status"), src.get("response_sha256")
        where = f"source {_shown(src.get('name'), 40)} (sources[{i}])"
        found = at.get(url, []) if isinstance(url, str) else []
        if status is None:  # no answer came (the publisher's markup is hashed but not an HTTP answer)
            if found and url not in answered:
                problems.append(f"{where} says no answer came, but the WARC holds a response at {_shown(url, 120)} "
                                f"(HTTP {found[-1]['status']})")
            continue
        same = [r for r in found if r["status"] == status]
        if not same:
            problems.append(f"{where}: no response in the WARC at {_shown(url, 120)} has its HTTP status "
                            f"{_shown(status, 10)}")
        elif _sha(sha) and not any(r["sha256"] == sha or r["truncated"] for r in same):
            problems.append(f"{where}: no response in the WARC at {_shown(url, 120)} has its SHA-256 {sha[:16]}…")
        elif not _sha(sha) and any(r["sha256"] for r in same):
            problems.append(f"{where}: names no SHA-256 for the response the WARC holds at {_shown(url, 120)}")
    for uri, found in at.items():
        if uri not in named and any(not (isinstance(r["status"], int) and 300 <= r["status"] < 400) for r in found):
            problems.append(f"the WARC's response at {_shown(uri, 120)} (HTTP {found[-1]['status']}) is in no "
                            "source entry")
    return problems


def _check_texts(manifest: dict[str, Any], said: list[dict[str, str]]) -> list[str]:
    problems: list[str] = []
    by_source: dict[str, set[str]] = {}
    for e in said:
        by_source.setdefault(e["source"], set()).add(e["value"])
    texts = manifest.get("texts")
    listed = [t for t in texts if isinstance(t, dict)] if isinstance(texts, list) else None
    source = manifest.get("text_source")
    text = manifest.get("text")
    if listed is not None:
        for t in listed:
            name = t.get("source")
            if name == MARKUP_SOURCE or not isinstance(name, str):
                continue
            if name not in by_source:
                problems.append(f"texts: the {_shown(name, 40)} text {_shown(t.get('text'))} is not in any answer "
                                "the WARC holds")
            elif not _is_in(t.get("text"), by_source[name]):
                problems.append(f"texts: the {_shown(name, 40)} text {_shown(t.get('text'))} is not what the WARC's "
                                f"answer says: {_said([e for e in said if e['source'] == name])}")
        names = {t["source"] for t in listed if isinstance(t.get("source"), str)}
        for name in by_source:
            if name not in names:
                problems.append(f"texts: the WARC's {_shown(name, 40)} answer gives the text "
                                f"{_said([e for e in said if e['source'] == name])[:200]}, which the manifest "
                                "does not list")
        chosen = next((t for t in listed if t.get("source") == source), None)
        if source is not None and chosen is not None and chosen.get("text") != text:
            problems.append(f"text {_shown(text)} is not its source {_shown(source, 40)}'s text "
                            f"{_shown(chosen.get('text'))}")
    if isinstance(source, str) and source != MARKUP_SOURCE and source in by_source:
        if not _is_in(text, by_source[source]):
            problems.append(f"text {_shown(text)} is not what the WARC's {_shown(source, 40)} answer says: "
                            f"{_said([e for e in said if e['source'] == source])}")
    elif isinstance(source, str) and source != MARKUP_SOURCE:
        problems.append(f"text: its source {_shown(source, 40)} is not an answer the WARC holds for the post")
    elif listed is None and said and manifest.get("schema") == SCHEMA_V2:
        # A version 2 capture lists every source's text when it keeps several (Twitter), and otherwise
        # takes the answer's text whenever there is one (the oEmbed providers): the markup's text (or
        # none) with an answer's text in the WARC and no list of texts is not what the capture wrote.
        problems.append(f"text {_shown(text)} is said to come from {_shown(source, 40)}, but the WARC's answers "
                        f"give the post's text: {_said(said)}")
    return problems


def _check_media(manifest: dict[str, Any], whole_2xx: set[tuple[Any, str]], ok_shas: set[str]) -> list[str]:
    problems: list[str] = []
    listed = manifest.get("media")
    media = [m for m in listed if isinstance(m, dict)] if isinstance(listed, list) else []
    card = manifest.get("card")
    if isinstance(card, dict) and isinstance(card.get("image"), dict):
        media.append({**card["image"], "type": "link card image"})
    for m in media:
        kind = _shown(m.get("type"), 30).strip('"')
        sha = _sha(m.get("sha256"))
        if m.get("status") == "archived" or sha:
            url = m.get("final_url") or m.get("original_url")
            if sha is None:
                problems.append(f"{kind} {_shown(url, 120)}: archived without a SHA-256")
            elif not isinstance(url, str) or (url, sha) not in whole_2xx:
                problems.append(f"{kind} {sha[:16]}…: no whole 2xx response in the WARC at {_shown(url, 120)} "
                                "has this SHA-256")
        poster = _sha(m.get("poster_sha256"))
        if poster and poster not in ok_shas:
            problems.append(f"{kind} poster {poster[:16]}…: no 2xx response in the WARC has this SHA-256")
    author = manifest.get("author") if isinstance(manifest.get("author"), dict) else {}
    avatar = _sha(author.get("avatar_sha256"))
    if avatar and avatar not in ok_shas:
        problems.append(f"avatar {avatar[:16]}…: no 2xx response in the WARC has this SHA-256")
    return problems



# --- what the answers decide: status, media, dates, related posts, counts ------------------------------
# captured_at is read when the post's first answers are in (after its oEmbed and syndication requests,
# and for a related post after its quoting post's): it may not be before the WARC's first exchange by
# more than CLOCK_SLACK, nor after it by more than CAPTURE_SPAN (shortlinks, oEmbed and syndication of
# the post and of a quoting post, each within the fetcher's deadline, with room to spare), nor after
# the WARC was written (its warcinfo's WARC-Date) by more than CLOCK_SLACK.
CLOCK_SLACK_S = 2.0
CAPTURE_SPAN_S = 600.0
_RELATIONS = RELATED  # the capture's own table of quoted and parent posts (one table, not a copy)


def _outcome(entry: dict[str, Any] | None) -> str:
    """What a source's answer was, as ``providers.sources.get`` and the fetchers classify it."""
    if entry is None or entry["status"] is None:
        return "network"
    status = entry["status"]
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return "server_error"
    if status == 404:
        return "not_found"
    if status in (401, 403):
        return "forbidden"
    if status >= 400:
        return "error"
    if not entry["json"] or entry["truncated"]:
        return "bad_response"
    if entry["source"] == "oembed":
        return "ok" if entry["text"] else "bad_response"
    kind = entry["answer"].kind if isinstance(entry["answer"], Answer) else "other"
    return "ok" if kind == "tweet" else kind if kind in ("empty", "tombstone", "unavailable") else "bad_response"


def _last(answers: Sequence[dict[str, Any]], source: str, post: str) -> dict[str, Any] | None:
    found = [a for a in answers if a["source"] == source and a["post"] == post]
    return found[-1] if found else None


def _fits(stated: Any, decided: str) -> bool:
    """A stored status agrees with the one the answers decide: the same, or "partial" for "archived"
    (a capture that lacks parts the answers show)."""
    return stated == decided or (decided == "archived" and stated == "partial")


def _embedded_copy(answers: Sequence[dict[str, Any]], post_id: str) -> tuple[Answer, str] | None:
    """The copy of post ``post_id`` in another post's syndication answer (its quoted post or the post
    it replies to), as the capture of a related post reads it, and the source's name."""

    for a in answers:
        answer = a["answer"]
        if a["source"] != "syndication" or a["post"] == post_id or not isinstance(answer, Answer) \
                or answer.tweet is None:
            continue
        tweet = answer.tweet
        for relation, obj_key, id_key, name in _RELATIONS:
            rid = related_id(tweet, obj_key, id_key)
            if rid is None and relation == "quoted":
                linked = quoted_link(tweet, a["post"])
                rid = linked[1] if linked is not None else None
            if rid == post_id and isinstance(tweet.get(obj_key), dict):
                return read_answer(tweet[obj_key]), name
    return None


def _check_answers(manifest: dict[str, Any], derived: dict[str, Any]) -> list[str]:
    """The manifest's status, dates, related posts, counts, author id, language and media list against
    what the WARC's answers decide (``check_manifest_against_warc``'s second half)."""
    problems = _check_time(manifest, derived)
    status = manifest.get("status")
    answers = derived["answers"]
    if status == "unresolved":
        return problems
    if manifest.get("provider") != "twitter":
        url = manifest.get("url")
        entry = _last(answers, "oembed", f"url:{url}") if isinstance(url, str) else None
        if entry is not None:

            has_text = bool(entry["text"]) or (manifest.get("text_source") == MARKUP_SOURCE
                                                and bool(manifest.get("text")))
            decided, _ = OEmbedProvider._decide(Fetched("oembed", _outcome(entry)), has_text)
            if "status" in manifest and not _fits(status, decided):
                problems.append(f"status {_shown(status, 30)} is not what the WARC's oEmbed answer (HTTP "
                                f"{entry['status']}) decides: {decided}")
        return problems
    return problems + _check_twitter(manifest, derived)


def _check_time(manifest: dict[str, Any], derived: dict[str, Any]) -> list[str]:

    first, written = derived["first_exchange"], derived["written"]
    stated = manifest.get("captured_at")
    captured = parse_time(stated) if isinstance(stated, str) and len(stated) <= 64 else None
    if first is None:
        return []
    if captured is None and "captured_at" not in manifest:
        return []
    if captured is None:
        return [f"captured_at {_shown(manifest.get('captured_at'), 40)} is not a time"]
    problems = []
    lead = (captured - first).total_seconds()
    if lead < -CLOCK_SLACK_S:
        problems.append(f"captured_at {_shown(manifest.get('captured_at'), 40)} is before the WARC's first "
                        f"exchange ({first.isoformat()}) by {-lead:.0f} s")
    elif lead > CAPTURE_SPAN_S:
        problems.append(f"captured_at {_shown(manifest.get('captured_at'), 40)} is {lead:.0f} s after the WARC's "
                        f"first exchange ({first.isoformat()}), more than a capture takes ({CAPTURE_SPAN_S:.0f} s)")
    if written is not None and (captured - written).total_seconds() > CLOCK_SLACK_S:
        problems.append(f"captured_at {_shown(manifest.get('captured_at'), 40)} is after the WARC was written "
                        f"({written.isoformat()})")
    return problems


def _twitter_times(post_id: str, tweet: dict[str, Any]) -> dict[str, Any]:
    """``created_at``, ``created_at_snowflake`` and ``created_at_consistent`` as the Twitter capture sets
    them from the post's answer (``post_times``, the one rule for both)."""
    created, snowflake, consistent = post_times(post_id, tweet)
    return {"created_at": created, "created_at_snowflake": snowflake, "created_at_consistent": consistent}


def _check_twitter(manifest: dict[str, Any], derived: dict[str, Any]) -> list[str]:

    problems: list[str] = []
    post_id = manifest.get("post_id")
    if not isinstance(post_id, str) or not post_id.isascii() or not post_id.isdigit():
        return [f"post_id {_shown(post_id, 40)} is not a Twitter post id"]
    answers = derived["answers"]
    synd_entry, oembed_entry = _last(answers, "syndication", post_id), _last(answers, "oembed", post_id)
    own = synd_entry["answer"] if synd_entry is not None and isinstance(synd_entry["answer"], Answer) else None
    copy = _embedded_copy(answers, post_id)
    tweet = (own.tweet if own is not None and own.kind == "tweet" else None) or (
        copy[0].tweet if copy is not None and copy[0].kind == "tweet" else None)
    if own is not None and own.kind == "tweet" and own.tweet is None:
        return [*problems, f"the post's syndication answer is not kept for checking (over {BODY_KEEP} bytes, or "
                           f"after {MAX_BODIES} others): its status, dates and media are not checked"]
    texts = derived["posts"].get(post_id, {}).get("texts", [])
    has_content = bool(texts) or (tweet is not None and shows_media(tweet))
    synd = Fetched("syndication", _outcome(synd_entry), data=own)
    oembed = Fetched("oembed", _outcome(oembed_entry))
    decided, _ = decide(oembed, synd, has_content, copy[0] if copy else None, copy[1] if copy else "embedded")
    status = manifest.get("status")
    if "status" in manifest and not _fits(status, decided):
        said = (f"syndication {'HTTP ' + str(synd_entry['status']) if synd_entry else 'not asked'} "
                f"({synd.outcome}), oEmbed {'HTTP ' + str(oembed_entry['status']) if oembed_entry else 'not asked'}"
                f"{', a copy in the ' + copy[1].replace('_', ' ') if copy else ''}")
        problems.append(f"status {_shown(status, 30)} is not what the WARC's answers decide: {decided} ({said})")
    user = tweet.get("user") if tweet is not None and isinstance(tweet.get("user"), dict) else {}
    # The dates, by the capture's own rule (``post_times``: one function, not a copy).
    times = _twitter_times(post_id, tweet or {})
    for name, expected in times.items():
        if name in manifest and manifest.get(name) != expected:
            problems.append(f"{name} {_shown(manifest.get(name), 40)} is not what the WARC's answer "
                            f"says: {_shown(expected, 40)}")
    author = manifest.get("author") if isinstance(manifest.get("author"), dict) else {}
    user_id = str_or_none(user.get("id_str"))
    if "id" in author and author.get("id") != user_id:
        problems.append(f"author id {_shown(author.get('id'), 40)} is not what the WARC's answer says: "
                        f"{_shown(user_id, 40)}")
    lang = str_or_none((tweet or {}).get("lang"))
    if lang is not None and "lang" in manifest and manifest.get("lang") != lang:
        problems.append(f"lang {_shown(manifest.get('lang'), 20)} is not what the WARC's answer says: {_shown(lang)}")
    for relation, obj_key, id_key, _name in _RELATIONS:
        rid = related_id(tweet, obj_key, id_key) if tweet is not None else None
        if rid is None and relation == "quoted" and tweet is not None:
            linked = quoted_link(tweet, post_id)
            rid = linked[1] if linked is not None else None
        if relation not in manifest:
            continue
        ref = manifest.get(relation)
        named = ref.get("post_id") if isinstance(ref, dict) else None if ref is None else ref
        if named != rid:
            problems.append(f"{relation} post {_shown(named, 40)} is not the one the WARC's answer names: "
                            f"{_shown(rid, 40)}")
    if tweet is not None and manifest.get("schema") != SCHEMA_V1:  # counts and entities: version 2
        counts = {k: v for k, v in (metrics_info(tweet, "") or {}).items() if k != "read_at"}
        metrics = manifest.get("metrics") if isinstance(manifest.get("metrics"), dict) else {}
        stored = {k: v for k, v in metrics.items() if k != "read_at"}
        if stored != counts:
            changed = sorted(k for k in set(stored) | set(counts) if stored.get(k) != counts.get(k))
            problems.append(f"metrics {', '.join(_shown(k, 30) for k in changed[:6])}: "
                            + "; ".join(f"{_shown(stored.get(k), 20)} where the WARC's answer says "
                                        f"{_shown(counts.get(k), 20)}" for k in changed[:3]))
        ents = entities_info(tweet)
        if manifest.get("entities") != ents:
            problems.append(f"entities {_shown(json.dumps(manifest.get('entities'))[:200], 120)} are not what the "
                            f"WARC's answer lists: {_shown(json.dumps(ents)[:200], 120)}")
        problems += _check_planned_media(manifest, tweet, derived)
    avatar_url = author.get("avatar_url")
    if isinstance(avatar_url, str) and author.get("avatar_sha256") is None and any(
            r["uri"] == avatar_url and isinstance(r["status"], int) and 200 <= r["status"] < 300
            and not r["truncated"] and r["sha256"] and str(r["content_type"] or "").lower().startswith("image/")
            for r in derived["responses"]):
        problems.append(f"avatar {_shown(avatar_url, 120)} has no SHA-256, but the WARC holds a whole 2xx image "
                        "answer for it")
    return problems


def _check_planned_media(manifest: dict[str, Any], tweet: dict[str, Any], derived: dict[str, Any]) -> list[str]:
    """Every medium the post's answer lists (``twitter.media.plan_media``) is in ``media`` or in
    ``missing``; a medium stored as not archived is in ``missing`` and has no whole 2xx image or video
    answer in the WARC; an "archived" capture lacks nothing."""

    problems: list[str] = []
    listed = manifest.get("media")
    media = [m for m in listed if isinstance(m, dict)] if isinstance(listed, list) else []
    lacking = manifest.get("missing")
    missing = [p for p in lacking if isinstance(p, dict)] if isinstance(lacking, list) else []
    refs = {p.get("ref") for p in missing if isinstance(p.get("ref"), str)}
    if manifest.get("status") == "archived" and missing:
        problems.append(f"status \"archived\" with {len(missing)} missing part(s)")
    stored_urls: set[str] = set()
    for m in media:
        stored_urls |= {m[k] for k in ("original_url", "listed_url", "final_url") if isinstance(m.get(k), str)}
    planned, unplanned = plan_media(tweet)
    for item in planned:
        urls = {item.get("url"), item.get("listed_url")} | {u for _, u in item.get("variants") or ()}
        urls.discard(None)
        if not urls & stored_urls and not urls & refs:
            problems.append(f"{_shown(item.get('type'), 20).strip(chr(34))} {_shown(item.get('url'), 120)} the "
                            "WARC's answer lists is neither in media nor in missing")
    for part in unplanned:
        if part.ref not in refs and part.ref not in stored_urls:
            problems.append(f"{_shown(part.part, 20).strip(chr(34))} {_shown(part.ref, 120)} the WARC's answer "
                            "lists (without a URL to fetch) is not in missing")
    fetched = {r["uri"] for r in derived["responses"] if isinstance(r["status"], int) and 200 <= r["status"] < 300
               and not r["truncated"] and r["sha256"]
               and str(r["content_type"] or "").lower().startswith(("image/", "video/"))}
    for m in media:
        if m.get("status") == "archived":
            continue
        url = m.get("original_url") if isinstance(m.get("original_url"), str) else None
        if url not in refs:
            problems.append(f"{_shown(m.get('type'), 20).strip(chr(34))} {_shown(url, 120)} is "
                            f"{_shown(m.get('status'), 20)} but not in missing")
        got = {m[k] for k in ("original_url", "final_url", "listed_url") if isinstance(m.get(k), str)} & fetched
        if got:
            problems.append(f"{_shown(m.get('type'), 20).strip(chr(34))} {_shown(url, 120)} is "
                            f"{_shown(m.get('status'), 20)}, but the WARC holds a whole 2xx image or video answer "
                            f"at {_shown(sorted(got)[0], 120)}")
    return problems
