"""The PNG card: the same content as the HTML card, drawn as one image 600 pixels wide.

A PNG shows what the post looked like wherever HTML cannot go (evidence bundles, chat, print) and
cannot run anything. The card is a column of blocks (text paragraphs, media thumbnails, a link card,
poll choices drawn as bars) under a header with the avatar, name and handle; text layout is
textlayout.py's. The same content gives the same bytes; scripts drawn without a font of their own,
characters no installed font has and characters drawn as their NFKC folding are recorded in a PNG text
chunk (``archiver-font-fallback``). Each text block's ink is kept to its own box (``_Canvas._clipped``),
and media the platform hides behind a sensitive-media warning are shown by a notice, never drawn.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from archiver.capture.cards.content import PREVIEW_NOTE, CardContent, Media, card_content
from archiver.capture.cards.textlayout import Color, Line, draw_line, wrap
from archiver.capture.imaging import pillow
from archiver.storage.layout import BLOB_PREFIX, derived_key

if TYPE_CHECKING:
    from PIL import Image, PngImagePlugin

    from archiver.storage.base import ObjectStore

# Pillow is imported when a card is drawn, not with this module (imaging.pillow: a run drawing no card
# does not pay for it); image bytes are opened only through pillow(), which makes a bomb an error.

MAX_PNG_HEIGHT = 4000  # pixels; what does not fit is left out

MAX_MEDIA_IN_CARD = 4

# zlib level of the PNG (Pillow's encoder): 1 is about twice as fast as the default (6) on a card, for
# files about 10% larger. Pillow tries the row filters on every row and keeps the best (about 3 ms of
# a text card); a hand-written encoder storing text rows unfiltered took half that, but the PNG format
# is Pillow's job here, not ours.
PNG_COMPRESS_LEVEL = 1

# Entries of the archiver-font-fallback chunk: scripts drawn without a font of their own (``devanagari``),
# characters no installed font has (``missing:U+10D0``), characters drawn as their NFKC folding
# (``nfkc:U+1D401``); at most this many, then ``more:N``.
MAX_FALLBACK_ENTRIES = 200

MAX_RELATED_CHARS = 600  # of a quoted or parent post's text
MAX_HEADER_CHARS = 300  # of the name or handle in the header, which shows one line of it

# The largest original (in pixels) a card decodes itself; a larger one is drawn from its web-sized
# serving copy, or shown by its label. A capture's card is drawn in an image worker, under its time
# limit and a worker's share of the memory budget (cards.write.render_cards); where one is drawn in the
# calling process (the web's and the tools' draw_card, no worker to be had) it must stay small too:
# 8 MP is at most 32 MB of RGBA.
MAX_CARD_SOURCE_PIXELS = 8_000_000
# Serving copies, preferred to the original: already web-sized and upright.
_SERVING_COPIES = ("web.webp", "web.jpg")


@dataclass
class _Block:
    """A block of the card, laid out: its height in pixels and what to draw (text lines or an image)."""

    height: int
    kind: str
    data: Any


class _Canvas:
    """The card's blocks, added top to bottom, then drawn by ``render``."""

    WIDTH, PAD = 600, 24
    INK, GREY, LINK, NOTE = (15, 20, 25), (83, 100, 113), (29, 111, 165), (138, 83, 0)

    def __init__(self) -> None:
        self.blocks: list[_Block] = []
        self.inner = self.WIDTH - 2 * self.PAD
        self.fallbacks: set[str] = set()  # what the archiver-font-fallback chunk records

    def text(self, text: str, size: int, color: Color, *, bold: bool = False, indent: int = 0,
             gap: int = 6) -> None:
        """A paragraph at ``size`` pixels, ``gap`` pixels of space below it; nothing for blank text."""
        if not text.strip():
            return
        lines = self._wrap(text, size, self.inner - indent, bold)
        line_h = round(size * 1.55)
        self.blocks.append(_Block(len(lines) * line_h + gap, "text", (lines, size, line_h, color, indent)))

    def _wrap(self, text: str, size: int, width: int, bold: bool) -> list[Line]:
        lines = wrap(text, size, width, bold)
        self.fallbacks.update(p.script for _, words in lines for w in words for p in w if p.face.fallback)
        self.fallbacks.update(t for _, words in lines for w in words for p in w for t in p.lost)
        return lines

    def bar(self, text: str, share: float, size: int = 15) -> None:
        """A poll choice: ``text`` over a bar filled to ``share`` (0..1) of the width."""
        lines = self._wrap(text, size, self.inner - 16, False)
        line_h = round(size * 1.55)
        self.blocks.append(_Block(len(lines) * line_h + 8 + 6, "bar", (lines, size, line_h, max(0.0, min(1.0, share)))))

    def rule(self) -> None:
        """A thin line across the card, between a link card and what follows."""
        self.blocks.append(_Block(10, "rule", None))

    def image(self, data: bytes | None, label: str, play: bool) -> None:
        """A medium's thumbnail (with a play mark for moving media), or ``[label]`` if it cannot be shown."""
        thumb = _thumbnail(data, self.inner) if data else None
        if thumb is None:
            self.text(f"[{label}]", 14, self.GREY)
            return
        self.blocks.append(_Block(thumb.height + 8, "image", (thumb, play)))

    def render(self, avatar: Image.Image | None, name: str, handle: str) -> bytes:
        """The PNG bytes: the header, then every block that fits within MAX_PNG_HEIGHT."""
        head_h = 64
        height = min(MAX_PNG_HEIGHT, self.PAD * 2 + head_h + sum(b.height for b in self.blocks))
        from PIL import ImageDraw  # lazy: see the note at the top

        pil = pillow()
        img = pil.new("RGB", (self.WIDTH, height), (255, 255, 255))
        draw = ImageDraw.Draw(img)
        draw.rounded_rectangle([0, 0, self.WIDTH - 1, height - 1], radius=14, outline=(207, 217, 222), width=2)
        x0 = self.PAD
        if avatar is not None:
            mask = pil.new("L", avatar.size, 0)
            ImageDraw.Draw(mask).ellipse([0, 0, avatar.width - 1, avatar.height - 1], fill=255)
            img.paste(avatar, (x0, self.PAD), mask)
            x0 += avatar.width + 12
        split = self.PAD + 30  # between the name's line and the handle's
        self._header_line(img, (x0, 2, split), x0, self.PAD + 22, name, 18, self.INK, bold=True)
        if handle:
            self._header_line(img, (x0, split, self.PAD + head_h), x0, self.PAD + 48, f"@{handle}", 15, self.GREY)
        y = self.PAD + head_h
        for block in self.blocks:
            if y + block.height > height:
                break
            if block.kind == "text":
                lines, size, line_h, color, indent = block.data
                with self._clipped(img, y, y + block.height) as (region, dx, dy):
                    for i, line in enumerate(lines):
                        draw_line(region, line, left=self.PAD + indent - dx, width=self.inner - indent,
                                  baseline=y + i * line_h + round(size * 1.15) - dy, size=size, color=color)
                y += block.height
            elif block.kind == "bar":
                lines, size, line_h, share = block.data
                box = [self.PAD, y, self.WIDTH - self.PAD - 1, y + block.height - 7]
                draw.rounded_rectangle(box, radius=6, outline=(207, 217, 222), width=1)
                if share > 0:
                    fill_right = self.PAD + max(6, round((self.inner - 1) * share))
                    draw.rounded_rectangle([self.PAD + 1, y + 1, fill_right, y + block.height - 8], radius=5,
                                           fill=(216, 232, 243))
                with self._clipped(img, y + 1, y + block.height - 8) as (region, dx, dy):
                    for i, line in enumerate(lines):
                        draw_line(region, line, left=self.PAD + 8 - dx, width=self.inner - 16,
                                  baseline=y + 4 + i * line_h + round(size * 1.15) - dy, size=size, color=self.INK)
                y += block.height
            elif block.kind == "rule":
                draw.line([self.PAD, y + 4, self.WIDTH - self.PAD, y + 4], fill=(207, 217, 222), width=1)
                y += block.height
            else:
                thumb, play = block.data
                img.paste(thumb, (self.PAD, y))
                if play:
                    cx, cy = self.PAD + thumb.width // 2, y + thumb.height // 2
                    draw.ellipse([cx - 22, cy - 22, cx + 22, cy + 22], fill=(0, 0, 0, 160))
                    draw.polygon([(cx - 8, cy - 12), (cx - 8, cy + 12), (cx + 13, cy)], fill=(255, 255, 255))
                y += block.height
        out = io.BytesIO()
        img.save(out, "PNG", pnginfo=_png_info(self.fallbacks), compress_level=PNG_COMPRESS_LEVEL)
        return out.getvalue()

    @contextmanager
    def _clipped(self, img: Image.Image, top: int, bottom: int, left: int | None = None
                 ) -> Iterator[tuple[Image.Image, int, int]]:
        """A block's box (``top`` to ``bottom``, ``left`` to the card's padding on the right; from the
        padding on the left by default) as an image to draw on, and the offset of its corner: what is
        drawn there is pasted back into ``img`` when the block is done, so no ink of a block (stacked
        combining marks, a hostile font's tall glyph) reaches another block or the card's border."""
        left = self.PAD // 2 if left is None else left
        box = (left, max(2, top), self.WIDTH - self.PAD // 2, min(img.height - 2, bottom))
        pil = pillow()
        if box[2] <= box[0] or box[3] <= box[1]:
            yield pil.new(img.mode, (1, 1)), 0, 0  # no room: drawn nowhere
            return
        # A copy of the box made by pasting, not Image.crop: crop applies Pillow's decompression-bomb
        # threshold, which an image worker may lower meanwhile to a medium's ceiling.
        region = pil.new(img.mode, (box[2] - box[0], box[3] - box[1]))
        region.paste(img, (-box[0], -box[1]))
        yield region, box[0], box[1]
        img.paste(region, box[:2])

    def _header_line(self, img: Image.Image, band: tuple[int, int, int], x: int, baseline: int, text: str,
                     size: int, color: Color, *, bold: bool = False) -> None:
        """The first line of ``text`` from ``x``, always left-aligned (name and handle), its ink kept in
        ``band`` (left, top, bottom); only its first MAX_HEADER_CHARS characters are laid out, more than a
        line holds."""
        lines = self._wrap(text[:MAX_HEADER_CHARS], size, self.WIDTH - self.PAD - x, bold)
        if lines:
            indent = x - self.PAD
            with self._clipped(img, band[1], band[2], left=band[0]) as (region, dx, dy):
                draw_line(region, lines[0], left=self.PAD + indent - dx, width=self.inner - indent,
                          baseline=baseline - dy, size=size, color=color, align_right=False)


def _png_info(fallbacks: set[str]) -> PngImagePlugin.PngInfo:
    """PNG text chunks; what was drawn without a font of its own, if anything (MAX_FALLBACK_ENTRIES)."""
    pillow()
    from PIL import PngImagePlugin  # lazy: see the note at the top

    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "archiver card")
    if fallbacks:
        found = sorted(fallbacks)
        if len(found) > MAX_FALLBACK_ENTRIES:
            found = [*found[:MAX_FALLBACK_ENTRIES], f"more:{len(found) - MAX_FALLBACK_ENTRIES}"]
        info.add_text("archiver-font-fallback", ",".join(found))
    return info


