"""PNG card text drawn from glyphs (capture/cards/glyphs.py): the widths and pixels Pillow's own text
drawing gives, Pillow kept for what would be reordered, the same bytes cold, warm and from threads,
a bounded glyph cache, hostile text bounded in time, and the PNG written by hand read back whole."""

from __future__ import annotations

import io
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageDraw

from archiver.capture.cards import fonts, glyphs, png_card
from archiver.capture.cards.content import card_content
from archiver.capture.cards.png_card import draw_card
from archiver.capture.cards.scripts import visual_order
from archiver.capture.cards.textlayout import _pillow_width, _runs, draw_line, measure, pieces, space_width, wrap
from archiver.capture.manifest import Manifest
from archiver.storage.local import LocalStore

SIZES = (13, 14, 15, 16, 18)  # every size the card draws text at

# (script as textlayout names it, words, raqm language)
SAMPLES = [
    ("latin", "Foreign ministers met in Tianjin, “office” fluffy AVA Tuesday’s 2025-07-15 @ANI #SCO", None),
    ("latin-bold", "ANI News Wave AVATAR office", None),
    ("devanagari", "विदेश मंत्री क्षत्रिय द्वितीय श्रृंगार राष्ट्रभाषा", "hi"),
    ("arabic", "وزير الخارجية الروسي يلتقي نظيره الهندي", "ar"),
    ("hebrew", "ראש הממשלה נפגש היום", "he"),
    ("thai", "นายกรัฐมนตรีกล่าวว่า ประเทศไทย", None),
    ("bengali", "বাংলাদেশের প্রধানমন্ত্রী", "bn"),
    ("cjk", "東京都の小池百合子知事は、記者会見で「新しい政策」を発表しました", None),
]


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "objects", "http://127.0.0.1:1/media")


def _manifest(text: str, lang: str = "en", name: str = "ANI News") -> dict[str, Any]:
    m = Manifest.new(provider="twitter", post_id="1945048830047662087", capture_id="20250715T091233Z-0123abcd",
                     captured_at=datetime(2025, 7, 15, 9, 12, 33, tzinfo=UTC), status="archived",
                     url="https://twitter.com/ANI/status/1945048830047662087").to_json()
    m.update(text=text, text_expanded=text, lang=lang, created_at="2025-07-15T09:00:00.000Z")
    m["author"].update(name=name, handle="ANI")
    return m


def _script_key(script: str) -> str:
    return "latin" if script == "latin-bold" else script


def _max_diff(a: Image.Image, b: Image.Image) -> int:
    return max(ImageChops.difference(a.convert("L"), b.convert("L")).tobytes())


@pytest.mark.parametrize("size", SIZES)
def test_widths_are_the_ones_pillow_lays_out(size: int) -> None:
    """Shaped widths equal Pillow's (libraqm's) to the 64th of a pixel at every card size: HarfBuzz's
    own scaling rounds some advances differently from FreeType's (ligatures at 18 px, most glyphs at
    13, 15 and 16 px)."""
    for script, text, _ in SAMPLES:
        fc = fonts.face(script, size)
        for word in text.split():
            piece, = pieces(word, size, script == "latin-bold")
            assert piece.shaped is not None, (script, word)  # drawn from glyphs, not by Pillow
            assert piece.width == _pillow_width(word, _script_key(script), fc), (script, size, word)


@pytest.mark.parametrize("size", SIZES)
def test_a_line_has_the_pixels_pillow_draws(size: int) -> None:
    """A line drawn from glyphs against Pillow drawing each of its runs in one call (with raqm's
    direction and language) where the line puts it, as the card drew before: the same pixels but
    for a few levels where marks overlap their base, and a few pixels of a glyph that another
    FreeType version hints differently (freetype-py bundles its own). A glyph one pixel off would
    change dozens of pixels by more than a quarter."""
    for script, text, language in SAMPLES:
        (rtl, words), = wrap(text, size, 4000, bold=script == "latin-bold")
        runs = _runs(visual_order(rtl, words), rtl, space_width(size))
        assert all(p.shaped is not None for run in runs for p in run.pieces), script
        ours = Image.new("L", (1200, 60), 255)
        draw_line(ours, (rtl, words), left=10.5, width=1180, baseline=40, size=size, color=0, align_right=False)
        theirs = Image.new("L", (1200, 60), 255)
        kwargs: dict[str, Any] = {"direction": "rtl" if rtl else "ltr"}
        if language:
            kwargs["language"] = language
        for run in runs:
            ImageDraw.Draw(theirs).text((10.5 + run.x, 40), run.text, font=run.pieces[0].face.font, fill=0,
                                        anchor="ls", **kwargs)
        diff = ImageChops.difference(ours, theirs).tobytes()
        ink = sum(1 for v in theirs.tobytes() if v < 128)
        assert ink > 100, script
        assert sum(1 for v in diff if v > 64) <= 3, (script, size)
        assert sum(diff) <= 0.01 * 255 * ink, (script, size)


