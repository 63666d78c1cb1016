"""The Pillow work on untrusted image bytes, and the frames the image worker process speaks.

Everything here that touches decoded pixels runs in an image worker process (``imageworker.serve``,
started by ``archiver.capture.imagepool``), never in the process that fetched the bytes: a decoder
that runs for minutes (a progressive JPEG repeating one scan 20,000 times) is then stopped by killing
its process at the time limit. The same goes for a capture's cards, whose PNG decodes the post's
media and avatar: a worker renders them too (a "cards" request). This module imports only the
standard library and Pillow, so a process that fetches can use its frames at little cost.

One image is two requests to the worker. ``open`` reads the header (type, size, declared frames,
orientation, the JPEG decoding scale) and answers with an estimate of the bytes decoding and
deriving will hold at their peak (``ImageJob.estimate``), before a single pixel is decoded; the
caller waits for that much of its memory budget, then sends ``go``: decode, verify, hash and derive.
An ``open`` sent holding a share of the budget already (``go_within``) goes on by itself when the
estimate fits that share: one request for a usual photo.

The messages between the two processes are frames: a 4-byte big-endian length, a JSON header, then
the binary blobs whose lengths the header lists (``"blobs": [n, ...]``). No pickle: the worker reads
hostile bytes, so what it answers is parsed as data only.

Pillow is imported on first use (``pillow()``; a worker imports it when it starts), not with this
module: the process that fetches imports this module for the frames and pays nothing for Pillow until
it reads an image itself. From then on Pillow's DecompressionBombWarning is an error for the whole
process: there is no decoding in archiver where a bomb should only warn.
"""

from __future__ import annotations

import functools
import io
import json
import math
import re
import struct
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Any, BinaryIO

from archiver.capture.stripping import EXTENSIONS, jpeg_segments, strip_jpeg_metadata, strip_metadata

if TYPE_CHECKING:
    from PIL import Image

WEB_SIZE, THUMB_SIZE = 1600, 320

WEB_QUALITY, THUMB_QUALITY = 75, 80

# A frame's JSON header is at most this long; a request's or an answer's blobs at most MAX_BLOBS bytes.
MAX_HEADER = 1 << 20
MAX_BLOBS = 1 << 30

# Seconds after the time limit at which a worker whose caller is gone ends itself (SIGALRM's default
# action): the caller kills it at the limit itself; this only matters if the caller died meanwhile.
ALARM_GRACE = 5


@functools.cache
def pillow() -> ModuleType:
    """``PIL.Image``, imported on first use (about 10 ms of imports a run reading no image does not
    pay), with its DecompressionBombWarning made an error in this process. Every part of archiver that
    uses Pillow gets it through here, so no decode can run before that filter is set."""
    from PIL import Image  # lazy: see the docstring

    warnings.filterwarnings("error", category=Image.DecompressionBombWarning)
    return Image


@functools.cache
def _reads_avif() -> bool:
    """Whether this Pillow was built with AVIF support (the caller allows AVIF wherever it is)."""
    from PIL import features

    pillow()
    return bool(features.check("avif"))


# An object's default repr (``<_io.BytesIO object at 0x7f...>``, ``<function f at 0x...>``): its address
# differs on every run, so it has no place in a stored reason.
_OBJECT_REPR = re.compile(r"\s*<[^<>]*?\bat 0x[0-9a-fA-F]+>")


def stable_reason(text: str) -> str:
    """`text` (an exception's message) as a stored reason may hold it: every object repr that shows a
    memory address (``<... at 0x...>``) dropped and the spaces left tidied, so the same failure reads
    the same on every run ("cannot identify image file", not "... <_io.BytesIO object at 0x7f...>")."""
    text = _OBJECT_REPR.sub("", text)
    return re.sub(r"\s+", " ", text).strip(" :") or "no detail"


class MediaRejected(Exception):
    """The bytes are not an image we keep; `reason` says why in one line, as it is stored: the same on
    every run (``stable_reason``: no object repr with a memory address in it)."""

    def __init__(self, reason: str) -> None:
        reason = stable_reason(reason)
        super().__init__(reason)
        self.reason = reason


# --- frames on a pipe ---------------------------------------------------------------------------
def encode_frame(header: dict[str, Any], blobs: list[bytes] | tuple[bytes, ...] = ()) -> list[bytes]:
    """The pieces of one frame, to be written in order: length, JSON header (with the blob lengths), blobs."""
    head = json.dumps({**header, "blobs": [len(b) for b in blobs]}, separators=(",", ":")).encode()
    return [struct.pack(">I", len(head)), head, *blobs]


def parse_header(head: bytes) -> tuple[dict[str, Any], list[int]]:
    """A frame's JSON header and its blob lengths; ValueError when it is not one of our headers."""
    header = json.loads(head)
    if not isinstance(header, dict):
        raise ValueError("a frame header is not a JSON object")
    lengths = header.pop("blobs", [])
    if not isinstance(lengths, list) or not all(isinstance(n, int) and n >= 0 for n in lengths):
        raise ValueError("a frame header has bad blob lengths")
    if sum(lengths) > MAX_BLOBS:
        raise ValueError(f"a frame carries more than {MAX_BLOBS} bytes")
    return header, lengths


