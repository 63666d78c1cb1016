"""Image bytes made to slip past the image work's rules, and photos that are odd but real: none leaks
metadata into a serving copy, passes the pixel ceiling or the memory estimate, or is rejected or
mangled when a browser shows it fine. Decoding runs in the real image workers (derive_image,
inspect_image) or in the worker's own ImageJob."""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from archiver.capture.imaging import ImageJob, MediaRejected, gif_frame_count
from archiver.capture.media import derive_image, inspect_image, sniff
from archiver.config.settings import Settings

SECRET = "SECRET-48.8582N-2.2945E"


def jpeg(size: tuple[int, int], colour: tuple[int, int, int] = (200, 40, 40), **save: Any) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG", quality=90, **save)
    return out.getvalue()


def with_exif(size: tuple[int, int], text: str = SECRET, **save: Any) -> bytes:
    exif = Image.Exif()
    exif[0x010E] = text   # ImageDescription: stands for any EXIF a copy must not carry (GPS, serials...)
    return jpeg(size, exif=exif.tobytes(), **save)


def segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def limits(fmt: str, **kw: Any) -> dict[str, Any]:
    return {"mime": f"image/{fmt.lower()}", "format": fmt, "ceiling": 100_000_000, "max_frames": 1000,
            "derive": True, "limit": 20.0, **kw}


# --- the lossless JPEG copy -----------------------------------------------------------------------
@pytest.mark.parametrize("trailer", [
    with_exif((160, 120), SECRET + " second image"),                  # an appended JPEG with its own EXIF
    b"<html><script>alert(1)</script>" + SECRET.encode() + b"</html>",  # a polyglot's other file
    b"\x00\x00\x00\x18ftypmp42" + SECRET.encode() * 50,               # a phone's motion video
])
def test_the_lossless_jpeg_copy_ends_at_the_first_image(trailer: bytes) -> None:
    first = with_exif((800, 600))
    copies = derive_image(first + trailer, Settings())
    web = copies["web.jpg"]
    assert SECRET.encode() not in web and b"Exif" not in web
    assert web.endswith(b"\xff\xd9") and web.count(b"\xff\xd8") == 1
    assert web == derive_image(first, Settings())["web.jpg"]
    assert Image.open(io.BytesIO(web)).size == (800, 600)


def test_metadata_between_the_scans_of_a_progressive_jpeg_is_dropped() -> None:
    data = jpeg((640, 480), progressive=True)
    second_scan = data.index(b"\xff\xda", data.index(b"\xff\xda") + 2)
    hidden = segment(0xE1, b"Exif\x00\x00" + SECRET.encode()) + segment(0xFE, SECRET.encode())
    data = data[:second_scan] + hidden + data[second_scan:]
    web = derive_image(data, Settings())["web.jpg"]
    assert SECRET.encode() not in web
    assert Image.open(io.BytesIO(web)).tobytes() == Image.open(io.BytesIO(jpeg((640, 480), progressive=True))).tobytes()


def test_app0_keeps_only_the_jfif_header_and_drops_a_thumbnail() -> None:
    data = jpeg((320, 240))
    thumb = Image.new("RGB", (16, 16), (1, 2, 3)).tobytes()
    jfxx = segment(0xE0, b"JFXX\x00\x13" + bytes((16, 16)) + thumb)   # a thumbnail: another picture
    data = data[:2] + jfxx + data[2:]
    web = derive_image(data, Settings())["web.jpg"]
    assert b"JFXX" not in web and thumb[:48] not in web
    assert web[2:20] == b"\xff\xe0\x00\x10JFIF\x00" + data[data.index(b"JFIF") + 5:][:7] + b"\x00\x00"


