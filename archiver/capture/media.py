"""The media pipeline: the one path by which any image or video becomes a stored original.

Bytes from the web are evidence and hostile at once. The real type is read from the bytes, not
from the Content-Type; only raster formats we can decode safely are kept (an SVG or an HTML page
served as image/jpeg is refused, with the reason). Pillow opens images with an explicit formats
list, a pixel ceiling (``max_image_pixels``, which Pillow's own bomb threshold is set to, whichever
side of its default it is on) and a frame cap, in an image worker process that is killed at
the time limit (``media_time_limit``), and decodes only once the process's memory budget
(``media_memory_budget``) has room for what the header says decoding will take
(``archiver.capture.imagepool``; the Pillow work itself is in ``archiver.capture.imaging``). The
original is stored untouched, content-addressed by SHA-256; serving copies (orientation applied,
every byte of metadata, GPS first of all, dropped) are derived from it.

Pillow's DecompressionBombWarning is turned into an error for the whole process when this module
is imported: there is no decoding in archiver where a bomb should only warn.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from archiver.capture.exchange import Exchange, FetchError
from archiver.capture.fetch import Fetcher
from archiver.capture.imagepool import ImagingUnavailable, pool_for
from archiver.capture.imaging import THUMB_SIZE, WEB_SIZE, MediaRejected, dhash, stable_reason, strip_jpeg_metadata
from archiver.config.settings import Settings
from archiver.faults import is_infrastructure_error
from archiver.lazyre import lazy
from archiver.storage.base import image_type
from archiver.storage.layout import derived_key

if TYPE_CHECKING:
    from archiver.storage.base import ObjectStore

__all__ = ["ARTICLE_COPY", "POLICY_KINDS", "THUMB_SIZE", "VIDEO_MIMES", "WEB_SIZE", "ImageInfo", "ImagingUnavailable",
           "MediaRecord", "MediaRejected", "archive_media", "article_key", "derive_image", "dhash", "image_formats",
           "inspect_image", "is_policy_reason", "mp4_duration", "sniff", "strip_jpeg_metadata"]


# Allowed raster types: mime -> Pillow format name. AVIF is allowed where the image worker's Pillow reads
# it; a worker whose Pillow does not refuses it as a type not allowed (imaging.ImageJob), so this process
# never imports Pillow to ask.
IMAGE_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP",
                 "image/avif": "AVIF"}


def image_formats() -> dict[str, str]:
    """The raster types archiver keeps, mime -> Pillow format name (``IMAGE_FORMATS``, a copy)."""
    return dict(IMAGE_FORMATS)


VIDEO_MIMES = frozenset({"video/mp4", "video/webm", "video/quicktime"})

_MARKUP = lazy(rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(!doctype\s+html|html|head|body|script|"
                     rb"svg|!doctype\s+svg|iframe|div|p\b|meta|title|a\s)", re.IGNORECASE | re.DOTALL)

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
    original's SHA-256, key and size in `bytes`; pixels or `duration` in seconds; derived name → key (the
    original's own key for a serving copy whose bytes are the original's: nothing is stored twice); exchanges.

    `refused` tells the two kinds of rejection apart: True when one of our policies refused it (the
    address guard, the byte cap, the pixel ceiling, the frame cap, the decoding time or memory limit:
    ``POLICY_KINDS``, ``is_policy_reason``), False when it is what the answer holds (not an image or
    video we keep, damaged bytes, a response that breaks HTTP) or a URL that is not one at all.
    Another size of the same medium may hold what a content rejection lacked; a policy would refuse
    it alike."""

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
    refused: bool = False


