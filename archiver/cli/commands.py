"""CLI commands of each feature area: every command module defines `register(subparsers)` and adds its
subcommands; `archiver.cli.main` calls `register_all`.

A command function takes (args, settings) and returns the exit code; errors the user can act on
are raised as archiver.errors.ArchiverError.
"""

from __future__ import annotations

import argparse

from archiver.cli import access, health, search

COMMAND_MODULES = (access, health, search)


def register_all(sub: argparse._SubParsersAction) -> None:
    for module in COMMAND_MODULES:
        module.register(sub)