# --- JPEGs holding more than one image (MPO) --------------------------------------------------------
@pytest.mark.parametrize("second", [(200, 150), (800, 600)])   # an Ultra HDR gain map's shape; a stereo pair
def test_a_jpeg_with_a_second_image_is_its_first_image(second: tuple[int, int]) -> None:
    out = io.BytesIO()
    Image.new("RGB", (800, 600), (200, 40, 40)).save(out, "MPO", save_all=True,
                                                      append_images=[Image.new("RGB", second, (0, 0, 255))])
    data = out.getvalue()
    info = inspect_image(data, Settings())
    assert (info.format, info.width, info.height, info.frames) == ("JPEG", 800, 600, 1)
    web = derive_image(data, Settings())["web.jpg"]
    shown = Image.open(io.BytesIO(web))
    assert shown.size == (800, 600) and shown.getpixel((400, 300))[2] < 100   # the red first image
    assert web.count(b"\xff\xd8") == 1 and b"MPF" not in web


# --- GIFs: the canvas and the block walk --------------------------------------------------------------
def gif_frame(x: int, y: int, size: tuple[int, int], colour: int) -> bytes:
    """A graphic control extension and one image of `size` at (x, y), palette index `colour`, its own
    local colour table."""
    im = Image.new("P", size, colour)
    im.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255, 255, 255, 255])
    out = io.BytesIO()
    im.save(out, "GIF")
    data = out.getvalue()
    pos = data.index(b"\x2c")   # Pillow writes no extension before a single frame's descriptor
    flags = data[10]
    table = data[13:13 + (3 << ((flags & 7) + 1))] if flags & 0x80 else b""
    local = 0x80 | (flags & 7) if table else 0
    return (b"\x21\xf9\x04\x00\x0a\x00\x00\x00" + b"\x2c" + struct.pack("<HHHH", x, y, *size) + bytes((local,))
            + table + data[pos + 10:-1])


def gif(screen: tuple[int, int], *frames: bytes) -> bytes:
    return b"GIF89a" + struct.pack("<HHBBB", *screen, 0, 0, 0) + b"".join(frames) + b";"


def test_a_gif_frame_placed_past_its_screen_counts_its_canvas() -> None:
    """Pillow grows the canvas to hold an image placed past the logical screen: the ceiling and the
    memory estimate count that canvas (a 70-byte GIF once decoded 9401x9401 pixels past both)."""
    grow = gif((1, 1), gif_frame(0, 0, (1, 1), 1), gif_frame(9400, 9400, (1, 1), 2))
    with pytest.raises(MediaRejected, match=r"9401x9401 pixels \(its frames' canvas\) is over the ceiling"):
        ImageJob(grow, limits("GIF", ceiling=1_000_000))
    job = ImageJob(grow, limits("GIF"))
    assert job.canvas == (9401, 9401) and job.estimate > 9401 * 9401 * 4
    job.close()


def test_an_animation_is_cut_to_its_screen_as_a_browser_shows_it() -> None:
    data = gif((20, 20), gif_frame(0, 0, (20, 20), 1), gif_frame(15, 15, (10, 10), 2))   # half of it past the screen
    job = ImageJob(data, limits("GIF"))
    assert job.canvas == (25, 25)
    info, copies = job.finish()
    web = Image.open(io.BytesIO(copies["web.webp"]))
    assert (info["width"], info["height"], info["frames"]) == (20, 20, 2)
    assert web.size == (20, 20) and getattr(web, "n_frames", 1) == 2
    web.seek(1)
    assert web.convert("RGB").getpixel((17, 17))[2] > 200 and web.convert("RGB").getpixel((5, 5))[0] > 200


def test_the_gif_walk_reads_an_extension_with_an_empty_first_sub_block_as_pillow_does() -> None:
    """Pillow reads an extension's first sub-block, then sub-blocks until an empty one: an empty first
    one does not end it. The walk agrees, so the frame cap is checked before decoding."""
    frames = [gif_frame(0, 0, (8, 8), i % 3) for i in range(6)]
    data = gif((8, 8), frames[0], b"\x21\x01\x00\x01;\x00", *frames[1:])
    assert gif_frame_count(data, 1000) == Image.open(io.BytesIO(data)).n_frames


