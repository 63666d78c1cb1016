"""The media pipeline: sniffing, hostile images, metadata stripping and the archive_media path."""

from __future__ import annotations

import io
import struct
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageOps, features

from archiver.capture import media
from archiver.capture.fetch import Fetcher
from archiver.capture.media import (
    MediaRejected,
    archive_media,
    article_key,
    derive_image,
    dhash,
    inspect_image,
    mp4_duration,
    sniff,
)
from archiver.config.settings import Settings
from archiver.storage.base import StoreError
from archiver.storage.local import LocalStore

# Run under the production policy even though pytest resets warning filters for each test.
pytestmark = pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")


# --- a loopback origin serving fixed bodies ------------------------------------------------------
class Files:
    def __init__(self) -> None:
        self.files: dict[str, tuple[int, str, bytes]] = {}
        files = self.files

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                status, ctype, body = files.get(self.path, (404, "text/plain", b"missing"))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()
        self.port = self.server.server_address[1]

    def add(self, path: str, body: bytes, ctype: str = "image/jpeg", status: int = 200) -> str:
        self.files[path] = (status, ctype, body)
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def files() -> Iterator[Files]:
    f = Files()
    yield f
    f.server.shutdown()
    f.server.server_close()


@pytest.fixture
def env(files: Files, tmp_path: Path) -> Iterator[tuple[Settings, Fetcher, LocalStore]]:
    settings = Settings(fetch_allow=f"127.0.0.1:{files.port}", fetch_retries=0, home=str(tmp_path))
    fetcher = Fetcher(settings)
    yield settings, fetcher, LocalStore(tmp_path / "objects", "http://127.0.0.1:8080/media")
    fetcher.close()


# --- test images -----------------------------------------------------------------------------------
def picture(size: tuple[int, int] = (200, 100), seed: int = 0) -> Image.Image:
    """A deterministic picture with structure in both directions (so hashes and rotations show)."""
    ramp = Image.linear_gradient("L")
    r = ramp.rotate(90).resize(size)
    g = ramp.resize(size)
    b = ImageChops.offset(Image.radial_gradient("L").resize(size), seed * 7, seed * 3)
    return Image.merge("RGB", (r, g, b))


def encode(im: Image.Image, fmt: str, **kw: object) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **kw)
    return out.getvalue()


def jpeg_with_gps(orientation: int = 6) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "SpyCam"
    gps = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    exif[0x8825] = gps
    return encode(picture(), "JPEG", exif=exif.tobytes(), quality=90)


def gif_frames(n: int) -> bytes:
    frames = [Image.new("RGB", (8, 8), ((i * 7) % 256, i % 256, (i * 13) % 256)) for i in range(n)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=20, loop=0)


