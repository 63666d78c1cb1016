"""Any S3-compatible service as object storage through boto3: conditional puts (`If-None-Match`),
Object Lock legal holds and retention where the bucket supports them, S3 errors mapped to ours.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from archiver.errors import ConfigError, MissingExtra
from archiver.redact import redact_text, redact_url
from archiver.storage.base import (
    DEFAULT_CONTENT_TYPE,
    MAX_KEY_BYTES,
    RETENTION_MODES,
    STREAM_CHUNK,
    LockConfig,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    ObjectStream,
    StoreError,
    check_content_type,
    check_key,
    check_metadata,
    check_prefix,
    check_range,
    check_retention,
)
from archiver.storage.layout import blob_key

if TYPE_CHECKING:
    from archiver.config.settings import Settings


BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")

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
        return StoreError(redact_text(f"cannot {action} {key!r} in {self.describe()}: {exc}"))

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

    def put_blob(self, data: bytes, content_type: str, sha256: str | None = None) -> tuple[str, str, bool]:
        """As ObjectStore.put_blob (one PUT, the content type with the object), retained by
        ``retention_days`` when the bucket has Object Lock but no default rule (a default rule retains
        every new version by itself). The digest, the caller's or taken here once, is sent as the
        PUT's ChecksumSHA256, so S3 checks it against the bytes on arrival."""
        sha = sha256 or hashlib.sha256(data).hexdigest()
        key = blob_key(sha)
        retain = None
        if self.retention_days:
            conf = self.lock_config()
            if conf.enabled and not conf.has_default_retention:
                retain = ("GOVERNANCE", datetime.now(UTC) + timedelta(days=self.retention_days))
        return sha, key, self._put(key, data, content_type, True, None, retain, bytes.fromhex(sha))

    def _put(self, key: str, data: bytes, content_type: str, if_none_match: bool,
             metadata: dict[str, str] | None, retain: tuple[str, datetime] | None,
             digest: bytes | None = None) -> bool:
        """One PUT carrying the content type and metadata with the object; `digest` the SHA-256 of
        `data` when known (else taken here), sent for S3 to check."""
        body = bytes(data)
        args: dict[str, Any] = {
            "Bucket": self.bucket, "Key": self._full(key), "Body": body,
            "ContentType": check_content_type(content_type), "Metadata": check_metadata(metadata),
            "ChecksumSHA256": base64.b64encode(digest or hashlib.sha256(body).digest()).decode("ascii"),
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

    def stream(self, key: str, start: int = 0, stop: int | None = None, *,
               chunk_size: int = STREAM_CHUNK) -> ObjectStream:
        """As ObjectStore.stream: one GET (with a Range header unless the whole object is asked for)
        whose body, boto3's StreamingBody, is read a chunk at a time; closing the stream closes the
        connection. An empty range costs a HEAD instead."""
        check_range(start, stop)
        full = self._full(key)
        if stop is not None and stop == start:
            return _BodyStream(self, key, None, self.head(key).size, start, stop, chunk_size)
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": full}
        if start or stop is not None:
            args["Range"] = f"bytes={start}-{'' if stop is None else stop - 1}"
        resp = self._call("read", key, "get_object", otherwise=_BAD_RANGE, **args)
        if resp is None:   # the range starts at or past the end: nothing of it is stored
            size = self.head(key).size
            return _BodyStream(self, key, None, size, min(start, size), min(start, size), chunk_size)
        body = resp["Body"]
        try:
            match = _CONTENT_RANGE.fullmatch(str(resp.get("ContentRange") or ""))
            if match:
                first, size = int(match.group(1)), int(match.group(3))
            else:   # the whole object came (no Range sent, or a server that ignores it): skip to start
                first, size = 0, int(resp.get("ContentLength") or 0)
            begin, end = min(start, size), size if stop is None else min(stop, size)
            stream = _BodyStream(self, key, body, size, first, end, chunk_size)
            skip = begin - first
            while skip > 0:
                skip -= len(stream.read(min(chunk_size, skip)))
            stream.start = begin
            return stream
        except BaseException:
            body.close()
            raise

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

        check_prefix(prefix)
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
        until = check_retention(until, mode)
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
        return f"{where} @ {redact_url(self.endpoint_url) if self.endpoint_url else 'AWS'}"

    def locate(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._full(key)}"

class _BodyStream(ObjectStream):
    """S3Store.stream's answer: reads boto3's StreamingBody (None for an empty range), closes it."""

    def __init__(self, store: S3Store, key: str, body: Any, size: int, start: int, stop: int,
                 chunk_size: int) -> None:
        super().__init__(key, size, start, stop, chunk_size)
        self._store, self._body = store, body

    def _read(self, n: int) -> bytes:
        from botocore.exceptions import BotoCoreError

        if self._body is None:
            return b""
        try:
            return self._body.read(n)
        except (BotoCoreError, OSError, ValueError) as exc:
            self.close()
            raise self._store._fail("read", self.key, exc) from None

    def _release(self) -> None:
        if self._body is not None:
            with contextlib.suppress(Exception):   # closing a broken connection may raise: it is gone anyway
                self._body.close()


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

# A Range that starts at or past the object's end (S3 answers 416).
_BAD_RANGE = frozenset({"InvalidRange", "416", "RequestedRangeNotSatisfiable"})

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")

_NO_BUCKET = frozenset({"404", "NoSuchBucket", "NotFound"})

_BUCKET_TAKEN = frozenset({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})

def _code(exc: Any) -> str:
    """The S3 error code of a botocore ClientError (falls back to the HTTP status)."""
    resp = getattr(exc, "response", {}) or {}
    code = str(resp.get("Error", {}).get("Code") or "")
    return code or str(resp.get("ResponseMetadata", {}).get("HTTPStatusCode") or "")

def s3_client(settings: Settings) -> Any:
    """A boto3 S3 client with bounded timeouts and retries, from the s3_* settings.

    Raises ConfigError for half-given credentials or a bad endpoint, MissingExtra without boto3."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        raise MissingExtra("S3 storage", "s3", exc) from None

    access, secret = settings.s3_access_key, settings.s3_secret_key
    if bool(access) != bool(secret):
        raise ConfigError("set both s3_access_key and s3_secret_key, or neither (boto3's usual chain)")
    endpoint = settings.s3_endpoint_url or None
    if endpoint and urlsplit(endpoint).scheme not in ("http", "https"):
        raise ConfigError(f"s3_endpoint_url {redact_url(endpoint)!r} must be an http:// or https:// URL")
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
