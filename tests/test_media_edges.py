"""Edges of the image pipeline: the pixel setting as the one limit (not Pillow's own bomb threshold),
the memory estimate as an upper bound of the images the work makes, an animation's loop count kept,
stable rejection reasons, an empty body."""

from __future__ import annotations

import io
import struct
import sys
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PIL import Image, features

from archiver.capture import imaging
from archiver.capture.imaging import ImageJob, MediaRejected
from archiver.capture.media import derive_image, inspect_image
from archiver.config.settings import Settings
from archiver.steps.policy import governing_settings

pytestmark = pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")


def limits(fmt: str, **kw: Any) -> dict[str, Any]:
    return {"mime": f"image/{fmt.lower()}", "format": fmt, "ceiling": 100_000_000, "max_frames": 100,
            "derive": True, "limit": 30.0, **kw}


def save(im: Image.Image, fmt: str, **kw: Any) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **kw)
    return out.getvalue()


def ramp(size: tuple[int, int]) -> Image.Image:
    return Image.linear_gradient("L").resize(size)


def black_png(side: int) -> bytes:
    """A black grey PNG `side` pixels square, compressed to well under 1 MB (only its header is read)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    comp, rows = zlib.compressobj(1), b"\0" * (side + 1) * 500   # a filter byte and the pixels, a row
    whole, rest = divmod(side, 500)
    idat = b"".join(comp.compress(rows) for _ in range(whole)) + comp.compress(b"\0" * (side + 1) * rest)
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat + comp.flush())
            + chunk(b"IEND", b""))


# --- the pixel setting is the one limit --------------------------------------------------------------
def test_a_ceiling_over_pillows_default_threshold_is_the_limit() -> None:
    """An image over Pillow's default threshold (89,478,485 pixels) and under the setting is read (its
    header: nothing is decoded here); one over the setting is refused as the setting's refusal, which
    `archiver retry` tries again once max_image_pixels is raised."""
    data = black_png(9500)   # 90,250,000 pixels
    assert Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < 9500 * 9500
    for ceiling in (Settings().max_image_pixels, 200_000_000):
        job = ImageJob(data, limits("PNG", ceiling=ceiling))
        assert (job.width, job.height) == (9500, 9500) and job.estimate > 9500 * 9500
        job.close()
    with pytest.raises(MediaRejected) as refused:
        ImageJob(data, limits("PNG", ceiling=90_000_000))
    assert "90000000" in refused.value.reason
    assert governing_settings(refused.value.reason) == ("max_image_pixels",)


def _animation(size: tuple[int, int], fmt: str = "GIF", **kw: Any) -> bytes:
    frames = [Image.new("RGB", size, c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    return save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=60, **kw)


@pytest.mark.parametrize(("data", "fmt"), [
    (save(ramp((120, 80)), "PNG"), "PNG"),
    (_animation((120, 80), loop=0), "GIF"),   # Pillow checks its threshold at every frame it seeks to
], ids=["png", "gif"])
def test_pillows_own_threshold_neither_lowers_the_ceiling_nor_outlives_the_job(
        data: bytes, fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)   # Pillow's threshold far under the image
    info, derived = ImageJob(data, limits(fmt, ceiling=120 * 80)).finish()
    assert (info["width"], info["height"]) == (120, 80) and derived["web.webp"]
    assert Image.MAX_IMAGE_PIXELS == 1000   # put back: nothing else in the process inherits a job's
    with pytest.raises(MediaRejected) as refused:
        ImageJob(data, limits(fmt, ceiling=120 * 80 - 1)).finish()
    assert governing_settings(refused.value.reason) == ("max_image_pixels",)
    assert Image.MAX_IMAGE_PIXELS == 1000


# --- the estimate is an upper bound of the images the work makes --------------------------------------
def _core_bytes(core: Any) -> int:
    """Bytes of a Pillow image's pixels: 1 a pixel for the 8-bit single-band modes, 2 for I;16*, 4 else."""
    width, height = core.size
    per = 1 if core.mode in ("1", "L", "P") else 2 if core.mode.startswith("I;16") else 4
    return width * height * per


class PixelMeter:
    """The most bytes of Pillow pixels alive at once: sampled each time an image is given pixels (the
    only moments the sum grows), a pixel store counting while anything but the meter holds it."""

    def __init__(self) -> None:
        self.cores: list[Any] = []
        self.peak = 0

    def saw(self, core: Any) -> None:
        # Held by the list, the loop variable and getrefcount's argument only: nothing uses it any more.
        self.cores = [c for c in self.cores if sys.getrefcount(c) > 3]
        if all(c is not core for c in self.cores):
            self.cores.append(core)
        self.peak = max(self.peak, sum(_core_bytes(c) for c in self.cores))


