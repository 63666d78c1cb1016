"""Facebook: post, video, photo, reel and permalink URLs (also wrapped in the plugin iframe's
``href``), the SDK's ``<div class="fb-post">`` / ``fb-video`` and its fallback blockquote, and
``<amp-facebook>``; the SDK's other plugins (like, share, comments, page) name a post but show none,
so they are no embeds. No public endpoint to ask without a token: the shared markup capture and the
generic page probe.
"""

from __future__ import annotations

import re

from archiver.discover.common import clean_text
from archiver.discover.html import HtmlScanner
from archiver.discover.readers import amp_reader, post_from
from archiver.discover.shortcodes import id_reader
from archiver.discover.tags import Block, Link, Tag, links
from archiver.discover.urls import PostMatch, match_post_url, normalize, query
from archiver.lazyre import lazy
from archiver.providers.base import EmbedForms, PostUrl, ProviderSpec, is_digits

NAME = "facebook"
_HOST = r"https?://(?:(?:www|m|mbasic|web|business|touch)\.)?facebook\.com/"
_PLUGIN = lazy(_HOST + r"(?:v[\d.]{1,8}/)?plugins/(?:post|video|comment_embed)\.php\?", re.I)
_POST = lazy(
    _HOST + r"(?P<page>[\w.\-]{1,80})/(?P<kind>posts|videos|photos)/(?:[\w.\-]{1,80}/)?"
    r"(?P<id>pfbid\w{10,100}|\d{5,25})(?![\w])",
    re.I,
)
_GROUP = lazy(
    _HOST + r"groups/(?P<group>[\w.\-]{1,80})/(?:posts|permalink)/(?P<id>pfbid\w{10,100}|\d{5,25})(?![\w])", re.I)
_REEL = lazy(_HOST + r"reels?/(?P<id>\d{5,25})", re.I)
_QUERY = lazy(_HOST + r"(permalink\.php|story\.php|photo\.php|photo/|video\.php|watch/?|watch/live/?)\?", re.I)
# Share links name no post until followed: /share/p|r|v/CODE/, /share/CODE/ and fb.watch/CODE/.
_SHARE = (
    re.compile(_HOST + r"share/(?:[prv]/)?[A-Za-z0-9]{5,30}(?![\w\-])", re.I),
    re.compile(r"https?://(?:www\.)?fb\.watch/[\w\-]{4,30}", re.I),
)


# The SDK's plugins that show no post: XFBML ``<div class="fb-like">`` and ``<fb:like>`` alike.
_PLUGINS_NOT_POSTS = ("like", "share-button", "comments", "comments-count", "page", "like-box", "save", "send",
                      "follow", "group", "quote", "login-button", "activity", "recommendations", "facepile")


def _plugin(m: re.Match[str]) -> tuple[str, str | None] | None:
    """The plugin iframe: the post is its ``href`` (never another plugin URL)."""
    href = query(m.string).get("href")
    if not href:
        return None
    inner = normalize(href[0])
    if _PLUGIN.match(inner):
        return None
    for spelling in _SPELLINGS:
        found = spelling.pattern.match(inner)
        if found:
            return spelling.read(found)
    return None


def _post(m: re.Match[str]) -> tuple[str, str | None]:
    return m["id"], f"https://www.facebook.com/{m['page']}/{m['kind'].lower()}/{m['id']}"


def _by_query(m: re.Match[str]) -> tuple[str, str | None] | None:
    """permalink.php / story.php (story_fbid and id), photo.php (fbid), watch and video.php (v)."""
    page = m.group(1).lower()
    q = query(m.string)
    if page in ("permalink.php", "story.php"):
        story, owner = q.get("story_fbid", [""])[0], q.get("id", [""])[0]
        if _is_fb_id(story) and is_digits(owner):
            return story, f"https://www.facebook.com/permalink.php?story_fbid={story}&id={owner}"
        return None
    if page.startswith("photo"):
        fbid = q.get("fbid", [""])[0]
        return (fbid, f"https://www.facebook.com/photo.php?fbid={fbid}") if is_digits(fbid) else None
    video = q.get("v", [""])[0]
    return (video, f"https://www.facebook.com/watch/?v={video}") if is_digits(video) else None


def _is_fb_id(value: str) -> bool:
    return is_digits(value) or (value.startswith("pfbid") and value.isascii() and value.isalnum())


_SPELLINGS = (PostUrl(_POST, post=_post), PostUrl(_GROUP, "https://www.facebook.com/groups/{group}/posts/{id}"),
              PostUrl(_REEL, "https://www.facebook.com/reel/{id}"), PostUrl(_QUERY, post=_by_query))


def _fields(scan: HtmlScanner, found: PostMatch, start: int, end: int, inner: tuple[int, int],
            found_links: list[Link], form: str) -> None:
    """What the SDK's markup shows: the post's text in the first <p>, the page as a link, the date
    as the post's link."""
    body, _ = scan.first_paragraph(*inner)
    author = next((clean_text(li.anchor) for li in found_links
                   if "facebook.com" in li.href and not match_post_url(li.href)), None)
    date = next((clean_text(li.anchor) for li in reversed(found_links) if match_post_url(li.href)), None)
    scan.add(found, NAME, start, end, form, text=body, author=author, date=date)


def _blockquote(scan: HtmlScanner, block: Block) -> None:
    """The SDK's fallback ``<blockquote class="fb-xfbml-parse-ignore" cite=…>``."""
    found = post_from([block.tag.get("cite"), *block.hrefs], NAME)
    if found:
        _fields(scan, found, block.tag.start, block.end, (block.inner_start, block.inner_end), block.links,
                "blockquote")


def _sdk_div(scan: HtmlScanner, tag: Tag) -> None:
    """``<div class="fb-post" data-href=…>`` (or fb-video), usually around the fallback blockquote."""
    found = post_from([tag.get("data-href")], NAME)
    if found:
        inner_end, end = scan.element_end(tag)
        _fields(scan, found, tag.start, end, (tag.end, inner_end), links(scan.text, tag.end, inner_end), "div")


PROVIDER = ProviderSpec(
    name=NAME,
    loader_hosts=("connect.facebook.net", "facebook.com"),
    platform_domains=("fbcdn.net",),
    order=2,
    urls=(PostUrl(_PLUGIN, post=_plugin), *_SPELLINGS),
    short_links=_SHARE,
    redirect_hosts=("fb.watch",),
    embeds=EmbedForms(
        blockquotes={"fb-xfbml-parse-ignore": _blockquote},
        divs={"fb-post": _sdk_div, "fb-video": _sdk_div},
        amp={"amp-facebook": amp_reader("data-href", lambda value: post_from([value]))},
        shortcodes=dict.fromkeys(("facebook", "fb"), id_reader(NAME)),
        # The SDK's social plugins name a post (data-href) but show a button, a comment box or a page.
        # AMP's versions of them are elements of their own (amp-facebook-comments, -like, -page).
        not_posts=tuple(f"{prefix}{plugin}" for prefix in ("fb-", "fb:", "amp-facebook-")
                        for plugin in _PLUGINS_NOT_POSTS),
    ),
)
