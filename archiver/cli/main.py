"""The `archiver` command: archive articles, run the service, search, restore, verify evidence.

This module only builds the parser (archiver/cli/arguments.py), loads the module of the command that
runs (by the name its parser gives), loads the settings and maps errors to exit codes, by one rule for
every command (`run_command`): 0 done; 2 a user or configuration error, one line on stderr: a bad
argument (argparse, kept to one line by `OneLineParser`), an ArchiverError, a path that is missing,
a directory where a file is expected or the other way round, or not writable (an OSError naming a
path), ARCHIVER_HOME that cannot be used, storage, the catalog or the broker not answering (a closed
port, a wrong host); 1 an internal error, or a stored record the command needs found damaged
(`DamagedVersion`: one line naming the object and how to get it back) (one line; the traceback only with `--debug` or
ARCHIVER_DEBUG=1); 130 interrupted; 141 (as a shell reports a command that SIGPIPE ended) when
whoever reads stdout stops reading (`archiver search x | head -1`), or when the command, started
without a stdout (`>&-`), has something to print, with nothing on stderr.
What it prints of an error has its URLs' credentials masked (archiver.redact), control characters
escaped and its length bounded (`error_line`).
"""

from __future__ import annotations

import argparse
import atexit
import errno
import gc
import importlib
import logging
import os
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn
from urllib.parse import unquote, urlsplit

from archiver import __version__
from archiver.cli.arguments import GROUPS, register_all
from archiver.cli.output import ClosedStream, EscapingWriter, printable
from archiver.config.settings import Settings, load_settings
from archiver.errors import ArchiverError, ConfigError
from archiver.faults import is_infrastructure_error
from archiver.redact import redact_text

