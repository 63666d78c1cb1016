"""Discovery by the specifications it reads: CSS Syntax Level 3 (url tokens and escapes), CommonMark
(line endings, character references and backslash escapes in destinations), the HTML Standard
(character references in attribute values); and the rewrite keeping an image URL's fragment."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from archiver.config.settings import Settings
from archiver.discover.scan import discover
from archiver.runners.local import archive
from archiver.runtime import Runtime
from archiver.storage.layout import version_key
from archiver.testing.fixture_origin import FixtureOrigin, make_image

BASE = "https://news.example/a/"


def spans(doc: str, fmt: str = "auto", base: str | None = BASE) -> list[tuple[str, str]]:
    """(URL, the text its span covers) of every image found, in document order."""
    found = discover(doc, base_url=base, fmt=fmt).images
    return [(i.url, doc[i.start:i.end]) for i in sorted(found, key=lambda i: i.start)]


# --- 1. CSS escapes (CSS Syntax §4.3.6 consume a url token, §4.3.7 consume an escaped code point) --


@pytest.mark.parametrize(("written", "url"), [
    ("/img/p\\33 .png", "https://news.example/img/p3.png"),  # the space ends the escape, not the URL
    ("/img/p\\33\t.png", "https://news.example/img/p3.png"),
    ("/img/p\\000033 .png", "https://news.example/img/p3.png"),  # six digits, then its one space
    ("/img/p\\33\r\n.png", "https://news.example/img/p3.png"),  # CR LF is one white space
    ("/img/\\70 1.png", "https://news.example/img/p1.png"),
    ("/img/p\\33 ", "https://news.example/img/p3"),  # the escape's space stays in the span
])
def test_an_unquoted_css_url_holds_its_escapes_whole(written: str, url: str) -> None:
    for doc in (f"<style>.b{{background:url({written})}}</style>",
                f'<div style="background:url({written})">y</div>',
                f"<style>.b{{background:url(  {written}  )}}</style>"):
        assert spans(doc) == [(url, written)], doc


def test_an_escaped_space_is_part_of_the_url_and_escapes_read_in_linear_time() -> None:
    assert spans("<style>.b{background:url(/img/a\\ b.png)}</style>") == [
        ("https://news.example/img/a%20b.png", "/img/a\\ b.png")]
    assert spans("<style>.b{background:url(/img/\\70 \\ 1.png)}</style>") == [
        ("https://news.example/img/p%201.png", "/img/\\70 \\ 1.png")]
    for hostile in ["<style>" + "a{b:url(\\33 " * 50_000 + "</style>",
                    "<style>" + "url(x \\" * 50_000 + "</style>",
                    '<style>url("' + "\\\r\n" * 100_000 + "</style>",
                    '<div style="' + "url(\\31 \\" * 50_000 + '">']:
        t0 = time.thread_time()
        discover(hostile)
        assert time.thread_time() - t0 < 5, hostile[:40]


@pytest.mark.parametrize("doc", [
    "<style>.b{background:url(/img/p.png x)}</style>",  # white space, then no ")": a bad URL
    "<style>.b{background:url(/img/p\\\n.png)}</style>",  # an escaped newline is no escape in a url token
    "<style>.b{background:url(/img/p\x01.png)}</style>",  # a non-printable code point
    '<div style="background:url(/img/p.png &quot;x&quot;)">y</div>',
])
def test_a_bad_unquoted_css_url_is_no_image(doc: str) -> None:
    assert spans(doc) == []


def test_a_style_attribute_is_decoded_before_its_css_is_read() -> None:
    """HTML decodes the attribute value, then CSS reads it: white space written as a reference ends an
    unquoted URL (or makes it bad), and the span maps back to the value as written."""
    assert spans('<div style="background:url(/img/a&#32;b.png)">x</div>') == []
    assert spans('<div style="background:url(/img/p\\33&#32;.png)">x</div>') == [
        ("https://news.example/img/p3.png", "/img/p\\33&#32;.png")]
    assert spans('<div style="background:url(/img/q.png&#x20;)">x</div>') == [
        ("https://news.example/img/q.png", "/img/q.png")]
    assert spans('<div style="background:url(&apos;/img/r.png?a=1&amp;b=2&apos;)">x</div>') == [
        ("https://news.example/img/r.png?a=1&b=2", "/img/r.png?a=1&amp;b=2")]


def test_a_bad_url_swallows_an_escaped_parenthesis() -> None:
    """The remnants of a bad URL run to an unescaped ")": the escaped one inside it ends nothing."""
    doc = "<style>.b{background:url(/x y\\) url(/img/z.png))} .c{background:url(/img/ok.png)}</style>"
    assert spans(doc) == [("https://news.example/img/ok.png", "/img/ok.png")]


@pytest.mark.parametrize(("written", "url"), [
    ("/img/p\\33 ", "https://news.example/img/p3"),  # the escape's space is no trailing white space
    ("/img/p\\\r\n3.png", "https://news.example/img/p3.png"),  # an escaped CR LF is dropped, string goes on
])
def test_a_quoted_css_url_decodes_its_escapes(written: str, url: str) -> None:
    for q in ('"', "'"):
        assert spans(f"<style>.b{{background:url({q}{written}{q})}}</style>") == [(url, written)]
    for more, its_url in (("/img/p\\33 .png", "https://news.example/img/p3.png"),
                          ("/img/p\\\r3.png", "https://news.example/img/p3.png")):
        assert spans(f"<style>.b{{background:url('{more}')}}</style>") == [(its_url, more)]


def test_a_string_ends_at_a_lone_cr_or_ff_and_an_escaped_quote_ends_no_import() -> None:
    """A newline (LF, CR or FF, CSS Syntax §3.3) ends a string as a bad string: the url( holding it
    names nothing; an escaped newline continues it. @import strings read with their escapes."""
    assert spans('<style>.b{background:url("/img/a.png\r/img/b.png")}</style>') == []
    assert spans('<style>.b{background:url("/img/a.png\f")}</style>') == []
    doc = '<style>@import "x\\";.q{background:url(/img/no.png)}";.c{background:url(/img/c.png)}</style>'
    assert spans(doc) == [("https://news.example/img/c.png", "/img/c.png")]


# --- 2. Markdown line endings: LF, CR or CR LF (CommonMark §2.1) ------------------------------------


def test_markdown_reads_cr_and_crlf_line_endings_as_lf() -> None:
    lines = ["x", "", "![r][r1]", "", "[r1]: /img/p2.png", "", "    ![code](/img/p5.png)", "", "end",
             "", "```", "![fenced](/img/p6.png)", "```", "", "`![span](/img/p7.png)`", "", "![ok](/img/p8.png)", ""]
    lf = spans("\n".join(lines), fmt="markdown")
    assert lf == [("https://news.example/img/p2.png", "/img/p2.png"),
                  ("https://news.example/img/p8.png", "/img/p8.png")]
    assert spans("\r".join(lines), fmt="markdown") == lf
    assert spans("\r\n".join(lines), fmt="markdown") == lf
    assert spans("\r\n".join(lines).replace("\r\n\r\n", "\r\r\n"), fmt="markdown") == lf  # mixed


# --- 3. Markdown destinations: entity and numeric references (§2.5), backslash escapes (§2.4) --------


@pytest.mark.parametrize(("written", "url"), [
    ("/img/p1.png?a=1&amp;b=2", "https://news.example/img/p1.png?a=1&b=2"),
    ("/img/j2&#46;jpg", "https://news.example/img/j2.jpg"),
    ("/img/j2&#x2E;jpg", "https://news.example/img/j2.jpg"),
    ("/img/a\\&amp;b.jpg", "https://news.example/img/a&amp;b.jpg"),  # an escaped "&" starts no reference
    ("/img/a\\_b\\*c.jpg", "https://news.example/img/a_b*c.jpg"),
])
def test_markdown_destinations_are_decoded_and_spans_stay_raw(written: str, url: str) -> None:
    assert spans(f"![a]({written})\n", fmt="markdown") == [(url, written)]
    assert spans(f"![a](<{written}>)\n", fmt="markdown") == [(url, written)]
    assert spans(f"![a][r]\n\n[r]: {written}\n", fmt="markdown") == [(url, written)]
    assert spans(f'![a]({written} "t &amp; t")\n', fmt="markdown") == [(url, written)]


def test_markdown_links_to_images_are_decoded_before_they_are_judged() -> None:
    """A link is an image when its target names one: ``photo&#46;jpg`` is ``photo.jpg``; a reference
    needs its ";" (``&copy`` stays as written)."""
    doc = "[see](/img/photo&#46;jpg) and [def][d]\n\n[d]: /img/other&#x2e;png\n"
    assert spans(doc, fmt="markdown") == [("https://news.example/img/photo.jpg", "/img/photo&#46;jpg"),
                                          ("https://news.example/img/other.png", "/img/other&#x2e;png")]
    doc = "see <https://cdn.example/a\\_b.jpg?x=1&amp;y=2>\n"  # an autolink: references only (§6.5)
    assert spans(doc, fmt="markdown") == [
        ("https://cdn.example/a\\_b.jpg?x=1&y=2", "https://cdn.example/a\\_b.jpg?x=1&amp;y=2")]
    assert spans("![a](/img/a&copy.jpg)\n", fmt="markdown") == [
        ("https://news.example/img/a&copy.jpg", "/img/a&copy.jpg")]


def test_markdown_image_description_is_decoded() -> None:
    found = discover("![Pier &amp; dock (Jo Rivera / AFP)](/p.jpg)\n", base_url=BASE, fmt="markdown").images
    assert [(i.alt, i.credit) for i in found] == [("Pier & dock (Jo Rivera / AFP)", "Jo Rivera / AFP")]


# --- 4. Attribute values: the HTML Standard's named character reference state -----------------------


@pytest.mark.parametrize(("written", "url"), [
    ("/img/p1.png?w=1&region=eu&copy=2", "https://news.example/img/p1.png?w=1&region=eu&copy=2"),
    ("/img/p1.png?a&copy2", "https://news.example/img/p1.png?a&copy2"),  # a legacy name, then a digit
    ("/img/p1.png?a&notit;=1", "https://news.example/img/p1.png?a&notit;=1"),  # "&not", then a letter
])
def test_attribute_values_decode_references_as_browsers_do(written: str, url: str) -> None:
    for doc in (f'<img src="{written}">', f'<img srcset="{written} 2x">', f'<div data-src="{written}">x</div>',
                f'<meta property="og:image" content="{written}">', f'<a href="{written}">x</a>',
                f'<div style="background:url({written})">x</div>',
                f"<div style='background:url(\"{written}\")'>x</div>"):
        assert spans(doc) == [(url, written)], doc


def test_a_base_href_is_decoded_by_the_attribute_rule_and_references_still_decode() -> None:
    doc = '<base href="https://cdn.example/x?a&region=1/"><img src="p.png">'
    assert spans(doc) == [("https://cdn.example/p.png", "p.png")]
    doc = '<base href="https://cdn.example/d&copy=1/"><img src="p.png">'
    assert spans(doc) == [("https://cdn.example/d&copy=1/p.png", "p.png")]
    for written, url in (("/img/p1.png?a=1&amp;b=2", "https://news.example/img/p1.png?a=1&b=2"),
                         ("/img/p1.png?c=&copy", "https://news.example/img/p1.png?c=\u00a9"),  # at the end
                         ("/img/p1.png?c=&copy;x", "https://news.example/img/p1.png?c=\u00a9x")):
        assert spans(f'<img src="{written}">') == [(url, written)]
        assert spans(f'<div style="background:url({written})">x</div>') == [(url, written)]


# --- 5 and end to end: only the URL spans change, an image's fragment kept --------------------------

_ARTICLE = (
    '<!doctype html><meta charset=utf-8>\n<style>.b{background:url(/img/p\\33 .png)}</style>\n'
    '<div style="background:url(/img/q\\34 .png)">y</div>\n'
    '<img src="/img/r.png?w=1&region=eu&copy=2" alt="a">\n'
    '<img src="/img/f.png#xywh=0,0,10,10">\n<img src="/img/g.png#xywh=1,1,5,5&amp;t=2">\n'
    '<p>end &copy; 2025</p>\n'
)
_MARKDOWN = "x\r\r![r][r1]\r\r[r1]: /img/m1.png\r\r    ![code](/img/m5.png)\r\r![e](/img/m2.png?a=1&amp;b=2)\r\rend\r"


@pytest.mark.parametrize(("doc", "fmt", "paths"), [
    (_ARTICLE, "html", {"/img/p3.png", "/img/q4.png", "/img/r.png", "/img/f.png", "/img/g.png"}),
    (_MARKDOWN, "markdown", {"/img/m1.png", "/img/m2.png"}),
])
def test_rewrite_changes_only_the_url_spans_and_keeps_fragments(
        doc: str, fmt: str, paths: set[str], tmp_settings: Callable[..., Settings]) -> None:
    with FixtureOrigin() as origin:
        base = origin.url("/a/story")
        found = sorted(discover(doc, base_url=base, fmt=fmt).images, key=lambda i: i.start)
        assert {urlsplit(i.url).path for i in found} == paths
        for n, path in enumerate(sorted(paths)):
            origin.add_image(path, make_image(f"spec-{n}", 32, 24))
        rt = Runtime.from_settings(tmp_settings(**origin.settings_overrides(),
                                                public_base_url="https://archive.example/media"))
        try:
            rep = archive(rt, doc.encode(), base_url=base, fmt=fmt)
            stable = {i["url"]: i["stable_url"] for i in rep["images"]}
            assert all(i["status"] == "archived" for i in rep["images"]), rep["images"]
            new = rt.store.get(version_key(rep["article_id"], rep["version"])).decode()
            again = archive(rt, new.encode(), base_url=base, fmt=fmt)  # archiving it again changes nothing
            assert rt.store.get(version_key(again["article_id"], again["version"])).decode() == new
        finally:
            rt.close()
    expected, pos = [], 0
    for i in found:
        written = doc[i.start:i.end]
        fragment = written[written.index("#"):] if "#" in written else ""
        expected += [doc[pos:i.start], stable[i.url.split("#", 1)[0]] + fragment]   # one item per resource
        pos = i.end
    assert new == "".join(expected) + doc[pos:]
    if fmt == "html":
        assert origin.url("/img/r.png?w=1&region=eu&copy=2") in stable
        assert "#xywh=0,0,10,10\">" in new and "#xywh=1,1,5,5&amp;t=2\">" in new
        assert "url(https://archive.example/media/" in new and " .png)" not in new


def test_one_image_under_many_fragments_is_one_item_fetched_once(tmp_settings: Callable[..., Settings]) -> None:
    """An SVG sprite or a media fragment names a part of one resource: one item, one fetch, and each
    occurrence keeps its own fragment in the rewrite (was one item per fragment: 8,000 sprite uses
    took 18 s, 60,000 more than 10 minutes)."""
    with FixtureOrigin() as origin:
        origin.add_image("/img/sprite.png", make_image("sprite", 32, 24))
        doc = "".join(f'<img src="/img/sprite.png#i{n}">\n' for n in range(300))
        rt = Runtime.from_settings(tmp_settings(**origin.settings_overrides(),
                                                public_base_url="https://archive.example/media"))
        try:
            rep = archive(rt, doc.encode(), base_url=origin.url("/a/story"))
            [image] = rep["images"]
            assert image["status"] == "archived" and image["occurrences"] == 300
            assert image["url"] == origin.url("/img/sprite.png")
            new = rt.store.get(version_key(rep["article_id"], rep["version"])).decode()
        finally:
            rt.close()
    assert new == "".join(f'<img src="{image["stable_url"]}#i{n}">\n' for n in range(300))
