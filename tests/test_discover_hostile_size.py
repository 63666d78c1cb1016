"""Hostile article markup that once made discovery super-linear: thousands of srcdoc frames, elements of
one embed construct nested thousands deep, nested figures. What is found, and its spans, stay exact;
what a limit leaves unread is reported. (Speed is measured in benchmarks, not asserted here.)"""

from __future__ import annotations

import random
import re

import pytest

from archiver.discover import html_images, srcdoc
from archiver.discover.scan import discover

TWEET = ('<blockquote class="twitter-tweet"><p>Hi</p>&mdash; A (@a) '
         '<a href="https://twitter.com/a/status/1764927578469150481">March 5, 2024</a></blockquote>')


def _frame(i: int) -> str:
    return f'<iframe srcdoc="&lt;img src=&quot;/f{i}.jpg&quot;&gt;"></iframe>\n'


def test_srcdoc_documents_past_the_limit_are_reported_and_nothing_else_is_lost(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(srcdoc, "MAX_DOCUMENTS", 20)
    doc = "<p>x</p>" + "".join(_frame(i) for i in range(25)) + '<img src="/own.jpg">\n' + TWEET
    found = discover(doc, "https://news.example/a")
    urls = [i.url for i in found.images]
    assert urls == [f"https://news.example/f{i}.jpg" for i in range(20)] + ["https://news.example/own.jpg"]
    for image in found.images:  # spans: the URL as written (escaped) in the article
        assert doc[image.start:image.end] == image.url.removeprefix("https://news.example")
    assert [e.post_id for e in found.embeds] == ["1764927578469150481"]
    assert doc[found.embeds[0].start:found.embeds[0].end] == TWEET
    assert len(found.limits) == 1 and found.limits[0].startswith("5 iframe srcdoc document(s) not read")
    assert found.to_json()["limits"] == found.limits


def test_srcdoc_documents_of_every_depth_count_towards_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(srcdoc, "MAX_DOCUMENTS", 3)
    inner = "".join(_frame(i) for i in range(4)).replace("&", "&amp;").replace('"', "&quot;")
    doc = f'<iframe srcdoc="{inner}"></iframe>' + _frame(9)
    found = discover(doc, "https://news.example/a")
    # the outer frame, then two of its four: three read; two of its own and the last outer one not
    assert [i.url for i in found.images] == ["https://news.example/f0.jpg", "https://news.example/f1.jpg"]
    assert found.limits and found.limits[0].startswith("3 iframe srcdoc document(s) not read")


def test_an_article_within_the_limit_reports_nothing() -> None:
    doc = "".join(_frame(i) for i in range(50))
    found = discover(doc, "https://news.example/a")
    assert len(found.images) == 50 and found.limits == []
    assert set(found.to_json()) == {"embeds", "images"}


@pytest.mark.parametrize("cls", ["twitter-tweet", "embedly-card"])
def test_embed_blockquotes_nested_thousands_deep_are_one_embed(cls: str) -> None:
    n = 3000
    link = '<a href="https://twitter.com/a/status/1764927578469150481">March 5, 2024</a>'
    doc = "<p>x</p>\n" + f'<blockquote class="{cls}"><p>Hi</p>&mdash; A (@a) {link}' * n + "</blockquote>" * n
    (e,) = discover(doc).embeds
    assert (e.provider, e.post_id, e.start, e.end) == ("twitter", "1764927578469150481", 9, len(doc))


def test_unclosed_embed_blockquotes_are_each_an_embed() -> None:
    n = 5000
    one = ('<blockquote class="twitter-tweet"><p>Hi</p>&mdash; A (@a) '
           '<a href="https://twitter.com/a/status/{}">March 5, 2024</a>')
    doc = "".join(one.format(i + 1) for i in range(n))
    found = discover(doc).embeds
    assert [e.post_id for e in found] == [str(i + 1) for i in range(n)]
    starts = [m.start() for m in re.finditer("<blockquote", doc)]
    assert [(e.start, e.end) for e in found] == list(zip(starts, [*starts[1:], len(doc)], strict=True))
    assert discover("<blockquote>" * 50_000 + "<blockquote>\n" * 50_000).embeds == []


def test_nested_embed_constructs_keep_what_the_outer_ones_read() -> None:
    link = '<a href="https://twitter.com/a/status/{}">March 5, 2024</a>'
    # an outer blockquote without its own link takes the post of the one inside it
    doc = ('<blockquote class="twitter-tweet"><p>Outer</p><blockquote class="twitter-tweet"><p>Inner</p>'
           "&mdash; B (@b) " + link.format(2) + "</blockquote></blockquote>")
    (e,) = discover(doc).embeds
    assert (e.post_id, e.author, e.text, e.start, e.end) == ("2", "B", "Outer", 0, len(doc))
    # five deep: the outermost, its author and the last link inside it
    doc = "".join(f'<blockquote class="twitter-tweet"><p>t{i}</p>— A{i} (@a{i}) ' + link.format(i + 1)
                  for i in range(5)) + "</blockquote>" * 5
    (e,) = discover(doc).embeds
    assert (e.post_id, e.author, e.text, e.start, e.end) == ("5", "A0", "t0", 0, len(doc))
    # a post named only deep inside wrappers of its construct is still found, spanning the outermost
    for doc in ['<figure class="wp-block-embed">' * 12 + "<div>https://twitter.com/a/status/9</div>"
                + "</figure>" * 12,
                '<div class="twitter-tweet">' * 12 + '<iframe data-tweet-id="77"></iframe>' + "</div>" * 12]:
        (e,) = discover(doc).embeds
        assert e.post_id in ("9", "77") and (e.start, e.end) == (0, len(doc))


def _figures(rng: random.Random) -> str:
    parts, depth = [], 0
    for _ in range(rng.randint(1, 60)):
        r = rng.random()
        if r < 0.3:
            parts.append("<figure>")
            depth += 1
        elif r < 0.45 and depth:
            parts.append("</figure>")
            depth -= 1
        elif r < 0.65:
            parts.append(f'<img src="/i{len(parts)}.jpg">')
        elif r < 0.75:
            parts.append(f'<span class="credit">Credit {len(parts)}</span>')
        elif r < 0.85:
            parts.append(f"<figcaption>Photo: Caption {len(parts)}</figcaption>")
        else:
            parts.append("x" * rng.choice((10, 3000, 7000)))
    return "".join(parts)


def test_credits_of_nested_figures_are_those_a_search_per_figure_finds(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(7)
    docs = [_figures(rng) for _ in range(300)]
    docs.append('<figure><img src="/a.jpg">' * 2000 + '<span class="credit">Deep</span>' + "</figure>" * 2000)
    docs.append('<figure><span class="credit">C</span><img src="/a.jpg">' * 500 + "</figure>" * 500)
    for far in ('<span class="credit">Far</span>', "<figcaption>Photo: Far</figcaption>"):  # past 200,000
        docs.append(('<figure><img src="/a.jpg">' + "x" * 300) * 1500 + far + "</figure>" * 1500)
    found = [[(i.url, i.start, i.end, i.credit) for i in discover(d).images] for d in docs]

    def search_each(self: object, pattern: re.Pattern[str], slot: int, start: int, end: int,
                    outer: object) -> re.Match[str] | None:
        return pattern.search(self.text, start, end)  # type: ignore[attr-defined]

    monkeypatch.setattr(html_images.HtmlImages, "_first", search_each)
    assert found == [[(i.url, i.start, i.end, i.credit) for i in discover(d).images] for d in docs]
    assert {i[3] for i in found[-4]} == {"Deep"}
    assert {i[3] for i in found[-1]} == {None, "Far"}


def test_elements_carrying_a_post_nested_thousands_deep_are_one_embed() -> None:
    n = 3000
    doc = '<x-post data-url="https://twitter.com/a/status/1">' * n + "</x-post>" * n
    (e,) = discover(doc).embeds
    assert (e.provider, e.post_id, e.form, e.start, e.end) == ("twitter", "1", "element", 0, len(doc))


def test_srcdoc_documents_nested_past_the_depth_read_are_said_not_read() -> None:
    import html as html_mod

    from archiver.discover import srcdoc
    from archiver.discover.scan import discover

    img = '<img src="https://news.example/pic.jpg">'
    doc = img
    for _ in range(srcdoc.MAX_DEPTH):  # the image at depth 1, 2, ... MAX_DEPTH inside srcdoc documents
        doc = f'{img}<iframe srcdoc="{html_mod.escape(doc, quote=True)}"></iframe>'
    found = discover(doc, base_url="https://news.example/a/", fmt="html")
    assert len(found.images) == srcdoc.MAX_DEPTH  # the outer document and each depth read
    assert len(found.limits) == 1 and f"nested more than {srcdoc.MAX_DEPTH} deep" in found.limits[0]
    shallow = discover(f'{img}<iframe srcdoc="{html_mod.escape(img, quote=True)}"></iframe>',
                       base_url="https://news.example/a/", fmt="html")
    assert len(shallow.images) == 2 and shallow.limits == []
