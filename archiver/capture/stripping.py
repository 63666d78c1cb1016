"""An image's metadata removed without re-encoding it: the copies a public URL may serve.

The original is evidence and stays byte for byte as fetched, metadata and all. What a public URL
serves must not carry where a photo was taken, by whose camera, what it was edited with or what
someone wrote into it: EXIF (GPS, serial numbers, maker notes, its own thumbnail), XMP, IPTC,
comments and text chunks. Each container is walked by its own specification and only what decides
how the pixels look is copied, unchanged, so the copy shows exactly what the original shows:

- JPEG (ITU T.81, JFIF 1.02; EXIF 2.32 for the orientation): the coding segments and the scans'
  data, the JFIF header without its thumbnail, Adobe's colour transform, and (``full`` copies) the
  ICC profile when its chunks make one valid profile and an orientation-only EXIF block; bytes
  between segments, which decoders skip, are left out;
- PNG (ISO/IEC 15948, PNG Third Edition for cICP, mDCV, cLLI and eXIf): the critical chunks and the
  colour, transparency and pixel-size chunks and APNG's animation chunks, each only at its spec's
  size; an iCCP rebuilt with a neutral name around a valid profile; an eXIf before the image data
  becomes an orientation-only one (one after it, which browsers ignore, is dropped);
- GIF (GIF89a): the image data, each graphic control extension cut to its 4 bytes and the loop
  count (NETSCAPE2.0 / ANIMEXTS1.0) to its sub-block; comments, plain text, XMP, ICC and every other
  application extension are dropped;
- WebP (RFC 9649): the image, alpha, animation and ICC chunks, cut to their fields (a frame's own
  sub-chunks filtered the same way, a profile kept only when valid); EXIF becomes orientation only,
  XMP and unknown chunks are dropped and the VP8X flags say so.

An ICC profile is kept whole (ICC.1: the colours need it) only when it is one and nothing more
(``icc_ok``); its own description tags are the profile's, not the photographer's.

Every function raises ValueError for a container it cannot walk; the caller then serves a
re-encoded copy instead (archiver.capture.imaging). Nothing here decodes pixels: the bytes were
decoded and verified before (the image worker).
"""

from __future__ import annotations

import struct
import zlib

__all__ = ["EXTENSIONS", "icc_ok", "jpeg_segments", "strip_gif_metadata", "strip_jpeg_metadata", "strip_metadata",
           "strip_png_metadata", "strip_webp_metadata"]

# The file name extension of a copy in each format Pillow names (the derived copies' keys).
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp"}


def _orientation_tiff(orientation: int) -> bytes:
    """A TIFF structure (EXIF 2.32 §4.5) holding only the Orientation tag (0x0112), as Pillow writes it."""
    from PIL import Image  # lazy: only the image worker, which has Pillow loaded, strips

    exif = Image.Exif()
    exif[0x0112] = orientation
    data = exif.tobytes()
    return data[6:] if data.startswith(b"Exif\x00\x00") else data


def icc_ok(profile: bytes) -> bool:
    """Whether `profile` is an ICC profile and nothing more (ICC.1:2022 §7.2: a 128-byte header whose
    first 4 bytes give the profile's size, which must be the whole of `profile`, and "acsp" at 36):
    bytes riding after a profile, or a chunk that only claims to be one, are not copied."""
    return (len(profile) >= 128 and int.from_bytes(profile[:4], "big") == len(profile)
            and profile[36:40] == b"acsp")


def _turned(orientation: int | None) -> bool:
    return orientation is not None and 2 <= orientation <= 8


# --- JPEG ---------------------------------------------------------------------------------------
# JPEG markers that carry no image data: APP1-APP13 and APP15 (EXIF with GPS, XMP, IPTC, ICC,
# maker notes...) and COM. APP0 (JFIF) and APP14 (Adobe: how to read the colour channels) stay.
_JPEG_METADATA = frozenset({*range(0xE1, 0xEE), 0xEF, 0xFE})
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})
_ICC_JPEG = b"ICC_PROFILE\x00"


def jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, payload start, payload end) of each segment of a JPEG up to and including the first
    scan's header (ITU T.81 B.1.1); ValueError for a malformed header."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    found: list[tuple[int, int, int]] = []
    pos = 2
    while pos < len(data):
        if data[pos] != 0xFF:   # bytes between segments: decoders skip them ("extraneous bytes"), so do we
            pos = data.find(b"\xff", pos)
            if pos < 0:
                raise ValueError("JPEG has no image data")
        while pos < len(data) and data[pos] == 0xFF:   # fill bytes
            pos += 1
        if pos >= len(data):
            break
        marker = data[pos]
        pos += 1
        if marker in _JPEG_STANDALONE:
            found.append((marker, pos, pos))
            continue
        if pos + 2 > len(data):
            raise ValueError("JPEG segment length cut off")
        (length,) = struct.unpack(">H", data[pos:pos + 2])
        end = pos + length
        if length < 2 or end > len(data):
            raise ValueError("JPEG segment runs past the end")
        found.append((marker, pos + 2, end))
        if marker == 0xDA:   # start of scan: the rest is image data
            return found
        pos = end
    raise ValueError("JPEG has no image data")


def strip_jpeg_metadata(data: bytes, *, keep_icc: bool = False, orientation: int | None = None) -> bytes:
    """The same JPEG with every metadata segment dropped and the image data byte for byte as it was
    (no re-encoding, so no loss), ending at its first EOI.

    Kept: the segments that decode the image (tables, frame and scan headers, restart intervals, a DNL
    of its 2 bytes), the scans' entropy-coded data, APP0 only as a JFIF header without its thumbnail
    and APP14 only as Adobe's 12-byte colour transform; with `keep_icc` the ICC profile's APP2
    segments (the colours as the original shows them). An `orientation` of 2-8 is written back as an
    EXIF block holding that tag alone, so the copy is turned as the original is. Dropped: every other
    APP1-APP13, APP15 and COM anywhere (also between the scans of a progressive JPEG), a JFXX or other
    APP0, and everything after the first EOI (a second image with its own EXIF, as in an MPO or an
    Ultra HDR gain map; a phone's motion video; an appended file). ValueError for a malformed header
    or a file without an EOI."""
    out = [data[:2]]
    segments = jpeg_segments(data)
    keep_icc = keep_icc and _jpeg_icc_ok(data, segments)
    for marker, start, end in segments:
        payload = data[start:end]
        if marker in _JPEG_STANDALONE:
            out.append(bytes((0xFF, marker)))
        elif marker == 0xE0:
            if payload[:5] == b"JFIF\x00" and len(payload) >= 14:   # version, units, densities; no thumbnail
                out.append(b"\xff\xe0\x00\x10" + payload[:12] + b"\x00\x00")
        elif marker == 0xEE:
            if payload[:5] == b"Adobe" and len(payload) >= 12:
                out.append(b"\xff\xee\x00\x0e" + payload[:12])
        elif marker == 0xE2 and keep_icc and payload.startswith(_ICC_JPEG):
            out.append(data[start - 4:end])
        elif marker == 0xDA:
            out.append(data[start - 4:end] + _after_first_scan_header(data, end))
        elif marker not in _JPEG_METADATA and _decodes(marker, end - start):
            out.append(data[start - 4:end])
    if _turned(orientation):
        exif = b"Exif\x00\x00" + _orientation_tiff(orientation or 1)
        jfif = len(out) > 1 and out[1].startswith(b"\xff\xe0\x00\x10")   # APP0 stays first (JFIF 1.02)
        out.insert(2 if jfif else 1, b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif)
    return b"".join(out)


def _jpeg_icc_ok(data: bytes, segments: list[tuple[int, int, int]]) -> bool:
    """Whether the APP2 ICC_PROFILE segments are a profile's chunks 1..n of n in order, making one
    valid profile (`icc_ok`) with nothing after it."""
    chunks = [data[s:e] for m, s, e in segments if m == 0xE2 and data[s:e].startswith(_ICC_JPEG)]
    if not chunks:
        return False
    count = len(chunks)
    if any(len(c) < 14 or c[12] != i + 1 or c[13] != count for i, c in enumerate(chunks)):
        return False
    return icc_ok(b"".join(c[14:] for c in chunks))


def _decodes(marker: int, size: int) -> bool:
    """Whether a kept segment with `size` bytes of payload is of its marker's own size: DNL (0xDC)
    holds 2 bytes (the number of lines) and nothing else may ride in it."""
    return marker != 0xDC or size == 2


