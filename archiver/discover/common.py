"""Small helpers shared by the HTML, Markdown and text scanners: text cleanup, URL resolution,
which URLs count as images, and photo credits written into alt text or captions.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from html.entities import html5
from urllib.parse import urljoin

from archiver.discover import constructs
from archiver.discover.tokens import tag_body
from archiver.lazyre import lazy
from archiver.providers import registry

_TAG = re.compile(rf"<{tag_body(4000)}>")
_SPACE = re.compile(r"\s+")
_IMAGE_EXT = lazy(r"\.(?:jpe?g|png|gif|webp|avif|heic|bmp|tiff?|svg)(?:[?#]|$)", re.I)
# Query strings and image CDNs that name an image without an extension (`looks_like_image_url`).
_IMAGE_QUERY = lazy(r"[?&](?:format|fm|ext)=(?:jpe?g|png|gif|webp|avif)(?:&|#|$)", re.I)
# Image CDNs whose URLs often have no extension: host (a leading "." for any subdomain) and path.
IMAGE_CDNS = (
    "pbs.twimg.com/media/", "images.unsplash.com/", "res.cloudinary.com/", ".imgix.net/",
    "cdn.sanity.io/images/", "images.ctfassets.net/", ".googleusercontent.com/", "i.ytimg.com/vi/",
    "img.youtube.com/vi/", "media.giphy.com/media/", "i.imgur.com/", "images.pexels.com/photos/",
)
_IMAGE_CDN = lazy(
    r"^(?:https?:)?//(?:"
    + "|".join(rf"[^/?#]*{re.escape(c)}" if c.startswith(".") else re.escape(c) for c in IMAGE_CDNS)
    + r")(?!(?:[^?#]*/)?video/)",
    re.I,
)
_SVG_FRAGMENT = lazy(r"\.svg#", re.I)
# A video or audio file, even on an image CDN's path (i.imgur.com/x.mp4, .gifv pages): not an image.
_MEDIA_EXT = lazy(r"\.(?:mp4|m4v|webm|mov|ogv|gifv|mp3|m4a|ogg|wav)(?:[?#]|$)", re.I)
# Analytics beacons, known by their hosts: never images to keep (nor the providers' short links to
# posts, from the registry: `_not_image`). An image is never dropped by its file name: a
# placeholder in src (grey.gif, blank.gif, loading.gif) is what readers see until the script runs, and
# is kept like the lazy source beside it; a tracking pixel is known by its size (width and height 1).
# Substrings of a lower-cased URL (plain `in` tests: a regex alternation searched at every position of
# every image URL cost a tenth of discovery).
_BEACONS = ("facebook.com/tr/", "facebook.com/tr?", "google-analytics.com", "googletagmanager.com",
            "doubleclick.net", "scorecardresearch.com", "quantserve.com", "bat.bing.com", "pixel.wp.com")
_not_image: re.Pattern[str] | None = None
_URL_DROP = re.compile(r"[\t\n\r]")
_BAD_SCHEME = re.compile(r"^\s*(?:data|javascript|about|blob|mailto|tel|file|cid):", re.I)

_CREDIT_MARK = lazy(
    r"\b(?:Photo(?:graph)?s?|Image|Picture|Foto|Credit|Illustration|Video)(?:\s+by|\s*:)\s*([^()]{2,160})", re.I
)
_CREDIT_PAREN = re.compile(r"\(([^()]{2,160})\)\s*\.?\s*$")
_CREDIT_PAREN_MARK = re.compile(
    r"\(\s*(?:Photo(?:graph)?|Image|Picture|Foto|Credit)(?:\s+by|\s*:)\s*([^()]{2,160})\)\s*\.?\s*$", re.I
)


def last_dash(text: str, lo: int, hi: int, dashes: tuple[str, ...]) -> tuple[int, int]:
    """The last attribution dash in text[lo:hi]: (position, width), or (-1, 0) when there is none."""
    best, width = -1, 0
    for dash in dashes:
        at = text.rfind(dash, lo, hi)
        if at > best:
            best, width = at, len(dash)
    return best, width


def clean_text(fragment: str) -> str:
    """Markup fragment to plain text: tags dropped, entities decoded, whitespace collapsed."""
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", fragment))).strip()


# A character reference in an attribute value, as the HTML Standard's tokenizer reads it (§13.2.5.72-80):
# numeric, or a name with its whole run of letters and digits and an optional ";".
ATTR_REF = re.compile(r"&(?:#[xX]([0-9A-Fa-f]++);?|#([0-9]++);?|([A-Za-z][A-Za-z0-9]*+)(;?))")


def attr_reference(m: re.Match[str]) -> str:
    """What the reference `m` (an ATTR_REF match in an attribute value, `m.string`) stands for: a named
    one with ";" that HTML5 names; a legacy one without ";" only when its name is the whole run of
    letters and digits and no "=" follows (so ``&region`` and ``&copy=2`` stay as written); numeric ones
    with the Standard's replacements (``html.unescape`` implements them). Itself when it is none."""
    ref = m.group(0)
    if m.group(3) is None:
        return html.unescape(ref if ref.endswith(";") else ref + ";")
    name, semi = m.group(3), m.group(4)
    if semi:
        return html5.get(name + ";", ref)
    if name in html5 and m.string[m.end():m.end() + 1] != "=":
        return html5[name]
    return ref


