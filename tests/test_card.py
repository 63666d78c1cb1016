"""Static cards: hostile text rendered harmlessly in both cards, media from the stable copies,
Devanagari / Arabic / emoji drawn with fonts of their own, missing fonts never fatal."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import tomllib
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from fnmatch import fnmatch
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, features

from archiver.capture.cards import fonts, scripts, textlayout
from archiver.capture.cards.html_card import card_frame, link_segments, render_card_html
from archiver.capture.cards.png_card import MAX_PNG_HEIGHT, render_card_png
from archiver.capture.cards.textlayout import measure, wrap
from archiver.capture.fetch import Fetcher
from archiver.capture.manifest import Manifest, validate_manifest
from archiver.capture.record import store_capture
from archiver.discover.model import Embed
from archiver.providers.base import CaptureContext, CapturedPost, Occurrence
from archiver.providers.registry import get_provider
from archiver.storage.local import LocalStore
from archiver.testing.fixture_origin import FixtureOrigin

XSS = '<script>alert("x")</script> <img src=x onerror=alert(1)> javascript:alert(1)'
HOSTILE = {"id": "1757429972446608399", "handle": "evil_one", "name": f'Evil <b onmouseover="alert(1)">{XSS}',
           "text": f"{XSS} see https://example.com/ok?a=1&b=2 and javascript:alert(2)",
           "photos": [{"name": "EvIlPhoto1.jpg", "alt": '"><script>alert(3)</script><img src=x onerror=alert(4)>',
                       "width": 80, "height": 60}],
           "video": {"name": "evilclip", "width": 320, "height": 180, "duration_ms": 1500,
                     "alt": "<svg onload=alert(5)>"}}
HINDI = "विदेश मंत्री डॉ. एस. जयशंकर ने तियानजिन में लावरोव से मुलाकात की"
ARABIC = "وزير الخارجية الروسي يلتقي نظيره الهندي في تيانجين"
EMOJI = "Snow day 🎉❄️👨‍👩‍👧 🇮🇳"
CJK = "天津で日印外相が会談した 서울에서도 보도"
T0 = datetime(2025, 7, 15, 9, 12, 33, tzinfo=UTC)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def assert_harmless(fragment: str) -> _Tags:
    parsed = _Tags()
    parsed.feed(fragment)
    parsed.close()
    allowed = {"article", "header", "footer", "div", "p", "strong", "span", "a", "img", "video", "time",
               "blockquote", "bdi"}
    for tag, attrs in parsed.tags:
        assert tag in allowed, tag
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name in ("href", "src", "poster"):
                assert value and value.startswith(("http://", "https://")), (tag, name, value)
            if name == "style":
                assert value and not any(bad in value.lower() for bad in ("url(", "expression", "javascript"))
    return parsed


@pytest.fixture(scope="module")
def origin() -> Iterator[FixtureOrigin]:
    with FixtureOrigin(tweets=[HOSTILE]) as o:
        yield o


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "objects", "http://127.0.0.1:1/media")


def _manifest(text: str, lang: str, name: str = "ANI") -> dict[str, Any]:
    m = Manifest.new(provider="twitter", post_id="1945048830047662087", capture_id="20250715T091233Z-0123abcd",
                     captured_at=T0, status="archived", url="https://twitter.com/ANI/status/1945048830047662087").to_json()
    m.update(text=text, text_expanded=text, lang=lang, created_at="2025-07-15T09:00:00.000Z")
    m["author"].update(name=name, handle="ANI")
    m["attribution"]["shown"] = "— ANI (@ANI) July 15, 2025"
    return m


def _png(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def test_hostile_tweet_renders_harmlessly_in_both_cards(origin: FixtureOrigin, store: LocalStore,
                                                         tmp_settings: Any) -> None:
    settings = tmp_settings(**origin.settings_overrides(), media_derivatives=False)
    ctx = CaptureContext(settings=settings, fetcher=Fetcher(settings))
    embed = Embed("twitter", HOSTILE["id"], None, 0, 0, handle=HOSTILE["handle"], form="blockquote")
    res = store_capture(get_provider("twitter").capture([Occurrence(embed)], ctx), ctx, store)
    assert res.status == "archived", res.error
    m = json.loads(store.get(res.manifest_key or ""))
    validate_manifest(m)
    fragment = store.get(m["cards"]["html"]).decode("utf-8")
    parsed = assert_harmless(fragment)
    text = "".join(parsed.text)
    # The hostile strings are shown as the text they are, not interpreted.
    assert '<script>alert("x")</script>' in text and "javascript:alert(2)" in text
    assert 'Evil <b onmouseover="alert(1)">' in text
    alts = [a.get("alt") for t, a in parsed.tags if t == "img" and a.get("alt", "").startswith('"><script>')]
    assert alts == [HOSTILE["photos"][0]["alt"]]
    hrefs = [a["href"] for t, a in parsed.tags if t == "a"]
    assert "https://example.com/ok?a=1&b=2" in hrefs and not any("javascript" in h for h in hrefs)
    # Media come from the stable copies, never from the platform.
    photo, video = m["media"]
    srcs = {a.get("src") for t, a in parsed.tags if t in ("img", "video")}
    assert store.public_url(photo["key"]) in srcs and store.public_url(video["key"]) in srcs
    posters = [a.get("poster") for t, a in parsed.tags if t == "video"]
    assert posters == [store.public_url(video["poster_key"])]
    assert not any(origin.base_url in (s or "") for s in srcs)
    png = _png(store.get(m["cards"]["png"]))
    assert png.format == "PNG" and png.width == 600 and png.height > 300


@pytest.mark.parametrize(("text", "lang", "script"), [(HINDI, "hi", "devanagari"), (ARABIC, "ar", "arabic"),
                                                      (CJK, "ja", "cjk"), (EMOJI, "en", "emoji")])
def test_scripts_drawn_with_their_own_fonts(store: LocalStore, text: str, lang: str, script: str) -> None:
    assert not fonts.face(script, 18).fallback, f"no font installed for {script}"
    assert features.check("raqm"), "no raqm: joined and conjunct letters would not be shaped (libfribidi0)"
    m = _manifest(text, lang)
    im = _png(render_card_png(m, store))
    assert "archiver-font-fallback" not in im.info
    html_card = render_card_html(m, store)
    assert_harmless(html_card)
    assert f'lang="{lang}"' in html_card and text in html_card


def test_shaping_changes_the_drawing() -> None:
    # Raqm applies the fonts' shaping: a conjunct (क्ष) and joined Arabic are narrower than their parts.
    deva = fonts.face("devanagari", 40)
    assert measure("क्ष", "devanagari", deva) < measure("क", "devanagari", deva) + \
        measure("्", "devanagari", deva) + measure("ष", "devanagari", deva)
    arabic = fonts.face("arabic", 40)
    assert measure("سلام", "arabic", arabic) < sum(measure(c, "arabic", arabic) for c in "سلام")


def test_arabic_runs_right_to_left_and_emoji_in_colour(store: LocalStore) -> None:
    im = _png(render_card_png(_manifest(ARABIC, "ar"), store)).convert("RGB")
    # The text line sits against the right margin (an RTL paragraph), not the left one.
    band = im.crop((0, 90, im.width, 125))
    dark = [x for x in range(band.width) for y in range(band.height) if sum(band.getpixel((x, y))) < 200]
    assert dark and max(dark) > im.width - 40 and min(dark) > 60
    emoji = _png(render_card_png(_manifest("🎉🎉🎉", "en"), store)).convert("RGB")
    colours = {px for _, px in emoji.crop((0, 90, 200, 125)).getcolors(1 << 16) or [] if max(px) - min(px) > 80}
    assert colours, "emoji drawn without colour"


def test_script_runs() -> None:
    runs = scripts.script_runs("Hi विदेश 🇮🇳🤝 سلام!")
    assert [s for s, _ in runs] == ["latin", "devanagari", "emoji", "arabic"]
    assert "".join(r for _, r in runs) == "Hi विदेश 🇮🇳🤝 سلام!"


def test_missing_fonts_fall_back_and_are_recorded(store: LocalStore, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fonts, "FONT_DIRS", (tmp_path / "no-fonts",))
    fonts.clear_caches()
    try:
        im = _png(render_card_png(_manifest(f"{HINDI} {EMOJI}", "hi"), store))
    finally:
        fonts.clear_caches()
    assert im.width == 600
    assert {"devanagari", "emoji", "latin"} <= set(im.info["archiver-font-fallback"].split(","))


def test_statuses_long_text_and_odd_values(store: LocalStore) -> None:
    m = _manifest("x" * 9000 + " " + "word " * 3000, "en")
    m.update(status="deleted", url="javascript:alert(1)", lang='en" onload="x')
    m["author"]["avatar_sha256"] = "0" * 64  # not stored: no avatar, no failure
    m["media"] = [{"type": "photo", "status": "failed", "key": None, "alt_text": "<b>gone</b>"}]
    fragment = render_card_html(m, store)
    parsed = assert_harmless(fragment)
    assert "deleted" in "".join(parsed.text) and "[image not archived: <b>gone</b>]" in "".join(parsed.text)
    assert not any(t == "a" and "javascript" in (a.get("href") or "") for t, a in parsed.tags)
    im = _png(render_card_png(m, store))
    assert im.height <= MAX_PNG_HEIGHT


def test_storing_a_capture_writes_cards_beside_the_manifest(store: LocalStore, tmp_settings: Any) -> None:
    ctx = CaptureContext(settings=tmp_settings(), fetcher=None)  # type: ignore[arg-type]

    def capture() -> CapturedPost:
        return CapturedPost("twitter", validate_manifest(_manifest(HINDI, "hi")))

    key = store_capture(capture(), ctx, store).manifest_key or ""
    stored = json.loads(store.get(key))
    base = key.removesuffix(".json")
    assert (stored["cards"]["html"], stored["cards"]["png"]) == (f"{base}.card.html", f"{base}.card.png")
    # The manifest binds the stored cards and capture page by their digests.
    for kind, key_ in (("html", f"{base}.card.html"), ("png", f"{base}.card.png"), ("page", f"{base}.html")):
        assert stored["cards"][f"{kind}_sha256"] == hashlib.sha256(store.get(key_)).hexdigest()
    assert store.get(stored["cards"]["html"]).decode() == render_card_html(stored, store)
    first = store.get(stored["cards"]["png"])
    assert store_capture(capture(), ctx, store).manifest_key == key  # the same capture again: the same bytes
    assert store.get(stored["cards"]["png"]) == first


def test_link_segments_keep_the_text_and_link_only_safe_urls() -> None:
    text = "see https://example.com/ok?a=1&b=2). and javascript:alert(2) http://x\u00a0y"
    parts = link_segments(text)
    assert "".join(p for p, _ in parts) == text
    assert [h for _, h in parts if h] == ["https://example.com/ok?a=1&b=2", "http://x"]
    assert link_segments("") == [("", None)]


def test_card_frame_is_one_sandboxed_iframe_with_escaped_attributes() -> None:
    original = 'https://x.com/a/status/1?q="><script>alert(1)</script>'
    frame = card_frame("https://media.example/c.card.html", original=original,
                       version_url="https://media.example/c.json", version_date="2025-07-15T09:12:33.123Z")
    parsed = _Tags()
    parsed.feed(frame)
    parsed.close()
    assert [t for t, _ in parsed.tags] == ["iframe"] and not "".join(parsed.text)
    attrs = parsed.tags[0][1]
    assert attrs["sandbox"] == "" and attrs["data-originalurl"] == original
    assert attrs["title"] == f"Archived copy of {original}" and attrs["referrerpolicy"] == "no-referrer"
    assert card_frame("s", original="", version_url="v", version_date="").count("Archived copy of a post") == 1


def test_card_templates_are_package_data() -> None:
    # A wheel install (not editable) must carry the templates the cards render from.
    config = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["archiver"]
    package = Path(fonts.__file__).resolve().parent
    root = package.parent.parent.parent
    templates = sorted(p.relative_to(root / "archiver").as_posix() for p in (package / "templates").iterdir())
    assert templates and all(any(fnmatch(t, pat) for pat in patterns) for t in templates), templates


def test_a_card_never_decodes_a_huge_original_in_the_capturing_process(tmp_path: Path) -> None:
    """A 9000x9000 photo is drawn from its web-sized serving copy; without one, its label is shown
    instead of decoding 324 MB of pixels outside the image workers' limits."""
    import hashlib

    from archiver.capture.cards import png_card
    from archiver.storage.layout import blob_key, derived_key
    from archiver.storage.local import LocalStore

    store = LocalStore(tmp_path, "https://archive.example/media")
    big = io.BytesIO()
    Image.new("RGB", (9000, 9000), (200, 30, 30)).save(big, "PNG")
    sha = hashlib.sha256(big.getvalue()).hexdigest()
    store.put(blob_key(sha), big.getvalue())
    assert png_card._thumbnail(big.getvalue(), 552) is None  # over MAX_CARD_SOURCE_PIXELS: not decoded
    web = io.BytesIO()
    Image.new("RGB", (1600, 1600), (200, 30, 30)).save(web, "WEBP")
    store.put(derived_key(sha, "web.webp"), web.getvalue())
    picture = png_card._picture(store, blob_key(sha))
    assert picture == web.getvalue()
    thumb = png_card._thumbnail(picture, 552)
    assert thumb is not None and thumb.width <= 552
    assert all(abs(a - b) <= 3 for a, b in zip(thumb.getpixel((10, 10))[:3], (200, 30, 30), strict=True))


