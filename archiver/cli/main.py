"""The `archiver` command: archive articles, run the service, search, restore, verify evidence.

This module only builds the parser (archiver/cli/arguments.py), loads the module of the command that
runs (by the name its parser gives), loads the settings and maps errors to exit codes: 0 done, 2 bad
input or configuration (ArchiverError: one line on stderr), 1 internal error (one line; the traceback only with
ARCHIVER_DEBUG=1), 130 interrupted. What it prints of an error has its URLs' credentials masked (archiver.redact).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable

from archiver import __version__
from archiver.cli.arguments import register_all
from archiver.config.settings import Settings, load_settings
from archiver.errors import ArchiverError
from archiver.faults import is_infrastructure_error
from archiver.redact import redact_text

EXIT_INPUT = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    """The `archiver` parser with every command's subparser."""
    p = argparse.ArgumentParser(prog="archiver", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"archiver {__version__}")
    register_all(p.add_subparsers(dest="command", required=True))
    return p


def command(run: str) -> Callable[[argparse.Namespace, Settings], int | None]:
    """The function a parser names as ``"<module>:<function>"`` of archiver/cli/, its module imported now:
    commands are loaded by name when they run, so `archiver --help` does not import every command's
    dependencies."""
    module, _, function = run.partition(":")
    handler: Callable[[argparse.Namespace, Settings], int | None] = getattr(
        importlib.import_module(f"archiver.cli.{module}"), function)
    return handler


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code (argparse exits 2 itself on bad arguments)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=os.environ.get("ARCHIVER_LOG_LEVEL", "WARNING").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        settings = load_settings()
        return int(command(args.run)(args, settings) or 0)
    except ArchiverError as exc:
        print(f"archiver: error: {redact_text(str(exc))}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:
        if os.environ.get("ARCHIVER_DEBUG"):
            raise
        logging.getLogger("archiver").debug("internal error", exc_info=True)
        first = redact_text(str(exc).strip().splitlines()[0]) if str(exc).strip() else ""
        if is_infrastructure_error(exc):
            print(f"archiver: error: storage, the catalog or the broker did not answer: {type(exc).__name__}: "
                  f"{first}", file=sys.stderr)
        else:
            print(f"archiver: internal error: {type(exc).__name__}: {first} (ARCHIVER_DEBUG=1 shows details)",
                  file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
