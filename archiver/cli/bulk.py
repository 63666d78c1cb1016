"""Many articles in one command: `archiver archive` and `archiver submit` given several sources or
`--from-file`.

`bulk_sources` decides whether a command line is a bulk one (several SOURCEs, or --from-file) and
refuses the article flags that name one article (--base-url, --article-id, --wait) with the same one
line and exit 2 as any usage error. `run_bulk` runs one function per source on a bounded thread pool
and reports each article as it finishes, from the main thread only: with `--json` one JSON line on
stdout (the answer plus "input", the source as given; or {"input", "error", "exit"}); on a terminal
(stderr is a tty) a progress bar on stderr (tqdm, imported only then) with error lines above it;
otherwise one short line per article on stdout. A source that fails is reported by the rule
`archiver.cli.main` applies to a whole command (exit 2: an unusable source, a user or configuration
error, a service not answering; 1: an internal error) and the others still run; the command ends
with ``N archived, M failed`` on stderr and exits 1 if an internal error struck any source, else 2
if any source failed, else 0. Ctrl-C stops starting new articles; what finished stays finished (the
articles already running end under their own deadline before the process exits), and the command
exits 130.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from archiver.article.versions import DamagedVersion
from archiver.cli.kinds import article_source, shown
from archiver.cli.main import EXIT_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED, OneLineParser, error_line
from archiver.cli.output import json_text, printable
from archiver.errors import ArchiverError, InputError
from archiver.faults import is_infrastructure_error

log = logging.getLogger(__name__)
# The flags that name one article: refused with several sources.
ONE_ARTICLE_FLAGS = (("base_url", "--base-url"), ("article_id", "--article-id"), ("wait", "--wait"))


def usage_error(args: argparse.Namespace, message: str) -> None:
    """Exit 2 with the one line a usage error of `archiver <command>` prints (OneLineParser's)."""
    OneLineParser(prog=f"archiver {args.command}").error(message)


def bulk_sources(args: argparse.Namespace) -> list[str] | None:
    """The sources of a bulk command line (several SOURCEs, then --from-file's lines), or None when it
    names one article (one SOURCE, no --from-file), that SOURCE then checked as a single source is
    (a file, '-', or an http(s) URL) and left in `args.source` as a string. Exits 2 (`usage_error`) for
    no source at all, a SOURCE that cannot be read when it is the only one, '-' given twice, or a flag
    of ONE_ARTICLE_FLAGS with several sources. A --from-file list is read whole here (UTF-8; its blank
    lines and lines starting with '#' skipped; each line stripped of surrounding blanks)."""
    given: list[str] = list(args.source)
    from_file = getattr(args, "from_file", None)
    if not given and from_file is None:
        usage_error(args, "give a SOURCE (a file, '-' or an http(s) URL) or --from-file FILE")
    if len(given) == 1 and from_file is None:
        try:
            args.source = article_source(given[0])
        except argparse.ArgumentTypeError as exc:
            usage_error(args, f"argument source: {exc}")
        return None
    if given.count("-") + (from_file == "-") > 1:
        usage_error(args, "stdin can be read once: give '-' as one SOURCE or as --from-file's FILE, not both")
    for attr, flag in ONE_ARTICLE_FLAGS:
        if getattr(args, attr, None) is not None:
            usage_error(args, f"{flag} names one article: give it with one SOURCE only")
    if from_file is not None:
        given += list(list_lines(from_file))
    return given


def list_lines(from_file: str) -> Iterator[str]:
    """The sources a --from-file list names: '-' is stdin; blank lines and '#' comments skipped."""
    if from_file == "-":
        text = sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
    else:
        with open(from_file, "rb") as fh:
            text = fh.read().decode("utf-8", "surrogateescape")
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            yield line


class StdinOnce:
    """Hands stdin to one source only: a second '-' (or '-' when the list itself came from stdin) is an
    InputError for that source."""

    def __init__(self, taken: bool) -> None:
        self._taken = taken
        self._lock = threading.Lock()

    def check(self, source: str) -> str:
        """`source` checked as a source of its own (article_source): InputError for a missing file, a bad
        URL or stdin read already."""
        if source == "-":
            with self._lock:
                if self._taken:
                    raise InputError("'-': stdin was read already (by --from-file - or an earlier '-')")
                self._taken = True
            return source
        try:
            return article_source(source)
        except argparse.ArgumentTypeError as exc:
            raise InputError(str(exc)) from None


def failure(exc: BaseException) -> tuple[int, str]:
    """(exit status, message) of what one source raised, by the rule `archiver.cli.main` applies to a
    whole command: 2 for an ArchiverError, a service not answering or a path error, 1 otherwise."""
    first = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, ArchiverError):
        return EXIT_INPUT, str(exc)
    if isinstance(exc, DamagedVersion):
        return EXIT_INTERNAL, str(exc)
    if isinstance(exc, OSError) and exc.filename is not None and not is_infrastructure_error(exc):
        return EXIT_INPUT, f"{exc.filename}: {exc.strerror or type(exc).__name__}"
    if is_infrastructure_error(exc):
        return EXIT_INPUT, f"storage, the catalog or the broker did not answer: {type(exc).__name__}: {first}"
    return EXIT_INTERNAL, f"{type(exc).__name__}: {first}"


