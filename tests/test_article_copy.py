"""The rewritten article shows an image's copy without metadata, never the original: a photo's GPS
position, camera serial or comments are not served by our public URLs, while the original stays in
storage byte for byte as the evidence. The copy is the original's own pixel data at full size (no
re-encoding), turned and coloured as the original is."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import pytest
from PIL import Image, ImageCms

from archiver.config.settings import Settings
from archiver.records.result import ImageResult
from archiver.runners.local import archive
from archiver.runtime import Runtime
from archiver.steps.prepare import load_plan
from archiver.steps.results import load_results
from archiver.storage.layout import version_key
from archiver.testing.fixture_origin import FixtureOrigin

BASE = "https://archive.example/media"
SECRETS = (b"SpyCam", b"GPS", b"xmpmeta", b"shot by", b"48,51N")


def gps_exif(orientation: int = 1) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "SpyCam"
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    return exif.tobytes()


def picture(size: tuple[int, int]) -> Image.Image:
    im = Image.new("RGB", size)
    im.putdata([((x * 7) % 256, (y * 5) % 256, (x + y) % 256) for y in range(size[1]) for x in range(size[0])])
    return im


def encode(im: Image.Image, fmt: str, **kw: object) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **kw)
    return out.getvalue()


SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF>GPSLatitude 48,51N</rdf:RDF></x:xmpmeta>'
IMAGES = {
    # A camera photo: big, turned by its orientation tag, GPS, XMP, a comment and a profile.
    "/media/camera.jpg": encode(picture((1800, 1200)), "JPEG", exif=gps_exif(6), xmp=XMP, comment=b"shot by me",
                                icc_profile=SRGB, quality=85),
    # Web-sized and upright with GPS: its lossless web copy is the article's copy.
    "/media/small.jpg": encode(picture((400, 300)), "JPEG", exif=gps_exif(1), quality=85),
    "/media/chart.png": encode(picture((300, 200)), "PNG", exif=gps_exif(1), pnginfo=None),
    "/media/anim.gif": encode(picture((40, 30)), "GIF", save_all=True, comment=b"shot by me",
                              append_images=[picture((40, 30)).rotate(90)], duration=50, loop=0),
    "/media/photo.webp": encode(picture((300, 200)), "WEBP", exif=gps_exif(1), xmp=XMP, quality=90),
    "/media/clean.jpg": encode(picture((320, 240)), "JPEG", quality=85),
}


def png_with_text() -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "shot by me at 48,51N")
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    return encode(picture((300, 200)), "PNG", pnginfo=info, exif=gps_exif(1))


IMAGES["/media/chart.png"] = png_with_text()


@pytest.fixture
def origin() -> Iterator[FixtureOrigin]:
    with FixtureOrigin(tweets=[], images=IMAGES) as o:
        yield o


def article(origin: FixtureOrigin) -> bytes:
    imgs = "\n".join(f'<p><img src="{origin.url(path)}" alt="x"></p>' for path in IMAGES)
    return f"<!doctype html><html><body><h1>Story</h1>\n{imgs}\n</body></html>".encode()


def images_of(rt: Runtime, aid: str) -> dict[str, ImageResult]:
    plan = load_plan(rt, aid)
    return {r.url: r for r in load_results(rt, plan).values() if isinstance(r, ImageResult)}


def test_articles_show_copies_without_metadata(tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    settings = tmp_settings(**{**origin.settings_overrides(), "public_base_url": BASE})
    rt = Runtime.from_settings(settings)
    try:
        archive(rt, article(origin), article_id="story", url="https://news.example/story")
        rewritten = rt.store.get(version_key("story", 1))
        results = images_of(rt, "story")
        assert len(results) == len(IMAGES)
        shown_keys = {}
        for path, original in IMAGES.items():
            res = results[origin.url(path)]
            assert res.status == "archived", (path, res.error)
            assert rt.store.get(res.key or "") == original   # the evidence, byte for byte
            assert res.stable_url and res.stable_url.startswith(BASE + "/")
            assert res.stable_url.encode() in rewritten and origin.url(path).encode() not in rewritten
            key = res.stable_url[len(BASE) + 1:]
            shown = rt.store.get(key)
            shown_keys[path] = key
            if path == "/media/clean.jpg":
                assert key == res.key   # nothing to take out: the original itself
                continue
            assert key != res.key and key.startswith(f"derived/{res.sha256}/"), path
            for secret in SECRETS:
                assert secret not in shown, (path, secret)
            a, b = Image.open(io.BytesIO(original)), Image.open(io.BytesIO(shown))
            assert a.format == b.format and a.size == b.size and getattr(b, "n_frames", 1) == getattr(a, "n_frames", 1)
            assert a.tobytes() == b.tobytes(), path   # the same pixels: no re-encoding
            assert a.getexif().get(0x0112, 1) == b.getexif().get(0x0112, 1), path   # turned as the original is
            assert b.getexif().get_ifd(0x8825) == {}
            if a.info.get("icc_profile"):
                assert b.info.get("icc_profile") == a.info["icc_profile"], path   # coloured as the original is
        assert shown_keys["/media/small.jpg"].endswith("/web.jpg")   # the lossless web copy, not a second object
        assert shown_keys["/media/camera.jpg"].endswith("/article.jpg")

        # The same URLs in another article (fetched once, within the dedupe window) show the same copies.
        archive(rt, article(origin), article_id="other", url="https://news.example/other")
        again = images_of(rt, "other")
        assert {u: r.stable_url for u, r in again.items()} == {u: r.stable_url for u, r in results.items()}
        assert rt.catalog.query("SELECT COUNT(*) AS n FROM url_history")[0]["n"] == len(IMAGES)

        # The rewritten article archived again points at our own copies: recognised, nothing fetched, and
        # the result still names the original as its key.
        archive(rt, rewritten, article_id="again", url="https://news.example/again")
        ours = images_of(rt, "again")
        assert {r.stable_url for r in ours.values()} == {r.stable_url for r in results.values()}
        assert {r.key for r in ours.values()} == {r.key for r in results.values()}
        assert rt.store.get(version_key("again", 1)) == rewritten
    finally:
        rt.close()


def test_derivatives_off_shows_the_original(tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    """With serving copies switched off (media_derivatives=false, documented) the article shows the original."""
    settings = tmp_settings(**{**origin.settings_overrides(), "public_base_url": BASE, "media_derivatives": False})
    rt = Runtime.from_settings(settings)
    try:
        archive(rt, article(origin), article_id="story", url="https://news.example/story")
        for res in images_of(rt, "story").values():
            assert res.stable_url == f"{BASE}/{res.key}"
    finally:
        rt.close()
