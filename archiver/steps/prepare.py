"""The first step: store the article's source and a plan of its distinct items (posts grouped by id,
images by URL) with every occurrence's span.

A stored plan of the same source is reused only when what decided it is the same: the encoding the
bytes decode in (BOM, given or declared charset), the article URL, the base URL, and what discovery
makes of the text in the given format. Archiving the same bytes with a corrected --charset,
--base-url, --format or HTTP charset plans again and stores that plan in place of the old one (the
items it shares keep their results; the rest are captured); an unchanged re-archive stores nothing.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from archiver.article.decode import (
    KEPT,
    DecodedArticle,
    article_id_for,
    kept_bytes,
    python_codec,
    same_encoding,
    web_name,
)
from archiver.article.input import ArticleInput
from archiver.article.metadata import article_metadata
from archiver.article.versions import versions
from archiver.capture.ownsite import OwnSites
from archiver.dates import iso, utcnow
from archiver.discover.model import Embed, ImageRef
from archiver.discover.scan import discover
from archiver.errors import InputError
from archiver.records.plan import EmbedItem, ImageItem, Plan
from archiver.records.result import ImageResult
from archiver.storage.base import ObjectNotFound
from archiver.storage.layout import plan_key, source_key

if TYPE_CHECKING:
    from archiver.runtime import Runtime

log = logging.getLogger(__name__)
_ARTICLE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def item_id_for(kind: str, key: str) -> str:
    """The id of an item: 16 hex digits from its kind and its grouping key (post key or image URL)."""
    return hashlib.sha256(f"{kind}\n{key}".encode()).hexdigest()[:16]


# --- plans ---------------------------------------------------------------------------------------
def _group_items(embeds: Iterable[Embed], images: Iterable[ImageRef]) -> list[EmbedItem | ImageItem]:
    """Occurrences grouped into items: posts by key (provider and id, or flattened text), images by URL.

    An embed's occurrences come richest markup first, so a provider reads the best copy; items are
    ordered by kind, then first position, so equal sources give equal plans."""
    posts: dict[str, list[Embed]] = {}
    for e in embeds:
        posts.setdefault(item_id_for("embed", e.key), []).append(e)
    pictures: dict[str, list[ImageRef]] = {}
    fetched: dict[str, str] = {}
    for im in images:
        # One item per resource: a fragment (an SVG sprite's #icon, #xywh=…) names a part of the same
        # fetch, and each occurrence keeps its own in the rewrite (finalize.build_replacements).
        url = im.url.split("#", 1)[0]
        iid = item_id_for("image", url)
        fetched.setdefault(iid, url)
        pictures.setdefault(iid, []).append(im)
    items: list[EmbedItem | ImageItem] = []
    for iid, found in posts.items():
        first = found[0]
        url = next((e.url for e in found if e.url), None)
        found.sort(key=lambda o: (-(o.end - o.start), o.start))
        items.append(EmbedItem(item_id=iid, provider=first.provider, post_id=first.post_id, url=url,
                               occurrences=found))
    items += [ImageItem(item_id=iid, url=fetched[iid], occurrences=found) for iid, found in pictures.items()]
    return sorted(items, key=lambda it: (it.kind, min(o.start for o in it.occurrences)))


def check_article_id(article_id: str) -> str:
    """`article_id` itself; InputError unless it is 1-128 letters, digits, '.', '_' or '-' (no '..')."""
    if not _ARTICLE_ID.match(article_id) or ".." in article_id:
        raise InputError(
            f"article id {article_id!r} must be 1-128 characters of letters, digits, '.', '_' or '-'"
        )
    return article_id


def own_site_of(rt: Runtime, article: ArticleInput) -> str | None:
    """The own site of `article` for politeness (Plan.own_site): the registrable domain of its URL (else
    base URL) when the sender vouched for it (`url_trusted`) or the domain is a configured own site;
    None otherwise and for a platform's host (archiver.capture.ownsite)."""
    return OwnSites(rt.settings.own_hosts, rt.settings.own_sites).trusted_site(article.url or article.base_url,
                                                                              trusted=article.url_trusted)


def over_image_limit(rt: Runtime, plan: Plan, item: ImageItem) -> ImageResult | None:
    """A rejected result for an image past the first ``max_images_per_article`` images of `plan` (in
    plan order: by first position), stored with the setting that refused it so `archiver retry` tries
    it again once the limit is raised (archiver/steps/policy.py); None for an image within the limit.
    Nothing is fetched for a rejected one."""
    limit = rt.settings.max_images_per_article
    images = [it.item_id for it in plan.items if isinstance(it, ImageItem)]
    if len(images) <= limit or images.index(item.item_id) < limit:
        return None
    return ImageResult(item_id=item.item_id, url=item.url, status="rejected", occurrences=len(item.occurrences),
                       error=f"the article has {len(images):,} images, over the limit of {limit:,} per article "
                             "(max_images_per_article): not fetched",
                       refused_under={"max_images_per_article": str(limit)})


