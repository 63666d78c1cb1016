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
    t0 = time.thread_time()
    discover(doc)
    assert time.thread_time() - t0 < 3.0


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


@pytest.mark.parametrize(("doc", "provider", "post_id"), [
    # a URL argument is one value, "&key=value" pairs (entity-escaped or not) included
    ("[youtube https://www.youtube.com/watch?v=WzCL3FM9dDc&amp;w=640&amp;h=385]", "youtube", "WzCL3FM9dDc"),
    ("[youtube https://www.youtube.com/watch?v=WzCL3FM9dDc&w=640&h=385 align=center]", "youtube", "WzCL3FM9dDc"),
    ("{{< video https://www.youtube.com/watch?v=WzCL3FM9dDc&t=30 >}}", "youtube", "WzCL3FM9dDc"),
    # MyST directives: backtick, tilde and colon fences, option lines and a YAML block
    ("```{youtube} WzCL3FM9dDc\n:width: 100%\n:align: center\n```", "youtube", "WzCL3FM9dDc"),
    ("````{tweet}\n---\nid: " + TW + "\n---\n````", "twitter", TW),
    (f"~~~{{embed}} https://twitter.com/a/status/{TW}\n~~~", "twitter", TW),
    (":::{youtube} WzCL3FM9dDc\n:::", "youtube", "WzCL3FM9dDc"),
    # tags written as Markdown links
    ("![type:video](https://www.youtube.com/embed/WzCL3FM9dDc)", "youtube", "WzCL3FM9dDc"),
    ("[plugin:youtube](https://www.youtube.com/watch?v=WzCL3FM9dDc)", "youtube", "WzCL3FM9dDc"),
    (f"[plugin:twitter](<https://twitter.com/a/status/{TW}>)", "twitter", TW),
    # paired tags whose content is the id, in BBCode, XenForo, Joomla; MediaWiki parser functions
    ("[youtube]WzCL3FM9dDc[/youtube]", "youtube", "WzCL3FM9dDc"),
    (f"[MEDIA=twitter]{TW}[/MEDIA]", "twitter", TW),
    (f"[tweet]{TW}[/tweet]", "twitter", TW),
    ("{youtube}WzCL3FM9dDc|640|360{/youtube}", "youtube", "WzCL3FM9dDc"),
    ("{youtube}https://youtu.be/WzCL3FM9dDc{/youtube}", "youtube", "WzCL3FM9dDc"),
    ("{{#ev:youtube|WzCL3FM9dDc|400|right}}", "youtube", "WzCL3FM9dDc"),
    ("{{#ev:youtube|id=WzCL3FM9dDc}}", "youtube", "WzCL3FM9dDc"),
])
def test_more_tag_syntaxes_are_embeds_over_the_whole_tag(doc: str, provider: str, post_id: str) -> None:
    text = f"Before.\n\n{doc}\n\nAfter.\n"
    assert spans(text) == [(provider, post_id, doc)]


def test_an_indented_directive_span_starts_at_its_marker() -> None:
    doc = "Title\n=====\n\n.. note::\n\n   .. youtube:: WzCL3FM9dDc\n      :width: 640\n\nPara.\n"
    assert spans(doc) == [("youtube", "WzCL3FM9dDc", ".. youtube:: WzCL3FM9dDc\n      :width: 640")]
    assert spans("# x\n\n  `youtube: https://youtu.be/WzCL3FM9dDc`\n") == [
        ("youtube", "WzCL3FM9dDc", "`youtube: https://youtu.be/WzCL3FM9dDc`")]


URL = f"https://twitter.com/a/status/{TW}"


@pytest.mark.parametrize("doc", [
    # reStructuredText code directives and literal blocks
    f"Title\n=====\n\n.. code-block:: text\n\n   {URL}\n\nPara.\n",
    f"Title\n=====\n\n.. code:: rst\n   :number-lines:\n\n   .. tweet:: {URL}\n\nPara.\n",
    "Title\n=====\n\n.. code-block:: rst\n\n   .. youtube:: WzCL3FM9dDc\n\nPara.\n",
    f"Title\n=====\n\nPaste this::\n\n    {URL}\n\nPara.\n",
    f"Title\n=====\n\n::\n\n    {URL}\n    video::WzCL3FM9dDc[youtube]\n\nPara.\n",
    f"Title\n=====\n\n.. sourcecode:: html\n\n"
    f"   <blockquote class=\"twitter-tweet\"><a href=\"{URL}\">x</a></blockquote>\n",
    # AsciiDoc listing, literal and comment blocks
    f"= T\n\n----\n{URL}\nvideo::WzCL3FM9dDc[youtube]\n----\n",
    f"= T\n\n....\n{URL}\n....\n",
    f"Some page\n\n[source,text]\n------\n{URL}\n------\n",
    "= T\n\n////\nvideo::WzCL3FM9dDc[youtube]\n////\n",
    # BBCode and WordPress code shortcodes
    f"[code]\n{URL}\n[/code]\n",
    f"[CODE=text]\n[tweet {TW}]\n[/CODE]\n",
    f'<p>Paste:</p>\n[sourcecode language="html"]\n<blockquote class="twitter-tweet"><a href="{URL}">x</a>'
    "</blockquote>\n[/sourcecode]\n",
    # a MyST directive shown inside another fence, or a directive naming no provider
    "~~~\n```{youtube} WzCL3FM9dDc\n```\n~~~\n",
    f"```{{note}}\n{URL}\n```\n",
])
def test_code_blocks_of_lightweight_markup_hold_no_embed(doc: str) -> None:
    assert spans(doc) == []