SCRIPTS_WITHOUT_A_RANGE = [("ქართული ენა", "ka"), ("Հայերեն լեզու", "hy"), ("සිංහල භාෂාව", "si"),
                           ("ភាសាខ្មែរ", "km"), ("አማርኛ ቋንቋ", "am"), ("𝐁𝐨𝐥𝐝 𝑖𝑡𝑎𝑙𝑖𝑐 𝟏𝟐", "en"),
                           ("ພາສາລາວ ✓ ★ ∑", "lo")]


@functools.cache
def _cmap(path: str) -> Any:
    """The font file's FreeType face, to read its cmap."""
    import freetype

    return freetype.Face(path)


@pytest.mark.parametrize(("text", "lang"), SCRIPTS_WITHOUT_A_RANGE,
                         ids=["georgian", "armenian", "sinhala", "khmer", "ethiopic", "math", "lao-and-symbols"])
def test_every_character_is_drawn_with_a_font_that_has_its_glyph(store: LocalStore, text: str, lang: str) -> None:
    """No tofu: each character of a card's text is drawn with a face whose font maps it to a glyph of its
    own (its cmap), whatever script it is in; nothing is recorded as lost when a font has it."""
    for _, words in wrap(text, 18, 552):
        for word in words:
            for piece in word:
                assert piece.face.path is not None
                for ch in piece.text:
                    if unicodedata.category(ch) not in ("Cf", "Zs"):
                        assert _cmap(piece.face.path).get_char_index(ord(ch)), \
                            f"U+{ord(ch):04X} drawn with {piece.face.path}, which lacks it"
                assert not piece.lost and piece.source is None
    im = _png(render_card_png(_manifest(text, lang), store))
    assert "archiver-font-fallback" not in im.info


