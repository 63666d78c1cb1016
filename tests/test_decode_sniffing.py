"""How the encoding of an article is sniffed and how every web encoding is read and written back exactly:
the HTML prescan (UTF-16 XML declarations, <meta> before the XML declaration), the HTTP Content-Type
charset read as a MIME type (WHATWG MIME Sniffing and Fetch), stateful ISO-2022-JP and the CJK decoders
kept byte for byte, and when bytes are binary (WHATWG MIME Sniffing)."""

from __future__ import annotations

import codecs
import random
from collections.abc import Callable, Iterator

import pytest

from archiver.article.decode import charset_param, decode_article, decode_xml, web_name
from archiver.article.input import ArticleInput
from archiver.config.settings import Settings
from archiver.errors import InputError
from archiver.runners.local import archive
from archiver.runtime import Runtime
from archiver.steps.prepare import load_plan
from archiver.storage.layout import version_key
from archiver.testing.fixture_origin import FixtureOrigin, make_image

RUSSIAN = "<html><head><title>Новости</title></head><body><p>Привет мир</p></body></html>"


# --- 1. the prescan's UTF-16 XML declarations -----------------------------------------------------------
@pytest.mark.parametrize(("codec", "name"), [("utf-16-le", "utf-16le"), ("utf-16-be", "utf-16be")])
def test_a_utf16_xml_declaration_without_a_bom_is_read_as_utf16(codec: str, name: str) -> None:
    data = ('<?xml version="1.0" encoding="utf-16"?>\n' + RUSSIAN).encode(codec)
    decoded = decode_article(data)
    assert web_name(decoded.encoding) == name and "<p>Привет мир</p>" in decoded.text
    assert decoded.encode(decoded.text) == data
    # A feed, too (XML 1.0 appendix F reads these bytes alike).
    feed = '<?xml version="1.0"?><rss version="2.0"><channel><title>Лента</title></channel></rss>'.encode(codec)
    assert decode_xml(feed).endswith("<title>Лента</title></channel></rss>")
    # A charset given still wins over it, as it wins over every document declaration.
    assert web_name(decode_article(data, "utf-16le" if name == "utf-16be" else "utf-16be").encoding) != name


# --- 2. a <meta> before the XML declaration (whatwg/html#1752) -------------------------------------------
@pytest.mark.parametrize("xml", [
    b'<?xml version="1.0" encoding="koi8-r"?>\n',
    b"<?xml version='1.0' encoding='iso-8859-5'?>",
    b'<?xml version="1.0" encoding="utf-8"?>',
])
def test_a_meta_charset_wins_over_the_xml_declaration(xml: bytes) -> None:
    data = xml + b'<html><head><meta charset="windows-1251">' + RUSSIAN[12:].encode("cp1251")
    decoded = decode_article(data)
    assert web_name(decoded.encoding) == "windows-1251" and "<p>Привет мир</p>" in decoded.text


@pytest.mark.parametrize(("xml", "name"), [
    (b'<?xml version="1.0" encoding="windows-1251"?>', "windows-1251"),
    (b'<?xml version="1.0" ENCODING = \t"windows-1251" ?>', "windows-1251"),  # "get an XML encoding"
    (b'<?xml version="1.0"?><!-- encoding="windows-1251" -->', "utf-8"),  # past the declaration's ">"
])
def test_the_xml_declaration_is_the_fallback_when_no_meta_names_an_encoding(xml: bytes, name: str) -> None:
    body = "<html><body><p>Привет мир</p></body></html>"
    data = xml + body.encode("cp1251" if name != "utf-8" else "utf-8")
    decoded = decode_article(data)
    assert web_name(decoded.encoding) == name and "<p>Привет мир</p>" in decoded.text


