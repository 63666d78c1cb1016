"""Text layout for the PNG card: words cut into script runs, measured with their fonts, wrapped into
lines of a given width, and drawn in visual order.

Pillow draws one string with one font; a tweet mixes scripts and directions within a line. This
module turns text into lines of words, each word a list of ``Piece`` (one script run with its face and
width), so the card (png_card.py) only places lines and draws them. Widths and positions are in
pixels. A run is shaped once when it is measured (glyphs.py: HarfBuzz, as libraqm shapes inside
Pillow) and drawn from glyph masks rendered once per process; what glyphs.py does not take (Pillow's
built-in font, bitmap emoji, runs the bidirectional algorithm would reorder) is measured and drawn by
Pillow, with raqm's shaping and direction when Pillow has it and the font is the script's own.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from archiver.capture.cards import glyphs
from archiver.capture.cards.fonts import BOLD, Face, candidates, face, raqm
from archiver.capture.cards.scripts import LANGUAGE, paragraph_rtl, run_rtl, script_runs, visual_order

if TYPE_CHECKING:
    from PIL import Image, ImageDraw

Color = tuple[int, int, int]

Word = list["Piece"]

Line = tuple[bool, list[Word]]  # (right-to-left paragraph, words in logical order)

# A cut between characters Pillow draws is never put off for more than this many characters (a
# word of thousands of emoji joined by ZWJ would otherwise be one part, drawn as one huge tile).
MAX_CLUSTER_CHARS = 32
# Scaled emoji tiles kept per process: runs of at most MAX_TILE_KEPT_CHARS characters, a tile of at
# most about 30 KB (one emoji at the card's sizes is about 1 KB); a longer run is drawn each time.
MAX_EMOJI_TILES = 128
MAX_TILE_KEPT_CHARS = MAX_CLUSTER_CHARS
# Combining marks drawn per character (``cap_marks``): of those stacking above or below it, and in all.
MAX_STACKED_MARKS = 4
MAX_MARKS = 8


@dataclass
class Piece:
    """One run of one word: drawn with one face in one direction; ``width`` in pixels; ``shaped``
    holds its glyphs when glyphs.py draws it (None: Pillow draws it)."""

    text: str
    script: str
    face: Face
    width: float
    shaped: glyphs.Shaped | None = None
    # What the card records of this piece in its ``archiver-font-fallback`` chunk: characters no font has
    # (``missing:U+10D0``) and characters drawn as their NFKC folding (``nfkc:U+1D401``).
    lost: tuple[str, ...] = ()
    source: str | None = None  # the word's own characters when ``text`` is their NFKC folding

    @property
    def rtl(self) -> bool:
        return run_rtl(self.text, self.script)


def _direction(rtl: bool, fc: Face) -> dict[str, Any]:
    """The raqm direction argument for a run, when raqm shapes it (not for a fallback face)."""
    if raqm() and not fc.fallback:
        return {"direction": "rtl" if rtl else "ltr"}
    return {}


def _glyph_font(fc: Face) -> glyphs.GlyphFont | None:
    """The face's font for glyphs.py; None for bitmap emoji and Pillow's built-in font."""
    size = getattr(fc.font, "size", None)
    if fc.emoji or not isinstance(size, int):
        return None
    return glyphs.glyph_font(fc.path, size)


def _language(script: str, fc: Face) -> str | None:
    """The language a run of ``script`` is shaped in: the script's own, unless ``fc`` stands in for it."""
    return None if fc.fallback else LANGUAGE.get(script)


def _measured(text: str, script: str, fc: Face) -> tuple[float, glyphs.Shaped | None]:
    """The advance width of ``text`` drawn with ``fc`` in pixels, and its glyphs when glyphs.py draws it
    (None: Pillow measures and draws it)."""
    shaped = glyphs.shape(text, run_rtl(text, script), _glyph_font(fc), _language(script, fc))
    if shaped is not None:
        return shaped.advance / 64 * fc.scale, shaped
    return _pillow_width(text, script, fc), None


def _pillow_width(text: str, script: str, fc: Face) -> float:
    """The advance width of ``text`` as Pillow lays it out, in pixels."""
    try:
        return float(fc.font.getlength(text, **_direction(run_rtl(text, script), fc))) * fc.scale
    except (OSError, ValueError, KeyError):
        return float(fc.font.getlength(text)) * fc.scale


def measure(text: str, script: str, fc: Face) -> float:
    """The advance width of ``text`` of ``script`` drawn with ``fc``, in pixels."""
    return _measured(text, script, fc)[0]


@lru_cache(maxsize=256)
def _space(script: str, fc: Face) -> float:
    """The width of a space drawn with ``fc``, in pixels (per face, kept for the process)."""
    return measure(" ", script, fc)


