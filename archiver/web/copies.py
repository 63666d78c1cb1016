"""Archived copies served as they are (blobs, derivatives, post snapshots): by the public /media/ route
of archiver/web/app.py and the signed-in /evidence/ page route.

Only keys under the public prefixes are served, with their type decided by the key or the bytes
(never by what the origin claimed), and under a strict CSP so a hostile file cannot run as a page.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException

from archiver.capture.media import sniff
from archiver.runtime import Runtime
from archiver.storage.base import ObjectNotFound
from archiver.storage.layout import PUBLIC_PREFIXES

CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


def public_origin(url: Any) -> str | None:
    """`scheme://host[:port]` of an http(s) URL without anything a CSP source would misread; else None."""
    if not isinstance(url, str):
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not re.fullmatch(r"[A-Za-z0-9.\[\]:-]{1,260}", parts.netloc or ""):
        return None
    return f"{parts.scheme}://{parts.netloc}"


def copy_csp(public_base_url: str) -> str:
    """The CSP a served copy gets (CSP, for a static card in its frame too): images from this server
    and from the origin of the archive's public base URL, where a card's photos are linked (a CDN or
    another host in front of storage), nothing that runs."""
    origin = public_origin(public_base_url)
    return CSP.replace("img-src 'self';", f"img-src 'self' {origin};") if origin else CSP
_TYPES = {
    ".json": "application/json",
    ".warc.gz": "application/warc",
    ".html": "text/html; charset=utf-8",
    ".png": "image/png",
    ".webp": "image/webp",
}


def load_copy(rt: Runtime, key: str) -> bytes:
    """The bytes of an archived copy (blob, derivative, post snapshot); 404 for anything else."""
    if not key.startswith(PUBLIC_PREFIXES):
        raise HTTPException(status_code=404, detail="not found")
    try:
        return rt.store.get(key)
    except (ObjectNotFound, ValueError):
        raise HTTPException(status_code=404, detail="not found") from None


def content_type_for(key: str, data: bytes) -> str:
    """By the key's kind, else by the bytes themselves (never by what the origin claimed)."""
    for suffix, ctype in _TYPES.items():
        if key.endswith(suffix):
            return ctype
    return sniff(data) or "application/octet-stream"
