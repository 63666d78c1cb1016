"""The first step: store the article's source and a plan of its distinct items (posts grouped by id,
images by URL) with every occurrence's span. The first plan stored for a source wins.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from archiver import __version__
from archiver.article.decode import DecodedArticle, article_id_for
from archiver.article.input import ArticleInput
from archiver.dates import iso, utcnow
from archiver.discover.model import Embed, ImageRef
from archiver.discover.scan import discover
from archiver.errors import InputError
from archiver.runtime import Runtime
from archiver.storage.base import ObjectNotFound, _dumps
from archiver.storage.layout import plan_key, source_key

_ARTICLE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

def item_id_for(kind: str, key: str) -> str:
    return hashlib.sha256(f"{kind}\n{key}".encode()).hexdigest()[:16]

# --- plans ---------------------------------------------------------------------------------------
@dataclass
class Plan:
    """The distinct items of one article source, with every occurrence's span."""

    article_id: str
    source_sha256: str
    encoding: str
    url: str | None
    base_url: str | None
    created_at: str
    items: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id, "source_sha256": self.source_sha256,
            "source_key": source_key(self.article_id, self.source_sha256), "encoding": self.encoding,
            "url": self.url, "base_url": self.base_url, "created_at": self.created_at,
            "archiver_version": __version__, "items": self.items,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Plan:
        return cls(d["article_id"], d["source_sha256"], d["encoding"], d.get("url"), d.get("base_url"),
                   d["created_at"], d["items"])

    def item(self, item_id: str) -> dict[str, Any]:
        for it in self.items:
            if it["item_id"] == item_id:
                return it
        raise KeyError(item_id)

    @property
    def group(self) -> str:
        return f"{self.article_id}:{self.source_sha256}"

def _group_items(embeds: Iterable[Embed], images: Iterable[ImageRef]) -> list[dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = {}
    for e in embeds:
        iid = item_id_for("embed", e.key)
        g = groups.setdefault(iid, {"item_id": iid, "kind": "embed", "provider": e.provider,
                                    "post_id": e.post_id, "url": e.url, "occurrences": []})
        g["occurrences"].append(e.to_json())
        g["url"] = g["url"] or e.url
    for im in images:
        iid = item_id_for("image", im.url)
        g = groups.setdefault(iid, {"item_id": iid, "kind": "image", "url": im.url, "occurrences": []})
        g["occurrences"].append(im.to_json())
    # Richest markup first so a provider reads the best copy; stable order for equal plans.
    for g in groups.values():
        if g["kind"] == "embed":
            g["occurrences"].sort(key=lambda o: (-(o["end"] - o["start"]), o["start"]))
    return sorted(groups.values(), key=lambda g: (g["kind"], min(o["start"] for o in g["occurrences"])))

def check_article_id(article_id: str) -> str:
    if not _ARTICLE_ID.match(article_id) or ".." in article_id:
        raise InputError(
            f"article id {article_id!r} must be 1-128 characters of letters, digits, '.', '_' or '-'"
        )
    return article_id

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
    try:
        plan = Plan.from_json(json.loads(rt.store.get(plan_key(article_id, sha))))
    except ObjectNotFound:
        decoded = article.decode(max_bytes=rt.settings.max_article_bytes)
        if not source_stored:
            rt.store.put(source_key(article_id, sha), article.data, content_type="application/octet-stream",
                         if_none_match=True)
        found = discover(decoded.text, base_url=article.base, fmt=article.format)
        plan = Plan(article_id, sha, decoded.encoding, article.url, article.base, iso(utcnow()),
                    _group_items(found.embeds, found.images))
        if not rt.store.put(plan_key(article_id, sha), _dumps(plan.to_json()),
                            content_type="application/json", if_none_match=True):
            plan = Plan.from_json(json.loads(rt.store.get(plan_key(article_id, sha))))
    now = iso(utcnow())
    rt.catalog.record_article(article_id=article_id, url=article.url, source_sha256=sha, encoding=plan.encoding,
                              status="capturing", created_at=now, updated_at=now)
    return plan

def load_plan(rt: Runtime, article_id: str, source_sha: str | None = None) -> Plan:
    if source_sha is None:
        row = rt.catalog.article(article_id)
        if row is None:
            raise InputError(f"no article {article_id!r} in the catalog ({rt.catalog.describe()})")
        source_sha = row["source_sha256"]
    try:
        return Plan.from_json(json.loads(rt.store.get(plan_key(article_id, source_sha))))
    except ObjectNotFound:
        raise InputError(f"article {article_id!r} has no stored plan for source {source_sha[:12]}") from None

def _load_source(rt: Runtime, plan: Plan) -> DecodedArticle:
    data = rt.store.get(source_key(plan.article_id, plan.source_sha256))
    return DecodedArticle(data.decode(plan.encoding), plan.encoding)
