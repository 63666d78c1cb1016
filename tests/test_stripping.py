"""archiver.capture.stripping: metadata out, every pixel and frame as it was, and hostile containers refused
with ValueError (never another error, never a hang)."""

from __future__ import annotations

import contextlib
import io
import struct
import zlib

import pytest
from PIL import Image, ImageCms, ImageSequence, PngImagePlugin

from archiver.capture.stripping import (
    strip_gif_metadata,
    strip_jpeg_metadata,
    strip_metadata,
    strip_png_metadata,
    strip_webp_metadata,
)

SECRET = "SpyCam at 48,51N"
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
XMP = f'<x:xmpmeta xmlns:x="adobe:ns:meta/">{SECRET}</x:xmpmeta>'.encode()


def exif(orientation: int) -> bytes:
    e = Image.Exif()
    e[0x0112] = orientation
    e[0x010F] = SECRET
    e[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0)}
    return e.tobytes()


def frames(n: int, size: tuple[int, int] = (30, 20)) -> list[Image.Image]:
    return [Image.new("RGB", size, ((i * 40) % 256, 90, 200 - i)) for i in range(n)]


def encode(fmt: str, n: int = 1, **kw: object) -> bytes:
    out = io.BytesIO()
    first, *rest = frames(n)
    if rest:
        kw.update(save_all=True, append_images=rest, duration=40, loop=0)
    first.save(out, fmt, **kw)
    return out.getvalue()


def png_text() -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", SECRET)
    info.add_text("Author", SECRET, zip=True)
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    return info


SAMPLES = {
    "jpeg": ("JPEG", encode("JPEG", exif=exif(6), xmp=XMP, comment=SECRET.encode(), icc_profile=SRGB)),
    "jpeg-progressive": ("JPEG", encode("JPEG", exif=exif(1), progressive=True, comment=SECRET.encode())),
    "png": ("PNG", encode("PNG", exif=exif(3), pnginfo=png_text(), icc_profile=SRGB)),
    "apng": ("PNG", encode("PNG", n=3, pnginfo=png_text())),
    "gif": ("GIF", encode("GIF", n=3, comment=SECRET.encode())),
    "webp": ("WEBP", encode("WEBP", exif=exif(8), xmp=XMP, icc_profile=SRGB, quality=90)),
    "webp-animated": ("WEBP", encode("WEBP", n=3, exif=exif(1), xmp=XMP, lossless=True)),
    "webp-simple": ("WEBP", encode("WEBP", quality=90)),
}


def pixels(data: bytes) -> list[bytes]:
    im = Image.open(io.BytesIO(data))
    return [frame.convert("RGBA").tobytes() for frame in ImageSequence.Iterator(im)]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_metadata_out_pixels_frames_orientation_and_profile_kept(name: str) -> None:
    fmt, data = SAMPLES[name]
    orientation = Image.open(io.BytesIO(data)).getexif().get(0x0112, 1)
    out = strip_metadata(data, fmt, orientation)
    assert SECRET.encode() not in out and b"xmpmeta" not in out and b"48,51N" not in out
    if name != "webp-simple":   # the simple format cannot hold metadata: nothing to take out
        assert SECRET.encode() in data and len(out) < len(data)
    a, b = Image.open(io.BytesIO(data)), Image.open(io.BytesIO(out))
    assert (b.format, b.size, getattr(b, "n_frames", 1)) == (a.format, a.size, getattr(a, "n_frames", 1))
    assert pixels(out) == pixels(data)
    assert dict(b.getexif()) == ({0x0112: orientation} if orientation != 1 else {})
    assert b.info.get("icc_profile") == a.info.get("icc_profile")
    assert b.info.get("loop") == a.info.get("loop")
    assert strip_metadata(out, fmt, orientation) == out   # a second pass finds nothing more


def test_jpeg_web_copy_keeps_no_profile_and_no_orientation() -> None:
    out = strip_jpeg_metadata(SAMPLES["jpeg"][1])
    im = Image.open(io.BytesIO(out))
    assert not im.getexif() and "icc_profile" not in im.info and b"Exif" not in out


def test_png_chunks_after_iend_and_unknown_critical_chunks() -> None:
    data = SAMPLES["png"][1]
    assert strip_png_metadata(data + b"appended secret") == strip_png_metadata(data)
    at = data.index(b"IDAT") - 4
    unknown = struct.pack(">I", 3) + b"ZZZZ" + b"abc" + struct.pack(">I", zlib.crc32(b"ZZZZabc"))
    with pytest.raises(ValueError, match="critical"):
        strip_png_metadata(data[:at] + unknown + data[at:])
    private = struct.pack(">I", 3) + b"prVt" + b"abc" + struct.pack(">I", zlib.crc32(b"prVtabc"))
    assert b"prVt" not in strip_png_metadata(data[:at] + private + data[at:])


