"""Every embed form the providers declare (fixtures in tests/fixtures/discover/): exact post ids,
canonical URLs, handles and spans."""

from __future__ import annotations

from pathlib import Path

import pytest

from archiver.discover.scan import discover
from archiver.errors import InputError

FIXTURES = Path(__file__).parent / "fixtures" / "discover"
BASE = "https://www.example.com/story/"


def load(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def span(text: str, begin: str, finish: str, nth: int = 0) -> tuple[int, int]:
    """Offsets of the nth construct that starts with `begin` and ends with the first `finish` after it."""
    start = -1
    for _ in range(nth + 1):
        start = text.index(begin, start + 1)
    return start, text.index(finish, start) + len(finish)


TW = "https://twitter.com/{}/status/{}"


def test_official_blockquote_with_variations() -> None:
    text = load("twitter-blockquote.html")
    embeds = discover(text).embeds
    assert [e.post_id for e in embeds] == ["1764927578469150481", "1764999999999999999", "1765000000000000001"]
    first, second, third = embeds
    assert (first.start, first.end) == span(text, '<blockquote class="twitter-tweet">', "</script>")
    assert first.url == TW.format("PinecrestObs", "1764927578469150481")
    assert (first.handle, first.author, first.date) == ("PinecrestObs", "Pinecrest Observer", "March 5, 2024")
    assert first.text.startswith("Ice fishing season") and first.text.endswith("pic.twitter.com/Rv7sKq2LpZ")
    assert first.media_links == ["pic.twitter.com/Rv7sKq2LpZ"]
    assert first.form == "blockquote"
    # classes in another order, literal dash, parentheses and emoji in the name, Hindi date,
    # x.com link with &amp; query, protocol-relative widgets.js on the next line
    assert (second.start, second.end) == span(text, "<blockquote data-cards", 'widgets.js" charset="utf-8"></script>')
    assert second.url == TW.format("LakemontSnow", "1764999999999999999")
    assert (second.author, second.handle, second.date) == ("Lakemont Snow Desk (LSD) ❄️", "LakemontSnow", "5 मार्च 2024")
    # mojibake dash, nested in a pull quote: the inner blockquote only
    assert (third.start, third.end) == span(text, '<blockquote class="twitter-tweet" data-lang="fr">', "</blockquote>")
    assert (third.author, third.handle, third.date) == ("Lac Mont", "LacMont", "5 mars 2024")


def test_video_embed_and_timeline_is_not_a_post() -> None:
    text = load("twitter-video.html")
    (e,) = discover(text).embeds
    assert e.post_id == "1765709230920277604" and e.handle == "LakemontSki"
    assert (e.start, e.end) == span(text, "<blockquote", "</blockquote>")
    assert e.media_links == ["pic.twitter.com/Nm4xTq8VbC"]


def test_rendered_iframes() -> None:
    text = load("twitter-rendered.html")
    wrapper, old = discover(text).embeds
    assert wrapper.post_id == old.post_id == "1748306223249557432"
    assert (wrapper.start, wrapper.end) == span(text, '<div class="twitter-tweet', "</iframe></div>")
    assert (old.start, old.end) == span(text, '<iframe id="twitter-widget-3"', "</iframe>")
    assert wrapper.handle is None and wrapper.form == "iframe"


def test_stub_blockquote() -> None:
    text = load("twitter-stub.html")
    (e,) = discover(text).embeds
    assert (e.post_id, e.handle) == ("1766441302328346877", "LakemontDPW")
    assert e.url == TW.format("LakemontDPW", "1766441302328346877")
    assert (e.start, e.end) == span(text, "<blockquote", "</blockquote>")


def test_status_url_lines() -> None:
    text = load("twitter-urls.txt")
    embeds = discover(text).embeds
    assert len(embeds) == 15
    assert {e.post_id for e in embeds} == {"1764927578469150481"}
    lines = [ln for ln in text.splitlines() if ln.startswith("https://") and "/status" in ln]
    assert [text[e.start:e.end] for e in embeds] == lines[:15]
    assert all(e.form == "url-line" for e in embeds)


def test_wordpress_blocks_lines_and_paragraphs() -> None:
    text = load("wordpress.html")
    embeds = discover(text).embeds
    assert [e.form for e in embeds] == ["wp-block", "wp-block", "url-line", "paragraph", "figure"]
    block, legacy, line, para, figure = embeds
    assert (block.start, block.end) == span(text, "<!-- wp:embed", "<!-- /wp:embed -->")
    assert (legacy.start, legacy.end) == span(text, "<!-- wp:core-embed/twitter", "<!-- /wp:core-embed/twitter -->")
    assert block.post_id == legacy.post_id == "1766441302328346877"
    assert text[line.start:line.end] == "https://twitter.com/LakemontSki/status/1765709230920277604"
    assert text[para.start:para.end] == "<p>https://x.com/LakemontSki/status/1765709230920277604</p>"
    assert para.url == TW.format("LakemontSki", "1765709230920277604")
    assert (figure.start, figure.end) == span(text, '<figure class="wp-block-embed wp-block-embed-twitter', "</figure>")
    assert figure.post_id == "1764927578469150481"


def test_amp_twitter_and_its_placeholder() -> None:
    text = load("amp.html")
    embeds = discover(text).embeds
    assert [(e.form, e.post_id) for e in embeds] == [
        ("amp", "1765709230920277604"), ("blockquote", "1765709230920277604"), ("amp", "1748306223249557432")]
    amp = embeds[0]
    assert (amp.start, amp.end) == span(text, "<amp-twitter", "</amp-twitter>")
    assert amp.handle == "LakemontSki" and amp.url == TW.format("LakemontSki", "1765709230920277604")
    assert (embeds[2].start, embeds[2].end) == span(text, "<amp-twitter", "</amp-twitter>", nth=1)


def test_static_site_shortcodes_but_not_escaped_ones() -> None:
    text = load("shortcodes.md")
    embeds = discover(text).embeds
    assert len(embeds) == 4 and {e.post_id for e in embeds} == {"1764927578469150481"}
    assert [text[e.start:e.end] for e in embeds] == [
        '{{< tweet user="PinecrestObs" id="1764927578469150481" >}}',
        "{{< tweet 1764927578469150481 >}}",
        '{{< x user="PinecrestObs" id="1764927578469150481" >}}',
        "{% twitter https://twitter.com/PinecrestObs/status/1764927578469150481 align=center %}",
    ]
    assert embeds[0].handle == "PinecrestObs" and embeds[0].form == "shortcode"


def test_flattened_text() -> None:
    text = load("flattened.txt")
    embeds = discover(text).embeds
    assert all(e.post_id is None and e.url is None and e.form == "flattened" for e in embeds)
    assert [(e.handle, e.date) for e in embeds] == [
        ("PinecrestObs", "March 5, 2024"), ("LakemontDPW", "February 13, 2024"),
        ("LakemontTrails", "5 मार्च 2024"), ("PinecrestObs", "March 5, 2024"), ("LakemontSki", "March 7, 2024")]
    first, glued, media_after, run1, run2 = embeds
    assert (first.start, first.end) == span(text, "Ice fishing season", "March 5, 2024")
    assert first.author == "Pinecrest Observer" and first.media_links == ["pic.twitter.com/Rv7sKq2LpZ"]
    assert glued.text == "Plows out on Route 9 pic.twitter.com/Hq2vNw5xRt"
    assert (media_after.start, media_after.end) == span(text, "Trail report", "pic.twitter.com/Zx9yWv8uTs")
    assert media_after.media_links == ["pic.twitter.com/Zx9yWv8uTs"]
    assert run1.end == run2.start and text[run2.start:run2.end].startswith("Groomers were out all night")
    assert run2.text == "Groomers were out all night"


def test_seed_article() -> None:
    text = load("seed-article.txt")
    found = discover(text, base_url=BASE)
    (e,) = found.embeds
    assert (e.provider, e.post_id, e.handle, e.author, e.date) == ("twitter", None, "ANI", "ANI", "July 15, 2025")
    assert e.text.startswith("Russia's Foreign Minister Sergey Lavrov") and e.text.endswith("Tianjin, China")
    assert e.media_links == ["pic.twitter.com/HA2sQBIEQc"]
    assert (e.start, e.end) == span(text, "Russia's Foreign Minister", "pic.twitter.com/HA2sQBIEQc")
    (image,) = found.images
    path = text.split("\n", 1)[0].removesuffix(")")
    assert path.endswith(".jpg") and image.start == 0 and text[image.start:image.end] == path
    assert image.url == "https://www.example.com" + path


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("instagram-v14.html", [("instagram", "C4kP2rTz8Lm", "https://www.instagram.com/p/C4kP2rTz8Lm/",
                                 "pineridgeresort", '<blockquote class="instagram-media"', "embed.js\"></script>"),
                                ("instagram", "C5aB3cD4eF5", "https://www.instagram.com/reel/C5aB3cD4eF5/",
                                 None, "https://www.instagram.com/reel/", "?igsh=abc")]),
        ("instagram-v7.html", [("instagram", "BQw8sN3kLp2", "https://www.instagram.com/p/BQw8sN3kLp2/",
                                "pinecrestobserver", "<blockquote", "embeds.js\"></script>")]),
        ("facebook.html", [
            ("facebook", "pfbid0Rt7Ux2YkLmNq3VwZ8sD5fGhJ1cPaE4bK6nM9oQ2rS7tU3vW5xY8zA1bC4dE6fHl",
             "https://www.facebook.com/LakemontDPW/posts/pfbid0Rt7Ux2YkLmNq3VwZ8sD5fGhJ1cPaE4bK6nM9oQ2rS7tU3vW5xY8zA1bC4dE6fHl",
             None, '<div class="fb-post"', "</blockquote></div>"),
            ("facebook", "10161234567890123", "https://www.facebook.com/PinecrestObserver/posts/10161234567890123",
             None, "<iframe", "</iframe>")]),
        ("tiktok.html", [("tiktok", "7342136643995317486",
                          "https://www.tiktok.com/@pinecrestobserver/video/7342136643995317486",
                          "pinecrestobserver", "<blockquote", "embed.js\"></script>")]),
        ("bluesky.html", [("bluesky", "3kmzg4tk6c6zb",
                           "https://bsky.app/profile/did:plc:pft7v4seh2kvj72ceuvw75ef/post/3kmzg4tk6c6zb",
                           "trails.lakemont.example", "<blockquote", "</script>")]),
        ("threads.html", [("threads", "C4nR8sLq2Xe", "https://www.threads.com/@pineridgeresort/post/C4nR8sLq2Xe",
                           "pineridgeresort", "<blockquote", "</script>")]),
        ("mastodon.html", [
            ("mastodon", "112036596940807418", "https://social.pinecrest.example/@observer/112036596940807418",
             "observer", "<iframe", "</script>"),
            ("mastodon", "112037147443259630", "https://social.pinecrest.example/@observer/112037147443259630",
             "observer", '<blockquote class="mastodon-embed"', "</script>")]),
        ("telegram.html", [("telegram", "lakemontalerts/512", "https://t.me/lakemontalerts/512",
                            "lakemontalerts", "<script", "</script>")]),
        ("reddit.html", [
            ("reddit", "1b6yq2k", "https://www.reddit.com/r/Lakemont/comments/1b6yq2k/", "pier4regular",
             '<blockquote class="reddit-embed-bq"', "</script>"),
            ("reddit", "a9k2xq", "https://www.reddit.com/r/Lakemont/comments/a9k2xq/", None,
             '<blockquote class="reddit-card"', "</script>")]),
        ("linkedin.html", [
            ("linkedin", "urn:li:share:7171882352641923661",
             "https://www.linkedin.com/feed/update/urn:li:share:7171882352641923661/", None, "<iframe", "</iframe>"),
            ("linkedin", "urn:li:ugcPost:7171882352641923999",
             "https://www.linkedin.com/feed/update/urn:li:ugcPost:7171882352641923999/", None,
             '<iframe src="https://www.linkedin.com/embed/feed/update/urn:li:ugcPost', "</iframe>")]),
    ],
)
def test_other_providers(name: str, expected: list[tuple]) -> None:
    text = load(name)
    embeds = discover(text).embeds
    assert len(embeds) == len(expected)
    for e, (provider, post_id, url, handle, begin, finish) in zip(embeds, expected, strict=True):
        assert (e.provider, e.post_id, e.url, e.handle) == (provider, post_id, url, handle)
        start = text.index(begin, e.start)
        assert start == e.start
        assert e.end == text.index(finish, start) + len(finish)


