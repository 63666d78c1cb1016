"""Text layout for the PNG card: words cut into script runs, measured with their fonts, wrapped into
lines of a given width, and drawn in visual order.

Pillow draws one string with one font; a tweet mixes scripts and directions within a line. This
module turns text into lines of words, each word a list of ``Piece`` (one script run with its face and
width), so the card (png_card.py) only places lines and draws them. Widths and positions are in
pixels; shaping and direction go to raqm when Pillow has it and the font is the script's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from archiver.capture.cards.fonts import Face, face, raqm
from archiver.capture.cards.scripts import LANGUAGE, RTL_SCRIPTS, paragraph_rtl, script_runs, visual_order

if TYPE_CHECKING:
    from PIL import Image, ImageDraw

Color = tuple[int, int, int]

Word = list["Piece"]

Line = tuple[bool, list[Word]]  # (right-to-left paragraph, words in logical order)


@dataclass
class Piece:
    """One run of one word: drawn with one face in one direction; ``width`` in pixels."""

    text: str
    script: str
    face: Face
    width: float

    @property
    def rtl(self) -> bool:
        return self.script in RTL_SCRIPTS


def _direction(script: str, fc: Face) -> dict[str, Any]:
    """The raqm direction argument for a run, when raqm shapes it (not for a fallback face)."""
    if raqm() and not fc.fallback:
        return {"direction": "rtl" if script in RTL_SCRIPTS else "ltr"}
    return {}


def measure(text: str, script: str, fc: Face) -> float:
    """The advance width of ``text`` of ``script`` drawn with ``fc``, in pixels."""
    try:
        return float(fc.font.getlength(text, **_direction(script, fc))) * fc.scale
    except (OSError, ValueError, KeyError):
        return float(fc.font.getlength(text)) * fc.scale


@lru_cache(maxsize=256)
def _space(script: str, fc: Face) -> float:
    """The width of a space drawn with ``fc``, in pixels (per face, kept for the process)."""
    return measure(" ", script, fc)


def space_width(size: int) -> float:
    """The width of a space between words at ``size`` pixels (the Latin font's)."""
    return _space("latin", face("latin", size))


def pieces(word: str, size: int, bold: bool) -> Word:
    """``word`` as its script runs, each with its face at ``size`` pixels and its width."""
    out = []
    for script, run in script_runs(word):
        key = "latin-bold" if bold and script == "latin" else script
        fc = face(key, size)
        out.append(Piece(run, script, fc, measure(run, script, fc)))
    return out


def _split_long(word: str, size: int, bold: bool, width: int) -> Iterator[str]:
    """A word wider than the line, cut into pieces that fit (URLs, hostile input)."""
    chunk = ""
    for ch in word:
        if chunk and sum(p.width for p in pieces(chunk + ch, size, bold)) > width:
            yield chunk
            chunk = ""
        chunk += ch
    if chunk:
        yield chunk


def wrap(text: str, size: int, width: int, bold: bool = False) -> list[Line]:
    """``text`` as lines at most ``width`` pixels wide (one line at least per paragraph, split at
    newlines), each with its paragraph's direction."""
    lines: list[Line] = []
    space_w = space_width(size)
    for para in text.split("\n"):
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
    kwargs = _direction(script, fc)
    if kwargs and script in LANGUAGE:
        kwargs["language"] = LANGUAGE[script]
    draw.text((x, baseline), text, font=fc.font, fill=fill, anchor="ls", **kwargs)


def _draw_emoji(img: Image.Image, x: float, baseline: float, piece: Piece) -> None:
    """Bitmap emoji: drawn at the font's one size in colour, then scaled to the line's size."""
    fc = piece.face
    kwargs = _direction(piece.script, fc)
    left, top, right, bottom = fc.font.getbbox(piece.text, anchor="ls", **kwargs)
    w, h = max(1, int(right - left)), max(1, int(bottom - top))
    from PIL import Image, ImageDraw  # lazy: Pillow is imported when a card is drawn (see png_card)

    tile = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    ImageDraw.Draw(tile).text((-left, -top), piece.text, font=fc.font, embedded_color=True, anchor="ls", **kwargs)
    sw, sh = max(1, round(w * fc.scale)), max(1, round(h * fc.scale))
    tile = tile.resize((sw, sh), Image.Resampling.LANCZOS)
    at = (round(x + left * fc.scale), round(baseline + top * fc.scale))
    if img.mode == "RGBA":
        img.alpha_composite(tile, at)
    else:
        img.paste(tile, at, tile)


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


def draw_line(img: Image.Image, line: Line, *, left: float, width: float, baseline: float, size: int,
              color: Color, align_right: bool | None = None) -> None:
    """Draw one wrapped line in the box from ``left`` spanning ``width`` pixels, on ``baseline``:
    against the right edge for a right-to-left paragraph unless ``align_right`` says otherwise.

    The line is drawn run by run (``_runs``): one text call per run of one script and face, so a line
    in one script is one call; bitmap emoji are drawn one piece at a time."""
    rtl, words = line
    runs = _runs(visual_order(rtl, words), rtl, space_width(size))
    if not runs:
        return
    total = runs[-1].x + runs[-1].width
    right = rtl if align_right is None else align_right
    x0 = left + (width - total if right else 0)
    from PIL import ImageDraw  # lazy: Pillow is imported when a card is drawn (see png_card)

    draw = ImageDraw.Draw(img)
    for run in runs:
        first = run.pieces[0]
        if first.face.emoji:
            _draw_emoji(img, x0 + run.x, baseline, first)
        else:
            _draw_text(draw, x0 + run.x, baseline, run.text, first.script, first.face, color)