# --- 3. the HTTP charset, read as a MIME type -------------------------------------------------------------
@pytest.mark.parametrize(("header", "charset"), [
    ('text/html; charset="windows-1251"', "windows-1251"),
    ('text/html;charset="windows-1251"  ;  foo=bar', "windows-1251"),
    ('text/html; foo="a;charset=koi8-r"; charset=utf-8', "utf-8"),  # inside another parameter's quotes
    ('text/html; foo="a\\";charset=koi8-r"; charset=utf-8', "utf-8"),  # an escaped quote stays inside
    ("text/html; charset=utf-8; charset=koi8-r", "utf-8"),  # the first of two wins
    ("TEXT/HTML; CharSet=Shift_JIS", "Shift_JIS"),
    ("text/html; charset = koi8-r", None),  # "charset " is no parameter name
    ("text/html; xcharset=koi8-r", None),
    ("charset=koi8-r", None),  # no MIME type at all
    ("text/html; charset=gbk, text/html", "gbk"),  # combined headers: the same essence keeps the charset
    ("text/html; charset=gbk, text/plain", None),
    ("text/html; charset=gbk, */*", "gbk"),
    ('text/html; charset="koi8-r', "koi8-r"),  # an unclosed quote runs to the end
    ("", None),
    (None, None),
])
def test_the_http_charset_is_read_as_a_mime_type_parameter(header: str | None, charset: str | None) -> None:
    assert charset_param(header) == charset


def test_a_header_charset_in_another_parameter_does_not_decide_the_feed() -> None:
    feed = '<?xml version="1.0" encoding="windows-1251"?><rss><channel><title>Лента</title></channel></rss>'
    data = feed.encode("cp1251")
    assert decode_xml(data, 'application/rss+xml; x="charset=koi8-r"').endswith("<title>Лента</title></channel></rss>")


# --- 4. ISO-2022-JP with every escape it may hold, and pairs other CJK codecs write back otherwise -------
ESC_J = b"\x1b(J"
KANJI = "日本語のニュース".encode("iso2022_jp")[3:-3]  # JIS X 0208 bytes, no escapes


def jis_page(img: str = "https://img.example/a.jpg") -> bytes:
    """An ISO-2022-JP page as many Japanese sites write it: back from kanji with ESC ( J (JIS X 0201 Roman),
    kanji after ESC $ @ as well as ESC $ B, and a katakana run."""
    return (b'<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-2022-jp">'
            b"<title>\x1b$B" + KANJI + ESC_J + b" - news</title></head><body>\n<p>\x1b$@" + KANJI + ESC_J
            + b" 100\\ (a~b) \x1b(I\x31\x32\x1b(B</p>\n"
            + f'<img src="{img}" alt="'.encode() + b"\x1b$B" + KANJI + ESC_J + b'">\n</body></html>\n')


def test_an_iso_2022_jp_page_with_jis_roman_escapes_is_read_as_browsers_do_and_kept_exactly() -> None:
    data = jis_page()
    decoded = decode_article(data)
    assert web_name(decoded.encoding) == "iso-2022-jp"
    assert decoded.encode(decoded.text) == data
    # The standard's decoder: Roman 0x5C is U+00A5 and 0x7E U+203E; katakana; no escape is text.
    shown = data.decode(decoded.encoding, "replace")
    assert "<title>日本語のニュース - news</title>" in shown
    assert "<p>日本語のニュース 100\u00a5 (a\u203eb) \uff71\uff72</p>" in shown and "\ufffd" not in shown
    assert '<img src="https://img.example/a.jpg" alt="' in decoded.text
    # An escape the encoder writes itself is no text; one it would not write is kept (U+10FF00 + byte).
    assert "<title>日本語のニュース\U0010ff1b\U0010ff28\U0010ff4a - news</title>" in decoded.text
    # Text spliced in (a new URL, Japanese text) is written in the state around it: no other byte changes.
    start = decoded.text.index("https://img.example/a.jpg")
    new = decoded.text[:start] + "https://archive.example/m/日本.jpg" + decoded.text[start + 25:]
    written = decoded.encode(new)
    byte_start = data.index(b"https://img.example/a.jpg")
    assert written[:byte_start] == data[:byte_start] and written.endswith(data[byte_start + 25:])
    assert written.decode(decoded.encoding, "replace") == shown.replace("https://img.example/a.jpg",
                                                                          "https://archive.example/m/日本.jpg")