def _read_exactly(stream: BinaryIO, n: int) -> bytes | None:
    """`n` bytes from a blocking stream; None at end of stream (before or within them)."""
    parts, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            return None
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def read_frame(stream: BinaryIO) -> tuple[dict[str, Any], list[bytes]] | None:
    """One frame from a blocking stream (the worker's side); None at end of stream; ValueError for garbage."""
    size = _read_exactly(stream, 4)
    if size is None:
        return None
    (length,) = struct.unpack(">I", size)
    if length > MAX_HEADER:
        raise ValueError(f"a frame header of {length} bytes")
    head = _read_exactly(stream, length)
    if head is None:
        return None
    header, lengths = parse_header(head)
    blobs = []
    for n in lengths:
        blob = _read_exactly(stream, n)
        if blob is None:
            return None
        blobs.append(blob)
    return header, blobs


# --- the image work ----------------------------------------------------------------------------
class Clock:
    """The processing time limit, checked between steps. The caller's hard limit (killing the worker)
    is what bounds a step; this only ends the work early with a message that names the step."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.end = time.monotonic() + limit

    def check(self, step: str) -> None:
        """MediaRejected when the limit has passed."""
        if time.monotonic() > self.end:
            raise MediaRejected(f"image decoding exceeded {self.limit:g} s ({step})")


def count_frames(im: Image.Image, cap: int, clock: Clock) -> int:
    """Frames of `im` by walking them (GIF) or as declared (the others); MediaRejected over `cap`."""
    declared = getattr(im, "n_frames", 1) if im.format != "GIF" else 1   # GIF counts by walking
    if declared > cap:
        raise MediaRejected(f"animation has {declared} frames, over the cap of {cap}")
    if not getattr(im, "is_animated", False):
        return 1
    frames = 1
    try:
        while True:
            im.seek(frames)
            frames += 1
            if frames > cap:
                raise MediaRejected(f"animation has more than {cap} frames")
            if frames % 100 == 0:
                clock.check("counting frames")
    except EOFError:
        pass
    im.seek(0)
    return frames


def gif_structure(data: bytes, cap: int) -> tuple[int, int, int] | None:
    """(images, canvas width, canvas height) of a GIF, read from its block structure without decoding
    any (stopping once past `cap` images); None when there is no logical screen. The canvas is the
    logical screen grown to hold every image's rectangle, as Pillow grows it when it seeks to one
    placed past the screen. Bytes that start no block are skipped one by one, and the data sub-blocks
    of an extension are read as Pillow's GifImagePlugin reads them (``_seek``): its first sub-block,
    even empty, then more until an empty one; but a comment ends at its first empty sub-block, and
    before the first image a NETSCAPE2.0 block's second sub-block is read even when empty."""
    if len(data) < 13:
        return None
    flags = data[10]
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    width, height = data[6] | data[7] << 8, data[8] | data[9] << 8
    frames, end = 0, len(data)
    while pos < end:
        tag = data[pos]
        if tag == 0x3B:   # trailer
            break
        if tag == 0x21:   # extension: introducer, label, its first sub-block (even empty), then the rest
            label = data[pos + 1] if pos + 1 < end else 0
            pos += 2
            first = data[pos] if pos < end else 0
            if label == 0xFF and frames == 0 and first >= 11 and data[pos + 1:pos + 12] == b"NETSCAPE2.0":
                pos += 1 + first
                first = data[pos] if pos < end else 0   # the loop count's sub-block, read even empty
            pos += 1 + first
            if label == 0xFE and first == 0:   # a comment ends at an empty sub-block
                continue
        elif tag == 0x2C:   # image descriptor, local colour table, LZW code size, then data sub-blocks
            frames += 1
            if frames > cap or pos + 10 > end:
                break
            left, top = data[pos + 1] | data[pos + 2] << 8, data[pos + 3] | data[pos + 4] << 8
            width = max(width, left + (data[pos + 5] | data[pos + 6] << 8))
            height = max(height, top + (data[pos + 7] | data[pos + 8] << 8))
            local = data[pos + 9]
            pos += 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0) + 1
        else:
            pos += 1
            continue
        while pos < end:
            size = data[pos]
            pos += 1 + size
            if size == 0:
                break
    return frames, width, height


def gif_frame_count(data: bytes, cap: int) -> int | None:
    """How many images a GIF holds (`gif_structure`'s first figure); None when there is no logical screen."""
    found = gif_structure(data, cap)
    return None if found is None else found[0]


