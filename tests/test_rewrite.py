"""Splicing on spans, patches that apply and revert exactly, and Robust Links attributes on the link to
the post (archiver/article/splice.py: add_robust_links)."""

from __future__ import annotations

import re
import time

import pytest
import webencodings
from bs4 import BeautifulSoup
from hypothesis import given, settings
from hypothesis import strategies as st

from archiver.article.decode import DecodedArticle, decode_article, python_codec
from archiver.article.splice import (
    ROBUST_ATTRS,
    Patch,
    PatchError,
    Replacement,
    add_robust_links,
    apply_patch,
    revert_patch,
    splice,
)
from archiver.article.versions import encodable
from archiver.discover.scan import discover
from archiver.errors import InputError
from archiver.steps.finalize import post_link_test

TWEET = ('<blockquote class="twitter-tweet"><p>Hi</p>&mdash; A (@a) '
         '<a href="https://twitter.com/a/status/{id}">March 5, 2024</a></blockquote>')


def test_splice_replaces_only_spans_and_reverts() -> None:
    text = "héllo wörld 😀 end"
    new, patch = splice(text, [Replacement(12, 13, "[emoji]"), Replacement(0, 5, "HELLO")])
    assert new == "HELLO wörld [emoji] end"
    assert [op["old"] for op in patch.ops] == ["héllo", "😀"]
    assert revert_patch(new, patch) == text
    assert apply_patch(text, Patch.from_json(patch.to_json())) == new


def test_overlaps_and_out_of_range_are_errors() -> None:
    with pytest.raises(ValueError):
        splice("abcdef", [Replacement(0, 3, "x"), Replacement(2, 4, "y")])
    with pytest.raises(ValueError):
        splice("abc", [Replacement(2, 9, "x")])


def test_hashes_guard_apply_and_revert() -> None:
    new, patch = splice("abc", [Replacement(1, 2, "B")])
    with pytest.raises(PatchError):
        apply_patch("abd", patch)
    with pytest.raises(PatchError):
        revert_patch(new + " ", patch)
    with pytest.raises(PatchError):
        Patch.from_json({"ops": [{"start": "x"}], "base_sha256": "", "result_sha256": ""})


@st.composite
def documents(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["prose", "tweet", "img", "line"]))
        if kind == "prose":
            parts.append(draw(st.text(alphabet=st.characters(exclude_characters="<>&\r"), max_size=40)))
        elif kind == "tweet":
            parts.append(TWEET.format(id=draw(st.integers(10, 10**19))))
        elif kind == "img":
            path = draw(st.from_regex(r"[a-z0-9/_-]{1,20}", fullmatch=True))
            parts.append(f'<img src="/{path}.jpg" alt="x">')
        else:
            parts.append(f"\nhttps://x.com/u/status/{draw(st.integers(10, 10**19))}\n")
    return "".join(parts)


@settings(max_examples=150, deadline=None)
@given(documents(), st.randoms(use_true_random=False))
def test_property_splice_keeps_outside_bytes_and_reverts(doc: str, rnd) -> None:
    found = discover(doc, fmt="html")
    spans = sorted([(e.start, e.end) for e in found.embeds] + [(i.start, i.end) for i in found.images])
    chosen, last = [], -1
    for s, e in spans:
        if s >= last and rnd.random() < 0.8:
            chosen.append(Replacement(s, e, rnd.choice(["", "https://stable.example/x", "é😀" * rnd.randint(0, 3)])))
            last = e
    new, patch = splice(doc, chosen)
    # every character outside the replaced spans is unchanged, in order
    pos_old = pos_new = 0
    for r in sorted(chosen, key=lambda r: r.start):
        assert new[pos_new:pos_new + r.start - pos_old] == doc[pos_old:r.start]
        pos_new += r.start - pos_old + len(r.new)
        pos_old = r.end
    assert new[pos_new:] == doc[pos_old:]
    assert revert_patch(new, Patch.from_json(patch.to_json())) == doc
    assert apply_patch(doc, patch) == new


POST = "https://twitter.com/a/status/1"
ROBUST = re.compile(r'''\s+data-(?:originalurl|versionurl|versiondate)=(?:"[^"]*"|'[^']*'|[^\s>]+)''')
names_post = post_link_test("twitter", {"1"}, {POST})


def robust(markup: str, version: str = "https://m.example/v?a=1&b=2", date: str = "2024-03-05") -> str:
    return add_robust_links(markup, POST, version, date, names_post)