def space_width(size: int) -> float:
    """The width of a space between words at ``size`` pixels (the Latin font's)."""
    return _space("latin", face("latin", size))


def pieces(word: str, size: int, bold: bool) -> Word:
    """``word`` as its script runs, each with its face at ``size`` pixels and its width; a run is cut
    further where its face lacks glyphs (``covered``)."""
    out = []
    for script, run in script_runs(word):
        key = script + BOLD if bold and script != "emoji" else script
        for text, fc, lost, source in covered(run, key, size):
            out.append(Piece(text, script, fc, *_measured(text, script, fc), lost=lost, source=source))
    return out


def _needs_glyph(ch: str) -> bool:
    """Whether ``ch`` is drawn with a glyph of its own (not a joiner, variation selector, tag or other
    default-ignorable character, which shaping hides)."""
    return unicodedata.category(ch) not in ("Cf", "Cc", "Zs", "Zl", "Zp") and not (
        "\ufe00" <= ch <= "\ufe0f" or "\U000e0100" <= ch <= "\U000e01ef")


def _has(fc: Face, ch: str) -> bool:
    """Whether ``fc`` has a glyph for ``ch`` (True when that cannot be told: Pillow's built-in font)."""
    return fc.path is None or glyphs.has_glyph(fc.path, ord(ch)) is not False


def _cover(fc: Face, text: str) -> bool:
    return all(_has(fc, c) for c in text if _needs_glyph(c))


def covered(run: str, script: str, size: int) -> list[tuple[str, Face, tuple[str, ...], str | None]]:
    """``run`` (of ``script``, a FONT_CHAINS key) cut so that every character is drawn with a face that
    has its glyph: (text, face, lost, source) parts, in logical order. A cluster (a character with the
    marks and joiners that attach to it) the script's face lacks is drawn with the first of
    ``fonts.candidates`` that has all of it; else with its NFKC folding (𝐁 as B) when a face has that
    (``source`` keeps the cluster, ``lost`` says ``nfkc:U+…``); else with the script's face, and ``lost``
    names each character no font has (``missing:U+…``), which the card records."""
    primary = face(script, size)
    if _cover(primary, run):
        return [(run, primary, (), None)]
    parts: list[tuple[str, Face, tuple[str, ...], str | None]] = []
    start = 0
    for end in range(1, len(run) + 1):
        if end < len(run) and _attaches(run, end):
            continue
        cluster = run[start:end]
        start = end
        text, fc, lost, source = cluster, primary, (), None
        if not _cover(primary, cluster):
            faces: list[Face] = []  # the candidates tried, each loaded only when the ones before lack it
            found = None
            for f in candidates(script, cluster[0], size):
                faces.append(f)
                if _cover(f, cluster):
                    found = f
                    break
            if found is not None:
                fc = found
            else:
                folded = unicodedata.normalize("NFKC", cluster)
                fold_face = next((f for f in (primary, *faces) if _cover(f, folded)), None) \
                    if folded != cluster and folded.strip() else None
                if fold_face is not None:
                    text, fc, source = folded, fold_face, cluster
                    lost = tuple(f"nfkc:U+{ord(c):04X}" for c in cluster if _needs_glyph(c) and not _has(primary, c))
                else:
                    lost = tuple(f"missing:U+{ord(c):04X}" for c in cluster
                                 if _needs_glyph(c) and not any(_has(f, c) for f in (primary, *faces)))
        prev = parts[-1] if parts else None
        if prev is not None and prev[1] is fc and prev[3] is None and source is None:
            parts[-1] = (prev[0] + text, fc, prev[2] + lost, None)
        else:
            parts.append((text, fc, lost, source))
    return parts


def _clusters(word: str, size: int, bold: bool) -> list[tuple[int, float]]:
    """Where ``word`` may be cut and what each part between cuts adds to its width: (first character
    index, width in pixels) in logical order. Shaped runs cut between HarfBuzz clusters (a letter with
    its marks, a conjunct, a ligature stay whole); a run Pillow draws cuts before each character that
    does not attach to the one before it (marks, joiners, variation selectors, the second regional
    indicator of a flag), and at least every MAX_CLUSTER_CHARS characters."""
    out: list[tuple[int, float]] = []
    at = 0
    for piece in pieces(word, size, bold):
        if piece.source is not None:  # drawn as its folding: one cluster of the word's own characters
            out.append((at, piece.width))
            at += len(piece.source)
            continue
        if piece.shaped is not None:
            clusters = piece.shaped.font.clusters(piece.text, piece.rtl, _language(piece.script, piece.face))
            out.extend((at + i, adv / 64 * piece.face.scale) for i, adv in clusters)
        else:
            start = 0
            for i in range(1, len(piece.text) + 1):
                if i == len(piece.text) or not _attaches(piece.text, i) or i - start >= MAX_CLUSTER_CHARS:
                    out.append((at + start, _pillow_width(piece.text[start:i], piece.script, piece.face)))
                    start = i
        at += len(piece.text)
    return out