def png_1x100m(height: int = 100_000_001) -> bytes:
    """A valid PNG 1 pixel wide and `height` high, by default one pixel over the default ceiling
    (100,000,000 pixels); about 200 KB compressed."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    comp = zlib.compressobj(9)
    rows = b"\0\0" * 5_000_000  # filter byte + one grey pixel, per row
    whole, rest = divmod(height, 5_000_000)
    idat = b"".join(comp.compress(rows) for _ in range(whole)) + comp.compress(b"\0\0" * rest) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", 1, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


SVG_WITH_SCRIPT = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>fetch('/steal?c='+document.cookie)</script></svg>"
)


# --- sniffing ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "data,mime",
    [
        (encode(picture((4, 4)), "JPEG"), "image/jpeg"),
        (encode(picture((4, 4)), "PNG"), "image/png"),
        (encode(picture((4, 4)), "GIF"), "image/gif"),
        (encode(picture((4, 4)), "WEBP"), "image/webp"),
        (SVG_WITH_SCRIPT, "image/svg+xml"),
        (b"  <svg onload=alert(1)>", "image/svg+xml"),
        (b"\xef\xbb\xbf<!DOCTYPE html><html><body>hi", "text/html"),
        (b"<script>alert(1)</script>", "text/html"),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom", "video/mp4"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ", "video/quicktime"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01", "video/webm"),
        (b'{"errors": []}', "application/json"),
        (b"%PDF-1.7", "application/pdf"),
        (b"", None),
        (b"\x00\x01\x02garbage", None),
    ],
)
def test_sniff(data: bytes, mime: str | None) -> None:
    assert sniff(data) == mime


def test_avif_accepted_when_pillow_decodes_it() -> None:
    assert features.check("avif"), "this Pillow wheel has AVIF support; the allowed formats rely on it"
    data = encode(picture((16, 16)), "AVIF")
    assert sniff(data) == "image/avif"
    assert inspect_image(data, Settings()).format == "AVIF"


# --- verification ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fmt,mime", [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("GIF", "image/gif"), ("WEBP", "image/webp")]
)
def test_inspect_allowed_formats(fmt: str, mime: str) -> None:
    info = inspect_image(encode(picture((120, 80)), fmt), Settings())
    assert (info.mime, info.format, info.width, info.height, info.frames) == (mime, fmt, 120, 80, 1)
    assert info.dhash is not None and len(info.dhash) == 16


def test_tall_png_bomb_refused() -> None:
    data = png_1x100m()
    assert len(data) < 1_000_000
    with pytest.raises(MediaRejected) as err:
        inspect_image(data, Settings())
    assert "100000000" in err.value.reason


def test_pixel_ceiling_from_settings() -> None:
    data = encode(picture((100, 100)), "PNG")
    assert inspect_image(data, Settings(max_image_pixels=10_000)).width == 100
    with pytest.raises(MediaRejected, match="ceiling"):
        inspect_image(data, Settings(max_image_pixels=9_999))


def test_gif_with_thousands_of_frames_refused() -> None:
    with pytest.raises(MediaRejected, match="frames"):
        inspect_image(gif_frames(3000), Settings())
    assert inspect_image(gif_frames(5), Settings()).frames == 5


@pytest.mark.parametrize(
    "data",
    [
        SVG_WITH_SCRIPT,
        b"<html><body><script>x()</script></body></html>",
        b"\x00\x00\x00\x18ftypmp42",
        b"not an image at all",
    ],
)
def test_non_images_refused(data: bytes) -> None:
    with pytest.raises(MediaRejected, match="not an allowed image type"):
        inspect_image(data, Settings())


@pytest.mark.parametrize(
    "data",
    [
        encode(picture(), "JPEG")[:300],  # truncated
        b"\x89PNG\r\n\x1a\n" + b"\xff" * 100,  # a PNG signature then junk
        b"GIF89a" + b"\x00" * 3,
        b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 8,
        b"\xff\xd8\xff" + bytes(range(256)) * 4,
    ],
)
def test_damaged_images_refused_cleanly(data: bytes) -> None:
    with pytest.raises(MediaRejected):
        derive_image(data, Settings())


def test_time_limit_applies() -> None:
    settings = Settings()
    object.__setattr__(settings, "media_time_limit", 0.0)
    with pytest.raises(MediaRejected, match="exceeded 0 s"):
        derive_image(encode(picture(), "PNG"), settings)


def test_derivatives_oriented_and_stripped() -> None:
    data = jpeg_with_gps(orientation=6)
    original = Image.open(io.BytesIO(data))
    assert original.getexif().get_ifd(0x8825)  # the fixture really carries GPS
    info = inspect_image(data, Settings())
    assert (info.width, info.height) == (100, 200)  # as displayed: rotated by the orientation tag
    out = derive_image(data, Settings())
    assert set(out) == {"article.jpg", "web.webp", "thumb.webp"}
    # The article's copy: the original's pixels, byte for byte, at full size, turned as the original is,
    # with the orientation its only metadata.
    article = out.pop("article.jpg")
    assert b"SpyCam" not in article and b"GPS" not in article and len(article) < len(data)
    shown = Image.open(io.BytesIO(article))
    assert dict(shown.getexif()) == {0x0112: 6} and shown.getexif().get_ifd(0x8825) == {}
    assert shown.tobytes() == original.tobytes()
    assert ImageOps.exif_transpose(shown).size == (100, 200)
    for name, body in out.items():
        im = Image.open(io.BytesIO(body))
        assert im.format == "WEBP"
        assert not im.getexif() and "exif" not in im.info and "xmp" not in im.info
        assert "icc_profile" not in im.info
        assert b"Exif" not in body and b"SpyCam" not in body and b"GPS" not in body
        assert im.height > im.width, name  # orientation applied
    assert max(Image.open(io.BytesIO(out["thumb.webp"])).size) <= 320


def test_big_image_resized_for_web() -> None:
    out = derive_image(encode(picture((2400, 1200)), "JPEG"), Settings())
    assert Image.open(io.BytesIO(out["web.webp"])).size == (1600, 800)


def test_big_jpeg_decoded_at_reduced_scale_still_fully_verified() -> None:
    """Big JPEGs are decoded at a reduced DCT scale; that decode still reads the whole file."""
    data = encode(picture((4000, 2000)), "JPEG", quality=90)
    info = inspect_image(data, Settings())
    assert (info.width, info.height) == (4000, 2000)   # the original's size, not the decode's
    assert Image.open(io.BytesIO(derive_image(data, Settings())["web.webp"])).size == (1600, 800)
    for cut in (len(data) // 2, len(data) - 2000):
        with pytest.raises(MediaRejected, match="damaged"):
            inspect_image(data[:cut], Settings())


def test_dhash_does_not_depend_on_decode_scale_or_derivatives() -> None:
    big = inspect_image(encode(picture((3200, 1600)), "JPEG", quality=90), Settings())
    small = inspect_image(encode(picture((800, 400)), "JPEG", quality=90), Settings())
    assert bin(int(big.dhash or "0", 16) ^ int(small.dhash or "0", 16)).count("1") <= 4
    data = encode(picture((1800, 900)), "JPEG")
    derived_info, _ = media._process(data, Settings(), derive=True)
    assert derived_info.dhash == inspect_image(data, Settings()).dhash


def test_animation_kept_animated() -> None:
    out = derive_image(gif_frames(4), Settings())
    web = Image.open(io.BytesIO(out["web.webp"]))
    assert getattr(web, "n_frames", 1) == 4
    assert getattr(Image.open(io.BytesIO(out["thumb.webp"])), "n_frames", 1) == 1


def test_dhash_finds_near_duplicates() -> None:
    a = picture((300, 200))
    b = a.resize((150, 100))
    c = picture((300, 200), seed=97).transpose(Image.Transpose.FLIP_LEFT_RIGHT)

    def distance(x: Image.Image, y: Image.Image) -> int:
        return bin(int(dhash(x), 16) ^ int(dhash(y), 16)).count("1")

    assert distance(a, b) <= 4
    assert distance(a, c) >= 16


def test_mp4_duration() -> None:
    mvhd = struct.pack(">B3xIIII", 0, 0, 0, 1000, 12_500) + b"\x00" * 80
    moov = (
        struct.pack(">I4s", 8 + 8 + len(mvhd), b"moov") + struct.pack(">I4s", 8 + len(mvhd), b"mvhd") + mvhd
    )
    ftyp = b"\x00\x00\x00\x10ftypisom\x00\x00\x02\x00"
    assert mp4_duration(ftyp + moov) == 12.5
    assert mp4_duration(ftyp + b"\x00\x00\x00\x09moo") is None
    assert mp4_duration(b"\xff" * 64) is None


# --- archive_media: the one path ----------------------------------------------------------------------
def test_archive_image_end_to_end(files: Files, env: tuple[Settings, Fetcher, LocalStore]) -> None:
    settings, fetcher, store = env
    data = jpeg_with_gps()
    rec = archive_media(
        files.add("/photo.jpg", data, "image/jpeg"),
        kind="image",
        fetcher=fetcher,
        store=store,
        settings=settings,
    )
    assert rec.status == "archived", rec.error
    assert store.get(rec.key) == data  # the evidence, byte for byte
    assert rec.key.endswith(rec.sha256) and rec.bytes == len(data) and rec.mime == "image/jpeg"
    assert (rec.width, rec.height) == (100, 200) and rec.dhash
    assert rec.derived == {
        "article.jpg": f"derived/{rec.sha256}/article.jpg",
        "web.webp": f"derived/{rec.sha256}/web.webp",
        "thumb.webp": f"derived/{rec.sha256}/thumb.webp",
    }
    # The article is pointed at the full-size copy: no GPS, the orientation its only tag.
    assert article_key(rec.derived, rec.key) == rec.derived["article.jpg"]
    for key in rec.derived.values():
        body = store.get(key)
        kept = {0x0112: 6} if key.endswith("article.jpg") else {}
        assert b"GPS" not in body and b"SpyCam" not in body and dict(Image.open(io.BytesIO(body)).getexif()) == kept
    assert rec.exchanges and rec.exchanges[-1].status == 200


def test_same_bytes_stored_once(files: Files, env: tuple[Settings, Fetcher, LocalStore]) -> None:
    settings, fetcher, store = env
    data = encode(picture(), "PNG")
    a = archive_media(
        files.add("/a.png", data, "image/png"), kind="image", fetcher=fetcher, store=store, settings=settings
    )
    b = archive_media(
        files.add("/b?x=1", data, "application/octet-stream"),
        kind="image",
        fetcher=fetcher,
        store=store,
        settings=settings,
    )
    assert a.status == b.status == "archived" and a.key == b.key and a.derived == b.derived
    assert list(store.list("blobs/")) == [a.key]


def test_a_serving_copy_that_is_the_original_is_not_stored_twice(
    files: Files, env: tuple[Settings, Fetcher, LocalStore]
) -> None:
    """An upright, web-sized JPEG with no metadata to drop is served as itself: its web copy is the
    original's key, and only the thumbnail is a second object. With metadata, the copy is stored apart."""
    settings, fetcher, store = env
    clean = encode(picture((800, 600)), "JPEG", quality=85)
    rec = archive_media(files.add("/clean.jpg", clean), kind="image", fetcher=fetcher, store=store, settings=settings)
    assert rec.status == "archived", rec.error
    assert rec.derived == {"article.jpg": rec.key, "web.jpg": rec.key,
                           "thumb.webp": f"derived/{rec.sha256}/thumb.webp"}
    assert list(store.list("derived/")) == [f"derived/{rec.sha256}/thumb.webp"]
    assert article_key(rec.derived, rec.key) == rec.key
    assert store.get(rec.derived["web.jpg"]) == clean and store.head(rec.key).content_type == "image/jpeg"
    tagged = encode(picture((800, 600)), "JPEG", quality=85, comment=b"shot by SpyCam")
    other = archive_media(files.add("/tagged.jpg", tagged), kind="image", fetcher=fetcher, store=store,
                          settings=settings)
    assert other.status == "archived", other.error
    assert other.derived["web.jpg"] == f"derived/{other.sha256}/web.jpg"
    # The article's copy is the lossless web copy here (no profile, upright): one object, not two.
    assert other.derived["article.jpg"] == other.derived["web.jpg"]
    assert not store.exists(f"derived/{other.sha256}/article.jpg")
    listed = {k: k for k in store.list(f"derived/{other.sha256}/")}
    assert article_key(listed, other.key) == article_key(other.derived, other.key) == other.derived["web.jpg"]
    web = store.get(other.derived["web.jpg"])
    assert web != tagged and b"SpyCam" not in web and store.head(other.derived["web.jpg"]).content_type == "image/jpeg"


