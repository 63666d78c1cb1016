"""Hostile input: never a crash, never a hang, spans always inside the text."""

from __future__ import annotations

import time
import warnings

import pytest
from html5lib._tokenizer import HTMLTokenizer
from html5lib.constants import tokenTypes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archiver.discover.model import Discovery
from archiver.discover.scan import discover

TWEET = ('<blockquote class="twitter-tweet"><p>Hi</p>&mdash; A (@a) '
         '<a href="https://twitter.com/a/status/1764927578469150481">March 5, 2024</a></blockquote>')


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    """Discovery's patterns compile on first use (archiver/lazyre.py), about a second on a slow host:
    done once here, so a budget below catches a hang or a blow-up, not the first compile."""
    for fmt in ("auto", "html", "markdown", "text"):
        discover("".join(PIECES) + TWEET, base_url="https://www.example.com/", fmt=fmt)


def check(text: str, fmt: str = "auto", budget: float = 2.0) -> Discovery:
    """Discovery of `text` within `budget` seconds of this thread's CPU time (discovery runs in the
    calling thread; CPU time, not wall time, so other processes on a loaded machine do not count),
    every item's span inside the text."""
    t0 = time.thread_time()
    found = discover(text, base_url="https://www.example.com/", fmt=fmt)
    assert time.thread_time() - t0 < budget
    for item in [*found.embeds, *found.images]:
        assert 0 <= item.start <= item.end <= len(text)
    return found


def test_truncated_and_unclosed_markup() -> None:
    for cut in range(0, len(TWEET), 7):
        check(TWEET[:cut])
    never_closed = TWEET.replace("</blockquote>", "") + "<p>more text</p>" * 50
    (e,) = check(never_closed).embeds
    assert e.post_id == "1764927578469150481" and never_closed[e.start:e.end].endswith("</a>")
    nested = "<blockquote><blockquote>" * 200 + TWEET + "</blockquote>" * 10
    assert [e.post_id for e in check(nested).embeds] == ["1764927578469150481"]


def test_quotes_that_never_close_do_not_hide_later_tags() -> None:
    doc = '<img alt="oops src="/a.jpg">\n' + TWEET
    assert check(doc).embeds[0].post_id == "1764927578469150481"


