"""An image's metadata removed without re-encoding it: the copies a public URL may serve.

The original is evidence and stays byte for byte as fetched, metadata and all. What a public URL
serves must not carry where a photo was taken, by whose camera, what it was edited with or what
someone wrote into it: EXIF (GPS, serial numbers, maker notes, its own thumbnail), XMP, IPTC,
comments and text chunks. Each container is walked by its own specification and only what decides
how the pixels look is copied, unchanged, so the copy shows exactly what the original shows:

- JPEG (ITU T.81, JFIF 1.02; EXIF 2.32 for the orientation): the coding segments and the scans'
  data, the JFIF header without its thumbnail, Adobe's colour transform, and (``full`` copies) the
  ICC profile and an orientation-only EXIF block;
- PNG (ISO/IEC 15948, PNG Third Edition for cICP, mDCV, cLLI and eXIf): the critical chunks, the
  colour, transparency and pixel-size chunks and APNG's animation chunks; an eXIf chunk becomes an
  orientation-only one;
- GIF (GIF89a): the image data, graphic control and plain-text extensions, the loop count
  (NETSCAPE2.0 / ANIMEXTS1.0) and an ICC profile (ICCRGBG1012); comments, XMP and every other
  application extension are dropped;
- WebP (RFC 9649): the image, alpha, animation and ICC chunks; EXIF becomes orientation only, XMP and
  unknown chunks are dropped and the VP8X flags say so.

Every function raises ValueError for a container it cannot walk; the caller then serves a
re-encoded copy instead (archiver.capture.imaging). Nothing here decodes pixels: the bytes were
decoded and verified before (the image worker).
"""

from __future__ import annotations

import struct
import zlib

__all__ = ["EXTENSIONS", "jpeg_segments", "strip_gif_metadata", "strip_jpeg_metadata", "strip_metadata",
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
        if data[pos] != 0xFF:
            raise ValueError(f"JPEG marker expected at byte {pos}")
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
    for marker, start, end in jpeg_segments(data):
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
_PNG_KEPT = frozenset({b"PLTE", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"bKGD", b"pHYs",
                       b"cICP", b"mDCV", b"cLLI", b"acTL", b"fcTL", b"fdAT"})
_PNG_CRITICAL = frozenset({b"IHDR", b"PLTE", b"IDAT", b"IEND"})


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def strip_png_metadata(data: bytes, *, orientation: int | None = None) -> bytes:
    """The same PNG with only the chunks that decide how it looks (`_PNG_KEPT`, the critical ones),
    each copied unchanged, ending at IEND; an `orientation` of 2-8 as an eXIf chunk of that tag alone,
    before the first IDAT as the spec wants. ValueError for a chunk that runs past the end, a critical
    chunk this walker does not know (it could not say what the chunk holds), or no IEND."""
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("not a PNG")
    out = [_PNG_SIGNATURE]
    pos, exif_written = len(_PNG_SIGNATURE), not _turned(orientation)
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        end = pos + 12 + length
        if length > 0x7FFFFFFF or end > len(data):
            raise ValueError("PNG chunk runs past the end")
        if kind in (b"IDAT", b"fdAT", b"IEND") and not exif_written:
            out.append(_png_chunk(b"eXIf", _orientation_tiff(orientation or 1)))
            exif_written = True
        if kind in _PNG_CRITICAL or kind in _PNG_KEPT:
            out.append(data[pos:end])
        elif not kind[:1].islower():   # a critical chunk we do not know: the image may depend on it
            raise ValueError(f"unknown critical PNG chunk {kind!r}")
        if kind == b"IEND":
            return b"".join(out)
        pos = end
    raise ValueError("PNG has no IEND")


# --- GIF ----------------------------------------------------------------------------------------
_GIF_KEPT_APPLICATIONS = (b"NETSCAPE2.0", b"ANIMEXTS1.0", b"ICCRGBG1012")


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
    """The same GIF with comment extensions and application extensions other than the loop count and
    an ICC profile (`_GIF_KEPT_APPLICATIONS`) dropped, every other block copied unchanged, ending at
    its trailer. ValueError for a block this walker does not know or data that runs past the end."""
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
            label, start = data[pos + 1], pos
            end = _gif_sub_blocks(data, pos + 2)
            app = data[pos + 3:pos + 14] if label == 0xFF and data[pos + 2] == 11 else b""
            if label in (0xF9, 0x01) or app in _GIF_KEPT_APPLICATIONS:
                out.append(data[start:end])
            pos = end
        else:
            raise ValueError(f"GIF block 0x{kind:02x} not known")
    raise ValueError("GIF has no trailer")


# --- WebP ---------------------------------------------------------------------------------------
_WEBP_KEPT = frozenset({b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP"})
_VP8X_EXIF, _VP8X_XMP = 0x08, 0x04


def strip_webp_metadata(data: bytes, *, orientation: int | None = None) -> bytes:
    """The same WebP with only its image, alpha, animation and ICC chunks, each copied unchanged; an
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
            chunks.append((kind, data[pos + 8:end]))
        pos = end + (size & 1)
    if not chunks:
        raise ValueError("WebP has no image")
    if chunks[0][0] == b"VP8X":
        header = bytearray(chunks[0][1])
        if len(header) < 10:
            raise ValueError("WebP VP8X chunk too short")
        header[0] &= ~(_VP8X_EXIF | _VP8X_XMP) & 0xFF
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