_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")


def query_in_document_encoding(url: str, encoding: str) -> str:
    """`url` with the non-ASCII characters of its query percent-encoded as a browser's URL parser
    encodes them in a document in `encoding` (a Python codec; WHATWG URL, query state: the document's
    encoding, except UTF-8 for UTF-8 and UTF-16 documents; a character the encoding lacks as
    ``%26%23<code point>%3B``, "&#N;"). Unchanged for a URL that is not http(s), has no non-ASCII query,
    or comes from a UTF-8 or UTF-16 document (the fetcher's UTF-8 percent-encoding is then right)."""
    q = url.find("?")
    if q < 0 or url.isascii() or not url[:8].lower().startswith(("http://", "https://")):
        return url
    end = url.find("#", q)
    end = len(url) if end < 0 else end
    query = url[q + 1:end]
    if query.isascii() or web_name(encoding) in {"utf-8", "utf-16le", "utf-16be"}:
        return url

    def escaped(m: re.Match[str]) -> str:
        run = m.group(0)
        try:
            parts = [(run, run.encode(encoding))]
        except UnicodeEncodeError:
            parts = []
            for ch in run:
                try:
                    parts.append((ch, ch.encode(encoding)))
                except UnicodeEncodeError:
                    parts.append((ch, b""))
        # A byte of the special-query percent-encode set (controls, space, '"', '#', "'", '<', '>', and
        # every byte above 0x7E) is escaped; other ASCII bytes a multi-byte encoding gives stay as they are.
        return "".join("".join(chr(b) if 0x20 < b < 0x7F and b not in b'"#\'<>' else f"%{b:02X}" for b in data)
                       if data else f"%26%23{ord(ch)}%3B" for ch, data in parts)

    return url[:q + 1] + _NON_ASCII_RUN.sub(escaped, query) + url[end:]


def _sanitized(text: str, encoding: str) -> str:
    """`text` as a browser reads it: the bytes the page's encoding did not give back exactly (kept as
    U+10FF00 + byte for the byte-exact rewrite, see archiver.article.decode) decoded as the web decodes
    them, each run with the encoding's decoder (`encoding`: the plan's, e.g. "x-keep-x-sjis"): a
    Shift_JIS pair another codec would write back otherwise is its character (0x87 0x90: ≒), an
    ISO-2022-JP escape sequence nothing (it switches the decoder's state), a byte no character uses
    U+FFFD. The headline in the catalog, an image URL as fetched."""
    try:
        codec = python_codec(web_name(encoding))
    except InputError:
        codec = "utf-8"

    def shown(m: re.Match[str]) -> str:
        try:
            return kept_bytes(m.group()).decode(codec, errors="replace")
        except (LookupError, ValueError):
            return "\ufffd" * len(m.group())

    return KEPT.sub(shown, text)


def _same_plan(stored: Plan, new: Plan) -> bool:
    """Whether a new plan of a stored plan's source was decided alike: the same encoding, article URL,
    base URL, items (what the format made of the text) and metadata (unless the stored plan was made
    before metadata was read)."""
    return (same_encoding(stored.encoding, new.encoding) and stored.url == new.url
            and stored.base_url == new.base_url and stored.metadata in (None, new.metadata)
            and [it.to_json() for it in stored.items] == [it.to_json() for it in new.items])


def source_cache_key(plan: Plan) -> str:
    """The key of `plan`'s decoded source in rt.sources: its group and encoding (a new plan of the same
    source in another encoding never reads the text decoded for the old one)."""
    return f"{plan.group}:{plan.encoding}"


