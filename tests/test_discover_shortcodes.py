"""Shortcodes and template tags of any syntax (discover/shortcodes.py) and tweets flattened by
HTML-to-Markdown converters (providers/twitter/discovery.py, discover/dates.py): members of each kind
beyond the corpus's cases, look-alikes that are not embeds, and bounded time on hostile input.
"""

from __future__ import annotations

import time

import pytest

from archiver.discover.dates import match_date
from archiver.discover.scan import discover

TW = "1786327136854400009"


def spans(doc: str, fmt: str = "auto") -> list[tuple[str, str | None, str]]:
    found = sorted(discover(doc, fmt=fmt).embeds, key=lambda e: e.start)
    return [(e.provider, e.post_id, doc[e.start:e.end]) for e in found]


@pytest.mark.parametrize(("doc", "provider", "post_id"), [
    ("[embed]\nhttps://youtu.be/WzCL3FM9dDc\n[/embed]", "youtube", "WzCL3FM9dDc"),
    ('[video youtube="WzCL3FM9dDc" width="640"]', "youtube", "WzCL3FM9dDc"),
    (f"[x {TW}]", "twitter", TW),
    (f'{{{{< x user="someone" id="{TW}" >}}}}', "twitter", TW),
    (f"{{{{< tweet >}}}}https://twitter.com/a/status/{TW}{{{{< /tweet >}}}}", "twitter", TW),
    ('{%- youtube "WzCL3FM9dDc" -%}', "youtube", "WzCL3FM9dDc"),
    ("{% render 'youtube', id: 'WzCL3FM9dDc' %}", "youtube", "WzCL3FM9dDc"),
    ('{% include video.html provider="youtube" id="WzCL3FM9dDc" %}', "youtube", "WzCL3FM9dDc"),
    ('{{> tweet id="' + TW + '"}}', "twitter", TW),
    ("{{ embeds.youtube('WzCL3FM9dDc') }}", "youtube", "WzCL3FM9dDc"),
    (".. embed:: https://www.instagram.com/p/C4kP2rTz8Lm/", "instagram", "C4kP2rTz8Lm"),
    ("video::WzCL3FM9dDc[youtube, width=640, start=60]", "youtube", "WzCL3FM9dDc"),
    ("[reddit id=1abcde2]", "reddit", "1abcde2"),
    ('{% telegram "examplechannel/1234" %}', "telegram", "examplechannel/1234"),
])
def test_a_tag_of_any_syntax_naming_a_post_is_an_embed_over_the_whole_tag(doc: str, provider: str,
                                                                          post_id: str) -> None:
    text = f"Before.\n\n{doc}\n\nAfter.\n"
    assert spans(text) == [(provider, post_id, doc)]


@pytest.mark.parametrize("doc", [
    "[[tweet 1786327136854400009]]",                        # WordPress escape
    "{{</* tweet 1786327136854400009 */>}}",                 # Hugo escape
    "{% comment %}{% tweet 1786327136854400009 %}{% endcomment %}",
    "{# {% youtube WzCL3FM9dDc %} #}",
    "Write `[tweet 1786327136854400009]` in the editor.",   # a Markdown code span
    "[tweet](https://twitter.com/someone)",                  # a Markdown link
    "[youtube]: https://example.com/notes",                  # a reference definition
    "[caption id=\"attachment_5\"]x[/caption]",              # a shortcode that embeds no post
    "[embed]https://vimeo.com/123456[/embed]",               # no registered provider
    "{% youtube %}",                                         # no id
    "{{ page.twitter }}",                                    # a variable, no value
    "[tweet deleted by author]",
    ".. warning:: https://twitter.com/a/status/1786327136854400009 was removed.",
])
def test_escapes_and_look_alikes_are_not_embeds(doc: str) -> None:
    assert spans(f"# Notes\n\n{doc}\n\n![a](b.png)\n") == []


def test_shortcodes_in_html_never_cut_a_tag_and_skip_raw_text() -> None:
    doc = ('<p title="[tweet 1786327136854400009]">x</p>\n<script>var s = "[tweet 1786327136854400009]";</script>\n'
           '<!-- [tweet 1786327136854400009] -->\n<p>[tweet 1786327136854400009]</p>')
    assert spans(doc, "html") == [("twitter", TW, "[tweet 1786327136854400009]")]
    (e,) = discover(doc, fmt="html").embeds
    assert e.start == doc.rindex("[tweet")


