"""Every object key archiver writes, in one place (an interface: keep it stable).

```
blobs/sha256/ab/<hex>                               originals, content-addressed
derived/<hex>/article.<ext>                         the copy an article shows (full size, no metadata)
derived/<hex>/web.jpg | web.webp, thumb.webp        serving copies
posts/<provider>/<post_id>/<capture_id>.json        manifest (+ .warc.gz, .card.html, .card.png)
posts/<provider>/<post_id>/<capture_id>.html        the capture's human page (a Memento of the post)
posts/<provider>/<post_id>/<capture_id>.timestamps.json   the capture's RFC 3161 timestamp record
timestamps/<merkle root hex>/<n>.tsr                the TimeStampResp of TSA n over that Merkle root
articles/<id>/sources/<sha256>                      each source as received
articles/<id>/plans/<sha256>.json                   the plan of that source
articles/<id>/results/<sha256>/<item_id>.json       each item's outcome
articles/<id>/v<N>, v<N>.patch.json, v<N>.json      versions, their patches, their metadata
intake/<id>/<sha256>.json                           what the publish hook received with a source
health/<sha256 of url>.json                         each original's liveness record
compliance/posts/<provider>/<post_id>.json          a post's hold and takedown state
audit/<YYYY>/<MM>/<DD>/<time>-<id>.json             the audit log, one object per event
```
Post ids and capture ids are checked before they become part of a key.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

from archiver.lazyre import lazy

SHA256_RE = re.compile(r"[0-9a-f]{64}")
PROVIDER_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
POST_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}")
CAPTURE_ID_RE = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{8}")

BLOB_PREFIX = "blobs/sha256/"
DERIVED_PREFIX = "derived/"
POSTS_PREFIX = "posts/"
ARTICLES_PREFIX = "articles/"
HEALTH_PREFIX = "health/"
COMPLIANCE_POSTS_PREFIX = "compliance/posts/"
AUDIT_PREFIX = "audit/"
INTAKE_PREFIX = "intake/"
TIMESTAMPS_PREFIX = "timestamps/"
# What `archiver serve` answers publicly under /media/ (takedowns excepted).
PUBLIC_PREFIXES = ("blobs/", DERIVED_PREFIX, POSTS_PREFIX)


def sha256_hex(data: bytes) -> str:
    """Lowercase hex SHA-256 of `data`: the content address of originals and sources."""
    return hashlib.sha256(data).hexdigest()


# --- originals and serving copies ---------------------------------------------------------------
def blob_key(sha256: str) -> str:
    """The content-addressed key of an original: ``blobs/sha256/ab/<hex>``; ValueError for a bad digest."""
    if not isinstance(sha256, str) or not SHA256_RE.fullmatch(sha256):
        raise ValueError(f"not a lowercase SHA-256 hex digest: {sha256!r}")
    return f"{BLOB_PREFIX}{sha256[:2]}/{sha256}"


def derived_prefix(sha256: str) -> str:
    """Where the serving copies of one original live: ``derived/<hex>/``."""
    return f"{DERIVED_PREFIX}{sha256}/"


def derived_key(sha256: str, name: str) -> str:
    """A serving copy of an original: ``derived/<hex>/<name>`` (article.jpg, web.jpg, web.webp, thumb.webp...)."""
    return f"{derived_prefix(sha256)}{name}"


# --- captures of posts --------------------------------------------------------------------------
def check_post(provider: str, post_id: str) -> None:
    """ValueError unless `provider` and `post_id` are safe to become key segments."""
    if not PROVIDER_RE.fullmatch(provider or ""):
        raise ValueError(f"bad provider name {provider!r}")
    if not safe_post_id(post_id):
        raise ValueError(f"bad post id {post_id!r}")


def _check_parts(provider: str, post_id: str, capture_id: str) -> None:
    check_post(provider, post_id)
    if not CAPTURE_ID_RE.fullmatch(capture_id or ""):
        raise ValueError(f"bad capture id {capture_id!r}")


def safe_post_id(post_id: str | None) -> bool:
    """Whether `post_id` can be a key segment as it is (else the post is filed under another id)."""
    return bool(post_id) and bool(POST_ID_RE.fullmatch(post_id or "")) and ".." not in (post_id or "")


def filed_post_id(post_id: str | None) -> str | None:
    """The id a post whose platform id is `post_id` is stored and indexed under (its key segment under
    ``posts/<provider>/``, its rows in the catalog's posts, captures, items and compliance tables):
    the id itself, with "/" (Telegram's "channel/123", "c/123/45") written ":"; None when there is no
    id or it cannot be a key segment even so (``markup.filing_id`` then files the post under a hash of
    what the article showed). Idempotent: a filed id is its own filed id."""
    candidate = post_id.replace("/", ":") if post_id else None
    return candidate if safe_post_id(candidate) else None


def filed_post_id_of(manifest_key_: str | None, post_id: str | None) -> str | None:
    """The filed id of the post a result names: the one in its manifest key when that is one (the id the
    capture was really filed under, a hash for a post the markup gave no id), else
    `filed_post_id(post_id)`."""
    found = MANIFEST_KEY_RE.fullmatch(manifest_key_ or "")
    return found["post_id"] if found else filed_post_id(post_id)


# A stored manifest: posts/<provider>/<post_id>/<capture_id>.json
MANIFEST_KEY_RE = re.compile(
    rf"{POSTS_PREFIX}(?P<provider>{PROVIDER_RE.pattern})/(?P<post_id>{POST_ID_RE.pattern})/"
    rf"(?P<capture_id>{CAPTURE_ID_RE.pattern})\.json")


def post_prefix(provider: str, post_id: str) -> str:
    """Every capture of one post lives under ``posts/<provider>/<post_id>/``."""
    return f"{POSTS_PREFIX}{provider}/{post_id}/"


def manifest_key(provider: str, post_id: str, capture_id: str) -> str:
    """``posts/<provider>/<post_id>/<capture_id>.json``; ValueError for unsafe parts."""
    _check_parts(provider, post_id, capture_id)
    return f"{post_prefix(provider, post_id)}{capture_id}.json"


def warc_key(provider: str, post_id: str, capture_id: str) -> str:
    """``posts/<provider>/<post_id>/<capture_id>.warc.gz``: the capture's HTTP exchanges."""
    _check_parts(provider, post_id, capture_id)
    return f"{post_prefix(provider, post_id)}{capture_id}.warc.gz"


def card_keys(manifest: dict[str, Any]) -> dict[str, str]:
    """Where the static cards of a capture live, beside its manifest: {"html": …, "png": …}."""
    base = manifest_key(manifest["provider"], manifest["post_id"], manifest["capture_id"]).removesuffix(".json")
    return {"html": f"{base}.card.html", "png": f"{base}.card.png"}


# A capture's human page: posts/<provider>/<post_id>/<capture_id>.html
CAPTURE_PAGE_KEY_RE = lazy(
    rf"{POSTS_PREFIX}(?P<provider>{PROVIDER_RE.pattern})/(?P<post_id>{POST_ID_RE.pattern})/"
    rf"(?P<capture_id>{CAPTURE_ID_RE.pattern})\.html")


def capture_page_key(manifest_key_: str) -> str:
    """``posts/<provider>/<post_id>/<capture_id>.html``, the human page of the capture whose manifest is
    ``posts/<provider>/<post_id>/<capture_id>.json`` (archiver/capture/cards/page.py writes it, `archiver
    serve` answers it with Memento headers); ValueError when `manifest_key_` is not a manifest key."""
    if not isinstance(manifest_key_, str) or not MANIFEST_KEY_RE.fullmatch(manifest_key_) or ".." in manifest_key_:
        raise ValueError(f"not a manifest key: {str(manifest_key_)[:200]!r}")
    return f"{manifest_key_.removesuffix('.json')}.html"


def page_manifest_key(key: str) -> str | None:
    """The manifest key of the capture whose human page is `key`; None when `key` is not a capture page."""
    if not isinstance(key, str) or not CAPTURE_PAGE_KEY_RE.fullmatch(key) or ".." in key:
        return None
    return f"{key.removesuffix('.html')}.json"


# --- trusted time (RFC 3161) -------------------------------------------------------------------
def timestamp_record_key(manifest_key_: str) -> str:
    """``posts/<provider>/<post_id>/<capture_id>.timestamps.json``, beside the manifest
    ``posts/<provider>/<post_id>/<capture_id>.json``; ValueError when `manifest_key_` is not a manifest key."""
    if not isinstance(manifest_key_, str) or not MANIFEST_KEY_RE.fullmatch(manifest_key_):
        raise ValueError(f"not a manifest key: {str(manifest_key_)[:200]!r}")
    return f"{manifest_key_.removesuffix('.json')}.timestamps.json"


def timestamp_token_key(root: str, n: int) -> str:
    """``timestamps/<merkle root hex>/<n>.tsr``: the TimeStampResp (DER) that TSA number `n` gave over
    the Merkle root `root` (lowercase SHA-256 hex); ValueError for a bad root or a negative `n`."""
    if not isinstance(root, str) or not SHA256_RE.fullmatch(root):
        raise ValueError(f"not a lowercase SHA-256 hex digest: {str(root)[:80]!r}")
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"bad token number {n!r}")
    return f"{TIMESTAMPS_PREFIX}{root}/{n}.tsr"


# --- articles -----------------------------------------------------------------------------------
def article_prefix(article_id: str) -> str:
    """Everything of one article lives under ``articles/<id>/``."""
    return f"{ARTICLES_PREFIX}{article_id}/"


def source_key(article_id: str, source_sha: str) -> str:
    """``articles/<id>/sources/<sha256>``: one source exactly as received."""
    return f"{article_prefix(article_id)}sources/{source_sha}"


def plan_key(article_id: str, source_sha: str) -> str:
    """``articles/<id>/plans/<sha256>.json``: the items discovered in that source."""
    return f"{article_prefix(article_id)}plans/{source_sha}.json"


def result_key(article_id: str, source_sha: str, item_id: str) -> str:
    """``articles/<id>/results/<sha256>/<item_id>.json``: one item's outcome."""
    return f"{article_prefix(article_id)}results/{source_sha}/{item_id}.json"


def version_key(article_id: str, n: int) -> str:
    """``articles/<id>/v<N>``: the bytes of version N."""
    return f"{article_prefix(article_id)}v{n}"


def version_meta_key(article_id: str, n: int) -> str:
    """``articles/<id>/v<N>.json``: the metadata that commits version N."""
    return f"{article_prefix(article_id)}v{n}.json"


def patch_key(article_id: str, n: int) -> str:
    """``articles/<id>/v<N>.patch.json``: how version N was made from its base."""
    return f"{article_prefix(article_id)}v{n}.patch.json"


def version_number(article_id: str, key: str) -> int | None:
    """N when `key` is the metadata object ``articles/<id>/v<N>.json`` of this article, else None."""
    m = re.fullmatch(rf"{re.escape(article_prefix(article_id))}v(\d+)\.json", key)
    return int(m.group(1)) if m else None


# What `archiver reindex` reads under articles/: plans, item results and version metadata.
ARTICLE_OBJECT_RE = lazy(
    rf"{ARTICLES_PREFIX}(?P<aid>[^/]+)/(?:plans/(?P<plan>{SHA256_RE.pattern})\.json"
    rf"|results/(?P<rsrc>{SHA256_RE.pattern})/(?P<item>[0-9a-f]+)\.json|v(?P<version>\d+)\.json)")


# An intake record: ``intake/<id>/<sha256>.json`` (what `archiver reindex` reads of them).
INTAKE_KEY_RE = lazy(rf"{INTAKE_PREFIX}(?P<aid>[^/]+)/(?P<sha>{SHA256_RE.pattern})\.json")


def intake_key(article_id: str, source_sha256: str) -> str:
    """``intake/<id>/<sha256>.json``: what the publish hook received with a source (url, times, via)."""
    return f"{INTAKE_PREFIX}{article_id}/{source_sha256}.json"


def intake_prefix(article_id: str) -> str:
    """Every intake record of one article: ``intake/<id>/``."""
    return f"{INTAKE_PREFIX}{article_id}/"


# --- health, compliance, audit ------------------------------------------------------------------
def url_sha256(url: str) -> str:
    """Hex SHA-256 of a URL's UTF-8 bytes: how an original's health record is named."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def record_key(url: str) -> str:
    """``health/<sha256 of url>.json``: one original's liveness record."""
    return f"{HEALTH_PREFIX}{url_sha256(url)}.json"


def compliance_state_key(provider: str, post_id: str) -> str:
    """``compliance/posts/<provider>/<post_id>.json``: a post's hold and takedown state."""
    return f"{COMPLIANCE_POSTS_PREFIX}{provider}/{post_id}.json"


def audit_key(at: datetime, event_id: str) -> str:
    """``audit/<YYYY>/<MM>/<DD>/<time>-<id>.json``: one audit event, written once and never again."""
    return f"{AUDIT_PREFIX}{at:%Y/%m/%d}/{at:%Y%m%dT%H%M%S%fZ}-{event_id}.json"
