"""Line-level discovery (archiver/discover/text.py) reads a line ending as LF, CR or CR LF in every
format, and in a plain-text article the other Unicode line breaks too (VT, FF, NEL, LS, PS): a post URL
or an image URL alone on its line is found whatever ends the line, its span is the URL's exact
characters (never a CR), and the rewrite changes no other character."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from archiver.config.settings import Settings
from archiver.discover.scan import discover
from archiver.discover.text import as_lf, image_lines, plain_markdown, run_start, url_lines
from archiver.runners.local import archive
from archiver.runtime import Runtime
from archiver.storage.layout import version_key
from archiver.testing.fixture_origin import FixtureOrigin, make_image

TWEET = "https://twitter.com/ANI/status/1945048830047662087"
LINES = ["Intro line", TWEET, "", "https://news.example/img/a.jpg", "/img/b.png)", "  " + TWEET + "  ", "end"]
ENDINGS = {"CR": "\r", "CRLF": "\r\n"}


def found(doc: str, fmt: str) -> list[tuple[str, str, str]]:
    """(kind and form, URL, the text its span covers) of every embed and image, in document order."""
    d = discover(doc, base_url="https://news.example/a/", fmt=fmt)
    out = [(f"embed {e.form}", e.url or "", doc[e.start:e.end], e.start) for e in d.embeds]
    out += [(f"image {i.form}", i.url, doc[i.start:i.end], i.start) for i in d.images]
    return [o[:3] for o in sorted(out, key=lambda o: o[3])]


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
@pytest.mark.parametrize("ending", ["CR", "CRLF", "mixed"])
def test_cr_and_crlf_end_lines_as_lf_does(fmt: str, ending: str) -> None:
    lf = found("\n".join(LINES), fmt)
    assert [f[0] for f in lf if f[0].startswith("embed")] == ["embed url-line", "embed url-line"]
    if fmt == "text":
        assert ("image text", "https://news.example/img/a.jpg", "https://news.example/img/a.jpg") in lf
        assert ("image text-path", "https://news.example/img/b.png", "/img/b.png") in lf
    if ending == "mixed":
        doc = "".join(line + ("\r", "\r\n", "\n")[n % 3] for n, line in enumerate(LINES))
    else:
        doc = ENDINGS[ending].join(LINES)
    got = found(doc, fmt)
    assert got == lf
    assert not any("\r" in f[2] or "\n" in f[2] for f in got)


def test_a_cr_is_never_part_of_a_url_or_left_out_of_a_span_s_neighbours() -> None:
    doc = f"a\r{TWEET}\r\r{TWEET}/\rb"
    spans = [(s, e) for s, e, _ in url_lines(doc)]
    assert [doc[s:e] for s, e in spans] == [TWEET, TWEET + "/"]
    assert [doc[e] for _, e in spans] == ["\r", "\r"] and [doc[s - 1] for s, _ in spans] == ["\r", "\r"]
    assert as_lf("a\r\nb\rc") == "a \nb\nc" and len(as_lf(doc)) == len(doc)


@pytest.mark.parametrize("brk", ["\u2028", "\u2029", "\x85", "\x0b", "\x0c"])
def test_a_plain_text_article_s_unicode_line_breaks_end_lines(brk: str) -> None:
    doc = brk.join(["Intro", "https://news.example/img/a.jpg", "/img/b.png", TWEET, "end"])
    assert [(i.url, doc[i.start:i.end]) for i in image_lines(doc)] == [
        ("https://news.example/img/a.jpg", "https://news.example/img/a.jpg"), ("/img/b.png", "/img/b.png")]
    assert [doc[s:e] for s, e, _ in url_lines(doc, unicode_breaks=True)] == [TWEET]
    # Not in HTML or Markdown, where such a character is one of the line's.
    assert url_lines(doc) == []
    assert [i.url for i in discover(doc, base_url="https://news.example/a/", fmt="text").images] == [
        "https://news.example/img/a.jpg", "https://news.example/img/b.png"]


def test_flattened_quotes_read_cr_lines() -> None:
    text = "x\r\r> a\r> b\r> c"
    assert run_start(text, text.index("> c"), 0) == text.index("> a")
    crlf = text.replace("\r", "\r\n")
    assert run_start(crlf, crlf.index("> c"), 0) == crlf.index("> a")
    lf = text.replace("\r", "\n")
    assert run_start(lf, lf.index("> c"), 0) == lf.index("> a")
    assert plain_markdown("> a\r> b  \r\n> c") == plain_markdown("> a\n> b  \n> c") == "a\nb\nc"


@pytest.mark.parametrize("ending", ["\r", "\r\n", "\u2028"])
def test_the_rewrite_of_a_plain_text_article_changes_only_the_url_spans(
        ending: str, tmp_settings: Callable[..., Settings]) -> None:
    with FixtureOrigin() as origin:
        origin.add_image("/img/a.jpg", make_image("le-a", 32, 24))
        origin.add_image("/img/b.png", make_image("le-b", 24, 32))
        base = origin.url("/a/story")
        doc = ending.join(["Intro \u0928\u092e\u0938\u094d\u0924\u0947", origin.url("/img/a.jpg") + " ", "",
                           "/img/b.png)", "end", ""])
        images = sorted(discover(doc, base_url=base, fmt="text").images, key=lambda i: i.start)
        assert [doc[i.start:i.end] for i in images] == [origin.url("/img/a.jpg"), "/img/b.png"]
        rt = Runtime.from_settings(tmp_settings(**origin.settings_overrides(),
                                                public_base_url="https://archive.example/media"))
        try:
            rep = archive(rt, doc.encode(), base_url=base, fmt="text")
            assert [i["status"] for i in rep["images"]] == ["archived", "archived"], rep["images"]
            stable = {i["url"]: i["stable_url"] for i in rep["images"]}
            new = rt.store.get(version_key(rep["article_id"], rep["version"])).decode()
        finally:
            rt.close()
    expected, pos = [], 0
    for i in images:
        expected += [doc[pos:i.start], stable[i.url]]
        pos = i.end
    assert new == "".join(expected) + doc[pos:]


@pytest.mark.parametrize("brk", ["\x0b", "\x0c", "\x85", "\u2028", "\u2029"])
def test_a_post_url_line_ended_by_a_unicode_break_is_found_in_a_plain_text_article(brk: str) -> None:
    url = "https://twitter.com/ANI/status/1945048830047662087"
    doc = f"Intro line{brk}{url}{brk}More text{brk}"
    found = discover(doc, base_url="https://news.example/a/", fmt="text").embeds
    assert [(e.post_id, doc[e.start:e.end]) for e in found] == [("1945048830047662087", url)]
