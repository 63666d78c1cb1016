"""Discovery on markup a browser or a Markdown renderer reads differently from a naive scan: posts run
together on one line, inline elements left open, ">" in quoted attribute values, ids in other
scripts' digits, and Markdown that shows an image or a post URL as code or text."""

from __future__ import annotations

import time

import pytest

from archiver.discover.common import clean_text
from archiver.discover.scan import discover

ID = "1764927578469150481"
STATUS = f"https://twitter.com/a/status/{ID}"
TWEET = ('<blockquote class="twitter-tweet"><p>Hi</p>&mdash; A (@a) '
         f'<a href="{STATUS}">March 5, 2024</a></blockquote>')
OTHER = "1765709230920277604"


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    """Patterns compile and the date patterns build on first use: done here, outside any budget."""
    discover("Hi — A (@a) March 5, 2024\n" + TWEET)
    discover("# T\n\nHi — A (@a) [March 5, 2024][1]\n\n[1]: https://x.example/\n", fmt="markdown")


# --- 1. linear time --------------------------------------------------------------------------------

@pytest.mark.parametrize("unit", [
    "text — Name (@handle) March 5, 2024",
    "text — Name (@handle) [March 5, 2024][1] ",
    f"text — Name (@handle) [March 5, 2024]({STATUS}) ",
])
def test_flattened_posts_on_one_line_are_linear(unit: str) -> None:
    """Flattened tweets run together on one line (no newline to stop a search) cost time linear in
    the text: each attribution's look-ahead is bounded, reference definitions are read once."""
    doc = unit * (3_000_000 // len(unit))
    t0 = time.thread_time()
    found = discover(doc, fmt="text")
    assert time.thread_time() - t0 < 5.0
    assert len(found.embeds) > 1000 or "[1]" in unit


def test_links_left_open_before_many_embeds_are_linear() -> None:
    """Each embed's look for a link around it walks only its own stretch of the text."""
    doc = f"<p><a href=x>t</p>\n{STATUS}\n" * 60_000 + "<p><a href=x>" + "<i>" * 100_000
    t0 = time.thread_time()
    assert len(discover(doc).embeds) == 60_000
    assert time.thread_time() - t0 < 5.0


def test_long_srcset_is_linear() -> None:
    unit = "a 1x,"
    t0 = time.thread_time()
    small = discover('<img srcset="' + unit * 20_000 + '">')
    small_t = time.thread_time() - t0
    t0 = time.thread_time()
    big = discover('<img srcset="' + unit * 200_000 + '">')
    assert time.thread_time() - t0 < 25 * small_t + 0.5
    assert len(small.images) == 20_000 and len(big.images) == 200_000


@pytest.mark.parametrize("unit", [
    '<script>x</script><img src="/a.jpg">\n',
    '<style>p{}</style><title>t</title><textarea>a</textarea><img src="/a.jpg">\n',
    '<iframe srcdoc="<p>x</p><img src=&quot;/a.jpg&quot;>"></iframe>\n',
])
def test_many_raw_text_elements_are_linear(unit: str) -> None:
    """A page of many small scripts (or other raw-text elements, or srcdoc frames): each question "is
    this offset inside a token?" walks from where the last long walk ended, not over every element
    before it again (it took 45 s for 2,000 scripts)."""
    t0 = time.thread_time()
    small = discover("<html><body>" + unit * 500, "https://n.example/")
    small_t = time.thread_time() - t0
    t0 = time.thread_time()
    big = discover("<html><body>" + unit * 5_000, "https://n.example/")
    assert time.thread_time() - t0 < 25 * small_t + 0.5
    assert len(small.images) == 500 and len(big.images) == 5_000


def test_format_detection_costs_a_scan_whatever_the_text() -> None:
    """Deciding whether text holds HTML tries the tag names only where "<" and a letter or "!" stand: a
    megabyte of "<" took 5 s, trying every tag name at every character."""
    from archiver.discover.scan import detect_format
    t0 = time.thread_time()
    assert detect_format("x" * 1_000_000) == (False, False)
    plain_t = time.thread_time() - t0
    t0 = time.thread_time()
    assert detect_format("<" * 1_000_000) == (False, False)
    assert time.thread_time() - t0 < 25 * plain_t + 0.5
    assert detect_format("<" * 1000 + "<p>x</p>") == (True, False)


def test_a_div_with_many_attributes_is_linear() -> None:
    """The search for divs of an embed class reads each quoted value once (an "=" that opens one was
    also readable as a plain character, and each attribute doubled the work: 24 took 67 s)."""
    def div(n: int) -> str:
        return '<p>Story</p>\n<div class="ad-slot" ' + " ".join(f'data-k{i}="v"' for i in range(n)) + "></div>"
    t0 = time.thread_time()
    discover(div(4))
    small_t = time.thread_time() - t0
    t0 = time.thread_time()
    assert discover(div(22) * 50).embeds == []
    assert time.thread_time() - t0 < 50 * small_t + 0.5
    post = div(30).replace('class="ad-slot"', 'class="fb-post" data-href="https://www.facebook.com/x/posts/123456789012345"')
    assert [e.post_id for e in discover(post).embeds] == ["123456789012345"]


# --- 2. unclosed inline elements -------------------------------------------------------------------

EMBEDS = [TWEET, f"<p>{STATUS}</p>"]


@pytest.mark.parametrize("embed", EMBEDS)
@pytest.mark.parametrize("opener", ['<a href="https://example.com/">', '<a href="https://example.com/" />',
                                    "<a>", "<code>", "<kbd/>", "<samp>", "<video>", "<canvas/>"])
def test_an_unclosed_inline_element_never_hides_a_later_embed(opener: str, embed: str) -> None:
    """A browser closes an element left open (or "self-closed": the slash means nothing on them) at
    its parent's end tag; a later end tag of the same name closes nothing of it."""
    name = opener[1:].split()[0].rstrip("/>")
    doc = f"<p>Read {opener}story.</p><p>x</p>{embed}<p>then <{name}>y</{name}> and z</{name}></p>"
    assert [e.post_id for e in discover(doc).embeds] == [ID], doc


def test_a_missing_end_tag_inside_one_embed_does_not_hide_the_next() -> None:
    first = TWEET.replace(ID, OTHER).replace("</a>", "")
    found = discover(first + "<p>between</p>" + TWEET).embeds
    assert [e.post_id for e in found] == [OTHER, ID]


def test_an_embed_inside_a_link_or_code_is_still_no_embed() -> None:
    for doc in (f"<p><a href=x>{TWEET}</a></p>", f"<a href=x>\n{STATUS}\n</a>", f"<pre><code>{TWEET}</code></pre>",
                f"<p><a href=x><b>{STATUS}</b></a></p>", f"<p><code>see <i>{STATUS}</i></code></p>"):
        assert discover(doc).embeds == [], doc


# --- 3. ">" in a quoted attribute value -----------------------------------------------------------

def test_a_quoted_gt_does_not_end_a_tag() -> None:
    assert clean_text('<p title="2>1">x</p>') == "x"
    doc = TWEET.replace("<p>Hi</p>", '<p title="2>1">Hi</p>').replace("<a href", '<a title="x>y" href')
    (e,) = discover(doc).embeds
    assert (e.post_id, e.text, e.author, e.date) == (ID, "Hi", "A", "March 5, 2024")
    unclassed = doc.replace('class="twitter-tweet"', 'class="quote" data-x=">"')
    assert [e.post_id for e in discover(unclassed).embeds] == [ID]
    para = f'<p data-x="a>b">{STATUS}</p>'
    assert [(e.post_id, e.start, e.end) for e in discover(para).embeds] == [(ID, 0, len(para))]
    div = '<div title="a>b" class="fb-post" data-href="https://www.facebook.com/a/posts/1234567"></div>'
    assert [(e.post_id, e.form) for e in discover(div).embeds] == [("1234567", "div")]
    flat = f'Hi — A (@a) <a title="x>y" href="{STATUS}">March 5, 2024</a>'
    assert [(e.post_id, e.date) for e in discover(flat, fmt="text").embeds] == [(ID, "March 5, 2024")]


# --- 4. ids are ASCII ------------------------------------------------------------------------------

FULL = ID.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
ARABIC = ID.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))