def _after_first_scan_header(data: bytes, pos: int) -> bytes:
    """The bytes from `pos` (the first scan's entropy-coded data) to the first EOI, that included:
    entropy-coded data (where 0xFF is followed by 0x00 or a restart marker), the tables and scan
    headers of later scans, with the APPn and COM segments among them left out. ValueError when the
    data ends before an EOI or a segment runs past the end."""
    out: list[bytes] = []
    start = pos
    while True:
        at = data.find(b"\xff", pos)
        if at < 0 or at + 1 >= len(data):
            raise ValueError("JPEG has no end of image")
        marker = data[at + 1]
        if marker == 0x00 or 0xD0 <= marker <= 0xD7:   # a stuffed 0xFF, a restart marker: image data
            pos = at + 2
            continue
        if marker == 0xFF:   # fill bytes before a marker
            pos = at + 1
            continue
        out.append(data[start:at])
        if marker == 0xD9:
            out.append(b"\xff\xd9")
            return b"".join(out)
        if marker in _JPEG_STANDALONE or at + 4 > len(data):
            raise ValueError(f"JPEG marker 0x{marker:02x} where a segment was expected")
        (length,) = struct.unpack(">H", data[at + 2:at + 4])
        end = at + 2 + length
        if length < 2 or end > len(data):
            raise ValueError("JPEG segment runs past the end")
        if not (0xE0 <= marker <= 0xEF or marker == 0xFE) and _decodes(marker, length - 2):
            out.append(data[at:end])
        pos = start = end