def decorated(markup: str) -> list[str]:
    """The start tags carrying data-versionurl."""
    return re.findall(r"<[^<>]*data-versionurl=[^<>]*>", markup)


def test_robust_links_go_on_the_status_link_only_and_are_idempotent() -> None:
    markup = ('<blockquote class="twitter-tweet"><p>Hi <a href="https://t.co/x">pic.twitter.com/x</a> '
              '<a href="https://twitter.com/hashtag/a?src=hash">#a</a></p>&mdash; A (@a) '
              '<a href="https://twitter.com/a/status/1?ref_src=twsrc%5Etfw">March 5, 2024</a></blockquote> '
              '<script async src="https://platform.twitter.com/widgets.js"></script>')
    once = robust(markup)
    assert once == markup.replace('%5Etfw">', '%5Etfw" data-originalurl="https://twitter.com/a/status/1" '
                                  'data-versionurl="https://m.example/v?a=1&amp;b=2" data-versiondate="2024-03-05">')
    assert robust(once) == once
    assert robust(once, "https://v2", "2025-01-01") == robust(markup, "https://v2", "2025-01-01")
    assert add_robust_links('<a href="https://twitter.com/a/status/1">d</a>', 'a"b', "v", "<d>", names_post) == (
        '<a href="https://twitter.com/a/status/1" data-originalurl="a&quot;b" data-versionurl="v" '
        'data-versiondate="&lt;d&gt;">d</a>')


def test_attributes_an_older_release_put_on_the_wrapper_are_moved_without_duplicates() -> None:
    clean = TWEET.format(id=1)
    old = clean.replace('<blockquote class="twitter-tweet">', '<blockquote class="twitter-tweet" '
                        'data-originalurl="o" data-versionurl="https://old/x.json" data-versiondate="2020">')
    assert robust(old) == robust(clean)
    assert decorated(robust(old)) == [decorated(robust(clean))[0]] and decorated(robust(old))[0].startswith("<a ")
    twice = clean.replace('status/1">', 'status/1" DATA-VERSIONURL="x" data-versionurl=\'y\' data-versiondate=z>')
    assert robust(twice) == robust(clean)
    # A wrapper's own attributes stay, in their order, with their spacing.
    wp = ('<!-- wp:embed {"url":"https://twitter.com/a/status/1"} -->\n<figure class="wp-block-embed" '
          'data-versionurl="v">\n<div class="wp-block-embed__wrapper">\nhttps://twitter.com/a/status/1\n</div>'
          '</figure>\n<!-- /wp:embed -->')
    assert robust(wp) == wp.replace(' data-versionurl="v"', "")


def test_block_editor_wrappers_and_blockquotes_are_never_decorated() -> None:
    gutenberg = ('<!-- wp:embed {"url":"https://twitter.com/a/status/1","type":"rich"} -->\n'
                 '<figure class="wp-block-embed is-provider-twitter"><div class="wp-block-embed__wrapper">'
                 + TWEET.format(id=1) + '</div></figure>\n<!-- /wp:embed -->')
    drupal = ('<div class="media media--type-remote-video"><div class="field field--name-field-media-oembed-video">'
              + TWEET.format(id=1) + "</div></div>")
    for markup in (gutenberg, drupal):
        out = robust(markup)
        [tag] = decorated(out)
        assert tag.startswith('<a href="https://twitter.com/a/status/1"')
        assert ROBUST.sub("", out) == markup


@pytest.mark.parametrize("markup", [
    "https://x.com/a/status/1", "<p>\nhttps://x.com/a/status/1?s=20\n</p>", "Text — A (@a) March 5, 2024",
    '<iframe src="https://platform.twitter.com/embed/Tweet.html?id=1"></iframe>',
    '{{< tweet user="a" id="1" >}}', '<amp-twitter data-tweetid="1" width="375" height="472"></amp-twitter>',
    '<!-- wp:embed {"url":"https://twitter.com/a/status/1"} -->\n<figure class="wp-block-embed"><div>'
    '\nhttps://twitter.com/a/status/1\n</div></figure>\n<!-- /wp:embed -->',
    '<blockquote class="twitter-tweet"><p>Hi</p>&mdash; A (@a) March 5, 2024</blockquote>',
])
def test_a_construct_without_a_link_to_the_post_gets_none(markup: str) -> None:
    assert robust(markup) == markup
    stale = re.sub(r"^(<\w[\w-]*)", r'\1 data-versionurl="https://old/x.json"', markup, count=1)
    assert robust(stale) == markup  # and loses what an older release put on it


