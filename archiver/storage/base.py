"""The ObjectStore interface every backend implements, with the key and metadata checks they share.

Object storage is the source of truth; this is one small interface over a local directory (local.py)
or S3 (s3.py).

Everything the archiver keeps (originals, manifests, article versions) goes through
``ObjectStore`` so the local runner (a directory) and the distributed mode (AWS S3, MinIO,
SeaweedFS, Ceph through boto3) behave alike. Originals are content-addressed
(``blobs/sha256/ab/<hex>``) and written with a conditional put, so two workers storing the same
bytes never clobber each other and S3 verifies the SHA-256 on arrival.

Choices worth knowing:

* Keys are ``/``-separated relative paths, partly built from third-party ids, so they are
  checked strictly (``check_key``): no absolute paths, ``.``/``..`` or empty segments,
  backslashes, NUL or other control characters.
* ``LocalStore`` keeps the content type and metadata of an object in a JSON sidecar
  ``<root>/.meta/<key>.json`` (read back by ``head``) only when the key's name and the object's
  first bytes do not already imply them (``archiver.storage.local.implied_content_type``), so most
  puts are one file write; ``.meta`` and ``.tmp`` are reserved top-level names. Writes are atomic
  (temp file, fsync, ``os.replace``); a conditional put publishes with ``os.link``, which fails if
  the name exists, so racing processes never clobber.
  A key cannot be both an object and a "directory" of other keys there (``a`` and ``a/b``):
  such a put raises ``ValueError``.
* ``LocalStore`` has no Object Lock: ``supports_object_lock()`` is False and
  ``set_legal_hold`` / ``set_retention`` return False (a sidecar flag would protect nothing).
* On an S3 bucket with Object Lock, originals are retained: a bucket's default retention rule
  applies to every new version by itself (S3 does it); where the bucket has Object Lock but no
  default rule, ``put_blob`` sends a GOVERNANCE retention of ``object_lock_retention_days`` with
  the write itself, so no original is ever stored unretained for a moment. A blob that already
  existed keeps the retention it was written with.
"""

from __future__ import annotations

import hashlib
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from archiver.errors import ArchiverError, ConfigError
from archiver.redact import redact_url
from archiver.storage.layout import blob_key


def json_bytes(obj: Any) -> bytes:
    """How archiver writes a JSON object to storage: UTF-8, sorted keys, one-space indent (stable bytes)."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")

DEFAULT_CONTENT_TYPE = "application/octet-stream"

MAX_KEY_BYTES = 1024  # the S3 limit, store prefix included

MAX_SEGMENT_BYTES = 255  # the usual file-name limit

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

_META_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")

RETENTION_MODES = ("GOVERNANCE", "COMPLIANCE")

def image_type(head: bytes) -> str | None:
    """The image type (``image/jpeg``, ``image/png``, ``image/gif`` or ``image/webp``) that `head`, an
    object's first bytes (12 or more), starts with by its magic number, else None. The one check of
    these signatures: the local store implies a content type by it and the media capture sniffs with
    it (archiver.capture.media.sniff, which knows more types)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


class ObjectNotFound(KeyError):
    """No object under that key."""

class StoreError(ArchiverError):
    """The object store could not be reached or refused an operation."""

@dataclass(frozen=True)
class ObjectInfo:
    """What ``head`` tells about a stored object."""

    key: str
    size: int
    content_type: str
    metadata: dict[str, str] = field(default_factory=dict)

@dataclass(frozen=True)
class LockConfig:
    """A bucket's Object Lock configuration: whether it is on, and its default retention rule."""

    enabled: bool = False
    default_mode: str | None = None    # GOVERNANCE or COMPLIANCE when the bucket has a default rule
    default_days: int | None = None    # the rule's period, in days (a rule in years is converted)

    @property
    def has_default_retention(self) -> bool:
        return self.enabled and self.default_mode is not None

def check_retention(until: datetime, mode: str) -> datetime:
    """`until` in UTC when `mode` is GOVERNANCE or COMPLIANCE and `until` is timezone-aware; ValueError otherwise."""
    if mode not in RETENTION_MODES:
        raise ValueError(f"retention mode must be one of {RETENTION_MODES}, not {mode!r}")
    if until.tzinfo is None:
        raise ValueError("retention date must be timezone-aware")
    return until.astimezone(UTC)

