"""Object storage, the source of truth: one small interface over a local directory or S3.

Everything the archiver keeps (originals, manifests, article versions) goes through
``ObjectStore`` so the embedded mode (a directory) and the distributed mode (AWS S3, MinIO,
SeaweedFS, Ceph through boto3) behave alike. Originals are content-addressed
(``blobs/sha256/ab/<hex>``) and written with a conditional put, so two workers storing the same
bytes never clobber each other and S3 verifies the SHA-256 on arrival.

Choices worth knowing:

* Keys are ``/``-separated relative paths, partly built from third-party ids, so they are
  checked strictly (``check_key``): no absolute paths, ``.``/``..`` or empty segments,
  backslashes, NUL or other control characters.
* ``LocalStore`` keeps the content type and metadata of each object in a JSON sidecar
  ``<root>/.meta/<key>.json`` (read back by ``head``); ``.meta`` and ``.tmp`` are reserved
  top-level names. Writes are atomic (temp file + ``os.replace``); a conditional put publishes
  with ``os.link``, which fails if the name exists, so racing processes never clobber.
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

import base64
import contextlib
import errno
import hashlib
import json
import os
import re
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

from archiver.errors import ArchiverError, ConfigError

if TYPE_CHECKING:
    from archiver.config import Settings

BLOB_PREFIX = "blobs/sha256/"
DEFAULT_CONTENT_TYPE = "application/octet-stream"
MAX_KEY_BYTES = 1024  # the S3 limit, store prefix included
MAX_SEGMENT_BYTES = 255  # the usual file-name limit
_RESERVED_LOCAL = (".meta", ".tmp")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_META_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
RETENTION_MODES = ("GOVERNANCE", "COMPLIANCE")


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


def _check_retention(until: datetime, mode: str) -> datetime:
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


def _check_prefix(prefix: str) -> str:
    """A list prefix is a key, possibly ending in '/' or a partial segment; '' means all."""
    if prefix == "":
        return prefix
    check_key(prefix[:-1] if prefix.endswith("/") else prefix, what="prefix")
    return prefix


def _check_metadata(metadata: dict[str, str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in (metadata or {}).items():
        if not isinstance(name, str) or not _META_NAME_RE.fullmatch(name):
            raise ValueError(f"metadata name {name!r} must be ASCII letters, digits, '-' or '_'")
        if not isinstance(value, str) or not value.isascii() or _CONTROL_RE.search(value):
            raise ValueError(f"metadata {name!r} must be printable ASCII")
        out[name.lower()] = value
    return out


def _check_content_type(content_type: str) -> str:
    if not isinstance(content_type, str) or not content_type.isascii() or _CONTROL_RE.search(content_type):
        raise ValueError(f"content type {content_type!r} must be printable ASCII")
    return content_type or DEFAULT_CONTENT_TYPE


def blob_key(sha256: str) -> str:
    """The content-addressed key of an original: ``blobs/sha256/ab/<hex>``."""
    if not isinstance(sha256, str) or not _SHA256_RE.fullmatch(sha256):
        raise ValueError(f"not a lowercase SHA-256 hex digest: {sha256!r}")
    return f"{BLOB_PREFIX}{sha256[:2]}/{sha256}"


class ObjectStore(ABC):
    """Where archived bytes live. Implementations are safe to share between threads."""

    def __init__(self, public_base_url: str) -> None:
        parts = urlsplit(public_base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            # A query here would make every stable URL look like (or be) a signed, expiring one.
            raise ConfigError(f"public_base_url {public_base_url!r} must be an http(s) URL "
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

    def put_blob(self, data: bytes, content_type: str) -> tuple[str, str, bool]:
        """Store an original by content: (sha256 hex, key, created). Idempotent."""
        sha = hashlib.sha256(data).hexdigest()
        key = blob_key(sha)
        created = self.put(key, data, content_type=content_type, if_none_match=True)
        return sha, key, created

    def public_url(self, key: str) -> str:
        """The stable address readers use; never presigned, never expiring."""
        return f"{self.public_base_url}/{quote(check_key(key), safe='/')}"


class LocalStore(ObjectStore):
    """Objects as files under one directory (the embedded mode)."""

    def __init__(self, root: Path | str, public_base_url: str) -> None:
        super().__init__(public_base_url)
        self.root = Path(root)
        try:
            (self.root / ".tmp").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot use storage directory {self.root}: {exc.strerror or exc}") from None

    def _path(self, key: str) -> Path:
        check_key(key)
        if key.split("/", 1)[0] in _RESERVED_LOCAL:
            raise ValueError(f"key {key!r} uses a name reserved by the local store")
        return self.root / key

    def _meta_path(self, key: str) -> Path:
        return self.root / ".meta" / f"{key}.json"

    def _write_temp(self, data: bytes) -> str:
        fd, tmp = tempfile.mkstemp(dir=self.root / ".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return tmp

    def put(self, key: str, data: bytes, *, content_type: str = DEFAULT_CONTENT_TYPE,
            if_none_match: bool = False, metadata: dict[str, str] | None = None) -> bool:
        path = self._path(key)
        meta = {"content_type": _check_content_type(content_type), "metadata": _check_metadata(metadata)}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._write_temp(bytes(data))
            try:
                if if_none_match:
                    try:
                        os.link(tmp, path)
                    except FileExistsError:
                        if path.is_dir():
                            raise
                        return False
                else:
                    if path.is_dir():
                        raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
                    os.replace(tmp, path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            self._write_meta(key, meta)
        except (NotADirectoryError, IsADirectoryError, FileExistsError):
            raise ValueError(f"key {key!r} conflicts with another key in {self.describe()}") from None
        except OSError as exc:
            raise StoreError(f"cannot write {key!r} in {self.describe()}: {exc.strerror or exc}") from None
        return True

    def _write_meta(self, key: str, meta: dict[str, Any]) -> None:
        meta_path = self._meta_path(key)
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._write_temp(json.dumps(meta, sort_keys=True).encode())
        try:
            os.replace(tmp, meta_path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(key) from None
        except OSError as exc:
            raise StoreError(f"cannot read {key!r} in {self.describe()}: {exc.strerror or exc}") from None

    def head(self, key: str) -> ObjectInfo:
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFound(key)
        meta: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(self._meta_path(key).read_bytes())
            meta = loaded if isinstance(loaded, dict) else {}
        return ObjectInfo(key=key, size=path.stat().st_size,
                          content_type=str(meta.get("content_type") or DEFAULT_CONTENT_TYPE),
                          metadata=dict(meta.get("metadata") or {}))

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> Iterator[str]:
        _check_prefix(prefix)
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        if base:
            self._path(base)
        start = self.root / base if base else self.root
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(start):
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            if rel_dir == ".":
                rel_dir = ""
                dirnames[:] = [d for d in dirnames if d not in _RESERVED_LOCAL]
            for name in filenames:
                key = f"{rel_dir}/{name}" if rel_dir else name
                if key.startswith(prefix):
                    found.append(key)
        return iter(sorted(found))

    def set_legal_hold(self, key: str, on: bool) -> bool:
        if not self.exists(key):
            raise ObjectNotFound(key)
        return False

    def set_retention(self, key: str, until: datetime, mode: str = "GOVERNANCE") -> bool:
        _check_retention(until, mode)
        if not self.exists(key):
            raise ObjectNotFound(key)
        return False

    def lock_config(self) -> LockConfig:
        return LockConfig()

    def describe(self) -> str:
        return self.root.resolve().as_uri()

    def locate(self, key: str) -> str:
        return str(self._path(key))


class S3Store(ObjectStore):
    """Objects in an S3 bucket under an optional prefix, through one thread-safe boto3 client."""

    def __init__(self, client: Any, bucket: str, prefix: str, public_base_url: str,
                 endpoint_url: str = "", retention_days: int = 0) -> None:
        super().__init__(public_base_url)
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self.retention_days = max(0, retention_days)
        self._lock_config: LockConfig | None = None
        self._lock_config_guard = threading.Lock()

    def _full(self, key: str) -> str:
        check_key(key)
        full = f"{self.prefix}/{key}" if self.prefix else key
        if len(full.encode("utf-8")) > MAX_KEY_BYTES:
            raise ValueError(f"key {key!r} is too long with the store prefix")
        return full

    def _fail(self, action: str, key: str, exc: Exception) -> StoreError:
        return StoreError(f"cannot {action} {key!r} in {self.describe()}: {exc}")

    def _call(self, action: str, key: str, op: str, *, otherwise: frozenset[str] = frozenset(),
              **kwargs: Any) -> Any:
        """``self.client.<op>(**kwargs)``, its answer or None for an error code in ``otherwise``
        (what the caller takes as "not here" or "not supported"); a missing object raises
        ObjectNotFound, any other S3 or network trouble StoreError."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, op)(**kwargs)
        except ClientError as exc:
            code = _code(exc)
            if code in otherwise:
                return None
            if code in _MISSING:
                raise ObjectNotFound(key) from None
            raise self._fail(action, key, exc) from None
        except BotoCoreError as exc:
            raise self._fail(action, key, exc) from None

    def put(self, key: str, data: bytes, *, content_type: str = DEFAULT_CONTENT_TYPE,
            if_none_match: bool = False, metadata: dict[str, str] | None = None) -> bool:
        return self._put(key, data, content_type, if_none_match, metadata, None)

    def put_blob(self, data: bytes, content_type: str) -> tuple[str, str, bool]:
        """As ObjectStore.put_blob, retained by ``retention_days`` when the bucket has Object Lock
        but no default rule (a default rule retains every new version by itself)."""
        sha = hashlib.sha256(data).hexdigest()
        key = blob_key(sha)
        retain = None
        if self.retention_days:
            conf = self.lock_config()
            if conf.enabled and not conf.has_default_retention:
                retain = ("GOVERNANCE", datetime.now(UTC) + timedelta(days=self.retention_days))
        return sha, key, self._put(key, data, content_type, True, None, retain)

    def _put(self, key: str, data: bytes, content_type: str, if_none_match: bool,
             metadata: dict[str, str] | None, retain: tuple[str, datetime] | None) -> bool:
        body = bytes(data)
        args: dict[str, Any] = {
            "Bucket": self.bucket, "Key": self._full(key), "Body": body,
            "ContentType": _check_content_type(content_type), "Metadata": _check_metadata(metadata),
            "ChecksumSHA256": base64.b64encode(hashlib.sha256(body).digest()).decode("ascii"),
        }
        if if_none_match:
            args["IfNoneMatch"] = "*"
        if retain is not None:
            args["ObjectLockMode"], args["ObjectLockRetainUntilDate"] = retain
        # A conditional put that finds the key answers 412 (or 409 while another write is in flight).
        exists = _EXISTS if if_none_match else frozenset()
        return self._call("write", key, "put_object", otherwise=exists, **args) is not None

    def get(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError

        resp = self._call("read", key, "get_object", Bucket=self.bucket, Key=self._full(key))
        try:
            with contextlib.closing(resp["Body"]) as body:
                return body.read()
        except BotoCoreError as exc:
            raise self._fail("read", key, exc) from None

    def head(self, key: str) -> ObjectInfo:
        resp = self._call("inspect", key, "head_object", Bucket=self.bucket, Key=self._full(key))
        return ObjectInfo(key=key, size=int(resp.get("ContentLength") or 0),
                          content_type=resp.get("ContentType") or DEFAULT_CONTENT_TYPE,
                          metadata=dict(resp.get("Metadata") or {}))

    def exists(self, key: str) -> bool:
        try:
            self.head(key)
        except ObjectNotFound:
            return False
        return True

    def checksum_sha256(self, key: str) -> str | None:
        """The SHA-256 checksum S3 recorded for ``key`` (base64), if any."""
        resp = self._call("inspect", key, "head_object", Bucket=self.bucket, Key=self._full(key),
                          ChecksumMode="ENABLED")
        return resp.get("ChecksumSHA256")

    def list(self, prefix: str) -> Iterator[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        _check_prefix(prefix)
        base = f"{self.prefix}/" if self.prefix else ""
        keys: list[str] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=base + prefix)
            for page in pages:
                keys.extend(obj["Key"][len(base):] for obj in page.get("Contents", ()))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("list", prefix, exc) from None
        return iter(sorted(keys))

    def set_legal_hold(self, key: str, on: bool) -> bool:
        if not self.exists(key):
            raise ObjectNotFound(key)
        if not self.supports_object_lock():
            return False
        return self._call("set a legal hold on", key, "put_object_legal_hold", otherwise=_NO_LOCK_WRITE,
                          Bucket=self.bucket, Key=self._full(key),
                          LegalHold={"Status": "ON" if on else "OFF"}) is not None

    def legal_hold(self, key: str) -> bool:
        """Whether ``key`` is under a legal hold now."""
        resp = self._call("read the legal hold of", key, "get_object_legal_hold", otherwise=_NO_LOCK_READ,
                          Bucket=self.bucket, Key=self._full(key))
        return resp is not None and resp.get("LegalHold", {}).get("Status") == "ON"

    def set_retention(self, key: str, until: datetime, mode: str = "GOVERNANCE") -> bool:
        until = _check_retention(until, mode)
        if not self.exists(key):
            raise ObjectNotFound(key)
        if not self.supports_object_lock():
            return False
        self._call("set the retention of", key, "put_object_retention", Bucket=self.bucket, Key=self._full(key),
                   Retention={"Mode": mode, "RetainUntilDate": until})
        return True

    def retention(self, key: str) -> tuple[str, datetime] | None:
        """(mode, retain-until) of ``key``'s current version, None when it is not retained."""
        resp = self._call("read the retention of", key, "get_object_retention", otherwise=_NO_LOCK_READ,
                          Bucket=self.bucket, Key=self._full(key))
        ret = (resp or {}).get("Retention") or {}
        if not ret.get("Mode") or not ret.get("RetainUntilDate"):
            return None
        return ret["Mode"], ret["RetainUntilDate"].astimezone(UTC)

    def lock_config(self) -> LockConfig:
        """Read once per store (buckets do not lose Object Lock); ClientError means none."""
        from botocore.exceptions import BotoCoreError, ClientError

        with self._lock_config_guard:
            if self._lock_config is None:
                try:
                    resp = self.client.get_object_lock_configuration(Bucket=self.bucket)
                    self._lock_config = _lock_config(resp.get("ObjectLockConfiguration") or {})
                except ClientError:
                    self._lock_config = LockConfig()
                except BotoCoreError as exc:
                    raise self._fail("inspect bucket", self.bucket, exc) from None
            return self._lock_config

    def ensure_bucket(self, *, object_lock: bool = False) -> bool:
        """Create the bucket if it is missing (tests, demo); True if it was created."""
        if self._call("inspect bucket", self.bucket, "head_bucket", otherwise=_NO_BUCKET, Bucket=self.bucket):
            return False
        args: dict[str, Any] = {"Bucket": self.bucket}
        region = self.client.meta.region_name
        if region and region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": region}
        if object_lock:
            args["ObjectLockEnabledForBucket"] = True
        if self._call("create bucket", self.bucket, "create_bucket", otherwise=_BUCKET_TAKEN, **args) is None:
            return False
        with self._lock_config_guard:
            self._lock_config = None
        return True

    def describe(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        return f"{where} @ {self.endpoint_url or 'AWS'}"

    def locate(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._full(key)}"


def _lock_config(conf: dict[str, Any]) -> LockConfig:
    if conf.get("ObjectLockEnabled") != "Enabled":
        return LockConfig()
    rule = (conf.get("Rule") or {}).get("DefaultRetention") or {}
    mode = rule.get("Mode") if rule.get("Mode") in RETENTION_MODES else None
    days = rule.get("Days") or (rule.get("Years") or 0) * 365 or None
    return LockConfig(True, mode, days if mode else None)


# S3 error codes, as AWS, MinIO, SeaweedFS and Ceph spell them.
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
_EXISTS = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})
_NO_LOCK_WRITE = frozenset({"InvalidRequest", "ObjectLockConfigurationNotFoundError", "NotImplemented"})
_NO_LOCK_READ = frozenset({"InvalidRequest", "ObjectLockConfigurationNotFoundError", "NoSuchObjectLockConfiguration"})
_NO_BUCKET = frozenset({"404", "NoSuchBucket", "NotFound"})
_BUCKET_TAKEN = frozenset({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})


