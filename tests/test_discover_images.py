"""Image discovery: every attribute and convention, spans exactly the URL as written."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from archiver.config.settings import Settings
from archiver.discover.scan import discover
from archiver.runners.local import archive
from archiver.runtime import Runtime
from archiver.storage.layout import version_key
from archiver.testing.fixture_origin import FixtureOrigin, make_image

FIXTURES = Path(__file__).parent / "fixtures" / "discover"
BASE = "https://www.example.com/story/"


def found(name: str) -> tuple[str, list]:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    images = discover(text, base_url=BASE).images
    for i in images:
        # the span is the URL as written: entities kept, JSON escapes kept
        assert text[i.start:i.end].replace("&amp;", "&").replace("\\/", "/") in (i.url, text[i.start:i.end])
    return text, images


def test_html_images() -> None:
    text, images = found("images.html")
    by_url = {i.url: i for i in images}
    assert by_url["https://cdn.example/og.jpg?a=1&b=2"].form == "og:image"
    assert text[by_url["https://cdn.example/og.jpg?a=1&b=2"].start:].startswith("https://cdn.example/og.jpg?a=1&amp;b=2\"")
    assert by_url["https://www.example.com/tw.jpg"].form == "twitter:image"
    assert by_url["https://cdn.example/og2.jpg"].form == "og:image"
    ld = [i for i in images if i.form == "json-ld"]
    assert [i.url for i in ld] == [
        "https://cdn.example/ld1.jpg", "https://cdn.example/ld2.jpg", "https://cdn.example/thumb.jpg",
        "https://cdn.example/obj.jpg", "https://cdn.example/content.jpg", "https://cdn.example/list.jpg"]
    assert text[ld[0].start:ld[0].end] == "https:\\/\\/cdn.example\\/ld1.jpg"
    assert "https://www.example.com/story" not in by_url  # a page url is not an image
    # base href resolved against the document URL
    pier = by_url["https://www.example.com/mail/2024/03/photos/pier.jpg"]
    assert text[pier.start:pier.end] == "photos/pier.jpg" and pier.credit == "Jo Rivera"
    assert "https://www.example.com/mail/2024/banner.png" not in by_url  # 1x1 pixel
    assert "https://img.example.net/x.jpg" in by_url
    plows = [i for i in images if i.url == "https://cdn.example/plow.jpg"]
    assert [i.form for i in plows] == ["data-src", "img-src"]  # lazy + noscript copy, never the placeholder
    assert plows[0].credit == "Jo Rivera/Pinecrest Observer"
    assert not any(i.url.startswith("data:") for i in images)
    srcset = [i.url for i in images if i.form == "srcset"]
    assert srcset == ["https://res.cloudinary.com/pinecrest/image/upload/c_scale,w_480/pier.jpg",
                      "https://res.cloudinary.com/pinecrest/image/upload/c_scale,w_960/pier.jpg"]
    wp = by_url["https://i2.wp.com/pinecrest.example/x.jpg?resize=640%2C427&ssl=1"]
    assert text[wp.start:wp.end] == "https://i2.wp.com/pinecrest.example/x.jpg?resize=640%2C427&amp;ssl=1"
    assert [i.url for i in images if i.form == "source-srcset"] == [
        "https://www.example.com/map.avif", "https://www.example.com/map-800.webp",
        "https://www.example.com/map-1600.webp"]
    assert not any("facebook.com/tr" in u for u in by_url)
    assert by_url["https://www.example.com/a.jpg"].credit == "Sam Lee"


def test_markdown_images() -> None:
    text, images = found("images.md")
    assert [(i.url, i.form, i.alt) for i in images] == [
        ("https://cdn.example/fit-in/900x0/filters:format(webp)/pier4.jpg", "markdown", "Pier 4"),
        ("https://cdn.example/a%20(1).png", "markdown", "a"),
        ("https://cdn.example/ref.jpg", "markdown-ref", "b"),
        ("https://cdn.example/c.jpg", "markdown-ref", "c"),
        ("https://www.example.com/s.jpg", "markdown-ref", "Shortcut"),
    ]
    assert text[images[0].start:images[0].end] == "https://cdn.example/fit-in/900x0/filters:format(webp)/pier4.jpg"
    embeds = discover(text).embeds  # the escaped shortcode in the fence and the inline link are not embeds
    assert [e.form for e in embeds] == ["url-line"]


def test_text_images() -> None:
    text, images = found("images-text.txt")
    assert [(i.url, text[i.start:i.end]) for i in images] == [
        ("https://www.example.com/media/2024/03/pier4-ice.jpg", "/media/2024/03/pier4-ice.jpg"),
        ("https://cdn.example/photos/plow.jpg", "https://cdn.example/photos/plow.jpg"),
    ]


def test_amp_images_and_noscript_copy() -> None:
    _, images = found("amp.html")
    assert [i.url for i in images].count("https://www.example.com/media/2024/03/pier4-ice.jpg") == 2
    assert len(images) == 4


def test_srcset_algorithm_edge_cases() -> None:
    from archiver.discover.tags import parse_srcset

    value = "a.jpg 1x,b.jpg 2x, c,d.jpg 3x , e.jpg,, f(1).jpg 100w"
    spans = parse_srcset(value, 0, len(value))
    assert [value[s:e] for s, e in spans] == ["a.jpg", "b.jpg", "c,d.jpg", "e.jpg", "f(1).jpg"]


def test_credit_conventions() -> None:
    doc = ('<img src="/1.jpg" alt="Plows on Route 9 (Jo Rivera / Pinecrest Observer)">'
           '<img src="/2.jpg" alt="Plows (Photo by Jo Rivera / AFP)">'
           '<img src="/3.jpg" alt="Just a description (2024)">')
    assert [i.credit for i in discover(doc).images] == ["Jo Rivera / Pinecrest Observer", "Jo Rivera / AFP", None]


# --- images written outside src, srcset and the lazy attributes (issue 14, kind 5) -----------------

CORPUS = Path(__file__).parent / "corpus" / "wild" / "images"


def spans(doc: str, fmt: str = "auto", base: str | None = None) -> list[tuple[str, str]]:
    """(URL, the text its span covers) of every image found, in document order."""
    found = discover(doc, base_url=base, fmt=fmt).images
    return [(i.url, doc[i.start:i.end]) for i in sorted(found, key=lambda i: i.start)]


def test_css_urls_in_style_attributes_and_blocks() -> None:
    doc = ('<style>\n@import url("/print.css") print;\n@import "/screen.css";\n'
           '@font-face{font-family:F;src:url(/f.woff2) format("woff2"),url(\'/f.ttf\')}\n'
           '.a{background:url( "/a b.jpg" ) no-repeat,URL(/b.png)}\n'
           '.c{background-image:-webkit-image-set(url(/c1.jpg) 1x,url(/c2.jpg) 2x);'
           'background-image:image-set("/c1.avif" 1x type("image/avif"),\'/c2.avif\' 2x)}\n'
           '/* .old{background:url(/commented.jpg)} */\n'
           '.d{content:"url(/in-a-string.jpg)";mask:url(/icons.svg#x);filter:url(#blur)}\n'
           '.e{background:url(data:image/png;base64,iVBORw0KGgo=)}\n'
           '.f{background:url(/esc\\(1\\).jpg)}\n'
           '</style>\n'
           '<div style="background-image:url(&quot;/q.jpg?a=1&amp;b=2&quot;)"></div>'
           "<div style='background: url(&#39;/s.jpg&#39;), url(\"/t.jpg\")'></div>"
           '<section style=background:url(/unquoted.jpg)></section>')
    assert spans(doc, base="https://news.example/") == [
        ("https://news.example/a%20b.jpg", "/a b.jpg"),
        ("https://news.example/b.png", "/b.png"),
        ("https://news.example/c1.jpg", "/c1.jpg"),
        ("https://news.example/c2.jpg", "/c2.jpg"),
        ("https://news.example/c1.avif", "/c1.avif"),
        ("https://news.example/c2.avif", "/c2.avif"),
        ("https://news.example/esc(1).jpg", "/esc\\(1\\).jpg"),
        ("https://news.example/q.jpg?a=1&b=2", "/q.jpg?a=1&amp;b=2"),
        ("https://news.example/s.jpg", "/s.jpg"),
        ("https://news.example/t.jpg", "/t.jpg"),
        ("https://news.example/unquoted.jpg", "/unquoted.jpg"),
    ]


def test_an_image_element_gives_src_and_every_lazy_source() -> None:
    doc = ('<img src="/lq-20x13.jpg" data-src="/full.jpg" srcset="/lq-40.jpg 40w" '
           'data-srcset="/full-800.jpg 800w, /full-1600.jpg 1600w" alt="Dock">'
           '<img src="data:image/gif;base64,R0lGOD" data-lazy-src="/lazy.jpg">'
           '<amp-anim src="https://anim.example/loop?id=7" width="400" height="300"></amp-anim>')
    assert [u for u, _ in spans(doc, base="https://news.example/")] == [
        "https://news.example/lq-20x13.jpg", "https://news.example/full.jpg", "https://news.example/lq-40.jpg",
        "https://news.example/full-800.jpg", "https://news.example/full-1600.jpg", "https://news.example/lazy.jpg",
        "https://anim.example/loop?id=7"]


def test_data_attributes_are_decided_by_their_value() -> None:
    doc = ('<figure data-zoom-target="https://news.example/z.jpg" data-hero="/h.webp?w=1200" '
           'data-pin-media="https://i.pinimg.example/p.png" data-whatever-name="/x/y.avif" '
           'data-permalink="https://news.example/2024/05/photo-page/" data-image-id="1*Qm2x.jpeg" '
           'data-meta="{&quot;file&quot;:&quot;/m.jpg&quot;}" data-caption="https://news.example/c.jpg is nice" '
           'data-responsive="/r-480.jpg 480w, /r-960.jpg 960w" data-bg="url(/bg.jpg)" '
           'data-cdn="https://images.unsplash.com/photo-1500375592092?auto=format" data-count="3"></figure>')
    assert [s for _, s in spans(doc)] == [
        "https://news.example/z.jpg", "/h.webp?w=1200", "https://i.pinimg.example/p.png", "/x/y.avif",
        "/r-480.jpg", "/r-960.jpg", "/bg.jpg", "https://images.unsplash.com/photo-1500375592092?auto=format"]


def test_links_posters_and_other_elements_that_show_an_image() -> None:
    doc = ('<a href="/big.JPG?x=1&amp;y=2">full size</a> <a href="/story/">story</a> <a href="/doc.pdf">pdf</a>'
           '<a href="https://pbs.twimg.com/media/GAbCdEf?format=jpg&amp;name=large">photo</a>'
           '<map><area href="/region.png" alt="r"></map>'
           '<video poster="/poster-frame" src="/v.mp4"></video>'
           '<amp-story standalone poster-portrait-src="/portrait.jpg" publisher-logo-src="/logo.png">'
           '<amp-story-page id="p1"><amp-story-grid-layer template="fill">'
           '<amp-img src="/page-1.jpg" width="720" height="1280"></amp-img></amp-story-grid-layer></amp-story-page>'
           '</amp-story>'
           '<table><tr><td background="/legacy-bg.gif">old</td></tr></table>'
           '<svg><image href="/inline.svg.png" width="10" height="10"/><use href="/sprite.svg#icon"/></svg>'
           '<link rel="preload" as="image" href="/preload.jpg"><script src="/app.js" data-img="/s.jpg"></script>')
    assert [s for _, s in spans(doc)] == [
        "/big.JPG?x=1&amp;y=2", "https://pbs.twimg.com/media/GAbCdEf?format=jpg&amp;name=large", "/region.png",
        "/poster-frame", "/portrait.jpg", "/logo.png", "/page-1.jpg", "/legacy-bg.gif", "/inline.svg.png"]


def test_urls_shown_as_text_code_comments_or_script_are_not_images() -> None:
    doc = ('<p>See https://news.example/a.jpg and /b.png</p>'
           '<pre><code>&lt;img src="/c.jpg"&gt;\nbackground: url(/d.jpg);</code></pre>'
           '<!-- <img src="/e.jpg"> <div style="background:url(/f.jpg)"></div> -->'
           '<script>var img = "<img src=\'/g.jpg\'>"; el.style.background = "url(/h.jpg)";</script>'
           '<textarea><img src="/i.jpg"></textarea><title>/j.jpg</title>'
           '<div title="background:url(/k.jpg)" class="/l.jpg"></div>'
           '<img src="/pixel.gif" width="1" height="1" style="background:url(/m.jpg)">'
           '<noscript><img src="/shown-without-script.jpg"></noscript>')
    assert [s for _, s in spans(doc)] == ["/shown-without-script.jpg"]


def test_markdown_links_to_image_files_and_references() -> None:
    doc = ("[![thumb](/t.jpg)](/full.jpg) [page](/story/) [file](/f.png \"title\") <https://cdn.example/a.webp>\n\n"
           "![ref image][r1] [linked][r2] [shortcut-img]\n\n"
           "```\n[x](/in-fence.jpg) <img src=\"/in-fence-html.jpg\">\n```\n\n"
           "[r1]: /r1.jpg\n[r2]: </r2.png>\n[shortcut-img]: /s.gif\n[unused]: /unused.jpg\n[page]: /p/\n")
    assert [s for _, s in spans(doc, fmt="markdown")] == [
        "/t.jpg", "/full.jpg", "/f.png", "https://cdn.example/a.webp", "/r1.jpg", "/r2.png", "/s.gif"]


def test_splicing_every_image_span_keeps_the_markup() -> None:
    """A rewrite replaces each URL as written; the rewritten article has the same images at the new
    URLs, and no tag, comment or style block was cut."""
    for case in sorted(p for p in CORPUS.iterdir() if p.suffix in (".html", ".md")):
        doc = case.read_text(encoding="utf-8")
        found = sorted(discover(doc, base_url="https://news.example/a/").images, key=lambda i: i.start)
        out, pos = [], 0
        for n, i in enumerate(found):
            out += [doc[pos:i.start], f"https://archive.example/m/{n}.jpg"]
            pos = i.end
        new = "".join(out) + doc[pos:]
        again = sorted(discover(new, base_url="https://news.example/a/").images, key=lambda i: i.start)
        assert [i.url for i in again] == [f"https://archive.example/m/{n}.jpg" for n in range(len(found))], case.name


def test_attribute_rule_is_linear() -> None:
    import time

    unit = '<div data-a="/x/1.jpg" style="background:url(/y.jpg)"><a href="/z.png">z</a></div>\n'
    t0 = time.thread_time()
    assert len(discover(unit * 2000).images) == 6000
    small = time.thread_time() - t0
    t0 = time.thread_time()
    assert len(discover(unit * 20000).images) == 60000
    assert time.thread_time() - t0 < 25 * small + 0.5
    for hostile in ["<div style=\"" + "url(" * 50000 + "\">" + "x.jpg " * 20000,
                    "<div style=\"" + "url(&quot;" * 50000 + "image-set(" * 50000 + "\">",
                    "<style>" + "url('" * 50000 + "/*" * 50000,
                    "<div data-x=\"" + "/a.jpg 1x, " * 50000 + "\">",
                    "<div data-bgset=\"" + "/a.jpg [(x)] | " * 50000 + "\">",
                    "<div data-bgset=\"/a.jpg 1x " + "[" * 50000 + "a" * 50000 + "]\">",
                    "[![a](b.jpg)](" * 20000, "[a](<x.jpg " * 50000, "<a href=x.jpg>" * 50000]:
        t0 = time.thread_time()
        discover(hostile)
        assert time.thread_time() - t0 < 5, hostile[:40]


@pytest.mark.parametrize("name", ["wp-cover-gallery-lazy.html", "amp-article.html", "markdown-linked-and-reference.md"])
def test_corpus_images_are_archived_and_rewritten(name: str, tmp_settings: Callable[..., Settings]) -> None:
    """End to end against the fixture origin: every image URL found is archived and its span, and only
    its span, points at the stable copy in the new version."""
    with FixtureOrigin() as origin:
        # Every absolute host of the case becomes a path on the origin (relative URLs follow the base).
        doc = re.sub(r"https://([a-z0-9.-]+\.(?:example|com))/", lambda m: origin.url(f"/{m.group(1)}/"),
                     (CORPUS / name).read_text(encoding="utf-8"))
        base = origin.url("/news.example/2024/05/story/")
        found = sorted(discover(doc, base_url=base).images, key=lambda i: i.start)
        assert len(found) >= 9
        for n, i in enumerate({i.url: None for i in found}):
            origin.add_image(urlsplit(i).path, make_image(f"{name}-{n}", 64, 48))
        rt = Runtime.from_settings(tmp_settings(**origin.settings_overrides(),
                                                public_base_url="https://archive.example/media"))
        try:
            rep = archive(rt, doc.encode(), base_url=base)
            stable = {i["url"]: i["stable_url"] for i in rep["images"]}
            assert all(i["status"] == "archived" for i in rep["images"]), rep["images"]
            assert set(stable) == {i.url for i in found}
            new = rt.store.get(version_key(rep["article_id"], rep["version"])).decode()
        finally:
            rt.close()
    expected, pos = [], 0
    for i in found:
        expected += [doc[pos:i.start], stable[i.url]]
        pos = i.end
    assert new == "".join(expected) + doc[pos:]
    assert all(u.startswith("https://archive.example/media/") for u in stable.values())


def test_a_block_comment_names_the_image_too_so_the_block_stays_valid() -> None:
    """The block editor rebuilds a Cover or Media & Text block from its comment's attributes and flags
    the block invalid when the markup differs: the comment's image URL is an occurrence as well, and
    a JSON-escaped one counts as written (WordPress escapes "&" as \\u0026); a non-image value is left
    alone; a wp: comment inside a script is no block."""
    from archiver.discover.scan import discover

    doc = ('<!-- wp:cover {"url":"https://n.example/u/a.jpg","id":1} -->\n<div class="wp-block-cover">'
           '<img class="wp-block-cover__image-background" src="https://n.example/u/a.jpg"></div>\n'
           '<!-- /wp:cover -->\n<!-- wp:media-text {"mediaUrl":"https:\\/\\/n.example\\/u\\/b.jpg","href":"https://n.example/p"}'
           ' -->\n<div class="wp-block-media-text"><figure><img src="https://n.example/u/b.jpg"></figure></div>\n'
           '<!-- /wp:media-text -->\n'
           '<script>var s = \'<!-- wp:cover {"url":"https://n.example/u/c.jpg"} -->\';</script>\n')
    got = [(i.form, doc[i.start:i.end]) for i in sorted(discover(doc).images, key=lambda i: i.start)]
    assert got == [("block-comment", "https://n.example/u/a.jpg"), ("img-src", "https://n.example/u/a.jpg"),
                   ("block-comment", "https:\\/\\/n.example\\/u\\/b.jpg"), ("img-src", "https://n.example/u/b.jpg")]


def test_markdown_image_with_a_size_markdown_it_imsize() -> None:
    """markdown-it-imsize writes a size after the URL (``=600x400``, ``=600x``, ``=x400``, before or
    after a title); the image is found and its span is the URL alone."""
    doc = ('# x\n\n![Wide](/img/wide-o.jpg =600x400)\n\n![a](/a.png =x40 "Title")\n\n'
           '![b](/b.png "Title" =50%x)\n\n[c](/c.jpg =600x400)\n\n![d](/d.jpg =big)\n')
    assert spans(doc, base="https://n.example/") == [
        ("https://n.example/img/wide-o.jpg", "/img/wide-o.jpg"), ("https://n.example/a.png", "/a.png"),
        ("https://n.example/b.png", "/b.png"), ("https://n.example/c.jpg", "/c.jpg")]


def test_a_placeholder_src_is_an_occurrence_whatever_its_name() -> None:
    """src and the lazy source are both occurrences; no image is dropped by its file name (a real
    image may be called loading.gif), only by a 1x1 size or an analytics host."""
    doc = ('<p><img class="lazy" src="/img/grey.gif" data-original="/u/photo-d.jpg" width="640"></p>'
           '<img src="/blank.gif" data-src="/u/e.jpg"><img src="/placeholder.png" data-lazy-src="/u/f.jpg">'
           '<img src="/assets/loading.gif" alt="Loading screen of the game">'
           '<img src="/spacer-1x1.gif" data-src="/u/g.jpg">'
           '<a href="/img/transparent.png">t</a><div style="background:url(/lazy.svg)"></div>'
           '<img src="/pixel.gif" width="1" height="1"><img src="https://www.facebook.com/tr?id=1&amp;ev=x">')
    assert [s for _, s in spans(doc)] == [
        "/img/grey.gif", "/u/photo-d.jpg", "/blank.gif", "/u/e.jpg", "/placeholder.png", "/u/f.jpg",
        "/assets/loading.gif", "/spacer-1x1.gif", "/u/g.jpg", "/img/transparent.png", "/lazy.svg"]
    md = "![loading](/img/loading.gif) [x](/img/blank.png)\n"
    assert [s for _, s in spans(md, fmt="markdown")] == ["/img/loading.gif", "/img/blank.png"]


def test_a_video_file_is_no_image_even_on_an_image_cdn() -> None:
    doc = ('<video poster="https://i.imgur.com/AbCdEft.jpg"><source src="https://i.imgur.com/AbCdEft.mp4" '
           'type="video/mp4"></video><a href="https://i.imgur.com/AbCdEft.gifv">gifv</a>'
           '<a href="https://i.imgur.com/AbCdEft.webm">w</a><a href="https://i.imgur.com/AbCdEft.png">png</a>')
    assert [s for _, s in spans(doc)] == ["https://i.imgur.com/AbCdEft.jpg", "https://i.imgur.com/AbCdEft.png"]


def test_lazysizes_bgset_lists_are_images() -> None:
    """lazysizes' data-bgset: srcsets joined by "|", each with an optional [media] condition; every URL
    is an occurrence, the span the URL alone. A data-* value holding prose or a bare name is none."""
    doc = ('<div class="lazyload" data-bgset="/i/z-480.jpg [(max-width: 480px)] | /i/z-1200.jpg" '
           'data-sizes="auto"></div>'
           '<div data-bgset="/i/a-200.jpg 200w, /i/a-300.jpg 300w [--small] | /i/b.jpg [(min-width: 40em)]"></div>'
           '<div data-bgset="https://cdn.example/c.jpg?w=1&amp;h=2 [(orientation: portrait)]"></div>'
           '<div data-caption="/i/d.jpg | a view [of the bay]" data-image-id="1*e.jpeg [x]"></div>')
    assert spans(doc, base="https://n.example/") == [
        ("https://n.example/i/z-480.jpg", "/i/z-480.jpg"), ("https://n.example/i/z-1200.jpg", "/i/z-1200.jpg"),
        ("https://n.example/i/a-200.jpg", "/i/a-200.jpg"), ("https://n.example/i/a-300.jpg", "/i/a-300.jpg"),
        ("https://n.example/i/b.jpg", "/i/b.jpg"),
        ("https://cdn.example/c.jpg?w=1&h=2", "https://cdn.example/c.jpg?w=1&amp;h=2")]


def test_svg_images_and_image_buttons_are_image_elements() -> None:
    """SVG <image> and <feImage> name their image with href or xlink:href, an image button with src:
    the URL is an image whatever it looks like (no extension needed); such a fragment alone is read
    as HTML. <use href> is a sprite reference, an <input> of another type no image."""
    doc = ('<svg viewBox="0 0 100 100"><image href="/uploads/diagram-f.png" width="100" height="100"/>'
           '<image xlink:href="/uploads/diagram-g.png"/><IMAGE href="https://cdn.example/render?id=3"/>'
           '<filter id="t"><feImage href="/textures/paper"/></filter><use href="/sprite.svg#icon"/></svg>'
           '<input type="image" src="/img/submit" alt="Go"><input type="IMAGE" src="/img/go.png">'
           '<input type="text" value="/img/typed.jpg"><input type="submit" src="/img/not-shown">')
    assert spans(doc, base="https://n.example/") == [
        ("https://n.example/uploads/diagram-f.png", "/uploads/diagram-f.png"),
        ("https://n.example/uploads/diagram-g.png", "/uploads/diagram-g.png"),
        ("https://cdn.example/render?id=3", "https://cdn.example/render?id=3"),
        ("https://n.example/textures/paper", "/textures/paper"),
        ("https://n.example/img/submit", "/img/submit"), ("https://n.example/img/go.png", "/img/go.png")]
    for alone in ('<svg><image href="/a.png"/></svg>', '<input type="image" src="/b.png">'):
        assert [s for _, s in spans(alone)] == [alone.split('"')[-2]]


def test_front_matter_images_are_found_whatever_their_key() -> None:
    """A Jekyll/Hugo page's lead and social images live in its front matter, which the theme shows:
    each value there that is an image file is an occurrence (quoted or not, in a list, YAML or TOML);
    other values, front matter never closed, and a "---" later in the text are not."""
    doc = ('---\ntitle: "Ice out on Pier 4"\nimage: /img/lead.jpg\ncover_image: "https://cdn.example/c.webp"\n'
           "images:\n  - /img/a.png\n  - '/img/b.jpg'  # second\nurl: /news/ice.html\nauthor: desk.png.writer\n"
           "---\n\n# Ice out\n\nBody ![x](/img/body.jpg)\n")
    assert spans(doc, base="https://news.example/") == [
        ("https://news.example/img/lead.jpg", "/img/lead.jpg"), ("https://cdn.example/c.webp", "https://cdn.example/c.webp"),
        ("https://news.example/img/a.png", "/img/a.png"), ("https://news.example/img/b.jpg", "/img/b.jpg"),
        ("https://news.example/img/body.jpg", "/img/body.jpg")]
    toml = '+++\ntitle = "Ice"\nfeatured_image = "/img/t.jpg"\n+++\nBody\n'
    assert spans(toml, fmt="markdown", base="https://news.example/") == [
        ("https://news.example/img/t.jpg", "/img/t.jpg")]
    unclosed = "---\nimage: /img/lead.jpg\n\n# Body with no closing line\n"
    later = "# Title\n\n---\nimage: /img/lead.jpg\n---\n"
    assert spans(unclosed, fmt="markdown") == [] and spans(later, fmt="markdown") == []


def test_a_scaled_amp_image_is_no_tracking_pixel() -> None:
    """In a scaling AMP layout width and height are an aspect ratio (1x1: a square); an image offering
    several widths is no beacon either. A fixed 1x1 image still is one."""
    doc = ('<p>x</p><amp-img src="/uploads/square.jpg" width="1" height="1" layout="responsive"></amp-img>'
           '<amp-img srcset="/h-640.jpg 640w, /h-1280.jpg 1280w" width="1" height="1" layout="fill"></amp-img>'
           '<img src="/r.jpg" srcset="/r-2x.jpg 2x" width="1" height="1"><img src="/px.gif" width="1" height="1">')
    assert sorted(i.url for i in discover(doc, base_url=BASE).images) == sorted([
        "https://www.example.com/r-2x.jpg", "https://www.example.com/r.jpg", "https://www.example.com/h-1280.jpg", "https://www.example.com/h-640.jpg",
        "https://www.example.com/uploads/square.jpg"])


@pytest.mark.parametrize("href", ["http://[::1", "javascript:void(0)//", "data:text/html,x", "http://a:99999/"])
def test_a_base_href_that_is_no_usable_url_falls_back_to_the_article_url(href: str) -> None:
    doc = f'<base href="{href}"><p>x</p><img src="photos/pier.jpg">'
    assert [i.url for i in discover(doc, base_url=BASE).images] == [BASE + "photos/pier.jpg"]
    doc = '<base href="https://cdn.example/a/"><p>x</p><img src="photos/pier.jpg">'
    assert [i.url for i in discover(doc, base_url=BASE).images] == ["https://cdn.example/a/photos/pier.jpg"]


def test_expressions_are_no_image_urls() -> None:
    """A JSX expression (MDX: ``src={pier}``) or a template's placeholder names no URL yet."""
    doc = ("import pier from './pier.jpg'\n\n# Ice out\n\n<Image src={pier} alt=\"Pier 4\" />\n"
           '<img src="{{ page.image }}"><img src="${cover}"><img src="{% static \'a.jpg\' %}"><img src="/real.jpg">\n')
    assert [i.url for i in discover(doc, base_url=BASE).images] == ["https://www.example.com/real.jpg"]