@pytest.mark.parametrize("data", [
    b"<p>\x1b(B\x1b(Bx\x1b\x1b(Jy\x0e\x1b$B!\x1b(B z \x1b$B\x2d\x35\x1b(B</p>\x1b$B",  # errors of every kind
    b"<p>\x1b$B" + KANJI + b"\n" + KANJI + b"\x1b(B</p>",  # a newline inside JIS X 0208 (an error)
    b"<p>\x1b$(D\x1b(I\x7f\x1b$B!\x1b",  # an escape of no ISO-2022-JP state, cut at the end
    b"\x1b(J" * 3 + b"<p>\\</p>" + b"\x1b$B" * 2 + b"\x1b(B",
])
def test_hostile_iso_2022_jp_bytes_are_kept_exactly(data: bytes) -> None:
    decoded = decode_article(b'<meta charset="iso-2022-jp">' + data)
    assert decoded.encode(decoded.text) == b'<meta charset="iso-2022-jp">' + data


def test_an_iso_2022_jp_page_over_the_escape_bound_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """Over a million escape sequences and errors the keeping decoder stops (a bound on hostile input);
    the error names that bound instead of suggesting another charset. (Run with the bound at 10,000.)"""
    from archiver.article import decode

    assert decode._MAX_TOKENS == 1_000_000
    monkeypatch.setattr(decode, "_MAX_TOKENS", 10_000)
    page = b'<meta charset="iso-2022-jp"><p>' + b"\x1b$B\x46\x7c\x1b(B" * 6_000 + b"\xff</p>"
    with pytest.raises(InputError, match=r"has over 10,000 escape sequences and errors, .*convert it to UTF-8"):
        decode_article(page)


@pytest.mark.parametrize(("label", "data", "shown"), [
    ("shift_jis", "≒ ①".encode("cp932") + b" \x87\x90 \xed\x40 \xfa\x40", "≒ ① ≒ 纊 ⅰ"),  # NEC and IBM rows
    ("big5", "中文".encode("big5") + b" \xa2\xcc", "中文 十"),  # a pair also written 0xA451
    ("gbk", "中文".encode("gbk") + b" \xa2\xe3 \x80", "中文 € €"),  # two bytes of the euro sign
    ("gb18030", "中文".encode("gb18030") + b" \xa2\xe3", "中文 €"),
])
def test_pairs_a_codec_writes_back_otherwise_are_kept(label: str, data: bytes, shown: str) -> None:
    page = f'<meta charset="{label}"><p>'.encode() + data + b"</p>"
    decoded = decode_article(page)
    assert web_name(decoded.encoding) == label and decoded.encode(decoded.text) == page
    assert page.decode(decoded.encoding, "replace").endswith(f"<p>{shown}</p>")


@pytest.fixture
def origin() -> Iterator[FixtureOrigin]:
    with FixtureOrigin(images={"/media/a.jpg": make_image("a", 64, 48)}) as o:
        yield o


def test_an_iso_2022_jp_article_is_archived_byte_for_byte(tmp_settings: Callable[..., Settings],
                                                          origin: FixtureOrigin) -> None:
    img = origin.url("/media/a.jpg")
    data = jis_page(img)
    settings = tmp_settings(**{**origin.settings_overrides(), "public_base_url": "https://archive.example/media"})
    with Runtime.from_settings(settings) as rt:
        rep = archive(rt, ArticleInput(data, url="https://news.example/jp"), article_id="jp")
        assert [i["status"] for i in rep["images"]] == ["archived"]
        assert web_name(load_plan(rt, "jp").encoding) == "iso-2022-jp"
        v1 = rt.store.get(version_key("jp", 1))
    start = data.index(img.encode())
    assert v1[:start] == data[:start] and v1.endswith(data[start + len(img):]) and img.encode() not in v1


# --- 5. bytes the standard's decoder does not map are errors, and kept ---------------------------------------
@pytest.mark.parametrize("byte", [0xA0, 0xFD, 0xFE, 0xFF])
def test_shift_jis_bytes_the_standard_does_not_map_are_errors_and_kept(byte: int) -> None:
    page = b'<meta charset="shift_jis"><p>' + "日本".encode("cp932") + bytes([byte]) + b" ok</p>"
    decoded = decode_article(page)
    assert web_name(decoded.encoding) == "shift_jis" and decoded.encode(decoded.text) == page
    assert decoded.text.endswith("<p>日本" + chr(0x10FF00 + byte) + " ok</p>")  # kept, not a private-use letter
    assert page.decode(decoded.encoding, "replace").endswith("<p>日本\ufffd ok</p>")  # as a browser shows it
    # As a trail byte 0xA0 is part of a character.
    assert decode_article(b'<meta charset="shift_jis"><p>\x81\xa0</p>').text.endswith("<p>\u25a1</p>")


