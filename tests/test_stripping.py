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
