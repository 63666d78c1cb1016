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
error, a service not answering; 1: an internal error) and the others still run; its error names it
once (the JSON record's "error" does not name it at all: "input" does), and JSON strings hold the real
text, escaped only as JSON must. The command ends with ``N archived, M failed`` on stderr and exits 1
if an internal error struck any source, else 2 if any source failed, else 0. Storage, the catalog or
the broker failing (archiver.faults) is reported once and starts no more sources: the rest are
counted as ``K not done``, exit 2. Ctrl-C stops starting new articles; what finished stays finished
(the articles already running end under their own deadline before the process exits), and the
command exits 130.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from archiver.article.versions import DamagedVersion
from archiver.cli.kinds import article_source, shown
from archiver.cli.main import EXIT_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED, OneLineParser, error_line, which_service
from archiver.cli.output import json_text, printable
from archiver.errors import ArchiverError, InputError
from archiver.faults import is_infrastructure_error
from archiver.redact import redact_url

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
    of ONE_ARTICLE_FLAGS with several sources. A --from-file list is read whole here (`list_lines`)."""
    given: list[str] = list(args.source)
    from_file = getattr(args, "from_file", None)
    if not given and from_file is None:
        usage_error(args, "give a SOURCE (a file, '-' or an http(s) URL) or --from-file FILE")
    if len(given) == 1 and from_file is None and not getattr(args, "null", False):
        try:
            args.source = check_source(given[0])
        except SourceError as exc:
            usage_error(args, f"argument source: {exc}")
        return None
    if given.count("-") + (from_file == "-") > 1:
        usage_error(args, "stdin can be read once: give '-' as one SOURCE or as --from-file's FILE, not both")
    for attr, flag in ONE_ARTICLE_FLAGS:
        if getattr(args, attr, None) is not None:
            usage_error(args, f"{flag} names one article: give it with one SOURCE only")
    null = bool(getattr(args, "null", False))
    if null and from_file is None:
        usage_error(args, "-0 (--null) says how --from-file's names end: give it with --from-file")
    if from_file is not None:
        given += list(list_lines(from_file, null=null))
    return given


def list_lines(from_file: str, *, null: bool = False) -> Iterator[str]:
    """The sources a --from-file list names ('-': the list is stdin), one per line as a file name may
    hold any character but newline and NUL: the bytes are UTF-8 (a byte-order mark at the start is
    dropped; a byte that is not UTF-8 is kept through surrogateescape, so a file name that is not UTF-8
    still opens), split on newline only (one carriage return ending a line is dropped: CRLF lists
    work), each line stripped of the spaces and tabs around it; blank lines and lines starting with
    '#' are skipped. Other separators (form feed, U+2028, ...) are part of the name. With `null`
    (``-0``, what ``find -print0`` writes) each name ends with a NUL byte and is taken exactly as it
    is (any byte but NUL, no byte-order mark, blank or comment rule); empty names are skipped."""
    if from_file == "-":
        data = stdin_bytes(what="--from-file -")
    else:
        with open(from_file, "rb") as fh:
            data = fh.read()
    if null:
        yield from (name for name in data.decode("utf-8", "surrogateescape").split("\0") if name)
        return
    for line in data.decode("utf-8-sig", "surrogateescape").split("\n"):
        line = line.removesuffix("\r").strip(" \t")
        if line and not line.startswith("#"):
            yield line


def stdin_bytes(limit: int = -1, *, what: str = "'-'") -> bytes:
    """Up to `limit` bytes of stdin (all with -1). InputError naming `what` when the process was started
    without a stdin (``<&-``: Python's sys.stdin is None)."""
    if sys.stdin is None:
        raise InputError(f"{what}: there is no stdin to read (it was closed)")
    return sys.stdin.buffer.read(limit)


class SourceError(InputError):
    """A source that cannot be used. `reason` says why without naming the source (what a bulk command's
    JSON record holds next to "input", the source itself); str() names it once, display-escaped
    (`shown`), as the line a terminal shows: `line` when given, else "'<source>': <reason>"."""

    def __init__(self, source: str, reason: str, line: str | None = None) -> None:
        super().__init__(line if line is not None else f"{shown(source)}: {reason}")
        self.source = source
        self.reason = reason


def check_source(source: str) -> str:
    """`source` checked as an article source (`article_source`: '-', an http(s) URL or a readable file);
    the source itself. SourceError for anything that cannot be one, including what cannot be a path at
    all (a NUL byte: ValueError from the operating system's call)."""
    try:
        return article_source(source)
    except argparse.ArgumentTypeError as exc:
        line = str(exc)
        reason = line
        for prefix in (shown(source), shown(redact_url(source))):  # the check's message names the value
            if line.startswith(prefix):
                reason = line[len(prefix):].removeprefix(":").strip() or line
                break
        raise SourceError(source, reason, line) from None
    except ValueError as exc:
        raise SourceError(source, f"cannot be a file name or a URL ({exc})") from None


class StdinOnce:
    """Hands stdin to one source only: a second '-' (or '-' when the list itself came from stdin) is an
    InputError for that source."""

    def __init__(self, taken: bool) -> None:
        self._taken = taken
        self._lock = threading.Lock()

    def check(self, source: str) -> str:
        """`source` checked as a source of its own (`check_source`): SourceError for a missing file, a bad
        URL, what cannot be either, or stdin read already."""
        if source == "-":
            with self._lock:
                if self._taken:
                    raise SourceError(source, "stdin was read already (by --from-file - or an earlier '-')")
                self._taken = True
            return source
        return check_source(source)


def failure(exc: BaseException, source: str) -> tuple[int, str]:
    """(exit status, reason) of what one source raised, by the rule `archiver.cli.main` applies to a
    whole command: 2 for an ArchiverError, a service not answering or a path error, 1 otherwise. The
    reason never names `source` (it is named once, where the failure is printed) and is the real text,
    not escaped for a terminal."""
    first = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, SourceError):
        return EXIT_INPUT, exc.reason
    if isinstance(exc, ArchiverError):
        return EXIT_INPUT, str(exc)
    if isinstance(exc, DamagedVersion):
        return EXIT_INTERNAL, str(exc)
    if isinstance(exc, OSError) and exc.filename is not None and not is_infrastructure_error(exc):
        where = os.fsdecode(exc.filename)
        what = exc.strerror or type(exc).__name__
        return EXIT_INPUT, what if where == source else f"{where}: {what}"
    if is_infrastructure_error(exc):
        return EXIT_INPUT, f"{which_service(exc)} did not answer: {type(exc).__name__}: {first}"
    return EXIT_INTERNAL, f"{type(exc).__name__}: {first}"


def is_service_fault(exc: BaseException) -> bool:
    """Whether `exc` says storage, the catalog or the broker is in trouble (archiver.faults), so the
    sources after it would meet the same fault. An InputError is about its source, whatever it was
    raised while handling (a page whose host refused the connection)."""
    return not isinstance(exc, InputError) and is_infrastructure_error(exc)


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

    def failed_with(self, source: str, code: int, reason: str, line: str | None = None) -> None:
        """One source failed: its error line on stderr naming it once (`line`, else "'<source>':
        <reason>"), and with --json its record {"input", "error": reason, "exit": code}, both strings
        real text (json_text escapes what JSON must; the terminal's writer what a terminal would act
        on)."""
        self.failed += 1
        self.worst = EXIT_INTERNAL if EXIT_INTERNAL in (code, self.worst) else max(self.worst, code)
        what = "internal error" if code == EXIT_INTERNAL else "error"
        if self.as_json:
            self._out(json_text({"input": source, "error": reason, "exit": code}, indent=None))
        self._out(f"archiver: {what}: {error_line(line or f'{shown(source)}: {reason}')}", err=True)
        self._step()

    def note(self, text: str) -> None:
        """A line of the command's own on stderr (above the bar when one is shown)."""
        self._out(printable(text, 10_000), err=True)

    def _step(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def summary(self, *, left: int = 0, why: str = "interrupted") -> None:
        """The closing line on stderr: ``N <done_word>, M failed`` (and ``, K not done: <why>`` for the
        sources a stop left undone)."""
        if self.bar is not None:
            self.bar.close()
        tail = f", {left} not done: {why}" if left else ""  # not started, or still running
        sys.stdout.flush()
        print(f"{self.done} {self.done_word}, {self.failed} failed{tail}", file=sys.stderr)


def source_key(source: str) -> str:
    """What makes two sources of one command the same article source: a URL (or '-') as given, a file
    by its real path (`a.html`, `./a.html` and a link to it are one file)."""
    if source == "-" or source.lower().startswith(("http://", "https://")):
        return source
    try:
        return "file:" + os.path.realpath(source)
    except (OSError, ValueError):
        return source


class CountedInterrupts:
    """While entered, Ctrl-C (SIGINT) is counted (`hits`) instead of raising KeyboardInterrupt at
    whatever line runs, so a JSON line is never cut short, nor an article's report dropped between its
    end and its printing; `release` gives Ctrl-C back its usual effect (KeyboardInterrupt). Only the
    main thread can catch signals: elsewhere nothing changes (KeyboardInterrupt is raised as before)."""

    def __init__(self) -> None:
        self.hits = 0
        self._previous: Any = None
        self._held = False

    def _count(self, signum: int, frame: Any) -> None:
        self.hits += 1

    def __enter__(self) -> CountedInterrupts:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._count)
            self._held = True
        return self

    def release(self) -> None:
        """Ctrl-C raises KeyboardInterrupt again (the handler in force before)."""
        if self._held:
            signal.signal(signal.SIGINT, self._previous)
            self._held = False

    def __exit__(self, *exc: object) -> None:
        self.release()


def run_bulk(sources: list[str], work: Callable[[str], dict[str, Any]], reporter: Reporter, *,
             workers: int) -> int:
    """Run `work(source)` for every source, at most `workers` at once, reporting each as it finishes
    (`reporter`, from this thread); returns the exit status of the module's docstring. `work` raises
    what one source's failure is (see `failure`). A source named again (the same URL, or the same file
    by any path: `source_key`) is run once: each time it is named gets the first run's report. A first
    Ctrl-C starts no more sources and reports those running as they finish (they end under their
    deadlines, and the process waits for them in any case); a second says so and gives Ctrl-C back, and
    a third stops waiting for their reports: what finished by then is reported, the rest counted as not
    done. Ctrl-C is counted, not raised, until then (`CountedInterrupts`), so an article's report is
    never lost half-written nor dropped between its end and its printing. The first service fault
    (`is_service_fault`: storage, the catalog or the broker) is reported and starts no more sources
    either: those running that meet a fault too, and those not started, are counted once as not done
    (exit 2, as a command whose service does not answer; 1 if an internal error struck one). When
    reporting itself fails (stdout closed, a reader gone: BrokenPipeError), no more start, those
    running end, and the error is raised."""
    distinct: list[str] = []
    again: dict[str, list[str]] = {}  # a source run -> the later names of the same source
    first_of: dict[str, str] = {}
    for source in sources:
        key = source_key(source)
        if key in first_of:
            again[first_of[key]].append(source)
        else:
            first_of[key] = source
            again.setdefault(source, [])
            distinct.append(source)
    todo = iter(distinct)
    running: dict[Future[dict[str, Any]], str] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="article")
    interrupted = False
    fault: str | None = None  # which service the first fault came from: no more sources start
    lost = 0  # sources running when it struck that met a fault too: not done, not reported one by one

    def start_next() -> None:
        source = None if interrupted or fault is not None else next(todo, None)
        if source is not None:
            running[pool.submit(work, source)] = source

    def report(fut: Future[dict[str, Any]]) -> None:
        nonlocal fault, lost
        source = running.pop(fut)
        names = [source, *again[source]]
        exc = fut.exception()
        if exc is None:
            for name in names:
                reporter.finished(name, fut.result())
            return
        if not isinstance(exc, ArchiverError):
            log.debug("%s failed", source, exc_info=exc)
        if is_service_fault(exc):
            if fault is not None:
                lost += len(names)
                return
            fault = which_service(exc)
            reporter.failed_with(source, *failure(exc, source))
            lost += len(names) - 1
            reporter.note(f"archiver: error: {fault} did not answer: no more sources start")
            return
        for name in names:
            reporter.failed_with(name, *failure(exc, name),
                                 line=str(exc) if isinstance(exc, SourceError) and name == source else None)

    def on_interrupt(interrupts: CountedInterrupts) -> None:
        """A Ctrl-C: the first starts no more sources; the second gives Ctrl-C back its usual effect, so
        a third stops waiting for the reports of those still running."""
        nonlocal interrupted
        if not interrupted:
            interrupted = True
            reporter.note(f"interrupted: no more articles start; the {len(running)} running finish and are "
                          "reported (Ctrl-C twice more to stop waiting for them)")
        else:
            interrupts.release()
            reporter.note(f"interrupted again: the {len(running)} running end under their deadline and are "
                          "reported as they end (Ctrl-C again to stop waiting for their reports)")

    try:
        with CountedInterrupts() as interrupts:
            seen = 0
            try:
                for _ in range(max(1, workers)):
                    start_next()
                while running:
                    finished, _ = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        report(fut)
                        start_next()
                    while seen < interrupts.hits:
                        seen += 1
                        on_interrupt(interrupts)
            except KeyboardInterrupt:  # Ctrl-C given back (or not in the main thread): stop waiting
                interrupted = True
            # The articles that finished by now are reported, whatever stopped the wait.
            for fut in [f for f in running if f.done()]:
                report(fut)
    except BaseException:
        # Reporting failed: what started ends (under its deadline) before the Runtime closes.
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=False, cancel_futures=True)
    left = sum(1 + len(again[s]) for s in running.values()) + sum(1 + len(again[s]) for s in todo) + lost
    reporter.summary(left=left, why="interrupted" if interrupted else f"{fault} did not answer")
    return EXIT_INTERRUPTED if interrupted else reporter.worst
