"""Image discovery: every attribute and convention, spans exactly the URL as written."""

from __future__ import annotations

from pathlib import Path

from archiver.discover.scan import discover

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
        ("https://cdn.example/a (1).png", "markdown", "a"),
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
