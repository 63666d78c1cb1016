"""Regular expressions compiled the first time they are used, not when their module is imported.

Every `archiver` process imports discovery and every provider module (the registry collects them), and
each module-level ``re.compile`` is parsed and compiled in Python at import: about 250 patterns, 25 ms
of every command's start-up. Most serve one input format (Markdown, plain-text shortcodes) or one
platform's URLs and markup, so a run never touches them: those are declared with `lazy` and compile on
first use. Patterns every HTML article uses stay ``re.compile``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, AnyStr, Generic


class LazyPattern(Generic[AnyStr]):
    """A regular expression compiled on first use; its methods and attributes are those of the
    ``re.Pattern`` it compiles to (`compiled`). Once compiled, the pattern's own bound methods are set on
    the instance, so later calls (``X.match(...)``) go straight to them, at the cost of a plain method
    call. Thread-safe: threads that compile it at once all get the one pattern stored first.
    `pattern` is the source text (read without compiling). Not an ``re.Pattern`` instance: it cannot be
    given to ``re.sub`` and the like, and a match's ``re`` is `compiled`, not this object."""

    def __init__(self, pattern: AnyStr, flags: int = 0) -> None:
        self._source = pattern
        self._flags = flags

    @property
    def compiled(self) -> re.Pattern[AnyStr]:
        """The compiled pattern (compiled now if it was not yet); re.error when the source is not a
        valid regular expression."""
        found: re.Pattern[AnyStr] | None = self.__dict__.get("_compiled")
        if found is None:
            # Threads compiling at once all keep the first pattern stored (setdefault is atomic), so a
            # match's ``re`` is always `compiled` (shortcodes.py tells matches apart by it).
            found = self.__dict__.setdefault("_compiled", re.compile(self._source, self._flags))
            # Instance attributes win over the methods below: calls after this one skip them.
            self.__dict__.update(match=found.match, fullmatch=found.fullmatch,
                                 search=found.search, findall=found.findall, finditer=found.finditer,
                                 split=found.split, sub=found.sub, subn=found.subn)
        return found

    @property
    def pattern(self) -> AnyStr:
        return self._source

    @property
    def flags(self) -> int:
        return self.compiled.flags

    @property
    def groups(self) -> int:
        return self.compiled.groups

    @property
    def groupindex(self) -> Any:
        return self.compiled.groupindex

    # What each method does the first time (later calls are the compiled pattern's own, see `compiled`).
    def match(self, string: AnyStr, *args: int) -> re.Match[AnyStr] | None:
        return self.compiled.match(string, *args)

    def fullmatch(self, string: AnyStr, *args: int) -> re.Match[AnyStr] | None:
        return self.compiled.fullmatch(string, *args)

    def search(self, string: AnyStr, *args: int) -> re.Match[AnyStr] | None:
        return self.compiled.search(string, *args)

    def findall(self, string: AnyStr, *args: int) -> list[Any]:
        return self.compiled.findall(string, *args)

    def finditer(self, string: AnyStr, *args: int) -> Iterator[re.Match[AnyStr]]:
        return self.compiled.finditer(string, *args)

    def split(self, string: AnyStr, maxsplit: int = 0) -> list[AnyStr | Any]:
        return self.compiled.split(string, maxsplit)

    def sub(self, repl: AnyStr | Callable[[re.Match[AnyStr]], AnyStr], string: AnyStr, count: int = 0) -> AnyStr:
        return self.compiled.sub(repl, string, count)

    def subn(self, repl: AnyStr | Callable[[re.Match[AnyStr]], AnyStr], string: AnyStr,
             count: int = 0) -> tuple[AnyStr, int]:
        return self.compiled.subn(repl, string, count)

    def __repr__(self) -> str:
        return f"lazy({self._source!r}, {self._flags!r})"


def lazy(pattern: AnyStr, flags: int = 0) -> LazyPattern[AnyStr]:
    """``re.compile(pattern, flags)``, done on first use (`LazyPattern`)."""
    return LazyPattern(pattern, flags)
