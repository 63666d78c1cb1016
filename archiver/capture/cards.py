"""TODO docstring."""

from __future__ import annotations

import html
import io
import json
import logging
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from archiver.storage.layout import blob_key, card_keys

if TYPE_CHECKING:
    from PIL import Image, ImageFont

    from archiver.storage.base import ObjectStore


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
    "cjk": ("NotoSansCJK-Regular.ttc", "NotoSansCJKsc-Regular.otf", "DroidSansFallbackFull.ttf"),
    "emoji": ("NotoColorEmoji.ttf",),
}

RTL_SCRIPTS = frozenset({"arabic", "hebrew"})

# Raqm language tags per script, so locale-specific forms are chosen.
_LANGUAGE = {"devanagari": "hi", "arabic": "ar", "hebrew": "he", "bengali": "bn", "tamil": "ta"}

_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x0590, 0x05FF, "hebrew"), (0xFB1D, 0xFB4F, "hebrew"),
    (0x0600, 0x06FF, "arabic"), (0x0750, 0x077F, "arabic"), (0x0870, 0x08FF, "arabic"),
    (0xFB50, 0xFDFF, "arabic"), (0xFE70, 0xFEFF, "arabic"),
    (0x0900, 0x097F, "devanagari"), (0xA8E0, 0xA8FF, "devanagari"),
    (0x0980, 0x09FF, "bengali"), (0x0A00, 0x0A7F, "gurmukhi"), (0x0A80, 0x0AFF, "gujarati"),
    (0x0B80, 0x0BFF, "tamil"), (0x0C00, 0x0C7F, "telugu"), (0x0C80, 0x0CFF, "kannada"),
    (0x0D00, 0x0D7F, "malayalam"), (0x0E00, 0x0E7F, "thai"),
    (0x2E80, 0x9FFF, "cjk"), (0xAC00, 0xD7AF, "cjk"), (0xF900, 0xFAFF, "cjk"), (0xFF00, 0xFFEF, "cjk"),
    (0x1F000, 0x1FAFF, "emoji"), (0x2600, 0x27BF, "emoji"), (0x2B00, 0x2BFF, "emoji"),
)

# Characters that belong to whatever run they sit in: joiners, variation selectors, skin tones,
# combining marks, keycaps, tag characters.
_JOINING = re.compile("[\u200c\u200d\ufe00-\ufe0f\u20e3\U0001f3fb-\U0001f3ff\U000e0020-\U000e007f]")

_EMOJI_SIZE = 109  # the one bitmap strike of Noto Color Emoji

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

_URL = re.compile(r"https?://[^\s<>\"'\u00a0]+")

_LANG = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8}){0,3}")

_TRAILING = ".,;:!?…)]}»”’"

# The link a tweet's text ends with when it carries media: the card shows the media instead.
_MEDIA_LINK = re.compile(r"\s*https?://(?:x|twitter)\.com/\w{1,15}/status/\d{1,20}/(?:photo|video)/\d\s*$")

MAX_TEXT_CHARS = 4000  # a card shows at most this much text; the manifest keeps all of it

MAX_PNG_HEIGHT = 4000

MAX_MEDIA_IN_CARD = 4

def write_cards(store: ObjectStore, manifest: dict[str, Any]) -> dict[str, str]:
    """Render and store both cards of ``manifest``; returns their keys ({"html": …, "png": …}).
    Same manifest, same bytes: writing again overwrites identical objects."""
    keys = card_keys(manifest)
    store.put(keys["html"], render_card_html(manifest, store).encode("utf-8"),
              content_type="text/html; charset=utf-8")
    store.put(keys["png"], render_card_png(manifest, store), content_type="image/png")
    return keys

# --- shared helpers -------------------------------------------------------------------------------
def _s(value: Any) -> str:
    """A manifest value as display text: strings only, control and bidi-override characters dropped."""
    return _CONTROL.sub("", value) if isinstance(value, str) else ""

