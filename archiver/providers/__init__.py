"""Provider registry: the one place that maps a provider name from discovery to its capture.

A platform with its own capture is one module here, ``archiver/providers/<name>.py``, defining
``PROVIDER = "<name>"`` and ``make_provider()``; it is found by name, nothing else to register.
Every other platform gets the generic markup capture (what the publisher's embed carries).
"""

from __future__ import annotations

import importlib
import re

from archiver.providers.base import Provider


def get_provider(name: str) -> Provider:
    """The capture for ``name`` ("twitter", "youtube", ...). Raises ValueError for a malformed name."""
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", name):
        raise ValueError(f"not a provider name: {name!r}")
    module_name = f"{__name__}.{name}"
    try:
        module = importlib.import_module(module_name) if "-" not in name else None
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        module = None
    if module is not None and getattr(module, "PROVIDER", None) == name and hasattr(module, "make_provider"):
        return module.make_provider()
    from archiver.providers.markup import MarkupProvider

    return MarkupProvider(name)
