"""Card text drawn from glyphs rasterised once per process: shaping by HarfBuzz, glyph masks by FreeType.

Pillow's ``ImageDraw.text`` lays out its string and then loads, hints and renders every glyph of it
again, four times per glyph in all, for every call; Noto's hinting bytecode makes that about 37 µs a
glyph, so a card of ten lines spent most of its time hinting the same few dozen letters. Here text is
shaped by uharfbuzz (glyph ids and 26.6 positions: the HarfBuzz shaping libraqm does inside Pillow,
with the advances FreeType gives it), which takes about a microsecond a word, and each glyph of a
font at a size is rendered once (freetype-py, with Pillow's load flags, so the same hinted mask) and
kept in a cache bounded over all fonts and shared by all threads; a line is then the glyph masks
blended onto the card with the text colour at the pixels Pillow would round them to. Output is
Pillow's to the pixel but for a few levels where marks overlap their base (Devanagari, Bengali,
Thai: Pillow merges the masks before blending) and the odd glyph that freetype-py's FreeType hints a
little differently from the one inside Pillow's wheel.

What this path does not take (``shape`` returns None and the caller draws with Pillow as before):
fonts that cannot be used here (no file, embedded bitmap strikes such as colour emoji, either library
missing) and runs whose characters would be reordered by the bidirectional algorithm (digits or
Latin inside a right-to-left run, directional controls), which libraqm reorders and this does not.

freetype-py and uharfbuzz are imported when the first card is drawn, not with this module.
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import ImageDraw

log = logging.getLogger(__name__)

# Glyph masks kept per process, all fonts and sizes together; the oldest are dropped beyond it. A
# mask of the card's sizes (13-18 px) holds a few hundred bytes of pixels but costs about 2.5 KB with
# Pillow's image object (measured: 16,384 masks took about 40 MB), so this is about 10 MB at most;
# a card uses a few hundred glyphs, a run of CJK or mixed scripts a few thousand.
MAX_GLYPHS = 4096

# Characters that make the bidirectional algorithm reorder part of a run: strong or numeric characters
# of the other direction, and explicit embeddings, overrides and isolates.
_CONTROLS = frozenset({"LRE", "LRO", "RLE", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"})
_REORDERED_IN_RTL = frozenset({"L", "EN", "AN"}) | _CONTROLS
_REORDERED_IN_LTR = frozenset({"R", "AL", "AN"}) | _CONTROLS


@dataclass(frozen=True, slots=True)
class Shaped:
    """A run shaped into glyphs in visual order (left to right): per glyph its id and its position
    relative to the run's origin on the baseline, in 26.6 fixed point (1/64 pixel; ``dy`` up);
    ``advance`` is the run's width in 26.6."""

    font: GlyphFont
    glyphs: list[tuple[int, int, int]]  # (glyph id, dx, dy); not changed once made
    advance: int