def test_a_document_opening_with_a_heading_is_markdown_and_its_code_shows_html() -> None:
    status = "https://twitter.com/a/status/1764927578469150481"
    for head in ("", "---\ntitle: How to\n---\n", "\ufeff"):
        doc = (f"{head}# How to embed a post\n\nPaste `<blockquote class=\"twitter-tweet\"><a href=\"{status}\">"
               "</a></blockquote>` into the HTML block.\n\n    <img src=\"/code.jpg\">\n\n<img src=\"/shown.jpg\">\n")
        found = discover(doc, base_url=BASE)
        assert found.embeds == [] and [i.url for i in found.images] == ["https://www.example.com/shown.jpg"], head


def test_a_bad_css_url_is_no_image_and_is_read_once() -> None:
    """A quote or "(" inside an unquoted url( makes a bad URL (CSS Syntax §4.3.6), up to its ")": no
    image (``url(url(url(`` gave one image "url" per opening)."""
    doc = '<p>x</p><div style="background:url(a(b).jpg); x:url( c.jpg ); y:url(d\'e.jpg)"></div>'
    assert [i.url for i in discover(doc, base_url=BASE).images] == [BASE + "c.jpg"]
    assert discover('<p>x</p><div style="' + "url(" * 50_000 + '"></div>', base_url=BASE).images == []


def test_markdown_targets_after_a_line_break_and_first_definitions_only() -> None:
    """CommonMark: spaces and one line ending may stand before an inline target; a label's first
    definition is its only one (a second is ordinary text)."""
    doc = ("# Ice\n\n![a](\n  https://cdn.example/nl.jpg\n)\n\n![b](\r\nhttps://cdn.example/crlf.jpg)\n\n"
           "![c](\n\nhttps://cdn.example/not-a-target.jpg)\n\n![r][r]\n\n[r]: https://cdn.example/first.jpg\n"
           "[r]: https://cdn.example/second.jpg\n")
    assert [i.url for i in discover(doc, base_url=BASE).images] == [
        "https://cdn.example/nl.jpg", "https://cdn.example/crlf.jpg", "https://cdn.example/first.jpg"]