@pytest.fixture
def meter(monkeypatch: pytest.MonkeyPatch) -> Iterator[PixelMeter]:
    found = PixelMeter()
    plain = Image.Image.__dict__["im"]

    def setter(self: Image.Image, core: Any) -> None:
        plain.fset(self, core)
        found.saw(core)

    monkeypatch.setattr(Image.Image, "im", property(plain.fget, setter))
    yield found


def test_the_meter_sees_images_come_and_go(meter: PixelMeter) -> None:
    a = Image.new("RGB", (100, 100))
    b = a.convert("L")
    assert meter.peak == 50_000
    del a
    c = b.convert("I;16")
    assert meter.peak == 50_000 and len(meter.cores) == 2
    del b, c


def _i16(size: tuple[int, int], **kw: Any) -> bytes:
    return save(ramp(size).convert("I").point(lambda v: v * 257).convert("I;16"), "PNG", **kw)


def _exif(orientation: int = 6) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def _grey_icc() -> bytes:
    from tests.test_media_hostile import grey_profile
    return grey_profile(1.8)


def _cmyk_icc() -> bytes:
    from tests.test_media_hostile import cmyk_profile, turned_inks
    return cmyk_profile(turned_inks)


SIZE, WIDE = (700, 500), (3400, 120)   # under twice the web size, and over it (resized in one pass)
IMAGES: dict[str, Callable[[], bytes]] = {
    "png-1": lambda: save(ramp(SIZE).convert("1"), "PNG"),
    "png-L": lambda: save(ramp(SIZE), "PNG"),
    "png-L-key": lambda: save(ramp(SIZE), "PNG", transparency=7),
    "png-L-key-icc": lambda: save(ramp(SIZE), "PNG", transparency=7, icc_profile=_grey_icc()),
    "png-LA": lambda: save(ramp(SIZE).convert("LA"), "PNG"),
    "png-LA-icc": lambda: save(ramp(SIZE).convert("LA"), "PNG", icc_profile=_grey_icc()),
    "png-P": lambda: save(ramp(SIZE).convert("P"), "PNG"),
    "png-P-key": lambda: save(ramp(SIZE).convert("P"), "PNG", transparency=0),
    "png-RGB": lambda: save(ramp(SIZE).convert("RGB"), "PNG"),
    "png-RGB-key": lambda: save(ramp(SIZE).convert("RGB"), "PNG", transparency=(1, 1, 1)),
    "png-RGBA": lambda: save(ramp(SIZE).convert("RGBA"), "PNG"),
    "png-RGBA-turned": lambda: save(ramp(SIZE).convert("RGBA"), "PNG", exif=_exif()),
    "png-RGBA-wide": lambda: save(ramp(WIDE).convert("RGBA"), "PNG"),
    "png-I16": lambda: _i16(SIZE),
    "png-I16-wide": lambda: _i16(WIDE),
    "png-I16-key": lambda: _i16(SIZE, transparency=40000),
    "png-I16-key-wide": lambda: _i16(WIDE, transparency=40000),
    "png-I16-key-turned": lambda: _i16(SIZE, transparency=40000, exif=_exif()),
    "png-I16-key-icc": lambda: _i16(SIZE, transparency=40000, icc_profile=_grey_icc()),
    "png-I16-icc": lambda: _i16(SIZE, icc_profile=_grey_icc()),
    "apng-I16": lambda: save(ramp(SIZE).convert("I").point(lambda v: v * 257).convert("I;16"), "PNG",
                             save_all=True, append_images=[ramp(SIZE).convert("I;16")], duration=50),
    "jpeg-L": lambda: save(ramp(SIZE), "JPEG"),
    "jpeg-RGB-turned": lambda: save(ramp((2000, 1500)).convert("RGB"), "JPEG", exif=_exif()),
    "jpeg-CMYK": lambda: save(ramp(SIZE).convert("CMYK"), "JPEG"),
    "jpeg-CMYK-icc": lambda: save(ramp(SIZE).convert("CMYK"), "JPEG", icc_profile=_cmyk_icc()),
    "gif": lambda: save(ramp(SIZE).convert("P"), "GIF"),
    "gif-animated": lambda: _animation(SIZE, loop=0),
    "webp-RGB": lambda: save(ramp(SIZE).convert("RGB"), "WEBP"),
    "webp-RGBA": lambda: save(ramp(SIZE).convert("RGBA"), "WEBP"),
    "webp-animated": lambda: _animation(SIZE, "WEBP"),
    "avif-RGBA": lambda: save(ramp(SIZE).convert("RGBA"), "AVIF"),
}
_FORMATS = {b"\x89PNG": "PNG", b"\xff\xd8": "JPEG", b"GIF8": "GIF", b"RIFF": "WEBP", b"\x00\x00\x00": "AVIF"}


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.skipif(name.startswith("avif") and not features.check("avif"),
                                                reason="this Pillow reads no AVIF"))
    for name in IMAGES])