# --- 6. binary or text ---------------------------------------------------------------------------------------
def test_a_declared_page_with_an_undecodable_byte_and_a_nul_is_text() -> None:
    page = ('<html><head><meta charset="utf-8"><title>Новости</title></head><body><p>Жители — водопровод '
            '\xff сломан\x00</p></body></html>').replace("\xff", "\udcff").encode("utf-8", "surrogateescape")
    decoded = decode_article(page)
    assert web_name(decoded.encoding) == "utf-8" and decoded.encode(decoded.text) == page
    given = b"<p>caf\xe9\x00 cr\xe8me</p>"  # a charset given, no HTML start needed for one NUL
    assert decode_article(given, "utf-8").encode(decode_article(given, "utf-8").text) == given


@pytest.mark.parametrize(("data", "charset"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), None),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "utf-8"),  # a charset does not make it text
    (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff", "windows-1252"),
    (b"caf\xe9 \x01\x02\x03 data", None),  # undeclared, not UTF-8, binary data bytes: binary
])
def test_binary_data_is_refused(data: bytes, charset: str | None) -> None:
    with pytest.raises(InputError, match="binary"):
        decode_article(data, charset)


def test_euc_jp_reads_jis_x_0208_with_the_standards_index() -> None:
    """index jis0208, as for Shift_JIS: 0xA1C1 is U+FF5E (Python's euc_jp: U+301C), the NEC row 13 is
    decoded (0xADA1 is U+2460), and bytes a codec writes back otherwise are kept exactly."""
    page = b'<meta charset="euc-jp"><p>\xa1\xc1 \xad\xa1 ' + "日本語".encode("euc_jp") + b"</p>"
    decoded = decode_article(page)
    assert web_name(decoded.encoding) == "euc-jp" and decoded.encode(decoded.text) == page
    assert decoded.text.endswith("<p>\uff5e \u2460 日本語</p>")
    odd = b'<meta charset="euc-jp"><p>\xad\xf0 \x8f\xa2\xb7</p>'  # NEC row 13's ≒ (also 0xA2E2); JIS X 0212
    kept = decode_article(odd)
    assert kept.encode(kept.text) == odd and "\u2252" in odd.decode(kept.encoding, "replace")


@pytest.mark.parametrize(("label", "data", "char"), [
    ("euc-jp", b"\xa2\xb7", "日"), ("shift_jis", b"\x81\xff", "日"),
    ("euc-kr", b"\xc9\xa1", "한"), ("big5", b"\x81\x80", "中"),
])
def test_a_lead_byte_and_the_byte_after_it_are_one_error(label: str, data: bytes, char: str) -> None:
    """As the standard's decoders read them: a lead byte then a non-ASCII byte that make no character are
    one error (Python's codecs drop the lead alone and read the next byte as a new lead)."""
    page = f'<meta charset="{label}"><p>'.encode() + data + char.encode(label.replace("-", "_")) + b"</p>"
    decoded = decode_article(page)
    assert decoded.encode(decoded.text) == page
    assert decoded.text.endswith("<p>" + "".join(chr(0x10FF00 + b) for b in data) + char + "</p>")


def test_kept_bytes_are_read_as_a_browser_reads_them_in_the_headline_and_image_urls() -> None:
    from archiver.article.decode import kept_text
    from archiver.steps.prepare import _sanitized

    title = "東京" + kept_text(b"\x1b(J") + "ニュース" + kept_text(b"\x1b(B\xff") + "!"
    assert _sanitized(title, "x-keep-x-iso-2022-jp") == "東京ニュース\ufffd!"  # an escape shows nothing
    # A Shift_JIS pair kept as bytes (cp932 writes ≒ back as 0x81 0xE0) is still ≒ to a reader.
    assert _sanitized("a" + kept_text(b"\x87\x90\xfa\x40") + kept_text(b"\xff"), "x-keep-x-sjis") == "a≒ⅰ\ufffd"
    assert _sanitized("caf" + kept_text(b"\xe9"), "x-keep-utf-8") == "caf\ufffd"