def check_key(key: str, *, what: str = "key") -> str:
    """Return ``key`` if it is a safe relative object key, else raise ValueError."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"{what} must be a non-empty string, not {key!r}")
    if _CONTROL_RE.search(key) or "\\" in key:
        raise ValueError(f"{what} {key!r} contains a backslash or a control character")
    if key.startswith("/"):
        raise ValueError(f"{what} {key!r} must be relative")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise ValueError(f"{what} is longer than {MAX_KEY_BYTES} bytes")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise ValueError(f"{what} {key!r} has an empty, '.' or '..' segment")
        if len(segment.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES:
            raise ValueError(f"{what} {key!r} has a segment longer than {MAX_SEGMENT_BYTES} bytes")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} {key!r} is not valid Unicode") from None
    return key

def check_prefix(prefix: str) -> str:
    """A list prefix is a key, possibly ending in '/' or a partial segment; '' means all."""
    if prefix == "":
        return prefix
    check_key(prefix[:-1] if prefix.endswith("/") else prefix, what="prefix")
    return prefix

def check_metadata(metadata: dict[str, str] | None) -> dict[str, str]:
    """User metadata with names lower-cased ({} for None); ValueError for a name that is not 1-128 ASCII letters,
    digits, '-' or '_' (starting with a letter or digit) or a value that is not printable ASCII."""
    out: dict[str, str] = {}
    for name, value in (metadata or {}).items():
        if not isinstance(name, str) or not _META_NAME_RE.fullmatch(name):
            raise ValueError(f"metadata name {name!r} must be ASCII letters, digits, '-' or '_'")
        if not isinstance(value, str) or not value.isascii() or _CONTROL_RE.search(value):
            raise ValueError(f"metadata {name!r} must be printable ASCII")
        out[name.lower()] = value
    return out

def check_content_type(content_type: str) -> str:
    """`content_type` if printable ASCII ('' gives application/octet-stream); ValueError otherwise."""
    if not isinstance(content_type, str) or not content_type.isascii() or _CONTROL_RE.search(content_type):
        raise ValueError(f"content type {content_type!r} must be printable ASCII")
    return content_type or DEFAULT_CONTENT_TYPE

# How many bytes an ObjectStream yields at a time by default (64 KiB): what one open stream holds in memory.
STREAM_CHUNK = 64 * 1024


class ObjectStream(ABC):
    """An object's bytes ``[start, stop)`` being read from its store, a chunk at a time, so an object of
    any size is served in bounded memory. ``size`` is the whole object's size in bytes; ``start`` and
    ``stop`` the byte offsets read (``stop - start`` == ``length`` bytes in all). Iterating yields
    chunks of at most ``chunk_size`` bytes (never an empty one) until ``length`` bytes came, then
    closes the stream; ``close()`` (also on leaving a ``with`` block) releases the file or connection
    at once, whatever was read, and may be called more than once. A store
    that fails mid-read raises StoreError; an object that turns out shorter than announced too.
    Not safe for two threads to read at once."""

    def __init__(self, key: str, size: int, start: int, stop: int, chunk_size: int = STREAM_CHUNK) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        self.key, self.size, self.start, self.stop = key, size, start, stop
        self.chunk_size = chunk_size
        self._left = stop - start
        self.closed = False

    @property
    def length(self) -> int:
        """How many bytes the stream yields in all (``stop - start``)."""
        return self.stop - self.start

    @abstractmethod
    def _read(self, n: int) -> bytes:
        """Up to `n` (>= 1) next bytes of the range; b"" only at the object's end."""

    @abstractmethod
    def _release(self) -> None:
        """Close the underlying file or connection."""

    def read(self, n: int) -> bytes:
        """The next `n` bytes of the range (fewer only at its end; b"" once it is read); StoreError when
        the object ends before the range does."""
        n = min(max(n, 0), self._left)
        parts: list[bytes] = []
        while n > 0:
            if self.closed:
                raise StoreError(f"the stream of {self.key!r} is closed")
            part = self._read(n)
            if not part:
                self.close()
                raise StoreError(f"{self.key!r} ended {self._left} bytes early while being read")
            parts.append(part)
            n -= len(part)
            self._left -= len(part)
        return b"".join(parts)

    def __iter__(self) -> ObjectStream:
        return self

    def __next__(self) -> bytes:
        if self._left <= 0 or self.closed:
            self.close()
            raise StopIteration
        return self.read(self.chunk_size)

    def close(self) -> None:
        """Release the file or connection (idempotent)."""
        if not self.closed:
            self.closed = True
            self._release()

    def __enter__(self) -> ObjectStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_range(start: int, stop: int | None) -> None:
    """ValueError unless ``0 <= start`` and (``stop`` is None or ``start <= stop``): the byte range
    arguments of ``ObjectStore.stream``."""
    if start < 0 or (stop is not None and stop < start):
        raise ValueError(f"bad byte range {start}..{stop}")