def safe_url(url: Any) -> str | None:
    """``url`` if it is an absolute http(s) URL without spaces or control characters."""
    if not isinstance(url, str) or not url or len(url) > 4096 or re.search(r"[\s\x00-\x1f\x7f]", url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url

def _stable_url(store: ObjectStore, key: Any) -> str | None:
    if not isinstance(key, str) or not key:
        return None
    try:
        return safe_url(store.public_url(key))
    except ValueError:
        return None

def _date(value: Any) -> str:
    """``2025-07-15T09:12:33.123Z`` → ``15 Jul 2025, 09:12 UTC``; other strings as they are."""
    text = _s(value)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    return f"{dt.day} {dt:%b %Y, %H:%M} UTC"

_STATUS_NOTE = {
    "deleted": "The post has been deleted. This is what the article showed.",
    "protected": "The post is protected. This is what the article showed.",
    "tombstoned": "The post is withheld by the platform. This is what the article showed.",
    "unresolved": "The original post could not be identified. This is what the article showed.",
    "unavailable": "The platform did not answer; this is what was captured so far.",
    "failed": "The capture failed; this is what was captured so far.",
}

def _related(store: ObjectStore, ref: Any) -> dict[str, Any] | None:
    """The manifest a quoted/parent reference points at, when it was stored."""
    if not isinstance(ref, dict) or not isinstance(ref.get("manifest_key"), str):
        return None
    try:
        data = json.loads(store.get(ref["manifest_key"]))
    except (KeyError, OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None

def _display_text(m: dict[str, Any]) -> str:
    text = _s(m.get("text_expanded")) or _s(m.get("text")) or _s(m.get("tombstone"))
    if m.get("media"):
        text = _MEDIA_LINK.sub("", text)
    return text[:MAX_TEXT_CHARS] + ("…" if len(text) > MAX_TEXT_CHARS else "")

def _author(m: dict[str, Any]) -> tuple[str, str]:
    a = m.get("author") if isinstance(m.get("author"), dict) else {}
    return _s(a.get("name")), _s(a.get("handle"))

# --- HTML -------------------------------------------------------------------------------------------
_E = html.escape

_BOX = ("font-family:system-ui,-apple-system,'Segoe UI','Noto Sans',sans-serif;max-width:550px;"
        "border:1px solid #cfd9de;border-radius:12px;padding:12px 16px;margin:0;color:#0f1419;"
        "background:#fff;line-height:1.4;text-align:start")

def _linkify(text: str) -> str:
    """Escaped text with its http(s) URLs as links; anything else stays text."""
    out: list[str] = []
    pos = 0
    for m in _URL.finditer(text):
        url = m.group(0).rstrip(_TRAILING)
        end = m.start() + len(url)
        out.append(_E(text[pos:m.start()]))
        if safe_url(url):
            out.append(f'<a href="{_E(url)}" rel="nofollow noopener noreferrer ugc" '
                       f'style="color:#1d6fa5;word-break:break-all">{_E(url)}</a>')
        else:
            out.append(_E(url))
        pos = end
    out.append(_E(text[pos:]))
    return "".join(out)

def _media_html(store: ObjectStore, media: Any) -> str:
    items = [x for x in media if isinstance(x, dict)] if isinstance(media, list) else []
    parts: list[str] = []
    for item in items:
        src = _stable_url(store, item.get("key")) if item.get("status") == "archived" else None
        alt = _s(item.get("alt_text"))
        kind = item.get("type")
        style = "max-width:100%;height:auto;border-radius:8px;display:block;margin:4px 0"
        if src is None:
            label = {"video": "video", "animated_gif": "GIF"}.get(str(kind), "image")
            detail = f": {_E(alt)}" if alt else ""
            parts.append(f'<p style="color:#536471;font-size:13px">[{label} not archived{detail}]</p>')
        elif kind in ("video", "animated_gif"):
            poster = _stable_url(store, item.get("poster_key"))
            poster_attr = f' poster="{_E(poster)}"' if poster else ""
            loop = " loop muted autoplay playsinline" if kind == "animated_gif" else ""
            parts.append(f'<video controls preload="none"{loop}{poster_attr} src="{_E(src)}" '
                         f'title="{_E(alt)}" style="{style}"></video>')
        else:
            parts.append(f'<img src="{_E(src)}" alt="{_E(alt)}" loading="lazy" style="{style}">')
    return "".join(parts)

def _related_html(store: ObjectStore, m: dict[str, Any], relation: str) -> str:
    ref = m.get(relation)
    if not isinstance(ref, dict):
        return ""
    rm = _related(store, ref)
    label = "Replying to" if relation == "parent" else "Quoting"
    if rm is None:
        link = safe_url(ref.get("url"))
        target = f'<a href="{_E(link)}" rel="nofollow noopener noreferrer">{_E(link)}</a>' if link else \
            _E(_s(ref.get("post_id")))
        return f'<p style="color:#536471;font-size:13px;margin:8px 0">{label} {target}</p>'
    name, handle = _author(rm)
    who = _E(name) + (f" @{_E(handle)}" if handle else "")
    return (f'<blockquote style="border:1px solid #cfd9de;border-radius:8px;margin:8px 0;padding:8px 12px">'
            f'<p style="margin:0;color:#536471;font-size:13px">{label} {who}</p>'
            f'<p dir="auto" style="margin:4px 0 0;white-space:pre-wrap">{_linkify(_display_text(rm))}</p>'
            "</blockquote>")

def render_card_html(manifest: dict[str, Any], store: ObjectStore) -> str:
    """The sanitized HTML card of one snapshot (a fragment: one ``<article>`` element)."""
    m = manifest
    name, handle = _author(m)
    author = m.get("author") if isinstance(m.get("author"), dict) else {}
    lang = _s(m.get("lang"))
    lang_attr = f' lang="{_E(lang)}"' if _LANG.fullmatch(lang) else ""
    avatar = ""
    sha = author.get("avatar_sha256")
    if isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha):
        src = _stable_url(store, blob_key(sha))
        if src:
            avatar = (f'<img src="{_E(src)}" alt="" width="48" height="48" '
                      'style="border-radius:50%;width:48px;height:48px;flex:none">')
    status = _s(m.get("status"))
    note = _STATUS_NOTE.get(status, "")
    attribution = m.get("attribution") if isinstance(m.get("attribution"), dict) else {}
    shown = _s(attribution.get("shown"))
    source_lines = [_s(x) for x in attribution.get("source_lines") or [] if isinstance(x, str)]
    original = safe_url(m.get("url"))
    created = _date(m.get("created_at")) or _s(attribution.get("date"))
    pieces = [
        f'<article class="archiver-card" data-provider="{_E(_s(m.get("provider")))}" '
        f'data-post-id="{_E(_s(m.get("post_id")))}" data-capture-id="{_E(_s(m.get("capture_id")))}" '
        f'style="{_BOX}">',
        '<header style="display:flex;gap:10px;align-items:center">',
        avatar,
        '<div style="min-width:0"><strong dir="auto" style="display:block">' + _E(name or handle or "Unknown")
        + "</strong>",
        f'<span style="color:#536471">@{_E(handle)}</span>' if handle else "",
        "</div></header>",
        f'<p style="color:#8a5300;font-size:13px;margin:8px 0">{_E(note)}</p>' if note else "",
        f'<p{lang_attr} dir="auto" style="white-space:pre-wrap;margin:10px 0;font-size:16px">'
        f"{_linkify(_display_text(m))}</p>",
        _media_html(store, m.get("media")),
        _related_html(store, m, "quoted"),
        _related_html(store, m, "parent"),
        '<footer style="color:#536471;font-size:13px;margin-top:8px">',
        f'<time datetime="{_E(_s(m.get("created_at")))}">{_E(created)}</time>' if created else "",
        f' · <a href="{_E(original)}" rel="nofollow noopener noreferrer" style="color:#1d6fa5">'
        "View the original</a>" if original else "",
        f'<p dir="auto" style="margin:6px 0 0">{_E(shown)}</p>' if shown else "",
        "".join(f'<p dir="auto" style="margin:2px 0 0">{_E(line)}</p>' for line in source_lines),
        f'<p style="margin:6px 0 0">Archived {_E(_date(m.get("captured_at")))} · '
        f'capture {_E(_s(m.get("capture_id")))}</p>',
        "</footer></article>",
    ]
    return "".join(pieces)

# --- fonts ------------------------------------------------------------------------------------------
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
    from PIL import ImageFont, features

    layout = ImageFont.Layout.RAQM if features.check("raqm") else ImageFont.Layout.BASIC
    try:
        return ImageFont.truetype(path, size, layout_engine=layout)
    except OSError:
        return None

@dataclass(frozen=True)
class _Face:
    """A loaded font for one script at one pixel size; ``scale`` < 1 for bitmap emoji."""

    font: Any
    scale: float
    fallback: bool  # no font of the script's own chain was found

    @property
    def emoji(self) -> bool:
        return self.scale != 1.0

@cache
def face(script: str, size: int) -> _Face:
    """The first font of ``script``'s chain that loads; then Latin; then Pillow's default."""
    files = _font_files()
    if script == "emoji":
        path = files.get(FONT_CHAINS["emoji"][0])
        font = _load_font(str(path), _EMOJI_SIZE) if path else None
        if font is not None:
            return _Face(font, size / _EMOJI_SIZE, False)
    else:
        for name in FONT_CHAINS.get(script, ()):
            path = files.get(name)
            font = _load_font(str(path), size) if path else None
            if font is not None:
                return _Face(font, 1.0, False)
    if script not in ("latin", "latin-bold"):
        log.warning("card: no font for %s text; drawing it with the Latin font", script)
        latin = face("latin", size)
        return _Face(latin.font, 1.0, True)
    from PIL import ImageFont

    log.warning("card: no font file found under %s; using Pillow's built-in font", FONT_DIRS)
    return _Face(ImageFont.load_default(size), 1.0, True)

def script_of(ch: str) -> str | None:
    """The script a character forces; None for characters that take their neighbours' script."""
    cp = ord(ch)
    if _JOINING.match(ch) or unicodedata.category(ch) in ("Mn", "Me", "Mc", "Zs", "Cf"):
        return None
    for lo, hi, script in _RANGES:
        if lo <= cp <= hi:
            return script
    if ch.isalpha():
        return "latin"
    return None

def script_runs(text: str) -> list[tuple[str, str]]:
    """``text`` as (script, run) pairs; neutral characters join the run before them."""
    runs: list[tuple[str, str]] = []
    for ch in text:
        script = script_of(ch)
        if runs and (script is None or script == runs[-1][0]):
            runs[-1] = (runs[-1][0], runs[-1][1] + ch)
        else:
            runs.append((script or "latin", ch))
    # A leading neutral run takes the next run's script.
    if len(runs) > 1 and all(script_of(c) is None for c in runs[0][1]):
        first, second = runs[0], runs[1]
        runs[:2] = [(second[0], first[1] + second[1])]
    return runs

# --- PNG layout ------------------------------------------------------------------------------------
@dataclass
class _Piece:
    """One run of one word: drawn with one face in one direction."""

    text: str
    script: str
    face: _Face
    width: float

    @property
    def rtl(self) -> bool:
        return self.script in RTL_SCRIPTS

def _measure(text: str, script: str, fc: _Face) -> float:
    kwargs: dict[str, Any] = {}
    if _raqm() and not fc.fallback:
        kwargs = {"direction": "rtl" if script in RTL_SCRIPTS else "ltr"}
    try:
        return float(fc.font.getlength(text, **kwargs)) * fc.scale
    except (OSError, ValueError, KeyError):
        return float(fc.font.getlength(text)) * fc.scale

@cache
def _raqm() -> bool:
    from PIL import features

    return bool(features.check("raqm"))

def _pieces(word: str, size: int, bold: bool) -> list[_Piece]:
    out = []
    for script, run in script_runs(word):
        key = "latin-bold" if bold and script == "latin" else script
        fc = face(key, size)
        out.append(_Piece(run, script, fc, _measure(run, script, fc)))
    return out

def _paragraph_rtl(text: str) -> bool:
    """The paragraph direction from its first strong character (UAX #9, rules P2-P3)."""
    for ch in text:
        bidi = unicodedata.bidirectional(ch)
        if bidi in ("R", "AL"):
            return True
        if bidi == "L":
            return False
    return False

def _split_long(word: str, size: int, bold: bool, width: int) -> Iterator[str]:
    """A word wider than the line, cut into pieces that fit (URLs, hostile input)."""
    chunk = ""
    for ch in word:
        if chunk and sum(p.width for p in _pieces(chunk + ch, size, bold)) > width:
            yield chunk
            chunk = ""
        chunk += ch
    if chunk:
        yield chunk

def _wrap(text: str, size: int, width: int, bold: bool = False) -> list[tuple[bool, list[list[_Piece]]]]:
    """Lines of words (each a list of pieces), with each line's paragraph direction."""
    lines: list[tuple[bool, list[list[_Piece]]]] = []
    space = face("latin", size)
    space_w = _measure(" ", "latin", space)
    for para in text.split("\n"):
        rtl = _paragraph_rtl(para)
        words: list[list[_Piece]] = []
        for raw in para.split():
            pieces = _pieces(raw, size, bold)
            if sum(p.width for p in pieces) > width:
                words.extend(_pieces(part, size, bold) for part in _split_long(raw, size, bold, width))
            else:
                words.append(pieces)
        line: list[list[_Piece]] = []
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

def _visual_order(rtl: bool, words: list[list[_Piece]]) -> list[list[_Piece]]:
    """Words left to right: runs of right-to-left words reversed; in a right-to-left paragraph the
    whole line reversed with left-to-right runs kept in reading order (UAX #9 L2, by words)."""
    def is_rtl(w: list[_Piece]) -> bool | None:
        strong = [p.rtl for p in w if p.script != "emoji" and any(c.isalpha() for c in p.text)]
        return strong[0] if strong else None

    dirs: list[bool] = []
    for w in words:
        d = is_rtl(w)
        dirs.append(d if d is not None else (dirs[-1] if dirs else rtl))
    groups: list[tuple[bool, list[list[_Piece]]]] = []
    for w, d in zip(words, dirs, strict=True):
        if groups and groups[-1][0] == d:
            groups[-1][1].append(w)
        else:
            groups.append((d, [w]))
    if rtl:
        groups.reverse()
    out: list[list[_Piece]] = []
    for d, ws in groups:
        out.extend(reversed(ws) if d else ws)
    return out

def _draw_piece(img: Image.Image, x: float, baseline: float, piece: _Piece, fill: tuple[int, int, int]) -> None:
    from PIL import Image, ImageDraw

    fc = piece.face
    kwargs: dict[str, Any] = {}
    if _raqm() and not fc.fallback:
        kwargs["direction"] = "rtl" if piece.rtl else "ltr"
        if piece.script in _LANGUAGE:
            kwargs["language"] = _LANGUAGE[piece.script]
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

@dataclass
class _Block:
    """A block of the card, laid out: its height and how to draw it at a y position."""

    height: int
    kind: str
    data: Any

class _Png:
    WIDTH, PAD = 600, 24
    INK, GREY, LINK, NOTE = (15, 20, 25), (83, 100, 113), (29, 111, 165), (138, 83, 0)

    def __init__(self) -> None:
        self.blocks: list[_Block] = []
        self.inner = self.WIDTH - 2 * self.PAD
        self.fallbacks: set[str] = set()  # scripts drawn without a font of their own

    def text(self, text: str, size: int, color: tuple[int, int, int], *, bold: bool = False,
             indent: int = 0, gap: int = 6) -> None:
        if not text.strip():
            return
        lines = self._wrap(text, size, self.inner - indent, bold)
        line_h = round(size * 1.55)
        self.blocks.append(_Block(len(lines) * line_h + gap, "text", (lines, size, line_h, color, indent)))

    def _wrap(self, text: str, size: int, width: int, bold: bool) -> list[tuple[bool, list[list[_Piece]]]]:
        lines = _wrap(text, size, width, bold)
        self.fallbacks.update(p.script for _, words in lines for w in words for p in w if p.face.fallback)
        return lines

    def image(self, data: bytes | None, label: str, play: bool) -> None:
        thumb = _thumbnail(data, self.inner) if data else None
        if thumb is None:
            self.text(f"[{label}]", 14, self.GREY)
            return
        self.blocks.append(_Block(thumb.height + 8, "image", (thumb, play)))

    def render(self, header: tuple[Image.Image | None, str, str]) -> bytes:
        from PIL import Image, ImageDraw

        avatar, name, handle = header
        head_h = 64
        height = min(MAX_PNG_HEIGHT, self.PAD * 2 + head_h + sum(b.height for b in self.blocks))
        img = Image.new("RGBA", (self.WIDTH, height), (255, 255, 255, 255))
        draw = ImageDraw.Draw(img)
        draw.rounded_rectangle([0, 0, self.WIDTH - 1, height - 1], radius=14, outline=(207, 217, 222), width=2)
        x0 = self.PAD
        if avatar is not None:
            mask = Image.new("L", avatar.size, 0)
            ImageDraw.Draw(mask).ellipse([0, 0, avatar.width - 1, avatar.height - 1], fill=255)
            img.paste(avatar, (x0, self.PAD), mask)
            x0 += avatar.width + 12
        self._line(img, x0, self.PAD + 22, name, 18, self.INK, bold=True)
        if handle:
            self._line(img, x0, self.PAD + 48, f"@{handle}", 15, self.GREY)
        y = self.PAD + head_h
        for block in self.blocks:
            if y + block.height > height:
                break
            if block.kind == "text":
                lines, size, line_h, color, indent = block.data
                for rtl, words in lines:
                    self._words(img, rtl, words, y + round(size * 1.15), color, indent, size)
                    y += line_h
                y += block.height - len(lines) * line_h
            else:
                thumb, play = block.data
                img.paste(thumb, (self.PAD, y))
                if play:
                    cx, cy = self.PAD + thumb.width // 2, y + thumb.height // 2
                    draw.ellipse([cx - 22, cy - 22, cx + 22, cy + 22], fill=(0, 0, 0, 160))
                    draw.polygon([(cx - 8, cy - 12), (cx - 8, cy + 12), (cx + 13, cy)], fill=(255, 255, 255))
                y += block.height
        out = io.BytesIO()
        img.convert("RGB").save(out, "PNG", pnginfo=_png_info(self.fallbacks))
        return out.getvalue()

    def _line(self, img: Image.Image, x: int, baseline: int, text: str, size: int,
              color: tuple[int, int, int], *, bold: bool = False) -> None:
        lines = self._wrap(text, size, self.WIDTH - self.PAD - x, bold)
        if lines:
            rtl, words = lines[0]
            self._words(img, rtl, words, baseline, color, x - self.PAD, size, align_right=False)

    def _words(self, img: Image.Image, rtl: bool, words: list[list[_Piece]], baseline: int,
               color: tuple[int, int, int], indent: int, size: int, align_right: bool | None = None) -> None:
        space = _measure(" ", "latin", face("latin", size))
        ordered = _visual_order(rtl, words)
        total = sum(p.width for w in ordered for p in w) + space * max(0, len(ordered) - 1)
        right = rtl if align_right is None else align_right
        x = self.PAD + indent + (self.inner - indent - total if right else 0)
        for w in ordered:
            pieces = list(reversed(w)) if rtl else w
            for p in pieces:
                _draw_piece(img, x, baseline, p, color)
                x += p.width
            x += space

def _png_info(fallbacks: set[str]) -> Any:
    """PNG text chunks; which scripts were drawn without a font of their own, if any."""
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "archiver card")
    if fallbacks:
        info.add_text("archiver-font-fallback", ",".join(sorted(fallbacks)))
    return info