def test_the_estimate_covers_every_image_the_work_makes(name: str, meter: PixelMeter) -> None:
    """For each mode and each branch (colour key, alpha, 16 bits, a profile, turned, wide, animated),
    the pixels of the images decoding, converting, turning, resizing and hashing hold at once at their
    peak are within the estimate, less its fixed parts (what libwebp and Python hold, the bytes)."""
    data = IMAGES[name]()
    fmt = next(f for head, f in _FORMATS.items() if data.startswith(head))
    job = ImageJob(data, limits(fmt))
    pixels_estimated = job.estimate - imaging._DERIVE_OVERHEAD - 2 * len(data)
    meter.cores, meter.peak = [], 0   # the header's reading is not what the estimate is of
    _, derived = job.finish()
    assert derived["thumb.webp"] and meter.peak > job.width * job.height
    assert meter.peak <= pixels_estimated, (
        f"{name}: {meter.peak / (job.width * job.height):.2f} bytes a pixel held, "
        f"{pixels_estimated / (job.width * job.height):.2f} estimated")


def test_16_bit_grey_is_made_rgb_with_few_copies(meter: PixelMeter) -> None:
    """16-bit grey with a colour key becomes RGBA holding at most 6 bytes a pixel beside the decoded
    image (a 32-bit copy, then grey, alpha and the RGBA), as `imaging._RGB_BYTES` says."""
    im = Image.open(io.BytesIO(_i16((300, 200), transparency=40000)))
    im.load()
    meter.cores, meter.peak = [im.im], 0
    out = imaging._rgb(im)
    assert out.mode == "RGBA"
    assert meter.peak <= 300 * 200 * (2 + 6)


# --- an animation's loop count ------------------------------------------------------------------------
@pytest.mark.parametrize(("fmt", "save_kw", "loop"), [
    ("GIF", {}, 1),               # no NETSCAPE2.0 block: browsers play it once
    ("GIF", {"loop": 0}, 0),      # forever
    ("GIF", {"loop": 2}, 3),      # repeated twice after the first play
    ("PNG", {"loop": 0}, 0),      # APNG num_plays: plays in all, 0 forever
    ("PNG", {"loop": 2}, 2),
    ("WEBP", {"loop": 0}, 0),     # WebP: plays in all, 0 forever
    ("WEBP", {"loop": 3}, 3),
])
def test_the_web_copy_plays_as_many_times_as_the_source(fmt: str, save_kw: dict[str, Any], loop: int) -> None:
    web = Image.open(io.BytesIO(derive_image(_animation((40, 30), fmt, **save_kw), Settings())["web.webp"]))
    assert web.n_frames == 3 and web.info["loop"] == loop


# --- stable reasons -----------------------------------------------------------------------------------
def test_a_reason_holds_no_memory_address() -> None:
    data = b"\x89PNG\r\n\x1a\n" + b"not a PNG at all" * 8   # sniffed as PNG, opened by no plugin
    reasons = set()
    for _ in range(2):
        with pytest.raises(MediaRejected) as err:
            inspect_image(data, Settings())
        reasons.add(err.value.reason)
    assert reasons == {"damaged or unreadable image/png: UnidentifiedImageError: cannot identify image file"}


@pytest.mark.parametrize(("text", "stable"), [
    ("cannot identify image file <_io.BytesIO object at 0x7f3a2c1e9f30>", "cannot identify image file"),
    ("bad <PIL.Image.Image image mode=RGB size=1x1 at 0x7F00AA10> in <function f at 0x10>", "bad in"),
    ("image file is truncated (3 bytes not processed)", "image file is truncated (3 bytes not processed)"),
])
def test_object_reprs_are_dropped_from_every_reason(text: str, stable: str) -> None:
    assert imaging.stable_reason(text) == stable
    assert MediaRejected(f"damaged: {text}").reason == f"damaged: {stable}"


# --- an empty body ------------------------------------------------------------------------------------
def test_an_empty_body_is_said_to_be_empty() -> None:
    with pytest.raises(MediaRejected, match=r"^empty body$"):
        inspect_image(b"", Settings())