@pytest.mark.parametrize("doc", [
    f"<p>https://twitter.com/a/status/{FULL}</p>",
    f"https://x.com/a/status/{ARABIC}\n",
    "https://youtu.be/ééééééééééé\n",
    "https://www.youtube.com/embed/ééééééééééé\n",
    f'<amp-twitter data-tweetid="{ARABIC}" width="1" height="1"></amp-twitter>',
    f'<div class="twitter-tweet twitter-tweet-rendered" data-tweet-id="{FULL}"><iframe></iframe></div>',
    f"{{{{< tweet {FULL} >}}}}\n",
    "{{< instagram ééééééé >}}\n",
    "https://www.facebook.com/photo.php?fbid=１２３４５６７\n",
    "https://www.tiktok.com/@a/video/７３０１２３４５６７８９０１２３４５\n",
    "https://t.me/channel/１２３\n",
    f'<x-tweet tweet-id="{FULL}"></x-tweet>',
])
def test_ids_in_other_scripts_name_no_post(doc: str) -> None:
    assert discover(doc).embeds == [], doc


def test_a_widget_with_a_non_ascii_id_is_unresolved() -> None:
    doc = f'<blockquote class="twitter-tweet" data-tweet-id="{ARABIC}"><p>x</p></blockquote>'
    assert [(e.provider, e.post_id) for e in discover(doc).embeds] == [("twitter", None)]