# FetchError kinds that are our policy's refusal, not the server's answer: the address guard
# ("refused": an address, scheme or credentials we do not fetch) and the byte cap ("too_large").
# "malformed" (a response head that breaks HTTP) is the answer itself, and "bad_url" (no host, a host
# name that is not one) says the URL is broken, not that we refuse it: both are content rejections.
POLICY_KINDS = frozenset({"refused", "too_large"})
# The reasons archiver.capture.imaging and the image pool give when one of our limits, not the bytes, ends an
# image: the pixel ceiling (Pillow's own threshold, which is set to it, included), the frame cap, the
# decoding time limit, the memory it would take. (The reasons cross a pipe from the image worker as
# text, so they are told apart by their wording; tests/test_partial.py covers each.)
_POLICY_REASON = lazy(r"pixels is over the ceiling|frames, over the cap|more than \d+ frames|"
                            r"^decompression bomb|decoding exceeded|decoding the image ran out of memory")


def is_policy_reason(reason: str | None) -> bool:
    """Whether a MediaRejected reason is one of our limits (pixels, frames, decoding time, memory)
    rather than what the bytes are (not a kept type, damaged, a decoder that crashed on them)."""
    return bool(reason) and _POLICY_REASON.search(reason or "") is not None

# The reason for a response whose body holds no byte at all (a 200 with Content-Length: 0): nothing to
# sniff, so not "unrecognised bytes".
EMPTY_BODY = "empty body"

# --- sniffing --------------------------------------------------------------------------------
_FTYP_IMAGE = {b"avif": "image/avif", b"avis": "image/avif", b"heic": "image/heic", b"heix": "image/heic",
               b"mif1": "image/heif", b"msf1": "image/heif"}

def sniff(data: bytes) -> str | None:
    """The real type of `data` from its leading bytes, or None when unknown."""
    head = data[:64]
    if found := image_type(head):
        return found
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"mif1", b"msf1"):   # the HEIF family: AVIF when a compatible brand says so
            size = int.from_bytes(head[:4], "big")
            compatible = {head[i:i + 4] for i in range(16, min(size, len(head)) - 3, 4)}
            if compatible & {b"avif", b"avis"}:
                return "image/avif"
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
def _process(data: bytes, settings: Settings, derive: bool) -> tuple[ImageInfo, dict[str, bytes]]:
    """Verify, hash and (optionally) derive from one decode in an image worker process
    (``archiver.capture.imaging.ImageJob`` says how); MediaRejected for anything we will not keep,
    including work that passed ``media_time_limit``; ImagingUnavailable when no worker could run."""
    if not data:
        raise MediaRejected(EMPTY_BODY)
    mime = sniff(data)
    if mime not in IMAGE_FORMATS:
        raise MediaRejected(f"not an allowed image type: {mime or 'unrecognised bytes'}")
    limit = float(settings.media_time_limit)
    if limit <= 0:
        raise MediaRejected(f"image decoding exceeded {limit:g} s")
    limits = {"mime": mime, "format": IMAGE_FORMATS[mime], "ceiling": settings.max_image_pixels,
              "max_frames": max(1, settings.max_image_frames), "derive": derive}
    out = pool_for(settings).run(data, limits, limit)
    return ImageInfo(mime, IMAGE_FORMATS[mime], out.width, out.height, out.frames, out.dhash), out.derived


def inspect_image(data: bytes, settings: Settings) -> ImageInfo:
    """Type, size, frames and perceptual hash of an image we would keep; MediaRejected otherwise
    (ImagingUnavailable, an OSError, when no image worker could be run)."""
    return _process(data, settings, derive=False)[0]

def derive_image(data: bytes, settings: Settings) -> dict[str, bytes]:
    """Serving copies: "thumb.webp", and "web.jpg" (an upright, web-sized JPEG with its metadata
    segments dropped, image data untouched) or "web.webp" (resized and re-encoded); orientation
    applied, no metadata. MediaRejected for an image we would not keep (ImagingUnavailable, an
    OSError, when no image worker could be run)."""
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

# The serving copy an article is pointed at (``derived/<hex>/article.<ext>``), when it is not the
# original itself or the lossless web copy (``web.jpg``): see article_key.
ARTICLE_COPY = "article."