def test_separators_in_plain_text_and_unclosed_code_tags_keep_their_embeds() -> None:
    """Dashed lines in a plain-text article are separators, not AsciiDoc listing delimiters; a [code]
    tag never closed, a line ending in '::' with nothing indented after it and a Markdown link named
    [code] are no code blocks."""
    doc = f"Story\n\n----\n{URL}\n----\n\nMore.\n"
    assert spans(doc, "text") == [("twitter", TW, URL)]
    doc = f"Use [code] tags.\n\nAs said::\n\n{URL}\n\nSee [code](https://example.com/code).\n"
    assert spans(doc, "text") == [("twitter", TW, URL)]


BASE = "https://news.example/2024/05/walk/"


@pytest.mark.parametrize(("doc", "found"), [
    ('{{< figure src="/images/a.jpg" link="https://cdn.example/a-full.webp" alt="A" >}}',
     [("https://news.example/images/a.jpg", "/images/a.jpg"),
      ("https://cdn.example/a-full.webp", "https://cdn.example/a-full.webp")]),
    ("{{< figure src=photos/b.png >}}", [(BASE + "photos/b.png", "photos/b.png")]),
    ('{% include figure.html image="/assets/img/c.jpg" caption="C" %}',
     [("https://news.example/assets/img/c.jpg", "/assets/img/c.jpg")]),
    ("{% include image.html url='/assets/img/d.png' %}",
     [("https://news.example/assets/img/d.png", "/assets/img/d.png")]),
    ("{% img /e.gif 300 200 %}", [("https://news.example/e.gif", "/e.gif")]),
    ('{{ image("/f.webp") }}', [("https://news.example/f.webp", "/f.webp")]),
    ('[et_pb_image src="/g.jpg&amp;v=2.jpg"]', [("https://news.example/g.jpg&v=2.jpg", "/g.jpg&amp;v=2.jpg")]),
    ('[video poster="/h.jpg" mp4="/h.mp4"]', [("https://news.example/h.jpg", "/h.jpg")]),
    (".. image:: /i.png\n   :alt: I", [("https://news.example/i.png", "/i.png")]),
    (".. figure:: https://cdn.example/j.jpg", [("https://cdn.example/j.jpg", "https://cdn.example/j.jpg")]),
    ("image::k.png[K]", [(BASE + "k.png", "k.png")]),
])
def test_an_image_given_as_a_tag_argument_is_an_image_occurrence(doc: str, found: list[tuple[str, str]]) -> None:
    text = f"Before.\n\n{doc}\n\nAfter.\n"
    got = discover(text, BASE)
    assert got.embeds == []
    assert [(i.url, text[i.start:i.end]) for i in got.images] == found


@pytest.mark.parametrize("doc", [
    '{{</* figure src="/images/a.jpg" */>}}',
    'Write `{{< figure src="/images/a.jpg" >}}` for a figure.',
    "{% raw %}{% include figure.html image='/a.jpg' %}{% endraw %}",
    "A bracket in prose [see photo.jpg] or [ref: photo.jpg].",
    "{% include gallery.html id='harbour' %}",
    "```\n{{< figure src=\"/images/a.jpg\" >}}\n```",
])
def test_tag_arguments_that_are_no_image_occurrence(doc: str) -> None:
    text = f"# Post\n\n{doc}\n\n[x](https://example.com/)\n"
    assert discover(text, BASE).images == []


def test_an_image_argument_in_html_is_an_image_but_never_in_a_comment_or_script() -> None:
    doc = ('<p>[et_pb_image src="/a.jpg"]</p>\n<!-- [et_pb_image src="/b.jpg"] -->\n'
           '<script>var s = \'[et_pb_image src="/c.jpg"]\';</script>')
    got = discover(doc, BASE, "html").images
    assert [(i.url, doc[i.start:i.end]) for i in got] == [("https://news.example/a.jpg", "/a.jpg")]


@pytest.mark.parametrize("doc", [
    "```{youtube} x\n" * 20_000, ":::{youtube}\n" * 50_000, "![type:video](" * 100_000, "{youtube}" * 100_000,
    "{{#ev:youtube|" * 100_000, "[code]" * 100_000, "[code]" * 100_000 + "[/code]", "a::\n\n" * 50_000,
    ".. code-block::\n" * 50_000, "= T\n" + "----\n" * 100_000, "-" * 1_000_000, "[youtube //" * 100_000,
    '{{< figure src="a.jpg" ' * 50_000, ".. image:: a.png\n" * 50_000,
])
def test_new_syntaxes_stay_linear_on_hostile_input(doc: str) -> None:
    for fmt in ("auto", "text"):
        t0 = time.thread_time()
        discover(doc, fmt=fmt)
        assert time.thread_time() - t0 < 3.0, fmt