def test_youtube_forms_one_entry_per_occurrence() -> None:
    text = load("youtube.html")
    embeds = discover(text).embeds
    assert len(embeds) == 6 and {e.post_id for e in embeds} == {"Tq2wE9rY4uI"}
    assert {e.url for e in embeds} == {"https://www.youtube.com/watch?v=Tq2wE9rY4uI"}
    assert [e.form for e in embeds] == ["iframe"] * 3 + ["lazy-player", "url-line", "url-line"]
    lazy = embeds[3]  # WP Rocket's placeholder and its noscript fallback: one occurrence
    assert text[lazy.start:lazy.end].startswith('<div class="rll-youtube-player"')
    assert text[lazy.start:lazy.end].endswith('title="Ice out"></iframe></noscript>')


def test_instagram_details() -> None:
    v7 = discover(load("instagram-v7.html")).embeds[0]
    assert (v7.author, v7.text) == ("Pinecrest Observer", "First snow on the pier")
    assert v7.date == "Feb 11, 2017 at 7:02am PST"
    assert discover(load("instagram-v7.html")).images == []  # the CSS data URI is not an image


def test_facebook_sdk_and_pixel_are_not_posts_or_images() -> None:
    found = discover(load("facebook.html"))
    assert len(found.embeds) == 2 and found.images == []
    assert found.embeds[0].text == "Parking ban in effect from 10pm."