def test_which_link_names_the_post() -> None:
    quoting = ('<blockquote class="twitter-tweet"><p>Look <a href="https://twitter.com/b/status/2">this</a></p>'
               '&mdash; A (@a) <a href="https://x.com/a/status/1?s=20">March 5, 2024</a></blockquote>')
    [tag] = decorated(robust(quoting))
    assert 'href="https://x.com/a/status/1?s=20"' in tag  # another spelling of the post; not the quoted post
    hidden = ('<blockquote><!-- <a href="https://twitter.com/a/status/1">c</a> --><script>"<a href=\''
              'https://twitter.com/a/status/1\'>"</script><textarea><a href="https://twitter.com/a/status/1">'
              '</textarea></blockquote>')
    assert robust(hidden) == hidden
    several = ('<blockquote><a href="https://twitter.com/a/status/1/photo/1">p</a> '
               '<A HREF=https://twitter.com/a/status/1>d</A></blockquote>')
    [tag] = decorated(robust(several))
    assert tag.startswith("<A HREF=https://twitter.com/a/status/1 data-originalurl=")
    entities = '<a href="https://twitter.com/a/status/1?a=1&amp;b=2">d</a>'
    assert len(decorated(robust(entities))) == 1
    # Without a test, the href must be the original URL itself.
    assert decorated(add_robust_links('<a href="https://EXAMPLE.org/p/">x</a>', "https://example.org/p", "v", "d"))


@pytest.mark.parametrize("markup", ['<blockquote class="a', "<a href=\"https://twitter.com/a/status/1\"",
                                    "<" * 50_000, '<a href="' * 20_000, "<!--" + "<a " * 50_000])
def test_hostile_markup_is_left_as_it_is_quickly(markup: str) -> None:
    started = time.monotonic()
    assert robust(markup) == markup
    assert time.monotonic() - started < 2


_PIECES = [TWEET.format(id=1), TWEET.format(id=2), '<figure class="f">', "</figure>", "text & more",
           '<!-- <a href="https://twitter.com/a/status/1">x</a> -->', '<a href="https://t.co/x">t</a>',
           '<script><a href="https://twitter.com/a/status/1"></script>', '<p data-versionurl="v">',
           "<a href=https://twitter.com/a/status/1>d</a>", '<a href="https://twitter.com/a/status/1" '
           'data-versionurl="old" data-versionurl="older">e</a>', "<br/>", "<img src=x alt='>'>",
           # Unquoted values ending in "/" (the "/" is the value's, not a self-closing mark), and the
           # comments the HTML tokenizer ends early or otherwise: <!-->, <!--->, --!>.
           "<a href=https://twitter.com/a/status/1/>u</a>", "<a title=x/ href=https://t.co/y/>v</a>",
           "<!-->", "<!--->", "<!-- a --!>", "<!-- <b> -- >"]


def _as_parsed(markup: str) -> list[tuple[str, dict]]:
    """Every element as a browser's parser (html5lib) reads ``markup``: its name and attributes, less
    the Robust Links ones."""
    soup = BeautifulSoup(f"<body>{markup}</body>", "html5lib")
    return [(t.name, {k: v for k, v in t.attrs.items() if k not in ROBUST_ATTRS}) for t in soup.find_all(True)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=8))
def test_property_one_link_decorated_nothing_else_changed(pieces: list[str]) -> None:
    markup = "".join(pieces)
    out = robust(markup)
    assert robust(out) == out
    # As a browser reads them: the same elements with the same attributes (every character of an
    # unquoted href kept), and Robust Links on exactly one link to the post when the markup has one.
    assert _as_parsed(out) == _as_parsed(markup)
    soup = BeautifulSoup(f"<body>{markup}</body>", "html5lib")
    linked = any(names_post(a.get("href") or "") for a in soup.find_all("a"))
    got = BeautifulSoup(f"<body>{out}</body>", "html5lib").find_all(attrs={"data-versionurl": True})
    assert len(got) == (1 if linked else 0), out
    assert all(t.name == "a" and names_post(t["href"]) and t["data-originalurl"] == POST for t in got)


# --- every encoding of the web: decoded exactly, or refused; a rewrite keeps every byte outside its spans
def _web_encodings() -> list[str]:
    return sorted(set(webencodings.LABELS.values()) - {"replacement"})


