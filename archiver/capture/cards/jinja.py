"""The one Jinja2 environment of the cards' templates (``templates/`` inside the package), built on
first use: Jinja2 is about 15 ms of imports that a run rendering no card does not pay for.

Autoescaped, with StrictUndefined: a value the template names but the caller did not give is an
error, not an empty string.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jinja2 import Environment, Template

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
                # Imported here, not at module level: see the module's docstring.
                from jinja2 import Environment, PackageLoader, StrictUndefined

                _ENV = Environment(loader=PackageLoader("archiver.capture.cards", "templates"), autoescape=True,
                                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return _ENV


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
