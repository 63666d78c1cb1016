"""The one Jinja2 environment of the cards' templates (``templates/`` inside the package), built on
first use: Jinja2 is about 15 ms of imports that a run rendering no card does not pay for.

Autoescaped, with StrictUndefined: a value the template names but the caller did not give is an
error, not an empty string.

Compiled templates are kept between processes in Jinja2's own bytecode cache
(``FileSystemBytecodeCache``; each entry carries the template source's checksum and the Python
version, and is written to a temporary file and renamed) in a folder ``archiver-jinja-<uid>`` of the
temp directory. The folder is made 0700 and used only when ``lstat`` shows a real directory owned by
this user that no one else may write to; it is never chmod'ed and no link is followed (Jinja2's own
default folder chmods what it finds at its path, following a symlink another user may have planted in
a shared /tmp: as root, that made any file 0700).
Compiling the card templates holds the interpreter lock for about 140 ms, which every `archiver`
process and every worker start paid before its first card; loading them from the cache takes a few
milliseconds. Without a usable cache folder templates are compiled as before.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import threading
import types
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jinja2 import BytecodeCache, Environment, Template
    from jinja2.bccache import Bucket

_LOCK = threading.Lock()
_ENV: Environment | None = None
_TEMPLATES: dict[str, Template] = {}


def environment() -> Environment:
    """The shared environment, built once per process (under a lock: threads rendering cards at once
    share one)."""
    global _ENV
    if _ENV is None:
        with _LOCK:
            if _ENV is None:
                _ENV = new_environment(bytecode_cache())
    return _ENV


def new_environment(cache: BytecodeCache | None) -> Environment:
    """A new environment of the cards' templates, keeping compiled templates in ``cache`` (None: none).
    Most callers want the shared one (`environment`)."""
    # Imported here, not at module level: see the module's docstring.
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(loader=PackageLoader("archiver.capture.cards", "templates"), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, bytecode_cache=cache)


def bytecode_cache() -> BytecodeCache | None:
    """Jinja2's bytecode cache in this user's folder of the temp directory (see the module's docstring),
    or None when that folder cannot be made or is not safe (`_cache_folder`)."""
    from jinja2 import FileSystemBytecodeCache

    class _Cache(FileSystemBytecodeCache):
        """Jinja2's cache, except that an entry it cannot read (cut short, damaged: Jinja2 lets pickle's
        and marshal's errors through) or cannot write is a miss: the template is compiled as without one."""

        def load_bytecode(self, bucket: Bucket) -> None:
            try:
                found = os.lstat(self._get_cache_filename(bucket))
            except OSError:
                return  # no entry yet: a miss
            if not stat.S_ISREG(found.st_mode):
                return  # a FIFO, a device or a link where an entry goes: opening it could block, so a miss
            try:
                super().load_bytecode(bucket)
            except Exception:  # any unreadable entry; the checksum guards a readable one
                bucket.reset()
            if bucket.code is not None and not isinstance(bucket.code, types.CodeType):
                bucket.reset()  # a damaged entry that unmarshals to something else: compiled again

        def dump_bytecode(self, bucket: Bucket) -> None:
            with contextlib.suppress(OSError):
                super().dump_bytecode(bucket)

    folder = _cache_folder()
    return None if folder is None else _Cache(folder)


def _cache_folder() -> str | None:
    """``<temp dir>/archiver-jinja-<uid>``, made 0700 if missing; None unless it is a directory (not a
    link) owned by this user with no access for group or others. Nothing found there is changed."""
    path = os.path.join(tempfile.gettempdir(), f"archiver-jinja-{os.getuid()}")
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    try:
        found = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid() or stat.S_IMODE(found.st_mode) & 0o077:
        return None
    return path


def template(name: str) -> Template:
    """The template ``name`` (e.g. ``"card.html"``), compiled once per process; jinja2's TemplateNotFound
    when there is none. Under the lock: Jinja2's own cache lets threads asking for a template not yet
    cached compile it each (about 70 ms for the card templates), which the capture threads of a bulk
    run did about ten times over."""
    found = _TEMPLATES.get(name)
    if found is None:
        env = environment()
        with _LOCK:
            found = _TEMPLATES.get(name)
            if found is None:
                found = _TEMPLATES[name] = env.get_template(name)
    return found