def webp_loop(fmt: str, info: dict[str, Any]) -> int:
    """The loop count the web copy (WebP: 0 plays forever, n > 0 plays n times in all) needs to play
    as the source plays in a browser, from the source's ``info["loop"]`` as Pillow reads it: a GIF
    without a NETSCAPE2.0 block has none and plays once; its count n is repeats after the first play
    (0 forever, else n + 1 plays, as browsers play it); an APNG's num_plays and a WebP's loop count
    are already plays in all (0 forever). Capped to the 16 bits WebP keeps it in (`_webp`)."""
    loop = info.get("loop")
    try:
        count = int(loop) if loop is not None else None
    except (TypeError, ValueError):
        count = None
    if fmt == "GIF":
        plays = 1 if count is None else (0 if count <= 0 else count + 1)
    else:
        plays = 0 if count is None or count <= 0 else count
    return min(plays, 0xFFFF)


def dhash(im: Image.Image) -> str:
    """64-bit difference hash (hex): near-duplicate images differ in few bits."""
    small = im.convert("L").resize((9, 8), pillow().Resampling.BILINEAR, reducing_gap=2.0)
    px = small.tobytes()
    bits = 0
    for row in range(8):
        for col in range(8):
            bits = (bits << 1) | (px[row * 9 + col] > px[row * 9 + col + 1])
    return f"{bits:016x}"


def _rgb(im: Image.Image, profile: bytes | None = None) -> Image.Image:
    """`im` as RGB, or RGBA when it has alpha or a colour key (a PNG's tRNS: "transparency" in its info,
    in any mode). 16-bit grey (PNG's I;16) is scaled to 8 bits first (`_grey8`: Pillow's conversion
    would clip every value over 255 to white), its colour key made alpha. CMYK or grey pixels with
    `profile` (their embedded ICC profile, as `_icc` keeps it) are converted through it to sRGB
    (`_device_to_srgb`); without one, or when littlecms cannot, by Pillow's plain conversion.

    The full-size images this makes beside `im`, at most at once, are what `_RGB_BYTES` counts a
    pixel for `im`'s mode (and `_ICC_BYTES` with a profile); `ImageJob._estimate` reserves them."""
    alpha: Image.Image | None = None
    if im.mode == "I" or im.mode.startswith("I;16"):
        im, alpha = _grey8(im)
    if profile is not None and im.mode in _DEVICE_SPACES:
        converted = _device_to_srgb(im, profile, alpha)
        if converted is not None:
            return converted
    if alpha is not None:
        return pillow().merge("RGBA", (im, im, im, alpha))
    transparent = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
    mode = "RGBA" if transparent else "RGB"
    return im if im.mode == mode else im.convert(mode)


@functools.cache
def _high_bytes() -> list[int]:
    """The table from a 16-bit grey value to its 8-bit one (its high byte, as browsers scale it)."""
    return [v >> 8 for v in range(1 << 16)]


def _grey8(im: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """16-bit (I;16, I;16B...) or 32-bit (I) grey `im` as 8-bit grey (L, each value's high byte, values
    past 16 bits clamped to white), and the alpha (L) of its 16-bit colour key (0 where the exact
    16-bit value is the key, else 255) when it has one. Full-size images alive at once: the 32-bit copy
    Pillow's 16-bit table lookup reads (4 bytes a pixel, none for I itself), the grey and the alpha
    (1 byte each); only the last two are left when it returns."""
    key = im.info.get("transparency")
    wide = im if im.mode == "I" else im.convert("I")
    grey = wide.point(_high_bytes(), "L")
    grey.info.pop("transparency", None)   # a 16-bit key means nothing to 8-bit values: `alpha` holds it
    alpha = None
    if isinstance(key, int) and not isinstance(key, bool):
        table = [255] * (1 << 16)
        if 0 <= key < len(table):
            table[key] = 0
        alpha = wide.point(table, "L")
    return grey, alpha


# The ICC colour space (ICC.1:2010 table 19) of each Pillow mode whose embedded profile is honoured:
# RGB ones after resizing (`_to_srgb`), CMYK and grey ones when the pixels are made RGB (`_rgb`).
_RGB_SPACES = {"RGB": "RGB", "RGBA": "RGB", "P": "RGB"}
_DEVICE_SPACES = {"CMYK": "CMYK", "L": "GRAY", "LA": "GRAY"}
_SPACES = {**_RGB_SPACES, **_DEVICE_SPACES, "I": "GRAY", "I;16": "GRAY", "I;16B": "GRAY", "I;16L": "GRAY"}


def _device_to_srgb(im: Image.Image, icc: bytes, alpha: Image.Image | None = None) -> Image.Image | None:
    """CMYK or grey (L, LA) pixels converted through their ICC profile `icc` to sRGB: RGB, or RGBA
    when `im` has alpha, a grey colour key or `alpha` is given (the alpha of a 16-bit key, `_grey8`).
    A press photo in CMYK shows the colours its profile gives (as browsers show it), not Pillow's plain
    ink arithmetic, which oversaturates. None when littlecms cannot build the transform (the caller then
    converts plainly). Full-size images beside `im`: grey and alpha planes (1 byte a pixel each) and
    the output (4), which the alpha is written into in place."""
    from PIL import ImageCms  # lazy, after pillow(): only an image with a profile needs littlecms

    if alpha is None and im.mode == "LA":
        alpha, im = im.getchannel("A"), im.getchannel("L")
    elif alpha is None and im.mode == "L" and isinstance(im.info.get("transparency"), int):
        key = im.info["transparency"]
        alpha = im.point(lambda v: 0 if v == key else 255)
    try:
        out = ImageCms.profileToProfile(im, ImageCms.ImageCmsProfile(io.BytesIO(icc)), _srgb(),
                                        outputMode="RGB" if alpha is None else "RGBA")
    except (ImageCms.PyCMSError, OSError, ValueError):
        return None
    if out is None:
        return None
    if alpha is not None:
        out.putalpha(alpha)   # RGBA already: its alpha band written in place, no copy
    return out


# The transposition that makes an image upright, by its EXIF Orientation (TIFF 6.0 tag 274; as
# Pillow's ImageOps.exif_transpose maps it).
_UPRIGHT = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE", 6: "ROTATE_270",
            7: "TRANSVERSE", 8: "ROTATE_90"}


