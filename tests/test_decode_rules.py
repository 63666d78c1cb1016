"""How an article's bytes are decoded, as browsers decode them (WHATWG Encoding and HTML): a declared
encoding (BOM, then --charset or the HTTP charset, then the HTML prescan) wins over detection; the
prescan skips comments and reads only real <meta> attributes; every byte a web decoder maps is
accepted (windows-1252's C1 bytes, gbk's euro sign), and the rewrite keeps every other byte."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import html5lib
import pytest
import webencodings

from archiver.article.decode import decode_article
from archiver.article.input import ArticleInput
from archiver.article.versions import encodable
from archiver.config.settings import Settings
from archiver.health.originals import article_health, dead_items
from archiver.health.restore import restore
from archiver.runners.local import archive
from archiver.runtime import Runtime
from archiver.steps.prepare import load_plan, load_source
from archiver.storage.layout import version_key
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture, make_image
from tests.test_health import T0, TWEET


def web_name(codec: str) -> str:
    """The WHATWG name of a stored codec name ("cp1251" and "x-cp1251" -> "windows-1251"; a codec that
    keeps undecodable bytes, "x-keep-utf-8", -> "utf-8"); the name itself when it is no label."""
    found = webencodings.lookup(codec.removeprefix("x-keep-"))
    return found.name if found is not None else codec



def browser_text(data: bytes) -> str:
    """The page's text as a browser reads it (html5lib: BOM, prescan, then windows-1252)."""
    return "".join(html5lib.parse(data).itertext())


# --- 1. a declared encoding wins over detection ----------------------------------------------------------
def test_a_declared_utf8_page_with_a_stray_byte_stays_utf8() -> None:
    page = ("<html><head><meta charset=utf-8><title>Отчёт — обзор</title></head><body>"
            "<p>Жители города сообщили о проблеме — водопровод</p><p>broken \xff here</p></body></html>")
    data = page.replace("\xff", "\udcff").encode("utf-8", "surrogateescape")
    decoded = decode_article(data)
    assert web_name(decoded.encoding) == "utf-8"
    assert "Жители города" in decoded.text and decoded.encode(decoded.text) == data
    # Text written into the page later (a restored card) is UTF-8, as the page is read.
    assert encodable("— ü", decoded.encoding).encode(decoded.encoding) == "— ü".encode()
    # A charset given on the command line or by HTTP wins over the document's own label too.
    cyr = '<meta charset="koi8-r"><p>Привет</p>'.encode("cp1251")
    assert decode_article(cyr, "windows-1251").text.endswith("Привет</p>")
    # ... and over bytes that happen to be valid UTF-8 (a browser reads them in the declared encoding).
    latin = decode_article('<p>café</p>'.encode(), "windows-1252")
    assert web_name(latin.encoding) == "windows-1252" and latin.text == "<p>cafÃ©</p>"


@pytest.fixture
def origin() -> Iterator[FixtureOrigin]:
    tweets = [TweetFixture(id=TWEET, handle="ANI", name="Агентство — ANI", text="Лавров и Джайшанкар — встреча")]
    with FixtureOrigin(tweets=tweets, images={"/media/a.jpg": make_image("a", 64, 48)}) as o:
        yield o


