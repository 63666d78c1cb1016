"""The one Jinja2 environment of the cards' templates (``templates/`` inside the package), built on
first use: Jinja2 is about 15 ms of imports that a run rendering no card does not pay for.

Autoescaped, with StrictUndefined: a value the template names but the caller did not give is an
error, not an empty string.

Compiled templates are kept between processes in Jinja2's own bytecode cache
(``FileSystemBytecodeCache``: a folder ``_jinja2-cache-<uid>`` of the temp directory, mode 0700,
which Jinja2 refuses to use when another user owns it or could write to it; each entry carries the
template source's checksum and the Python version, and is written to a temporary file and renamed).
Compiling the card templates holds the interpreter lock for about 140 ms, which every `archiver`
process and every worker start paid before its first card; loading them from the cache takes a few
milliseconds. Without a usable cache folder templates are compiled as before.
"""

from __future__ import annotations

import contextlib
import threading
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
    """Jinja2's per-user bytecode cache in the temp directory (see the module's docstring), or None when
    that folder cannot be made or is not safe (Jinja2 checks its owner and mode)."""
    from jinja2 import FileSystemBytecodeCache

    class _Cache(FileSystemBytecodeCache):
        """Jinja2's cache, except that an entry it cannot read (cut short, damaged: Jinja2 lets pickle's
        and marshal's errors through) or cannot write is a miss: the template is compiled as without one."""

        def load_bytecode(self, bucket: Bucket) -> None:
            try:
                super().load_bytecode(bucket)
            except Exception:  # any unreadable entry; the checksum guards a readable one
                bucket.reset()

        def dump_bytecode(self, bucket: Bucket) -> None:
            with contextlib.suppress(OSError):
                super().dump_bytecode(bucket)

    try:
        return _Cache()
    except (OSError, RuntimeError):
        return None


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
