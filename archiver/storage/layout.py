"""Every object key archiver writes, in one place (an interface: keep it stable).

```
blobs/sha256/ab/<hex>                               originals, content-addressed
derived/<hex>/web.jpg | web.webp, thumb.webp        serving copies
posts/<provider>/<post_id>/<capture_id>.json        manifest (+ .warc.gz, .card.html, .card.png)
articles/<id>/sources/<sha256>                      each source as received
articles/<id>/plans/<sha256>.json                   the plan of that source
articles/<id>/results/<sha256>/<item_id>.json       each item's outcome
articles/<id>/v<N>, v<N>.patch.json, v<N>.json      versions, their patches, their metadata
health/<sha256 of url>.json                         each original's liveness record
```
Post ids and capture ids are checked before they become part of a key.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

# --- object keys (an interface: keep stable) ------------------------------------------------
def source_key(article_id: str, source_sha: str) -> str:
    return f"articles/{article_id}/sources/{source_sha}"

def plan_key(article_id: str, source_sha: str) -> str:
    return f"articles/{article_id}/plans/{source_sha}.json"

def result_key(article_id: str, source_sha: str, item_id: str) -> str:
    return f"articles/{article_id}/results/{source_sha}/{item_id}.json"

def version_key(article_id: str, n: int) -> str:
    return f"articles/{article_id}/v{n}"

def version_meta_key(article_id: str, n: int) -> str:
    return f"articles/{article_id}/v{n}.json"

def patch_key(article_id: str, n: int) -> str:
    return f"articles/{article_id}/v{n}.patch.json"

BLOB_PREFIX = "blobs/sha256/"

_SHA256_RE = re.compile(r"[0-9a-f]{64}")

def blob_key(sha256: str) -> str:
    """The content-addressed key of an original: ``blobs/sha256/ab/<hex>``."""
    if not isinstance(sha256, str) or not _SHA256_RE.fullmatch(sha256):
        raise ValueError(f"not a lowercase SHA-256 hex digest: {sha256!r}")
    return f"{BLOB_PREFIX}{sha256[:2]}/{sha256}"

_CAPTURE_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{8}")

_POST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}")

def _check_parts(provider: str, post_id: str, capture_id: str) -> None:
    if not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", provider or ""):
        raise ValueError(f"bad provider name {provider!r}")
    if not _POST_ID.fullmatch(post_id or "") or ".." in post_id:
        raise ValueError(f"bad post id {post_id!r}")
    if not _CAPTURE_ID.fullmatch(capture_id or ""):
        raise ValueError(f"bad capture id {capture_id!r}")

def manifest_key(provider: str, post_id: str, capture_id: str) -> str:
    _check_parts(provider, post_id, capture_id)
    return f"posts/{provider}/{post_id}/{capture_id}.json"

def warc_key(provider: str, post_id: str, capture_id: str) -> str:
    _check_parts(provider, post_id, capture_id)
    return f"posts/{provider}/{post_id}/{capture_id}.warc.gz"

# --- keys ---------------------------------------------------------------------------------------
def card_keys(manifest: dict[str, Any]) -> dict[str, str]:
    """Where the cards of a capture live, beside its manifest."""

    base = manifest_key(manifest["provider"], manifest["post_id"], manifest["capture_id"]).removesuffix(".json")
    return {"html": f"{base}.card.html", "png": f"{base}.card.png"}

# --- the one path ---------------------------------------------------------------------------------
def derived_key(sha256: str, name: str) -> str:
    return f"derived/{sha256}/{name}"


HEALTH_PREFIX = "health/"

def url_sha256(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()

def record_key(url: str) -> str:
    return f"{HEALTH_PREFIX}{url_sha256(url)}.json"
