"""Twitter's media as the syndication JSON lists them, planned for archiving: photos at their
original size (with the smaller named sizes to fall back on), videos and GIFs as their best mp4.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit


def photo_original_url(url: str) -> str:
    """``…/media/ABC.jpg`` → ``…/media/ABC?format=jpg&name=orig`` (the original size)."""
    parts = urlsplit(url)
    m = re.fullmatch(r"(.*/[^/.]+)\.(jpg|jpeg|png|webp|gif)", parts.path, re.IGNORECASE)
    if m:
        return urlunsplit((parts.scheme, parts.netloc, m.group(1),
                           urlencode({"format": m.group(2).lower(), "name": "orig"}), ""))
    if "name=" in parts.query:
        query = re.sub(r"name=[^&]*", "name=orig", parts.query)
    else:
        query = f"{parts.query}&name=orig" if parts.query else "name=orig"
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def media_plan(tweet: dict[str, Any]) -> list[dict[str, Any]]:
    """What to fetch for each attached medium: photos at original size, the best-bitrate mp4."""
    plan: list[dict[str, Any]] = []
    for md in tweet.get("mediaDetails") or []:
        if not isinstance(md, dict):
            continue
        kind = md.get("type")
        listed = md.get("media_url_https") if isinstance(md.get("media_url_https"), str) else None
        alt = md.get("ext_alt_text") if isinstance(md.get("ext_alt_text"), str) else None
        if kind == "photo" and listed:
            plan.append({"type": "photo", "url": photo_original_url(listed), "listed_url": listed,
                         "alt_text": alt, "bitrate": None, "poster_url": None, "duration": None})
        elif kind in ("video", "animated_gif"):
            info = md.get("video_info") if isinstance(md.get("video_info"), dict) else {}
            mp4s = [v for v in info.get("variants") or [] if isinstance(v, dict)
                    and v.get("content_type") == "video/mp4" and isinstance(v.get("url"), str)]
            if not mp4s:
                continue
            best = max(mp4s, key=lambda v: v.get("bitrate") if isinstance(v.get("bitrate"), int) else 0)
            ms = info.get("duration_millis")
            plan.append({"type": kind, "url": best["url"], "listed_url": best["url"], "alt_text": alt,
                         "bitrate": best.get("bitrate") if isinstance(best.get("bitrate"), int) else None,
                         "poster_url": listed,
                         "duration": ms / 1000 if isinstance(ms, int | float) and ms >= 0 else None})
    return plan