def test_svg_served_as_jpeg_rejected_not_stored(
    files: Files, env: tuple[Settings, Fetcher, LocalStore]
) -> None:
    settings, fetcher, store = env
    rec = archive_media(
        files.add("/evil.jpg", SVG_WITH_SCRIPT, "image/jpeg"),
        kind="image",
        fetcher=fetcher,
        store=store,
        settings=settings,
    )
    assert rec.status == "rejected" and "image/svg+xml" in (rec.error or "")
    assert rec.key is None and rec.sha256 and rec.mime == "image/svg+xml"
    assert list(store.list("blobs/")) == [] and list(store.list("derived/")) == []


def test_bomb_rejected_through_archive(files: Files, env: tuple[Settings, Fetcher, LocalStore]) -> None:
    settings, fetcher, store = env
    rec = archive_media(
        files.add("/tall.png", png_1x100m(), "image/png"),
        kind="image",
        fetcher=fetcher,
        store=store,
        settings=settings,
    )
    assert rec.status == "rejected" and list(store.list("blobs/")) == []


@pytest.mark.parametrize("status", [404, 410, 500])
def test_http_errors_fail(files: Files, env: tuple[Settings, Fetcher, LocalStore], status: int) -> None:
    settings, fetcher, store = env
    rec = archive_media(
        files.add("/gone.jpg", b"", status=status),
        kind="image",
        fetcher=fetcher,
        store=store,
        settings=settings,
    )
    assert rec.status == "failed" and str(status) in (rec.error or "")


