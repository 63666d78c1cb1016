"""Words for full-text search, cut in Python so both backends index exactly the same tokens.

Neither backend's own tokenizer copes with every script: SQLite's unicode61 splits Devanagari at
its vowel signs (combining marks), and PostgreSQL's default parser drops letters its locale does
not know. So text is normalized here (NFKC, casefold, Arabic diacritics and tatweel removed,
zero-width joiners dropped) and cut into tokens: runs of letters, digits and combining marks;
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
import sys
import unicodedata
from dataclasses import dataclass
from functools import cache

MAX_TOKEN_CHARS = 100
MAX_QUERY_CLAUSES = 16
# Arabic harakat, superscript alef and tatweel; zero-width (non-)joiners and the BOM.
_DROP = dict.fromkeys([*range(0x064B, 0x0660), 0x0670, 0x0640, 0x200C, 0x200D, 0xFEFF])
_CJK = ("\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f")


def _ranges(codepoints: list[int]) -> str:
    out, start = [], None
    prev = -2
    for cp in [*codepoints, -1]:
        if cp != prev + 1:
            if start is not None:
                out.append(re.escape(chr(start)) if start == prev
                           else f"{re.escape(chr(start))}-{re.escape(chr(prev))}")
            start = cp
        prev = cp
    return "".join(out)


@cache
def _token_re() -> re.Pattern[str]:
    marks, symbols = [], []
    for cp in range(sys.maxunicode + 1):
        cat = unicodedata.category(chr(cp))
        if cat[0] == "M":
            marks.append(cp)
        elif cat == "So" and cp >= 0x2000:
            symbols.append(cp)
    cjk, mark, sym = _CJK, _ranges(marks), _ranges(symbols)
    # A word: letters/digits (not CJK) with any combining marks inside or after them.
    word = f"(?:(?![{cjk}])[^\\W_])(?:(?![{cjk}])[^\\W_]|[{mark}])*"
    return re.compile(f"[{cjk}]|[{sym}]|{word}")


def normalize(text: str) -> str:
    """`text` as indexed and queried: NFKC, case-folded, Arabic diacritics, tatweel and zero-width joiners dropped."""
    return unicodedata.normalize("NFKC", text).casefold().translate(_DROP)


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
def _whole_char_re() -> re.Pattern[str]:
    symbols = [cp for cp in range(0x2000, sys.maxunicode + 1) if unicodedata.category(chr(cp)) == "So"]
    return re.compile(f"[{_CJK}]|[{_ranges(symbols)}]")


def whole_char(token: str) -> bool:
    """Whether `token` is one CJK character or one symbol (emoji): a token of its own, never a word."""
    return len(token) == 1 and _whole_char_re().fullmatch(token) is not None


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