def _thumbnail(data: bytes, width: int) -> Image.Image | None:
    """The medium scaled to the card's width (at most 340 px high); None if Pillow cannot read it."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height > 100_000_000:
                return None
            im.draft("RGB", (width, 340))
            im.seek(0)
            out = im.convert("RGBA")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    out.thumbnail((width, 340), Image.Resampling.LANCZOS)
    return out

def _blob(store: ObjectStore, key: Any) -> bytes | None:
    if not isinstance(key, str) or not key:
        return None
    try:
        return store.get(key)
    except (KeyError, OSError, ValueError):
        return None

def render_card_png(manifest: dict[str, Any], store: ObjectStore) -> bytes:
    """The card as a PNG (600 px wide): the same content as the HTML card."""
    m = manifest
    name, handle = _author(m)
    author = m.get("author") if isinstance(m.get("author"), dict) else {}
    card = _Png()
    note = _STATUS_NOTE.get(_s(m.get("status")), "")
    if note:
        card.text(note, 14, card.NOTE)
    card.text(_display_text(m) or "(no text)", 18, card.INK, gap=12)
    media = [x for x in m.get("media") or [] if isinstance(x, dict)][:MAX_MEDIA_IN_CARD]
    for item in media:
        video = item.get("type") in ("video", "animated_gif")
        key = item.get("poster_key") if video else item.get("key")
        data = _blob(store, key) if item.get("status") == "archived" or video else None
        label = ("video" if item.get("type") == "video" else "GIF" if video else "image") + \
            (f": {_s(item.get('alt_text'))}" if item.get("alt_text") else "")
        card.image(data, label, play=video)
    for relation, label in (("quoted", "Quoting"), ("parent", "Replying to")):
        rm = _related(store, m.get(relation))
        if rm is not None:
            rname, rhandle = _author(rm)
            card.text(f"{label} {rname} @{rhandle}".strip(), 14, card.GREY, indent=12, gap=2)
            card.text(_display_text(rm)[:600], 15, card.INK, indent=12, gap=10)
    attribution = m.get("attribution") if isinstance(m.get("attribution"), dict) else {}
    created = _date(m.get("created_at")) or _s(attribution.get("date"))
    card.text(created, 14, card.GREY, gap=2)
    card.text(_s(attribution.get("shown")), 14, card.GREY, gap=2)
    for line in attribution.get("source_lines") or []:
        card.text(_s(line), 14, card.GREY, gap=2)
    if safe_url(m.get("url")):
        card.text(f"Original: {m['url']}", 13, card.LINK, gap=2)
    card.text(f"Archived {_date(m.get('captured_at'))} · capture {_s(m.get('capture_id'))}", 13, card.GREY)
    avatar = None
    sha = author.get("avatar_sha256")
    if isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha):
        avatar = _thumbnail(_blob(store, blob_key(sha)) or b"", 48)
        if avatar is not None:
            avatar = avatar.resize((48, 48))
    return card.render((avatar, name or handle or "Unknown", handle))