def test_refused_url_rejected(files: Files, env: tuple[Settings, Fetcher, LocalStore]) -> None:
    settings, fetcher, store = env
    url = f"http://0177.0.0.1:{files.port + 1 if files.port < 65535 else 1}/latest/meta-data/"
    rec = archive_media(url, kind="image", fetcher=fetcher, store=store, settings=settings)
    assert rec.status == "rejected" and "loopback" in (rec.error or "")


def test_video_kept_and_non_video_rejected(files: Files, env: tuple[Settings, Fetcher, LocalStore]) -> None:
    settings, fetcher, store = env
    mvhd = struct.pack(">B3xIIII", 0, 0, 0, 600, 1800) + b"\x00" * 80
    mp4 = (
        b"\x00\x00\x00\x10ftypisom\x00\x00\x02\x00"
        + struct.pack(">I4s", 16 + len(mvhd), b"moov")
        + struct.pack(">I4s", 8 + len(mvhd), b"mvhd")
        + mvhd
    )
    rec = archive_media(
        files.add("/v.mp4", mp4, "video/mp4"), kind="video", fetcher=fetcher, store=store, settings=settings
    )
    assert (
        rec.status == "archived" and rec.duration == 3.0 and store.get(rec.key) == mp4 and rec.derived == {}
    )
    bad = archive_media(
        files.add("/v2.mp4", b"<html>nope", "video/mp4"),
        kind="video",
        fetcher=fetcher,
        store=store,
        settings=settings,
    )
    assert bad.status == "rejected"