def exif_orientation(im: Image.Image) -> int:
    """The Orientation (1-8) of `im`'s EXIF block alone, 1 when it has none or an odd value. Not from
    XMP or a PNG's text chunks, which Pillow's getexif() also reads: browsers turn an image by its
    EXIF only, and the copies show the picture as readers saw it."""
    raw = im.info.get("exif")
    if not isinstance(raw, bytes) or not raw:
        return 1
    exif = pillow().Exif()
    try:
        exif.load(raw)
        value = exif.get(0x0112, 1)
    except Exception:   # a damaged EXIF block: the image as stored
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _icc(im: Image.Image) -> bytes | None:
    """`im`'s embedded ICC profile when it is of the colour space of `im`'s mode (RGB, CMYK or grey:
    `_SPACES`) and maps colours other than reading the pixels without it does (`_differs_from_srgb`);
    None for none, for one of another space, for one that gives sRGB's colours whatever it is called,
    and for one littlecms cannot read (the pixels are then read as a browser reads them without one)."""
    icc = im.info.get("icc_profile")
    space = _SPACES.get(im.mode)
    if not isinstance(icc, bytes) or not icc or space is None:
        return None
    return icc if _differs_from_srgb(icc, space) else None


# Colours a profile is tried on: in RGB the primaries and secondaries at full and half strength and
# greys; in CMYK every ink at 0, half and full; in grey every level.
_LEVELS = (0, 128, 255)
_PROBES = {
    "RGB": ("RGB", 27, bytes(c for r in _LEVELS for g in _LEVELS for b in _LEVELS for c in (r, g, b))),
    "CMYK": ("CMYK", 81, bytes(v for c in _LEVELS for m in _LEVELS for y in _LEVELS for k in _LEVELS
                              for v in (c, m, y, k))),
    "GRAY": ("L", 256, bytes(range(256))),
}


@functools.lru_cache(maxsize=32)
def _differs_from_srgb(icc: bytes, space: str = "RGB") -> bool:
    """Whether converting probe colours (`_PROBES`) from the profile `icc`, of the ICC colour space
    `space` ("RGB", "CMYK", "GRAY"), to sRGB moves any by more than 3 levels from what Pillow's plain
    conversion gives (so sRGB under another name keeps the lossless copy); False for a profile of
    another space or that littlecms cannot read. Cached by profile (a site's images share one)."""
    from PIL import ImageCms  # lazy, after pillow(): only an image with a profile needs littlecms

    mode, count, pixels = _PROBES[space]
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if profile.profile.xcolor_space.strip() != space:
            return False
        probe = pillow().frombytes(mode, (count, 1), pixels)
        out = ImageCms.profileToProfile(probe, profile, _srgb(), outputMode="RGB")
    except Exception:
        return False
    plain = probe.convert("RGB").tobytes()
    return out is not None and max(abs(a - b) for a, b in zip(out.tobytes(), plain, strict=True)) > 3


def _to_srgb(frames: list[Image.Image], icc: bytes | None, clock: Clock) -> None:
    """Convert each of `frames` (RGB or RGBA) in place from the colour space of the profile `icc` to
    sRGB, so a copy that carries no profile shows the colours the original did (a phone's Display P3
    photo would look washed out otherwise): one transform per mode, each frame replaced by its
    conversion (one extra frame alive at a time), the time limit checked after each. Nothing without
    a profile or when littlecms cannot convert."""
    if icc is None:
        return
    from PIL import ImageCms  # lazy, after pillow(): see _icc

    transforms: dict[str, Any] = {}
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        for i, frame in enumerate(frames):
            if frame.mode not in transforms:
                transforms[frame.mode] = ImageCms.buildTransform(source, _srgb(), frame.mode, frame.mode)
            frames[i] = ImageCms.applyTransform(frame, transforms[frame.mode])
            clock.check("converting colours")
    except ImageCms.PyCMSError:
        return


@functools.cache
def _srgb() -> Any:
    from PIL import ImageCms

    return ImageCms.createProfile("sRGB")


def _upright(im: Image.Image, orientation: int) -> Image.Image:
    """`im` turned by `orientation` (exif_orientation's value); `im` itself for 1."""
    method = _UPRIGHT.get(orientation)
    return im if method is None else im.transpose(getattr(pillow().Transpose, method))