def test_unknown_format_is_an_input_error() -> None:
    with pytest.raises(InputError):
        discover("text", fmt="pdf")
    with pytest.raises(InputError):
        discover(b"bytes")  # type: ignore[arg-type]


def test_explicit_formats() -> None:
    html_doc = load("twitter-stub.html")
    assert discover(html_doc, fmt="text").embeds == []
    assert len(discover(html_doc, fmt="html").embeds) == 1
    flattened = load("flattened.txt")
    assert discover(flattened, fmt="html").embeds == []


# --- Any element carrying a post (discover/elements.py) ------------------------------------------

ELEMENTS = [
    # (markup standing as its own block, provider, post id)
    ('<Tweet id="1475482722877546510" />', "twitter", "1475482722877546510"),
    ('<EmbeddedTweet tweetId="1475482722877546511"></EmbeddedTweet>', "twitter", "1475482722877546511"),
    ('<TweetEmbed url="https://x.com/u/status/1970488331046920629" />', "twitter", "1970488331046920629"),
    ('<YouTube videoId="WzCL3FM9dDc" />', "youtube", "WzCL3FM9dDc"),
    ('<LiteYouTubeEmbed id="Bf_hHU1Yu7o" title="Storm" />', "youtube", "Bf_hHU1Yu7o"),
    ('<lite-youtube videoid="i0kEjttb2mE"></lite-youtube>', "youtube", "i0kEjttb2mE"),
    ('<div class="youtube-player" data-video-id="Tq2wE9rY4uA"></div>', "youtube", "Tq2wE9rY4uA"),
    ('<InstagramEmbed url="https://www.instagram.com/p/C4kP2rTz8Lm/" />', "instagram", "C4kP2rTz8Lm"),
    ('<instagram-post shortcode="C4kP2rTz8Ln"></instagram-post>', "instagram", "C4kP2rTz8Ln"),
    ('<TikTok videoId="7301234567890123456" />', "tiktok", "7301234567890123456"),
    ('<amp-tiktok width="325" height="575" data-src="7301234567890123457"></amp-tiktok>', "tiktok",
     "7301234567890123457"),
    ('<bluesky-post src="https://bsky.app/profile/a.example/post/3kq2abcdefg2x"></bluesky-post>', "bluesky",
     "3kq2abcdefg2x"),
    ('<blockquote class="rich-embed" data-post-url="https://www.threads.net/@a/post/C5dEfGhIjKl"><p>x</p></blockquote>',
     "threads", "C5dEfGhIjKl"),
    ('<div data-tweet-id="1786327136854400001"></div>', "twitter", "1786327136854400001"),
    ('<embed src="http://www.youtube.com/v/WzCL3FM9dDc" type="application/x-shockwave-flash">', "youtube",
     "WzCL3FM9dDc"),
    ('<object><param name="movie" value="http://www.youtube.com/v/i0kEjttb2mE"><embed '
     'src="http://www.youtube.com/v/i0kEjttb2mE" type="application/x-shockwave-flash"></object>', "youtube",
     "i0kEjttb2mE"),
    ('<div data-props="{&quot;url&quot;:&quot;https://x.com/u/status/1&quot;}"></div>', "twitter", "1"),
    ("<div data-props='{\"post\":{\"url\":\"https:\\/\\/www.tiktok.com\\/@a\\/video\\/7301234567890123458\"}}'></div>",
     "tiktok", "7301234567890123458"),
    ('<div data-react-class="TweetEmbed" data-react-props="{&quot;tweetId&quot;:1786327136854400002}"></div>',
     "twitter", "1786327136854400002"),
    ('<astro-island component-url="/_astro/YouTube.abc.js" props="{&quot;videoId&quot;:[0,&quot;Tq2wE9rY4uB&quot;]}">'
     '</astro-island>', "youtube", "Tq2wE9rY4uB"),
]