def article_key(derived: Mapping[str, str], original_key: str) -> str:
    """The key of the copy an article shows for an image: its ``article.<ext>`` serving copy (the
    original at full size without metadata, archiver.capture.stripping), else ``web.jpg`` (the
    lossless web copy: an upright JPEG of at most web size without its metadata, so the original's
    pixels at their size), else the original (its bytes carry no metadata, or derivatives are off).
    `derived` maps a copy's name (``web.jpg``) or key (``derived/<hex>/web.jpg``) to its key, as
    ``MediaRecord.derived`` or a listing of the store's ``derived/<hex>/`` does."""
    by_name = {name.rsplit("/", 1)[-1]: key for name, key in derived.items()}
    for name in sorted(by_name):
        if name.startswith(ARTICLE_COPY):
            return by_name[name]
    return by_name.get("web.jpg", original_key)


def archive_media(url: str, *, kind: str, fetcher: Fetcher, store: ObjectStore,
                  settings: Settings) -> MediaRecord:
    """Fetch, verify, store the untouched original by SHA-256, then the serving copies (one whose bytes
    are the original's, as an upright web-sized JPEG with no metadata gives, is not stored again:
    ``rec.derived`` names the original's key for it).

    Never raises for remote or content trouble: the record's status says archived, rejected
    (will not change on retry; ``refused`` when by our policy rather than for what was answered) or
    failed (worth retrying). An infrastructure fault
    (``archiver.faults``: the store unreachable, the machine out of processes or memory) is raised,
    so the caller retries rather than record it as the medium's outcome."""
    rec = MediaRecord(original_url=url)
    if kind not in ("image", "video"):
        raise ValueError(f"archive_media kind must be image or video, not {kind!r}")
    try:
        resp = fetcher.get(url, kind=kind)
    except FetchError as exc:
        rec.exchanges, rec.error = exc.exchanges, str(exc)
        rec.status = "failed" if exc.retryable or exc.kind == "bad_response" else "rejected"
        rec.refused = rec.status == "rejected" and exc.kind in POLICY_KINDS
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
        elif not data:
            raise MediaRejected(EMPTY_BODY)
        elif rec.mime not in VIDEO_MIMES:
            raise MediaRejected(f"not an allowed video type: {rec.mime or 'unrecognised bytes'}")
        else:
            rec.duration = mp4_duration(data) if rec.mime != "video/webm" else None
    except MediaRejected as exc:
        rec.status, rec.error = "rejected", exc.reason
        rec.refused = is_policy_reason(exc.reason)
        return rec
    except ImagingUnavailable as exc:   # the machine's trouble, not the image's: worth retrying
        if is_infrastructure_error(exc):
            raise
        rec.error = stable_reason(str(exc))
        return rec
    try:
        sha, rec.key, _ = store.put_blob(data, rec.mime or "application/octet-stream", rec.sha256)
        if sha != rec.sha256:
            raise OSError(f"store computed sha256 {sha}, expected {rec.sha256}")
        stored: dict[bytes, str] = {data: rec.key}
        for name, body in sorted(derived.items(), key=lambda item: item[0].startswith(ARTICLE_COPY)):
            # A serving copy byte for byte the original (or the lossless web copy) is that object: its
            # key, not a second one. The article's copy is found by its name (`article_key`), so it is
            # stored when it is the bytes of a re-encoded web copy.
            known = stored.get(body)
            lossless = (rec.key, derived_key(sha, "web.jpg"))
            if known is not None and (not name.startswith(ARTICLE_COPY) or known in lossless):
                rec.derived[name] = known
                continue
            key = derived_key(sha, name)   # the key names its source: no metadata (one object write)
            store.put(key, body, content_type=image_type(body[:12]) or "application/octet-stream",
                      if_none_match=True)
            rec.derived[name] = stored[body] = key
    except Exception as exc:   # a storage failure that is not a fault is a retryable failure of this item
        if is_infrastructure_error(exc):
            raise
        rec.key, rec.derived = None, {}
        rec.error = f"storing failed: {type(exc).__name__}: {stable_reason(str(exc))[:200]}"
        return rec
    rec.status = "archived"
    return rec
