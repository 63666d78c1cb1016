"""Twitter's media as the syndication JSON lists them, planned for archiving: photos (and video
posters, and card images) at their original size with the smaller named sizes to fall back on, in
order; videos and GIFs as their best mp4; and the flags the platform sets on each medium.

The shapes are those of ``../shared/formats/twitter-shapes.md``, "Media details": a photo's sizes are
asked for with ``?format=<ext>&name=<size>`` on ``pbs.twimg.com`` (``orig`` is the original, then
``4096x4096``, ``large``, ``medium``; ``orig`` answers 404 for some old media while the others work).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# The named sizes of a pbs.twimg.com image, largest first: what is tried, in this order.
PHOTO_SIZES: tuple[str, ...] = ("orig", "4096x4096", "large", "medium")
# Longest URL taken from a response (longer ones are not media URLs anyone serves).
MAX_URL = 4096

_EXTENSION = re.compile(r"(.*/[^/.]+)\.(jpg|jpeg|png|webp|gif)(?::[a-z0-9]{1,12})?", re.IGNORECASE)
_LEGACY_SIZE = re.compile(r"(.*):(?:orig|large|medium|small|thumb|\d{1,4}x\d{1,4})", re.IGNORECASE)
_ID = re.compile(r"[0-9]{1,20}")


def http_url(value: Any) -> str | None:
    """``value`` when it is an http(s) URL of at most ``MAX_URL`` characters with a host, else None."""
    if not isinstance(value, str) or not value or len(value) > MAX_URL:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or any(c in value for c in "\r\n\t "):
        return None
    return value


def photo_sized_url(url: str, size: str) -> str:
    """A pbs.twimg.com image URL at the named ``size`` (``orig``, ``4096x4096``, ``large``, ...):
    ``…/media/ABC.jpg`` → ``…/media/ABC?format=jpg&name=<size>``; ``…/ABC?format=png&name=small`` →
    ``…/ABC?format=png&name=<size>`` (other query parameters kept); the legacy ``ABC.jpg:large`` form
    too. A URL without a size gets ``name=<size>`` added."""
    parts = urlsplit(url)
    path = parts.path
    m = _EXTENSION.fullmatch(path)
    if m:
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ("format", "name")]
        query = [("format", m.group(2).lower()), ("name", size), *query]
        return urlunsplit((parts.scheme, parts.netloc, m.group(1), urlencode(query), ""))
    legacy = _LEGACY_SIZE.fullmatch(path)
    if legacy:
        path = legacy.group(1)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if any(k == "name" for k, _ in pairs):
        query = urlencode([(k, size if k == "name" else v) for k, v in pairs])
    else:
        query = urlencode([*pairs, ("name", size)])
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def photo_original_url(url: str) -> str:
    """``…/media/ABC.jpg`` → ``…/media/ABC?format=jpg&name=orig`` (the original size)."""
    return photo_sized_url(url, "orig")


def photo_variants(url: str) -> tuple[tuple[str, str], ...]:
    """(size label, URL) for each of ``PHOTO_SIZES``, largest first: what to try, in order."""
    return tuple((size, photo_sized_url(url, size)) for size in PHOTO_SIZES)


def media_flags(md: dict[str, Any], tweet: dict[str, Any]) -> dict[str, Any]:
    """The manifest Media fields the platform's flags give, as JSON (only those it states):
    ``availability`` ({status, reason} from ``ext_media_availability``), ``sensitive_warning``
    ({adult_content, graphic_violence, other} booleans from ``sensitive_media_warning``),
    ``possibly_sensitive`` (the tweet's), ``source_status_id`` / ``source_user_id`` (reused media:
    ``source_status_id_str`` / ``source_user_id_str``, digits only). Values of the wrong type are left out."""
    flags: dict[str, Any] = {}
    avail = md.get("ext_media_availability")
    if isinstance(avail, dict):
        status, reason = _short(avail.get("status")), _short(avail.get("reason"))
        if status is not None or reason is not None:
            flags["availability"] = {"status": status, "reason": reason}
    warning = md.get("sensitive_media_warning")
    if isinstance(warning, dict):
        stated = {k: warning[k] for k in ("adult_content", "graphic_violence", "other")
                  if isinstance(warning.get(k), bool)}
        if stated:
            flags["sensitive_warning"] = stated
    if isinstance(tweet.get("possibly_sensitive"), bool):
        flags["possibly_sensitive"] = tweet["possibly_sensitive"]
    for key, field in (("source_status_id_str", "source_status_id"), ("source_user_id_str", "source_user_id")):
        value = md.get(key)
        if isinstance(value, str) and _ID.fullmatch(value):
            flags[field] = value
    return flags


def _short(value: Any, limit: int = 200) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _bitrate(variant: dict[str, Any]) -> int | None:
    b = variant.get("bitrate")
    return b if isinstance(b, int) and not isinstance(b, bool) and b >= 0 else None


def media_plan(tweet: dict[str, Any]) -> list[dict[str, Any]]:
    """What to fetch for each medium of ``tweet["mediaDetails"]``, in order, as ``MediaRef`` keyword
    arguments (``archiver.providers.base.MediaRef``):

    - a photo: ``variants`` at each of ``PHOTO_SIZES`` (``url`` is the first, ``orig``), ``listed_url``
      as listed;
    - a video or animated GIF: the ``video/mp4`` variant with the highest ``bitrate`` whatever the
      listing order (HLS playlists are never taken; a GIF's one ``bitrate: 0`` mp4 is; an mp4 stating
      no bitrate only when no other mp4 is listed), ``duration`` in seconds, ``bitrate`` in bits per
      second, and its poster (the listed ``media_url_https``) with ``poster_variants`` at each of
      ``PHOTO_SIZES`` (``poster_url`` the first);
    - ``flags`` on each (``media_flags``).

    Entries that are not objects, and media with no usable URL, are skipped; nothing raises.
    """
    plan: list[dict[str, Any]] = []
    details = tweet.get("mediaDetails")
    for md in details if isinstance(details, list) else []:
        if not isinstance(md, dict):
            continue
        kind = md.get("type")
        listed = http_url(md.get("media_url_https"))
        alt = md.get("ext_alt_text") if isinstance(md.get("ext_alt_text"), str) else None
        if kind == "photo" and listed:
            variants = photo_variants(listed)
            plan.append({"type": "photo", "url": variants[0][1], "listed_url": listed, "alt_text": alt,
                         "bitrate": None, "poster_url": None, "duration": None, "variants": variants,
                         "poster_variants": (), "flags": media_flags(md, tweet)})
        elif kind in ("video", "animated_gif"):
            info = md.get("video_info") if isinstance(md.get("video_info"), dict) else {}
            listing = info.get("variants") if isinstance(info.get("variants"), list) else []
            mp4s = [v for v in listing if isinstance(v, dict) and v.get("content_type") == "video/mp4"
                    and http_url(v.get("url"))]
            if not mp4s:
                continue
            # The highest stated bitrate; an mp4 stating none only when no other is listed.
            best = max(mp4s, key=lambda v: -1 if _bitrate(v) is None else _bitrate(v))
            ms = info.get("duration_millis")
            poster_variants = photo_variants(listed) if listed else ()
            plan.append({"type": kind, "url": best["url"], "listed_url": best["url"], "alt_text": alt,
                         "bitrate": _bitrate(best), "poster_url": poster_variants[0][1] if poster_variants else None,
                         "duration": ms / 1000 if isinstance(ms, int | float) and not isinstance(ms, bool)
                         and 0 <= ms < 1e12 else None,
                         "variants": (), "poster_variants": poster_variants, "flags": media_flags(md, tweet)})
    return plan