@pytest.mark.parametrize(("markup", "provider", "post_id"), ELEMENTS, ids=[m[:30] for m, _, _ in ELEMENTS])
@pytest.mark.parametrize("around", ["<p>Before.</p>\n{}\n<p>After.</p>", "<div class=\"embed\">\n  {}\n</div>",
                                    "# Post\n\nSome text.\n\n{}\n\n![a](/b.jpg)\n", "<p>x</p><p>{}</p><p>y</p>"])
def test_any_element_carrying_a_post_is_an_embed(markup: str, provider: str, post_id: str, around: str) -> None:
    doc = around.format(markup)
    (e,) = discover(doc).embeds
    assert (e.provider, e.post_id, doc[e.start:e.end]) == (provider, post_id, markup)


@pytest.mark.parametrize("doc", [
    '<p>See <span data-url="https://twitter.com/a/status/12">this post</span> today.</p>',  # inside a sentence
    '<p>Read <x-tweet id="12"></x-tweet> and more.</p>',
    '<section id="1234567"><p>Plain section.</p></section>',  # an id, but nothing names a platform
    '<div class="video" data-video-id="6312345678901"></div>',  # a player id of some other platform
    '<p><a href="https://twitter.com/a/status/12">a link</a></p>',  # links are links
    '<link rel="alternate" href="https://twitter.com/a/status/12">',
    '<meta property="og:see_also" content="https://twitter.com/a/status/12">',
    '<div title="https://twitter.com/a/status/12"></div>',  # text for readers
    '<div data-note="\nhttps://twitter.com/a/status/12\n"></div>',  # a value broken over lines
    '<div class="tweet" data-id="not-an-id"></div>',
    '<Tweet id="1475482722877546510" ',  # never closed: no tag
    # wrappers that name a post but hold the page's own text: a heading, a section, or a page's words
    '<article class="story" data-source-url="https://twitter.com/a/status/12"><h1>Plows out</h1>'
    '<p>The city sent plows.</p><figure><img src="/plow.jpg"></figure></article>',
    '<div id="__next" data-props=\'{"sourceTweet":"https://twitter.com/a/status/12"}\'><p>'
    + "Long story text. " * 30 + "</p></div>",
    '<div data-href="https://www.facebook.com/Page/posts/10161234567890123"><p>' + "Council news. " * 30 + "</p></div>",
    '<div data-post="https://twitter.com/a/status/12"><section><p>Short.</p></section></div>',
    # a share toolbar: a URL to share, not a post shown
    '<div class="share-tools" data-share-url="https://twitter.com/a/status/12"><button>Share</button></div>',
    '<x-share share-url="https://www.instagram.com/p/C4kP2rTz8Lm/"></x-share>',
    # AMP's comment box and like button of a Facebook post; YouTube's "current stream of a channel"
    '<amp-facebook-comments width="486" height="657" layout="responsive" '
    'data-href="https://www.facebook.com/Page/posts/10161234567890123"></amp-facebook-comments>',
    '<amp-facebook-like data-href="https://www.facebook.com/Page/posts/10161234567890123"></amp-facebook-like>',
    '<iframe src="https://www.youtube.com/embed/live_stream?channel=UCB8Kb4pxYzsDsHxzBfnid4Q"></iframe>',
    '<amp-youtube data-videoid="live_stream" layout="responsive" width="480" height="270"></amp-youtube>',
])
def test_elements_that_are_not_embeds(doc: str) -> None:
    assert discover("<p>x</p>\n" + doc).embeds == []


def test_a_wrapper_of_prose_around_a_post_leaves_the_post_its_own_span() -> None:
    status = "https://twitter.com/LakemontDPW/status/1766441302328346877"
    quote = (f'<blockquote class="twitter-tweet"><p>Plows out</p>&mdash; L (@LakemontDPW) '
             f'<a href="{status}">March 1, 2024</a></blockquote>')
    doc = f'<div data-source-url="{status}"><p>' + "Prose around. " * 30 + f"</p>{quote}<p>More prose.</p></div>"
    (e,) = discover(doc).embeds
    assert doc[e.start:e.end] == quote
    # an element's own fallback (a play button's label, the post's words) stays within it
    player = ('<lite-youtube videoid="i0kEjttb2mE"><a class="lty-playbtn"><span>Play: Council meeting</span></a>'
              "</lite-youtube>")
    (e,) = discover(f"<p>x</p>\n{player}\n").embeds
    assert e.post_id == "i0kEjttb2mE" and e.end - e.start == len(player)