# --- PNG ----------------------------------------------------------------------------------------
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Ancillary chunks that decide how the pixels look (colour, transparency, gamma, pixel size, HDR
# metadata) or move (APNG). Everything else ancillary is dropped: tEXt, zTXt, iTXt (XMP rides in
# iTXt), tIME, eXIf (written back as orientation only), and chunks no decoder needs.
_PNG_KEPT = frozenset({b"PLTE", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"bKGD", b"pHYs",
                       b"cICP", b"mDCV", b"cLLI", b"acTL", b"fcTL", b"fdAT"})
_PNG_CRITICAL = frozenset({b"IHDR", b"PLTE", b"IDAT", b"IEND"})
# Sizes the spec gives the kept chunks (a set of allowed sizes, or the largest): a chunk of another
# size could carry bytes after its fields, and is dropped (a critical one refused).
_PNG_SIZES: dict[bytes, frozenset[int] | int] = {
    b"IHDR": frozenset({13}), b"PLTE": 768, b"tRNS": 256, b"gAMA": frozenset({4}), b"cHRM": frozenset({32}),
    b"sRGB": frozenset({1}), b"sBIT": frozenset({1, 2, 3, 4}), b"bKGD": frozenset({1, 2, 6}),
    b"pHYs": frozenset({9}), b"cICP": frozenset({4}), b"mDCV": frozenset({24}), b"cLLI": frozenset({8}),
    b"acTL": frozenset({8}), b"fcTL": frozenset({26}),
}
_MAX_ICC = 4 * 1024 * 1024   # bytes of a decompressed iCCP profile read at most


def _png_sized(kind: bytes, length: int) -> bool:
    allowed = _PNG_SIZES.get(kind)
    if allowed is None:
        return True
    return length in allowed if isinstance(allowed, frozenset) else length <= allowed


def _png_iccp(body: bytes) -> bytes | None:
    """An iCCP chunk's body rebuilt: a neutral name (the original's is free text), and the profile
    recompressed when it is one valid profile and nothing more (`icc_ok`); None otherwise."""
    nul = body.find(b"\x00", 0, 80)
    if nul < 1 or nul + 2 > len(body) or body[nul + 1] != 0:
        return None
    inflater = zlib.decompressobj()
    try:
        profile = inflater.decompress(body[nul + 2:], _MAX_ICC)
    except zlib.error:
        return None
    if inflater.unconsumed_tail or not inflater.eof or not icc_ok(profile):
        return None
    return b"ICC profile\x00\x00" + zlib.compress(profile)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def strip_png_metadata(data: bytes, *, orientation: int | None = None) -> bytes:
    """The same PNG with only the chunks that decide how it looks (`_PNG_KEPT`, the critical ones), each
    copied unchanged when of its spec's size (`_PNG_SIZES`; another size is dropped), ending at IEND; an
    iCCP rebuilt with a neutral name around a valid profile (`_png_iccp`, else dropped); an eXIf before
    the image data replaced by one of the `orientation` (2-8) alone, one after it dropped (browsers do
    not turn a PNG by it). ValueError for a chunk that runs past the end, a critical chunk of a wrong
    size or one this walker does not know (it could not say what the chunk holds), or no IEND."""
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("not a PNG")
    out = [_PNG_SIGNATURE]
    pos, pixels_seen = len(_PNG_SIGNATURE), False
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        end = pos + 12 + length
        if length > 0x7FFFFFFF or end > len(data):
            raise ValueError("PNG chunk runs past the end")
        pixels_seen = pixels_seen or kind in (b"IDAT", b"fdAT")
        if kind == b"eXIf":
            # Browsers turn a PNG by an eXIf before its image data only: one after it is not written back.
            if not pixels_seen and _turned(orientation):
                out.append(_png_chunk(b"eXIf", _orientation_tiff(orientation or 1)))
        elif kind == b"iCCP":
            body = _png_iccp(data[pos + 8:end - 4])
            if body is not None:
                out.append(_png_chunk(b"iCCP", body))
        elif kind in _PNG_CRITICAL or kind in _PNG_KEPT:
            if _png_sized(kind, length):
                out.append(data[pos:end])
            elif kind in _PNG_CRITICAL:
                raise ValueError(f"PNG {kind.decode('latin-1')} chunk of {length} bytes")
        elif not kind[:1].islower():   # a critical chunk we do not know: the image may depend on it
            raise ValueError(f"unknown critical PNG chunk {kind!r}")
        if kind == b"IEND":
            return b"".join(out)
        pos = end
    raise ValueError("PNG has no IEND")


# --- GIF ----------------------------------------------------------------------------------------
_GIF_LOOP_APPLICATIONS = (b"NETSCAPE2.0", b"ANIMEXTS1.0")


def _gif_sub_blocks(data: bytes, pos: int) -> int:
    """Where the data sub-blocks starting at `pos` end (after their terminator); ValueError past the end."""
    while True:
        if pos >= len(data):
            raise ValueError("GIF data runs past the end")
        size = data[pos]
        pos += 1 + size
        if size == 0:
            return pos


def strip_gif_metadata(data: bytes) -> bytes:
    """The same GIF with its image data (descriptors, colour tables, LZW data) copied unchanged, each
    graphic control extension cut to its 4 bytes and the loop count (`_GIF_LOOP_APPLICATIONS`) to its
    sub-block, and every other extension dropped (comments, XMP and other application blocks, plain
    text, which browsers do not draw), ending at its trailer. ValueError for a block this walker does
    not know or data that runs past the end."""
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 13:
        raise ValueError("not a GIF")
    pos = 13
    if data[10] & 0x80:   # global colour table
        pos += 3 << ((data[10] & 7) + 1)
    out = [data[:pos]]
    while pos < len(data):
        kind = data[pos]
        if kind == 0x3B:   # trailer
            out.append(b"\x3b")
            return b"".join(out)
        if kind == 0x2C:   # image descriptor, local colour table, LZW code size, data
            if pos + 11 > len(data):
                raise ValueError("GIF image descriptor runs past the end")
            start, pos = pos, pos + 10
            if data[pos - 1] & 0x80:
                pos += 3 << ((data[pos - 1] & 7) + 1)
            end = _gif_sub_blocks(data, pos + 1)
            out.append(data[start:end])
            pos = end
        elif kind == 0x21 and pos + 2 <= len(data):   # extension: label, then sub-blocks
            label = data[pos + 1]
            end = _gif_sub_blocks(data, pos + 2)
            first = data[pos + 3:pos + 3 + data[pos + 2]] if pos + 2 < len(data) else b""
            if label == 0xF9 and len(first) == 4:   # graphic control: its 4 bytes, nothing after them
                out.append(b"\x21\xf9\x04" + first + b"\x00")
            elif label == 0xFF and first in _GIF_LOOP_APPLICATIONS:
                loop = data[pos + 14:pos + 18] if pos + 18 <= len(data) else b""
                if loop[:2] == b"\x03\x01":   # the loop count's sub-block alone
                    out.append(b"\x21\xff\x0b" + first + loop + b"\x00")
            pos = end
        elif kind == 0x00:   # a stray terminator between blocks: decoders pass over it
            pos += 1
        else:
            raise ValueError(f"GIF block 0x{kind:02x} not known")
    raise ValueError("GIF has no trailer")


# --- WebP ---------------------------------------------------------------------------------------
_WEBP_KEPT = frozenset({b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP"})
_VP8X_ICC, _VP8X_EXIF, _VP8X_XMP = 0x20, 0x08, 0x04
_WEBP_SIZES = {b"VP8X": 10, b"ANIM": 6}   # fixed-size chunks: cut to their fields
_ANMF_HEADER = 16   # an ANMF frame's own fields, before its sub-chunks
_ANMF_KEPT = frozenset({b"ALPH", b"VP8 ", b"VP8L"})


def _webp_body(kind: bytes, body: bytes) -> bytes | None:
    """A kept chunk's body as copied: VP8X and ANIM cut to their fields, ICCP only a valid profile
    (`icc_ok`), ANMF with only its image sub-chunks (an XMP or unknown chunk inside a frame dropped);
    None to drop the chunk. ValueError for an ANMF whose sub-chunks run past its end."""
    if kind in _WEBP_SIZES:
        return body[:_WEBP_SIZES[kind]] if len(body) >= _WEBP_SIZES[kind] else None
    if kind == b"ICCP":
        return body if icc_ok(body) else None
    if kind != b"ANMF":
        return body
    if len(body) < _ANMF_HEADER:
        return None
    out, pos = [body[:_ANMF_HEADER]], _ANMF_HEADER
    while pos + 8 <= len(body):
        sub = body[pos:pos + 4]
        (size,) = struct.unpack("<I", body[pos + 4:pos + 8])
        end = pos + 8 + size
        if end > len(body):
            raise ValueError("WebP frame chunk runs past the end")
        if sub in _ANMF_KEPT:
            out.append(body[pos:end] + (b"\x00" if size & 1 else b""))
        pos = end + (size & 1)
    return b"".join(out)


def strip_webp_metadata(data: bytes, *, orientation: int | None = None) -> bytes:
    """The same WebP with only its image, alpha, animation and ICC chunks (`_webp_body`: cut to their
    fields, frames' own sub-chunks filtered, a profile only when valid); an
    `orientation` of 2-8 as an EXIF chunk of that tag alone (extended format only, the only one that
    may hold one). The VP8X flags and the RIFF size are set to what is left. ValueError for a chunk
    that runs past the end or a file that is not a WebP."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ValueError("not a WebP")
    (riff_size,) = struct.unpack("<I", data[4:8])
    limit = min(len(data), 8 + riff_size)
    chunks: list[tuple[bytes, bytes]] = []
    pos = 12
    while pos + 8 <= limit:
        kind = data[pos:pos + 4]
        (size,) = struct.unpack("<I", data[pos + 4:pos + 8])
        end = pos + 8 + size
        if end > limit:
            raise ValueError("WebP chunk runs past the end")
        if kind in _WEBP_KEPT:
            body = _webp_body(kind, data[pos + 8:end])
            if body is not None:
                chunks.append((kind, body))
        pos = end + (size & 1)
    if not chunks:
        raise ValueError("WebP has no image")
    if chunks[0][0] == b"VP8X":
        header = bytearray(chunks[0][1])
        if len(header) < 10:
            raise ValueError("WebP VP8X chunk too short")
        header[0] &= ~(_VP8X_EXIF | _VP8X_XMP | _VP8X_ICC) & 0xFF
        if any(kind == b"ICCP" for kind, _ in chunks):
            header[0] |= _VP8X_ICC
        if _turned(orientation):
            header[0] |= _VP8X_EXIF
            chunks.append((b"EXIF", _orientation_tiff(orientation or 1)))
        chunks[0] = (b"VP8X", bytes(header))
    else:
        chunks = chunks[:1]   # the simple format: one image chunk and nothing else
    body = b"".join(kind + struct.pack("<I", len(c)) + c + (b"\x00" if len(c) & 1 else b"") for kind, c in chunks)
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def strip_metadata(data: bytes, format: str, orientation: int | None = None) -> bytes:
    """`data`, an image of Pillow's `format` (JPEG, PNG, GIF, WEBP), without its metadata and
    otherwise unchanged, at its full size: what an article is pointed at. The ICC profile stays
    (colours as the original shows them) and an EXIF `orientation` of 2-8 is kept as the only tag.
    ValueError for another format (AVIF) or a container the walker refuses."""
    if format == "JPEG":
        return strip_jpeg_metadata(data, keep_icc=True, orientation=orientation)
    if format == "PNG":
        return strip_png_metadata(data, orientation=orientation)
    if format == "GIF":
        return strip_gif_metadata(data)
    if format == "WEBP":
        return strip_webp_metadata(data, orientation=orientation)
    raise ValueError(f"no metadata walker for {format}")
