"""Default factories shared by pydantic models and plain dataclasses, in a module that imports
nothing: discovery's dataclasses use them without loading pydantic (``records.base`` re-exports them).
"""

from __future__ import annotations

from typing import Any


def empty_list() -> list[Any]:
    """A new empty list, the ``default_factory`` of list fields: pydantic reads a factory's signature,
    and the builtin ``list``'s costs a parse of its text signature (ms at start-up); this one's is free."""
    return []