@pytest.mark.parametrize("doc", [
    "<pre><code>\nhttps://twitter.com/jack/status/20\n</code></pre>",
    "<p>x</p><pre>\n<p>https://twitter.com/jack/status/20</p>\n</pre>",
    "<p>x</p><textarea>\nhttps://twitter.com/jack/status/20\n</textarea>",
    "<p>x</p><script type='text/template'>\nhttps://twitter.com/jack/status/20\n</script>",
    "<p>x</p><style>\nhttps://twitter.com/jack/status/20\n</style>",
    "<p>x</p><!--\nhttps://twitter.com/jack/status/20\n-->",
    '<p>x</p><a href="/t">\nhttps://twitter.com/jack/status/20\n</a>',
    '<p>x</p><A HREF="/t"><lite-youtube videoid="WzCL3FM9dDc"></lite-youtube></A>',
    '<p>x</p><code><Tweet id="20" /></code>',
    '<p>x</p><samp>\nhttps://twitter.com/jack/status/20\n</samp>',
    '<p>x</p><pre><blockquote class="twitter-tweet"><a href="https://twitter.com/j/status/20">d</a></blockquote></pre>',
    '<p>x</p><div title="\nhttps://twitter.com/jack/status/20\n"></div>',
    "# T\n\n```\nhttps://twitter.com/jack/status/20\n```\n",
    "# T\n\n~~~\n<Tweet id=\"20\" />\n~~~\n",
    "# T ![a](b.png)\n\nText:\n\n    https://twitter.com/jack/status/20\n",
    "# T ![a](b.png)\n\nInline `\nhttps://twitter.com/jack/status/20\n` code.\n",
    "# T ![a](b.png)\n\n`<Tweet id=\"20\" />`\n",
])
def test_no_embed_in_code_comments_or_link_text(doc: str) -> None:
    assert discover(doc).embeds == []


def test_code_and_links_end_where_they_end() -> None:
    doc = ("<pre>\nhttps://twitter.com/jack/status/20\n</pre>\nhttps://twitter.com/jack/status/21\n"
           '<a href="/x">link</a>\nhttps://twitter.com/jack/status/22\n'
           "# not a heading in HTML\n- item\n\n    https://twitter.com/jack/status/23\n")
    assert [e.post_id for e in discover(doc, fmt="html").embeds] == ["21", "22", "23"]
    md = "# T ![a](b.png)\n\n- item\n\n    https://twitter.com/jack/status/23\n\n`code` https://x.com/a/status/24\n"
    md += "\nhttps://twitter.com/jack/status/25\n"
    assert [e.post_id for e in discover(md).embeds] == ["23", "25"]


# --- Player proxies, wrappers, fallbacks and widgets that show no post (issue 14 follow-up) --------

YT_WATCH = "https%3A%2F%2Fwww.youtube.com%2Fwatch%3Fv%3D"
PROXIED = [
    # Drupal core's media oEmbed iframe (relative, the post URL half-encoded)
    ('<iframe src="/media/oembed?url=https%3A//www.youtube.com/watch%3Fv%3DAbCdEfGhJ03&amp;max_width=0&amp;hash=Xy7"'
     ' class="media-oembed-content" title="Council"></iframe>', "youtube", "AbCdEfGhJ03"),
    # Embedly (Medium, Ghost, Reddit): protocol-relative, src= and url= both encoded
    (f'<iframe class="embedly-embed" src="//cdn.embedly.com/widgets/media.html?src=https%3A%2F%2Fwww.youtube.com'
     f'%2Fembed%2FAbCdEfGhJ04&amp;url={YT_WATCH}AbCdEfGhJ04&amp;schema=youtube" width="854"></iframe>',
     "youtube", "AbCdEfGhJ04"),
    # iframely and noembed, other platforms
    ('<iframe src="https://cdn.iframe.ly/api/iframe?url=https%3A%2F%2Ftwitter.com%2Fa%2Fstatus%2F1786327136854400501'
     '&amp;key=abc"></iframe>', "twitter", "1786327136854400501"),
    ('<iframe src="https://noembed.com/embed?url=https://www.tiktok.com/@a/video/7301234567890123501"></iframe>',
     "tiktok", "7301234567890123501"),
    # a lazy proxy frame (data-src), and an element loading one
    ('<iframe data-src="/media/oembed?url=https%3A//www.instagram.com/p/C4kP2rTz8Q1/" src="about:blank"></iframe>',
     "instagram", "C4kP2rTz8Q1"),
    ('<amp-iframe src="https://cdn.iframe.ly/api/iframe?url=https%3A%2F%2Fyoutu.be%2FAbCdEfGhJ05" width="4" '
     'height="3"></amp-iframe>', "youtube", "AbCdEfGhJ05"),
]


@pytest.mark.parametrize(("markup", "provider", "post_id"), PROXIED, ids=[m[:40] for m, _, _ in PROXIED])
def test_a_post_behind_a_player_proxy_is_an_embed(markup: str, provider: str, post_id: str) -> None:
    doc = f"<article>\n<p>Watch:</p>\n{markup}\n<p>End.</p>\n</article>"
    (e,) = discover(doc).embeds
    assert (e.provider, e.post_id, doc[e.start:e.end]) == (provider, post_id, markup)


