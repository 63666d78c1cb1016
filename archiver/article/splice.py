"""Rewriting an article on spans: only the replaced spans change, and every change is recorded
as a patch that can be applied to the original or reverted from the result, byte for byte.

Also the Robust Links attributes (data-originalurl, data-versionurl, data-versiondate) that
point an embed's link to the post at its archived copy while keeping the original link
(``add_robust_links``: which element gets them, and which constructs get none).
"""

from __future__ import annotations

import bisect
import hashlib
import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

PATCH_FORMAT = "archiver-patch/1"
# What XML 1.0 forbids or discourages in a document (https://www.w3.org/TR/xml/#charsets): C0 controls
# but tab, LF and CR; DEL and C1 controls; lone surrogates (they cannot be encoded either); the
# noncharacters U+FDD0-U+FDEF and U+xFFFE/U+xFFFF of every plane. One of them in a restored card makes
# an XHTML article not well-formed, so none is ever written (``xml_safe``).
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
                      + "".join(f"{chr(p * 0x10000 + 0xFFFE)}{chr(p * 0x10000 + 0xFFFF)}" for p in range(17))
                      + "]")


def xml_safe(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids (``NOT_XML``: C0 controls but tab/LF/CR, C1
    controls, lone surrogates, noncharacters): the one rule for every value restore and the rewrite
    write into an article (inline cards, card frames, Robust Links attributes), so an XHTML article stays
    well-formed and the text encodable in any charset."""
    return NOT_XML.sub("", text)


ROBUST_ATTRS = ("data-originalurl", "data-versionurl", "data-versiondate")

_TAG_BODY = re.compile(r"""(?:[^>"']++|"[^"]*+"|'[^']*+')*+>""")
_ATTR = re.compile(r"""([^\s"'>/=][^\s"'>/=]*+)(?:\s*+=\s*+("[^"]*+"|'[^']*+'|[^\s"'=<>`]++))?""")


class PatchError(ValueError):
    """A patch does not fit the text it is applied to."""


@dataclass
class Replacement:
    """Put `new` in place of text[start:end]; offsets count code points of the decoded text."""

    start: int
    end: int
    new: str


@dataclass
class Patch:
    """Replacements in ORIGINAL coordinates, with the hashes of the text before and after."""

    base_sha256: str
    result_sha256: str
    ops: list[dict[str, Any]] = field(default_factory=list)  # {start, end, old, new}, sorted

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PATCH_FORMAT,
            "base_sha256": self.base_sha256,
            "result_sha256": self.result_sha256,
            "ops": [dict(op) for op in self.ops],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Patch:
        if not isinstance(data, dict) or data.get("format", PATCH_FORMAT) != PATCH_FORMAT:
            raise PatchError("not an archiver patch")
        try:
            ops = [
                {"start": int(op["start"]), "end": int(op["end"]), "old": str(op["old"]), "new": str(op["new"])}
                for op in data["ops"]
            ]
            patch = cls(str(data["base_sha256"]), str(data["result_sha256"]), ops)
        except (KeyError, TypeError, ValueError) as exc:
            raise PatchError(f"malformed patch: {exc}") from None
        _check_ops(ops)
        return patch


def text_sha256(text: str) -> str:
    """The SHA-256 (64 lowercase hex digits) of `text` encoded as UTF-8, lone surrogates kept."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _check_ops(ops: list[dict[str, Any]]) -> None:
    prev_end = 0
    for op in ops:
        if op["start"] < prev_end or op["end"] < op["start"] or op["end"] - op["start"] != len(op["old"]):
            raise PatchError(f"patch operations overlap or are malformed at {op['start']}")
        prev_end = op["end"]


def splice(text: str, replacements: list[Replacement]) -> tuple[str, Patch]:
    """Replace the given spans of `text`; everything outside them stays identical.

    Raises ValueError when spans overlap or fall outside the text."""
    reps = sorted(replacements, key=lambda r: (r.start, r.end))
    parts: list[str] = []
    ops: list[dict[str, Any]] = []
    pos = 0
    for r in reps:
        if not (0 <= r.start <= r.end <= len(text)):
            raise ValueError(f"replacement {r.start}-{r.end} is outside the text (length {len(text)})")
        if r.start < pos:
            raise ValueError(f"replacements overlap at {r.start}-{r.end}")
        parts.append(text[pos:r.start])
        parts.append(r.new)
        ops.append({"start": r.start, "end": r.end, "old": text[r.start:r.end], "new": r.new})
        pos = r.end
    parts.append(text[pos:])
    result = "".join(parts)
    return result, Patch(text_sha256(text), text_sha256(result), ops)


def apply_patch(text: str, patch: Patch) -> str:
    """The patched text; raises PatchError unless `text` is exactly the patch's base."""
    if text_sha256(text) != patch.base_sha256:
        raise PatchError("text is not the base this patch was made for (sha256 differs)")
    result, _ = splice(text, [Replacement(op["start"], op["end"], op["new"]) for op in patch.ops])
    if text_sha256(result) != patch.result_sha256:
        raise PatchError("patch does not reproduce its recorded result")
    return result


def revert_patch(new_text: str, patch: Patch) -> str:
    """The original text back from the patched one; raises PatchError on a different text."""
    if text_sha256(new_text) != patch.result_sha256:
        raise PatchError("text is not the result of this patch (sha256 differs)")
    parts: list[str] = []
    pos = 0  # in new_text
    shift = 0  # new position minus original position
    for op in patch.ops:
        start = op["start"] + shift
        end = start + len(op["new"])
        if new_text[start:end] != op["new"]:
            raise PatchError(f"patched text does not hold the expected replacement at {start}")
        parts.append(new_text[pos:start])
        parts.append(op["old"])
        pos = end
        shift += len(op["new"]) - (op["end"] - op["start"])
    parts.append(new_text[pos:])
    original = "".join(parts)
    if text_sha256(original) != patch.base_sha256:
        raise PatchError("reverting did not give back the original (sha256 differs)")
    return original


# Elements whose content is text, not markup: no tag inside them is looked at.
_RAW_TEXT = frozenset({"script", "style", "textarea", "title", "iframe", "xmp", "noembed", "noframes"})
_TAG_NAME = re.compile(r"[a-zA-Z][\w:-]{0,60}")


@dataclass(frozen=True)
class _Tag:
    """A start tag found in a construct: its name (lower case), where its name ends and where its
    ``>`` is, and its attributes as (name lower-cased, start, end, value unescaped or None)."""

    name: str
    name_end: int
    close: int
    attrs: tuple[tuple[str, int, int, str | None], ...]


def _comment_end(markup: str, pos: int) -> int:
    """Where the comment starting with ``<!--`` at ``pos`` ends (the index after its last character),
    as the HTML tokenizer (WHATWG 13.2.5.43ff.) ends it: ``<!-->`` and ``<!--->`` are empty comments,
    else the first ``-->`` or ``--!>``; -1 when it runs to the end of the markup."""
    body = pos + 4
    if markup.startswith(">", body):
        return body + 1
    if markup.startswith("->", body):
        return body + 2
    ends = [i for i in (markup.find("-->", body), markup.find("--!>", body)) if i >= 0]
    if not ends:
        return -1
    first = min(ends)
    return first + (3 if markup.startswith("-->", first) else 4)


def _start_tags(markup: str) -> list[_Tag]:
    """Every start tag of ``markup`` outside comments, declarations and raw-text elements (script,
    style, iframe ...), in order; comments end where the HTML tokenizer ends them (``_comment_end``);
    scanning stops at a tag or comment that never closes. Linear in the length."""
    tags: list[_Tag] = []
    pos = markup.find("<")
    while 0 <= pos < len(markup):
        if markup.startswith("<!--", pos):
            end = _comment_end(markup, pos)
            pos = -1 if end < 0 else markup.find("<", end)
            continue
        if markup.startswith(("<!", "<?", "</"), pos):
            end = markup.find(">", pos + 2)
            pos = -1 if end < 0 else markup.find("<", end + 1)
            continue
        name = _TAG_NAME.match(markup, pos + 1)
        if not name:
            pos = markup.find("<", pos + 1)
            continue
        body = _TAG_BODY.match(markup, name.end())
        if not body:
            break
        close = body.end() - 1
        attrs = []
        for a in _ATTR.finditer(markup, name.end(), close):
            raw = a.group(2)
            value = None if raw is None else html.unescape(raw[1:-1] if raw[:1] in ("'", '"') else raw)
            attrs.append((a.group(1).lower(), a.start(), a.end(), value))
        tag = name.group(0).lower()
        tags.append(_Tag(tag, name.end(), close, tuple(attrs)))
        pos = markup.find("<", close + 1)
        if tag in _RAW_TEXT:
            end = re.compile(rf"</{tag}[\s/>]", re.I).search(markup, close + 1)
            pos = -1 if end is None else end.start()
    return tags


def _without_space(markup: str, start: int, floor: int) -> int:
    """``start`` moved back over the whitespace before it (not before ``floor``)."""
    while start > floor and markup[start - 1].isspace():
        start -= 1
    return start


def same_url(a: str, b: str) -> bool:
    """Whether two links name the same URL: compared stripped, a protocol-relative one made https,
    scheme and host lower-cased, the fragment and a trailing slash of the path left out."""
    def norm(u: str) -> str:
        u = u.strip()
        u = "https:" + u if u.startswith("//") else u
        u = u.split("#", 1)[0]
        head, sep, rest = u.partition("://")
        host, slash, path = rest.partition("/")
        path, q, query = (slash + path).partition("?")
        return f"{head.lower()}{sep}{host.lower()}{path.rstrip('/')}{q}{query}"
    return bool(a and b) and norm(a) == norm(b)


# Public web archives whose Mementos an author (or their CMS) may already name on a link: a Robust Links
# set whose data-versionurl is on one of these hosts (or a subdomain) is someone else's, and stays.
PUBLIC_ARCHIVES = frozenset({
    "archive.org", "archive.today", "archive.ph", "archive.is", "archive.li", "archive.md", "archive.vn",
    "archive.fo", "archive-it.org", "perma.cc", "webcitation.org", "arquivo.pt", "webarchive.org.uk",
    "webarchive.loc.gov", "webarchive.nla.gov.au", "timetravel.mementoweb.org", "ghostarchive.org",
    "megalodon.jp", "vefsafn.is", "webarchive.nationalarchives.gov.uk",
})


def on_public_archive(url: str) -> bool:
    """Whether `url` is on one of the PUBLIC_ARCHIVES (web.archive.org, archive.today, perma.cc ...)."""
    try:
        host = (urlsplit(url.strip()).hostname or "").rstrip(".")
    except ValueError:
        return False
    return any(host == a or host.endswith("." + a) for a in PUBLIC_ARCHIVES)


def _tag_start(tag: _Tag) -> int:
    """Where the ``<`` of `tag` is."""
    return tag.name_end - len(tag.name) - 1


_NOSCRIPT_END = re.compile(r"</noscript[\s/>]", re.I)


def _noscript_regions(markup: str, tags: list[_Tag]) -> list[tuple[int, int]]:
    """The [start, end) of each ``<noscript>`` element's content in ``markup`` (to its first
    ``</noscript``, or the end of the markup): the copy of an embed shown only without scripts."""
    regions: list[tuple[int, int]] = []
    for tag in tags:
        if tag.name != "noscript" or (regions and tag.close < regions[-1][1]):
            continue  # a noscript inside a noscript is text of the outer one
        end = _NOSCRIPT_END.search(markup, tag.close + 1)
        regions.append((tag.close + 1, len(markup) if end is None else end.start()))
    return regions


def robust_link_edits(markup: str, original_url: str, version_url: str, version_date: str,
                      names_post: Callable[[str], bool] | None = None,
                      ours: Callable[[str], bool] | None = None) -> list[Replacement]:
    """What ``add_robust_links`` changes in ``markup``: at most one Replacement per start tag (offsets in
    ``markup``), each narrowed to the characters that change, in order; none for a tag left as it is.

    A caller rewriting several constructs of one text (finalize) merges the edits of all of them, so a
    tag inside two constructs (an AMP placeholder inside its ``<amp-twitter>``) is edited once."""
    is_post = names_post or (lambda href: same_url(href, original_url))
    is_ours = ours or (lambda url: not on_public_archive(url))
    tags = _start_tags(markup)
    regions = _noscript_regions(markup, tags)

    starts = [a for a, _ in regions]

    def region(tag: _Tag) -> int:
        """0 outside every noscript; n for the n-th noscript's content (regions are in order, apart)."""
        at = _tag_start(tag)
        n = bisect.bisect_right(starts, at)
        return n if n and at < regions[n - 1][1] else 0

    to_post: dict[int, _Tag] = {}  # the last link naming the post in each region
    linked: set[int] = set()
    for tag in tags:
        href = next((v for n, _, _, v in tag.attrs if n == "href"), None) if tag.name == "a" else None
        if href and is_post(href):
            to_post[region(tag)] = tag
            linked.add(id(tag))
    targets = {id(t) for t in to_post.values()}
    values = dict(zip(ROBUST_ATTRS, (original_url, version_url, version_date), strict=True))
    reps: list[Replacement] = []
    for tag in tags:
        if tag.name == "a" and id(tag) not in linked:
            continue  # a link to something else keeps what its author gave it
        found = [(name, start, end, value) for name, start, end, value in tag.attrs if name in values]
        versions = [value or "" for name, _, _, value in found if name == "data-versionurl"]
        if found and not (versions and all(is_ours(v) for v in versions)):
            continue  # someone else's Robust Links (or a bare data-versiondate): theirs stay, ours go elsewhere
        edits = [(_without_space(markup, start, tag.name_end), end, "") for _, start, end, _ in found]
        if id(tag) in targets:
            # A "/" before ">" closes the tag unless it ends an unquoted attribute value (href=x/ keeps it).
            self_closing = markup[tag.close - 1] == "/" and not any(end == tag.close for _, _, end, _ in tag.attrs)
            insert_at = tag.close - 1 if self_closing else tag.close
            insert_at = _without_space(markup, insert_at, tag.name_end)
            edits.append((insert_at, insert_at, "".join(f' {k}="{html.escape(xml_safe(v), quote=True)}"'
                                                        for k, v in values.items())))
        if not edits:
            continue
        begin, stop = _tag_start(tag), tag.close + 1
        out: list[str] = []
        pos = begin
        for start, end, new in sorted(edits):  # an insertion sorts before the removal that ends where it is
            out += [markup[pos:start], new] if start >= pos else [new]
            pos = max(pos, end)
        out.append(markup[pos:stop])
        rep = narrowed(begin, markup[begin:stop], "".join(out))
        if rep is not None:
            reps.append(rep)
    return reps


def narrowed(start: int, old: str, new: str) -> Replacement | None:
    """`new` in place of `old` (which starts at `start`) as one Replacement of the part that differs
    (common head and tail left out, so edits of neighbouring tags never overlap); None when equal."""
    if old == new:
        return None
    p = 0
    while p < min(len(old), len(new)) and old[p] == new[p]:
        p += 1
    s = 0
    while s < min(len(old), len(new)) - p and old[-1 - s] == new[-1 - s]:
        s += 1
    return Replacement(start + p, start + len(old) - s, new[p:len(new) - s])


def add_robust_links(markup: str, original_url: str, version_url: str, version_date: str,
                     names_post: Callable[[str], bool] | None = None,
                     ours: Callable[[str], bool] | None = None) -> str:
    """Put the Robust Links attributes (https://robustlinks.mementoweb.org/spec/: data-originalurl,
    data-versionurl, data-versiondate, values escaped) on the link to the post inside an embed construct.

    The rule: the link decorated is the last ``<a href>`` of ``markup`` whose href names the post
    (``names_post(href)``, by default: the href is ``original_url``, see ``same_url``) — in a platform's
    embed code, the status link (a tweet's date). A ``<noscript>`` copy of the embed is a construct of
    its own: the last such link outside every noscript (the one readers see) and the last one inside each
    noscript each get the same set. Links to other things (t.co, hashtags, a quoted post) and the
    construct's wrappers (the ``<blockquote>``, a block editor's ``<figure>``, ``<!-- wp: -->``
    comments, Drupal's ``<div>``s) are never decorated: Robust Links decorate links, and the block
    editor flags a block whose wrapper changed as invalid. A construct with no link to the post (a bare
    URL line, a ``<p>URL</p>`` paragraph, a shortcode, an iframe, flattened text) gets none: adding a
    link would change what the reader sees and stop an oEmbed URL line from embedding.

    Ours and theirs: the spec gives a link one set. An element's set is ours (an earlier run's, or an
    older release's) when it has a data-versionurl and ``ours(url)`` holds for every one (by default:
    the URL is not on a public web archive, ``on_public_archive``); otherwise it is someone else's (a
    Wayback Machine Memento the author linked, a bare data-versiondate) and stays exactly as it is: such
    a link is not given ours (their Memento stands; ours is still the capture the catalog lists).
    Our attributes are removed from every other element of the construct but links to other things
    (an older release put them on its first tag; another link to the post may carry them) and from
    the decorated link, which gets them once, in that order, at the end of its start tag: an article
    rewritten before gets them moved, never duplicated.
    Idempotent: applying it twice gives the same markup as once.
    """
    out: list[str] = []
    pos = 0
    for rep in robust_link_edits(markup, original_url, version_url, version_date, names_post, ours):
        out += [markup[pos:rep.start], rep.new]
        pos = rep.end
    out.append(markup[pos:])
    return "".join(out)