def test_characters_no_font_has_are_recorded_and_math_letters_fold(store: LocalStore, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """With only the Latin font installed, 𝐁𝐨𝐥𝐝 is drawn as Bold (NFKC) and Georgian, which no font has,
    is named character by character in the archiver-font-fallback chunk."""
    sans = fonts._font_files()["NotoSans-Regular.ttf"]
    only = tmp_path / "fonts"
    only.mkdir()
    (only / sans.name).symlink_to(sans)
    monkeypatch.setattr(fonts, "FONT_DIRS", (only,))
    fonts.clear_caches()
    try:
        folded = _png(render_card_png(_manifest("𝐁𝐨𝐥𝐝 text", "en"), store))
        plain = _png(render_card_png(_manifest("Bold text", "en"), store))
        georgian = _png(render_card_png(_manifest("ქა text", "ka"), store))
    finally:
        fonts.clear_caches()
    entries = set(folded.info["archiver-font-fallback"].split(","))
    assert {"nfkc:U+1D401", "nfkc:U+1D428", "nfkc:U+1D425", "nfkc:U+1D41D"} <= entries
    assert not any(e.startswith("missing:") for e in entries)
    assert folded.tobytes() == plain.tobytes(), "the folded letters are drawn as the plain ones"
    assert {"missing:U+10E5", "missing:U+10D0"} <= set(georgian.info["archiver-font-fallback"].split(","))


ZALGO = "Z" + "".join(chr(0x300 + (i % 0x70)) for i in range(300))


@pytest.mark.parametrize("capped", [True, False])
def test_a_text_blocks_ink_stays_in_its_box(store: LocalStore, monkeypatch: pytest.MonkeyPatch,
                                            capped: bool) -> None:
    """Hundreds of combining marks on one letter (in the text and the name) draw nothing over the
    header, the attribution or the border: the card is the same as without them outside the text's
    box, whether or not the marks are capped first."""
    if not capped:
        monkeypatch.setattr(textlayout, "MAX_MARKS", 10_000)
        monkeypatch.setattr(textlayout, "MAX_STACKED_MARKS", 10_000)
    zalgo = _manifest(f"line one {ZALGO} ok", "en", name=f"A{ZALGO}")
    plain = _manifest("line one Z ok", "en", name="AZ")
    with monkeypatch.context() as low:
        # An image worker may lower Pillow's bomb threshold meanwhile: keeping ink in its box must not trip it.
        low.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
        drawn = [render_card_png(m, store) for m in (zalgo, plain)]
    a, b = (_png(data).convert("RGB") for data in drawn)
    assert a.size == b.size
    top, bottom = 24 + 64, 24 + 64 + round(18 * 1.55) + 12  # the text's block: one line of 18 px, 12 px gap
    for box in [(0, 0, 600, 2), (0, 24 + 30, 600, top), (0, bottom, 600, a.height)]:  # border, handle, below
        assert a.crop(box).tobytes() == b.crop(box).tobytes(), f"ink outside its box in {box}"
    diff = [(x, y) for y in range(top, bottom) for x in range(600) if a.getpixel((x, y)) != b.getpixel((x, y))]
    assert diff, "the marks are drawn at all"


def test_combining_marks_are_capped_for_drawing_only() -> None:
    for text in ("Tiếng Việt ở đâu", "בְּרֵאשִׁ֖ית בָּרָ֣א", "नमस्ते क्षत्रिय", "བསྒྲུབས", "e\u0301\u0302\u0303\u0304", "#\ufe0f\u20e3"):
        assert textlayout.cap_marks(text) == text
    capped = textlayout.cap_marks(f"{ZALGO} ok")
    assert capped.startswith("Z") and capped.endswith(" ok") and len(capped) <= 1 + textlayout.MAX_MARKS + 3
    assert sum(unicodedata.combining(c) >= 200 for c in capped) == textlayout.MAX_STACKED_MARKS