class ObjectStore(ABC):
    """Where archived bytes live. Implementations are safe to share between threads."""

    def __init__(self, public_base_url: str) -> None:
        parts = urlsplit(public_base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            # A query here would make every stable URL look like (or be) a signed, expiring one.
            raise ConfigError(f"public_base_url {redact_url(public_base_url)!r} must be an http(s) URL "
                              "without query or fragment")
        self.public_base_url = public_base_url.rstrip("/")

    @abstractmethod
    def put(self, key: str, data: bytes, *, content_type: str = DEFAULT_CONTENT_TYPE,
            if_none_match: bool = False, metadata: dict[str, str] | None = None) -> bool:
        """Write ``data`` under ``key``. With ``if_none_match`` an existing key is left alone
        and False is returned; otherwise True."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """The bytes under ``key``; ObjectNotFound if there are none."""

    @abstractmethod
    def stream(self, key: str, start: int = 0, stop: int | None = None, *,
               chunk_size: int = STREAM_CHUNK) -> ObjectStream:
        """The bytes ``[start, stop)`` of ``key`` (to its end when `stop` is None; a range past the end
        is cut at the end, so it may be empty), opened for reading in chunks of at most `chunk_size`
        bytes without holding the object in memory: close the stream when done (``with``).
        ObjectNotFound if there is no object, ValueError for a bad key or a negative or reversed range,
        StoreError when the store cannot be read."""

    @abstractmethod
    def head(self, key: str) -> ObjectInfo:
        """Size, content type and metadata of ``key``; ObjectNotFound if absent."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""

    @abstractmethod
    def list(self, prefix: str) -> Iterator[str]:
        """Keys starting with ``prefix`` (a plain string prefix), sorted."""

    @abstractmethod
    def set_legal_hold(self, key: str, on: bool) -> bool:
        """Put or lift an Object Lock legal hold; False where the store cannot hold objects."""

    @abstractmethod
    def set_retention(self, key: str, until: datetime, mode: str = "GOVERNANCE") -> bool:
        """Retain ``key``'s current version until ``until`` (Object Lock retention); False where
        the store cannot retain objects. ObjectNotFound if absent."""

    @abstractmethod
    def lock_config(self) -> LockConfig:
        """The Object Lock configuration of the underlying bucket (disabled where there is none)."""

    def supports_object_lock(self) -> bool:
        """Whether legal holds and retention are enforced by this store."""
        return self.lock_config().enabled

    @abstractmethod
    def describe(self) -> str:
        """Where this store is, for messages."""

    @abstractmethod
    def locate(self, key: str) -> str:
        """Where an operator finds ``key``: a file path or an s3:// URL."""

    def put_blob(self, data: bytes, content_type: str, sha256: str | None = None) -> tuple[str, str, bool]:
        """Store an original by content: (sha256 hex, key, created). Idempotent. `sha256` is the
        caller's lowercase hex digest of `data` when it has one (so the bytes are not hashed twice);
        it is trusted, so pass only a digest taken of these very bytes."""
        sha = sha256 or hashlib.sha256(data).hexdigest()
        key = blob_key(sha)
        created = self.put(key, data, content_type=content_type, if_none_match=True)
        return sha, key, created

    def public_url(self, key: str) -> str:
        """The stable address readers use; never presigned, never expiring."""
        return f"{self.public_base_url}/{quote(check_key(key), safe='/')}"


def stored_json_objects(store: ObjectStore, prefix: str, skipped: list[str] | None = None
                        ) -> Iterator[tuple[str, dict[str, Any]]]:
    """(key, document) of every object under `prefix` whose key ends in ".json" and that holds a JSON
    object, in key order: what a catalog rebuild reads (storage is the truth, the catalog its index).
    An object gone since it was listed, not JSON or not an object is left out, its key appended to
    `skipped` (with the reason) when given, so one damaged record never stops the rest."""
    for key in sorted(k for k in store.list(prefix) if k.endswith(".json")):
        try:
            doc = json.loads(store.get(key))
            if not isinstance(doc, dict):
                raise ValueError("not a JSON object")
        except (ObjectNotFound, ValueError) as exc:
            if skipped is not None:
                skipped.append(f"{key}: {exc}")
            continue
        yield key, doc