# Characters of many scripts; each encoding's sample is those it can hold.
_POOL = ("café naïve Øre ßü ÆØÅ œ € ‚„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›žŸ ¡¢£¤¥¦§¨©ª«¬®¯°±²³´µ¶·¸¹º»¼½¾¿ "
         "Ąą Łł Żż Čč Šš Őő Ţţ Ğğ İı ŞşЖжЁёЎўЇїІіЄєҐґ Ωω άέ אבג שלום ابتث سلام กขค ặẳ "
         "日本語のテキスト、カタカナ。中文字符，繁體字。한국어 텍스트 ─│┌")


def _sample(encoding: str) -> bytes:
    """An HTML article in `encoding`: a tweet embed, an image and text in the encoding's own letters."""
    codec = python_codec(encoding)
    letters = "".join(c for c in _POOL if _encodes(c, codec))
    # and every character a single byte stands for (all of them, in a single-byte encoding)
    letters += "".join(c for c in (bytes([b]).decode(codec, "ignore") for b in range(0x80, 0x100)) if c)
    html = (f"<html><head><title>{letters[:20]}</title></head><body><p>{letters}</p>\n"
            + TWEET.format(id="1764927578469150481")
            + f'\n<p>{letters[::-1]}</p><img src="/media/photo.jpg" alt="{letters[:8]}"><p>end {letters[:5]}</p>'
            "</body></html>")
    return html.encode(codec)


def _encodes(c: str, codec: str) -> bool:
    try:
        return c.encode(codec).decode(codec) == c
    except UnicodeError:
        return False


@pytest.mark.parametrize("encoding", _web_encodings())
def test_every_web_encoding_round_trips_or_is_refused(encoding: str) -> None:
    data = _sample(encoding)
    try:
        decoded = decode_article(data, encoding)
    except InputError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 300
        pytest.fail(f"{encoding}: a plain sample in the encoding was refused: {exc}")
    assert decoded.text == data.decode(python_codec(encoding))  # read as the encoding says (or as UTF-8, the same)
    _rewrite_keeps_outside_bytes(data, decoded)


@pytest.mark.parametrize(("bom", "encoding"), [(b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16le"),
                                               (b"\xfe\xff", "utf-16be")])
def test_byte_order_mark_wins_and_round_trips(bom: bytes, encoding: str) -> None:
    codec = python_codec(encoding)
    data = bom + _sample(encoding)
    for label in (None, "windows-1252", "shift_jis"):  # the BOM wins over any label
        decoded = decode_article(data, label)
        assert decoded.encoding == codec and decoded.text.startswith("\ufeff<html>")
        _rewrite_keeps_outside_bytes(data, decoded)


def _rewrite_keeps_outside_bytes(data: bytes, decoded: DecodedArticle) -> None:
    """Finalize's path (replacement text made encodable, spliced in, the whole encoded again) changes no
    byte of `data` outside the spans."""
    assert decoded.encode(decoded.text) == data  # decode, then encode: the same bytes
    found = discover(decoded.text, base_url="https://news.example/a")
    assert [e.post_id for e in found.embeds] == ["1764927578469150481"]
    assert [i.url for i in found.images] == ["https://news.example/media/photo.jpg"]
    reps = [Replacement(found.embeds[0].start, found.embeds[0].end,
                        encodable('<figure class="archived">«archived» 🗄 post</figure>', decoded.encoding)),
            Replacement(found.images[0].start, found.images[0].end, "https://copies.example/blobs/ab")]
    new_text, _ = splice(decoded.text, reps)
    out = new_text.encode(decoded.encoding, errors="xmlcharrefreplace")
    expected, pos = b"", 0
    for r in sorted(reps, key=lambda r: r.start):
        a = len(decoded.text[:r.start].encode(decoded.encoding))
        b = len(decoded.text[:r.end].encode(decoded.encoding))
        expected += data[pos:a] + r.new.encode(decoded.encoding)
        pos = b
    expected += data[pos:]
    assert out == expected  # every byte outside the spans is the source's


@pytest.mark.parametrize("encoding", _web_encodings())
def test_bytes_a_web_encoding_does_not_give_back_are_refused(encoding: str) -> None:
    """Whatever the bytes, an article is decoded only when encoding the text gives the same bytes."""
    codec = python_codec(encoding)
    for junk in (bytes(range(0x80, 0x100)), b"\x1b$B\x1b(B\x1b$B" + bytes(range(0x21, 0x7f)),
                 b"\x81\x40\xed\x40\xfa\x5c\x87\x90\xa1\xa1\x8e\xa1"):
        data = b"<p>" + junk + b"</p>"
        try:
            decoded = decode_article(data, encoding)
        except InputError as exc:
            assert "\n" not in str(exc)
            continue
        assert decoded.encode(decoded.text) == data, (encoding, codec, decoded.encoding)