# --- 7. decoding time is linear in the bytes, whatever they hold --------------------------------------------
@pytest.fixture
def small_bound(monkeypatch: pytest.MonkeyPatch) -> int:
    """MAX_ONE_BY_ONE at 2,000 for the test (the bound's own value is checked here once), so its pages
    are small."""
    from archiver.article import decode

    assert decode.MAX_ONE_BY_ONE == 200_000
    monkeypatch.setattr(decode, "MAX_ONE_BY_ONE", 2_000)
    return 2_000


SINGLE_BYTE_AND_UTF8 = ["utf-8", "ibm866", "iso-8859-2", "iso-8859-8", "iso-8859-8-i", "koi8-r", "macintosh",
                        "x-mac-cyrillic", "windows-874", "windows-1250", "windows-1252", "windows-1253",
                        "windows-1255", "windows-1257", "x-user-defined"]


def random_bytes(rng: random.Random, n: int, alphabet: bytes) -> bytes:
    return bytes(rng.choice(alphabet) for _ in range(n))


@pytest.mark.parametrize("label", SINGLE_BYTE_AND_UTF8)
def test_errors_kept_in_c_are_the_errors_kept_one_by_one(label: str) -> None:
    """UTF-8 and the single-byte encodings keep their errors in Python's C codecs (surrogateescape): the
    same text, byte for byte, as the error handler that keeps them one at a time, on random bytes."""
    from archiver.article.decode import _KEEP_DECODE, _WIDER, python_codec

    base = _WIDER.get(label) or python_codec(label)
    rng = random.Random(label)
    alphabet = b"ab <>" + bytes(range(0x80, 0x100))
    for _ in range(300):
        data = random_bytes(rng, rng.randrange(1, 60), alphabet)
        text = codecs.decode(data, "x-keep-" + label)
        assert text == codecs.decode(data, base, _KEEP_DECODE), data
        assert codecs.encode(text, "x-keep-" + label) == data


MULTI_BYTE = {"shift_jis": "日本語", "euc-jp": "日本語", "euc-kr": "한국어", "big5": "中文", "gbk": "中文",
              "gb18030": "中文"}


@pytest.mark.parametrize("label", ["shift_jis", "euc-jp", "big5", "gbk", "gb18030"])  # euc-kr: every pair round-trips
def test_marked_runs_are_found_as_the_token_by_token_scan_finds_them(label: str) -> None:
    """Pairs a codec writes back otherwise, and Shift_JIS's bytes the standard does not map, are found by
    one regular expression at each token boundary (a run kept in one step): the same text as splitting
    the bytes into tokens and looking at each, for random mixes of characters, errors and such pairs."""
    from archiver.article import decode

    web = decode.webencodings.lookup(label).name
    tokens = decode._TOKENS[web]
    base = decode._WIDER.get(web) or decode.python_codec(web)
    raw = {"gbk": "gb18030", "gb18030": "gb18030", "shift_jis": "cp932", "euc-jp": "euc_jp"}.get(web, base)
    marked = decode._odd_pairs(raw) | (decode._SJIS_ERRORS if web == "shift_jis" else frozenset())
    pieces = [*sorted(marked)[:40], MULTI_BYTE[label].encode(raw), b"a", b"<p>", b"\xff", b"\x81", b"\xa1",
              b"\x8f", b"\xa0", b"\x80", b"1"]

    def token_by_token(data: bytes, errors: str) -> str:
        handler, out, done = codecs.lookup_error(errors), [], 0
        for m in tokens.finditer(data):
            if m.group() in marked:
                out.append(data[done:m.start()].decode(base, errors))
                out.append(str(handler(UnicodeDecodeError("x", data, m.start(), m.end(), "marked"))[0]))
                done = m.end()
        return "".join(out) + data[done:].decode(base, errors)

    rng = random.Random(label)
    for _ in range(400):
        data = b"".join(rng.choice(pieces) for _ in range(rng.randrange(1, 30)))
        for errors in (decode._KEEP_DECODE, "replace"):
            assert decode._decode_marking(data, base, errors, tokens, marked, "x") == token_by_token(data, errors)