def test_runs_the_bidirectional_algorithm_would_reorder_are_drawn_by_pillow() -> None:
    """Digits inside an Arabic word (read left to right within it) and directional controls are
    left to Pillow's libraqm, which reorders them; glyphs.py would draw them in one direction."""
    arabic = fonts.face("arabic", 18)
    for word, script in (("يوم15", "arabic"), ("٢٠٢٥م", "arabic"), ("abc\u202edef", "latin")):
        piece, = pieces(word, 18, False)
        assert piece.script == script and piece.shaped is None, word
    (rtl, words), = wrap("قال يوم15 يوليو 2025", 18, 552)
    runs = _runs(visual_order(rtl, words), rtl, space_width(18))
    assert any(p.shaped is None for run in runs for p in run.pieces)
    ours = Image.new("L", (600, 44), 255)
    draw_line(ours, (rtl, words), left=10.5, width=552, baseline=30, size=18, color=0, align_right=False)
    theirs = Image.new("L", (600, 44), 255)  # each run drawn by Pillow where the line puts it
    for run in runs:
        ImageDraw.Draw(theirs).text((10.5 + run.x, 30), run.text, font=run.pieces[0].face.font, fill=0,
                                    anchor="ls", direction="rtl" if run.pieces[0].rtl else "ltr",
                                    language="ar" if run.pieces[0].rtl else None)
    diff = ImageChops.difference(ours, theirs).tobytes()
    assert sum(1 for v in diff if v > 64) <= 3
    assert measure("يوم15", "arabic", arabic) == _pillow_width("يوم15", "arabic", arabic)


MIXED = ("Foreign ministers met in Tianjin 🎉 विदेश मंत्री डॉ. एस. जयशंकर ने तियानजिन में "
         "وزير الخارجية الروسي يلتقي نظيره 15 يوليو 2025 天津で日印外相が会談した 👨‍👩‍👧 🇮🇳 https://example.com/x")


def test_the_same_card_is_the_same_bytes_cold_warm_and_from_threads(store: LocalStore) -> None:
    content = card_content(_manifest(MIXED), store)
    fonts.clear_caches()
    cold = draw_card(content, store)
    assert draw_card(content, store) == cold
    fonts.clear_caches()
    got: list[bytes] = []
    start = threading.Barrier(6)

    def draw() -> None:
        start.wait()
        got.extend(draw_card(content, store) for _ in range(3))

    threads = [threading.Thread(target=draw) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 18 and set(got) == {cold}


def test_the_glyph_cache_is_bounded_and_eviction_changes_nothing(store: LocalStore,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    text = "".join(chr(c) for c in range(0x4E00, 0x4E00 + 600))  # 600 different CJK glyphs
    content = card_content(_manifest(text, "zh"), store)
    fonts.clear_caches()
    whole = draw_card(content, store)
    monkeypatch.setattr(glyphs, "MAX_GLYPHS", 50)
    fonts.clear_caches()
    assert draw_card(content, store) == whole
    kept = {id(f): len(f.masks) for f, _ in glyphs._order}
    assert len(glyphs._order) <= 50 and sum(kept.values()) <= 50
    fonts.clear_caches()


def test_without_the_glyph_libraries_pillow_draws_the_same_card(store: LocalStore,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    content = card_content(_manifest(MIXED), store)
    with_glyphs = Image.open(io.BytesIO(draw_card(content, store))).convert("RGB")

    def missing(*_: Any) -> None:
        raise ImportError("No module named 'uharfbuzz'")

    monkeypatch.setattr(glyphs.GlyphFont, "__init__", missing)
    fonts.clear_caches()
    try:
        png = draw_card(content, store)
        assert not glyphs._order  # no glyph drawn from a cache: Pillow drew them all
    finally:
        monkeypatch.undo()
        fonts.clear_caches()
    by_pillow = Image.open(io.BytesIO(png)).convert("RGB")
    assert by_pillow.size == with_glyphs.size
    diff = ImageChops.difference(by_pillow, with_glyphs).convert("L")
    # The same layout and positions: only hinting and the rounding where marks overlap differ.
    assert sum(1 for v in diff.tobytes() if v > 40) < 0.002 * diff.width * diff.height


@pytest.mark.parametrize("text", [
    "a" + "\u0301" * 3999,  # one letter under 3,999 combining marks
    "क्ष" * 1333,  # one Devanagari word of 4,000 characters
    "سلام" * 1000,  # one Arabic word of 4,000 characters
    ("abcسلام१२३🎉" * 400)[:4000],  # scripts changing every few characters, no space
    "👨\u200d" * 400,  # one emoji sequence of 800 characters joined by ZWJ
])
def test_hostile_text_is_drawn_in_bounded_time(store: LocalStore, text: str) -> None:
    content = card_content(_manifest(text), store)
    draw_card(content, store)  # fonts loaded
    t = time.process_time()
    png = draw_card(content, store)
    assert time.process_time() - t < 1.5
    assert Image.open(io.BytesIO(png)).height <= png_card.MAX_PNG_HEIGHT


def test_a_huge_name_is_laid_out_only_as_far_as_the_header_shows(store: LocalStore) -> None:
    content = card_content(_manifest("hello", name="N" * 100_000 + "\u0301" * 100_000), store)
    t = time.process_time()
    draw_card(content, store)
    assert time.process_time() - t < 0.5


def test_the_card_png_carries_its_text_chunks_and_reads_back() -> None:
    """The card is a PNG (Pillow's encoder) with the "Software" chunk and, when a script had no font of its
    own, "archiver-font-fallback"; the same card gives the same bytes."""
    canvas = png_card._Canvas()
    canvas.text("Card text", 18, canvas.INK)
    canvas.fallbacks.update({"emoji", "devanagari"})
    data = canvas.render(None, "Desk", "desk")
    back = Image.open(io.BytesIO(data))
    back.load()
    assert back.format == "PNG" and back.mode == "RGB" and back.width == png_card._Canvas.WIDTH
    assert back.info["archiver-font-fallback"] == "devanagari,emoji" and back.info["Software"] == "archiver card"
    again = png_card._Canvas()
    again.text("Card text", 18, again.INK)
    again.fallbacks.update({"devanagari", "emoji"})
    assert again.render(None, "Desk", "desk") == data
