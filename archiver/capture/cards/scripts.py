"""Scripts and direction of card text: which script each run of characters is in, and in what order
right-to-left and left-to-right runs appear on a line.

The PNG card draws each run with the font of its script (fonts.py), so text is cut into script runs
first; neutral characters (spaces, digits, punctuation, joiners, combining marks) stay with their
neighbours so that shaping sees whole clusters. Direction follows the Unicode bidirectional algorithm
(UAX #9) at word granularity, which is what a card of a few lines needs.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Protocol, TypeVar

RTL_SCRIPTS = frozenset({"arabic", "hebrew"})

# Raqm language tags per script, so locale-specific forms are chosen.
LANGUAGE = {"devanagari": "hi", "arabic": "ar", "hebrew": "he", "bengali": "bn", "tamil": "ta"}

_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x0590, 0x05FF, "hebrew"), (0xFB1D, 0xFB4F, "hebrew"),
    (0x0600, 0x06FF, "arabic"), (0x0750, 0x077F, "arabic"), (0x0870, 0x08FF, "arabic"),
    (0xFB50, 0xFDFF, "arabic"), (0xFE70, 0xFEFF, "arabic"),
    (0x0900, 0x097F, "devanagari"), (0xA8E0, 0xA8FF, "devanagari"),
    (0x0980, 0x09FF, "bengali"), (0x0A00, 0x0A7F, "gurmukhi"), (0x0A80, 0x0AFF, "gujarati"),
    (0x0B80, 0x0BFF, "tamil"), (0x0C00, 0x0C7F, "telugu"), (0x0C80, 0x0CFF, "kannada"),
    (0x0D00, 0x0D7F, "malayalam"), (0x0E00, 0x0E7F, "thai"),
    (0x0530, 0x058F, "armenian"), (0xFB13, 0xFB17, "armenian"),
    (0x10A0, 0x10FF, "georgian"), (0x1C90, 0x1CBF, "georgian"), (0x2D00, 0x2D2F, "georgian"),
    (0x1200, 0x139F, "ethiopic"), (0x2D80, 0x2DDF, "ethiopic"), (0xAB00, 0xAB2F, "ethiopic"),
    (0x1E7E0, 0x1E7FF, "ethiopic"),
    (0x0D80, 0x0DFF, "sinhala"), (0x111E0, 0x111FF, "sinhala"),
    (0x1780, 0x17FF, "khmer"), (0x19E0, 0x19FF, "khmer"),
    (0x1D400, 0x1D7FF, "math"),  # mathematical alphanumerics (𝐁𝐨𝐥𝐝, 𝑖𝑡𝑎𝑙𝑖𝑐, 𝟙)
    (0x2E80, 0x9FFF, "cjk"), (0xAC00, 0xD7AF, "cjk"), (0xF900, 0xFAFF, "cjk"), (0xFF00, 0xFFEF, "cjk"),
    (0x1F000, 0x1FAFF, "emoji"), (0x2600, 0x27BF, "emoji"), (0x2B00, 0x2BFF, "emoji"),
)

# Characters that belong to whatever run they sit in: joiners, variation selectors, skin tones,
# combining marks, keycaps, tag characters.
_JOINING = re.compile("[\u200c\u200d\ufe00-\ufe0f\u20e3\U0001f3fb-\U0001f3ff\U000e0020-\U000e007f]")


@lru_cache(maxsize=8192)  # per character; a card looks up each of its characters (thread-safe)
def script_of(ch: str) -> str | None:
    """The script a character forces (a FONT_CHAINS key); None for characters that take their
    neighbours' script. A letter of a script not listed here is "latin": the layout then draws it with
    whichever font has it (textlayout.covered), so an unlisted script costs its own run, not its glyphs."""
    cp = ord(ch)
    if _JOINING.match(ch) or unicodedata.category(ch) in ("Mn", "Me", "Mc", "Zs", "Cf"):
        return None
    for lo, hi, script in _RANGES:
        if lo <= cp <= hi:
            return script
    if ch.isalpha():
        return "latin"
    return None


def strong_rtl(ch: str) -> bool | None:
    """Whether ``ch`` is a strong right-to-left character (bidi class R or AL: Hebrew, Arabic, Syriac,
    Thaana, N'Ko, Adlam, Hanifi Rohingya, ...), a strong left-to-right one (L: False), or neither (None):
    UAX #9's strong types, read from the Unicode Character Database."""
    bidi = unicodedata.bidirectional(ch)
    if bidi in ("R", "AL"):
        return True
    return False if bidi == "L" else None


def run_rtl(text: str, script: str) -> bool:
    """A run's direction: that of its first strong character (``strong_rtl``), so a right-to-left script
    with no entry of its own here (Thaana, Syriac, N'Ko, Adlam, ...) runs right to left as Arabic does;
    a run with no strong character (digits, emoji) takes its script's (RTL_SCRIPTS)."""
    for ch in text:
        found = strong_rtl(ch)
        if found is not None:
            return found
    return script in RTL_SCRIPTS


def script_runs(text: str) -> list[tuple[str, str]]:
    """``text`` as (script, run) pairs, in logical order; neutral characters join the run before them
    (a leading neutral run joins the one after). A run holds one direction of strong characters too: a
    script without an entry of its own is "latin" (its font found per character), so a right-to-left
    word in it (Thaana, Syriac, ...) is a run of its own beside Latin letters. The runs concatenate back
    to ``text``."""
    runs: list[list[str]] = []          # [script, text]
    directions: list[bool | None] = []  # each run's strong direction so far
    for ch in text:
        script = script_of(ch)
        rtl = strong_rtl(ch) if script is not None else None
        # A neutral character joins the run; so does one of the run's script whose direction agrees
        # with the run's (either of them not known yet counts as agreeing).
        if runs and (script is None or (script == runs[-1][0]
                                        and (None in (rtl, directions[-1]) or rtl == directions[-1]))):
            runs[-1][1] += ch
            if directions[-1] is None:
                directions[-1] = rtl
        else:
            runs.append([script or "latin", ch])
            directions.append(rtl)
    # A leading neutral run takes the next run's script.
    if len(runs) > 1 and all(script_of(c) is None for c in runs[0][1]):
        runs[:2] = [[runs[1][0], runs[0][1] + runs[1][1]]]
    return [(script, run) for script, run in runs]


def paragraph_rtl(text: str) -> bool:
    """The paragraph direction from its first strong character (UAX #9, rules P2-P3); left to right
    when there is none."""
    for ch in text:
        bidi = unicodedata.bidirectional(ch)
        if bidi in ("R", "AL"):
            return True
        if bidi == "L":
            return False
    return False


class Run(Protocol):
    """A run of one script within a word, as the layout keeps it."""

    @property
    def text(self) -> str: ...

    @property
    def script(self) -> str: ...


R = TypeVar("R", bound=Run)


def _word_rtl(word: list[R]) -> bool | None:
    """The direction of a word's first strong run (letters, not emoji); None for a neutral word."""
    strong = [run_rtl(p.text, p.script) for p in word if p.script != "emoji" and any(c.isalpha() for c in p.text)]
    return strong[0] if strong else None


def visual_order(rtl: bool, words: list[list[R]]) -> list[list[R]]:
    """Words left to right: runs of right-to-left words reversed; in a right-to-left paragraph the
    whole line reversed with left-to-right runs kept in reading order (UAX #9 L2, by words). Neutral
    words take the direction of the word before them (the paragraph's at the start)."""
    dirs: list[bool] = []
    for w in words:
        d = _word_rtl(w)
        dirs.append(d if d is not None else (dirs[-1] if dirs else rtl))
    groups: list[tuple[bool, list[list[R]]]] = []
    for w, d in zip(words, dirs, strict=True):
        if groups and groups[-1][0] == d:
            groups[-1][1].append(w)
        else:
            groups.append((d, [w]))
    if rtl:
        groups.reverse()
    out: list[list[R]] = []
    for d, ws in groups:
        out.extend(reversed(ws) if d else ws)
    return out