def test_pathological_inputs_are_linear() -> None:
    n = 100_000  # (a quadratic step at this size is minutes; the budget is 2 s of CPU)
    for doc in [
        "<img " * n,
        '<img a="' * n,
        "<a href='x>" * n,
        "<!--" + "-" * n,
        "![" * n,
        "![a](" + "(" * n,
        "(@a) " * n,
        "— X (@a) " * n,
        "{{< tweet " * n,
        "<blockquote class='twitter-tweet'>" * (n // 10),
        "https://twitter.com/a/status/1" + "1" * n,
        "<p>" + "https://x.com/" * n,
        "[r]: " * n,
        "<script type='application/ld+json'>" + "[" * n,
        "\n".join(["https://twitter.com/a/status/123"] * (n // 10)),
        "<script><!--<script>" * (n // 5),
        "<!-- x --!>" * n,
        "</blockquote to <a href=x>" * (n // 5),
        TWEET + '<img alt="</blockquote>">' * (n // 5),
        '<img alt="' + "\nhttps://twitter.com/a/status/123\n" * (n // 10) + '">',
        "<div class='fb-post' data-href='https://www.facebook.com/a/posts/1'>" * (n // 10),
        "<blockquote class='twitter-tweet'>" * (n // 10) + '</blockquote x="' * (n // 10),
        # The any-element rule and the code/link filter (discover/elements.py, HtmlScanner):
        "<x-post data-url='https://twitter.com/a/status/1'>" * (n // 10),
        "<p>tweet <Tweet id='1' /> tweet " * (n // 20),
        "<b><x-tweet tweet-id='1'></x-tweet></b>" * (n // 20),
        "<object><param value='https://youtu.be/WzCL3FM9dDc'>" * (n // 20),
        "<a href=x>\nhttps://twitter.com/a/status/1\n" * (n // 20),
        "<pre>\nhttps://twitter.com/a/status/1\n" * (n // 20) + "</pre>" * (n // 20),
        "<div data-props='" + '{"a":' * (n // 10) + "'>",
        "<div data-props='" + "[" * n + "'>",
        "\n".join(["<lite-youtube videoid='WzCL3FM9dDc'></lite-youtube>"] * (n // 20)),
        "`" * n + "\n" + "``x" * (n // 10),
        "\n\n    https://twitter.com/a/status/1" * (n // 20),
        # Inline targets (was 56 s/MB: every "(" walked 4096 characters), fences, list-item code,
        # multi-line link text.
        "![a](" * n,
        "![a](<" * n,
        "![a](x(" * n,
        ("![a](x" * 500 + " y") * (n // 500),
        "````\n```\n" * (n // 2),
        "- a\n\n        https://twitter.com/a/status/1\n\n" * (n // 20),
        "1. a\n\n    b\n\n" * (n // 2),
        "[\nhttps://twitter.com/a/status/1\n" * (n // 20) + "](x)",
    ]:
        check(doc, budget=5.0)


def test_large_document() -> None:
    para = "<p>Plain running prose with no embeds, about the lake and the snow.</p>\n"
    doc = para * (20_000_000 // len(para)) + TWEET
    t0 = time.thread_time()
    found = discover(doc)
    assert time.thread_time() - t0 < 20
    assert [e.post_id for e in found.embeds] == ["1764927578469150481"]


def test_binary_junk_and_odd_characters() -> None:
    junk = bytes(range(256)).decode("latin-1") * 50
    check(junk)
    check("\ud800<img src='/a.jpg'>\x00" * 10)
    check("\ufeff" + TWEET + "\r\n")


PIECES = [
    "<", ">", "\"", "'", "=", "/", " ", "\n", "<img src=", "<blockquote class=\"twitter-tweet\">",
    "</blockquote>", "<a href=\"https://twitter.com/a/status/12345\">", "</a>", "<!--", "-->",
    "<!-- wp:embed {\"url\":\"https://x.com/a/status/9\"} -->", "<!-- /wp:embed -->", "![", "](", ")", "(",
    "[r]: ", "{{< tweet ", ">}}", "— A (@a) March 5, 2024", "pic.twitter.com/x", "srcset=\"a 1x, b",
    "<script>", "</script>", "<script type=\"application/ld+json\">{\"image\":\"", "https://x.com/a/status/1",
    "<iframe src=\"https://www.youtube.com/embed/Tq2wE9rY4uI\">", "<div class=\"fb-post\" data-href=\"",
    "<figure>", "</figure>", "<p>", "</p>", "```", "&amp;", "<base href=\"//h/\">",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=8)), max_size=60),
       st.sampled_from(["auto", "html", "markdown", "text"]))
def test_fuzz_never_crashes_or_hangs(parts: list[str], fmt: str) -> None:
    check("".join(parts), fmt=fmt, budget=1.0)


# --- malformed tags: a span never cuts through a tag, a comment or raw text ------------------------------
# html5lib's tokenizer (the HTML Standard's, in Python) is the independent judge; the tree builder's one
# influence on it, switching to raw text after <script>, <style>, <textarea>..., is reproduced here.
_RAW_STATES = {"script": "scriptDataState", "style": "rawtextState", "xmp": "rawtextState",
               "iframe": "rawtextState", "noembed": "rawtextState", "noframes": "rawtextState",
               "textarea": "rcdataState", "title": "rcdataState", "plaintext": "plaintextState"}
_KIND = {v: k for k, v in tokenTypes.items()}


def browser_tokens(text: str) -> list[tuple[object, ...]]:
    """The tokens a browser reads in `text`: tags with their attributes, comments, doctypes, and text
    (runs merged)."""
    out: list[tuple[object, ...]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tokenizer = HTMLTokenizer(text)
        for token in tokenizer:
            kind = _KIND[token["type"]]
            if kind == "ParseError":
                continue
            if kind in ("Characters", "SpaceCharacters"):
                if out and out[-1][0] == "Text":
                    out[-1] = ("Text", str(out[-1][1]) + token["data"])
                else:
                    out.append(("Text", token["data"]))
                continue
            if kind == "StartTag" and token["name"] in _RAW_STATES:
                tokenizer.state = getattr(tokenizer, _RAW_STATES[token["name"]])
            data = token.get("data")
            data = tuple(sorted(data.items())) if isinstance(data, dict) else (
                tuple(tuple(d) for d in data) if isinstance(data, list) else data)
            out.append((kind, token.get("name"), data))
    return out


def _merged(parts: list[list[tuple[object, ...]]]) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for token in (t for part in parts for t in part):
        if token[0] == "Text" and out and out[-1][0] == "Text":
            out[-1] = ("Text", str(out[-1][1]) + str(token[1]))
        else:
            out.append(token)
    return out


def assert_whole_tokens(doc: str, start: int, end: int) -> None:
    """doc[start:end] begins and ends between the browser's tokens: tokenized in three pieces, the
    document reads as it does whole, and a replacement put there is read as itself, between the same
    tokens before and after."""
    before, inside, after = doc[:start], doc[start:end], doc[end:]
    assert _merged([browser_tokens(before), browser_tokens(inside), browser_tokens(after)]) == \
        browser_tokens(doc), f"span {start}:{end} cuts a token: {inside!r}"
    marker = '<figure class="archived-copy"></figure>'
    rewritten = before + marker + after
    assert browser_tokens(rewritten) == _merged([browser_tokens(before), browser_tokens(marker),
                                                 browser_tokens(after)])


TWEET_URL = "https://twitter.com/Ann/status/1764927578469150481"
_OPEN = '<blockquote class="twitter-tweet"><p lang="en">The lake</p>&mdash; Ann (@Ann) '
_LINK = f'<a href="{TWEET_URL}">March 5, 2024</a>'
MALFORMED = {
    # an end tag runs to its ">", attributes and all, however odd
    "end-tag-with-attributes": _OPEN + _LINK + '</blockquote to <a href="https://evil.example/x">',
    "end-tag-newline": _OPEN + _LINK + "</blockquote\n>",
    "end-tag-tab-formfeed": _OPEN + _LINK + "</BLOCKQUOTE\t\f>",
    "end-tag-self-closing": _OPEN + _LINK + "</blockquote/>",
    "end-tag-quoted-gt": _OPEN + _LINK + '</blockquote title="a>b" x=\'c>d\'>',
    "end-tag-unquoted-lt": _OPEN + _LINK + "</blockquote x=<a y=z<b>",
    "end-tag-open-quote": _OPEN + _LINK + '</blockquote title="oops><p>said "hi"</p>',
    # "</ blockquote>" is a bogus comment, not an end tag: the real one comes later
    "space-after-slash": _OPEN + _LINK + "</ blockquote><p>inside still</p></blockquote>",
    # start tags: "<" inside values, quotes inside unquoted values
    "lt-in-start-tag": '<blockquote class="twitter-tweet" data-x="<a href=x>" title=\'</blockquote>\'>'
                       + _LINK + "</blockquote>",
    "quote-in-unquoted-value": "<blockquote class=twitter-tweet title=it\"s>" + _LINK + "</blockquote>",
    # fake end tags inside the element: in an attribute, a comment, a script
    "fake-close-in-attribute": _OPEN + '<img alt="</blockquote>" src="/x.jpg">' + _LINK + "</blockquote>",
    "fake-close-in-comment": _OPEN + "<!-- </blockquote> -->" + _LINK + "</blockquote>",
    "fake-close-in-script": _OPEN + '<script>var s = "</blockquote>";</script>' + _LINK + "</blockquote>",
    "comment-bang-close": _OPEN + "<!-- x --!>" + _LINK + "</blockquote><!-->",
    # the platform script after it, with an odd end tag
    "trailing-script": _OPEN + _LINK + '</blockquote> <script async src="https://platform.twitter.com/widgets.js" '
                       "charset=\"utf-8\"></script foo=\"<\">",
    "never-closed": _OPEN + _LINK + "<p>more</p>",
}


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_tags_give_spans_of_whole_tokens(name: str) -> None:
    doc = f'<html><body><p>before <img src="/a.jpg"></p>\n{MALFORMED[name]}\n<p>after</p><img src="/z.jpg"></body>'
    found = check(doc, fmt="html")
    assert [e.post_id for e in found.embeds] == ["1764927578469150481"], name
    for item in [*found.embeds, *found.images]:
        if item in found.embeds:
            assert_whole_tokens(doc, item.start, item.end)
        else:  # an image's span is its URL inside an attribute value: the tags stay the same tags
            new = doc[:item.start] + "https://copies.example/blob" + doc[item.end:]
            assert [t[:2] for t in browser_tokens(new)] == [t[:2] for t in browser_tokens(doc)]


NOT_EMBEDS = {
    "in-attribute": f"<div title='{_OPEN}{_LINK}</blockquote>'>x</div>",
    "in-comment": f"<!-- {_OPEN}{_LINK}</blockquote> -->",
    "in-bang-comment": f"<!-- x --!> <!-- {_OPEN}{_LINK}</blockquote> -->",
    "in-bogus-comment": f"<!x {_OPEN}{_LINK}</blockquote>",
    "in-textarea": f"<textarea>{_OPEN}{_LINK}</blockquote></textarea>",
    "in-noembed": f"<noembed>{_OPEN}{_LINK}</blockquote></noembed>",
    "url-line-in-attribute": f'<img alt="\n{TWEET_URL}\n" src="/x.jpg">',
    "in-unterminated-tag": f'<p title="x>{_OPEN}{_LINK}</blockquote>',
    # script text in its escaped states: the first "</script>" ends nothing
    "in-double-escaped-script": f"<script><!--<script></script>{_OPEN}{_LINK}</blockquote></script>",
}


@pytest.mark.parametrize("name", NOT_EMBEDS)
def test_markup_a_browser_does_not_read_as_tags_is_not_an_embed(name: str) -> None:
    doc = f"<p>before</p>\n{NOT_EMBEDS[name]}\n<p>after</p>"
    found = check(doc, fmt="html")
    assert found.embeds == [], name
    for image in found.images:
        new = doc[:image.start] + "https://copies.example/blob" + doc[image.end:]
        assert [t[:2] for t in browser_tokens(new)] == [t[:2] for t in browser_tokens(doc)]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.sampled_from([
    *PIECES, "</blockquote to ", "</ blockquote>", "</blockquote\n>", "<a href=x>", "title=\"", "title='", "--!>",
    "<!-->", "<!x>", "<?x>", "</>", "<textarea>", "</textarea>", "<title>", "<style>", "</style x=\">\">",
    "<script><!--", "<!--<script>", "</script >", "<plaintext>", "<noembed>", "</noembed>",
]), st.text(max_size=6)), max_size=50))
def test_fuzz_embed_spans_are_whole_tokens(parts: list[str]) -> None:
    doc = "".join(parts)
    found = check(doc, fmt="html", budget=1.0)
    for embed in found.embeds:
        assert_whole_tokens(doc, embed.start, embed.end)