def unescape_attr(value: str) -> str:
    """An attribute value with its character references decoded as the HTML Standard decodes them in an
    attribute (`attr_reference`; ``srcdoc.decode_value`` reads them the same way, with offsets):
    ``?w=1&region=eu&copy=2`` keeps ``&region`` and ``&copy``, which ``html.unescape`` (the rule for
    text) would decode."""
    return ATTR_REF.sub(attr_reference, value) if "&" in value else value


def resolve(url: str, base: str | None) -> str:
    """Absolute URL for `url` (already entity-decoded) against `base`; as written if no base. As a
    browser's URL parser does, tabs and newlines are dropped and spaces, quotes and angle brackets
    percent-encoded (``a (1).png`` is fetched as ``a%20(1).png``)."""
    url = _URL_DROP.sub("", url.strip())
    if any(c in url for c in ' "<>'):
        url = url.replace(" ", "%20").replace('"', "%22").replace("<", "%3C").replace(">", "%3E")
    if base:
        try:
            return urljoin(base, url)
        except ValueError:
            return url
    if url.startswith("//"):
        return "https:" + url
    return url


def is_image_candidate(url: str) -> bool:
    """False for data: URIs and other non-fetchable schemes, fragments, analytics beacons (by host) and
    the providers' short links to posts; never decided by the file's name."""
    if not url or len(url) > 8192 or _BAD_SCHEME.match(url) or url.startswith("#"):
        return False
    low = url.lower()
    for beacon in _BEACONS:  # a loop, not any() over a generator: a third of this call's time
        if beacon in low:
            return False
    return not (_not_image or _compile_not_image()).match(url)


def _compile_not_image() -> re.Pattern[str]:
    """The registered providers' short-link hosts at the start of a URL, compiled once per provider set."""
    global _not_image
    hosts = "|".join(re.escape(h) for h in constructs.current().redirect_hosts) or r"(?!)"
    _not_image = re.compile(rf"(?:https?:)?//(?:[\w.\-]*\.)?(?:{hosts})(?:/|$)", re.I)
    return _not_image


def _forget() -> None:
    global _not_image
    _not_image = None


registry.on_change(_forget)


def looks_like_image_path(url: str) -> bool:
    """True when the path ends with a common image extension (used where nothing else says so)."""
    return bool(_IMAGE_EXT.search(url))


def looks_like_image_url(url: str) -> bool:
    """True when `url` (entities decoded) names an image file by itself: its path ends with an image
    extension (a query may follow), its query asks for an image format (``?format=jpg``), or it is a
    known image CDN's path; an SVG fragment (a sprite's icon), a video or audio file (by extension, on
    a CDN too) and anything `is_image_candidate` refuses are not. Used where no tag or attribute name
    says "image" (links, data-* attributes, CSS)."""
    if (not is_image_candidate(url) or _SVG_FRAGMENT.search(url) or _MEDIA_EXT.search(url)
            or any(c in url.strip() for c in " \t\n\r\f")):
        return False
    return bool(_IMAGE_EXT.search(url) or _IMAGE_QUERY.search(url) or _IMAGE_CDN.search(url))


def credit_from_alt(alt: str | None) -> str | None:
    """The "(Photo: Name)", "(Photo by Name / Agency)", "(Name / Agency)" conventions."""
    if not alt:
        return None
    m = _CREDIT_PAREN_MARK.search(alt)
    if m:
        return m.group(1).strip()
    m = _CREDIT_PAREN.search(alt)
    if m and "/" in m.group(1):
        return m.group(1).strip()
    return None


def credit_from_caption(caption: str | None) -> str | None:
    """A caption's credit: what follows "Photograph:" and the like, or a trailing "(… / …)"."""
    if not caption:
        return None
    m = _CREDIT_MARK.search(caption)
    if m:
        return m.group(1).strip().rstrip(".") or None
    return credit_from_alt(caption)


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, non-overlapping (start, end) ranges covering the same positions as `ranges`."""
    out: list[tuple[int, int]] = []
    for s, e in sorted(ranges):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out
