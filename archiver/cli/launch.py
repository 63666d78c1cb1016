"""The `archiver` console script's first step: start what the command will need, then import it.

A command that captures (``archive``, ``demo``, ``retry``) needs an image worker for its first image
or card: another interpreter that loads Pillow, the fonts and the card templates (about 110 ms). It
is started here, in the background, before anything else is imported, so it comes up while the
command's modules and settings load (about 150 ms) instead of after them (``imagepool.start_ahead``;
the pool made later takes it). Everything else is ``archiver.cli.main.console``.
"""

from __future__ import annotations

import importlib
import sys
from typing import NoReturn

# The commands that capture, and so use image workers.
CAPTURING = frozenset({"archive", "demo", "retry"})
# Options after which such a command captures nothing here: it prints and exits, or only queues.
NOT_CAPTURING = ("--help", "--version", "--queue")


def _asks(arg: str) -> bool:
    """Whether `arg` is -h or one of NOT_CAPTURING, or (argparse accepts them) a prefix of one of those
    at least 3 characters long, "--he", "--que=1" and the like."""
    name = arg.split("=", 1)[0]
    return name == "-h" or (len(name) >= 3 and name.startswith("--") and any(o.startswith(name) for o in NOT_CAPTURING))


def console() -> NoReturn:
    """The `archiver` console script (and ``python -m archiver.cli``): one image worker started ahead
    for a capturing command (not with ``--help`` or ``--version``, nor for ``retry --queue``, which
    only queues; argparse's abbreviations of them included),
    then ``archiver.cli.main.console``."""
    given = sys.argv[1:]
    command = next((a for a in given if not a.startswith("-")), None)
    if command in CAPTURING and not any(_asks(a) for a in given):
        importlib.import_module("archiver.capture.imagepool").start_ahead()
    # By name, after the worker is on its way: importing the command line is most of the start-up.
    importlib.import_module("archiver.cli.main").console()
