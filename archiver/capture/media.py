"""The media pipeline: the one path by which any image or video becomes a stored original.

Bytes from the web are evidence and hostile at once. The real type is read from the bytes, not
from the Content-Type; only raster formats we can decode safely are kept (an SVG or an HTML page
served as image/jpeg is refused, with the reason). Pillow opens images with an explicit formats
list, a pixel ceiling below its own, a frame cap and a time limit. The original is stored
untouched, content-addressed by SHA-256; serving copies (orientation applied, every byte of
metadata, GPS first of all, dropped) are derived from it.

Pillow's DecompressionBombWarning is turned into an error for the whole process when this module
is imported: there is no decoding in archiver where a bomb should only warn.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PIL import Image, ImageOps, ImageSequence, features

from archiver.capture.exchange import Exchange, FetchError
from archiver.capture.fetch import Fetcher
from archiver.config.settings import Settings
from archiver.storage.layout import derived_key

if TYPE_CHECKING:
    from archiver.storage.base import ObjectStore


warnings.filterwarnings("error", category=Image.DecompressionBombWarning)

# Allowed raster types: mime -> Pillow format name.
IMAGE_FORMATS: dict[str, str] = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF",
                                 "image/webp": "WEBP"}

if features.check("avif"):
    IMAGE_FORMATS["image/avif"] = "AVIF"

VIDEO_MIMES = frozenset({"video/mp4", "video/webm", "video/quicktime"})

WEB_SIZE, THUMB_SIZE = 1600, 320

WEB_QUALITY, THUMB_QUALITY = 75, 80

_MARKUP = re.compile(rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(!doctype\s+html|html|head|body|script|"
                     rb"svg|!doctype\s+svg|iframe|div|p\b|meta|title|a\s)", re.IGNORECASE | re.DOTALL)

class MediaRejected(Exception):
    """The bytes are not an image we keep; `reason` says why in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

@dataclass
class ImageInfo:
    """An image we keep, as inspect_image read it: sniffed MIME type, Pillow format name, size in pixels,
    frame count and difference hash."""

    mime: str
    format: str
    width: int        # as displayed, EXIF orientation applied
    height: int
    frames: int
    dhash: str | None  # 64-bit difference hash, 16 hex digits

@dataclass
class MediaRecord:
    """What archive_media did with one URL: `status` archived, rejected or failed (`error` says why); the
    original's SHA-256, key and size in `bytes`; pixels or `duration` in seconds; derived name → key; exchanges."""

    original_url: str
    final_url: str | None = None
    sha256: str | None = None
    key: str | None = None
    mime: str | None = None
    bytes: int = 0
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    dhash: str | None = None
    derived: dict[str, str] = field(default_factory=dict)
    status: str = "failed"
    error: str | None = None
    exchanges: list[Exchange] = field(default_factory=list)

# --- sniffing --------------------------------------------------------------------------------
_FTYP_IMAGE = {b"avif": "image/avif", b"avis": "image/avif", b"heic": "image/heic", b"heix": "image/heic",
               b"mif1": "image/heif", b"msf1": "image/heif"}

def sniff(data: bytes) -> str | None:
    """The real type of `data` from its leading bytes, or None when unknown."""
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _FTYP_IMAGE:
            return _FTYP_IMAGE[brand]
        return "video/quicktime" if brand == b"qt  " else "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head.startswith(b"BM"):
        return "image/bmp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    text = data[:2048].lstrip(b"\xef\xbb\xbf")
    if text.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = text.decode("utf-16", "ignore").encode("ascii", "ignore")
    m = _MARKUP.match(text)
    if m:
        tag = m.group(1).lower()
        return "image/svg+xml" if b"svg" in tag else "text/html"
    if re.match(rb"^\s*<\?xml", text):
        return "image/svg+xml" if re.search(rb"<svg[\s>]", data[:8192], re.IGNORECASE) else "application/xml"
    if re.match(rb"^\s*[\[{]", text):
        return "application/json"
    return None

