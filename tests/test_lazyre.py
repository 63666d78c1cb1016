"""Patterns compiled on first use (archiver/lazyre.py): the same answers as re.Pattern's, and one pattern
object for all threads that first use it at once (discovery tells matches apart by ``m.re``)."""

from __future__ import annotations

import copy
import pickle
import re
import sys
import threading

from archiver.lazyre import lazy


def test_a_lazy_pattern_answers_as_the_compiled_one() -> None:
    source, text = r"(?P<word>\w+)@(\d+)", "a@1 bb@22 ccc"
    p, q = lazy(source, re.ASCII), re.compile(source, re.ASCII)
    assert p.pattern == source and "_compiled" not in p.__dict__  # nothing compiled before first use
    assert p.search(text).group("word") == "a"  # type: ignore[union-attr]
    assert [m.span() for m in p.finditer(text)] == [m.span() for m in q.finditer(text)]
    assert p.findall(text) == q.findall(text) and p.split(text) == q.split(text)
    assert p.sub("-", text) == q.sub("-", text) and p.subn("-", text, 1) == q.subn("-", text, 1)
    assert p.fullmatch("a@1") and not p.match(" a@1")
    assert (p.flags, p.groups, dict(p.groupindex)) == (q.flags, q.groups, dict(q.groupindex))
    assert pickle.loads(pickle.dumps(p)).findall(text) == q.findall(text)
    assert copy.deepcopy(p).findall(text) == q.findall(text)


def test_threads_first_using_a_pattern_at_once_share_one_compiled_pattern() -> None:
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, inside the first compile too
    try:
        for trial in range(100):
            p = lazy(r"(\d+)|x" + f"|(?P<t{trial}>\\x00{trial})")  # a new source: re's own cache misses
            barrier, seen = threading.Barrier(4), []

            def use(p=p, barrier=barrier, seen=seen) -> None:  # type: ignore[no-untyped-def]
                barrier.wait()
                found = p.search("ab 12")
                seen.append(found.re if found else None)

            threads = [threading.Thread(target=use) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert len(seen) == 4 and all(r is p.compiled for r in seen), trial
    finally:
        sys.setswitchinterval(interval)