# --- PNG and APNG -------------------------------------------------------------------------------------
def test_16_bit_grey_is_scaled_not_clipped_to_white() -> None:
    ramp = Image.linear_gradient("L").resize((256, 64)).convert("I").point(lambda v: v * 257).convert("I;16")
    out = io.BytesIO()
    ramp.save(out, "PNG")
    web = Image.open(io.BytesIO(derive_image(out.getvalue(), Settings())["web.webp"])).convert("L")
    mean = sum(web.tobytes()) / (web.size[0] * web.size[1])
    assert 110 < mean < 145, mean
    assert web.getpixel((10, 1)) < 20 and web.getpixel((10, web.size[1] - 2)) > 235   # the ramp, black to white


@pytest.mark.parametrize("save", [{"loop": 70_000, "duration": 100}, {"loop": 0, "duration": [65_535_000, 100]}])
def test_an_animated_png_with_a_long_loop_count_or_frame_is_kept(save: dict[str, Any]) -> None:
    out = io.BytesIO()
    frames = [Image.new("RGB", (40, 30), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(out, "PNG", save_all=True, append_images=frames[1:], **save)
    web = Image.open(io.BytesIO(derive_image(out.getvalue(), Settings())["web.webp"]))
    assert web.n_frames == 2


@pytest.mark.parametrize(("mode", "key"), [("RGB", (255, 255, 255)), ("L", 255)])
def test_a_colour_key_stays_transparent(mode: str, key: Any) -> None:
    im = Image.new(mode, (40, 40), key)
    im.paste(0 if mode == "L" else (0, 0, 0), (10, 10, 30, 30))
    out = io.BytesIO()
    im.save(out, "PNG", transparency=key)
    web = Image.open(io.BytesIO(derive_image(out.getvalue(), Settings())["web.webp"])).convert("RGBA")
    assert web.getpixel((0, 0))[3] == 0 and web.getpixel((20, 20))[3] == 255


# --- orientation --------------------------------------------------------------------------------------
XMP_TURNED = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
              b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF>'
              b"</x:xmpmeta>")


def test_an_orientation_in_xmp_alone_is_not_applied_as_browsers_do_not() -> None:
    data = jpeg((400, 200), xmp=XMP_TURNED)
    assert Image.open(io.BytesIO(data)).getexif().get(0x0112) == 6   # Pillow itself would turn it
    info = inspect_image(data, Settings())
    assert (info.width, info.height) == (400, 200)
    assert Image.open(io.BytesIO(derive_image(data, Settings())["web.jpg"])).size == (400, 200)
    exif = Image.Exif()
    exif[0x0112] = 6
    turned = inspect_image(jpeg((400, 200), exif=exif.tobytes()), Settings())
    assert (turned.width, turned.height) == (200, 400)   # EXIF's is


# --- types --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("head", "mime"), [
    (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1avifmiaf", "image/avif"),
    (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heic", "image/heif"),
    (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", "image/avif"),
])
def test_an_avif_whose_main_brand_is_mif1_is_sniffed_as_avif(head: bytes, mime: str) -> None:
    assert sniff(head + b"\x00" * 40) == mime


# --- colour -------------------------------------------------------------------------------------------
def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def _xyz(v: tuple[float, float, float]) -> bytes:
    return b"XYZ \x00\x00\x00\x00" + b"".join(_s15(c) for c in v)


def icc_profile(device_class: bytes, space: bytes, tags: list[tuple[bytes, bytes]], name: bytes) -> bytes:
    """A minimal ICC v2 profile (ICC.1:2001-04: header, tag table, then the tags; PCS XYZ, D50) of
    `device_class` (b"mntr", b"scnr") and colour `space` (b"RGB ", b"CMYK", b"GRAY"), with a desc and a
    wtpt tag before `tags`."""
    desc = (b"desc\x00\x00\x00\x00" + struct.pack(">I", len(name) + 1) + name + b"\x00"
            + b"\x00" * 8 + b"\x00\x00\x00" + b"\x00" * 67)
    tags = [(b"desc", desc), (b"wtpt", _xyz((0.9642, 1.0, 0.8249))), *tags]
    offset = 128 + 4 + 12 * len(tags)
    table, body = [], b""
    for sig, data in tags:
        data += b"\x00" * (-len(data) % 4)
        table.append(sig + struct.pack(">II", offset + len(body), len(data)))
        body += data
    size = offset + len(body)
    header = (struct.pack(">I", size) + b"\x00" * 4 + b"\x02\x10\x00\x00" + device_class + space + b"XYZ "
              + b"\x00" * 12 + b"acsp" + b"\x00" * 24 + b"\x00" * 4 + _s15(0.9642) + _s15(1.0) + _s15(0.8249)
              + b"\x00" * 48)
    return header + struct.pack(">I", len(tags)) + b"".join(table) + body


GAMMA_22 = b"curv\x00\x00\x00\x00\x00\x00\x00\x01\x02\x33\x00\x00"   # one u8Fixed8 gamma: 2.2


def rgb_profile(red: tuple[float, float, float], green: tuple[float, float, float],
                blue: tuple[float, float, float], name: bytes = b"Swapped primaries") -> bytes:
    """A minimal ICC v2 RGB display profile (the three colorant XYZs and gamma 2.2 curves) with the
    given D50 primaries."""
    return icc_profile(b"mntr", b"RGB ", [(b"rXYZ", _xyz(red)), (b"gXYZ", _xyz(green)), (b"bXYZ", _xyz(blue)),
                                          (b"rTRC", GAMMA_22), (b"gTRC", GAMMA_22), (b"bTRC", GAMMA_22)], name)


def grey_profile(gamma: float) -> bytes:
    """A minimal ICC v2 grey display profile: its kTRC one gamma."""
    curve = b"curv\x00\x00\x00\x00\x00\x00\x00\x01" + struct.pack(">H", round(gamma * 256)) + b"\x00\x00"
    return icc_profile(b"mntr", b"GRAY", [(b"kTRC", curve)], b"Linear grey")


def cmyk_profile(rgb_of: Callable[[int, int, int, int], tuple[int, int, int]]) -> bytes:
    """A minimal ICC v2 CMYK input profile: its A2B0 a lut16Type (ICC.1:2001-04 6.5.8) with a 2-point
    grid whose 16 corners (each ink 0 or full) are the sRGB colours `rgb_of(c, m, y, k)` gives (0 or 1
    each, so linear), in PCS XYZ (u1Fixed15) by sRGB's D50 primaries."""
    grid = b""
    for c in (0, 1):
        for m in (0, 1):
            for y in (0, 1):
                for k in (0, 1):
                    rgb = rgb_of(c, m, y, k)
                    xyz = [sum(SRGB_D50[ch][i] * rgb[ch] for ch in range(3)) for i in range(3)]
                    grid += struct.pack(">3H", *(min(65535, round(v * 32768)) for v in xyz))
    identity = b"".join(_s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    ramp = struct.pack(">2H", 0, 65535)
    lut = (b"mft2\x00\x00\x00\x00" + bytes([4, 3, 2, 0]) + identity + struct.pack(">2H", 2, 2)
           + ramp * 4 + grid + ramp * 3)
    return icc_profile(b"scnr", b"CMYK", [(b"A2B0", lut)], b"Turned inks")


SRGB_D50 = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_colours_in_another_profile_are_converted_to_srgb(fmt: str) -> None:
    """A copy carries no profile, so its pixels are converted: red in a profile whose red primary is
    sRGB's blue is blue in the copies (a Display P3 photo would otherwise look washed out)."""
    red, green, blue = SRGB_D50
    swapped = rgb_profile(blue, green, red)
    out = io.BytesIO()
    Image.new("RGB", (300, 200), (255, 0, 0)).save(out, fmt, icc_profile=swapped)
    copies = derive_image(out.getvalue(), Settings())
    assert "web.jpg" not in copies   # re-encoded, not the lossless copy
    for name in ("web.webp", "thumb.webp"):
        r, _, b = Image.open(io.BytesIO(copies[name])).convert("RGB").getpixel((5, 5))
        assert b > 200 and r < 60, (name, r, b)


def test_an_srgb_profile_keeps_the_lossless_copy() -> None:
    out = io.BytesIO()
    srgb = rgb_profile(*SRGB_D50, name=b"sRGB IEC61966-2.1")
    Image.new("RGB", (300, 200), (255, 0, 0)).save(out, "JPEG", icc_profile=srgb)
    web = derive_image(out.getvalue(), Settings())["web.jpg"]
    assert Image.open(io.BytesIO(web)).convert("RGB").getpixel((5, 5))[0] > 240


def turned_inks(c: int, m: int, y: int, k: int) -> tuple[int, int, int]:
    """Paper white and black as usual, but cyan ink gives magenta, magenta yellow, yellow cyan."""
    return (1 - y) * (1 - k), (1 - c) * (1 - k), (1 - m) * (1 - k)


@pytest.mark.parametrize("size", [(300, 200), (2600, 1600)])
def test_cmyk_pixels_are_converted_through_their_profile(size: tuple[int, int]) -> None:
    """A press photo in CMYK carries the profile that says what its inks look like: the copies show
    that (as a browser does), not Pillow's plain ink arithmetic, and are re-encoded, not the JPEG as
    it came with its profile stripped. Small (lossless candidate) and big (resized) alike."""
    out = io.BytesIO()
    Image.new("CMYK", size, (255, 0, 0, 0)).save(out, "JPEG", quality=95, icc_profile=cmyk_profile(turned_inks))
    assert Image.open(io.BytesIO(out.getvalue())).convert("RGB").getpixel((5, 5))[0] < 40   # plain: cyan
    copies = derive_image(out.getvalue(), Settings())
    assert "web.jpg" not in copies
    for name in ("web.webp", "thumb.webp"):
        r, g, b = Image.open(io.BytesIO(copies[name])).convert("RGB").getpixel((5, 5))
        assert r > 200 and g < 60 and b > 200, (name, r, g, b)   # magenta, as the profile says


def test_cmyk_without_a_profile_reads_as_before() -> None:
    """No profile: the plain conversion (a browser has no other), and the lossless copy."""
    out = io.BytesIO()
    Image.new("CMYK", (300, 200), (255, 0, 0, 0)).save(out, "JPEG", quality=95)
    copies = derive_image(out.getvalue(), Settings())
    assert "web.jpg" in copies
    r, g, b = Image.open(io.BytesIO(copies["thumb.webp"])).convert("RGB").getpixel((5, 5))
    assert r < 60 and g > 200 and b > 200, (r, g, b)   # cyan


@pytest.mark.parametrize("mode", ["L", "LA"])
def test_grey_pixels_are_converted_through_their_profile(mode: str) -> None:
    """A grey PNG whose profile says its levels are linear: mid-grey 128 is sRGB's 188 or so in the
    copies, not 128 (which would show it far darker); alpha is kept."""
    out = io.BytesIO()
    im = Image.new("L", (300, 200), 128)
    if mode == "LA":
        im.putalpha(Image.new("L", im.size, 255))
        im.paste((128, 0), (0, 0, 20, 20))
    im.save(out, "PNG", icc_profile=grey_profile(1.0))
    copies = derive_image(out.getvalue(), Settings())
    pixel = Image.open(io.BytesIO(copies["web.webp"])).convert("RGBA").getpixel((100, 100))
    assert all(180 <= v <= 196 for v in pixel[:3]) and pixel[3] == 255, pixel
    if mode == "LA":
        assert Image.open(io.BytesIO(copies["web.webp"])).convert("RGBA").getpixel((5, 5))[3] == 0


def test_a_grey_profile_on_an_rgb_image_or_an_unreadable_one_is_ignored() -> None:
    """A profile of another colour space than the pixels', or bytes littlecms cannot read, change
    nothing: the pixels are read as a browser reads them without one."""
    for profile in (grey_profile(1.0), b"\x00" * 200, cmyk_profile(turned_inks)[:150]):
        out = io.BytesIO()
        Image.new("RGB", (300, 200), (200, 30, 30)).save(out, "JPEG", quality=95, icc_profile=profile)
        copies = derive_image(out.getvalue(), Settings())
        assert "web.jpg" in copies
        r, g, b = Image.open(io.BytesIO(copies["thumb.webp"])).convert("RGB").getpixel((5, 5))
        assert r > 180 and g < 60 and b < 60, (r, g, b)


# --- second round: the GIF walk's extensions, sRGB by what a profile does, DNL -------------------------
def test_an_empty_comment_ends_at_once_as_pillow_reads_it() -> None:
    """A comment extension with no data (21 FE 00) is valid GIF89a: the walk does not read the next
    block as its data, so a real animation is not rejected and a big frame behind it is still counted."""
    frames = [gif_frame(0, 0, (200, 150), i % 3) for i in range(5)]
    animation = gif((200, 150), b"\x21\xfe\x00", *frames)
    assert gif_frame_count(animation, 1000) == Image.open(io.BytesIO(animation)).n_frames == 5
    ImageJob(animation, limits("GIF")).close()
    hidden = gif((1, 1), gif_frame(0, 0, (1, 1), 1), b"\x21\xfe\x00", gif_frame(0, 0, (3000, 3000), 2))
    with pytest.raises(MediaRejected, match=r"3000x3000 pixels \(its frames' canvas\)"):
        ImageJob(hidden, limits("GIF", ceiling=1_000_000))


def test_a_netscape_block_with_an_empty_loop_sub_block_is_walked_as_pillow_walks_it() -> None:
    frames = [gif_frame(0, 0, (8, 8), i % 3) for i in range(4)]
    data = gif((8, 8), b"\x21\xff\x0bNETSCAPE2.0\x00\x03\x01\x00\x00\x00", *frames)
    assert gif_frame_count(data, 1000) == Image.open(io.BytesIO(data)).n_frames


def test_srgb_under_another_name_keeps_the_lossless_copy() -> None:
    out = io.BytesIO()
    Image.new("RGB", (300, 200), (255, 0, 0)).save(out, "JPEG", icc_profile=rgb_profile(*SRGB_D50, name=b"c2"))
    assert "web.jpg" in derive_image(out.getvalue(), Settings())


def test_a_dnl_segment_carries_nothing_but_its_line_count() -> None:
    data = jpeg((320, 240))
    smuggled = segment(0xDC, b"\x00\xf0<html>" + SECRET.encode() + b"</html>")
    web = derive_image(data[:-2] + smuggled + data[-2:], Settings())["web.jpg"]
    assert SECRET.encode() not in web


def test_a_16_bit_grey_colour_key_stays_transparent() -> None:
    im = Image.new("I", (40, 40), 1000)
    im.paste(40000, (0, 0, 10, 10))
    im = im.convert("I;16")
    assert im.getpixel((2, 2)) == 40000
    out = io.BytesIO()
    im.save(out, "PNG", transparency=40000)
    web = Image.open(io.BytesIO(derive_image(out.getvalue(), Settings())["web.webp"])).convert("RGBA")
    assert web.getpixel((2, 2))[3] == 0 and web.getpixel((30, 30))[3] == 255
