"""Search tokens cut from committed Unicode classes (archiver/catalog/unicode_classes.py) are the
tokens the classes walked from the running Python's unicodedata give, and the committed file is
what its generator writes for this Python's Unicode version."""

from __future__ import annotations

import random
import re
import subprocess
import sys
import unicodedata

import pytest

from archiver.catalog import gen_unicode_classes, text, unicode_classes


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


CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"


@pytest.fixture(scope="module")
def walked() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The token and whole-character patterns as they were built before the classes were committed:
    by asking unicodedata about every code point."""
    marks, symbols = [], []
    for cp in range(sys.maxunicode + 1):
        cat = unicodedata.category(chr(cp))
        if cat[0] == "M":
            marks.append(cp)
        elif cat == "So" and cp >= 0x2000:
            symbols.append(cp)
    unspaced = _ranges([cp for a, b in text._UNSPACED_RANGES for cp in range(a, b + 1)])
    word = f"(?:(?![{CJK}{unspaced}])[^\\W_])(?:(?![{CJK}{unspaced}])[^\\W_]|[{_ranges(marks)}])*"
    sym = _ranges(symbols)
    emoji = f"[\U0001F1E6-\U0001F1FF]{{2}}|[{sym}](?:\u200d[{sym}])*"  # an emoji, a flag, a ZWJ sequence
    # Scripts written without spaces (Thai, Lao, Khmer, Myanmar, Tai) and Hangul: each character with
    # its marks is a token, as each CJK character is.
    return (re.compile(f"{emoji}|[{CJK}]|(?=[{unspaced}])[^\\W_][{_ranges(marks)}]*|{word}"),
            re.compile(f"[{CJK}]|[{_ranges(symbols)}]"))


def _corpus() -> list[str]:
    rng = random.Random(5)
    pieces = [
        "The quick brown fox, naïve café, ﬁle Straße İstanbul 123 4.5 x_y",
        "नमस्ते दुनिया क्षत्रिय हिन्दी भाषा द्विज श्री",  # Devanagari: vowel signs and virama are marks
        "مرحبا بالعالم العَرَبِيَّة الـــعربية ٣٤٥ سلام",  # harakat, tatweel, Arabic digits
        "東京都に住んでいます。中文字符测试・カタカナ ｶﾀｶﾅ 𠀀𪚥",  # kana, ideographs, middle dot, ext B
        "🎉🔥 emoji 👍🏽 👨\u200d👩\u200d👧 🇮🇳 ☃︎ ♥ → ⌘ ©®°",  # ZWJ sequence, flags, variation selector
        "e\u0301 a\u0308\u0304 \u0301lead Z\u0335\u0336a\u0337l\u0338g\u0335o",  # combining marks, leading mark
        "한국어 텍스트 ไทยภาษา ελληνικά русский עִבְרִית",
        "a\u3099b 中a文b ab中 ½ ² Ⅻ ⑦ x\u2063y \ufeffbom \u200czw\u200dj",
    ]
    out = list(pieces)
    for _ in range(2000):
        out.append("".join(rng.choice(pieces)[rng.randrange(10):] + rng.choice(" ,.\n-") for _ in range(3)))
    return out


def test_committed_classes_are_the_generators_for_this_unicode() -> None:
    if unicodedata.unidata_version != unicode_classes.UNIDATA_VERSION:
        # Another Unicode: text.py walks the code points itself, so tokens still follow it.
        assert text._classes() == gen_unicode_classes.walk()
        pytest.skip(f"unicode_classes.py is for Unicode {unicode_classes.UNIDATA_VERSION}, this Python has "
                    f"{unicodedata.unidata_version}: run python -m archiver.catalog.gen_unicode_classes")
    assert gen_unicode_classes.TARGET.read_text(encoding="utf-8") == gen_unicode_classes.render()


def test_tokens_are_the_walked_classes_tokens(walked: tuple[re.Pattern[str], re.Pattern[str]]) -> None:
    token_re, _ = walked
    for s in _corpus():
        norm = text.normalize(s)
        assert text.tokenize(s) == [t[:text.MAX_TOKEN_CHARS] for t in token_re.findall(norm)], s
    # The same pattern, so every string: every code point alone and after a letter, say.
    assert text._token_re().pattern == token_re.pattern
    cps = [chr(cp) for cp in range(sys.maxunicode + 1) if not 0xD800 <= cp < 0xE000]
    for joiner in (" ", "a"):
        s = joiner.join(cps)
        assert text._token_re().findall(s) == token_re.findall(s), repr(joiner)


def test_whole_char_is_the_walked_classes(walked: tuple[re.Pattern[str], re.Pattern[str]]) -> None:
    _, whole_re = walked
    for cp in range(sys.maxunicode + 1):
        c = chr(cp)
        assert text.whole_char(c) == (whole_re.fullmatch(c) is not None), hex(cp)
    assert not text.whole_char("中文") and not text.whole_char("")


def test_first_tokens_need_no_walk_over_unicode() -> None:
    """A process's first search or indexed post does not ask unicodedata about every code point."""
    if unicodedata.unidata_version != unicode_classes.UNIDATA_VERSION:
        pytest.skip("another Unicode version: the classes are walked")
    # The walk is replaced by one that fails before the tokenizer is imported: it must not be called.
    code = ("import archiver.catalog.gen_unicode_classes as g\n"
            "def walked(): raise AssertionError('walked every code point')\n"
            "g.walk = walked\n"
            "from archiver.catalog.text import tokenize, whole_char\n"
            "assert tokenize('नमस्ते 東京 🎉 café') == ['नमस्ते', '东', '京', '🎉', 'cafe']; whole_char('🎉')")
    subprocess.run([sys.executable, "-c", code], check=True)
