"""Article versions: committing a new version (body, patch, then the metadata that commits it),
listing them from storage, and carrying a source span through the chain of patches to a version.

Finalize, restore and revert all write through `write_version`, serialized per article.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from archiver import __version__
from archiver.article.splice import Patch
from archiver.dates import iso, utcnow
from archiver.errors import ArchiverError
from archiver.runtime import Runtime
from archiver.storage.base import ObjectNotFound, _dumps
from archiver.storage.layout import patch_key, sha256_hex, version_key, version_meta_key


# --- finalize ---------------------------------------------------------------------------------------
@dataclass
class Version:
    article_id: str
    number: int
    key: str
    sha256: str
    created_at: str
    reason: str
    source_sha256: str
    new: bool

    def to_json(self) -> dict[str, Any]:
        return {"version": self.number, "key": self.key, "sha256": self.sha256, "created_at": self.created_at,
                "reason": self.reason, "source_sha256": self.source_sha256}

class RestoreError(ArchiverError):
    """The article cannot be restored or reverted as asked (its version history does not allow it)."""


class VersionConflict(ArchiverError):
    """Another version was written between reading the current one and writing its successor."""

def versions(rt: Runtime, article_id: str) -> list[dict[str, Any]]:
    """Committed versions from storage (the truth), oldest first."""
    out = []
    for key in rt.store.list(f"articles/{article_id}/v"):
        m = re.fullmatch(rf"articles/{re.escape(article_id)}/v(\d+)\.json", key)
        if m:
            out.append(json.loads(rt.store.get(key)))
    return sorted(out, key=lambda v: v["version"])

def encodable(text: str, encoding: str) -> str:
    """`text` as it reads back after encoding (characters the encoding lacks become references)."""
    return text.encode(encoding, errors="xmlcharrefreplace").decode(encoding)

def write_version(rt: Runtime, article_id: str, body: bytes, *, reason: str, source_sha256: str, encoding: str,
                  patch_doc: dict[str, Any], unless_current: bool = True,
                  expected_current: int | None = None) -> Version:
    """Commit `body` as the article's next version (finalize, restore and revert all come here).

    With `unless_current`, bytes equal to the current version's write nothing and return it.
    Body and patch are written first; the metadata file commits the version, so a crash before it
    leaves an uncommitted body that the next writer overwrites. Serialized per article; with
    `expected_current` (an edit made on top of that version) a newer version raises VersionConflict.
    """
    digest = sha256_hex(body)
    aid = article_id
    with rt.coordinator.lock(f"article:{aid}", timeout=120):
        history = versions(rt, aid)
        current = history[-1]["version"] if history else 0
        if expected_current is not None and current != expected_current:
            raise VersionConflict(f"article {aid!r} moved to version {current} while an edit of version "
                                  f"{expected_current} was prepared; run it again")
        if unless_current and history and history[-1]["sha256"] == digest:
            v = history[-1]
            version = Version(aid, v["version"], v["key"], digest, v["created_at"], v["reason"],
                              v["source_sha256"], new=False)
        else:
            n = (history[-1]["version"] + 1) if history else 1
            created = iso(utcnow())
            rt.store.put(version_key(aid, n), body, content_type="text/html; charset=" + encoding)
            rt.store.put(patch_key(aid, n), _dumps(patch_doc), content_type="application/json")
            meta = {"article_id": aid, "version": n, "key": version_key(aid, n), "sha256": digest,
                    "created_at": created, "reason": reason, "source_sha256": source_sha256,
                    "encoding": encoding, "patch_key": patch_key(aid, n), "archiver_version": __version__}
            rt.store.put(version_meta_key(aid, n), _dumps(meta), content_type="application/json")
            version = Version(aid, n, version_key(aid, n), digest, created, reason, source_sha256, new=True)
        rt.catalog.record_version(article_id=aid, version=version.number, key=version.key, sha256=digest,
                                  source_sha256=source_sha256, reason=version.reason, created_at=version.created_at)
    return version

# --- carrying source spans to the current version ------------------------------------------------
def patch_chain(rt: Runtime, history: list[dict[str, Any]], number: int, source_sha256: str) -> list[Patch]:
    """The patches leading from the source to version `number`, oldest first."""
    return [patch for patch, _ in chain_docs(rt, history, number, source_sha256)]

def chain_docs(rt: Runtime, history: list[dict[str, Any]], number: int,
               source_sha256: str) -> list[tuple[Patch, dict[str, Any]]]:
    """Each patch from the source to version `number` with its stored document, oldest first."""
    metas = {v["version"]: v for v in history}
    chain: list[tuple[Patch, dict[str, Any]]] = []
    while True:
        meta = metas.get(number)
        if meta is None or len(chain) > len(metas):
            raise RestoreError(f"version {number} is missing from the article's history")
        try:
            doc = json.loads(rt.store.get(meta["patch_key"]))
            chain.append((Patch.from_json(doc), doc))
        except (ObjectNotFound, KeyError, ValueError) as exc:
            raise RestoreError(f"version {number} has no usable patch: {exc}") from None
        base = doc.get("base") or {}
        if base.get("kind") == "version" and int(base.get("version", number)) < number:
            number = int(base["version"])
            continue
        if base.get("kind") == "source" and base.get("sha256") == source_sha256:
            return chain[::-1]
        raise RestoreError(f"version {meta['version']} does not derive from source {source_sha256[:12]}")

def map_span(chain: list[Patch], start: int, end: int) -> tuple[int, int] | None:
    """Where [start, end) of the source sits after the chain, or None if an edit cut across it."""
    for patch in chain:
        before = inside = 0
        for op in patch.ops:
            a, b, delta = op["start"], op["end"], len(op["new"]) - (op["end"] - op["start"])
            if start <= a and b <= end and not (a == b and a in (start, end)):
                inside += delta
            elif b <= start:
                before += delta
            elif a >= end:
                continue
            else:
                return None
        start, end = start + before, end + before + inside
    return start, end