@pytest.mark.parametrize("kind", ["image", "video"])
def test_an_empty_body_is_rejected_as_empty(files: Files, env: tuple[Settings, Fetcher, LocalStore], kind: str) -> None:
    settings, fetcher, store = env
    rec = archive_media(files.add(f"/empty-{kind}", b"", "image/png" if kind == "image" else "video/mp4"),
                        kind=kind, fetcher=fetcher, store=store, settings=settings)
    assert (rec.status, rec.error, rec.refused, rec.bytes) == ("rejected", "empty body", False, 0)
    assert list(store.list("blobs/")) == []


def test_store_failure_is_a_retryable_failure(
    files: Files, env: tuple[Settings, Fetcher, LocalStore]
) -> None:
    settings, fetcher, _ = env

    class BrokenStore(LocalStore):
        def put(self, *a: object, **k: object) -> bool:
            raise OSError("disk full")

    store = BrokenStore(Path(settings.home) / "broken", "http://127.0.0.1:8080/media")
    rec = archive_media(
        files.add("/ok.png", encode(picture(), "PNG"), "image/png"),
        kind="image",
        fetcher=fetcher,
        store=store,
        settings=settings,
    )
    assert rec.status == "failed" and "disk full" in (rec.error or "") and rec.key is None


def test_store_fault_is_raised_not_recorded(files: Files, env: tuple[Settings, Fetcher, LocalStore]) -> None:
    """The store unreachable is an infrastructure fault: raised for the caller to retry, not the
    medium's outcome."""
    settings, fetcher, _ = env

    class DownStore(LocalStore):
        def put_blob(self, *a: object, **k: object) -> tuple[str, str, bool]:
            raise StoreError("s3 endpoint unreachable")

    store = DownStore(Path(settings.home) / "down", "http://127.0.0.1:8080/media")
    with pytest.raises(StoreError, match="unreachable"):
        archive_media(files.add("/down.png", encode(picture(), "PNG"), "image/png"), kind="image",
                      fetcher=fetcher, store=store, settings=settings)


def test_derivatives_off(files: Files, env: tuple[Settings, Fetcher, LocalStore]) -> None:
    settings, fetcher, store = env
    rec = archive_media(
        files.add("/nd.png", encode(picture(), "PNG"), "image/png"),
        kind="image",
        fetcher=fetcher,
        store=store,
        settings=settings.replace(media_derivatives=False),
    )
    assert rec.status == "archived" and rec.derived == {} and list(store.list("derived/")) == []


def test_upright_web_sized_jpeg_is_served_losslessly_without_metadata() -> None:
    """No re-encoding: the web copy is the original's image data, byte for byte, minus EXIF (GPS),
    XMP and comments."""
    from archiver.capture.media import strip_jpeg_metadata

    exif = Image.Exif()
    exif[0x010F] = "SpyCam"
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF>GPSLatitude 48,51N</rdf:RDF></x:xmpmeta>'
    data = encode(picture((1200, 800)), "JPEG", exif=exif.tobytes(), quality=90, xmp=xmp, comment=b"shot by SpyCam")
    assert b"GPS" in data and b"SpyCam" in data
    out = derive_image(data, Settings())
    assert set(out) == {"article.jpg", "web.jpg", "thumb.webp"}
    assert out["article.jpg"] == out["web.jpg"]   # no profile to keep, upright: the same lossless copy
    web = out["web.jpg"]
    for body in out.values():
        assert b"Exif" not in body and b"SpyCam" not in body and b"GPS" not in body and b"xmpmeta" not in body
    # The image data (from the first scan on) is untouched, and decodes to the very same pixels.
    assert web[web.index(b"\xff\xda"):] == data[data.index(b"\xff\xda"):]
    assert Image.open(io.BytesIO(web)).tobytes() == Image.open(io.BytesIO(data)).tobytes()
    assert strip_jpeg_metadata(web) == web
    with pytest.raises(ValueError):
        strip_jpeg_metadata(b"\xff\xd8\xff\xe1\xff\xff")


def test_a_rotated_or_large_jpeg_is_re_encoded() -> None:
    assert set(derive_image(jpeg_with_gps(orientation=6), Settings())) == {"article.jpg", "web.webp", "thumb.webp"}
    big = encode(picture((2400, 1200)), "JPEG")
    out = derive_image(big, Settings())
    assert set(out) == {"article.jpg", "web.webp", "thumb.webp"} and out["article.jpg"] == big