def test_webp_flags_say_what_is_left() -> None:
    out = strip_webp_metadata(SAMPLES["webp-animated"][1])
    assert out[12:16] == b"VP8X" and out[20] & 0x0C == 0   # no EXIF, no XMP flag
    assert struct.unpack("<I", out[4:8])[0] == len(out) - 8


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_cut_and_flipped_byte_is_refused_or_walked(name: str) -> None:
    """Hostile containers: every truncation and a flipped byte at every header position give bytes or
    ValueError, nothing else, in bounded time."""
    fmt, data = SAMPLES[name]
    step = max(1, len(data) // 400)
    for cut in range(0, len(data), step):
        with contextlib.suppress(ValueError):
            strip_metadata(data[:cut], fmt, 6)
    for at in range(0, min(len(data), 300)):
        hostile = bytearray(data)
        hostile[at] ^= 0xFF
        with contextlib.suppress(ValueError):
            strip_metadata(bytes(hostile), fmt, 1)


def test_gif_sizes_that_run_past_the_end() -> None:
    head = b"GIF89a\x01\x00\x01\x00\x00\x00\x00"   # a 1x1 screen, no global colour table
    with pytest.raises(ValueError, match="past the end"):
        strip_gif_metadata(head + b"\x21\xfe\xff" + b"x" * 10)
    with pytest.raises(ValueError, match="past the end"):
        strip_gif_metadata(head + b"\x2c" + b"\x00" * 8 + b"\x87")   # a local table past the end
    with pytest.raises(ValueError, match="not known"):
        strip_gif_metadata(head + b"\x99")
    assert strip_gif_metadata(head + b"\x21\xfe\x03abc\x00\x3b") == head + b"\x3b"   # a comment, dropped


def test_other_formats_are_not_walked() -> None:
    with pytest.raises(ValueError):
        strip_metadata(b"\x00\x00\x00\x1cftypavif", "AVIF")


# --- bytes hidden inside the chunks that are kept ------------------------------------------------------
def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_insert(data: bytes, *chunks: bytes, before: bytes = b"IDAT") -> bytes:
    at = data.index(before) - 4
    return data[:at] + b"".join(chunks) + data[at:]


def test_png_chunks_kept_only_at_their_size_and_profiles_renamed() -> None:
    data = encode("PNG")
    padded = _png_insert(data, _png_chunk(b"pHYs", struct.pack(">IIB", 2835, 2835, 1) + SECRET.encode()),
                         _png_chunk(b"bKGD", b"\x00\x01\x00\x02\x00\x03" + SECRET.encode()))
    out = strip_png_metadata(padded)
    assert SECRET.encode() not in out and b"pHYs" not in out and pixels(out) == pixels(data)
    named = _png_insert(data, _png_chunk(b"iCCP", SECRET.encode()[:70] + b"\x00\x00" + zlib.compress(SRGB)))
    out = strip_png_metadata(named)
    assert SECRET.encode() not in out and Image.open(io.BytesIO(out)).info["icc_profile"] == SRGB
    smuggled = _png_insert(data, _png_chunk(b"iCCP", b"x\x00\x00" + zlib.compress(SRGB + SECRET.encode())))
    assert b"iCCP" not in strip_png_metadata(smuggled)


def test_png_exif_after_the_image_data_is_not_made_an_orientation_browsers_apply() -> None:
    data = encode("PNG")
    late = data[:data.index(b"IEND") - 4] + _png_chunk(b"eXIf", exif(6)[6:]) + data[data.index(b"IEND") - 4:]
    assert Image.open(io.BytesIO(late)).getexif().get(0x0112) == 6   # Pillow reads it, browsers do not
    out = strip_png_metadata(late, orientation=6)
    assert b"eXIf" not in out and SECRET.encode() not in out


def test_jpeg_icc_kept_only_as_one_valid_profile_and_garbage_between_segments_skipped() -> None:
    data = encode("JPEG", icc_profile=SRGB)
    at = data.index(b"ICC_PROFILE\x00")
    (length,) = struct.unpack(">H", data[at - 2:at])
    tailed = data[:at - 2] + struct.pack(">H", length + len(SECRET)) + data[at:at - 2 + length] + SECRET.encode() \
        + data[at - 2 + length:]
    assert Image.open(io.BytesIO(tailed)).size == (30, 20)
    out = strip_jpeg_metadata(tailed, keep_icc=True)
    assert SECRET.encode() not in out and b"ICC_PROFILE" not in out and pixels(out) == pixels(data)
    assert Image.open(io.BytesIO(strip_jpeg_metadata(data, keep_icc=True))).info["icc_profile"] == SRGB
    sos = data.index(b"\xff\xc4")
    junk = data[:sos] + b"\x00\x00" + data[sos:]   # extraneous bytes before a marker: decoders skip them
    assert pixels(strip_jpeg_metadata(junk)) == pixels(data)


def test_gif_extensions_cut_to_their_fields() -> None:
    data = encode("GIF", n=2)
    at = data.index(b"NETSCAPE2.0") + 11
    assert data[at:at + 5] == b"\x03\x01\x00\x00\x00"
    smuggled = data[:at + 4] + bytes([len(SECRET)]) + SECRET.encode() + data[at + 4:]   # a second sub-block
    assert Image.open(io.BytesIO(smuggled)).n_frames == 2 and smuggled.endswith(b"\x3b")
    out = strip_gif_metadata(smuggled[:-1] + b"\x00\x3b")   # and a stray 0x00 before the trailer
    assert SECRET.encode() not in out and pixels(out) == pixels(data)
    assert Image.open(io.BytesIO(out)).info.get("loop") == 0


def test_webp_frames_and_fixed_chunks_carry_nothing_more() -> None:
    data = encode("WEBP", n=2, lossless=True)
    at = data.index(b"ANMF")
    (size,) = struct.unpack("<I", data[at + 4:at + 8])
    extra = b"XMP " + struct.pack("<I", len(SECRET)) + SECRET.encode() + (b"\x00" if len(SECRET) & 1 else b"")
    frame = data[at + 8:at + 8 + size] + extra
    hostile = data[:at] + b"ANMF" + struct.pack("<I", len(frame)) + frame + data[at + 8 + size:]
    hostile = hostile[:4] + struct.pack("<I", len(hostile) - 8) + hostile[8:]
    out = strip_webp_metadata(hostile)
    assert SECRET.encode() not in out and pixels(out) == pixels(data)
