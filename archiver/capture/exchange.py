"""What a fetch produces: each HTTP exchange, the response it ends in, and the error when there is none.

Kept apart from the fetcher so the address guard (guard.py), the manifest, the WARC writer and the
providers can name these records and catch FetchError without importing the fetcher itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from archiver import foreign_json

# A FetchError's kind: timeout and network are worth another try; bad_url, refused (the address
# guard), too_large, bad_response (too many redirects, invalid JSON) and malformed (a response head
# that breaks HTTP: over 100 header lines, an endless line, a status line that is not HTTP) are not.
RETRYABLE_KINDS = frozenset({"timeout", "network"})


@dataclass
class Exchange:
    """One HTTP request and its response (each redirect hop and each retry is its own).

    ``body`` is the response body decoded (any ``Content-Encoding`` the fetcher can decode, gzip and
    deflate, and br/zstd when urllib3 has them, undone): what every caller parses and hashes.
    ``wire_body`` is the same body exactly as it came off the wire, content-encoding kept (HTTP/1.1
    chunked transfer coding removed, as http.client does): what the WARC stores as the record's
    payload (WARC 1.1 §6.3.2: the payload is the entity body, content-coded but not
    transfer-coded). None when the response had no content-coding the fetcher undid: then the
    bytes on the wire are ``body`` itself (one object, not a copy); ``wire`` gives either.
    A body cut short keeps what arrived in both, and ``truncated`` says why in WARC-Truncated's words
    (WARC 1.1 §5.13): "length" (the byte cap), "time" (the deadline), "disconnect" (the connection
    broke, or the coding did not decode), "unspecified" (the body was dropped, ``drop_body``).
    ``reason`` is the status line's reason phrase as received.
    """

    method: str
    url: str
    request_headers: dict[str, str]
    status: int | None = None
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    http_version: str = "HTTP/1.1"
    resolved_ip: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    elapsed_ms: float = 0.0
    body: bytes = b""
    error: str | None = None
    wire_body: bytes | None = None
    reason: str | None = None
    truncated: str | None = None

    @property
    def sha256(self) -> str:
        """Lowercase hex SHA-256 of the (decoded) body."""
        return hashlib.sha256(self.body).hexdigest()

    def drop_body(self) -> None:
        """Keep no body (a page whose content must not be kept): both forms emptied, the exchange
        marked truncated "unspecified" so its WARC record says the payload is not the whole body."""
        self.body, self.wire_body, self.truncated = b"", None, "unspecified"

    @property
    def wire(self) -> bytes:
        """The body as received: ``wire_body``, or ``body`` when no content-coding was undone."""
        return self.body if self.wire_body is None else self.wire_body


class Headers(Mapping[str, str]):
    """A response's header fields by name, looked up case-insensitively (field names are
    case-insensitive, RFC 9110 §5.1); a field sent more than once has its last value, under the name
    as last received. Made from (name, value) pairs or a mapping. Iterating gives the names as
    received. Read-only."""

    __slots__ = ("_fields",)

    def __init__(self, fields: Iterable[tuple[str, str]] | Mapping[str, str] = ()) -> None:
        self._fields: dict[str, tuple[str, str]] = {}
        for name, value in (fields.items() if isinstance(fields, Mapping) else fields):
            self._fields[name.lower()] = (name, value)

    def __getitem__(self, name: str) -> str:
        return self._fields[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._fields

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._fields.values())

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"Headers({list(self._fields.values())!r})"


@dataclass
class Response:
    """What a GET ended in: the final hop's status, headers and decoded body, with every exchange
    on the way (`url` as asked, `final_url` after redirects)."""

    url: str
    final_url: str
    status: int
    headers: Mapping[str, str]
    body: bytes
    exchanges: list[Exchange]

    def json(self) -> Any:
        """The body parsed as JSON; FetchError('bad_response') when it is not JSON."""
        try:
            return foreign_json.loads(self.body)
        except ValueError as exc:  # UnicodeDecodeError is a ValueError
            raise FetchError("bad_response", f"{self.final_url}: invalid JSON ({exc})",
                             self.exchanges) from None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


class FetchError(Exception):
    """A fetch that produced no usable response; `kind` says why, str() says it in one line."""

    def __init__(self, kind: str, message: str, exchanges: list[Exchange] | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retryable = kind in RETRYABLE_KINDS
        self.exchanges: list[Exchange] = exchanges if exchanges is not None else []
