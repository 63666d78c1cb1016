"""Fonts for the PNG card: which installed font draws which script, loaded once per size.

Pillow draws only the glyphs its one font has, so a card mixing Latin, Devanagari, Arabic and emoji
needs a font per script. Each script has a chain of Noto (then DejaVu, Liberation) files, looked up by
file name under FONT_DIRS; a missing font is never fatal: the Latin font (or Pillow's built-in one)
draws instead, and the face says so (``fallback``) so the card can record it. A character its script's
font lacks (by the font's cmap) is drawn with the first of ``candidates`` that has it (textlayout.covered).

Files found, fonts loaded and faces chosen are kept for the life of the process (``clear_caches``
forgets them); each face is loaded once even when several threads draw cards at the same time.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from archiver.capture.cards import glyphs

if TYPE_CHECKING:
    from collections.abc import Iterator

    from PIL import ImageFont

log = logging.getLogger(__name__)

FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts")

# Per script, the fonts to try in order (file names, searched under FONT_DIRS).
FONT_CHAINS: dict[str, tuple[str, ...]] = {
    "latin": ("NotoSans-Regular.ttf", "DejaVuSans.ttf", "LiberationSans-Regular.ttf"),
    "latin-bold": ("NotoSans-Bold.ttf", "DejaVuSans-Bold.ttf", "LiberationSans-Bold.ttf"),
    "devanagari": ("NotoSansDevanagari-Regular.ttf", "NotoSerifDevanagari-Regular.ttf"),
    "arabic": ("NotoNaskhArabic-Regular.ttf", "NotoSansArabic-Regular.ttf", "DejaVuSans.ttf"),
    "hebrew": ("NotoSansHebrew-Regular.ttf", "DejaVuSans.ttf"),
    "bengali": ("NotoSansBengali-Regular.ttf", "NotoSerifBengali-Regular.ttf"),
    "tamil": ("NotoSansTamil-Regular.ttf", "NotoSerifTamil-Regular.ttf"),
    "gurmukhi": ("NotoSansGurmukhi-Regular.ttf",),
    "gujarati": ("NotoSansGujarati-Regular.ttf",),
    "telugu": ("NotoSansTelugu-Regular.ttf",),
    "kannada": ("NotoSansKannada-Regular.ttf",),
    "malayalam": ("NotoSansMalayalam-Regular.ttf",),
    "thai": ("NotoSansThai-Regular.ttf",),
    "armenian": ("NotoSansArmenian-Regular.ttf", "NotoSerifArmenian-Regular.ttf", "DejaVuSans.ttf"),
    "georgian": ("NotoSansGeorgian-Regular.ttf", "NotoSerifGeorgian-Regular.ttf", "DejaVuSans.ttf"),
    "ethiopic": ("NotoSansEthiopic-Regular.ttf", "NotoSerifEthiopic-Regular.ttf"),
    "sinhala": ("NotoSansSinhala-Regular.ttf", "NotoSerifSinhala-Regular.ttf"),
    "khmer": ("NotoSansKhmer-Regular.ttf", "NotoSerifKhmer-Regular.ttf"),
    "math": ("NotoSansMath-Regular.ttf", "DejaVuMathTeXGyre.ttf"),
    "cjk": ("NotoSansCJK-Regular.ttc", "NotoSansCJKsc-Regular.otf", "DroidSansFallbackFull.ttf"),
    "emoji": ("NotoColorEmoji.ttf",),
}

BOLD = "-bold"  # a face key's suffix for the bold weight of a script ("devanagari-bold")


def chain(key: str) -> tuple[str, ...]:
    """The font files tried, in order, for a face key: a script's FONT_CHAINS entry; for "<script>-bold"
    (a name, a link's title) the bold file of each font of the script's chain (Noto's naming: -Bold
    beside -Regular), then the chain itself, so a script whose bold is not installed is drawn in its
    regular weight rather than in another script's font. () for an unknown key."""
    if key in FONT_CHAINS:
        return FONT_CHAINS[key]
    script = key.removesuffix(BOLD)
    if script != key and script in FONT_CHAINS and script != "emoji":
        regular = FONT_CHAINS[script]
        return (*(n.replace("-Regular.", "-Bold.") for n in regular if "-Regular." in n), *regular)
    return ()


EMOJI_SIZE = 109  # the one bitmap strike of Noto Color Emoji, in pixels

# Fonts tried for a character that neither its script's chain nor the Noto font named after its script
# has (``candidates``): symbols, arrows, mathematical and musical signs, then broad fonts.
FALLBACK_FONTS: tuple[str, ...] = (
    "NotoSansSymbols2-Regular.ttf", "NotoSansSymbols-Regular.ttf", "NotoSansMath-Regular.ttf",
    "NotoMusic-Regular.ttf", "DejaVuSans.ttf", "NotoSansCJK-Regular.ttc", "NotoColorEmoji.ttf")


@cache
def raqm() -> bool:
    """Whether Pillow has libraqm: complex shaping (conjuncts, joined Arabic) and per-run direction."""
    from PIL import features  # lazy: Pillow is imported when a card is drawn (see png_card)

    return bool(features.check("raqm"))


@cache
def _font_files() -> dict[str, Path]:
    """Every font file under FONT_DIRS by file name (first found wins)."""
    found: dict[str, Path] = {}
    for root in FONT_DIRS:
        try:
            for path in sorted(root.rglob("*")):
                if path.suffix.lower() in (".ttf", ".otf", ".ttc") and path.name not in found:
                    found[path.name] = path
        except OSError:
            continue
    return found


@cache
def _load_font(path: str, size: int) -> ImageFont.FreeTypeFont | None:
    """The font file at ``path`` at ``size`` pixels, with raqm layout when available; None if unreadable."""
    from PIL import ImageFont  # lazy: Pillow is imported when a card is drawn (see png_card)

    layout = ImageFont.Layout.RAQM if raqm() else ImageFont.Layout.BASIC
    try:
        return ImageFont.truetype(path, size, layout_engine=layout)
    except OSError:
        return None


@dataclass(frozen=True)
class Face:
    """A loaded font for one script at one pixel size; ``scale`` < 1 for bitmap emoji (drawn at
    EMOJI_SIZE, then scaled down). ``path`` is the font's file (None for Pillow's built-in font), which
    glyphs.py draws from."""

    font: ImageFont.FreeTypeFont | ImageFont.ImageFont
    scale: float
    fallback: bool  # no font of the script's own chain was found
    path: str | None = None

    @property
    def emoji(self) -> bool:
        return self.scale != 1.0


_faces: dict[tuple[str, int], Face] = {}
_file_faces: dict[tuple[str, int], Face | None] = {}  # by font file name (``file_face``)
_UNKNOWN = object()
_faces_lock = threading.RLock()


def face(script: str, size: int) -> Face:
    """The first font of ``script``'s chain that loads at ``size`` pixels; then Latin; then Pillow's
    default. Never raises; logs a warning when it falls back. Loaded once per process (thread-safe)."""
    key = (script, size)
    found = _faces.get(key)
    if found is not None:
        return found
    with _faces_lock:  # re-entrant: a fallback face asks for the Latin one
        found = _faces.get(key)
        if found is None:
            found = _faces[key] = _choose_face(script, size)
        return found


def _choose_face(script: str, size: int) -> Face:
    files = _font_files()
    if script == "emoji":
        path = files.get(FONT_CHAINS["emoji"][0])
        font = _load_font(str(path), EMOJI_SIZE) if path else None
        if font is not None:
            return Face(font, size / EMOJI_SIZE, False, str(path))
    else:
        for name in chain(script):
            path = files.get(name)
            font = _load_font(str(path), size) if path else None
            if font is not None:
                return Face(font, 1.0, False, str(path))
    if script not in ("latin", "latin" + BOLD):
        log.warning("card: no font for %s text; drawing it with the Latin font", script)
        latin = face("latin" + BOLD if script.endswith(BOLD) else "latin", size)
        return Face(latin.font, 1.0, True, latin.path)
    log.warning("card: no font file found under %s; using Pillow's built-in font", FONT_DIRS)
    from PIL import ImageFont  # lazy: Pillow is imported when a card is drawn (see png_card)

    return Face(ImageFont.load_default(size), 1.0, True)


def file_face(name: str, size: int) -> Face | None:
    """The font file ``name`` (searched under FONT_DIRS) at ``size`` pixels as a face of its own (the
    emoji font as ``face("emoji")`` draws it); None when it is not installed or does not load. Loaded
    once per process (thread-safe)."""
    if name == FONT_CHAINS["emoji"][0]:
        fc = face("emoji", size)
        return None if fc.fallback else fc
    key = (name, size)
    found = _file_faces.get(key, _UNKNOWN)
    if found is not _UNKNOWN:
        return found  # type: ignore[return-value]
    with _faces_lock:
        found = _file_faces.get(key, _UNKNOWN)
        if found is _UNKNOWN:
            path = _font_files().get(name)
            font = _load_font(str(path), size) if path else None
            found = _file_faces[key] = Face(font, 1.0, False, str(path)) if font is not None else None
        return found  # type: ignore[return-value]


@cache
def _named_fonts(ch: str, bold: bool = False) -> tuple[str, ...]:
    """The Noto font files named after ``ch``'s script, read from its Unicode name (``LAO LETTER KO``:
    NotoSansLao-Regular.ttf, then NotoSerifLao-Regular.ttf; ``OL CHIKI LETTER LA``: NotoSansOl…,
    NotoSansOlChiki…), for scripts FONT_CHAINS does not list; with ``bold``, each one's -Bold file
    before it."""
    import unicodedata

    words = [w.capitalize() for w in unicodedata.name(ch, "").replace("-", " ").split()[:3]]
    names = ["".join(words[:n]) for n in range(1, len(words) + 1)]
    weights = ("Bold", "Regular") if bold else ("Regular",)
    return tuple(f"Noto{kind}{n}-{weight}.ttf" for n in names if n.isalnum() for kind in ("Sans", "Serif")
                 for weight in weights)


def candidates(script: str, ch: str, size: int) -> Iterator[Face]:
    """Faces that may have a glyph ``script``'s own face lacks for ``ch`` (the start of a cluster), in the
    order tried: the rest of the script's chain, the Noto fonts named after ``ch``'s script, the Latin
    chain, then FALLBACK_FONTS; each installed one once."""
    bold = script.endswith(BOLD)
    names = [*chain(script), *_named_fonts(ch, bold), *FONT_CHAINS["latin-bold" if bold else "latin"],
             *FONT_CHAINS["latin"], *FALLBACK_FONTS]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            continue
        seen.add(name)
        fc = file_face(name, size)
        if fc is not None:
            yield fc


def clear_caches() -> None:
    """Forget the fonts found and loaded (after FONT_DIRS changed, or fonts were installed), and the
    glyphs drawn from them."""
    glyphs.clear_caches()
    with _faces_lock:
        for cached in (_font_files, _load_font, _named_fonts):
            cached.cache_clear()
        _faces.clear()
        _file_faces.clear()
