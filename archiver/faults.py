"""Infrastructure faults: which exceptions mean that storage, the catalog or the broker is in trouble.

Such a fault says nothing about the item being captured: the same capture succeeds once the service is
back. So it is retried (the workers' tasks back off and run again; the sweeper is the backstop) and is
never stored as the item's outcome, where it would read as a property of the post or the image. Bad
input (a malformed record, an image Pillow refuses, a post the platform removed) is not a fault here.

The client libraries are looked up in ``sys.modules`` rather than imported: a process that never
loaded redis or psycopg cannot have raised their errors, and the local runner starts without them.
"""

from __future__ import annotations

import errno
import sqlite3
import sys

from archiver.storage.base import StoreError

# OSErrors of the machine, not of the bytes being read: a full or failing disk, no memory, no descriptors.
_MACHINE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.ENOMEM, errno.EMFILE,
                             errno.ENFILE, errno.EAGAIN})
# sqlite3 errors that are our own mistakes (a bad statement, a broken constraint), not the database's state.
_SQLITE_MISTAKES = (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError,
                    sqlite3.DataError, sqlite3.NotSupportedError)


class CoordinationError(Exception):
    """A lock or completion set could not be reached or was lost (the broker's Redis is down or timed out)."""


def is_infrastructure_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is an infrastructure fault worth retrying.

    True for: a storage backend's StoreError; a sqlite3 OperationalError or DatabaseError ("database is
    locked", a disk I/O error); psycopg's OperationalError and InterfaceError (connection lost);
    any RedisError; kombu's OperationalError (broker unreachable); a lock not acquired in time
    (TimeoutError from a Coordinator) or a CoordinationError; builtin ConnectionError; and an OSError
    whose errno is one of the machine's (ENOSPC, EIO, ...). False for everything else, including
    ValueError, RecordError and an OSError raised while decoding bytes (Pillow's refusals).
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _is_fault(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _is_fault(exc: BaseException) -> bool:
    if isinstance(exc, StoreError | CoordinationError | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, sqlite3.Error):
        return not isinstance(exc, _SQLITE_MISTAKES)
    if isinstance(exc, OSError):
        return exc.errno in _MACHINE_ERRNOS
    for module, names in (("redis.exceptions", ("RedisError",)),
                          ("psycopg", ("OperationalError", "InterfaceError")),
                          ("kombu.exceptions", ("OperationalError",)),
                          ("botocore.exceptions", ("BotoCoreError",))):
        mod = sys.modules.get(module)
        if mod is not None and isinstance(exc, tuple(getattr(mod, n) for n in names if hasattr(mod, n))):
            return True
    return False