# --- images ------------------------------------------------------------------------------------
class _Clock:
    """The processing time limit, checked between steps (a step is bounded by the pixel ceiling)."""

    def __init__(self, settings: Settings) -> None:
        self.limit = settings.media_time_limit
        self.end = time.monotonic() + self.limit

    def check(self, step: str) -> None:
        if time.monotonic() > self.end:
            raise MediaRejected(f"image processing took longer than {self.limit:g}s ({step})")

def _ceiling(settings: Settings) -> int:
    """Our pixel ceiling: the lower of the setting and Pillow's own bomb threshold."""
    pillow = Image.MAX_IMAGE_PIXELS or settings.max_image_pixels
    return min(settings.max_image_pixels, pillow)

def _count_frames(im: Image.Image, cap: int, clock: _Clock) -> int:
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

def dhash(im: Image.Image) -> str:
    """64-bit difference hash (hex): near-duplicate images differ in few bits."""
    small = im.convert("L").resize((9, 8), Image.Resampling.BILINEAR, reducing_gap=2.0)
    px = small.tobytes()
    bits = 0
    for row in range(8):
        for col in range(8):
            bits = (bits << 1) | (px[row * 9 + col] > px[row * 9 + col + 1])
    return f"{bits:016x}"

def _rgb(im: Image.Image) -> Image.Image:
    transparent = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
    mode = "RGBA" if transparent else "RGB"
    return im if im.mode == mode else im.convert(mode)

def _fit(size: tuple[int, int], bound: int) -> tuple[int, int]:
    """`size` scaled down (never up) to fit in a bound x bound box, aspect ratio kept."""
    width, height = size
    scale = min(1.0, bound / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))

def _shrink(im: Image.Image, bound: int) -> Image.Image:
    """`im` fitted in bound x bound: a cheap box reduce first, then Pillow's antialiased bilinear.
    `im` itself when it already fits."""
    target = _fit(im.size, bound)
    if target == im.size:
        return im
    return im.resize(target, Image.Resampling.BILINEAR, reducing_gap=1.5)

def _webp(frames: list[Image.Image], durations: list[int], loop: int, quality: int) -> bytes:
    """WebP with no metadata at all: info is emptied so no EXIF, XMP or ICC can be carried over.

    method=0 is libwebp's fastest encoder setting; serving copies do not need its slower searches."""
    for f in frames:
        f.info = {}
    out = io.BytesIO()
    if len(frames) > 1:
        frames[0].save(out, "WEBP", quality=quality, method=0, save_all=True, append_images=frames[1:],
                       duration=durations, loop=loop)
    else:
        frames[0].save(out, "WEBP", quality=quality, method=0)
    return out.getvalue()

# JPEG markers that carry no image data: APP1-APP13 and APP15 (EXIF with GPS, XMP, IPTC, ICC,
# maker notes...) and COM. APP0 (JFIF) and APP14 (Adobe: how to read the colour channels) stay.
_JPEG_METADATA = frozenset({*range(0xE1, 0xEE), 0xEF, 0xFE})

_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})