def fit(size: tuple[int, int], bound: int) -> tuple[int, int]:
    """`size` scaled down (never up) to fit in a bound x bound box, aspect ratio kept."""
    width, height = size
    scale = min(1.0, bound / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def reduced_pixels(size: tuple[int, int], bound: int, gap: float = 1.5) -> int:
    """Pixels of the intermediate image Pillow's resize makes on the way to fit(size, bound) with
    reducing_gap=`gap` (a box reduce by a whole factor), 0 when it makes none."""
    target = fit(size, bound)
    fx, fy = int(size[0] / target[0] / gap) or 1, int(size[1] / target[1] / gap) or 1
    return math.ceil(size[0] / fx) * math.ceil(size[1] / fy) if fx > 1 or fy > 1 else 0


def _shrink(im: Image.Image, bound: int) -> Image.Image:
    """`im` fitted in bound x bound: a cheap box reduce first, then Pillow's antialiased bilinear.
    `im` itself when it already fits."""
    target = fit(im.size, bound)
    if target == im.size:
        return im
    return im.resize(target, pillow().Resampling.BILINEAR, reducing_gap=1.5)


def _webp(frames: list[Image.Image], durations: list[int], loop: int, quality: int) -> bytes:
    """WebP with no metadata at all: info is emptied so no EXIF, XMP or ICC can be carried over.

    method=0 is libwebp's fastest encoder setting; serving copies do not need its slower searches."""
    for f in frames:
        f.info = {}
    out = io.BytesIO()
    if len(frames) > 1:
        # WebP keeps a loop count in 16 bits and a frame's duration in 24, and libwebp's timestamps
        # (their running sum, in ms) in a C int: longer ones are cut to what it can hold.
        loop = min(max(loop, 0), 0xFFFF)
        most = min(0xFFFFFF, (2**31 - 1) // len(frames))
        durations = [min(max(d, 0), most) for d in durations]
        frames[0].save(out, "WEBP", quality=quality, method=0, save_all=True, append_images=frames[1:],
                       duration=durations, loop=loop)
    else:
        frames[0].save(out, "WEBP", quality=quality, method=0)
    return out.getvalue()


# Start-of-frame markers (not DHT 0xC4, JPG 0xC8, DAC 0xCC) and those of a multi-scan coding.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_PROGRESSIVE = frozenset({0xC2, 0xC6, 0xCA, 0xCE})


def jpeg_coefficient_bytes(data: bytes, width: int, height: int) -> int:
    """Bytes of DCT coefficients libjpeg keeps for the whole image while decoding (128 bytes an 8x8
    block of each component, after its subsampling): for a progressive JPEG, or one whose first scan
    does not hold every component; 0 for a single-scan one. A header we cannot walk counts as
    2 bytes a pixel for each of 4 components."""
    try:
        segments = jpeg_segments(data)
    except ValueError:
        return width * height * 8
    sof = [(m, s, e) for m, s, e in segments if m in _JPEG_SOF]
    scan = [s for m, s, _ in segments if m == 0xDA]
    if not sof or not scan:
        return width * height * 8
    marker, start, end = sof[0]
    count = data[start + 5] if start + 5 < end else 0
    sampling = [data[start + 7 + 3 * i] for i in range(count) if start + 7 + 3 * i < end]   # H << 4 | V
    if len(sampling) != count or not count:
        return width * height * 8
    if marker not in _JPEG_PROGRESSIVE and data[scan[0]] >= count:
        return 0
    hmax, vmax = max(max(f >> 4 for f in sampling), 1), max(max(f & 15 for f in sampling), 1)
    total = 0
    for f in sampling:
        cols = math.ceil(math.ceil(width * (f >> 4) / hmax) / 8)
        rows = math.ceil(math.ceil(height * (f & 15) / vmax) / 8)
        total += cols * rows * 128
    return total


def _stripped_or_none(data: bytes) -> bytes | None:
    """The lossless web copy, or None when our segment walk disagrees with the decoder that
    accepted the file (the web copy is then re-encoded instead)."""
    try:
        return strip_jpeg_metadata(data)
    except ValueError:
        return None


def _web_frames(im: Image.Image, first: Image.Image, web: Image.Image | None, frames: int, ceiling: int,
                clock: Clock, canvas: tuple[int, int], screen: tuple[int, int],
                profile: bytes | None = None) -> tuple[list[Image.Image], list[int]]:
    """The web-sized frames and their durations. Animations stay animated when decoding every
    frame (on a `canvas` of pixels) stays under the pixel ceiling; otherwise the first frame
    (`first`, upright and RGB(A); `web` when already web-sized) stands for them. Each frame is cut to
    the `screen` (a GIF's logical screen), as a browser cuts what is placed past it, and made RGB(A)
    through the grey or CMYK `profile` as `first` was (`_rgb`)."""
    if frames > 1 and canvas[0] * canvas[1] * frames <= ceiling:
        from PIL import ImageSequence  # lazy, after pillow() (im is open): see pillow()

        web_frames: list[Image.Image] = []
        durations: list[int] = []
        for frame in ImageSequence.Iterator(im):
            shown = frame.crop((0, 0, *screen)) if frame.size != screen else frame
            shrunk = _shrink(_rgb(shown, profile), WEB_SIZE)
            web_frames.append(shrunk.copy() if shrunk is frame else shrunk)   # the next seek reuses frame
            durations.append(int(frame.info.get("duration", 100) or 100))
            clock.check("resizing frames")
        return web_frames, durations
    return [_shrink(first, WEB_SIZE) if web is None else web], []


# Bytes a pixel takes in Pillow's memory, by mode (multi-band modes take 4).
_PIXEL_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}

# Bytes a pixel of the full-size images `_rgb` makes beside its input, the most alive at once (its
# output included), by the input's mode: none when the input is already RGB or RGBA as wanted, the
# converted copy (4) otherwise, and for 16- and 32-bit grey (`_grey8`) the 32-bit copy, the grey and
# the alpha (4 + 1 + 1), then the grey, the alpha and the RGBA they are merged into (1 + 1 + 4).
_RGB_BYTES = {"I": 6, "I;16": 6, "I;16L": 6, "I;16B": 6, "I;16N": 6}
_RGB_COPY = 4
# With an embedded CMYK or grey profile (`_device_to_srgb`): the grey and alpha planes and the output.
_ICC_BYTES = 1 + 1 + 4

# What in a PNG may carry an orientation (its EXIF chunk, EXIF or XMP in text chunks).
_PNG_EXIF = (b"eXIf", b"exif", b"Orientation", b"XML:com.adobe.xmp")

# What deriving holds beside the decoded image: libwebp's working copies, the thumbnail, Python.
_DERIVE_OVERHEAD = 32 << 20


class ImageJob:
    """One image in a worker: opened from its header by the constructor (nothing decoded yet, so
    `estimate` can be reserved first), then decoded, verified, hashed and derived by `finish`.

    `limits`: "mime" (for messages), "format" (the Pillow format the bytes must be), "ceiling"
    (pixels), "max_frames", "limit" (seconds), "derive" (make serving copies, not only the hash).
    MediaRejected from either step for anything we will not keep.
    """

    def __init__(self, data: bytes, limits: dict[str, Any]) -> None:
        self.data = data
        self.mime = str(limits["mime"])
        pil = pillow()
        # The setting is the one pixel limit: Pillow's own bomb threshold is set to it while this job
        # reads the image (`_refusals`), neither lower (Pillow's default, 89,478,485 pixels, would
        # refuse what the setting allows) nor higher.
        self.ceiling = max(1, int(limits["ceiling"]))
        self.max_frames = max(1, int(limits["max_frames"]))
        self.derive = bool(limits["derive"])
        self.clock = Clock(float(limits["limit"]))
        self.im: Image.Image | None = None
        fmt = str(limits["format"])
        if fmt == "AVIF" and not _reads_avif():
            raise MediaRejected(f"not an allowed image type: {self.mime}")
        with self._refusals():
            self.im = pil.open(io.BytesIO(data), formats=[fmt])
            self._open(self.im)

    def _open(self, im: Image.Image) -> None:
        self.width, self.height = width, height = im.size
        # A JPEG with more images after its first (MPO: a stereo pair, an Ultra HDR gain map; Pillow
        # opens it so even when asked for JPEG) is its first image, which is what a browser shows.
        self.format = "JPEG" if im.format == "MPO" else im.format
        self.first_only = im.format == "MPO"
        # The pixels decoding holds: a GIF's canvas grows to hold an image placed past its screen.
        self.canvas = (width, height)
        if width < 1 or height < 1 or width * height > self.ceiling:
            raise MediaRejected(f"image of {width}x{height} pixels is over the ceiling of {self.ceiling}")
        frames: int | None
        if self.format == "GIF":
            found = gif_structure(self.data, self.max_frames)
            frames = None if found is None else found[0]
            if frames is not None and frames > self.max_frames:
                raise MediaRejected(f"animation has more than {self.max_frames} frames")
            if found is not None:
                self.canvas = (max(width, found[1]), max(height, found[2]))
                if self.canvas[0] * self.canvas[1] > self.ceiling:
                    raise MediaRejected(f"image of {self.canvas[0]}x{self.canvas[1]} pixels (its frames' canvas) "
                                        f"is over the ceiling of {self.ceiling}")
        else:
            frames = 1 if self.first_only else getattr(im, "n_frames", 1)
            if frames > self.max_frames:
                raise MediaRejected(f"animation has {frames} frames, over the cap of {self.max_frames}")
        self.loop = webp_loop(self.format, im.info)
        # A PNG's EXIF may follow its pixels (Pillow decodes the whole image to look): read it after decoding.
        self.orientation: int | None = None if self.format == "PNG" else exif_orientation(im)
        # An upright JPEG that is already web-sized is served as itself minus its metadata:
        # lossless, and no re-encoding. Then only the thumbnail needs pixels.
        # A copy carries no profile: colours in another space than sRGB are converted, so re-encoded.
        # An RGB profile is applied to the web-sized frames (`_to_srgb`); a CMYK or grey one as the
        # pixels are made RGB (`_rgb`), which the hash is taken from too.
        profile = _icc(im)
        self.icc = profile if im.mode in _RGB_SPACES else None
        self.device_icc = None if self.icc is not None else profile
        self.lossless = self.format == "JPEG" and self.orientation == 1 and max(im.size) <= WEB_SIZE and not profile
        if self.format == "JPEG":
            im.draft(None, fit(im.size, THUMB_SIZE if self.lossless else WEB_SIZE))
        self.estimate = self._estimate(im, frames)

    def _estimate(self, im: Image.Image, frames: int | None) -> int:
        """Bytes held at the peak of decoding and deriving `im`, from its header: an upper bound, each
        full-size or web-sized image the code makes counted at its mode's bytes a pixel as if all were
        alive at once. The decoded pixels (at the JPEG's decoding scale), libjpeg's coefficient buffer
        or the WebP and AVIF decoders' own buffers, `_rgb`'s images (`_rgb_bytes`), the upright copy,
        the premultiplied-alpha copy a resize makes of an image with alpha, each resize's box-reduced
        intermediate and output (web copy, thumbnail), the colour-converted copies, and for an
        animation the decoder's previous frames and the web frames kept (`frames` None: a GIF whose
        structure we could not read, counted at the cap). What libwebp's encoder and Python hold beside
        them is `_DERIVE_OVERHEAD`."""
        pixels = self.canvas[0] * self.canvas[1]
        source = _PIXEL_BYTES.get(im.mode, 4)
        total = 2 * len(self.data) + pixels * source + _DERIVE_OVERHEAD
        if self.format == "JPEG":
            total += jpeg_coefficient_bytes(self.data, self.width, self.height)
        elif self.format == "WEBP":
            total += pixels * 4 * 3   # libwebp's animation decoder (Pillow's for every WebP) keeps three canvases
        elif self.format == "AVIF":
            total += pixels * 4 * 2   # libavif's YUV planes and its RGB conversion
        total += pixels * self._rgb_bytes(im)
        alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
        if alpha:
            total += pixels * 4   # resizing an image with alpha premultiplies it in a full-size copy
        unknown = self.orientation is None and any(tag in self.data for tag in _PNG_EXIF)
        if unknown or self.orientation not in (1, None):
            total += pixels * source   # the upright copy, made before `_rgb`
        web = fit(im.size, WEB_SIZE)
        thumb = fit(web, THUMB_SIZE)
        web_pixels, thumb_pixels = web[0] * web[1], thumb[0] * thumb[1]
        total += (reduced_pixels(im.size, WEB_SIZE) + web_pixels) * 4   # the web copy: resize's intermediate and output
        # The thumbnail, from the full-size image or from the web copy (premultiplied when it has alpha),
        # with the intermediate of either resize; dhash's grey copy of it.
        reduced = max(reduced_pixels(im.size, THUMB_SIZE), reduced_pixels(web, THUMB_SIZE))
        total += (reduced + thumb_pixels) * 4 + thumb_pixels
        if alpha:
            total += web_pixels * 4
        if self.icc is not None:
            total += (web_pixels + thumb_pixels) * 4   # `_to_srgb`'s converted copies
        if frames is None or frames > 1:
            frames = self.max_frames if frames is None else frames
            total += pixels * 4 * 3
            if pixels * frames <= self.ceiling:
                total += frames * min(pixels, WEB_SIZE * WEB_SIZE) * 4
        return total

    def _rgb_bytes(self, im: Image.Image) -> int:
        """Bytes a pixel `_rgb` holds beside its input at its peak for `im` (`_RGB_BYTES`): none when
        `im` is already the RGB or RGBA wanted, more for 16-bit grey, at least `_ICC_BYTES` when its
        CMYK or grey profile is applied."""
        wanted = "RGBA" if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info else "RGB"
        held = _RGB_BYTES.get(im.mode, 0 if im.mode == wanted else _RGB_COPY)
        return max(held, _ICC_BYTES) if self.device_icc is not None else held

    def finish(self) -> tuple[dict[str, Any], dict[str, bytes]]:
        """Decode, verify, hash and (when asked) derive: {"width", "height" (as displayed), "frames",
        "dhash"} and the serving copies by name: "article.<ext>" (the original at full size without its
        metadata, archiver.capture.stripping; the web copy's bytes where the container cannot be
        stripped without re-encoding), "web.jpg" or "web.webp", "thumb.webp".

        A JPEG is decoded once, at the smallest DCT scale (1/2, 1/4, 1/8) still at least web-sized:
        libjpeg reads every coefficient of the file at any scale, so damaged data is caught as surely
        as by a full-size decode, at a fraction of the cost. The web copy, the thumbnail and the
        perceptual hash (taken from the thumbnail, which is made in both modes) all come from that one
        decode, so the hash of the same bytes does not depend on whether derivatives are on."""

        im, clock = self.im, self.clock
        assert im is not None, "finish() after a failed open"
        with self._refusals():
            frames = 1 if self.first_only else count_frames(im, self.max_frames, clock)
            im.load()
            clock.check("decoding")
            orientation = exif_orientation(im) if self.orientation is None else self.orientation
            width, height = (self.height, self.width) if orientation in (5, 6, 7, 8) else (self.width, self.height)
            first = _rgb(_upright(im, orientation), self.device_icc)
            # One pass over the full-size pixels, not two: a big image, or one with alpha (which a
            # resize premultiplies in a full-size copy), is brought to web size and its thumbnail
            # made from that. A smaller one gives its thumbnail directly, cheaper when only the hash
            # is wanted. The choice depends on the image alone, so the hash does not depend on the mode.
            web = _shrink(first, WEB_SIZE) if max(first.size) > 2 * WEB_SIZE or first.mode == "RGBA" else None
            thumb = _shrink(first if web is None else web, THUMB_SIZE)
            if thumb is im:
                thumb = im.copy()   # frames of an animation are read into im itself
            info = {"width": width, "height": height, "frames": frames, "dhash": dhash(thumb)}
            derived: dict[str, bytes] = {}
            if self.derive:
                full = self._full_copy(orientation)
                if full is not None:
                    derived[f"article.{EXTENSIONS[self.format]}"] = full
                clock.check("stripping metadata")
                stripped = _stripped_or_none(self.data) if self.lossless else None
                if stripped is not None:
                    derived["web.jpg"] = stripped
                else:
                    web_frames, durations = _web_frames(im, first, web, frames, self.ceiling, clock,
                                                        self.canvas, (self.width, self.height), self.device_icc)
                    _to_srgb(web_frames, self.icc, clock)
                    derived["web.webp"] = _webp(web_frames, durations, self.loop, WEB_QUALITY)
                clock.check("encoding web copy")
                thumbs = [thumb]
                _to_srgb(thumbs, self.icc, clock)
                derived["thumb.webp"] = _webp(thumbs, [], 0, THUMB_QUALITY)
                clock.check("encoding thumbnail")
                if full is None and "web.webp" in derived:
                    derived["article.webp"] = derived["web.webp"]   # re-encoded, but without metadata
        self.close()
        return info, derived

    def _full_copy(self, orientation: int) -> bytes | None:
        """The original at its full size without its metadata, the copy an article is pointed at
        (archiver.capture.stripping: lossless, the ICC profile and the orientation kept); None for a
        format or a container the walker refuses (the article then gets the web copy)."""
        try:
            return strip_metadata(self.data, self.format, orientation)
        except ValueError:
            return None

    def close(self) -> None:
        """Let go of the image (and its decoded pixels)."""
        if self.im is not None:
            self.im.close()
            self.im = None

    @contextmanager
    def _refusals(self) -> Iterator[None]:
        """Whatever Pillow raises on hostile bytes, as MediaRejected (the image closed), its reason
        `stable_reason`'s; Pillow's bomb threshold is our ceiling meanwhile (`pixel_limit`)."""
        try:
            with pixel_limit(self.ceiling):
                yield
        except MediaRejected:
            self.close()
            raise
        except (pillow().DecompressionBombError, pillow().DecompressionBombWarning) as exc:
            # Pillow's threshold is our ceiling (`pixel_limit`): its refusal is the ceiling's, in our words.
            self.close()
            found = _PILLOW_BOMB.search(str(exc))
            if found is None:
                raise MediaRejected(f"decompression bomb: {exc}") from None
            raise MediaRejected(f"image of {found[1]} pixels is over the ceiling of {self.ceiling}") from None
        except MemoryError:
            self.close()
            raise MediaRejected("decoding the image ran out of memory") from None
        except Exception as exc:   # a C decoder fed hostile bytes: any failure means "not a usable image"
            self.close()
            raise MediaRejected(f"damaged or unreadable {self.mime}: {type(exc).__name__}: "
                                f"{stable_reason(str(exc))[:200]}") from None


# Pillow's words when an image (a frame, a crop) is over its threshold (Image._decompression_bomb_check).
_PILLOW_BOMB = re.compile(r"Image size \((\d+) pixels\) exceeds limit")


@contextmanager
def pixel_limit(ceiling: int) -> Iterator[None]:
    """Pillow's decompression-bomb threshold (``Image.MAX_IMAGE_PIXELS``, which it checks as it opens an
    image, seeks to a frame or crops) set to `ceiling` meanwhile, then put back: the setting
    ``max_image_pixels`` is the one pixel limit of an image job, whichever side of Pillow's default it
    is on, and nothing else in the process (a card's pictures) inherits a job's. Over it Pillow warns,
    which ``pillow()`` made an error."""
    pil = pillow()
    before = pil.MAX_IMAGE_PIXELS
    pil.MAX_IMAGE_PIXELS = ceiling
    try:
        yield
    finally:
        pil.MAX_IMAGE_PIXELS = before