def _thumbnail(data: bytes, width: int) -> Image.Image | None:
    """The medium scaled to ``width`` pixels (at most 340 px high): RGBA when it has transparency (scaled
    with its alpha), else RGB; None if Pillow cannot read it or it has more than MAX_CARD_SOURCE_PIXELS
    pixels. Either is pasted as its colours (the card is RGB)."""
    pil = pillow()
    try:
        with pil.open(io.BytesIO(data)) as im:
            if im.width * im.height > MAX_CARD_SOURCE_PIXELS:
                return None
            # Decode a JPEG at the smallest DCT scale that still covers the final size (not the box:
            # a 1024x683 photo becomes 510x340, so it is decoded at half size).
            scale = min(width / im.width, 340 / im.height, 1.0)
            im.draft("RGB", (max(1, int(im.width * scale)), max(1, int(im.height * scale))))
            im.seek(0)
            alpha = im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in im.info
            out = im.convert("RGBA" if alpha else "RGB")
    except (OSError, ValueError, SyntaxError, pil.DecompressionBombError):
        return None
    out.thumbnail((width, 340), pil.Resampling.LANCZOS)
    return out


def _picture(store: ObjectStore, key: Any) -> bytes | None:
    """What to draw a medium from: its web-sized serving copy when the original (``key``, a blob key)
    has one, else the original itself; None when neither can be read."""
    if isinstance(key, str) and key.startswith(BLOB_PREFIX):
        sha = key.rsplit("/", 1)[-1]
        for name in _SERVING_COPIES:
            try:
                copy = derived_key(sha, name)
            except ValueError:
                break
            data = _blob(store, copy)
            if data is not None:
                return data
    return _blob(store, key)


