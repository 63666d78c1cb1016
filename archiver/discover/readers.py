"""Helpers the providers' embed readers share (``ProviderSpec.embeds``): the post a list of URLs names,
the "— Name (@handle)" attribution line, and ready-made readers for the common blockquote shapes and
for AMP elements that name their post in one attribute.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from archiver.discover.common import clean_text, last_dash
from archiver.discover.tags import Block, Tag, links
from archiver.discover.urls import PostMatch, handle_in_url, match_post_url, post_in_query
from archiver.lazyre import lazy

if TYPE_CHECKING:
    from archiver.discover.html import HtmlScanner

_DASHES = ("—", "â€”", "&mdash;", "―")
_MAX_WIDGET = 50_000  # the longest markup an unclassed blockquote may have to be read as a widget
_BLOCKQUOTE = lazy(r"<blockquote", re.I)
# Attributes whose value names the widget an element is (``data-embed-type="creator"``).
_WIDGET_ATTR = lazy(r"class|component|^is$|type|widget|embed|kind")


def parse_attribution(plain: str, handle_re: re.Pattern[str]) -> tuple[str, str, int] | None:
    """"— Name (@handle)" in plain text: (author, handle, end offset) for the first one found;
    ``handle_re`` finds "(@handle)" with the handle in group 1."""
    for m in handle_re.finditer(plain):
        best, width = last_dash(plain, max(0, m.start() - 200), m.start(), _DASHES)
        if best < 0:
            continue
        author = plain[best + width:m.start()].strip()
        if author and "\n" not in author:
            return author, m.group(1), m.end()
    return None


def post_from(values: list[str | None], provider: str | None = None) -> PostMatch | None:
    """The first of ``values`` that is a post URL (of ``provider``, when given)."""
    for value in values:
        if value:
            found = match_post_url(value)
            if found and (provider is None or found[0] == provider):
                return found
    return None


def shown_post(values: list[str | None]) -> PostMatch | None:
    """The post a frame loading one of ``values`` shows: the first that is a post URL, or else one a
    player proxy carries percent-encoded in its query (``urls.post_in_query``: Drupal media oEmbed,
    Embedly, iframely)."""
    return post_from(values) or next((f for v in values if v and (f := post_in_query(v))), None)


def shows_no_post(tag: Tag, provider: str, not_posts: dict[str, str]) -> bool:
    """Whether ``tag`` is one of ``provider``'s widgets that name a post without showing it (a like
    button, a comment box, a creator profile: ``EmbedForms.not_posts``, gathered in ``not_posts``),
    by its name, a class or a widget-naming attribute's value."""
    if not not_posts:
        return False
    words = {tag.name}
    for attr in tag.attrs:
        if _WIDGET_ATTR.search(attr):
            words.update((tag.get(attr) or "").lower().split())
    return any(not_posts.get(word) == provider for word in words)


def unclassed_blockquote(scan: HtmlScanner, tag: Tag) -> None:
    """A blockquote no provider's class names (a sanitizer stripped it, a theme renamed it) read as a
    provider's blockquote when it has that widget's shape: its last post link names the provider,
    whose own reader (``EmbedForms.blockquotes``) then finds the post, the author from the
    attribution line ("— Name (@handle)", "shared by Name (@handle)") and the date. A quotation that
    merely links to a post gives no author and date that way, and is no embed."""
    inner_end, end = scan.element_end(tag)
    if inner_end - tag.end > _MAX_WIDGET:
        return
    low = scan.lower()
    nested = (low.find("<blockquote", tag.end, inner_end) >= 0 if low
              else _BLOCKQUOTE.search(scan.text, tag.end, inner_end) is not None)
    if nested:
        return  # a quotation holding quotations is no widget (and the search stops at the nearest one)
    found_links = links(scan.text, tag.end, inner_end)
    posts = [found for li in found_links if (found := match_post_url(li.href)) and found[1]]
    if not posts:
        return
    provider = posts[-1][0]
    reader = next((r for p, r in scan.constructs.blockquotes.values() if p == provider), None)
    if reader is None:
        return
    before = len(scan.embeds)
    reader(scan, Block(tag, tag.end, inner_end, end, found_links))
    read = scan.embeds[before:]
    del scan.embeds[before:]
    scan.embeds += [e for e in read if e.post_id and e.author and e.date and e.start == tag.start]


def social_blockquote(scan: HtmlScanner, block: Block, found: PostMatch | None, provider: str,
                      handle_re: re.Pattern[str]) -> None:
    """Read the common blockquote shape: the post's text in the first <p>, then "— Name (@handle)"
    (``handle_re`` finds "(@handle)") and the date as the last link."""
    body, after = scan.first_paragraph(block.inner_start, block.inner_end)
    attribution = parse_attribution(clean_text(scan.text[after:block.inner_end]), handle_re)
    scan.add(found, provider, block.tag.start, block.end, "blockquote", text=body,
             author=attribution[0] if attribution else None,
             handle=attribution[1] if attribution else handle_in_url(found),
             date=clean_text(block.links[-1].anchor) if block.links else None)


def permalink_blockquote(provider: str, attr: str) -> Callable[[HtmlScanner, Block], None]:
    """A reader for blockquotes that name their post in ``attr`` (or a link) and show nothing more
    worth reading; the handle comes from the post URL."""

    def read(scan: HtmlScanner, block: Block) -> None:
        found = post_from([block.tag.get(attr), *block.hrefs], provider)
        scan.add(found, provider, block.tag.start, block.end, "blockquote", handle=handle_in_url(found))

    return read


def amp_reader(attr: str, to_post: Callable[[str], PostMatch | None]) -> Callable[[HtmlScanner, Tag], None]:
    """A reader for an AMP element naming its post in ``attr`` (``to_post`` reads the value)."""

    def read(scan: HtmlScanner, tag: Tag) -> None:
        found = to_post(tag.get(attr) or "")
        if found:
            scan.add_element(tag, found, "amp")

    return read
