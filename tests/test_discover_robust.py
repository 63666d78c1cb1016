"""Hostile input: never a crash, never a hang, spans always inside the text."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archiver.discover.model import Discovery
from archiver.discover.scan import discover

TWEET = ('<blockquote class="twitter-tweet"><p>Hi</p>&mdash; A (@a) '
         '<a href="https://twitter.com/a/status/1764927578469150481">March 5, 2024</a></blockquote>')


def check(text: str, fmt: str = "auto", budget: float = 2.0) -> Discovery:
    t0 = time.perf_counter()
    found = discover(text, base_url="https://www.example.com/", fmt=fmt)
    assert time.perf_counter() - t0 < budget
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
    n = 200_000
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
    ]:
        check(doc, budget=5.0)


def test_large_document() -> None:
    para = "<p>Plain running prose with no embeds, about the lake and the snow.</p>\n"
    doc = para * (20_000_000 // len(para)) + TWEET
    t0 = time.perf_counter()
    found = discover(doc)
    assert time.perf_counter() - t0 < 20
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
