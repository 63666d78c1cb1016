"""PNG card text drawn line by line: one text call per run of one script and face, the same pixels as
drawing each word where the layout put it, bidi order kept, fonts loaded once per process."""

from __future__ import annotations

import threading

from PIL import Image, ImageChops, ImageDraw

from archiver.capture.cards import fonts
from archiver.capture.cards.scripts import visual_order
from archiver.capture.cards.textlayout import _runs, draw_line, pieces, space_width, wrap

LATIN = "Foreign ministers met in Tianjin on Tuesday to discuss trade, border talks and the next summit"
MIXED = "Hi विदेश मंत्री 🎉 سلام عليكم friends"


def _runs_of(text: str, size: int = 18, width: int = 2000) -> list[tuple[str, str]]:
    (rtl, words), = wrap(text, size, width)
    return [(r.pieces[0].script, r.text) for r in _runs(visual_order(rtl, words), rtl, space_width(size))]


def test_a_line_of_one_script_is_one_run_and_scripts_split_runs() -> None:
    assert _runs_of(LATIN) == [("latin", LATIN)]
    runs = _runs_of(MIXED)
    # Left to right: Latin, Devanagari (two words, one run), the emoji, Arabic (one run, logical order).
    assert runs == [("latin", "Hi"), ("devanagari", "विदेश मंत्री"), ("emoji", "🎉"), ("arabic", "سلام عليكم"),
                    ("latin", "friends")]
    # Wrapped lines each become their own runs.
    lines = wrap(LATIN, 18, 300)
    assert len(lines) > 1
    for rtl, words in lines:
        assert len(_runs(visual_order(rtl, words), rtl, space_width(18))) == 1


def test_line_by_line_draws_the_pixels_word_by_word_did() -> None:
    size, left, baseline = 18, 24.0, 30.0
    for text in (LATIN[:60], "विदेश मंत्री डॉ. एस. जयशंकर ने"):
        line = wrap(text, size, 552)[0]
        merged = Image.new("RGBA", (600, 44), (255, 255, 255, 255))
        draw_line(merged, line, left=left, width=552, baseline=baseline, size=size, color=(15, 20, 25))
        # The reference: every word drawn on its own, one space of the layout apart.
        single = Image.new("RGBA", (600, 44), (255, 255, 255, 255))
        draw, x = ImageDraw.Draw(single), left
        for word in visual_order(line[0], line[1]):
            for p in word:
                draw.text((x, baseline), p.text, font=p.face.font, fill=(15, 20, 25), anchor="ls",
                          **({"direction": "ltr"} if fonts.raqm() else {}))
                x += p.width
            x += space_width(size)
        diff = ImageChops.difference(merged.convert("L"), single.convert("L"))
        assert diff.getextrema()[1] <= 8, text  # the largest grey-level difference


def test_a_right_to_left_line_keeps_its_words_order_and_right_edge() -> None:
    (rtl, words), = wrap("سلام عليكم يا أصدقاء", 18, 552)
    assert rtl
    img = Image.new("RGBA", (600, 44), (255, 255, 255, 255))
    draw_line(img, (rtl, words), left=24, width=552, baseline=30, size=18, color=(0, 0, 0))
    box = ImageChops.invert(img.convert("L")).getbbox()
    assert box is not None and 600 - 24 - 3 <= box[2] <= 600 - 24 + 2  # against the right margin
    # The first word in logical order is the rightmost one: drawn alone it covers the line's right end.
    first = Image.new("RGBA", (600, 44), (255, 255, 255, 255))
    (_, first_words), = wrap("سلام", 18, 552)
    draw_line(first, (True, first_words), left=24, width=552, baseline=30, size=18, color=(0, 0, 0))
    first_box = ImageChops.invert(first.convert("L")).getbbox()
    assert first_box is not None and abs(first_box[2] - box[2]) <= 1


def test_faces_are_loaded_once_when_threads_ask_at_the_same_time() -> None:
    fonts.clear_caches()
    got: list[fonts.Face] = []
    start = threading.Barrier(8)

    def ask() -> None:
        start.wait()
        got.append(fonts.face("devanagari", 23))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8 and all(f is got[0] for f in got)


