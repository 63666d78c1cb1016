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
from typing import Any

from PIL import Image, ImageDraw

from archiver.capture.cards.fonts import Face, face, raqm
from archiver.capture.cards.scripts import LANGUAGE, RTL_SCRIPTS, paragraph_rtl, script_runs, visual_order

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


def space_width(size: int) -> float:
    """The width of a space between words at ``size`` pixels."""
    return measure(" ", "latin", face("latin", size))


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


def _draw_piece(img: Image.Image, x: float, baseline: float, piece: Piece, fill: Color) -> None:
    fc = piece.face
    kwargs = _direction(piece.script, fc)
    if kwargs and piece.script in LANGUAGE:
        kwargs["language"] = LANGUAGE[piece.script]
    if not fc.emoji:
        ImageDraw.Draw(img).text((x, baseline), piece.text, font=fc.font, fill=fill, anchor="ls", **kwargs)
        return
    # Bitmap emoji: draw at the font's one size in colour, then scale to the line's size.
    left, top, right, bottom = fc.font.getbbox(piece.text, anchor="ls", **kwargs)
    w, h = max(1, int(right - left)), max(1, int(bottom - top))
    tile = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    ImageDraw.Draw(tile).text((-left, -top), piece.text, font=fc.font, embedded_color=True, anchor="ls", **kwargs)
    sw, sh = max(1, round(w * fc.scale)), max(1, round(h * fc.scale))
    tile = tile.resize((sw, sh), Image.Resampling.LANCZOS)
    img.alpha_composite(tile, (round(x + left * fc.scale), round(baseline + top * fc.scale)))


def draw_line(img: Image.Image, line: Line, *, left: float, width: float, baseline: float, size: int,
              color: Color, align_right: bool | None = None) -> None:
    """Draw one wrapped line in the box from ``left`` spanning ``width`` pixels, on ``baseline``:
    against the right edge for a right-to-left paragraph unless ``align_right`` says otherwise."""
    rtl, words = line
    space = space_width(size)
    ordered = visual_order(rtl, words)
    total = sum(p.width for w in ordered for p in w) + space * max(0, len(ordered) - 1)
    right = rtl if align_right is None else align_right
    x = left + (width - total if right else 0)
    for w in ordered:
        for p in (list(reversed(w)) if rtl else w):
            _draw_piece(img, x, baseline, p, color)
            x += p.width
        x += space