def prepare(rt: Runtime, article: ArticleInput | bytes, *, article_id: str | None = None,
            source_stored: bool = False) -> Plan:
    """Store the source, discover its items and store the plan.

    `article` is what a face built (bytes: ArticleInput(bytes)); `article_id` defaults to a hash of
    the bytes; `source_stored` says the source is already in storage (Intake stored it), so it is not
    written twice. The source is written before the plan, so a stored plan implies a stored source.
    A stored plan of this source is kept as it is (nothing written) when this article decodes in the
    same encoding and gives the same URLs, metadata and items; otherwise the new plan replaces it
    (two processes storing the first plan at once: the first wins). Raises InputError for an
    unusable article."""
    article = ArticleInput.of(article)
    article_id = check_article_id(article_id or article_id_for(article.data))
    sha = article.sha256
    key = plan_key(article_id, sha)
    decoded = article.decode(max_bytes=rt.settings.max_article_bytes)
    try:
        stored: Plan | None = Plan.loads(rt.store.get(key), key)
    except ObjectNotFound:
        stored = None
    if not source_stored and stored is None:
        rt.store.put(source_key(article_id, sha), article.data, content_type="application/octet-stream",
                     if_none_match=True)
    found = discover(decoded.text, base_url=article.base, fmt=article.format)
    for limit in found.limits:  # a limit of discovery reached (hostile markup): said, not silent
        log.warning("article %s: %s", article_id, limit)
    # A byte the declared encoding does not decode is U+FFFD in a URL, as a browser reads it (not the
    # code point that keeps it for the byte-exact rewrite); the query is encoded in the page's encoding.
    images = [replace(im, url=query_in_document_encoding(_sanitized(im.url, decoded.encoding), decoded.encoding))
              for im in found.images]
    plan = Plan(article_id=article_id, source_sha256=sha, encoding=decoded.encoding, url=article.url,
                base_url=article.base, own_site=own_site_of(rt, article), created_at=iso(utcnow()),
                metadata=article_metadata(_sanitized(decoded.text, decoded.encoding)
                                          if decoded.encoding.startswith("x-keep-") else decoded.text,
                                          article.format),
                items=_group_items(found.embeds, images))
    if stored is not None and _same_plan(stored, plan):
        plan = stored  # decided alike: the stored plan stays, nothing is written
    elif stored is None:
        if not rt.store.put(key, plan.dumps(), content_type="application/json", if_none_match=True):
            plan = Plan.loads(rt.store.get(key), key)  # another process stored the first plan
    else:
        log.info("article %s: source %s planned again (encoding %s, base %s, format %s; was %s, %s)", article_id,
                 sha[:12], plan.encoding, plan.base_url, article.format, stored.encoding, stored.base_url)
        rt.store.put(key, plan.dumps(), content_type="application/json")
    if same_encoding(plan.encoding, decoded.encoding):
        rt.sources.put(source_cache_key(plan), DecodedArticle(decoded.text, plan.encoding))
    now = iso(utcnow())
    meta = plan.metadata
    rt.catalog.record_article(article_id=article_id, url=article.url, source_sha256=sha, encoding=plan.encoding,
                              status="capturing", created_at=now, updated_at=now,
                              headline=meta.headline if meta else None,
                              published_at=meta.published_at if meta else None)
    return plan


def load_plan(rt: Runtime, article_id: str, source_sha: str | None = None) -> Plan:
    """The stored plan of the article's source `source_sha` (default: the catalog's current source).

    InputError when the article or its plan is unknown; RecordError when the stored plan is malformed."""
    if source_sha is None:
        row = rt.catalog.article(article_id)
        if row is None:
            raise InputError(f"no article {article_id!r} in the catalog")
        source_sha = row["source_sha256"]
    key = plan_key(article_id, source_sha)
    try:
        return Plan.loads(rt.store.get(key), key)
    except ObjectNotFound:
        raise InputError(f"article {article_id!r} has no stored plan for source {source_sha[:12]}") from None


def current_source(rt: Runtime, article_id: str) -> str | None:
    """The sha256 of the source the article is on now: the source of the version it shows (a revert
    to a version of an earlier source puts it back on that source), or a newer source being archived
    that has no version yet. The catalog's source, unless storage's history shows that source was
    left by a later version (a catalog indexed before reverts moved it); None for an unknown article.

    retry, health and `show` work on this source, never merely the latest one."""
    row = rt.catalog.article(check_article_id(article_id))
    sha = row["source_sha256"] if row else None
    history = versions(rt, article_id)
    if not history:
        return sha
    shown = history[-1].source_sha256
    if sha is None or (sha != shown and any(v.source_sha256 == sha for v in history)):
        return shown
    return sha


def current_plan(rt: Runtime, article_id: str) -> Plan:
    """The plan of `current_source` (InputError for an unknown article or plan)."""
    return load_plan(rt, check_article_id(article_id), current_source(rt, article_id))


def load_source(rt: Runtime, plan: Plan) -> DecodedArticle:
    """The source `plan` was made from, decoded with the plan's encoding: read and decoded once per
    process (rt.sources), so each step that needs it, and each capture of the local runner, shares it.
    ObjectNotFound when the source is not stored."""
    def load() -> DecodedArticle:
        data = rt.store.get(source_key(plan.article_id, plan.source_sha256))
        return DecodedArticle(data.decode(plan.encoding), plan.encoding)

    return rt.sources.get(source_cache_key(plan), load)