def strip_jpeg_metadata(data: bytes) -> bytes:
    """The same JPEG with every metadata segment dropped and the image data byte for byte as it was
    (no re-encoding, so no loss). Segments are walked up to the first scan; everything from there
    on is image data. ValueError for a malformed header."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    out = [data[:2]]
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
            out.append(bytes((0xFF, marker)))
            continue
        if pos + 2 > len(data):
            raise ValueError("JPEG segment length cut off")
        (length,) = struct.unpack(">H", data[pos:pos + 2])
        end = pos + length
        if length < 2 or end > len(data):
            raise ValueError("JPEG segment runs past the end")
        if marker == 0xDA:   # start of scan: the rest is image data
            out.append(bytes((0xFF, marker)) + data[pos:])
            return b"".join(out)
        if marker not in _JPEG_METADATA:
            out.append(bytes((0xFF, marker)) + data[pos:end])
        pos = end
    raise ValueError("JPEG has no image data")

def _stripped_or_none(data: bytes) -> bytes | None:
    """The lossless web copy, or None when our segment walk disagrees with the decoder that
    accepted the file (the web copy is then re-encoded instead)."""
    try:
        return strip_jpeg_metadata(data)
    except ValueError:
        return None

def _process(data: bytes, settings: Settings, derive: bool) -> tuple[ImageInfo, dict[str, bytes]]:
    """Verify, hash and (optionally) derive from one decode; MediaRejected for anything we will not keep.

    A JPEG is decoded once, at the smallest DCT scale (1/2, 1/4, 1/8) still at least web-sized:
    libjpeg reads every coefficient of the file at any scale, so damaged data is caught as surely
    as by a full-size decode, at a fraction of the cost. The web copy, the thumbnail and the
    perceptual hash (taken from the thumbnail, which is made in both modes) all come from that one
    decode, so the hash of the same bytes does not depend on whether derivatives are on."""
    mime = sniff(data)
    if mime not in IMAGE_FORMATS:
        raise MediaRejected(f"not an allowed image type: {mime or 'unrecognised bytes'}")
    clock = _Clock(settings)
    ceiling = _ceiling(settings)
    try:
        with Image.open(io.BytesIO(data), formats=[IMAGE_FORMATS[mime]]) as im:
            width, height = im.size
            if width < 1 or height < 1 or width * height > ceiling:
                raise MediaRejected(f"image of {width}x{height} pixels is over the ceiling of {ceiling}")
            frames = _count_frames(im, max(1, settings.max_image_frames), clock)
            loop = int(im.info.get("loop", 0) or 0)
            orientation = im.getexif().get(0x0112, 1)
            if orientation in (5, 6, 7, 8):
                width, height = height, width
            # An upright JPEG that is already web-sized is served as itself minus its metadata:
            # lossless, and no re-encoding. Then only the thumbnail needs pixels.
            lossless = im.format == "JPEG" and orientation == 1 and max(im.size) <= WEB_SIZE
            if im.format == "JPEG":
                im.draft(None, _fit(im.size, THUMB_SIZE if lossless else WEB_SIZE))
            im.load()
            clock.check("decoding")
            first = ImageOps.exif_transpose(im) if orientation != 1 else im
            thumb = _shrink(_rgb(first), THUMB_SIZE)
            if thumb is im:
                thumb = im.copy()   # frames of an animation are read into im itself
            info = ImageInfo(mime, IMAGE_FORMATS[mime], width, height, frames, dhash(thumb))
            derived: dict[str, bytes] = {}
            if derive:
                stripped = _stripped_or_none(data) if lossless else None
                if stripped is not None:
                    derived["web.jpg"] = stripped
                else:
                    web_frames, durations = _web_frames(im, first, frames, ceiling, clock)
                    derived["web.webp"] = _webp(web_frames, durations, loop, WEB_QUALITY)
                clock.check("encoding web copy")
                derived["thumb.webp"] = _webp([thumb], [], 0, THUMB_QUALITY)
                clock.check("encoding thumbnail")
    except MediaRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaRejected(f"decompression bomb: {exc}") from None
    except Exception as exc:   # a C decoder fed hostile bytes: any failure means "not a usable image"
        raise MediaRejected(f"damaged or unreadable {mime}: {type(exc).__name__}: {str(exc)[:200]}") from None
    return info, derived

def _web_frames(im: Image.Image, first: Image.Image, frames: int, ceiling: int,
                clock: _Clock) -> tuple[list[Image.Image], list[int]]:
    """The web-sized frames and their durations. Animations stay animated when decoding every
    frame stays under the pixel ceiling; otherwise the first frame stands for them."""
    if frames > 1 and im.size[0] * im.size[1] * frames <= ceiling:
        web_frames: list[Image.Image] = []
        durations: list[int] = []
        for frame in ImageSequence.Iterator(im):
            shrunk = _shrink(_rgb(frame), WEB_SIZE)
            web_frames.append(shrunk.copy() if shrunk is frame else shrunk)   # the next seek reuses frame
            durations.append(int(frame.info.get("duration", 100) or 100))
            clock.check("resizing frames")
        return web_frames, durations
    return [_shrink(_rgb(first), WEB_SIZE)], []

def inspect_image(data: bytes, settings: Settings) -> ImageInfo:
    """Type, size, frames and perceptual hash of an image we would keep; MediaRejected otherwise."""
    return _process(data, settings, derive=False)[0]

def derive_image(data: bytes, settings: Settings) -> dict[str, bytes]:
    """Serving copies: "thumb.webp", and "web.jpg" (an upright, web-sized JPEG with its metadata
    segments dropped, image data untouched) or "web.webp" (resized and re-encoded); orientation
    applied, no metadata."""
    return _process(data, settings, derive=True)[1]

# --- video -------------------------------------------------------------------------------------
def mp4_duration(data: bytes) -> float | None:
    """Duration in seconds from the movie header (moov/mvhd) of an MP4/QuickTime file."""
    def boxes(buf: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
        found, pos = [], start
        while pos + 8 <= end and len(found) < 1000:
            size, kind = struct.unpack(">I4s", buf[pos:pos + 8])
            header = 8
            if size == 1 and pos + 16 <= end:
                size, header = struct.unpack(">Q", buf[pos + 8:pos + 16])[0], 16
            elif size == 0:
                size = end - pos
            if size < header or pos + size > end:
                break
            found.append((kind, pos + header, pos + size))
            pos += size
        return found

    for kind, start, end in boxes(data, 0, len(data)):
        if kind != b"moov":
            continue
        for sub, s, e in boxes(data, start, end):
            if sub == b"mvhd" and e - s >= 32:
                if data[s] == 1:
                    timescale, duration = struct.unpack(">IQ", data[s + 20:s + 32])
                else:
                    timescale, duration = struct.unpack(">II", data[s + 12:s + 20])
                return round(duration / timescale, 3) if timescale else None
    return None

def archive_media(url: str, *, kind: str, fetcher: Fetcher, store: ObjectStore,
                  settings: Settings) -> MediaRecord:
    """Fetch, verify, store the untouched original by SHA-256, then the serving copies.

    Never raises for remote or content trouble: the record's status says archived, rejected
    (will not change on retry) or failed (worth retrying)."""
    rec = MediaRecord(original_url=url)
    if kind not in ("image", "video"):
        raise ValueError(f"archive_media kind must be image or video, not {kind!r}")
    try:
        resp = fetcher.get(url, kind=kind)
    except FetchError as exc:
        rec.exchanges, rec.error = exc.exchanges, str(exc)
        rec.status = "failed" if exc.retryable or exc.kind == "bad_response" else "rejected"
        return rec
    rec.exchanges, rec.final_url = resp.exchanges, resp.final_url
    if not 200 <= resp.status < 300:
        rec.error = f"HTTP {resp.status} from {resp.final_url[:200]}"
        return rec
    data = resp.body
    rec.bytes, rec.sha256 = len(data), hashlib.sha256(data).hexdigest()
    rec.mime = sniff(data)
    derived: dict[str, bytes] = {}
    try:
        if kind == "image":
            info, derived = _process(data, settings, derive=settings.media_derivatives)
            rec.width, rec.height, rec.dhash = info.width, info.height, info.dhash
        elif rec.mime not in VIDEO_MIMES:
            raise MediaRejected(f"not an allowed video type: {rec.mime or 'unrecognised bytes'}")
        else:
            rec.duration = mp4_duration(data) if rec.mime != "video/webm" else None
    except MediaRejected as exc:
        rec.status, rec.error = "rejected", exc.reason
        return rec
    try:
        sha, rec.key, _ = store.put_blob(data, rec.mime or "application/octet-stream")
        if sha != rec.sha256:
            raise OSError(f"store computed sha256 {sha}, expected {rec.sha256}")
        for name, body in derived.items():
            key = derived_key(sha, name)
            store.put(key, body, content_type="image/jpeg" if name.endswith(".jpg") else "image/webp",
                      if_none_match=True,
                      metadata={"source-sha256": sha})
            rec.derived[name] = key
    except Exception as exc:   # any storage backend failure is a retryable failure of this item
        rec.key, rec.derived = None, {}
        rec.error = f"storing failed: {type(exc).__name__}: {str(exc)[:200]}"
        return rec
    rec.status = "archived"
    return rec