def _code(exc: Any) -> str:
    """The S3 error code of a botocore ClientError (falls back to the HTTP status)."""
    resp = getattr(exc, "response", {}) or {}
    code = str(resp.get("Error", {}).get("Code") or "")
    return code or str(resp.get("ResponseMetadata", {}).get("HTTPStatusCode") or "")


def s3_client(settings: Settings) -> Any:
    """A boto3 S3 client with bounded timeouts and retries, from the s3_* settings."""
    import boto3
    from botocore.config import Config

    access, secret = settings.s3_access_key, settings.s3_secret_key
    if bool(access) != bool(secret):
        raise ConfigError("set both s3_access_key and s3_secret_key, or neither (boto3's usual chain)")
    endpoint = settings.s3_endpoint_url or None
    if endpoint and urlsplit(endpoint).scheme not in ("http", "https"):
        raise ConfigError(f"s3_endpoint_url {endpoint!r} must be an http:// or https:// URL")
    config = Config(
        connect_timeout=settings.s3_connect_timeout,
        read_timeout=settings.s3_read_timeout,
        retries={"max_attempts": settings.s3_max_attempts, "mode": "standard"},
        s3={"addressing_style": "path"} if endpoint else None,
        max_pool_connections=max(10, settings.capture_threads * 2),
    )
    session = boto3.session.Session()
    return session.client("s3", endpoint_url=endpoint, region_name=settings.s3_region or None,
                          aws_access_key_id=access or None, aws_secret_access_key=secret or None,
                          config=config)


def open_store(settings: Settings) -> ObjectStore:
    """The store named by ``settings.storage_url``: ``file:///dir`` or ``s3://bucket/prefix``."""
    url = settings.storage_url
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ConfigError(f"storage URL {url!r} must not have a query or fragment")
    if parts.scheme == "file":
        path = unquote(parts.path)
        if parts.netloc not in ("", "localhost") or not path.startswith("/"):
            raise ConfigError(f"storage URL {url!r} must look like file:///absolute/dir")
        return LocalStore(Path(path), settings.public_base_url)
    if parts.scheme == "s3":
        bucket, prefix = parts.netloc, unquote(parts.path).strip("/")
        if not _BUCKET_RE.fullmatch(bucket):
            raise ConfigError(f"storage URL {url!r}: {bucket!r} is not a valid bucket name")
        if prefix:
            try:
                check_key(prefix)
            except ValueError as exc:
                raise ConfigError(f"storage URL {url!r}: bad prefix ({exc})") from None
        return S3Store(s3_client(settings), bucket, prefix, settings.public_base_url,
                       settings.s3_endpoint_url, settings.object_lock_retention_days)
    raise ConfigError(f"storage URL {url!r} must start with file:/// or s3://")