def test_a_restore_into_a_declared_utf8_page_with_a_stray_byte_writes_utf8(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    page = ('<html><head><meta charset="utf-8"><title>Новости</title></head><body>\n'
            "<p>Жители сообщили о проблеме — водопровод \xff сломан, говорят они уже третий день подряд</p>\n"
            '<blockquote class="twitter-tweet"><p lang="ru" dir="ltr">Лавров и Джайшанкар — встреча</p>'
            f'&mdash; ANI (@ANI) <a href="https://twitter.com/ANI/status/{TWEET}">July 15, 2025</a></blockquote>\n'
            f'<img src="{origin.url("/media/a.jpg")}">\n</body></html>\n')
    data = page.replace("\xff", "\udcff").encode("utf-8", "surrogateescape")
    settings = tmp_settings(**{**origin.settings_overrides(), "public_base_url": "https://archive.example/media",
                               "fetch_retries": 0, "health_dead_after_failures": 1, "health_dead_after_hours": 0.0,
                               "restore_style": "inline"})
    with Runtime.from_settings(settings) as rt:
        archive(rt, ArticleInput(data, url="https://news.example/story"), article_id="story")
        assert web_name(load_plan(rt, "story").encoding) == "utf-8"
        v1 = rt.store.get(version_key("story", 1))
        assert v1.count(b"\xff") == 1  # the stray byte is kept as it was
        origin.set_behaviour("/oembed", "404", sticky=True)
        origin.set_behaviour("/tweet-result", "empty", sticky=True)
        article_health(rt, "story", check_now=True, now=T0)
        assert {o.kind for o in dead_items(rt, "story")} == {"embed"}
        assert restore(rt, "story")["current"] == 2
        v2 = rt.store.get(version_key("story", 2))
    # Read as a browser reads it (declared UTF-8): one U+FFFD for the stray byte, and nothing else garbled.
    text = browser_text(v2)
    assert text.count("\ufffd") == 1 and "Лавров и Джайшанкар — встреча" in text and "Агентство — ANI" in text
    assert v2.count(b"\xff") == 1 and v2.replace(b"\xff", b"").decode("utf-8")


# --- 2. the HTML prescan ------------------------------------------------------------------------------------
@pytest.mark.parametrize("head", [
    b'<!-- old: <meta charset="koi8-r"> --><meta charset="windows-1251">',
    b'<!--<meta charset=koi8-r>--><meta http-equiv="Content-Type" content="text/html; charset=windows-1251">',
    b'<!-- <meta charset=iso-8859-5> --><meta content="text/html; charset=windows-1251" http-equiv="content-type">',
    b'<meta name="description" content="charset=koi8-r"><meta charset=windows-1251>',
    b'<meta charset="bogus-label"><meta charset="windows-1251">',
    b'<!--x--><!--<meta charset="iso-8859-5"--><META\tCHARSET = " windows-1251 ">',
])
def test_the_prescan_reads_only_real_meta_declarations(head: bytes) -> None:
    data = b"<html><head>" + head + "</head><body><p>Привет мир</p></body></html>".encode("cp1251")
    decoded = decode_article(data)
    assert web_name(decoded.encoding) == "windows-1251" and "<p>Привет мир</p>" in decoded.text
    assert decoded.encode(decoded.text) == data
    assert "Привет мир" in browser_text(data)  # what a browser reads


def test_a_meta_past_the_first_1024_bytes_is_not_read_by_the_prescan() -> None:
    late = b"<html><head><!--" + b"x" * 1100 + b'--><meta charset="koi8-r"></head><body><p>plain</p></body></html>'
    assert web_name(decode_article(late).encoding) == "utf-8"


# --- 3. every byte a web decoder maps ---------------------------------------------------------------------------
@pytest.mark.parametrize("label", ["windows-1252", "iso-8859-1", "latin1", "us-ascii"])
@pytest.mark.parametrize("byte", [0x81, 0x8D, 0x8F, 0x90, 0x9D])
def test_windows_1252_c1_bytes_are_decoded_as_browsers_do(label: str, byte: int) -> None:
    body = b"<p>Caf\xe9 cr\xe8me " + bytes([byte]) + b"</p>"
    declared = f'<meta charset="{label}">'.encode() + body
    for data, decoded in ((body, decode_article(body, label)), (declared, decode_article(declared))):
        assert decoded.text.endswith("<p>Café crème " + chr(byte) + "</p>")  # WHATWG: the C1 control
        assert decoded.encode(decoded.text) == data
        assert encodable("Ā €", decoded.encoding) == "&#256; €"


@pytest.mark.parametrize(("label", "byte", "char"), [
    ("windows-1250", 0x81, "\x81"), ("windows-1253", 0x9F, "\x9f"), ("windows-1255", 0xCA, "\u05ba"),
    ("windows-874", 0x9E, "\x9e"), ("windows-1258", 0x8D, "\x8d"), ("koi8-u", 0xAE, "\u045e"),
])
def test_other_single_byte_encodings_follow_the_standards_index(label: str, byte: int, char: str) -> None:
    data = f'<meta charset="{label}"><p>'.encode() + bytes([byte]) + b"</p>"
    decoded = decode_article(data)
    assert decoded.text.endswith(f"<p>{char}</p>") and decoded.encode(decoded.text) == data


def test_gbk_0x80_is_the_euro_sign() -> None:
    data = b'<meta charset="gbk"><p>\x80 ' + "价格".encode("gbk") + b"</p>"
    decoded = decode_article(data)
    assert decoded.text.endswith("<p>€ 价格</p>") and decoded.encode(decoded.text) == data
    assert decoded.encode(decoded.text + "€") == data + b"\x80"


def test_a_windows_1252_article_with_c1_bytes_is_archived_byte_for_byte(tmp_settings: Callable[..., Settings],
                                                                         origin: FixtureOrigin) -> None:
    img = origin.url("/media/a.jpg")
    data = (b'<html><head><meta charset="iso-8859-1"></head><body><p>Caf\xe9 cr\xe8me \x9d \x81</p>'
            + f'<img src="{img}"></body></html>'.encode())
    settings = tmp_settings(**{**origin.settings_overrides(), "public_base_url": "https://archive.example/media"})
    with Runtime.from_settings(settings) as rt:
        rep = archive(rt, ArticleInput(data, charset="windows-1252"), article_id="c1")
        assert [i["status"] for i in rep["images"]] == ["archived"]
        plan = load_plan(rt, "c1")
        assert web_name(plan.encoding) == "windows-1252"
        assert load_source(rt, plan).text.startswith('<html><head><meta charset="iso-8859-1">')
        v1 = rt.store.get(version_key("c1", 1))
    start = data.index(img.encode())
    assert v1[:start] == data[:start] and v1.endswith(b'"></body></html>') and img.encode() not in v1


# --- 5. a query is percent-encoded in the document's encoding ------------------------------------------------
def test_an_image_query_is_encoded_in_the_documents_encoding(tmp_settings: Callable[..., Settings],
                                                             origin: FixtureOrigin) -> None:
    img = origin.url("/media/a.jpg")
    data = (f'<html><head><meta charset="windows-1251"></head><body><img src="{img}?q=При#top">'
            f'<img src="{img}?q=日&amp;r=1"><img src="{img}?plain=1"></body></html>').encode("cp1251",
                                                                                          "xmlcharrefreplace")
    settings = tmp_settings(**{**origin.settings_overrides(), "public_base_url": "https://archive.example/media"})
    with Runtime.from_settings(settings) as rt:
        rep = archive(rt, ArticleInput(data), article_id="q")
    # As a browser asks for them (WHATWG URL: the query in windows-1251; 日, which it lacks, as "&#26085;").
    # (The item is the resource fetched: its fragment stays in the article's rewritten URL only.)
    assert [i["url"] for i in rep["images"]] == [f"{img}?q=%CF%F0%E8", f"{img}?q=%26%2326085%3B&r=1",
                                                 f"{img}?plain=1"]
    assert [i["status"] for i in rep["images"]] == ["archived"] * 3
    asked = [r.query for r in origin.requests if r.path == "/media/a.jpg"]
    assert {"q": "\ufffd\ufffd\ufffd"} in asked and {"q": "&#26085;", "r": "1"} in asked  # not UTF-8 "При"
    # A UTF-8 document's query stays UTF-8.
    with Runtime.from_settings(settings) as rt:
        rep = archive(rt, ArticleInput(f'<meta charset="utf-8"><img src="{img}?q=При">'.encode()), article_id="u")
    assert [i["url"] for i in rep["images"]] == [f"{img}?q=При"]


def test_web_names_of_utf16_are_whatwg_labels() -> None:
    """A version's charset parameter names the encoding as browsers know it: utf-16le, not Python's
    utf-16-le."""
    from archiver.article.decode import web_name

    assert [web_name(c) for c in ("utf-16-le", "utf-16-be", "x-keep-utf-8")] == ["utf-16le", "utf-16be", "utf-8"]


def test_an_undecodable_byte_in_an_image_url_is_fetched_as_a_browser_asks(tmp_settings: Callable[..., Settings],
                                                                          origin: FixtureOrigin) -> None:
    """In a page whose declared encoding does not decode a byte, a browser reads U+FFFD there and asks
    for %EF%BF%BD; the byte is still kept exactly in the article (x-keep-)."""
    img = origin.url("/media/a.jpg")
    data = f'<meta charset="utf-8"><img src="{img}?q=a'.encode() + b"\xff" + b'b">'
    settings = tmp_settings(**{**origin.settings_overrides(), "public_base_url": "https://archive.example/media"})
    with Runtime.from_settings(settings) as rt:
        rep = archive(rt, ArticleInput(data), article_id="k")
    assert [i["url"] for i in rep["images"]] == [f"{img}?q=a\ufffdb"]
    asked = [r.query for r in origin.requests if r.path == "/media/a.jpg"]
    assert asked == [{"q": "a\ufffdb"}]