def _blob(store: ObjectStore, key: Any) -> bytes | None:
    """The stored object ``key``; None for no key or a missing or unreadable object."""
    if not isinstance(key, str) or not key:
        return None
    try:
        return store.get(key)
    except (KeyError, OSError, ValueError):
        return None


def _drawn_media(content: CardContent) -> list[tuple[Media, Any]]:
    """The media the card shows, each with the key it is drawn from (its poster for moving media;
    None when it is shown by its label: not archived, or hidden behind the platform's warning, which is
    then never read nor drawn)."""
    return [(item, (item.poster_key if item.moving else item.key)
             if (item.archived or item.moving) and not item.sensitive else None)
            for item in content.media[:MAX_MEDIA_IN_CARD]]


def card_pictures(content: CardContent, store: ObjectStore) -> dict[str, bytes]:
    """The bytes every picture of ``content``'s card is drawn from, by the key the content names it
    by (media, posters, the link card's image, the avatar; a serving copy preferred to its original:
    ``_picture``); a picture that cannot be read is left out (the card shows its label). Reading is
    the store's work; drawing (``draw_card_from``) needs nothing but this and the content, so it can
    run in an image worker."""
    keys = [key for _, key in _drawn_media(content)]
    keys += [content.link.image_key if content.link else None, content.avatar_key]
    out: dict[str, bytes] = {}
    for key in keys:
        if isinstance(key, str) and key and key not in out:
            data = _picture(store, key)
            if data is not None:
                out[key] = data
    return out


