"""Indexing one stored capture in the catalog: its capture row, its post's search row and its image
blobs. A fresh capture and `archiver reindex` both come here, so the live index equals a rebuilt one.
"""

from __future__ import annotations

from typing import Any

from archiver.capture.media import MediaRejected, inspect_image
from archiver.runtime import Runtime
from archiver.storage.base import ObjectNotFound
from archiver.storage.layout import blob_key


def _image_blob(rt: Runtime, sha256: str, key: str | None, mime: str | None) -> bool:
    """Record an image original (size, dimensions, perceptual hash) unless the catalog has it."""

    if rt.catalog.blob(sha256) is not None:
        return False
    key = key or blob_key(sha256)
    try:
        data = rt.store.get(key)
    except ObjectNotFound:
        return False
    try:
        info = inspect_image(data, rt.settings)
        width, height, phash, mime = info.width, info.height, info.phash, info.mime
    except MediaRejected:
        width = height = phash = None
    rt.catalog.record_blob(sha256=sha256, key=key, mime=mime, bytes=len(data), width=width, height=height,
                           phash=phash)
    return True

def index_capture(rt: Runtime, manifest_key: str, manifest: dict[str, Any]) -> int:
    """Index one stored capture: its row, its post's search row, its image blobs. Returns new blobs."""
    new_blobs = 0
    media = manifest.get("media") or []
    for m in media:
        if m.get("status") == "archived" and m.get("sha256") and (m.get("mime") or "").startswith("image/"):
            new_blobs += _image_blob(rt, m["sha256"], m.get("key"), m.get("mime"))
    author = manifest.get("author") or {}
    rt.catalog.record_capture(
        capture_id=manifest["capture_id"], provider=manifest["provider"], post_id=manifest["post_id"],
        url=manifest.get("url"), status=manifest["status"], manifest_key=manifest_key,
        captured_at=manifest["captured_at"], handle=author.get("handle"), author=author.get("name"),
        text=manifest.get("text"), posted_at=manifest.get("created_at"), lang=manifest.get("lang"), media=media)
    return new_blobs