class GlyphFont:
    """One font file at one pixel size: its HarfBuzz font for shaping and its FreeType face for
    glyph masks, and the masks already rendered (``masks``, by glyph id; see ``mask``). Thread-safe:
    shaping uses a font that is not changed once made, and the FreeType face is used under a lock."""

    def __init__(self, path: str, size: int) -> None:
        import freetype  # lazy: see the note at the top
        import uharfbuzz as hb

        self.path, self.size = path, size
        with _library_lock:  # FT_New_Face on the shared FreeType library
            self._ft = freetype.Face(path)
        if self._ft.num_fixed_sizes or not self._ft.is_scalable:
            raise ValueError(f"{path}: a bitmap font")
        self._ft.set_pixel_sizes(0, size)  # Pillow's request: nominal size, size x size pixels
        self._load_flags = freetype.FT_LOAD_DEFAULT | freetype.FT_LOAD_RENDER  # Pillow's, for an "L" mask
        self._gray = freetype.FT_PIXEL_MODE_GRAY
        self._ft_error = freetype.FT_Exception
        self._lock = threading.Lock()
        self.masks: dict[int, tuple[int, int, Any]] = {}
        hb_face = hb.Face(hb.Blob.from_file_path(path))
        font = hb.Font(hb_face)
        font.scale = (size * 64, size * 64)  # positions in 26.6, as libraqm's FreeType-backed font
        font.ppem = (size, size)
        # Advances as FreeType gives them to libraqm: unhinted, scaled by FreeType's x_scale (which
        # rounds size/upem where HarfBuzz's own scaling truncates it) into 16.16 and rounded again
        # to 26.6 by hb-ft; HarfBuzz's single rounding differs by a 64th of a pixel for some glyphs
        # and sizes, enough to move a glyph by a pixel now and then. So a sub-font answers the
        # advances as FreeType does; all else (GSUB, GPOS, the cmap) is HarfBuzz's own, as it is
        # inside libraqm.
        upem = hb_face.upem
        x_scale = (size * 64 * 65536 + upem // 2) // upem  # FT_DivFix(size * 64, upem)
        unscaled = hb.Font(hb_face)  # font units

        def advance(_font: Any, gid: int, _data: Any) -> int:
            # FT_Get_Advance (FT_MulDiv(units, x_scale, 64), in 16.16), then hb-ft's rounding to 26.6.
            return ((unscaled.get_glyph_h_advance(gid) * x_scale + 32) // 64 + 512) >> 10

        funcs = hb.FontFuncs()
        funcs.set_glyph_h_advance_func(advance, None)
        sub = hb.Font(font)  # what its functions do not answer, the parent font does
        sub.funcs = funcs
        self._keep = (font, unscaled, funcs)
        font = sub
        self._hb = font

    def _buffers(self, text: str, rtl: bool, language: str | None) -> Iterator[Any]:
        """HarfBuzz buffers of ``text`` shaped in one direction, in visual order: one per run of one
        Unicode script as libraqm cuts them, each shaped with the whole text as context."""
        import uharfbuzz as hb  # lazy: see the note at the top

        items = _script_items(text)
        for start, end in reversed(items) if rtl else items:
            buf = hb.Buffer()
            buf.add_str(text, start, end - start)
            buf.direction = "rtl" if rtl else "ltr"
            buf.guess_segment_properties()
            if language:
                buf.language = language
            hb.shape(self._hb, buf)
            yield buf

    def shape(self, text: str, rtl: bool, language: str | None) -> Shaped:
        """``text`` shaped in one direction (``_buffers``) into glyphs and their positions."""
        glyphs: list[tuple[int, int, int]] = []
        add = glyphs.append
        pen = 0
        for buf in self._buffers(text, rtl, language):
            for info, pos in zip(buf.glyph_infos, buf.glyph_positions, strict=True):
                add((info.codepoint, pen + pos.x_offset, pos.y_offset))
                pen += pos.x_advance
        return Shaped(self, glyphs, pen)

    def clusters(self, text: str, rtl: bool, language: str | None) -> list[tuple[int, int]]:
        """Where ``text`` may be cut without breaking a cluster (a letter with its marks, a conjunct, a
        ligature): (first character index, advance in 26.6) per cluster, in logical order."""
        widths: dict[int, int] = {}
        for buf in self._buffers(text, rtl, language):
            for info, pos in zip(buf.glyph_infos, buf.glyph_positions, strict=True):
                widths[info.cluster] = widths.get(info.cluster, 0) + pos.x_advance
        return sorted(widths.items())

    def mask(self, gid: int) -> tuple[int, int, Any]:
        """Glyph ``gid``'s mask as (left, top, Pillow core "L" image or None when it draws nothing),
        left and top relative to the pen position (top upwards), as FreeType renders it for Pillow.
        Rendered once and kept; at most MAX_GLYPHS masks are kept in all fonts together, the oldest
        dropped first."""
        found = self.masks.get(gid)
        if found is not None:
            return found
        with self._lock:
            try:
                made = self._render(gid)
            except (ValueError, self._ft_error) as exc:  # a broken glyph draws nothing, the card goes on
                log.warning("card: glyph %d of %s not drawn (%s)", gid, self.path, exc)
                made = (0, 0, None)
        with _masks_lock:
            if gid not in self.masks:
                self.masks[gid] = made
                _order.append((self, gid))
                while len(_order) > MAX_GLYPHS:
                    font, old = _order.popleft()
                    font.masks.pop(old, None)
        return made

    def _render(self, gid: int) -> tuple[int, int, Any]:
        import ctypes

        from PIL import Image  # lazy: Pillow is imported when a card is drawn (see png_card)

        self._ft.load_glyph(gid, self._load_flags)
        slot = self._ft.glyph
        bitmap = slot.bitmap
        width, rows, pitch = bitmap.width, bitmap.rows, bitmap.pitch
        if not width or not rows:
            return slot.bitmap_left, slot.bitmap_top, None
        if bitmap.pixel_mode != self._gray or pitch < width:
            raise ValueError(f"{self.path}: glyph {gid} is not an 8-bit grey mask")
        data = ctypes.string_at(bitmap._FT_Bitmap.buffer, pitch * rows)
        mask = Image.frombuffer("L", (width, rows), data, "raw", "L", pitch, 1)
        mask.load()
        return slot.bitmap_left, slot.bitmap_top, mask.im


_library_lock = threading.Lock()
_fonts: dict[tuple[str, int], GlyphFont | None] = {}
_fonts_lock = threading.Lock()
_order: deque[tuple[GlyphFont, int]] = deque()  # the masks kept, oldest first
_masks_lock = threading.Lock()


def glyph_font(path: str | None, size: int) -> GlyphFont | None:
    """The font at ``path`` and ``size`` pixels for drawing from glyphs, loaded once per process;
    None when it cannot be used here (no path, a bitmap font, unreadable, or freetype-py or uharfbuzz
    missing), in which case Pillow draws it."""
    if path is None:
        return None
    key = (path, size)
    try:
        return _fonts[key]
    except KeyError:
        pass
    with _fonts_lock:
        if key not in _fonts:
            try:
                _fonts[key] = GlyphFont(path, size)
            except Exception as exc:  # freetype-py's FT_Exception for an unreadable file has no narrower base
                log.info("card: drawing %s with Pillow (%s)", path, exc)
                _fonts[key] = None
        return _fonts[key]


def shape(text: str, rtl: bool, font: GlyphFont | None, language: str | None) -> Shaped | None:
    """``text`` (one run of one script, in one direction) shaped with ``font``; None when this path
    cannot draw it: no font, or characters the bidirectional algorithm would reorder within it."""
    if font is None or not text:
        return None
    reordered = _REORDERED_IN_RTL if rtl else _REORDERED_IN_LTR
    if (rtl or not text.isascii()) and any(_bidi(c) in reordered for c in text):
        return None
    try:
        return font.shape(text, rtl, language)
    except (ValueError, MemoryError) as exc:
        log.info("card: HarfBuzz could not shape a run (%s); drawing it with Pillow", exc)
        return None


@lru_cache(maxsize=8192)  # per character (thread-safe)
def _bidi(ch: str) -> str:
    return unicodedata.bidirectional(ch)


@lru_cache(maxsize=8192)  # per character (thread-safe)
def _script(ch: str) -> str | None:
    """The Unicode script of ``ch`` as HarfBuzz names it; None for common and inherited characters."""
    import uharfbuzz as hb  # lazy: see the note at the top

    buf = hb.Buffer()
    buf.add_str(ch)
    buf.guess_segment_properties()
    script = buf.script
    return script if script not in (None, "Zyyy", "Zinh", "Zzzz") else None


def _script_items(text: str) -> list[tuple[int, int]]:
    """``text`` cut where its Unicode script changes, as (start, end) character indexes; common and
    inherited characters (spaces, digits, punctuation, marks) stay with the script before them, or
    the one after them at the start (libraqm's itemisation without its bracket pairing)."""
    if text.isascii():
        return [(0, len(text))]
    items: list[tuple[int, int]] = []
    current: str | None = None
    start = 0
    for i, ch in enumerate(text):
        script = _script(ch) if not ch.isascii() else ("Latn" if ch.isalpha() else None)
        if script is None or script == current:
            continue
        if current is None:
            current = script  # the leading neutrals take the first script
            continue
        items.append((start, i))
        start, current = i, script
    items.append((start, len(text)))
    return items


def draw(draw_: ImageDraw.ImageDraw, ink: int, x: float, baseline: float, shaped: Shaped) -> None:
    """Blend ``shaped``'s glyph masks with ``ink`` (``ImageDraw``'s ink for the text colour) onto
    ``draw_``'s image, its origin at ``x`` on ``baseline``, rounded to pixels as Pillow rounds them."""
    bitmap = draw_.draw.draw_bitmap  # the C call ImageDraw.text draws its text mask with
    ix, iy = int(x), int(baseline)
    x64, y64 = _round((x - ix) * 64) + 32, _round((baseline - iy) * 64) - 32
    font = shaped.font
    masks, mask = font.masks, font.mask
    for gid, dx, dy in shaped.glyphs:
        left, top, im = masks.get(gid) or mask(gid)
        if im is not None:
            bitmap((ix + ((x64 + dx) >> 6) + left, iy - ((dy - y64) >> 6) - top), im, ink)


def _round(v: float) -> int:
    """Half away from zero, as C's round() in Pillow."""
    return int(v + 0.5) if v >= 0 else -int(-v + 0.5)


_cmaps: dict[str, Any] = {}  # font file -> its FreeType face, for cmap look-ups only (None: unreadable)
_cmaps_lock = threading.Lock()


@lru_cache(maxsize=65536)  # per font file and character (thread-safe)
def has_glyph(path: str, cp: int) -> bool | None:
    """Whether the font file at ``path`` (its first face, as Pillow loads it) maps code point ``cp`` to a
    glyph of its own (its cmap; a character it lacks would be drawn as .notdef, a tofu box); None when
    that cannot be told (the file or freetype-py cannot be read)."""
    with _cmaps_lock:
        ft = _cmaps.get(path, False)
        if ft is False:
            try:
                import freetype  # lazy: see the note at the top

                with _library_lock:  # FT_New_Face on the shared FreeType library
                    ft = freetype.Face(path)
            except Exception as exc:  # freetype-py's FT_Exception has no narrower base; ImportError
                log.info("card: cannot read the characters of %s (%s)", path, exc)
                ft = None
            _cmaps[path] = ft
        if ft is None:
            return None
        return bool(ft.get_char_index(cp))


def clear_caches() -> None:
    """Forget the fonts and glyph masks (with fonts.clear_caches)."""
    with _fonts_lock, _masks_lock:
        _fonts.clear()
        _order.clear()
    with _cmaps_lock:
        _cmaps.clear()
    has_glyph.cache_clear()
