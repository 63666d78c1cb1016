"""The discovery entry point: choose the scanners for the article's format, run them, and fold
nested findings (a block comment around a figure around a URL line) into one embed each.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from archiver.discover import constructs, markdown, shortcodes, srcdoc, text
from archiver.discover.common import merge_ranges, resolve
from archiver.discover.formats import FORMATS as FORMATS
from archiver.discover.html import HtmlScanner
from archiver.discover.markdown import inside
from archiver.discover.model import Discovery, Embed, ImageRef
from archiver.discover.urls import PostMatch
from archiver.errors import InputError

_HTML_HINT = re.compile(
    r"<(?:!doctype|html|head|body|p|div|span|a|img|br|blockquote|iframe|figure|script|meta|h[1-6]|ul|li"
    r"|table|section|article|picture|source|object|embed|pre|code|textarea"
    # the rest of HTML's elements, those whose content is not article text among them
    r"|template|select|option|optgroup|datalist|math|canvas|button|label|details|summary|dialog|time"
    r"|small|strong|em|b|i|u|s|q|mark|sub|sup|dd|dt|caption|colgroup|col|tbody|thead|tfoot|hr|link"
    r"|title|xmp|listing|plaintext|noembed|noframes|center|font|kbd|samp|var|cite|abbr|del|ins"
    r"|fieldset|legend|address|map|area|track|wbr|tt|big|strike"
    r"|svg|input|video|audio|style|noscript|main|header|footer|nav|aside|figcaption|ol|dl|tr|td|th|form"
    r"|[a-z][a-z0-9]{0,30}-[a-z0-9-]{1,40}"  # custom elements
    r"|(?-i:[A-Z][A-Za-z0-9]{1,40}(?=[\t ]+[A-Za-z][\w-]{0,40}=)))(?=[\s/>])|<!--",  # and JSX components
    re.I,
)
_TAG_OPENING = re.compile(r"<[A-Za-z!]")
_MD_HINT = re.compile(
    r"!\[[^\[\]\n]{0,1000}+\][(\[]|^[ ]{0,3}\[[^\]\n]{1,999}+\]:[ \t]|\{\{[<%]|\{%[ \t]|^[ ]{0,3}(?:```|~~~)"
    r"|\]\(https?://",
    re.M,
)
# A cheap pre-check for _MD_HINT: one pass for its literal openers (half the cost of seven `in` tests).
_MD_MARKERS = re.compile(r"!\[|\]:|\]\(|\{\{[<%]|\{%|```|~~~")
_ATX = re.compile(r"#{1,6}[ \t]+\S")
_ATX_LINE = re.compile(r"\n[ ]{0,3}#{1,6}[ \t]+\S")
_SAMPLE = 1_000_000
log = logging.getLogger(__name__)


@dataclass
class _Budget:
    """The srcdoc documents an article may still have read (``srcdoc.MAX_DOCUMENTS`` in all, every
    depth together) and how many were left unread because none were left."""

    left: int = field(default_factory=lambda: srcdoc.MAX_DOCUMENTS)
    unread: int = 0
    too_deep: int = 0  # srcdoc documents nested deeper than srcdoc.MAX_DEPTH, not read


def _has_html(sample: str) -> bool:
    """Whether an HTML tag or comment (``_HTML_HINT``) opens somewhere in `sample`. Tried only where "<"
    and a letter or "!" stand, so a run of "<" (or of text) costs one scan, not the whole list of tag
    names at every character."""
    return any(_HTML_HINT.match(sample, m.start()) for m in _TAG_OPENING.finditer(sample))


def detect_format(doc: str) -> tuple[bool, bool]:
    """(has HTML, has Markdown) judged from the start of the document."""
    sample = doc[:_SAMPLE]
    head = sample.lstrip("\ufeff")
    front = markdown.front_matter(head)
    if _ATX.match(head[front[2]:].lstrip("\r\n") if front else head):
        # A document that opens with an ATX heading ("# How to embed a post") is Markdown, whatever HTML
        # it holds: Markdown allows HTML, and no HTML page begins with "# ". Its code shows HTML as code.
        return _has_html(sample), True
    maybe_md = _MD_MARKERS.search(sample) is not None
    has_html = _has_html(sample)
    has_md = maybe_md and bool(_MD_HINT.search(sample))
    if not has_html and not has_md and "#" in sample:
        # A document with no markup but ATX headings ("# Title", "## Steps") is Markdown, so its
        # indented and fenced code is code. (Not in HTML: a <pre> of shell comments has "# " lines.)
        has_md = (sample.startswith("#") and bool(_ATX.match(sample))) or bool(_ATX_LINE.search(sample))
    return has_html, has_md


def discover(doc: str, base_url: str | None = None, fmt: str = "auto") -> Discovery:
    """Every embedded post and image in `doc` with spans into it. `fmt`: auto|html|markdown|text."""
    if not isinstance(doc, str):
        raise InputError(f"article text must be a decoded string, not {type(doc).__name__}")
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    if base_url is not None and not isinstance(base_url, str):
        raise InputError("base URL must be a string")
    base_url = (base_url.strip() or None) if base_url else None
    budget = _Budget()
    found = _discover(doc, base_url, fmt, 1, budget)
    if budget.unread:
        note = (f"{budget.unread} iframe srcdoc document(s) not read: discovery reads at most "
                f"{srcdoc.MAX_DOCUMENTS} per article; embeds and images in them were not looked for")
        found.limits.append(note)
        log.warning("discovery: %s", note)
    if budget.too_deep:
        note = (f"{budget.too_deep} iframe srcdoc document(s) not read: nested more than {srcdoc.MAX_DEPTH} deep "
                "(inside srcdoc documents themselves inside others); embeds and images in them were not looked for")
        found.limits.append(note)
        log.warning("discovery: %s", note)
    return found


def _discover(doc: str, base_url: str | None, fmt: str, depth: int, budget: _Budget) -> Discovery:
    """`discover` of a document at `depth` (1: the article; 2: a srcdoc document inside it, ...);
    `budget`: the srcdoc documents the article may still have read."""
    if fmt == "auto":
        has_html, has_md = detect_format(doc)
        fmt = "markdown" if has_md else "html" if has_html else "text"
    embeds: list[Embed] = []
    images: list[ImageRef] = []
    # Code blocks of BBCode, reStructuredText and AsciiDoc: nothing in them is an embed or an image.
    literal = shortcodes.literal_ranges(doc, fmt)
    excluded: list[tuple[int, int]] = list(literal)
    scanner: HtmlScanner | None = None
    if fmt in ("html", "markdown"):
        scanner = HtmlScanner(doc, base_url)
        scanner.run()
        embeds += scanner.embeds
        images += scanner.resolved_images()
        excluded = merge_ranges(excluded + scanner.raw_regions)
        embeds += [_line_embed(s, e, f, "paragraph") for s, e, f in text.url_paragraphs(doc)
                   if not _inside_any(excluded, s) and scanner.bounds.between(s, e)]
    outside_fences = excluded
    fence_starts: set[int] = set()
    if fmt == "markdown":
        fences = markdown.fenced_ranges(doc)
        fence_starts = {s for s, _ in fences}
        excluded = merge_ranges(excluded + fences)
        # Nothing shown as code (fences, indented code, code spans: HTML there is shown as written)
        # or in an HTML comment (or raw text) is an image.
        unshown = merge_ranges(markdown.shown_as_code(doc, fences) + (scanner.raw_regions if scanner else []))
        images = [i for i in images if not _inside_any(unshown, i.start)]
        images += [_resolved(i, base_url) for i in markdown.images(doc, unshown)]
    if fmt in ("markdown", "html"):
        images += [_resolved(i, base_url) for i in markdown.front_matter_images(doc)]
    # Shortcodes and template tags, in any format (WordPress post_content is HTML; rST and AsciiDoc
    # read as text); none may cut an HTML token.
    # A MyST directive written as a fence (```{youtube} ID) is a directive, not code.
    tagged, tag_images = shortcodes.scan(doc, markdown=fmt == "markdown")
    embeds += [e for e in tagged if (not _inside_any(excluded, e.start) or (
                   _opens_fence(doc, e, fence_starts) and not _inside_any(outside_fences, e.start)))
               and (scanner is None or scanner.bounds.between(e.start, e.end))]
    images += [_resolved(i, base_url) for i in tag_images if not _inside_any(excluded, i.start)
               and (scanner is None or scanner.bounds.between(i.start, i.end))]
    tags_as_images = [(e.start, e.end) for e in tagged if doc.startswith("![", e.start)]
    if tags_as_images:  # mkdocs-video's ![type:video](URL) is a player, not an image
        images = [i for i in images if not _inside_any(tags_as_images, i.start)]
    if fmt in ("markdown", "text"):
        for read in constructs.current().text_forms:
            embeds += [e for e in read(doc) if not _inside_any(excluded, e.start)]
    if fmt == "text":
        images += [_resolved(i, base_url) for i in text.image_lines(doc)]
    embeds += [_line_embed(s, e, f, "url-line") for s, e, f in text.url_lines(doc, unicode_breaks=fmt == "text")
               if not _inside_any(excluded, s)]
    if fmt == "html" and scanner is not None:
        # In HTML no span may begin or end inside a tag, a comment or raw text (a URL line inside a
        # multi-line attribute value is not a line of the article). Markdown's own constructs are not
        # HTML tokens, so only the HTML ones are held to this there (above).
        embeds = [e for e in embeds if scanner.bounds.between(e.start, e.end)]
    if fmt == "markdown":
        # Nothing shown as code is an embed: fences, indented code, inline code spans; except a code
        # span that is itself a shortcode (Gatsby's `youtube: URL` line is written as inline code).
        code = markdown.code_ranges(doc, fences)
        spans = set(code)
        embeds = [e for e in embeds if not _inside_any(code, e.start)
                  or (e.form == "shortcode" and ((e.start, e.end) in spans or _opens_fence(doc, e, fence_starts)))]
        images = [i for i in images if i.form != "shortcode" or not _inside_any(code, i.start)]
    if literal:
        embeds = [e for e in embeds if not _inside_any(literal, e.start)]
        images = [i for i in images if not _inside_any(literal, i.start)]
    if scanner is not None:
        # Nor anything in a code sample or the text of a link (a card must never be put there).
        embeds = scanner.not_shown_as_code_or_link(embeds)
        if depth < srcdoc.MAX_DEPTH:
            found = _in_srcdoc(doc, scanner, depth, budget)
            embeds += found.embeds
            images += found.images
        else:  # past the depth read: counted, so the report says what was not looked at
            budget.too_deep += sum(1 for _ in srcdoc.values(doc, scanner.bounds))
    return Discovery(embeds=fold_nested(embeds), images=_unique(images))


def _in_srcdoc(doc: str, scanner: HtmlScanner, depth: int, budget: _Budget) -> Discovery:
    """What the srcdoc documents of `doc`'s iframes hold (``srcdoc.py``), spans mapped to `doc`. Their
    relative URLs resolve against `doc`'s base URL (``document_base``: an about:srcdoc document inherits
    it); an item whose span does not map back to the same text exactly is left out (its edges cut a
    character reference). Once `budget` is spent, the documents left are counted in it, not read."""
    found = Discovery()
    base = scanner.document_base()
    for value in srcdoc.values(doc, scanner.bounds):
        if budget.left <= 0:
            budget.unread += 1
            continue
        budget.left -= 1
        inner = srcdoc.decoded(doc, value)
        sub = _discover(inner.inner, base, "html", depth + 1, budget)
        for item in [*sub.embeds, *sub.images]:
            span = inner.outer_span(item.start, item.end)
            if span is not None:
                item.start, item.end = span
                (found.embeds if isinstance(item, Embed) else found.images).append(item)  # type: ignore[arg-type]
    return found


def _opens_fence(doc: str, e: Embed, fence_starts: set[int]) -> bool:
    """Whether ``e`` is a shortcode whose opening line is a Markdown fence's (a MyST directive)."""
    return e.form == "shortcode" and doc.startswith(("```", "~~~"), e.start) \
        and doc.rfind("\n", 0, e.start) + 1 in fence_starts


