"""Which archiver tree a benchmark times: ``--root DIR`` on its command line (an older checkout, for
before/after figures), else the repository the benchmark sits in. Read from sys.argv before the
benchmark imports archiver, so the tree is put first on sys.path by the caller."""

from __future__ import annotations

import sys
from pathlib import Path


def tree_root() -> Path:
    """The tree to benchmark: ``--root DIR`` / ``--root=DIR`` (resolved), default this repository."""
    for i, a in enumerate(sys.argv):
        if a == "--root" and i + 1 < len(sys.argv):
            return Path(sys.argv[i + 1]).resolve()
        if a.startswith("--root="):
            return Path(a.split("=", 1)[1]).resolve()
    return Path(__file__).resolve().parent.parent