@pytest.mark.parametrize(("converted", "date"), [
    # turndown, no quoting, &mdash; kept
    ("Hello there\n\n&mdash; Ex Ample (@ex_ample) [3 de octubre de 2023](https://twitter.com/ex_ample/status/{id})",
     "3 de octubre de 2023"),
    # html2text wrapping the anchor over a quoted line
    ("> Hello there\n>\n> — Ex Ample (@ex_ample) [3\n> Oktober 2023](https://twitter.com/ex_ample/status/{id}?ref_src=twsrc%5Etfw)",
     "3 Oktober 2023"),
    # pandoc: --- and \@, reference-style link
    ("> Hello there\n>\n> --- Ex Ample (\\@ex_ample) [2023年10月3日][1]\n\n[1]: https://twitter.com/ex_ample/status/{id}",
     "2023年10月3日"),
    # markdownify: escaped underscore, an HTML anchor left inline
    ('> Hello there\n> \n> — Ex Ample (@ex\\_ample) <a href="https://x.com/ex_ample/status/{id}">3 ott 2023</a>',
     "3 ott 2023"),
])
def test_flattened_tweet_takes_its_id_from_the_date_link(converted: str, date: str) -> None:
    block = converted.replace("{id}", TW)
    doc = "Intro paragraph.\n\n" + block + "\n\nNext paragraph.\n"
    (e,) = discover(doc, fmt="markdown").embeds  # the CMS says Markdown (inline HTML reads as HTML)
    assert (e.provider, e.post_id, e.handle, e.author, e.date, e.text) == (
        "twitter", TW, "ex_ample", "Ex Ample", date, "Hello there")
    assert doc[e.start:e.end] == block.split("\n\n[1]:")[0]  # the whole run, not the link definition
    assert e.url == f"https://twitter.com/ex_ample/status/{TW}"


@pytest.mark.parametrize("date", [
    "May 3, 2024", "3 de maio de 2024", "3 mai 2024", "3. Mai 2024", "3 maggio 2024", "3 मई 2024",
    "٣ مايو ٢٠٢٤", "2024年5月3日", "2024년 5월 3일", "3 мая 2024 г.", "3 Mayıs 2024", "3 Mei 2024", "3 mei 2024",
    "3 maja 2024", "3 พฤษภาคม 2024", "3 במאי 2024", "2024. május 3.", "3. toukokuuta 2024", "3 травня 2024 р.",
])
def test_widget_dates_in_every_language_are_read(date: str) -> None:
    m = match_date(date + "Next sentence", 0)
    assert m is not None and m.group(0) == date
    doc = f"Plain post text\n— Name (@handle) {date}\n"
    (e,) = discover(doc, fmt="text").embeds
    assert e.date == date and e.post_id is None and doc[e.start:e.end] == doc.strip()


def test_a_handle_without_a_date_is_not_a_post() -> None:
    assert discover("Ask the desk — Desk (@desk) for tips.\n", fmt="text").embeds == []
    assert discover("x — Name (@handle) [profile](https://twitter.com/handle)\n", fmt="markdown").embeds == []


@pytest.mark.parametrize("doc", [
    "{{< tweet " * 100_000, "{% tweet " * 100_000, "[tweet " * 100_000, "{{ tweet " * 100_000,
    "[embed]" * 100_000, "{% raw %}" * 50_000, ".. youtube:: x\n" * 20_000, "video::x[" * 100_000,
    "`youtube:" * 100_000, "— X (@a) " * 100_000, "— X (@a) [" * 100_000, "> — X (@a) 3\n" * 20_000,
    "x`" * 100_000 + "[tweet 1]",
])
def test_hostile_input_is_linear(doc: str) -> None:
    t0 = time.perf_counter()
    discover(doc)
    assert time.perf_counter() - t0 < 3.0


def test_a_gatsby_embed_line_written_as_inline_code_is_an_embed_but_code_elsewhere_is_not() -> None:
    """gatsby-remark-embedder's `youtube: URL` is an inline code span standing alone: an embed; the same
    inside a fence, or a post URL in inline code within a sentence, is shown as code."""
    from archiver.discover.scan import discover

    doc = ("# Title\n\n`youtube: https://www.youtube.com/watch?v=WzCL3FM9dDc`\n\n"
           "More `https://twitter.com/a/status/1` here.\n\n```\n`youtube: https://youtu.be/WzCL3FM9dDd`\n```\n")
    got = [(e.provider, e.post_id, doc[e.start:e.end]) for e in discover(doc, fmt="markdown").embeds]
    assert got == [("youtube", "WzCL3FM9dDc", "`youtube: https://www.youtube.com/watch?v=WzCL3FM9dDc`")]


def test_a_flattened_tweet_in_markdown_with_some_html_is_found() -> None:
    """A converter's Markdown that kept a little HTML (an intro <p>) is still Markdown: inline links to
    http(s) URLs say so, and the flattened tweet is read."""
    from archiver.discover.scan import discover

    doc = ("<p>Intro paragraph.</p>\n\n> Release day! [pic.twitter.com/AbCdEf1234](https://t.co/AbCdEf1234)\n>\n"
           "> — Example Dev (@exampledev) [May 3, 2024](https://twitter.com/exampledev/status/1786327136854400001"
           "?ref_src=twsrc%5Etfw)\n\nAfter.\n")
    got = discover(doc).embeds
    assert [(e.provider, e.post_id) for e in got] == [("twitter", "1786327136854400001")]
    assert doc[got[0].start:got[0].end].startswith("> Release day!") and (got[0].text or "").startswith("Release day!")
