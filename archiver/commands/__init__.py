"""CLI commands of each feature area, kept beside nothing else: every module here defines
`register(subparsers)` and adds its subcommands; `archiver.cli` calls each one.

A command function takes (args, settings) and returns the exit code; errors the user can act on
are raised as archiver.errors.ArchiverError.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil


def register_all(sub: argparse._SubParsersAction) -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        importlib.import_module(f"{__name__}.{info.name}").register(sub)
