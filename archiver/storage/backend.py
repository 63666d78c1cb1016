"""Opening the object store named by the settings: a local directory or an S3 bucket.

The store's module is imported when a store of its kind is opened, by the URL's scheme: a local run
does not load the S3 store's code.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from archiver.errors import ConfigError
from archiver.redact import redact_url
from archiver.storage.base import ObjectStore, check_key

if TYPE_CHECKING:
    from archiver.config.settings import Settings


def open_store(settings: Settings) -> ObjectStore:
    """The store named by ``settings.storage_url``: ``file:///dir`` or ``s3://bucket/prefix``."""
    url = settings.storage_url
    shown = redact_url(url)  # what messages quote: no credentials
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ConfigError(f"storage URL {shown!r} must not have a query or fragment")
    if parts.scheme == "file":
        path = unquote(parts.path)
        if parts.netloc not in ("", "localhost") or not path.startswith("/"):
            raise ConfigError(f"storage URL {shown!r} must look like file:///absolute/dir")
        local = importlib.import_module("archiver.storage.local")
        return local.LocalStore(Path(path), settings.public_base_url)
    if parts.scheme == "s3":
        s3 = importlib.import_module("archiver.storage.s3")
        bucket, prefix = parts.netloc, unquote(parts.path).strip("/")
        if not s3.BUCKET_RE.fullmatch(bucket):
            raise ConfigError(f"storage URL {shown!r}: {shown.partition('://')[2].split('/')[0]!r} is not a valid "
                              "bucket name")
        if prefix:
            try:
                check_key(prefix)
            except ValueError as exc:
                raise ConfigError(f"storage URL {shown!r}: bad prefix ({exc})") from None
        return s3.S3Store(s3.s3_client(settings), bucket, prefix, settings.public_base_url,
                          settings.s3_endpoint_url, settings.object_lock_retention_days)
    raise ConfigError(f"storage URL {shown!r} must start with file:/// or s3://")