def draw_card_from(content: CardContent, pictures: Mapping[str, bytes]) -> bytes:
    """The PNG card of ``content``, its pictures taken from ``pictures`` (``card_pictures``: bytes by
    key; one missing is shown by its label, or left out). Decodes those bytes: in a capture this runs
    in an image worker (``cards.write.render_cards``), under its time limit."""
    c = content
    card = _Canvas()
    for note in c.notes:
        card.text(note, 14, card.NOTE)
    card.text(c.text or "(no text)", 18, card.INK, gap=6 if c.preview else 12)
    if c.preview:
        card.text(PREVIEW_NOTE, 14, card.NOTE, gap=12)
    for item, key in _drawn_media(c):
        card.image(pictures.get(key) if isinstance(key, str) else None,
                   (item.hidden_label or item.label) + (f": {item.alt}" if item.alt else ""), play=item.moving)
    if c.link:
        link = c.link
        if link.image_key:
            label = "card image" + (f": {link.image_alt}" if link.image_alt else "")
            card.image(pictures.get(link.image_key) if isinstance(link.image_key, str) else None, label,
                       play=False)
        card.text(link.domain, 13, card.GREY, gap=2)
        card.text(link.title, 16, card.INK, bold=True, gap=2)
        card.text(link.description, 14, card.GREY, gap=2)
        card.text(link.url_text, 13, card.LINK if link.url else card.GREY, gap=2)
        card.rule()
    if c.poll:
        for option in c.poll.choices:
            n = option.count
            counted = f" · {n} vote{'' if n == 1 else 's'}" if n is not None else ""
            card.bar(option.label + counted + (f" · {option.percent}" if option.percent else ""), option.share)
        card.text(c.poll.state, 13, card.GREY, gap=10)
    for rel in c.related:
        if rel.found:
            card.text(f"{rel.label} {rel.name} @{rel.handle}".strip(), 14, card.GREY, indent=12, gap=2)
            for note in rel.notes:
                card.text(note, 14, card.NOTE, indent=12, gap=2)
            card.text(rel.text[:MAX_RELATED_CHARS], 15, card.INK, indent=12, gap=10)
    card.text(c.created, 14, card.GREY, gap=2)
    card.text(c.shown, 14, card.GREY, gap=2)
    for line in c.source_lines:
        card.text(line, 14, card.GREY, gap=2)
    if c.original:
        card.text(f"Original: {c.original}", 13, card.LINK, gap=2)
    card.text(f"Archived {c.captured} · capture {c.capture_id}", 13, card.GREY)
    avatar = None
    if isinstance(c.avatar_key, str) and c.avatar_key:
        avatar = _thumbnail(pictures.get(c.avatar_key) or b"", 48)
        if avatar is not None:
            avatar = avatar.resize((48, 48))
    return card.render(avatar, c.name or c.handle or "Unknown", c.handle)


def draw_card(content: CardContent, store: ObjectStore) -> bytes:
    """The PNG card of ``content``, drawn in this process; media and the avatar are read from ``store``
    (missing ones are shown by a label, or left out)."""
    return draw_card_from(content, card_pictures(content, store))


def render_card_png(manifest: dict[str, Any], store: ObjectStore) -> bytes:
    """The card of one snapshot as PNG bytes (600 px wide, at most MAX_PNG_HEIGHT high)."""
    return draw_card(card_content(manifest, store), store)