class Reporter:
    """What a bulk command prints as each article finishes; used from one thread."""

    def __init__(self, total: int, *, as_json: bool, done_word: str,
                 line: Callable[[str, dict[str, Any]], str]) -> None:
        self.as_json = as_json
        self.done_word = done_word
        self.line = line
        self.done = 0
        self.failed = 0
        self.worst = 0
        self.bar: Any = None
        if sys.stderr.isatty():
            from tqdm import tqdm  # only when a bar is shown: it is not needed otherwise

            # The bar is our own text: it goes to the terminal itself, not through the escaping writer
            # that would show its carriage returns as \u000d.
            raw = getattr(sys.stderr, "inner", sys.stderr)
            self.bar = tqdm(total=total, unit="article", file=raw, dynamic_ncols=True, leave=True)

    def _out(self, text: str, *, err: bool = False) -> None:
        stream = sys.stderr if err else sys.stdout
        if self.bar is not None:  # a line above the bar: clear the bar, write, draw it again
            self.bar.clear()
        stream.write(text + "\n")
        stream.flush()
        if self.bar is not None:
            self.bar.refresh()

    def finished(self, source: str, answer: dict[str, Any]) -> None:
        """One article done: its JSON line (the answer plus "input", the source as given), or its short
        line when no bar is shown."""
        self.done += 1
        if self.as_json:
            self._out(json_text({"input": source, **answer}, indent=None))
        elif self.bar is None:
            self._out(printable(self.line(source, answer), 10_000))
        self._step()

    def failed_with(self, source: str, code: int, message: str) -> None:
        """One source failed: its error line on stderr (and its JSON record with --json)."""
        self.failed += 1
        self.worst = EXIT_INTERNAL if EXIT_INTERNAL in (code, self.worst) else max(self.worst, code)
        named = message if message.startswith(shown(source)) else f"{shown(source)}: {message}"
        what = "internal error" if code == EXIT_INTERNAL else "error"
        if self.as_json:
            self._out(json_text({"input": source, "error": message, "exit": code}, indent=None))
        self._out(f"archiver: {what}: {error_line(named)}", err=True)
        self._step()

    def note(self, text: str) -> None:
        """A line of the command's own on stderr (above the bar when one is shown)."""
        self._out(printable(text, 10_000), err=True)

    def _step(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def summary(self, *, left: int = 0) -> None:
        """The closing line on stderr: ``N <done_word>, M failed`` (and what an interrupt left undone)."""
        if self.bar is not None:
            self.bar.close()
        tail = f", {left} not done (interrupted)" if left else ""  # not started, or still running
        sys.stdout.flush()
        print(f"{self.done} {self.done_word}, {self.failed} failed{tail}", file=sys.stderr)


def run_bulk(sources: list[str], work: Callable[[str], dict[str, Any]], reporter: Reporter, *,
             workers: int) -> int:
    """Run `work(source)` for every source, at most `workers` at once, reporting each as it finishes
    (`reporter`, from this thread); returns the exit status of the module's docstring. `work` raises
    what one source's failure is (see `failure`). A first Ctrl-C starts no more sources and reports
    those running as they finish; a second stops reporting (they still end, under their deadlines,
    before the process exits)."""
    todo = iter(sources)
    running: dict[Future[dict[str, Any]], str] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="article")
    interrupted = False

    def start_next() -> None:
        source = None if interrupted else next(todo, None)
        if source is not None:
            running[pool.submit(work, source)] = source

    def report(fut: Future[dict[str, Any]]) -> None:
        source = running.pop(fut)
        exc = fut.exception()
        if exc is None:
            reporter.finished(source, fut.result())
            return
        if not isinstance(exc, ArchiverError):
            log.debug("%s failed", source, exc_info=exc)
        reporter.failed_with(source, *failure(exc))

    for _ in range(max(1, workers)):
        start_next()
    while running:
        try:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                report(fut)
                start_next()
        except KeyboardInterrupt:
            if interrupted:
                break
            interrupted = True
            reporter.note(f"interrupted: no more articles start; the {len(running)} running finish "
                          "(Ctrl-C again to stop waiting)")
    pool.shutdown(wait=False, cancel_futures=True)
    left = len(running) + sum(1 for _ in todo)
    reporter.summary(left=left)
    return EXIT_INTERRUPTED if interrupted else reporter.worst
