"""Words for full-text search, cut in Python so both backends index exactly the same tokens.

Neither backend's own tokenizer copes with every script: SQLite's unicode61 splits Devanagari at
its vowel signs (combining marks), and PostgreSQL's default parser drops letters its locale does
not know. So text is normalized here (`normalize`: NFKC, casefold, invisible format characters
dropped, Arabic diacritics and tatweel removed, Arabic and Persian letter variants folded) and cut
into tokens: runs of letters, digits and combining marks;
each CJK ideograph or kana alone (a phrase of single characters then finds any substring); each
emoji alone. SQLite indexes the tokens with its `ascii` tokenizer (every non-ASCII character is a
token character, so a token is never split again); PostgreSQL stores them as a `tsvector` literal.

A post's words come in parts (its text, then the words of its link card and poll): `doc_tokens`
puts PART_BREAK between them, a token no query ever has, so no phrase spans two parts.

Queries use the same cut (the query language itself is archiver/catalog/syntax.py): a word or a
"phrase" becomes the tokens that must be adjacent, a trailing `*` makes the last token a prefix. A
query string is never SQL: it only ever becomes tokens.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from functools import cache

from archiver.catalog import unicode_classes
from archiver.catalog.gen_unicode_classes import walk

MAX_TOKEN_CHARS = 100
MAX_QUERY_CLAUSES = 16
# Arabic harakat (hamza above and below among them), superscript alef and tatweel.
_DROP = dict.fromkeys([*range(0x064B, 0x0660), 0x0670, 0x0640])
# Format characters kept: U+200B ZERO WIDTH SPACE marks a word boundary in scripts written without
# spaces (Thai, Khmer, Burmese), so it still cuts a token; every other one (a soft hyphen, LRM/RLM
# and the bidi controls a copy-paste carries, zero-width (non-)joiners, the BOM) is dropped.
_KEPT_FORMATS = frozenset({0x200B})
# Letters written several ways for one word, folded to one (as Lucene's ArabicNormalizer and
# PersianNormalizer do): alef with madda, hamza above or below and wasla to bare alef; alef maksura,
# Farsi yeh and yeh barree to yeh; teh marbuta, heh with yeh and heh goal to heh; keheh to kaf.
_FOLD = {0x0622: "\u0627", 0x0623: "\u0627", 0x0625: "\u0627", 0x0671: "\u0627",
         0x0649: "\u064a", 0x06CC: "\u064a", 0x06D2: "\u064a",
         0x0629: "\u0647", 0x06C0: "\u0647", 0x06C1: "\u0647", 0x06A9: "\u0643"}
# Kana, CJK ideographs (extension A, unified, compatibility, extensions B and later).
_CJK_RANGES = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x2FA1F))


def _class(ranges: tuple[tuple[int, int], ...]) -> str:
    """The inside of a regex character class holding the inclusive code point `ranges`."""
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)


_CJK = _class(_CJK_RANGES)


Ranges = tuple[tuple[int, int], ...]


@cache
def _classes() -> tuple[Ranges, Ranges, Ranges]:
    """(combining marks, symbols, format characters) as code point ranges for the running Python's
    Unicode version: the committed ones (unicode_classes.py) when it is theirs, else walked now
    (about 0.1 s)."""
    if unicodedata.unidata_version == unicode_classes.UNIDATA_VERSION:
        return unicode_classes.MARK_RANGES, unicode_classes.SYMBOL_RANGES, unicode_classes.FORMAT_RANGES
    return walk()


@cache
def _table() -> dict[int, str | None]:
    """The str.translate table `normalize` applies after NFKC and casefold: drops and folds."""
    formats = (cp for a, b in _classes()[2] for cp in range(a, b + 1) if cp not in _KEPT_FORMATS)
    return {**dict.fromkeys(formats), **_DROP, **_FOLD}


@cache
def _token_re() -> re.Pattern[str]:
    marks, symbols, _ = _classes()
    cjk, mark, sym = _CJK, _class(marks), _class(symbols)
    # A word: letters/digits (not CJK) with any combining marks inside or after them.
    word = f"(?:(?![{cjk}])[^\\W_])(?:(?![{cjk}])[^\\W_]|[{mark}])*"
    return re.compile(f"[{cjk}]|[{sym}]|{word}")


def normalize(text: str) -> str:
    """`text` as indexed and queried: NFKC, case-folded, format characters but U+200B dropped (a soft
    hyphen or an RLM inside a word no longer cuts it), Arabic diacritics and tatweel dropped, and
    Arabic and Persian letter variants folded (`_FOLD`: إجتماع, أجتماع and اجتماع are one word, and
    Persian تیانجین finds Arabic تيانجين). Changing it changes the tokens stored: a catalog indexed
    before needs `archiver reindex` to find old posts by the new rule."""
    return unicodedata.normalize("NFKC", text).casefold().translate(_table())


def handle_norm(handle: str | None) -> str | None:
    """A handle as the index keeps it: without blanks around it or its @, case-folded (None for none)."""
    return handle.strip().lstrip("@").casefold() if handle else None


def tokenize(text: str | None) -> list[str]:
    """The search tokens of `text`, in order."""
    if not text:
        return []
    return [t[:MAX_TOKEN_CHARS] for t in _token_re().findall(normalize(text))]


# Between two parts of a post's words: U+2063 (INVISIBLE SEPARATOR) is no letter, digit, mark or
# symbol, so `tokenize` never makes it and no query holds it; both backends keep it as a token.
PART_BREAK = "\u2063"


def doc_tokens(*parts: str | None) -> list[str]:
    """The search tokens of a post's parts, in order, with PART_BREAK between non-empty parts."""
    out: list[str] = []
    for part in parts:
        toks = tokenize(part)
        if toks:
            out += [PART_BREAK, *toks] if out else toks
    return out


@cache
def _whole_char_starts() -> tuple[list[int], list[int]]:
    """(first, last) code points of the sorted, disjoint ranges of CJK characters and symbols."""
    ranges = sorted([*_CJK_RANGES, *_classes()[1]])
    return [a for a, _ in ranges], [b for _, b in ranges]


def whole_char(token: str) -> bool:
    """Whether `token` is one CJK character or one symbol (emoji): a token of its own, never a word."""
    if len(token) != 1:
        return False
    firsts, lasts = _whole_char_starts()
    i = bisect_right(firsts, ord(token)) - 1
    return i >= 0 and ord(token) <= lasts[i]


@dataclass(frozen=True)
class Clause:
    """Tokens that must appear next to each other; `prefix` makes the last one a prefix."""

    tokens: tuple[str, ...]
    prefix: bool = False


_QUERY_PART = re.compile(r'"([^"]*)"(\*?)|([^\s"]+)')


def parse_query(q: str) -> list[Clause]:
    """The words of `q` as a bag of clauses (each word or "phrase", prefix* kept), at most
    MAX_QUERY_CLAUSES: [] when `q` has no word at all. Only a check that a query searches something;
    search itself parses the query language (archiver.catalog.syntax.parse_search)."""
    clauses: list[Clause] = []
    for m in _QUERY_PART.finditer(q or ""):
        phrase, star, word = m.group(1), m.group(2), m.group(3)
        raw = phrase if phrase is not None else word
        prefix = bool(star) or (word is not None and word.endswith("*"))
        toks = tokenize(raw)
        if toks:
            # A lone CJK character or emoji is a whole token already: no prefix to widen.
            clauses.append(Clause(tuple(toks), prefix))
    return clauses[:MAX_QUERY_CLAUSES]