def _attaches(text: str, i: int) -> bool:
    """Whether ``text[i]`` belongs to the character before it when a word is cut."""
    ch, prev = text[i], text[i - 1]
    if prev == "\u200d" or unicodedata.category(ch) in ("Mn", "Mc", "Me", "Cf", "Sk") or ch in "\ufe0e\ufe0f":
        return True
    if "\U0001f1e6" <= ch <= "\U0001f1ff" and "\U0001f1e6" <= prev <= "\U0001f1ff":
        # The second of a pair of regional indicators (a flag): count the indicators before it.
        n = 0
        while i - n - 1 >= 0 and "\U0001f1e6" <= text[i - n - 1] <= "\U0001f1ff":
            n += 1
        return n % 2 == 1
    return "\U0001f3fb" <= ch <= "\U0001f3ff" or "\U000e0020" <= ch <= "\U000e007f"


def _split_long(word: str, size: int, bold: bool, width: int) -> Iterator[str]:
    """A word wider than the line, cut into parts that fit (URLs, hostile input), between clusters
    (``_clusters``); a cluster wider than the line alone is a part of its own. Linear in the word's
    length: every cluster is measured once."""
    start, used = 0, 0.0
    for at, w in _clusters(word, size, bold):
        if at > start and used + w > width:
            yield word[start:at]
            start, used = at, 0.0
        used += w
    if start < len(word):
        yield word[start:]


def cap_marks(text: str) -> str:
    """``text`` as it is drawn: a character keeps at most MAX_STACKED_MARKS of the combining marks that
    stack above or below it (canonical combining class 200 and up: accents, zalgo) and at most MAX_MARKS
    combining marks in all; the rest are left out of the drawing (the card's HTML and the manifest keep
    them). Variation selectors are not counted."""
    if text.isascii():
        return text
    out: list[str] = []
    stacked = marks = 0
    for ch in text:
        if unicodedata.category(ch) in ("Mn", "Me") and not ("\ufe00" <= ch <= "\ufe0f"
                                                              or "\U000e0100" <= ch <= "\U000e01ef"):
            marks += 1
            stack = unicodedata.combining(ch) >= 200
            stacked += stack
            if marks > MAX_MARKS or (stack and stacked > MAX_STACKED_MARKS):
                continue
        elif unicodedata.category(ch) not in ("Mc", "Cf"):
            stacked = marks = 0
        out.append(ch)
    return "".join(out)


def wrap(text: str, size: int, width: int, bold: bool = False) -> list[Line]:
    """``text`` as lines at most ``width`` pixels wide (one line at least per paragraph, split at
    newlines), each with its paragraph's direction; combining marks are capped first (``cap_marks``)."""
    lines: list[Line] = []
    space_w = space_width(size)
    for para in cap_marks(text).split("\n"):
        rtl = paragraph_rtl(para)
        words: list[Word] = []
        for raw in para.split():
            word = pieces(raw, size, bold)
            if sum(p.width for p in word) > width:
                words.extend(pieces(part, size, bold) for part in _split_long(raw, size, bold, width))
            else:
                words.append(word)
        line: list[Word] = []
        used = 0.0
        for w in words:
            ww = sum(p.width for p in w)
            if line and used + space_w + ww > width:
                lines.append((rtl, line))
                line, used = [], 0.0
            used += (space_w if line else 0) + ww
            line.append(w)
        lines.append((rtl, line))
    return lines


def _draw_text(draw: ImageDraw.ImageDraw, x: float, baseline: float, text: str, script: str, fc: Face,
               fill: Color) -> None:
    """Draw ``text`` (one script, one face, logical order) from ``x`` on ``baseline`` in one call."""
    kwargs = _direction(run_rtl(text, script), fc)
    if kwargs and script in LANGUAGE:
        kwargs["language"] = LANGUAGE[script]
    draw.text((x, baseline), text, font=fc.font, fill=fill, anchor="ls", **kwargs)


def _draw_emoji(img: Image.Image, x: float, baseline: float, piece: Piece) -> None:
    """Bitmap emoji: drawn at the font's one size in colour, then scaled to the line's size (each
    short sequence once per face and process: ``_kept_emoji_tile``)."""
    make = _kept_emoji_tile if len(piece.text) <= MAX_TILE_KEPT_CHARS else _emoji_tile
    tile, left, top = make(piece.text, piece.script, piece.face)
    at = (round(x + left), round(baseline + top))
    if img.mode == "RGBA":
        img.alpha_composite(tile, at)
    else:
        img.paste(tile, at, tile)