def _inside_any(ranges: list[tuple[int, int]], pos: int) -> bool:
    return bool(ranges) and inside(ranges, pos)


def _line_embed(start: int, end: int, found: PostMatch, form: str) -> Embed:
    return Embed(provider=found[0], post_id=found[1], url=found[2], start=start, end=end, form=form)


def _resolved(image: ImageRef, base_url: str | None) -> ImageRef:
    image.url = resolve(image.url, base_url)
    return image


_MERGED = ("post_id", "url", "handle", "author", "text", "date", "media_links")


def fold_nested(embeds: list[Embed]) -> list[Embed]:
    """One entry per construct: an embed inside another (the URL line in a WordPress block, the
    blockquote in an fb-post div) gives its details to the outer one and is dropped, except the
    placeholder blockquote of an AMP element, which is a second occurrence of its own."""
    embeds = sorted(embeds, key=lambda e: (e.start, -e.end))
    kept: list[Embed] = []
    outer: Embed | None = None
    for e in embeds:
        if outer is not None and e.end <= outer.end:
            same = e.provider == outer.provider and (
                not e.post_id or not outer.post_id or e.post_id == outer.post_id)
            if same:
                for name in _MERGED:
                    if not getattr(outer, name) and getattr(e, name):
                        setattr(outer, name, getattr(e, name))
            if same and outer.form == "amp" and e.form == "blockquote":
                e.post_id, e.url = outer.post_id, e.url or outer.url
                kept.append(e)
            continue
        kept.append(e)
        outer = e
    finish = constructs.current().finish
    for e in kept:
        if e.provider in finish:
            finish[e.provider](e)
    return kept


def _unique(images: list[ImageRef]) -> list[ImageRef]:
    seen: set[tuple[int, int]] = set()
    out = []
    for image in sorted(images, key=lambda i: (i.start, i.end)):
        if (image.start, image.end) not in seen:
            seen.add((image.start, image.end))
            out.append(image)
    return out
