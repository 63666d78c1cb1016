"""What every command prints the same way: JSON on stdout, human-readable UTF-8, indented."""

from __future__ import annotations

import json
import sys
from typing import Any


def print_json(obj: Any) -> None:
    """`obj` as indented JSON on stdout, non-ASCII characters as they are."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2) + "\n")
