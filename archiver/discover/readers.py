"""Helpers the providers' embed readers share (``ProviderSpec.embeds``): the post a list of URLs names,
the "— Name (@handle)" attribution line, and ready-made readers for the common blockquote shapes and
for AMP elements that name their post in one attribute.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from archiver.discover.common import clean_text, last_dash
from archiver.discover.tags import Block, Tag
from archiver.discover.urls import PostMatch, handle_in_url, match_post_url

if TYPE_CHECKING:
    from archiver.discover.html import HtmlScanner

_DASHES = ("—", "â€”", "&mdash;", "―")


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