@pytest.mark.parametrize("markup", [
    # the platforms' own widgets name a post in their query but show a button or a comment box
    '<iframe src="https://www.facebook.com/plugins/like.php?href=https%3A%2F%2Fwww.facebook.com%2FPage%2Fposts%2F'
    '1234567890123471&amp;layout=button_count"></iframe>',
    '<iframe src="https://www.facebook.com/plugins/comments.php?href=https%3A%2F%2Fwww.facebook.com%2FPage%2Fposts%2F'
    '1234567890123472"></iframe>',
    '<iframe src="https://platform.twitter.com/widgets/tweet_button.html?url=https%3A%2F%2Fx.com%2Fa%2Fstatus%2F'
    '1786327136854400502"></iframe>',
    # SDK plugins and buttons: a post in data-href, but no post shown
    '<div class="fb-like" data-href="https://www.facebook.com/ExamplePage/posts/1234567890123471" '
    'data-layout="button_count" data-share="true"></div>',
    '<div class="fb-comments" data-href="https://www.facebook.com/ExamplePage/posts/1234567890123472" '
    'data-numposts="5"></div>',
    '<div class="fb-page" data-href="https://www.facebook.com/ExamplePage/posts/1234567890123473"></div>',
    '<div class="fb-share-button" data-href="https://www.facebook.com/ExamplePage/posts/1234567890123474"></div>',
    '<fb:like href="https://www.facebook.com/ExamplePage/posts/1234567890123475" send="true"></fb:like>',
    '<div class="twitter-share-button" data-url="https://twitter.com/a/status/1786327136854400503"></div>',
    # TikTok's creator, music and hashtag embeds show a feed, not a post
    '<blockquote class="tiktok-embed" cite="https://www.tiktok.com/@examplefc" data-unique-id="examplefc" '
    'data-embed-type="creator"> <section> <a href="https://www.tiktok.com/@examplefc?refer=creator_embed">'
    '@examplefc</a> </section> </blockquote>',
    '<blockquote class="tiktok-embed" cite="https://www.tiktok.com/music/x-7301234567890123502" '
    'data-embed-type="music"><section></section></blockquote>',
    # an unclassed quotation that links to a post but has no widget's attribution line and date
    '<blockquote><p>We will not be moving the meeting.</p><p>Source: <a href="https://twitter.com/a/status/'
    '1786327136854400504">the council</a></p></blockquote>',
])
def test_markup_naming_a_post_it_does_not_show_is_no_embed(markup: str) -> None:
    assert discover(f"<p>x</p>\n{markup}\n<p>y</p>").embeds == []


def test_props_keys_named_after_a_platform() -> None:
    ig = ('<div class="instagram" data-attrs="{&quot;instagram_id&quot;:&quot;C4kP2rTz8M2&quot;,&quot;title&quot;:'
          '&quot;A post shared by Example FC (@examplefc)&quot;}" data-component-name="InstagramToDOM"></div>')
    yt = '<VideoEmbed youtube_id="AbCdEfGhJ06" />'
    tt = '<div class="social" data-tiktok-id="7301234567890123503"></div>'
    doc = f"<p>a</p>{ig}<p>b</p>\n{yt}\n<p>c</p>\n{tt}\n"
    assert [(e.provider, e.post_id, doc[e.start:e.end]) for e in discover(doc).embeds] == [
        ("instagram", "C4kP2rTz8M2", ig), ("youtube", "AbCdEfGhJ06", yt), ("tiktok", "7301234567890123503", tt)]
    # a key naming a platform but no id of it, or an id key under another platform's name: nothing
    assert discover('<p>a</p>\n<div class="instagram" data-attrs="{&quot;instagram_title&quot;:'
                    '&quot;C4kP2rTz8M2&quot;}"></div>\n').embeds == []


def test_bluesky_at_uris_in_elements() -> None:
    bs = '<BlueskyPost id="at://did:plc:abcdefghijklmnopqrstuvwx/app.bsky.feed.post/3kq2abcdefg31" />'
    doc = f"---\ntitle: x\n---\nimport {{ BlueskyPost }} from 'astro-embed';\n\n{bs}\n"
    (e,) = discover(doc).embeds
    assert (e.provider, e.post_id, doc[e.start:e.end]) == ("bluesky", "3kq2abcdefg31", bs)
    assert e.url == "https://bsky.app/profile/did:plc:abcdefghijklmnopqrstuvwx/post/3kq2abcdefg31"


def test_a_wrapper_carrying_its_post_is_the_span() -> None:
    wrap = ('<div id="youtube2-AbCdEfGhJ05" class="youtube-wrap" data-attrs="{&quot;videoId&quot;:&quot;AbCdEfGhJ05'
            '&quot;,&quot;startTime&quot;:null}" data-component-name="Youtube2ToDOM"><div class="youtube-inner">'
            '<iframe src="https://www.youtube-nocookie.com/embed/AbCdEfGhJ05?rel=0" width="728"></iframe></div></div>')
    doc = f"<p>a</p>{wrap}<p>b</p>"
    (e,) = discover(doc).embeds
    assert (e.provider, e.post_id, doc[e.start:e.end]) == ("youtube", "AbCdEfGhJ05", wrap)
    # a wrapper naming another post than the one it holds is no embed: the inner one keeps its span
    inner = '<iframe src="https://www.youtube.com/embed/AbCdEfGhJ07"></iframe>'
    doc = f'<p>a</p><div data-video-id="AbCdEfGhJ06" class="youtube">{inner}</div><p>b</p>'
    (e,) = discover(doc).embeds
    assert (e.post_id, doc[e.start:e.end]) == ("AbCdEfGhJ07", inner)


