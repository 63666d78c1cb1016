"""Twitter's media as the syndication JSON lists them, planned for archiving: photos (and video
posters, and card images) at their original size with the smaller named sizes to fall back on, in
order; videos and GIFs as their mp4s, best first (the next tried when one fails); and the flags the
platform sets on each medium.

The shapes are those of ``../shared/formats/twitter-shapes.md``, "Media details": a photo's sizes are
asked for with ``?format=<ext>&name=<size>`` on ``pbs.twimg.com`` (``orig`` is the original, then
``4096x4096``, ``large``, ``medium``; ``orig`` answers 404 for some old media while the others work).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from archiver.capture.manifest import MissingPart
from archiver.lazyre import lazy

# The named sizes of a pbs.twimg.com image, largest first: what is tried, in this order.
PHOTO_SIZES: tuple[str, ...] = ("orig", "4096x4096", "large", "medium")
# Longest URL taken from a response (longer ones are not media URLs anyone serves).
MAX_URL = 4096

_EXTENSION = lazy(r"(.*/[^/.]+)\.(jpg|jpeg|png|webp|gif)(?::[a-z0-9]{1,12})?", re.IGNORECASE)
_LEGACY_SIZE = lazy(r"(.*):(?:orig|large|medium|small|thumb|\d{1,4}x\d{1,4})", re.IGNORECASE)
_ID = lazy(r"[0-9]{1,20}")


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
    """What to fetch for each medium the tweet lists, in order, as ``MediaRef`` keyword arguments
    (``plan_media``'s first half; what cannot be planned is in its second)."""
    return plan_media(tweet)[0]


def plan_media(tweet: dict[str, Any]) -> tuple[list[dict[str, Any]], list[MissingPart]]:
    """(what to fetch for each medium the tweet shows, in order, as ``MediaRef`` keyword arguments
    (``archiver.providers.base.MediaRef``); one ``MissingPart`` for each medium it shows that cannot
    be fetched). Every medium the answer shows is in one list or the other, by this rule:

    - The media are ``mediaDetails``' entries; when the answer has none, ``photos[]`` (each
      ``{"url", "width", "height"}``: a photo) and its ``video`` object, else the typed entries of
      ``extended_entities.media`` / ``entities.media`` (the v1.1 shape); and at least as many as
      those entity lists name (each one not accounted for above is missing, its ``expanded_url``
      as ref).
    - A photo: ``variants`` at each of ``PHOTO_SIZES`` (``url`` is the first, ``orig``) of its
      ``media_url_https``, else its ``media_url``; ``listed_url`` as listed. Neither an http(s) URL:
      missing.
    - A video or animated GIF: the ``video/mp4`` variant with an http(s) URL and the highest
      ``bitrate`` whatever the listing order (HLS playlists are never taken; a GIF's one
      ``bitrate: 0`` mp4 is; an mp4 stating no bitrate only when no other mp4 is listed), and in
      ``variants`` every such mp4, highest bitrate first (``mp4_ladder``; labelled "<bitrate>bps"),
      so a best variant that fails (404) falls back to the next,
      ``duration`` in seconds, ``bitrate`` in bits per second, and its poster (the listed
      ``media_url_https``) with ``poster_variants`` at each of ``PHOTO_SIZES`` (``poster_url`` the
      first). No such mp4 (only HLS, relative or non-http URLs): missing, saying which.
    - Any other type: missing (``part`` "media", the type named in the reason).
    - ``flags`` on each planned medium (``media_flags``).

    A missing part's ``part`` is the medium's type (photo, video, animated_gif) or "media"; its
    ``ref`` the medium's ``expanded_url``, else its t.co ``url``, else its ``display_url``
    (``pic.x.com/…``), else the listed media URL when it is an http(s) one; its ``reason`` a plain
    line. Entries that are not objects name no medium and are skipped. Nothing raises; at most
    ``MAX_MEDIA`` media are read.
    """
    plan: list[dict[str, Any]] = []
    missing: list[MissingPart] = []
    shown: list[dict[str, Any]] = []  # the longer of the two entity lists
    for key in ("extended_entities", "entities"):
        holder = tweet.get(key)
        found = holder.get("media") if isinstance(holder, dict) else None
        ents = [e for e in found[:MAX_MEDIA] if isinstance(e, dict)] if isinstance(found, list) else []
        if len(ents) > len(shown):
            shown = ents
    details = tweet.get("mediaDetails")
    entries = [md for md in details[:MAX_MEDIA] if isinstance(md, dict)] if isinstance(details, list) else []
    if entries:
        for md in entries:
            _plan_detail(md, tweet, plan, missing)
    else:
        photos = tweet.get("photos")
        for photo in photos[:MAX_MEDIA] if isinstance(photos, list) else []:
            if isinstance(photo, dict):
                _plan_detail({**photo, "type": "photo", "media_url_https": photo.get("url")}, tweet, plan, missing)
        video = tweet.get("video")
        if isinstance(video, dict):
            _plan_video_object(video, tweet, plan, missing)
        if not plan and not missing:  # the v1.1 shape: entities carry the media themselves
            for ent in shown:
                if ent.get("type") in _KNOWN:
                    _plan_detail(ent, tweet, plan, missing)
    for ent in shown[len(plan) + len(missing):]:
        kind = ent.get("type") if ent.get("type") in _KNOWN else "media"
        missing.append(_missing(str(kind), _ref(ent), "the post lists this medium but the answer gives no URL "
                                                      "to fetch it from"))
    return plan, missing


# Media types the capture archives.
_KNOWN = ("photo", "video", "animated_gif")
MAX_MEDIA = 100
MAX_VIDEO_VARIANTS = 8  # mp4 variants of one video tried, best first
_TYPE_WORD = lazy(r"[A-Za-z0-9_-]{1,40}")
_CONTROL = lazy(r"[\x00-\x1f\x7f-\x9f]")


def _missing(part: str, ref: str | None, reason: str) -> MissingPart:
    """A ``MissingPart`` with its ``ref`` one line, at most ``MAX_URL`` characters."""
    ref = " ".join(_CONTROL.sub(" ", ref).split())[:MAX_URL] if ref else None
    return MissingPart.model_construct(part=part, ref=ref or None, reason=reason)


def _ref(md: dict[str, Any]) -> str | None:
    """Which medium a missing part is: its ``expanded_url``, t.co ``url``, ``display_url`` or listed URL."""
    for key in ("expanded_url", "url"):
        if http_url(md.get(key)):
            return str(md[key])
    display = md.get("display_url")
    if isinstance(display, str) and display.strip() and len(display) <= MAX_URL:
        return display
    return http_url(md.get("media_url_https")) or http_url(md.get("media_url"))


def _plan_detail(md: dict[str, Any], tweet: dict[str, Any], plan: list[dict[str, Any]],
                 missing: list[MissingPart]) -> None:
    """One ``mediaDetails`` entry into ``plan`` or ``missing`` (``plan_media``'s rules)."""
    kind = md.get("type")
    listed = http_url(md.get("media_url_https")) or http_url(md.get("media_url"))
    alt = md.get("ext_alt_text") if isinstance(md.get("ext_alt_text"), str) else None
    if kind == "photo":
        if not listed:
            missing.append(_missing("photo", _ref(md), "the answer lists this photo without an http(s) URL"))
            return
        variants = photo_variants(listed)
        plan.append({"type": "photo", "url": variants[0][1], "listed_url": listed, "alt_text": alt,
                     "bitrate": None, "poster_url": None, "duration": None, "variants": variants,
                     "poster_variants": (), "flags": media_flags(md, tweet)})
    elif kind in ("video", "animated_gif"):
        info = md.get("video_info") if isinstance(md.get("video_info"), dict) else {}
        listing = info.get("variants") if isinstance(info.get("variants"), list) else []
        listing = [v for v in listing[:MAX_MEDIA] if isinstance(v, dict)]
        mp4s = [v for v in listing if v.get("content_type") == "video/mp4" and http_url(v.get("url"))]
        if not mp4s:
            hls = any(v.get("content_type") == "application/x-mpegURL" for v in listing)
            other_mp4 = any(v.get("content_type") == "video/mp4" for v in listing)
            why = ("its mp4 variants have no http(s) URL" if other_mp4 else
                   "only an HLS playlist is listed (never archived)" if hls else "no mp4 variant is listed")
            missing.append(_missing(str(kind), _ref(md), f"the answer lists this {_WORDS[str(kind)]} but {why}"))
            return
        ranked = mp4_ladder(mp4s)
        best = ranked[0]
        ms = info.get("duration_millis")
        poster_variants = photo_variants(listed) if listed else ()
        plan.append({"type": kind, "url": best["url"], "listed_url": best["url"], "alt_text": alt,
                     "bitrate": _bitrate(best), "poster_url": poster_variants[0][1] if poster_variants else None,
                     "duration": ms / 1000 if isinstance(ms, int | float) and not isinstance(ms, bool)
                     and 0 <= ms < 1e12 else None,
                     "variants": tuple((_mp4_label(v, i), str(v["url"])) for i, v in enumerate(ranked)),
                     "poster_variants": poster_variants, "flags": media_flags(md, tweet)})
    else:
        named = kind if isinstance(kind, str) and _TYPE_WORD.fullmatch(kind) else "unstated"
        missing.append(_missing("media", _ref(md), f"the answer lists a medium of type {named}, which the "
                                                   "capture does not archive"))


_WORDS = {"video": "video", "animated_gif": "animated GIF"}


def mp4_ladder(mp4s: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The mp4 variants to try, in order: each URL once, by stated ``bitrate``, highest first (listing
    order among equal ones); those stating none after every one that states one (at most
    ``MAX_VIDEO_VARIANTS``). When the best answers 404 or is refused as damaged, the next is tried."""
    unique = list({str(v["url"]): v for v in reversed(mp4s)}.values())[::-1]  # the first of each URL
    ranked = sorted(unique, key=lambda v: -1 if _bitrate(v) is None else -(_bitrate(v) or 0) - 2)
    return ranked[:MAX_VIDEO_VARIANTS]


def _mp4_label(variant: dict[str, Any], index: int) -> str:
    """A video variant's label in the manifest's ``variant``: its bitrate ("2176000bps"), else "mp4-<n>"."""
    bitrate = _bitrate(variant)
    return f"{bitrate}bps" if bitrate is not None else f"mp4-{index + 1}"
_SIZE_IN_PATH = lazy(r"/(\d{1,5})x(\d{1,5})/")


def _plan_video_object(video: dict[str, Any], tweet: dict[str, Any], plan: list[dict[str, Any]],
                       missing: list[MissingPart]) -> None:
    """The syndication answer's ``video`` object (``variants`` of ``{"type", "src"}``, ``poster``,
    ``durationMs``) when it has no ``mediaDetails``: its largest mp4 (by the WxH in its path, else the
    last listed) into ``plan``, with every mp4 in ``variants``, largest first (labelled by their WxH),
    or the video into ``missing``."""
    listing = video.get("variants") if isinstance(video.get("variants"), list) else []
    mp4s = [v for v in listing[:MAX_MEDIA] if isinstance(v, dict) and v.get("type") == "video/mp4"
            and http_url(v.get("src"))]
    poster = http_url(video.get("poster"))
    if not mp4s:
        missing.append(_missing("video", poster, "the answer lists a video without an mp4 to fetch"))
        return

    def area(v: dict[str, Any]) -> int:
        m = _SIZE_IN_PATH.search(str(v["src"]))
        return int(m.group(1)) * int(m.group(2)) if m else 0

    # Largest first; among equal sizes the last listed first (the listing ends with the best).
    ranked = [v for _, v in sorted(enumerate(mp4s), key=lambda iv: (area(iv[1]), iv[0]), reverse=True)]
    ranked = list({str(v["src"]): v for v in reversed(ranked)}.values())[::-1][:MAX_VIDEO_VARIANTS]
    best = ranked[0]
    ms = video.get("durationMs")
    poster_variants = photo_variants(poster) if poster else ()
    sizes = [_SIZE_IN_PATH.search(str(v["src"])) for v in ranked]
    labels = [f"{m.group(1)}x{m.group(2)}" if m else f"mp4-{i + 1}" for i, m in enumerate(sizes)]
    plan.append({"type": "video", "url": best["src"], "listed_url": best["src"], "alt_text": None, "bitrate": None,
                 "poster_url": poster_variants[0][1] if poster_variants else None,
                 "duration": ms / 1000 if isinstance(ms, int | float) and not isinstance(ms, bool)
                 and 0 <= ms < 1e12 else None,
                 "variants": tuple(zip(labels, (str(v["src"]) for v in ranked), strict=True)),
                 "poster_variants": poster_variants, "flags": media_flags({}, tweet)})
