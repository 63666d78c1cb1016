"""The ASGI app behind `archiver serve`: stable URLs of archived copies, and health.

Public paths serve only archived copies (blobs, derivatives, post snapshots) with their real
content type, `nosniff`, long cache headers and a strict CSP, so a hostile file cannot run as a page.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse, Response

from archiver import __version__
from archiver.config import Settings
from archiver.store import ObjectNotFound, open_store

PUBLIC_PREFIXES = ("blobs/", "derived/", "posts/")
CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
_TYPES = {
    ".json": "application/json",
    ".warc.gz": "application/warc",
    ".html": "text/html; charset=utf-8",
    ".png": "image/png",
    ".webp": "image/webp",
}


def content_type_for(key: str, data: bytes) -> str:
    """By the key's kind, else by the bytes themselves (never by what the origin claimed)."""
    for suffix, ctype in _TYPES.items():
        if key.endswith(suffix):
            return ctype
    from archiver.media import sniff

    return sniff(data) or "application/octet-stream"


def create_app(settings: Settings) -> FastAPI:
    store = open_store(settings)
    app = FastAPI(title="archiver", version=__version__)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get("/media/{key:path}")
    def media(key: str) -> Response:
        if not key.startswith(PUBLIC_PREFIXES):
            raise HTTPException(status_code=404, detail="not found")
        try:
            data = store.get(key)
        except (ObjectNotFound, ValueError):
            raise HTTPException(status_code=404, detail="not found") from None
        headers = {
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "public, max-age=31536000, immutable",
            "Content-Security-Policy": CSP,
        }
        return Response(content=data, media_type=content_type_for(key, data), headers=headers)

    @app.exception_handler(Exception)
    def internal(_request: Any, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": "internal error"}, status_code=500)

    return app