def test_a_noscript_fallback_is_part_of_its_embed() -> None:
    rocket = ('<div class="rll-youtube-player" data-src="https://www.youtube.com/embed/AbCdEfGhJ02" '
              'data-id="AbCdEfGhJ02" data-query="feature=oembed"></div><noscript><iframe title="Council" '
              'src="https://www.youtube.com/embed/AbCdEfGhJ02?feature=oembed" allowfullscreen></iframe></noscript>')
    lazy = ('<iframe class="lazyload" data-src="https://www.youtube.com/embed/AbCdEfGhJ08" src="about:blank">'
            '</iframe>\n<noscript>\n  <iframe src="https://www.youtube.com/embed/AbCdEfGhJ08"></iframe>\n</noscript>')
    other = '<noscript><iframe src="https://www.youtube.com/embed/AbCdEfGhJ09"></iframe></noscript>'
    first = '<iframe src="https://www.youtube.com/embed/AbCdEfGhJ10"></iframe>'
    doc = f"<p>Watch:</p>\n{rocket}\n<p>And:</p>\n{lazy}\n<p>Two posts:</p>\n{first}{other}\n"
    assert [(e.post_id, doc[e.start:e.end]) for e in discover(doc).embeds] == [
        ("AbCdEfGhJ02", rocket), ("AbCdEfGhJ08", lazy), ("AbCdEfGhJ10", first),
        ("AbCdEfGhJ09", other[len("<noscript>"):-len("</noscript>")])]


def test_a_blockquote_stripped_of_its_class_is_read_by_its_shape() -> None:
    tweet = ('<blockquote><p lang="en" dir="ltr">Release day! <a href="https://t.co/AbCdEf1234">pic.twitter.com/'
             'AbCdEf1234</a></p>&mdash; Example Dev (@exampledev) <a href="https://twitter.com/exampledev/status/'
             '1786327136854400205?ref_src=twsrc%5Etfw">May 3, 2024</a></blockquote>')
    sky = ('<blockquote class="quote"><p lang="en">Water over the pier.</p>&mdash; Harbor Watch (<a href="https://'
           'bsky.app/profile/harborwatch.example.com">@harborwatch.example.com</a>) <a href="https://bsky.app/profile/'
           'harborwatch.example.com/post/3kq2abcdefg32">May 3, 2024 at 7:02 AM</a></blockquote>')
    doc = f"<p>Intro.</p>\n{tweet}\n<p>And:</p>\n{sky}\n<p>Outro.</p>"
    a, b = discover(doc).embeds
    assert (a.provider, a.post_id, doc[a.start:a.end]) == ("twitter", "1786327136854400205", tweet)
    assert (a.author, a.handle, a.date, a.text) == ("Example Dev", "exampledev", "May 3, 2024",
                                                    "Release day! pic.twitter.com/AbCdEf1234")
    assert (b.provider, b.post_id, doc[b.start:b.end]) == ("bluesky", "3kq2abcdefg32", sky)
    assert b.author == "Harbor Watch"


# --- Code, link text and content never shown, as CommonMark and HTML read them (issue 14 follow-up) --

JACK = "https://twitter.com/jack/status/20"
KEPT = "https://twitter.com/exampledev/status/1786327136854400011"


@pytest.mark.parametrize("doc", [
    # a fence closes only with as many of its own character, or more
    f"# Docs\n\n````md\n```\n{JACK}\n```\n````\n\nEnd.\n",
    f"# Docs\n\n~~~~\n~~~\n{JACK}\n~~~\n~~~~\n",
    f"# Docs\n\n`````\n````\n```\n````\n{JACK}\n`````\n",
    # indented code inside list items: four columns past the item's content
    f"# Docs\n\n- Step one:\n\n        {JACK}\n\n- Step two\n",
    f"# Docs\n\n- Step one:\n\n      {JACK}\n",
    f"# Docs\n\n1. Copy:\n\n       {JACK}\n\n2. Paste.\n",
    f"# Docs\n\n- a\n  - b\n\n        {JACK}\n",
    f"# Docs\n\n-     a\n\n      {JACK}\n",  # five blanks after the marker: content at column 2
    f"# Docs\n\n- a\n\n  more of a\n\n      {JACK}\n",
    # the text of a link or image spread over lines
    f"# Notes\n\nRead [\n{JACK}\n]({JACK}) now.\n",
    f"# Notes\n\nRead [the\n{JACK}\npost][1] now.\n\n[1]: {JACK}\n",
    f"# Notes\n\nSee ![\n{JACK}\n](/a.png) here.\n",
    f"# Notes\n\n[[x]\n{JACK}\n](/a) here.\n",
    # content a browser never shows as article text
    f'<template id="card">\n{JACK}\n</template>\n<p>end</p>',
    f"<svg><desc>\n{JACK}\n</desc></svg><p>x</p>",
    f"<select><option>\n{JACK}\n</option></select>",
    f"<p>x</p><math><mtext>\n{JACK}\n</mtext></math>",
    f"<p>x</p><video controls>\n{JACK}\n</video>",
    f'<p>x</p><TEMPLATE><blockquote class="twitter-tweet"><a href="{JACK}">d</a></blockquote></TEMPLATE>',
])
def test_nested_code_link_text_and_hidden_content_hold_no_embed(doc: str) -> None:
    assert discover(doc).embeds == []