def test_a_card_template_is_compiled_once_when_threads_ask_at_once() -> None:
    """Capture threads rendering their first cards at the same moment share one compiled template
    (Jinja2's own cache would let each compile it: about 70 ms each)."""
    import threading

    from archiver.capture.cards import jinja

    jinja._TEMPLATES.clear()
    env = jinja.environment()
    env.cache.clear()
    compiled = []
    loader = env.loader
    assert loader is not None
    real = loader.load

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        # the loader compiles the template, or loads it from the bytecode cache: once for all threads
        compiled.append(args[1] if len(args) > 1 else kwargs.get("name"))
        return real(*args, **kwargs)

    loader.load = counting  # type: ignore[method-assign]
    try:
        barrier = threading.Barrier(8)
        got = []

        def ask() -> None:
            barrier.wait()
            got.append(jinja.template("card.html"))

        threads = [threading.Thread(target=ask) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        del loader.load
    assert len({id(t) for t in got}) == 1
    assert compiled.count("card.html") == 1



# Right-to-left scripts with no entry of their own in scripts.py (bidi class R or AL): Thaana (Dhivehi),
# Syriac, N'Ko, Adlam. Their direction comes from the Unicode bidi class, as Arabic's does.
OTHER_RTL = {"thaana": "ދިވެހި ރާއްޖެ", "syriac": "ܫܠܡܐ ܥܠܡܐ", "nko": "ߒߞߏ ߞߊ߲", "adlam": "𞤀𞤣𞤤𞤢𞤥 𞤆𞤵𞤤𞤢𞤪"}


def test_right_to_left_scripts_without_an_entry_of_their_own_run_right_to_left() -> None:
    for name, text in OTHER_RTL.items():
        (rtl, words), = wrap(text, 18, 552)
        assert rtl, name
        assert all(p.rtl for w in words for p in w), name
        # Shaped right to left: the same glyphs as raqm's own right-to-left layout of the run.
        img = Image.new("RGBA", (600, 44), (255, 255, 255, 255))
        draw_line(img, (rtl, words), left=24, width=552, baseline=30, size=18, color=(0, 0, 0))
        box = ImageChops.invert(img.convert("L")).getbbox()
        assert box is not None and 600 - 24 - 3 <= box[2] <= 600 - 24 + 2, name  # against the right margin
        # The first word in logical order is the rightmost one.
        first = Image.new("RGBA", (600, 44), (255, 255, 255, 255))
        (_, first_words), = wrap(text.split()[0], 18, 552)
        draw_line(first, (True, first_words), left=24, width=552, baseline=30, size=18, color=(0, 0, 0))
        first_box = ImageChops.invert(first.convert("L")).getbbox()
        assert first_box is not None and abs(first_box[2] - box[2]) <= 1, name


def test_a_right_to_left_word_among_latin_ones_is_a_run_of_its_own() -> None:
    text = OTHER_RTL["thaana"]
    runs = _runs_of(f"Hi {text} friends")
    assert runs == [("latin", "Hi"), ("latin", text), ("latin", "friends")]
    (_, words), = wrap(f"Hi {text} friends", 18, 2000)
    assert [w[0].rtl for w in visual_order(False, words)] == [False, True, True, False]


def test_bold_text_of_any_script_is_drawn_with_its_bold_font() -> None:
    # A name in the card's header is bold whatever its script (fonts-noto-core has these bold files).
    for word, script in (("विदेश", "devanagari"), ("سلام", "arabic"), ("שלום", "hebrew"), ("ไทย", "thai"),
                         ("ދިވެހި", "latin"), ("Hello", "latin")):
        regular, = pieces(word, 18, False)
        bold, = pieces(word, 18, True)
        assert bold.script == regular.script == script
        assert bold.face.path and "-Bold." in bold.face.path and "-Regular." in str(regular.face.path), word
        ink = []
        for piece in (regular, bold):
            img = Image.new("L", (200, 40), 255)
            draw_line(img, (piece.rtl, [[piece]]), left=10, width=180, baseline=28, size=18, color=0)
            ink.append(sum(img.histogram()[:128]))
        assert ink[1] > ink[0], word  # heavier strokes