# --- 5. Markdown that is not rendered ---------------------------------------------------------------

MD_HEAD = "# T\n\n![a](https://e.com/ok.jpg)\n\n"


@pytest.mark.parametrize("body", [
    "See `![x](https://e.com/a.jpg)` here.\n",
    "See ``a ![x](https://e.com/a.jpg) ``` b`` here.\n",
    "    ![x](https://e.com/a.jpg)\n",
    "- item\n\n        ![x](https://e.com/a.jpg)\n",
    "<!-- ![c](https://e.com/a.jpg) -->\n",
    "<!--\n![c](https://e.com/a.jpg)\n-->\n",
    '`<img src="https://e.com/a.jpg">`\n',
    '    <img src="https://e.com/a.jpg">\n',
    "`[x](https://e.com/a.jpg)`\n",
])
def test_markdown_code_and_comments_hold_no_images(body: str) -> None:
    assert [i.url for i in discover(MD_HEAD + body).images] == ["https://e.com/ok.jpg"], body


def test_an_escaped_image_marker_is_no_image() -> None:
    """"\\![t](url)" is a "!" and a link: no image (a link to an image file is one, as a link)."""
    found = discover(MD_HEAD + "\\![t](https://e.com/page)\n").images
    assert [i.url for i in found] == ["https://e.com/ok.jpg"]
    found = discover(MD_HEAD + "\\![t](https://e.com/a.jpg)\n").images
    assert [(i.url, i.form) for i in found][1:] == [("https://e.com/a.jpg", "markdown-link")]
    found = discover(MD_HEAD + "\\\\![t](https://e.com/a.jpg)\n").images  # an escaped backslash
    assert [(i.url, i.form) for i in found][1:] == [("https://e.com/a.jpg", "markdown")]


@pytest.mark.parametrize("body", [
    f"`{STATUS}`\n", f"``{STATUS}``\n", f"    {STATUS}\n", f"<!--\n{STATUS}\n-->\n",
])
def test_markdown_code_and_comments_hold_no_embeds(body: str) -> None:
    assert discover(MD_HEAD + body).embeds == [], body


def test_a_gatsby_embed_line_is_still_an_embed() -> None:
    (e,) = discover(MD_HEAD + "`youtube: https://www.youtube.com/watch?v=WzCL3FM9dDc`\n").embeds
    assert (e.provider, e.post_id) == ("youtube", "WzCL3FM9dDc")