@pytest.mark.parametrize(("doc", "expected"), [
    (f"# Docs\n\n````\n```\nx\n````\n\n{KEPT}\n", KEPT),  # after the 4-backtick fence closes
    (f"# Docs\n\n```a`b```\n{KEPT}\n", KEPT),  # an inline code span at a line's start: no fence
    (f"# Docs\n\n- Step one:\n\n    {KEPT}\n", KEPT),  # a list item's paragraph (content at column 2)
    (f"# Docs\n\n- Step one:\n\n     {KEPT}\n", KEPT),
    (f"# Docs\n\n1. Copy:\n\n      {KEPT}\n", KEPT),
    (f"# Docs\n\n-   a\n\n      {KEPT}\n", KEPT),  # content at column 4: 6 < 8
    (f"# Notes\n\n[a](/b) and [c][1]\n\n{KEPT}\n\n[1]: /d\n", KEPT),  # links on one line, then the URL
    (f"# Notes\n\n[a\n\n{KEPT}\n\n](y)\n", KEPT),  # a blank line ends the paragraph: no link
    (f'<div><template shadowrootmode="open">\n{KEPT}\n</template></div>', KEPT),  # a shadow root is shown
    (f"<p>x</p><svg></svg>\n{KEPT}\n<video></video>", KEPT),
])
def test_urls_after_or_beside_code_and_links_are_embeds(doc: str, expected: str) -> None:
    (e,) = discover(doc).embeds
    assert doc[e.start:e.end] == expected and e.post_id == "1786327136854400011"


def test_flattened_dates_the_widget_writes_and_sentences_that_are_not_attributions() -> None:
    ca = "Avui presentem el pont.\n— Ajuntament Exemple (@AjExemple) 3 de maig de 2024"
    ca2 = "Tall de trànsit.\n— Ajuntament Exemple (@AjExemple) 1 d'octubre de 2019"
    sign_off = "Thanks for reading.\n\n— The Editors (@newsdesk) May 3, 2024 edition"
    after_url = "Release day!\n— Example Dev (@exampledev) May 3, 2024 https://t.co/AbCdEf1234"
    doc = f"Reaccions\n\n{ca}\n\n{ca2}\n\n{sign_off}\n\n{after_url}\n\nEnd.\n"
    embeds = discover(doc).embeds
    assert [(e.post_id, doc[e.start:e.end], e.date) for e in embeds] == [
        (None, ca, "3 de maig de 2024"), (None, ca2, "1 d'octubre de 2019"),
        (None, after_url[:after_url.index(" https")], "May 3, 2024")]
    assert embeds[0].text == "Avui presentem el pont." and embeds[0].handle == "AjExemple"


def test_flattened_tweet_text_drops_reference_links_and_autolinks() -> None:
    sid = "1786327136854400201"
    block = ("> Release day! [pic.twitter.com/AbCdEf9876][1] see <https://example.com/notes> and [docs][]\n>\n"
             "> — Example Dev (@exampledev) [May 3, 2024][2]")
    doc = (f"Intro.\n\n{block}\n\nOutro.\n\n   [1]: https://t.co/AbCdEf9876\n   [docs]: https://example.com/d\n"
           f"   [2]: https://twitter.com/exampledev/status/{sid}?ref_src=twsrc%5Etfw\n")
    (e,) = discover(doc).embeds
    assert (e.post_id, doc[e.start:e.end], e.date) == (sid, block, "May 3, 2024")
    assert e.text == "Release day! pic.twitter.com/AbCdEf9876 see https://example.com/notes and docs"
    assert e.media_links == ["pic.twitter.com/AbCdEf9876"]


REDDIT = "https://www.reddit.com/r/Lakemont/comments/1b6yq2k/ice_out/"


@pytest.mark.parametrize(("markup", "provider", "post_id"), [
    (f'<blockquote class="embedly-card"><h4><a href="{REDDIT}">Ice out</a></h4><p>Pier 4</p></blockquote>\n'
     '<script async src="//cdn.embedly.com/widgets/platform.js" charset="UTF-8"></script>', "reddit", "1b6yq2k"),
    (f'<a class="embedly-card" data-card-controls="0" href="{REDDIT}">Ice out</a>', "reddit", "1b6yq2k"),
    ('<div class="iframely-embed"><div class="iframely-responsive" style="padding-bottom: 56.25%;">'
     '<a href="https://www.youtube.com/watch?v=Tq2wE9rY4uI" data-iframely-url="//iframely.net/x"></a></div></div>'
     '<script async src="//iframely.net/embed.js"></script>', "youtube", "Tq2wE9rY4uI"),
])
def test_an_embed_services_card_of_a_post_is_that_posts_embed(markup: str, provider: str, post_id: str) -> None:
    doc = f"<p>Before.</p>\n{markup}\n<p>After.</p>"
    (e,) = discover(doc).embeds
    assert (e.provider, e.post_id, doc[e.start:e.end]) == (provider, post_id, markup)
    # a card of a page that is no post, or a card link inside a sentence, is not
    assert discover(doc.replace(REDDIT, "https://example.com/story").replace("youtube.com/watch?v=", "example.com/?v=")
                    ).embeds == []
    if markup.startswith("<a "):
        assert discover(f"<p>See {markup} now.</p>").embeds == []
