"""The search query language: what a user types into `q` (CLI, API and web page alike), parsed once.

`q` used to be a bag of words: an unbalanced quote silently matched nothing and a query of only
punctuation matched every post. Now it is a small documented language (SYNTAX_HELP), parsed into a
tree of full-text terms plus filters, or refused with one InputError line that says what is wrong.
Terms are cut with archiver.catalog.text's `tokenize`, the cut the index uses, so a phrase typed in
Hindi or Arabic finds exactly what was indexed. The backends turn the tree into FTS5 or tsquery
syntax from tokens only: nothing typed ever becomes SQL or backend syntax.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Union

from archiver.catalog.text import Clause, handle_norm, tokenize, unspaced, whole_char
from archiver.errors import InputError
from archiver.providers import registry
from archiver.providers.base import EMBED_STATUSES
from archiver.storage.layout import PROVIDER_RE

MAX_TERMS = 16  # words, phrases and prefixes in one query
MAX_DEPTH = 4  # parentheses inside parentheses
MIN_PREFIX = 2  # characters before a `*`
MAX_HANDLE = 320  # the longest handle a provider stores: a Mastodon user (64) @ its host (253)
SHOWN = 40  # characters of user input quoted in an error
FILTERS = ("from", "provider", "lang", "status")
_LANG_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")
# Phrase quotes: the double and corner quotation marks of Unicode's Quotation_Mark property (“ ”
# „ ‟ « » ‹ › ⹂ 「 」 『 』 〝 〞 〟 ﹁ ﹂ ﹃ ﹄ ＂ ｢ ｣ and the ASCII "). The single ones (' ‘ ’ ‚ ‛
# ＇) are apostrophes inside words too (don't, O’Brien), so they stay punctuation. ASCII " and ＂
# close only at the same mark; a typographic quote closes at any typographic one, since languages
# pair them differently („…“, „…”, »…«, ”…”, «…», 「…」).
_ASCII_QUOTES = '"\uff02'
_QUOTES = frozenset(_ASCII_QUOTES + "\u00ab\u00bb\u201c\u201d\u201e\u201f\u2039\u203a\u2e42"
                    "\u300c\u300d\u300e\u300f\u301d\u301e\u301f\ufe41\ufe42\ufe43\ufe44\uff62\uff63")
# Characters a handle filter takes besides letters, combining marks and digits: _ . - and the @ of
# a Mastodon handle (user@instance.example).
_HANDLE_PUNCT = frozenset("_.-@")

SYNTAX_HELP = """\
Search syntax (the same in `archiver search`, GET /v1/search `q` and the search page):

  word word       every word must appear (any script: Hindi, Arabic, CJK, emoji; case, accents,
                  Arabic diacritics, Hebrew points, the script of digits and Traditional or
                  Simplified Chinese do not matter), in any capture of the post (what it said
                  before an edit or a deletion counts)
  "exact phrase"  the words next to each other, in this order (“ ” « » „ 「 」 quote too)
  prefix*         words starting with "prefix" (at least 2 characters before the *);
                  "a phras"* or "a phras*" ends a phrase with a prefix (only its last word)
  -word  -"a phrase"  leave out posts that have it (in any of their captures)
  a OR b          either (OR in capitals; a lower-case "or" is a word); a AND b is a b
  ( )             group: a (b OR c) -(d e)
  from:handle  @handle    posts by this account (with or without @; user@instance too)
  provider:twitter        posts from this provider (any case; an unknown one is an error)
  lang:hi                 posts in this language (hi also matches hi-IN)
  status:deleted          posts whose latest capture has this status (any case)

