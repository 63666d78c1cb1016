"""A local directory as object storage: atomic writes, conditional puts by hard link, JSON sidecars
for content type and metadata. The default, with no server.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from archiver.storage.base import (
    DEFAULT_CONTENT_TYPE,
    LockConfig,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    StoreError,
    check_content_type,
    check_key,
    check_metadata,
    check_prefix,
    check_retention,
)

_RESERVED_LOCAL = (".meta", ".tmp")

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
        meta = {"content_type": check_content_type(content_type), "metadata": check_metadata(metadata)}
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
