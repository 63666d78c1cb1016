"""Every CLI command, by group: each module defines `register(subparsers)` and adds its subcommands;
`archiver.cli.main` calls `register_all`. The order of COMMAND_MODULES is the order of `archiver --help`.

A command function takes (args, settings) and returns the exit code; errors the user can act on
are raised as archiver.errors.ArchiverError (main prints them as one line and exits 2).
"""

from __future__ import annotations

import argparse

from archiver.cli import access, articles, demo, health, search, service

COMMAND_MODULES = (articles, demo, service, access, health, search)


def register_all(sub: argparse._SubParsersAction) -> None:
    """Add every group's subcommands to `sub`, the `archiver` parser's subparsers."""
    for module in COMMAND_MODULES:
        module.register(sub)