Precedence: OR binds tighter than the implicit AND, so `modi rally OR speech` means
modi AND (rally OR speech); use parentheses for anything else.
Filters (from:, provider:, lang:, status:) apply to the whole query: they cannot be excluded,
be part of an OR or stand inside parentheses. A filter in the query and the same filter given
as its own field (--handle, --provider, --status) must both hold, so two different values
match nothing.
Punctuation is not searched: an emoticon :-) or a ')' that closes no '(' is punctuation, and so
is a colon or comma after @handle ("RT @ANI: ...").
A query needs something to match: a word, a phrase, a prefix or a filter; exclusions alone are
refused. An empty query lists every post. At most 16 terms and 500 characters.
A word right before '(' is a word and a group (BJP(Bharatiya Janata Party) needs every word),
and a name: that is not a filter is words (Note:party, https://...).
Refused with one line rather than read some other way: a '*' that does not end a word (*modi,
modi*rally) or ends a phrase's earlier word ("a* b"), and other languages' operators: NOT and
!word (use -word), || (use OR), && and +word (words are all required already), NEAR (use a
"phrase"; there are no functions), a ~ or ^ anywhere in a word (no fuzzy, proximity or boost:
rally~2, a^2, x^y); an unknown provider or status. Quote anything to search it as words.
Sort: relevance (the default when there are words), posted (newest posted first) or
captured (newest archived first; the default without words, but for a date range alone, listed
newest first by that date).
"""


# --- the tree --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Term:
    """One word, phrase or prefix: its tokens must appear next to each other."""

    clause: Clause


@dataclass(frozen=True)
class Not:
    """Posts without `node`; only ever a part of an All that has a positive part."""

    node: Node


@dataclass(frozen=True)
class All:
    """Every part (a Not part: its node absent); at least one part is not a Not."""

    parts: tuple[Node, ...]


@dataclass(frozen=True)
class AnyOf:
    """At least one of the parts (never a Not)."""

    parts: tuple[Node, ...]


Node = Union[Term, Not, All, AnyOf]  # noqa: UP007 (a runtime alias; `|` on forward names fails)


@dataclass(frozen=True)
class Parsed:
    """A parsed query: `text` (None: no full-text part) and the filters, each a tuple of
    normalized values that must all hold (handles without @ and case-folded, languages lower case)."""

    text: All | None = None
    handles: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    langs: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()

    @property
    def positive(self) -> list[Node]:
        """The top-level parts that must match."""
        return [p for p in self.text.parts if not isinstance(p, Not)] if self.text else []

    @property
    def negative(self) -> list[Node]:
        """The nodes of the top-level exclusions."""
        return [p.node for p in self.text.parts if isinstance(p, Not)] if self.text else []

    @property
    def has_filters(self) -> bool:
        """Whether `q` holds a from:, provider:, lang: or status: filter."""
        return bool(self.handles or self.providers or self.langs or self.statuses)


# --- lexing ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Tok:
    kind: str  # "word", "phrase", "filter", "(", ")", "OR", "AND"
    text: str  # as typed (for errors), the value for a filter
    neg: bool = False
    star: bool = False
    field: str = ""


def shown(text: str, limit: int = SHOWN) -> str:
    """`text` for an error line: control characters and runs of blanks as one space, cut to `limit`
    characters with an ellipsis, in single quotes."""
    flat = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return "'" + (flat if len(flat) <= limit else flat[:limit - 1] + "…") + "'"


def _emoticon(chunk: str) -> bool:
    """Whether `chunk` (characters between blanks) is punctuation with parentheses in it, an emoticon
    (:-) :( ;) (: ...), not a group: no word or quote in it, and more than parentheses and a '-'."""
    return (any(c in "()" for c in chunk) and not any(c in _QUOTES for c in chunk)
            and chunk.replace("(", "").replace(")", "") not in ("", "-") and not tokenize(chunk))


def _closing_quote(q: str, i: int) -> int:
    """Where the phrase opened by the quote at `i` closes (-1: nowhere)."""
    if q[i] in _ASCII_QUOTES:
        return q.find(q[i], i + 1)
    return next((j for j in range(i + 1, len(q)) if q[j] in _QUOTES and q[j] not in _ASCII_QUOTES), -1)


def _lex(q: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(q)
    depth = 0  # groups open: a ')' that closes none is punctuation
    while i < n:
        ch = q[i]
        if ch.isspace():
            i += 1
            continue
        if i == 0 or q[i - 1].isspace():
            end = i
            while end < n and not q[end].isspace():
                end += 1
            # An emoticon ending a group, "(happy :-))": its last ')' closes the group.
            for _ in range(depth):
                if q[end - 1] != ")" or not _emoticon(q[i:end - 1]):
                    break
                end -= 1
            if _emoticon(q[i:end]):
                toks.append(_Tok("word", q[i:end]))
                i = end
                continue
        if ch == ")" and not depth:
            i += 1
            continue
        if ch in "()":
            toks.append(_Tok(ch, ch))
            depth += 1 if ch == "(" else -1
            i += 1
            continue
        neg = False
        start = i
        if ch == "-":
            if i + 1 >= n or q[i + 1].isspace():
                raise InputError("'-' alone: put it right before a word or \"phrase\" to leave it out (-word)")
            if q[i + 1] in "-)":  # a dash of punctuation (--, :-)), not an exclusion
                j = i
                while j < n and q[j] == "-":
                    j += 1
                toks.append(_Tok("word", q[i:j]))
                i = j
                continue
            neg, i = True, i + 1
            if q[i] == "(":
                toks.append(_Tok("(", "(", neg=True))
                depth += 1
                i += 1
                continue
        if q[i] in _QUOTES:
            end = _closing_quote(q, i)
            if end < 0:
                closing = q[i] if q[i] in _ASCII_QUOTES else "quote"
                raise InputError(f"unbalanced quote: {shown(q[i:])} has no closing {closing}")
            star = end + 1 < n and q[end + 1] == "*"
            if end + 1 + star < n and q[end + 1 + star] in "~^":
                raise InputError(f"{shown(q[start:end + 2 + star])}: there is no proximity or boost (~, ^) "
                                 "in this search; a \"phrase\" already means its words next to each other")
            text, inner_star = _phrase_star(q[i + 1:end], q[start:end + 1 + star], star)
            toks.append(_Tok("phrase", text, neg, star or inner_star))
            i = end + 1 + star
            continue
        j = i
        while j < n and not q[j].isspace() and q[j] not in _QUOTES and q[j] not in "()":
            j += 1
        word = q[i:j]
        typed = q[start:j]
        i = j
        # A word right before '(' ("BJP(Bharatiya Janata Party)", pasted text) is the word, then the
        # group: every word is required either way. NEAR( is refused below (there are no functions).
        if word == "NOT" and not neg:
            raise InputError("NOT is not an operator here: put '-' right before what to leave out (-word)")
        _check_foreign(word, typed)
        if word in ("OR", "AND") and not neg:
            toks.append(_Tok(word, word))
            continue
        name, colon, value = word.partition(":")
        if word.startswith("@") and _handle_end(word[1:]):
            toks.append(_Tok("filter", _handle_end(word[1:]), neg, field="from"))
        elif colon and name.isascii() and name.isalpha():
            if name.lower() in FILTERS:
                if not value:
                    raise InputError(f"{shown(typed)}: give the value right after the colon "
                                     f"({name.lower()}:value)")
                field = name.lower()
                toks.append(_Tok("filter", (_handle_end(value) or value) if field == "from" else value, neg,
                                 field=field))
            else:  # an unknown name: ("Note:party", a URL's scheme) is words, the colon punctuation
                toks.append(_Tok("word", word, neg))
        else:
            toks.append(_Tok("word", word, neg))
    return toks


def _handle_end(value: str) -> str:
    """A handle typed after @ or from: without the punctuation that ends a sentence after it (the colon
    of "RT @ANI:", a comma, a full stop): no handle ends in punctuation other than _."""
    end = len(value)
    while end and unicodedata.category(value[end - 1])[0] == "P" and value[end - 1] != "_":
        end -= 1
    return value[:end]


def _phrase_star(text: str, typed: str, outer: bool) -> tuple[str, bool]:
    """A phrase's text and whether it ends with a prefix: a '*' ending its last word ("AMP tw*") is the
    same prefix as "AMP tw"*; a '*' ending an earlier word is refused (only the last word of a phrase
    can be a prefix, on both backends). Any other '*' inside quotes is punctuation, as typed."""
    chunks = text.split()
    for k, chunk in enumerate(chunks):
        if chunk.endswith("*") and chunk.rstrip("*") and (k < len(chunks) - 1 or outer or chunk.endswith("**")):
            raise InputError(f"{shown(typed)}: in a phrase only its last word can be a prefix, with one '*' "
                             "(\"meets lav*\" or \"meets lav\"*)")
    if chunks and chunks[-1].endswith("*") and chunks[-1].rstrip("*"):
        return text.rstrip()[:-1], True
    return text, False


# Operators of other search languages: read as words they would silently change the query, so each is
# refused with the form this language has. (name, test on the unquoted word, what to use instead)
_FOREIGN: tuple[tuple[str, Callable[[str], bool], str], ...] = (
    ("'||'", lambda w: "||" in w, "use OR between the alternatives (a OR b)"),
    ("'&&'", lambda w: "&&" in w, "words are all required already: use a space (a b), or AND"),
    ("'+word'", lambda w: len(w) > 1 and w[0] == "+" and w[1] != "+",
     "every word is required already: drop the '+'"),
    ("'!word'", lambda w: len(w) > 1 and w[0] == "!" and w[1] != "!", "use -word to leave it out"),
    # One rule for each: a '~' or '^' anywhere in an unquoted word (rally~2, a~b, a^2, x^y) is refused,
    # not read as an operator in one place and as punctuation in another.
    ("'~'", lambda w: "~" in w, "there is no fuzzy or proximity search; use prefix* or a \"phrase\""),
    ("'^'", lambda w: "^" in w, "there is no boosting"),
    ("NEAR", lambda w: w == "NEAR" or w.startswith("NEAR/"), "use a \"phrase\" for words next to each other"),
)


def _check_foreign(word: str, typed: str) -> None:
    """InputError naming the supported form when the unquoted `word` is another language's operator."""
    for name, test, instead in _FOREIGN:
        if test(word):
            raise InputError(f"{shown(typed)}: {name} is not search syntax here: {instead} "
                             "(quote it to search the characters as words)")


# --- parsing ---------------------------------------------------------------------------------------
class _Parser:
    def __init__(self, toks: list[_Tok]) -> None:
        self.toks = toks
        self.i = 0
        self.filters: dict[str, list[str]] = {f: [] for f in FILTERS}
        self.terms = 0

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def items(self, depth: int) -> list[Node]:
        """Parts ANDed together up to the end or a `)`; groups not excluded are merged in."""
        out: list[Node] = []
        while (tok := self.peek()) is not None and tok.kind != ")":
            if tok.kind in ("OR", "AND"):
                raise InputError(f"{tok.kind} needs a word, \"phrase\" or group on each side")
            node = self.alternatives(depth)
            if isinstance(node, All):
                out += node.parts  # (a b) inside an AND is a b
            elif isinstance(node, Term | Not | AnyOf):
                out.append(node)
            if (tok := self.peek()) is not None and tok.kind == "AND":
                self.i += 1
                nxt = self.peek()
                if nxt is None or nxt.kind in (")", "OR", "AND"):
                    raise InputError("AND needs a word, \"phrase\" or group on each side")
        return out

    def alternatives(self, depth: int) -> Node | str | None:
        first = self.unary(depth)
        alts = [first]
        while (tok := self.peek()) is not None and tok.kind == "OR":
            self.i += 1
            nxt = self.peek()
            if nxt is None or nxt.kind in (")", "OR", "AND"):
                raise InputError("OR needs a word, \"phrase\" or group on each side")
            alts.append(self.unary(depth))
        if len(alts) == 1:
            return first
        if any(a == "filter" for a in alts):
            raise InputError("a filter (from:, provider:, lang:, status:) cannot be part of an OR: "
                             "it applies to the whole query")
        if any(isinstance(a, Not) for a in alts):
            raise InputError("an exclusion (-word) cannot be part of an OR")
        kept = [a for a in alts if isinstance(a, Term | All | AnyOf)]
        if len(kept) < len(alts):
            raise InputError("OR needs a word, \"phrase\" or group on each side (punctuation is not searched)")
        flat: list[Node] = []
        for a in kept:
            flat += a.parts if isinstance(a, AnyOf) else [a]
        return AnyOf(tuple(flat))

    def unary(self, depth: int) -> Node | str | None:
        """A term, a group, an exclusion, "filter" (recorded in self.filters) or None (punctuation)."""
        tok = self.toks[self.i]
        self.i += 1
        if tok.kind == "(":
            if depth >= MAX_DEPTH:
                raise InputError(f"too many parentheses inside each other (at most {MAX_DEPTH})")
            inner = self.items(depth + 1)
            close = self.peek()
            if close is None:
                raise InputError("unbalanced parenthesis: a '(' has no closing ')'")
            self.i += 1
            if not inner:
                raise InputError("() holds nothing to search")
            group: Node = inner[0] if len(inner) == 1 else All(tuple(inner))
            if not tok.neg:
                return group
            if isinstance(group, Not):
                raise InputError("a group of exclusions alone matches nothing: add a word, \"phrase\" or prefix to it")
            return Not(group)
        if tok.kind == ")":
            raise InputError("unbalanced parenthesis: a ')' has no opening '('")
        if tok.kind == "filter":
            return self.filter(tok, depth)
        node = self.term(tok)
        return Not(node) if tok.neg and node is not None else node  # -!!! leaves out nothing

    def filter(self, tok: _Tok, depth: int) -> str:
        typed = f"{tok.field}:{tok.text}"
        if tok.neg:
            raise InputError(f"-{shown(typed)}: a filter cannot be excluded")
        if depth:
            raise InputError(f"{shown(typed)}: a filter applies to the whole query, not inside ( )")
        nxt = self.peek()
        if nxt is not None and nxt.kind == "OR":
            raise InputError("a filter (from:, provider:, lang:, status:) cannot be part of an OR: "
                             "it applies to the whole query")
        value = tok.text
        if tok.field == "from":
            handle = handle_norm(value) or ""
            if not handle or len(handle) > MAX_HANDLE or not all(
                    unicodedata.category(c)[0] in "LMN" or c in _HANDLE_PUNCT for c in handle):
                raise InputError(f"{shown(typed)}: expected a handle (letters, digits, _ . - @; "
                                 f"at most {MAX_HANDLE})")
            self.filters["from"].append(handle)
        elif tok.field == "provider":
            try:
                self.filters["provider"].append(provider_name(value))
            except InputError as exc:
                raise InputError(f"{shown(typed)}: {exc}") from None
        elif tok.field == "lang":
            lang = value.lower()
            if not (2 <= len(lang) <= 35 and set(lang) <= _LANG_CHARS and lang[0].isalpha()):
                raise InputError(f"{shown(typed)}: expected a language code such as hi, ar or en-GB")
            self.filters["lang"].append(lang)
        else:
            status = value.lower()  # status:ARCHIVED is status:archived, as provider: and lang: take any case
            if status not in EMBED_STATUSES:
                raise InputError(f"{shown(typed)}: expected one of {', '.join(EMBED_STATUSES)}")
            self.filters["status"].append(status)
        return "filter"

    def term(self, tok: _Tok) -> Term | None:
        raw = tok.text
        star = tok.star
        if tok.kind == "word":
            if raw.strip("*") == "" or "*" in raw.rstrip("*") or raw.endswith("**"):
                raise InputError(f"{shown(raw)}: a '*' only ends a word, once, to make it a prefix (prefix*); "
                                 "quote the word to search it as typed")
            star = raw.endswith("*")
        toks = tokenize(raw)
        if not toks:
            return None  # punctuation alone is not searched
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise InputError(f"too many terms: at most {MAX_TERMS} words, phrases and prefixes")
        if star and (whole_char(toks[-1]) or unspaced(toks[-1])):
            star = False  # a CJK, Thai or Hangul character or an emoji is a whole token: nothing to widen
        if star and len(toks[-1]) < MIN_PREFIX:
            raise InputError(f"{shown(raw)}: a prefix needs at least {MIN_PREFIX} characters before the *")
        return Term(Clause(tuple(toks), star))


def provider_name(value: str) -> str:
    """The registered provider `value` names (archiver.providers.registry), in any case: its name in
    lower case. InputError naming the known ones otherwise: the provider: filter and the query's
    provider field say the same."""
    name = value.lower()
    known = registry.names()
    if not PROVIDER_RE.fullmatch(name) or name not in known:
        raise InputError(f"unknown provider {shown(value)}: one of {', '.join(known)}")
    return name


def _check(node: Node) -> None:
    """Every All (a group) needs a part that is not an exclusion."""
    if isinstance(node, All):
        if all(isinstance(p, Not) for p in node.parts):
            raise InputError("a group of exclusions alone matches nothing: add a word, \"phrase\" or prefix to it")
        for p in node.parts:
            _check(p)
    elif isinstance(node, Not | AnyOf):
        for p in (node.node,) if isinstance(node, Not) else node.parts:
            _check(p)


@lru_cache(maxsize=512)
def parse_search(q: str) -> Parsed:
    """Parse a user's query (SYNTAX_HELP). An empty or blank `q` is Parsed() (no condition).

    Raises InputError, one line quoting at most SHOWN characters of the input, for what it cannot
    parse: an unbalanced quote or parenthesis, a dangling OR or AND, a '-' alone, an empty filter, a
    prefix under MIN_PREFIX characters, more than MAX_TERMS terms, or a query with nothing to match
    (only punctuation, or only exclusions).
    """
    if not q.strip():
        return Parsed()
    parser = _Parser(_lex(q))
    parts = parser.items(0)
    if parser.peek() is not None:
        raise InputError("unbalanced parenthesis: a ')' has no opening '('")
    f = parser.filters
    result = Parsed(All(tuple(parts)) if parts else None, tuple(dict.fromkeys(f["from"])),
                    tuple(dict.fromkeys(f["provider"])), tuple(dict.fromkeys(f["lang"])),
                    tuple(dict.fromkeys(f["status"])))
    if not result.positive and not result.has_filters:
        if result.negative:
            raise InputError(f"{shown(q)} only leaves out: add a word, \"phrase\", prefix* or filter to match")
        raise InputError(f"{shown(q)} has no word to search (punctuation alone is not searched)")
    for part in parts:
        _check(part.node if isinstance(part, Not) else part)
    return result


def selects_something(q: str) -> bool:
    """Whether `q` narrows the posts down (for an export, where an empty query would mean every post):
    False for an empty or blank `q`; True when it parses, which means it has something to match (a word,
    phrase, prefix, or a filter alone: `from:ANI` is a legitimate selection); InputError (parse_search's
    line) when it does not parse."""
    return bool(q.strip()) and parse_search(q) != Parsed()
