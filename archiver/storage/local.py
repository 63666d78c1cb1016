"""A local directory as object storage: atomic writes, conditional puts by hard link, a JSON sidecar
only for what the key and the bytes do not already say. The default, with no server.

One put is one durable file write: the object goes to a temp file under ``.tmp/``, is fsynced, then
published by ``os.replace`` (or ``os.link`` for a conditional put, which fails if the name exists).
The fsync stays on every object: the catalog and the manifests point at an object as soon as ``put``
returns, so its bytes must be on disk first (the directory entry is left to the file system's
journal, as before).

``.locks/`` holds the lock files of the processes sharing the directory (archiver.coordination); like
``.meta`` and ``.tmp`` it is no key's.

The content type and metadata live in a sidecar ``.meta/<key>.json`` only when they differ from what
``implied_content_type`` reads from the key's name and the object's first bytes, with no metadata:
a blob whose type is its own magic number, a ``.json`` written as application/json, a ``.webp``
serving copy, need none. ``head`` reads the sidecar when there is one (stores written before, which
have one for every object, read as they did) and otherwise answers the implied type; a put that
needs no sidecar removes a stale one the key had.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from archiver.storage.base import (
    DEFAULT_CONTENT_TYPE,
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
    image_type,
)

_RESERVED_LOCAL = (".meta", ".tmp", ".locks")

# The content type a key implies by its name's ending. Part of the store's layout: an object written
# under this rule has no sidecar, so an entry may be added but never changed.
_TYPES_BY_SUFFIX = (
    (".warc.gz", "application/warc"),
    (".json", "application/json"),
    (".html", "text/html; charset=utf-8"),
    (".png", "image/png"),
    (".webp", "image/webp"),
    (".jpg", "image/jpeg"),
)

# Bytes of an object read to find its implied type (the longest magic number below is 12).
_MAGIC_BYTES = 16


def implied_content_type(key: str, head: bytes) -> str:
    """The content type LocalStore answers for `key` without a sidecar: by the key's ending
    (``_TYPES_BY_SUFFIX``), else by the magic number at the start of the object (`head`, its first
    bytes: JPEG, PNG, GIF, WebP, the types originals are stored under), else application/octet-stream."""
    name = key.rsplit("/", 1)[-1]
    for suffix, ctype in _TYPES_BY_SUFFIX:
        if name.endswith(suffix):
            return ctype
    return image_type(head) or DEFAULT_CONTENT_TYPE


class LocalStore(ObjectStore):
    """Objects as files under one directory (the default, e.g. for the local runner)."""

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

    def lock_dir(self) -> Path:
        """Where the processes using this store hold their shared locks (``.locks``, never a key:
        archiver.coordination.share_locks)."""
        return self.root / ".locks"

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
        """As ObjectStore.put: one fsynced file, plus a sidecar only when the content type is not
        the one the key and bytes imply or there is metadata. ValueError when `key` conflicts with
        another key (an object where a "directory" is, or the reverse); StoreError when the
        directory cannot be written."""
        path = self._path(key)
        ctype, meta_data = check_content_type(content_type), check_metadata(metadata)
        body = bytes(data)
        sidecar = bool(meta_data) or ctype != implied_content_type(key, body[:_MAGIC_BYTES])
        try:
            if if_none_match and self._taken(path):
                return False   # the common case of a conditional put that finds the key: no write at all
            tmp = self._write_temp(body)
            try:
                if if_none_match:
                    try:
                        self._publish(os.link, tmp, path)
                    except FileExistsError:
                        if path.is_dir():
                            raise
                        return False
                else:
                    if path.is_dir():
                        raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
                    self._publish(os.replace, tmp, path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            if sidecar:
                self._write_meta(key, {"content_type": ctype, "metadata": meta_data})
            else:
                with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                    os.unlink(self._meta_path(key))   # what an earlier put of this key said no longer holds
        except (NotADirectoryError, IsADirectoryError, FileExistsError):
            raise ValueError(f"key {key!r} conflicts with another key in {self.describe()}") from None
        except OSError as exc:
            raise StoreError(f"cannot write {key!r} in {self.describe()}: {exc.strerror or exc}") from None
        return True

    @staticmethod
    def _taken(path: Path) -> bool:
        """Whether an object is stored at `path` already; IsADirectoryError when a "directory" of other
        keys is."""
        try:
            mode = os.stat(path).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return False
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
        return True

    @staticmethod
    def _publish(op: Callable[[str, Path], None], tmp: str, path: Path) -> None:
        """`op(tmp, path)` (os.link or os.replace), making the key's parent directories when missing
        (tried after the first attempt, so a put into an existing directory makes no mkdir call)."""
        try:
            op(tmp, path)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            op(tmp, path)

    def _write_meta(self, key: str, meta: dict[str, Any]) -> None:
        meta_path = self._meta_path(key)
        tmp = self._write_temp(json.dumps(meta, sort_keys=True).encode())
        try:
            self._publish(os.replace, tmp, meta_path)
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

    def stream(self, key: str, start: int = 0, stop: int | None = None, *,
               chunk_size: int = STREAM_CHUNK) -> ObjectStream:
        """As ObjectStore.stream: the file opened and positioned at `start` (a file replaced while it is
        read is read to the end as it was when opened)."""
        check_range(start, stop)
        path = self._path(key)
        try:
            fh = open(path, "rb")  # noqa: SIM115 - the stream owns it and closes it
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(key) from None
        except OSError as exc:
            raise StoreError(f"cannot read {key!r} in {self.describe()}: {exc.strerror or exc}") from None
        try:
            size = os.fstat(fh.fileno()).st_size
            begin = min(start, size)
            fh.seek(begin)
        except OSError as exc:
            fh.close()
            raise StoreError(f"cannot read {key!r} in {self.describe()}: {exc.strerror or exc}") from None
        return _FileStream(key, fh, size, begin, size if stop is None else min(stop, size), chunk_size,
                           self.describe())

    def head(self, key: str) -> ObjectInfo:
        """Size, content type and metadata: from the key's sidecar when it has one, else the type
        ``implied_content_type`` reads from the key and the object's first bytes, no metadata."""
        path = self._path(key)
        try:
            with open(path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                magic = fh.read(_MAGIC_BYTES)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(key) from None
        except OSError as exc:
            raise StoreError(f"cannot read {key!r} in {self.describe()}: {exc.strerror or exc}") from None
        meta: dict[str, Any] | None = None
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(self._meta_path(key).read_bytes())
            meta = loaded if isinstance(loaded, dict) else {}
        if meta is None:
            return ObjectInfo(key=key, size=size, content_type=implied_content_type(key, magic), metadata={})
        return ObjectInfo(key=key, size=size,
                          content_type=str(meta.get("content_type") or DEFAULT_CONTENT_TYPE),
                          metadata=dict(meta.get("metadata") or {}))

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> Iterator[str]:
        check_prefix(prefix)
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
        check_retention(until, mode)
        if not self.exists(key):
            raise ObjectNotFound(key)
        return False

    def lock_config(self) -> LockConfig:
        return LockConfig()

    def describe(self) -> str:
        return self.root.resolve().as_uri()

    def locate(self, key: str) -> str:
        return str(self._path(key))


class _FileStream(ObjectStream):
    """LocalStore.stream's answer: reads from an open file, closes it."""

    def __init__(self, key: str, fh: Any, size: int, start: int, stop: int, chunk_size: int, where: str) -> None:
        super().__init__(key, size, start, stop, chunk_size)
        self._fh, self._where = fh, where

    def _read(self, n: int) -> bytes:
        try:
            return self._fh.read(n)
        except (OSError, ValueError) as exc:
            self.close()
            raise StoreError(f"cannot read {self.key!r} in {self._where}: {exc}") from None

    def _release(self) -> None:
        self._fh.close()