def _emoji_tile(text: str, script: str, fc: Face) -> tuple[Image.Image, float, float]:
    """``text`` drawn in colour with the emoji face and scaled by its ``scale``, with the offset of
    the tile's top left corner from the pen position on the baseline, in pixels."""
    kwargs = _direction(run_rtl(text, script), fc)
    left, top, right, bottom = fc.font.getbbox(text, anchor="ls", **kwargs)
    w, h = max(1, int(right - left)), max(1, int(bottom - top))
    from PIL import Image, ImageDraw  # lazy: Pillow is imported when a card is drawn (see png_card)

    tile = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    ImageDraw.Draw(tile).text((-left, -top), text, font=fc.font, embedded_color=True, anchor="ls", **kwargs)
    sw, sh = max(1, round(w * fc.scale)), max(1, round(h * fc.scale))
    return tile.resize((sw, sh), Image.Resampling.LANCZOS), left * fc.scale, top * fc.scale


_kept_emoji_tile = lru_cache(maxsize=MAX_EMOJI_TILES)(_emoji_tile)  # thread-safe; a tile is only read


@dataclass
class _Run:
    """Pieces next to each other on a line, left to right, drawn in one call: one script, one face,
    words separated by that face's own space (``gap`` pixels)."""

    x: float
    pieces: list[Piece]
    gap: float
    width: float

    @property
    def text(self) -> str:
        """The run in logical order: a right-to-left run's words read from the right."""
        words = reversed(self.pieces) if self.pieces[0].rtl else self.pieces
        return " ".join(p.text for p in words)


def _runs(ordered: list[Word], rtl: bool, space: float) -> list[_Run]:
    """The line's pieces (words already in visual order) merged into runs drawn in one call each.

    Two pieces merge when they are neighbouring words (one space apart) of the same script drawn with
    the same face (not bitmap emoji, which are scaled tiles) whose own space is no wider than the
    layout's ``space``: the run then takes no more room than the layout gave it, so lines wrapped by
    ``wrap`` still fit. Inside a run words are ``gap`` (the face's space) apart; runs are ``space``
    apart, as the layout measured."""
    runs: list[_Run] = []
    for i, w in enumerate(ordered):
        for j, p in enumerate(reversed(w) if rtl else w):
            prev = runs[-1] if runs else None
            word_start = j == 0 and i > 0
            if (prev is not None and word_start and not p.face.emoji and prev.pieces[-1].face is p.face
                    and prev.pieces[-1].script == p.script and prev.gap <= space):
                prev.pieces.append(p)
                prev.width += prev.gap + p.width
                continue
            x = prev.x + prev.width + (space if word_start else 0) if prev is not None else 0.0
            gap = space if p.face.emoji else _space(p.script, p.face)
            runs.append(_Run(x, [p], gap, p.width))
    return runs


def _run_glyphs(run: _Run) -> glyphs.Shaped | None:
    """The run's text shaped as one string, as Pillow would shape it in one call (a space between
    words is shaped in context, kerned with its neighbours where the font says so); None when a
    piece is Pillow's to draw."""
    first = run.pieces[0]
    if first.shaped is None or any(p.shaped is None for p in run.pieces):
        return None
    if len(run.pieces) == 1:
        return first.shaped
    return glyphs.shape(run.text, first.rtl, first.shaped.font, _language(first.script, first.face))


def draw_line(img: Image.Image, line: Line, *, left: float, width: float, baseline: float, size: int,
              color: Color, align_right: bool | None = None) -> None:
    """Draw one wrapped line in the box from ``left`` spanning ``width`` pixels, on ``baseline``:
    against the right edge for a right-to-left paragraph unless ``align_right`` says otherwise.

    The line is drawn run by run (``_runs``): a run whose pieces are all shaped is drawn from glyph
    masks (glyphs.py), its text shaped as one string as Pillow would draw it in one call; any other
    run is one Pillow text call; bitmap emoji are drawn one piece at a time."""
    rtl, words = line
    runs = _runs(visual_order(rtl, words), rtl, space_width(size))
    if not runs:
        return
    total = runs[-1].x + runs[-1].width
    right = rtl if align_right is None else align_right
    x0 = left + (width - total if right else 0)
    from PIL import ImageDraw  # lazy: Pillow is imported when a card is drawn (see png_card)

    draw = ImageDraw.Draw(img)
    ink: int | None = None
    for run in runs:
        first = run.pieces[0]
        if first.face.emoji:
            _draw_emoji(img, x0 + run.x, baseline, first)
        elif (shaped := _run_glyphs(run)) is not None:
            if ink is None:
                ink = draw._getink(color)[0]  # the ink ImageDraw.text would draw with
            glyphs.draw(draw, ink, x0 + run.x, baseline, shaped)
        else:
            _draw_text(draw, x0 + run.x, baseline, run.text, first.script, first.face, color)
