"""The first step: store the article's source and a plan of its distinct items (posts grouped by id,
images by URL) with every occurrence's span. The first plan stored for a source wins.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from archiver.article.decode import DecodedArticle, article_id_for
from archiver.article.input import ArticleInput
from archiver.article.metadata import article_metadata
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
    for im in images:
        pictures.setdefault(item_id_for("image", im.url), []).append(im)
    items: list[EmbedItem | ImageItem] = []
    for iid, found in posts.items():
        first = found[0]
        url = next((e.url for e in found if e.url), None)
        found.sort(key=lambda o: (-(o.end - o.start), o.start))
        items.append(EmbedItem(item_id=iid, provider=first.provider, post_id=first.post_id, url=url,
                               occurrences=found))
    items += [ImageItem(item_id=iid, url=found[0].url, occurrences=found) for iid, found in pictures.items()]
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


def prepare(rt: Runtime, article: ArticleInput | bytes, *, article_id: str | None = None,
            source_stored: bool = False) -> Plan:
    """Store the source, discover its items and store the plan (first plan for a source wins).

    `article` is what a face built (bytes: ArticleInput(bytes)); `article_id` defaults to a hash of
    the bytes; `source_stored` says the source is already in storage (Intake stored it), so it is not
    written twice. The source is written before the plan, so a stored plan implies a stored source
    and is taken as it is, with no decoding and no write. Raises InputError for an unusable article."""
    article = ArticleInput.of(article)
    article_id = check_article_id(article_id or article_id_for(article.data))
    sha = article.sha256
    key = plan_key(article_id, sha)
    try:
        plan = Plan.loads(rt.store.get(key), key)
    except ObjectNotFound:
        decoded = article.decode(max_bytes=rt.settings.max_article_bytes)
        if not source_stored:
            rt.store.put(source_key(article_id, sha), article.data, content_type="application/octet-stream",
                         if_none_match=True)
        found = discover(decoded.text, base_url=article.base, fmt=article.format)
        plan = Plan(article_id=article_id, source_sha256=sha, encoding=decoded.encoding, url=article.url,
                    base_url=article.base, own_site=own_site_of(rt, article), created_at=iso(utcnow()),
                    metadata=article_metadata(decoded.text, article.format),
                    items=_group_items(found.embeds, found.images))
        if not rt.store.put(key, plan.dumps(), content_type="application/json", if_none_match=True):
            plan = Plan.loads(rt.store.get(key), key)  # another process stored the first plan
        if plan.encoding == decoded.encoding:
            rt.sources.put(plan.group, decoded)  # the steps after this one need not decode it again
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


def load_source(rt: Runtime, plan: Plan) -> DecodedArticle:
    """The source `plan` was made from, decoded with the plan's encoding: read and decoded once per
    process (rt.sources), so each step that needs it, and each capture of the local runner, shares it.
    ObjectNotFound when the source is not stored."""
    def load() -> DecodedArticle:
        data = rt.store.get(source_key(plan.article_id, plan.source_sha256))
        return DecodedArticle(data.decode(plan.encoding), plan.encoding)

    return rt.sources.get(plan.group, load)