EXIT_INPUT = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130
EXIT_PIPE = 141
MAX_LINE = 400
# Commands that never touch ARCHIVER_HOME (they read only the files they are given).
NO_HOME = frozenset({"verify", "extract"})
# Commands that write under ARCHIVER_HOME whatever the storage and catalog are (the signing key, the
# beat's schedule).
HOME_ALWAYS = frozenset({"keys", "export", "beat"})
# Commands that only act on what was archived: a SQLite catalog file that does not exist is an error for
# them (a mistyped path or a lost catalog), not a new empty catalog answering "0 posts".
READS_ARCHIVE = frozenset({"search", "show", "export", "health"})
# Commands that act on what was archived: a local storage folder that does not exist is an error for
# them (a mistyped ARCHIVER_STORAGE or ARCHIVER_HOME), not a new empty folder made to find nothing in.
ACTS_ON_ARCHIVE = READS_ARCHIVE | {"reindex", "retry", "restore", "revert", "hold", "release", "takedown"}
# An OSError with one of these errnos, naming a path, is about a path the user gave or configured.
_PATH_ERRNOS = frozenset({errno.ENOENT, errno.EISDIR, errno.ENOTDIR, errno.EACCES, errno.EPERM, errno.EEXIST,
                          errno.ENAMETOOLONG, errno.ELOOP, errno.EROFS, errno.ENOSPC, errno.EDQUOT})


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (``archiver <command>: error: <message>
    (archiver <command> --help)``), exit 2, the message's control characters escaped and cut to
    MAX_LINE; subparsers are of this class too."""

    # Set by `main` when the command line is a search: an unknown "-word" there is a query's exclusion.
    search_hint = False
    # Set on a command's parser whose positionals may stand among its options (`archive a.html --json
    # b.html`): it parses with argparse's parse_known_intermixed_args.
    intermixed = False
    _intermixing = False

    def parse_known_args(self, args: list[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None) -> tuple[argparse.Namespace, list[str]]:
        """argparse's parse_known_args, intermixed for a parser marked `intermixed`."""
        if not self.intermixed or self._intermixing:
            return super().parse_known_args(args, namespace)
        args = sys.argv[1:] if args is None else list(args)
        tail: list[str] = []
        if "--" in args:  # Python 3.11's intermixed parse drops "--": what follows it is taken here
            cut = args.index("--")
            args, tail = args[:cut], args[cut + 1:]
        self._intermixing = True  # parse_known_intermixed_args calls this method twice
        try:
            namespace, extras = self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False
        many = [a.dest for a in self._get_positional_actions() if a.nargs == "*"]
        if many:  # values after an unknown option are still positionals: only the option is unknown
            more = [*[e for e in extras if e == "-" or not e.startswith("-")], *tail]
            extras = [e for e in extras if e != "-" and e.startswith("-")]
            setattr(namespace, many[-1], [*(getattr(namespace, many[-1], None) or []), *more])
        else:
            extras += tail
        return namespace, extras

    def error(self, message: str) -> NoReturn:
        """Print `message` as one line and exit 2 (for a search, an unknown ``-word`` gets the hint to put
        ``--`` before a query that starts with ``-``)."""
        if self.search_hint and re.search(r"unrecognized arguments:.*\s-[^-]", message):
            message += "; put -- before a query that starts with - (archiver search -- \"-word other\")"
        line = printable(f"{self.prog}: error: {message} (see {self.prog} --help)", MAX_LINE)
        self.exit(EXIT_INPUT, line + "\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The `archiver` parser with every command's subparser; with `command` (the word naming the
    command about to run), only the command groups up to the one defining it: building every
    command's parser is a good part of a short command's start-up (about 10 ms). A `command` no
    group defines gets them all, so its error lists every command as before."""
    p = OneLineParser(prog="archiver", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"archiver {__version__}")
    p.add_argument("--debug", action="store_true", help="on an internal error, print the traceback "
                   "(as ARCHIVER_DEBUG=1 does)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    if command is None:
        register_all(sub)
        return p
    for group in GROUPS:
        group(sub)
        if command in sub.choices:
            break
    return p


def command(run: str) -> Callable[[argparse.Namespace, Settings], int | None]:
    """The function a parser names as ``"<module>:<function>"`` of archiver/cli/, its module imported now:
    commands are loaded by name when they run, so `archiver --help` does not import every command's
    dependencies."""
    module, _, function = run.partition(":")
    handler: Callable[[argparse.Namespace, Settings], int | None] = getattr(
        importlib.import_module(f"archiver.cli.{module}"), function)
    return handler


def check_home(settings: Settings) -> None:
    """ConfigError (one line naming ARCHIVER_HOME) when the home is a file, or a directory this user
    cannot write, or does not exist and cannot be created (its nearest existing parent is not a
    writable directory). Nothing is created here."""
    home = settings.home_path
    if home.exists():
        if not home.is_dir():
            raise ConfigError(f"ARCHIVER_HOME {printable(str(home))} is a file, not a directory")
        if not os.access(home, os.W_OK | os.X_OK):
            raise ConfigError(f"ARCHIVER_HOME {printable(str(home))} is not writable by this user; "
                              "choose a directory it may write (ARCHIVER_HOME=...)")
        return
    parent = home.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"ARCHIVER_HOME {printable(str(home))} does not exist and cannot be created "
                          f"({printable(str(parent))} is not a writable directory)")


def check_locations(settings: Settings, *, stored: bool = False) -> None:
    """ConfigError (one line) when an explicitly configured SQLite catalog (ARCHIVER_CATALOG=sqlite:///...)
    or local storage (ARCHIVER_STORAGE=file:///...) outside ARCHIVER_HOME names a folder whose parent
    folder does not exist: archiver makes missing folders only under ARCHIVER_HOME (its default layout),
    so a mistyped path is said, not created. With `stored` (a command acting on what was archived), a
    configured local storage folder must itself exist. Nothing is created here."""
    home = settings.home_path
    places: list[tuple[str, str]] = []
    if settings.catalog.startswith("sqlite:///") and settings.catalog != "sqlite:///:memory:":
        places.append(("ARCHIVER_CATALOG", settings.catalog.removeprefix("sqlite:///")))
    if settings.storage.startswith("file:"):
        root = unquote(urlsplit(settings.storage).path)
        if root.startswith("/"):
            places.append(("ARCHIVER_STORAGE", root.rstrip("/") or "/"))
    for variable, place in places:
        path = Path(os.path.abspath(place))
        if path.is_relative_to(home):
            continue
        if not path.parent.is_dir():
            raise ConfigError(f"{variable}: the folder {printable(str(path.parent))} does not exist (a mistyped "
                              "path?); create it or correct the setting")
    if stored and settings.storage.startswith("file:"):
        root = Path(os.path.abspath(unquote(urlsplit(settings.storage).path) or "/"))
        if not root.is_dir():
            raise ConfigError(f"ARCHIVER_STORAGE: there is no storage folder {printable(str(root))}: nothing was "
                              "archived there (a mistyped path?)")


def needs_home(command: str, settings: Settings) -> bool:
    """Whether `command` writes under ARCHIVER_HOME with these settings: when storage or the catalog is
    the default one there (a local directory, SQLite), or for the commands of HOME_ALWAYS; never for
    those of NO_HOME."""
    if command in NO_HOME:
        return False
    return command in HOME_ALWAYS or not settings.storage or not settings.catalog


def error_line(text: str) -> str:
    """`text` as the line an error prints: credentials masked, control characters escaped, at most
    MAX_LINE characters."""
    return printable(redact_text(text), MAX_LINE)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def which_service(exc: BaseException) -> str:
    """Which service an infrastructure fault came from, as the setting that names it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        module = type(current).__module__.split(".")[0]
        if module == "psycopg" or (module == "sqlite3"):
            return "the catalog (ARCHIVER_CATALOG)"
        if module in ("redis", "kombu"):
            return "the broker (ARCHIVER_BROKER_URL)"
        if module in ("botocore", "boto3") or type(current).__name__ == "StoreError":
            return "storage (ARCHIVER_STORAGE)"
        current = current.__cause__ or current.__context__
    return "storage, the catalog or the broker"


def _path_error(exc: OSError) -> str | None:
    """The one line for an OSError about a path (`filename` set, a path errno), else None."""
    if exc.filename is None or exc.errno not in _PATH_ERRNOS:
        return None
    where = printable(os.fsdecode(exc.filename), 200)
    what = {errno.EISDIR: "is a directory, not a file", errno.ENOTDIR: "is not a directory (a part of it is a file)",
            errno.ENOENT: "no such file or directory", errno.EACCES: "permission denied",
            errno.EPERM: "permission denied", errno.EROFS: "read-only file system"}.get(
        exc.errno or 0, exc.strerror or type(exc).__name__)
    return f"{where}: {what}"


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush of what a closed pipe did not take
    prints no "Exception ignored" line."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _is_corrupt_sqlite(exc: BaseException) -> bool:
    """Whether `exc` is SQLite saying the catalog file is not a database or is damaged (what `archiver
    reindex` repairs), as opposed to a busy or locked one."""
    module = type(exc).__module__.split(".")[0]
    text = str(exc).lower()
    return module == "sqlite3" and type(exc).__name__ in ("DatabaseError", "OperationalError") and (
        "not a database" in text or "malformed" in text or "corrupt" in text)


def _is_damaged_version(exc: BaseException) -> bool:
    """Whether `exc` is an ``archiver.article.versions.DamagedVersion``. Looked up in ``sys.modules``,
    not imported: a process that never loaded that module cannot have raised one, and ``archiver
    --help`` or a command reading no version does not pay for importing it and the records behind it."""
    versions = sys.modules.get("archiver.article.versions")
    return versions is not None and isinstance(exc, versions.DamagedVersion)


def _is_broken_pipe(exc: BaseException) -> bool:
    return isinstance(exc, BrokenPipeError) or (isinstance(exc, OSError) and exc.errno == errno.EPIPE)


# What an interrupted command left, by command (others: nothing to finish).
_INTERRUPTED_HINTS = {
    "archive": "what was captured stays stored; archive it again, or `archiver retry ARTICLE_ID`, to finish",
    "retry": "what was captured stays stored; retry again to finish",
    "submit": "what was queued stays queued; submit again what was not",
    "demo": "run it again to finish",
    "reindex": "the catalog is incomplete; run `archiver reindex` again",
    "export": "the bundle is incomplete; export again",
    "restore": "each version is written whole or not at all; check `archiver show` and run it again",
}


def _interrupted_hint(command: str | None) -> str:
    """The end of the line an interrupted command prints: what it left, or that it stopped."""
    return _INTERRUPTED_HINTS.get(command or "", f"{command or 'the command'} stopped")


def run_command(args: argparse.Namespace, *, debug: bool) -> int:
    """Run the parsed command and map what it raises to the exit codes of this module's docstring,
    printing at most one line on stderr (and with `debug` the traceback of an internal error)."""
    sqlite_backend = None  # its create_missing is turned off for this command only (main may run in-process)
    try:
        settings = load_settings()
        if needs_home(args.command, settings):
            check_home(settings)
        if args.command not in NO_HOME:
            check_locations(settings, stored=args.command in ACTS_ON_ARCHIVE)
        if args.command in READS_ARCHIVE:
            sqlite_backend = importlib.import_module("archiver.catalog.sqlite").SqliteBackend
            sqlite_backend.create_missing = False
        run = command(args.run)
        _started()
        code = int(run(args, settings) or 0)
        sys.stdout.flush()
        return code
    except ArchiverError as exc:
        print(f"archiver: error: {error_line(str(exc))}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        # A bulk run says it itself (archiver/cli/bulk.py); any other command says it here, in one line.
        print(f"archiver: interrupted: {_interrupted_hint(args.command)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if _is_damaged_version(exc):
            # Stored data found damaged is not the user's error, yet no traceback explains it better.
            print(f"archiver: error: {error_line(str(exc))}", file=sys.stderr)
            return EXIT_INTERNAL
        if _is_broken_pipe(exc):
            _quiet_stdout()
            return EXIT_PIPE
        logging.getLogger("archiver").debug("error", exc_info=True)
        if _is_corrupt_sqlite(exc):
            print(f"archiver: error: the catalog (ARCHIVER_CATALOG) is not a readable SQLite database "
                  f"({error_line(_first_line(exc))}): move the file aside and run `archiver reindex` to rebuild it "
                  "from storage", file=sys.stderr)
            return EXIT_INPUT
        if is_infrastructure_error(exc) and not isinstance(exc, OSError):
            print(f"archiver: error: {which_service(exc)} did not answer: "
                  f"{error_line(f'{type(exc).__name__}: {_first_line(exc)}')}", file=sys.stderr)
            return EXIT_INPUT
        line = _path_error(exc) if isinstance(exc, OSError) else None
        if line is None and isinstance(exc, OSError) and is_infrastructure_error(exc):
            line = f"this machine: {exc.strerror or type(exc).__name__} (a full disk, no memory or no descriptors?)"
        if line is not None:
            print(f"archiver: error: {error_line(line)}", file=sys.stderr)
            return EXIT_INPUT
        if debug:
            raise
        print(f"archiver: internal error: {error_line(f'{type(exc).__name__}: {_first_line(exc)}')} "
              "(--debug shows the traceback)", file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        if sqlite_backend is not None:
            sqlite_backend.create_missing = True


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code (argparse exits 2 itself on bad arguments). Everything the
    command prints as text, on stdout and stderr (its log too), goes through `EscapingWriter`: control,
    C1 and bidirectional characters shown escaped, whichever command prints them."""
    out, err = sys.stdout, sys.stderr
    # A stream the process was started without (`>&-`): stdout as a pipe nobody reads (exit 141).
    sys.stdout = EscapingWriter(out if out is not None else ClosedStream(1))  # type: ignore[assignment]
    sys.stderr = EscapingWriter(err if err is not None else ClosedStream(2, broken=False))  # type: ignore[assignment]
    try:
        given = sys.argv[1:] if argv is None else argv
        OneLineParser.search_hint = "search" in given[:3]
        # The command is the first word that is not an option (`archiver --debug archive ...`).
        args = build_parser(next((a for a in given if not a.startswith("-")), None)).parse_args(argv)
        logging.basicConfig(level=os.environ.get("ARCHIVER_LOG_LEVEL", "WARNING").upper(),
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
        return run_command(args, debug=args.debug or bool(os.environ.get("ARCHIVER_DEBUG")))
    finally:
        sys.stdout, sys.stderr = out, err


# Set by `console` while the command starts up with the cyclic garbage collector off (see there).
_STARTING_WITHOUT_GC = False


def _started() -> None:
    """The command's modules and the settings are loaded: what start-up made lives as long as the
    process, so it is frozen out of the collector's reach (``gc.freeze``) and the collector, off since
    ``console`` began, is on again for the command's own objects."""
    global _STARTING_WITHOUT_GC
    if _STARTING_WITHOUT_GC:
        _STARTING_WITHOUT_GC = False
        gc.freeze()
        gc.enable()


def console() -> NoReturn:
    """The `archiver` console script (and ``python -m archiver.cli``): ``main()``, then the process ends
    without the interpreter's teardown when nothing is left for it to do.

    That teardown frees every module and object one by one: about 100 ms after an ``archive`` run,
    which loads some 600 modules, a fifth of the command's wall time. Once no other non-daemon thread
    is running, the atexit handlers run as they would (logging's flush, the image workers' end,
    ``weakref.finalize`` callbacks such as temporary directories' removal), stdout and stderr are
    flushed, and ``os._exit`` ends the process with the command's code; every command has closed what
    it opened (``with`` blocks) and written its data before returning. A thread still running gets the
    ordinary exit, which waits for it. SystemExit from argparse (``--help``, a bad argument) ends it
    the same way; one carrying a message (not a number) goes on as Python handles it.

    Start-up runs with the cyclic garbage collector off, until the command's modules and the settings
    are loaded (``_started``): the objects made then (modules, classes, models) live as long as the
    process, and the collector's passes over them cost an ``archive`` run about 35 ms.
    A command that runs for hours (``serve``, a bulk ``archive``) has the collector as usual for
    everything it makes.

    Pydantic's plugins are not loaded (``PYDANTIC_DISABLE_PLUGINS``, unless the environment sets it):
    finding them reads the entry points of every installed distribution when the first model is built,
    about 4 ms of every command, and archiver uses none. Setting the variable to "" loads them again."""
    global _STARTING_WITHOUT_GC
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    if gc.isenabled():
        gc.disable()
        _STARTING_WITHOUT_GC = True
    try:
        code = main()
    except SystemExit as exc:
        if exc.code is not None and (isinstance(exc.code, bool) or not isinstance(exc.code, int)):
            raise
        code = exc.code or 0
    exit_now(code)


def exit_now(code: int) -> NoReturn:
    """End the process with `code` as described in ``console`` (the ordinary ``sys.exit`` while another
    non-daemon thread runs). A stdout that can no longer be written (a closed pipe) makes it 141."""
    main_thread = threading.main_thread()
    if any(t is not main_thread and t.is_alive() and not t.daemon for t in threading.enumerate()):
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            if stream is sys.stdout and code == 0:
                code = EXIT_PIPE
    os._exit(code)


if __name__ == "__main__":
    console()
