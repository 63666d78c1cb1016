"""Dates as embed widgets write them in their languages ("May 3, 2024", "1 de octubre de 2019",
"3. Mai 2024", "2024年5月3日", "3 мая 2024 г."), recognised where a flattened embed's attribution line
puts one, and glued text after it left alone ("March 5, 2024Groomers were out").

The patterns are built once from the Unicode CLDR (through Babel): for each language the Twitter
widget emits, its long and medium date formats and its month names in every form (format and
stand-alone, wide and abbreviated). Digits are any script's decimal digits (Arabic-Indic, Persian,
Devanagari...). Babel is imported on first use, so an article with no attribution line never loads it.
"""

from __future__ import annotations

import re
import threading

# The languages the Twitter embed widget (and the other platforms' widgets) write dates in.
LANGUAGES = (
    "en", "en_GB", "en_IN", "ar", "bn", "ca", "cs", "da", "de", "el", "es", "es_419", "eu", "fa", "fi",
    "fil", "fr", "ga", "gl", "gu", "he", "hi", "hr", "hu", "id", "it", "ja", "kn", "ko", "mr", "ms", "nb",
    "nl", "pl", "pt", "pt_PT", "ro", "ru", "sk", "sr", "sv", "ta", "th", "tr", "uk", "ur", "vi",
    "zh_Hans", "zh_Hant",
)
_SPACE = "[ \t\u00a0\u202f\u200e\u200f]{1,3}"
_MARKS = "[\u200e\u200f]{0,2}"
_FIELD = re.compile(r"'(?:[^']|'')*'|([a-zA-Z])\1*|\s+|.", re.S)
_lock = threading.Lock()
_pattern: re.Pattern[str] | None = None


def match_date(text: str, pos: int, endpos: int | None = None) -> re.Match[str] | None:
    """A date in one of the widget languages' formats starting exactly at ``text[pos]`` (group 0 is
    the date as written), or None. Never ends inside a number."""
    return _compiled().match(text, pos, len(text) if endpos is None else endpos)


def _compiled() -> re.Pattern[str]:
    found = _pattern
    if found is not None:
        return found
    with _lock:
        return _pattern if _pattern is not None else _build()


def _alternation(words: set[str]) -> str:
    return "(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True) if w) + ")"


def _to_regex(pattern: str, months: str, eras: str, days: str) -> str | None:
    """A CLDR date pattern ("d 'de' MMMM 'de' y") as a regular expression; None for one without a
    year, a day and a month."""
    out: list[str] = []
    seen = set()
    skip_space = False
    words: list[int] = []  # where literal words are in `out`
    last_field = -1
    for m in _FIELD.finditer(pattern):
        field = m.group(0)
        letter = m.group(1)
        if field.isspace():
            if not skip_space:
                out.append(_SPACE)
            skip_space = False
            continue
        skip_space = False
        if letter:
            seen.add(letter.lower() if letter in "ML" else letter)
            last_field = len(out)
            if letter == "d":
                out.append(r"\d{1,2}")
            elif letter in "ML":
                out.append(months if len(field) >= 3 else r"\d{1,2}")
            elif letter == "y":
                out.append(r"\d{4}" if len(field) != 2 else r"\d{2}")
            elif letter == "G":  # an era, often left out: optional, with the space after it
                out.append(f"(?:{eras}{_SPACE})?")
                skip_space = True
            elif letter in "Ec":
                out.append(days)
            else:
                return None  # a time or week field: not a date format we look for
        elif field.startswith("'"):  # quoted literal text; '' is a quote
            literal = field[1:-1].replace("''", "'") if field != "''" else "'"
            if literal.isalpha():
                words.append(len(out))
            out.append(re.escape(literal))
        else:
            out.append(_MARKS + re.escape(field) + _MARKS)
    if not {"d", "m", "y"} <= seen:
        return None
    for i in words:
        if i < last_field:
            # A word between two fields is a connector that sources write differently (CLDR's
            # Catalan "3 de maig del 2024", the widget's "3 de maig de 2024"): any short word.
            out[i] = f"(?:{out[i]}|[^\\W\\d_]{{1,4}})"
    return "".join(out)


def _build() -> re.Pattern[str]:
    global _pattern
    from babel import Locale  # imported on first use: only articles with an attribution line need it

    alternatives: list[str] = [r"\d{4}-\d{2}-\d{2}"]
    for code in LANGUAGES:
        try:
            loc = Locale.parse(code)
        except (ValueError, LookupError):
            continue
        names: set[str] = set()
        for context in ("format", "stand-alone"):
            for width in ("wide", "abbreviated"):
                names.update(str(v) for v in loc.months.get(context, {}).get(width, {}).values())
        names |= {n.rstrip(".") for n in names}
        names |= {n.replace("\u2019", "'") for n in names}  # "d’octubre" typed "d'octubre"
        eras = {str(v) for width in ("abbreviated", "wide") for v in loc.eras.get(width, {}).values()}
        days = {str(v) for width in ("abbreviated", "wide")
                for v in loc.days.get("format", {}).get(width, {}).values()}
        patterns = {loc.date_formats[k].pattern for k in ("long", "medium")}
        patterns |= {str(loc.datetime_skeletons[k]) for k in ("yMMMd", "yMMMMd") if k in loc.datetime_skeletons}
        for p in patterns:
            rx = _to_regex(p, _alternation(names), _alternation(eras or {"AD"}), _alternation(days or {"Mon"}))
            if rx and rx not in alternatives:
                alternatives.append(rx)
    built = re.compile("(?:" + "|".join(alternatives) + r")(?!\d)", re.I)
    _pattern = built
    return built