@pytest.mark.parametrize(("label", "error"), [
    ("shift_jis", b"\x85 "), ("euc-jp", b"\xa1 "), ("euc-kr", b"\xff "), ("big5", b"\x81 "), ("gbk", b"\xff "),
    ("gb18030", b"\x80"),  # gbk's euro sign: a character, but one Python's codec leaves to the handler
    ("euc-jp", b"\xad\xa1"),  # NEC row 13's circled 1: a character Python's euc_jp leaves undefined
])
def test_a_multibyte_page_read_one_byte_at_a_time_past_the_bound_is_refused_with_that_reason(
        label: str, error: bytes, small_bound: int) -> None:
    """A page of more than MAX_ONE_BY_ONE bytes that Python's codec leaves to a Python handler is refused
    (with that reason, not 'give its charset') instead of taking seconds a megabyte; under the bound
    such bytes are read as before and kept exactly."""
    head = f'<meta charset="{label}"><p>'.encode()
    with pytest.raises(InputError, match=rf"over {small_bound:,} bytes or characters that its codec does "
                                         r"not read as the Encoding Standard does, .*convert it to UTF-8"):
        decode_article(head + error * (small_bound + 10) + b"</p>")
    page = head + error * (small_bound // 2) + b"</p>"
    decoded = decode_article(page)
    read_as = "gbk" if error == b"\x80" else label  # (gb18030's euro sign is gbk's: x-gbk decodes it)
    assert web_name(decoded.encoding) == read_as and decoded.encode(decoded.text) == page


@pytest.mark.parametrize("label", ["utf-8", "windows-1253", "shift_jis"])
def test_a_page_of_errors_read_in_c_is_kept_past_the_bound(label: str, small_bound: int) -> None:
    """Errors that C code keeps (UTF-8 and single-byte encodings; a run of Shift_JIS bytes the standard
    does not map, kept as one run) are not bounded: such a page is archived byte for byte."""
    page = f'<meta charset="{label}"><p>'.encode() + b"\xff" * (small_bound * 2) + b" a\xff" * 1000 + b"</p>"
    decoded = decode_article(page)
    assert web_name(decoded.encoding) == label and decoded.encode(decoded.text) == page
    assert decoded.text.count(chr(0x10FFFF)) == small_bound * 2 + 1000


@pytest.mark.parametrize(("label", "page"), [
    ("shift_jis", b"<p>" + b"\x85 " * 1_500 + b"\xa0\x87\x90"),  # errors, a byte the standard leaves out, NEC
    ("euc-jp", b"<p>" + b"\xad\xa1" * 1_500 + b"\xad\xe2"),  # valid: NEC row 13, then a pair kept as bytes
    ("big5", b"<p>" + b"\xff " * 1_500 + b"\xa1\xfe"),
    ("gbk", b"<p>" + b"\xff " * 1_500 + b"\xa2\xe3"),
])
def test_each_byte_sequence_counts_once_toward_the_bound(label: str, page: bytes, small_bound: int) -> None:
    """Bytes read again when pairs are marked are not counted again: a page under the bound (1,500 of
    2,000) is kept."""
    decoded = decode_article(page, label)
    assert web_name(decoded.encoding) == label and decoded.encode(decoded.text) == page


def test_a_page_at_the_bound_leaves_the_process_tables_whole(monkeypatch: pytest.MonkeyPatch,
                                                             small_bound: int) -> None:
    """The table of pairs a codec writes back otherwise is built once per process, not counted: built
    while a hostile page had spent its budget, it was cut short and later good pages were refused."""
    from archiver.article import decode

    monkeypatch.setattr(decode, "_ODD_PAIRS", {})  # as in a new process
    monkeypatch.setattr(decode, "_MARKED_SCANNERS", {})
    near = b"<p>" + b"\xff " * (small_bound - 10) + b"\xad\xe2"  # the budget nearly spent, then the table
    assert decode_article(near, "euc-jp").encode(decode_article(near, "euc-jp").text) == near
    small = b"<p>\xad\xe2\xff</p>"  # a pair euc_jp writes back otherwise, then an error
    decoded = decode_article(small, "euc-jp")
    assert web_name(decoded.encoding) == "euc-jp" and decoded.encode(decoded.text) == small
    monkeypatch.setattr(decode, "_ODD_PAIRS", {})
    monkeypatch.setattr(decode, "_MARKED_SCANNERS", {})
    assert decode_article(small, "euc-jp").text == decoded.text  # as a process that saw no hostile page
