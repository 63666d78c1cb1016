"""Twitter/X capture from three sources, each recorded with its own provenance.

1. The publisher's embed markup in the article (always there).
2. oEmbed (``twitter_oembed_url``): text, author, status URL; 404 deleted, 403 protected.
3. Syndication (``twitter_syndication_url``, with the token the embed widget computes): created_at,
   user, full text with t.co links expanded, media at original size, quoted tweet and reply
   parent (each snapshotted in its own right), edit control; ``TweetTombstone`` is tombstoned,
   ``{}`` or 404 deleted.

Flattened embeds without an id are resolved through their pic.twitter.com / t.co codes
(``twitter_shortlink_url``); when nothing resolves an unresolved snapshot keeps what the article
showed. Every exchange goes into the capture's WARC.
"""

from __future__ import annotations

import hashlib
import html
import math
import re
import struct
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from archiver.capture.manifest import base_manifest, new_capture_id, source_entry, utc_iso
from archiver.capture.media import archive_media
from archiver.capture.record import write_snapshot
from archiver.errors import ArchiverError
from archiver.providers import markup
from archiver.providers.base import CaptureContext, CaptureResult
from archiver.providers.sources import Fetched
from archiver.providers.sources import get as _get
from archiver.providers.sources import json_object as _json_object

if TYPE_CHECKING:
    from archiver.capture.fetch import Exchange
    from archiver.discover.model import Embed

PROVIDER = "twitter"
TWITTER_EPOCH_MS = 1288834974657
# Ids below this are the sequential ids of posts before November 2010: no timestamp inside.
FIRST_SNOWFLAKE = 300_000_000_000
STATUS_URL = re.compile(
    r"(?ai)https?://(?:(?:www|mobile|m)\.)?(?:(?:fx|vx)?twitter|fixupx|fixvx|x)\.com/(?:#!/)?"
    r"(?:(\w{1,15})/status(?:es)?|i/web/status|i/topics/tweet)/(\d{1,20})")
_SHORT_CODE = re.compile(r"(?i)(?:pic\.(?:twitter|x)\.com|\bt\.co)/([A-Za-z0-9]{1,30})")
_HANDLE = re.compile(r"[A-Za-z0-9_]{1,15}")
_DIGITS = re.compile(r"[0-9]{1,20}")
_RADIX_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"

ArchiveMedia = Callable[..., Any]


# --- ids, tokens, times ------------------------------------------------------------------------
def _exponent(value: float) -> int:
    """V8's Double::Exponent(): the unbiased exponent of the 53-bit significand."""
    bits = struct.unpack(">Q", struct.pack(">d", value))[0]
    biased = (bits >> 52) & 0x7FF
    return (1 if biased == 0 else biased) - 1075


def double_to_radix(value: float, radix: int = 36) -> str:
    """``Number.prototype.toString(radix)`` for a finite double, ported from V8's
    DoubleToRadixCString: shortest digits that round-trip, rounded half to even."""
    if not math.isfinite(value) or not 2 <= radix <= 36:
        raise ValueError(f"cannot format {value!r} in radix {radix}")
    negative = value < 0
    value = -value if negative else value
    integer = math.floor(value)
    fraction = value - integer
    delta = max(0.5 * (math.nextafter(value, math.inf) - value), math.nextafter(0.0, 1.0))
    frac_digits: list[int] = []
    if fraction >= delta:
        while True:
            fraction *= radix
            delta *= radix
            digit = int(fraction)
            frac_digits.append(digit)
            fraction -= digit
            if (fraction > 0.5 or (fraction == 0.5 and digit & 1)) and fraction + delta > 1:
                # Round up, carrying into earlier digits (and into the integer part).
                while True:
                    if not frac_digits:
                        integer += 1
                        break
                    last = frac_digits.pop()
                    if last + 1 < radix:
                        frac_digits.append(last + 1)
                        break
                break
            if fraction < delta:
                break
    int_digits: list[str] = []
    integer_f = float(integer)
    while _exponent(integer_f / radix) > 0:
        integer_f /= radix
        int_digits.append("0")
    while True:
        remainder = math.fmod(integer_f, radix)
        int_digits.append(_RADIX_DIGITS[int(remainder)])
        integer_f = (integer_f - remainder) / radix
        if integer_f <= 0:
            break
    out = "".join(reversed(int_digits))
    if frac_digits:
        out += "." + "".join(_RADIX_DIGITS[d] for d in frac_digits)
    return "-" + out if negative else out


def syndication_token(tweet_id: str) -> str:
    """The embed widget's token: ``((Number(id)/1e15)*Math.PI).toString(36)`` without 0s and dot."""
    if not isinstance(tweet_id, str) or not _DIGITS.fullmatch(tweet_id):
        raise ValueError(f"not a tweet id: {tweet_id!r}")
    return re.sub(r"0+|\.", "", double_to_radix((float(tweet_id) / 1e15) * math.pi, 36))


def snowflake_time(tweet_id: str) -> datetime | None:
    """Creation time encoded in a snowflake id; None for the sequential ids before Nov 2010."""
    if not isinstance(tweet_id, str) or not _DIGITS.fullmatch(tweet_id):
        return None
    n = int(tweet_id)
    if n < FIRST_SNOWFLAKE or n >= 1 << 63:
        return None
    return datetime.fromtimestamp(((n >> 22) + TWITTER_EPOCH_MS) / 1000, UTC)


def parse_status_url(url: str) -> tuple[str | None, str] | None:
    """(handle or None, id) of a status URL in any of its spellings; None if it is not one."""
    m = STATUS_URL.search(url or "")
    if not m:
        return None
    handle = m.group(1)
    return (None if handle is None or handle.lower() == "i" else handle), m.group(2)


def canonical_url(post_id: str, handle: str | None) -> str:
    if handle and _HANDLE.fullmatch(handle):
        return f"https://twitter.com/{handle}/status/{post_id}"
    return f"https://twitter.com/i/web/status/{post_id}"


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:  # the v1.1 form: "Wed Feb 14 15:42:11 +0000 2024"
            dt = datetime.strptime(value, "%a %b %d %H:%M:%S %z %Y")
        except ValueError:
            return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


# --- sources ---------------------------------------------------------------------------------
def fetch_oembed(ctx: CaptureContext, post_id: str, handle: str | None) -> Fetched:
    query = urlencode({"url": canonical_url(post_id, handle), "omit_script": "true", "dnt": "true"})
    resp, fetched = _get(ctx, "oembed", f"{ctx.settings.twitter_oembed_url}?{query}")
    if resp is None or fetched.outcome != "ok":
        return fetched
    body = _json_object(resp, fetched)
    if body is None:
        return fetched
    _, hrefs, lang, direction = markup.parse_fragment(str(body.get("html") or ""))
    p_text = _oembed_text(str(body.get("html") or ""))
    author_url = str(body.get("author_url") or "")
    handle_m = re.search(r"(?:twitter|x)\.com/([A-Za-z0-9_]{1,15})/?$", author_url)
    fetched.data = {
        "url": body.get("url") if isinstance(body.get("url"), str) else None,
        "author": body.get("author_name") if isinstance(body.get("author_name"), str) else None,
        "handle": handle_m.group(1) if handle_m else None,
        "text": p_text or None,
        "lang": lang,
        "dir": direction,
        "links": [h for h in hrefs if not STATUS_URL.search(h)],
    }
    if not p_text:
        fetched.outcome, fetched.error = "bad_response", "oembed: no post text in the html"
    return fetched


def _oembed_text(fragment: str) -> str:
    """The text of the first <p> of the oEmbed blockquote."""
    m = re.search(r"(?is)<p\b[^>]*>(.*?)</p>", fragment)
    if not m:
        return ""
    text, _, _, _ = markup.parse_fragment(m.group(1))
    return text.strip()


def fetch_syndication(ctx: CaptureContext, post_id: str) -> Fetched:
    query = urlencode({"id": post_id, "lang": "en", "token": syndication_token(post_id)})
    resp, fetched = _get(ctx, "syndication", f"{ctx.settings.twitter_syndication_url}?{query}")
    if resp is None or fetched.outcome != "ok":
        return fetched
    body = _json_object(resp, fetched)
    if body is None:
        return fetched
    kind = body.get("__typename")
    if not body:
        fetched.outcome = "empty"
    elif kind == "TweetTombstone":
        fetched.outcome, fetched.data = "tombstone", body
    elif kind == "TweetUnavailable":
        reason = str(body.get("reason") or "")
        fetched.outcome = {"Protected": "forbidden", "NsfwLoggedOut": "tombstone"}.get(reason, "not_found")
        fetched.data, fetched.error = body, f"syndication: TweetUnavailable ({reason or 'no reason'})"
    elif isinstance(body.get("id_str"), str) or kind == "Tweet":
        fetched.data = body
    else:
        fetched.outcome, fetched.error = "bad_response", "syndication: not a tweet object"
    return fetched


def resolve_shortlinks(ctx: CaptureContext, embed: Embed) -> tuple[tuple[str | None, str] | None,
                                                                  list[Fetched]]:
    """Follow the pic.twitter.com / t.co codes a flattened embed shows to its status URL."""
    seen: list[str] = []
    for text in [*embed.media_links, embed.text or "", markup.span_of(ctx, embed)]:
        for m in _SHORT_CODE.finditer(text):
            if m.group(1) not in seen:
                seen.append(m.group(1))
    attempts: list[Fetched] = []
    for code in seen[:5]:
        url = ctx.settings.twitter_shortlink_url.replace("{code}", quote(code, safe=""))
        resp, fetched = _get(ctx, "shortlink", url, kind="html", follow_redirects=False)
        attempts.append(fetched)
        if resp is None:
            continue
        location = resp.headers.get("location") or ""
        found = parse_status_url(location) or parse_status_url(resp.body[:20000].decode("utf-8", "replace"))
        fetched.data = {"code": code, "location": location or None}
        if found:
            fetched.outcome = "ok"
            fetched.data["status_url"] = canonical_url(found[1], found[0])
            return found, attempts
        if fetched.outcome == "ok":
            fetched.outcome = "no_status"
    return None, attempts


# --- syndication JSON → manifest fields --------------------------------------------------------
def expand_text(tweet: dict[str, Any]) -> tuple[str | None, str | None]:
    """(text as posted, text with t.co links replaced by their expanded URLs), HTML-unescaped."""
    raw = tweet.get("text") if isinstance(tweet.get("text"), str) else tweet.get("full_text")
    if not isinstance(raw, str):
        return None, None
    expanded = raw
    entities = tweet.get("entities") if isinstance(tweet.get("entities"), dict) else {}
    for group in ("urls", "media"):
        for ent in entities.get(group) or []:
            if isinstance(ent, dict) and isinstance(ent.get("url"), str) and isinstance(
                    ent.get("expanded_url"), str) and ent["url"]:
                expanded = expanded.replace(ent["url"], ent["expanded_url"])
    return html.unescape(raw), html.unescape(expanded)


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


def _edit(tweet: dict[str, Any], post_id: str) -> dict[str, Any] | None:
    ec = tweet.get("edit_control")
    if not isinstance(ec, dict):
        return None
    ids = [i for i in ec.get("edit_tweet_ids") or [] if isinstance(i, str) and _DIGITS.fullmatch(i)]
    until = ec.get("editable_until_msecs")
    remaining = ec.get("edits_remaining")
    until_dt = None
    if isinstance(until, str | int) and str(until).isdigit():
        until_dt = datetime.fromtimestamp(int(until) / 1000, UTC)
    return {
        "edit_ids": ids,
        "is_edited": len(ids) > 1 or tweet.get("isEdited") is True,
        "is_latest": not ids or ids[-1] == post_id,
        "latest_id": ids[-1] if ids else None,
        "editable_until": utc_iso(until_dt) if until_dt else None,
        "edits_remaining": int(remaining) if isinstance(remaining, str | int) and str(remaining).isdigit()
        else None,
    }


def _related_id(tweet: dict[str, Any], obj_key: str, id_key: str | None) -> str | None:
    obj = tweet.get(obj_key)
    if isinstance(obj, dict) and isinstance(obj.get("id_str"), str) and _DIGITS.fullmatch(obj["id_str"]):
        return obj["id_str"]
    value = tweet.get(id_key) if id_key else None
    return value if isinstance(value, str) and _DIGITS.fullmatch(value) else None


def decide(oembed: Fetched, synd: Fetched, has_content: bool) -> tuple[str, str | None]:
    """The capture's status from what the sources said, with the reason when it is not archived."""
    if synd.outcome == "ok":
        return ("archived", None) if has_content else ("failed", "syndication returned a post with no text")
    if synd.outcome == "tombstone":
        return "tombstoned", "the post is withheld behind a tombstone"
    if synd.outcome == "forbidden" or oembed.outcome == "forbidden":
        return "protected", "the post is protected (oEmbed/syndication refused it)"
    if synd.transient:
        return "unavailable", synd.error or f"syndication: {synd.outcome}"
    if synd.outcome in ("empty", "not_found"):
        if oembed.outcome == "not_found":
            return "deleted", "oEmbed 404 and syndication " + ("{}" if synd.outcome == "empty" else "404")
        if oembed.outcome == "ok" and has_content:
            return "archived", None
        if oembed.transient:
            return "unavailable", oembed.error or f"oembed: {oembed.outcome}"
        return "deleted", f"syndication {synd.outcome}, oEmbed {oembed.outcome}"
    return "unavailable", synd.error or f"syndication: {synd.outcome}"


# --- the provider ---------------------------------------------------------------------------------
class TwitterProvider:
    name = PROVIDER

    def __init__(self, archive_media: ArchiveMedia | None = None) -> None:
        self._archive_media = archive_media

    def _media_fn(self) -> ArchiveMedia:
        if self._archive_media is None:

            self._archive_media = archive_media
        return self._archive_media

    def capture(self, occurrences: Sequence[Embed], ctx: CaptureContext) -> CaptureResult:
        if not occurrences:
            return CaptureResult("failed", PROVIDER, None, None, error="no occurrences to capture")
        first = next((e for e in occurrences if e.post_id and _DIGITS.fullmatch(e.post_id)), None)
        exchanges: list[Exchange] = []
        sources = [markup.markup_source(occurrences, ctx)]
        handle = next((e.handle for e in occurrences if e.handle and _HANDLE.fullmatch(e.handle)), None)
        if first is not None:
            post_id: str = first.post_id or ""
        else:
            found, attempts = resolve_shortlinks(ctx, occurrences[0])
            for a in attempts:
                exchanges.extend(a.exchanges)
                sources.append(a.entry(a.data))
            if found is None:
                transient = any(a.transient for a in attempts)
                return self._unresolved(occurrences, ctx, sources, exchanges, transient)
            handle, post_id = found[0] or handle, found[1]
        capture_id = ctx.capture_id or new_capture_id(ctx.now())
        return self._capture_post(ctx, post_id, handle, capture_id, occurrences, sources, exchanges, depth=0)

    # The whole capture of one post; quoted and parent posts come back here with depth 1.
    def _capture_post(self, ctx: CaptureContext, post_id: str, handle: str | None, capture_id: str,
                      occurrences: Sequence[Embed], sources: list[dict[str, Any]],
                      exchanges: list[Exchange], depth: int,
                      referenced_by: dict[str, str] | None = None) -> CaptureResult:
        oembed = fetch_oembed(ctx, post_id, handle)
        synd = fetch_syndication(ctx, post_id)
        exchanges += oembed.exchanges + synd.exchanges
        sources += [oembed.entry(oembed.data), synd.entry(_synd_summary(synd))]
        tweet = synd.data if synd.outcome == "ok" else {}
        user = tweet.get("user") if isinstance(tweet.get("user"), dict) else {}
        o = oembed.data or {}
        mk = sources[0]["data"] if sources and sources[0]["name"] == markup.MARKUP_SOURCE else {}
        handle = _str(user.get("screen_name")) or o.get("handle") or handle
        url = canonical_url(post_id, handle)
        m = base_manifest(provider=PROVIDER, post_id=post_id, capture_id=capture_id,
                                   captured_at=ctx.now(), status="failed", url=url)
        text, expanded = expand_text(tweet)
        text_source = "syndication" if text else None
        if not text and o.get("text"):
            text, expanded, text_source = o["text"], o["text"], "oembed"
        has_content = bool(text and text.strip())
        if not text and mk.get("text"):
            text, expanded, text_source = mk["text"], mk["text"], markup.MARKUP_SOURCE
        m.update(text=text, text_expanded=expanded, text_source=text_source,
                 lang=_str(tweet.get("lang")) or o.get("lang") or mk.get("lang"),
                 possibly_sensitive=tweet.get("possibly_sensitive")
                 if isinstance(tweet.get("possibly_sensitive"), bool) else None,
                 edit=_edit(tweet, post_id))
        m["author"].update(name=_str(user.get("name")) or o.get("author") or mk.get("author"),
                           handle=handle, id=_str(user.get("id_str")),
                           verified=user.get("verified") if isinstance(user.get("verified"), bool) else None,
                           verified_type=_str(user.get("verified_type")))
        self._times(m, post_id, tweet)
        if synd.outcome == "tombstone" and isinstance(synd.data, dict):
            tomb = synd.data.get("tombstone")
            tomb_text = tomb.get("text") if isinstance(tomb, dict) else None
            m["tombstone"] = _str(tomb_text.get("text")) if isinstance(tomb_text, dict) else None
        if occurrences:
            m["attribution"] = markup.attribution(occurrences, ctx)
            m["articles"] = markup.articles_entry(occurrences, ctx)
        if referenced_by:
            m["referenced_by"] = [referenced_by]
        status, error = decide(oembed, synd, has_content)
        if synd.outcome == "ok":
            media_error = self._media(ctx, m, tweet, user, sources, exchanges)
            if media_error and status == "archived":
                status, error = "unavailable", media_error
            if depth == 0:
                m["quoted"] = self._related(ctx, tweet, "quoted_tweet", None, capture_id, "quoted")
                m["parent"] = self._related(ctx, tweet, "parent", "in_reply_to_status_id_str", capture_id,
                                            "parent")
            else:
                m["quoted"] = _ref(_related_id(tweet, "quoted_tweet", None))
                m["parent"] = _ref(_related_id(tweet, "parent", "in_reply_to_status_id_str"))
        m["status"], m["error"] = status, error
        m["sources"] = sources
        return _write(ctx, m, exchanges)

    @staticmethod
    def _times(m: dict[str, Any], post_id: str, tweet: dict[str, Any]) -> None:
        snow = snowflake_time(post_id)
        stated = _parse_time(tweet.get("created_at"))
        m["created_at_snowflake"] = utc_iso(snow) if snow else None
        m["created_at"] = utc_iso(stated or snow) if (stated or snow) else None
        # created_at is stated to the second; the snowflake to the millisecond.
        m["created_at_consistent"] = (abs((stated - snow).total_seconds()) < 1.5
                                      if stated and snow else None)

    def _media(self, ctx: CaptureContext, m: dict[str, Any], tweet: dict[str, Any], user: dict[str, Any],
               sources: list[dict[str, Any]], exchanges: list[Exchange]) -> str | None:
        """Archive avatar and media; returns an error when a medium failed in a way worth retrying."""
        avatar = _str(user.get("profile_image_url_https"))
        if avatar:
            original = re.sub(r"_(?:normal|bigger|mini|x96|200x200|400x400)(\.\w+)$", r"\1", avatar)
            rec = self._fetch_medium(ctx, "avatar", original, "image", sources, exchanges)
            m["author"]["avatar_url"] = original
            if rec is not None and rec.status == "archived":
                m["author"]["avatar_sha256"] = rec.sha256
        problem = None
        for item in media_plan(tweet):
            kind = "image" if item["type"] == "photo" else "video"
            rec = self._fetch_medium(ctx, "media", item["url"], kind, sources, exchanges)
            if (rec is None or rec.status == "failed") and item["listed_url"] != item["url"]:
                rec = self._fetch_medium(ctx, "media", item["listed_url"], kind, sources, exchanges)
            entry = {
                "type": item["type"], "status": "failed", "error": None, "sha256": None, "key": None,
                "mime": None, "bytes": None, "width": None, "height": None, "duration": item["duration"],
                "original_url": item["url"], "final_url": None, "listed_url": item["listed_url"],
                "bitrate": item["bitrate"], "poster_url": item["poster_url"], "alt_text": item["alt_text"],
            }
            if rec is None:
                entry["error"] = "could not archive the medium"
            else:
                entry.update(status=rec.status, error=rec.error, sha256=rec.sha256, key=rec.key,
                             mime=rec.mime, bytes=rec.bytes, width=rec.width, height=rec.height,
                             original_url=rec.original_url, final_url=rec.final_url,
                             duration=rec.duration if rec.duration is not None else item["duration"])
            if item["poster_url"]:
                # The still shown before playback: the static card needs it. Its loss is recorded
                # in its source entry but does not hold the capture back.
                poster = self._fetch_medium(ctx, "poster", item["poster_url"], "image", sources, exchanges)
                archived = poster is not None and poster.status == "archived"
                entry["poster_sha256"] = poster.sha256 if archived else None
                entry["poster_key"] = poster.key if archived else None
            if entry["status"] == "failed" and problem is None:
                problem = f"{item['type']} {item['url']}: {entry['error'] or 'failed'}"
            m["media"].append(entry)
        return problem

    def _fetch_medium(self, ctx: CaptureContext, name: str, url: str, kind: str,
                      sources: list[dict[str, Any]], exchanges: list[Exchange]) -> Any:
        try:
            rec = self._media_fn()(url, kind=kind, fetcher=ctx.fetcher, store=ctx.store,
                                   settings=ctx.settings)
        except (ArchiverError, OSError, ValueError) as exc:
            sources.append(source_entry(name, [], outcome="failed", error=str(exc),
                                                 fallback_url=url))
            return None
        recs = list(getattr(rec, "exchanges", None) or [])
        exchanges.extend(recs)
        sources.append(source_entry(name, recs, outcome=rec.status, error=rec.error,
                                             fallback_url=url, data={"sha256": rec.sha256, "key": rec.key}))
        return rec

    def _related(self, ctx: CaptureContext, tweet: dict[str, Any], obj_key: str, id_key: str | None,
                 capture_id: str, relation: str) -> dict[str, Any] | None:
        rid = _related_id(tweet, obj_key, id_key)
        if rid is None:
            return None
        obj = tweet.get(obj_key) if isinstance(tweet.get(obj_key), dict) else {}
        user = obj.get("user") if isinstance(obj.get("user"), dict) else {}
        handle = _str(user.get("screen_name")) or _str(tweet.get("in_reply_to_screen_name"))
        handle = handle if handle and _HANDLE.fullmatch(handle) else None
        # Derived from the main capture's id, so a capture run twice writes the same related keys.
        related_id = capture_id[:-8] + hashlib.sha256(f"{capture_id}/{relation}".encode()).hexdigest()[:8]
        res = self._capture_post(ctx, rid, handle, related_id, [], [], [], depth=1,
                                 referenced_by={"capture_id": capture_id, "relation": relation})
        return {"post_id": rid, "url": res.url, "capture_id": res.capture_id,
                "manifest_key": res.manifest_key, "status": res.status}

    @staticmethod
    def _unresolved(occurrences: Sequence[Embed], ctx: CaptureContext, sources: list[dict[str, Any]],
                    exchanges: list[Exchange], transient: bool) -> CaptureResult:
        e = occurrences[0]
        post_id = markup.unresolved_post_id(e)
        capture_id = ctx.capture_id or new_capture_id(ctx.now())
        status = "unavailable" if transient else "unresolved"
        m = base_manifest(provider=PROVIDER, post_id=post_id, capture_id=capture_id,
                                   captured_at=ctx.now(), status=status, url=None)
        mk = sources[0]["data"]
        m.update(text=mk["text"], text_expanded=mk["text"], text_source=markup.MARKUP_SOURCE, lang=mk["lang"],
                 attribution=markup.attribution(occurrences, ctx),
                 articles=markup.articles_entry(occurrences, ctx),
                 sources=sources,
                 error="the shortlink service did not answer; try again" if transient
                 else "no status URL found for this flattened post; kept what the article showed")
        m["author"].update(name=e.author, handle=e.handle)
        return _write(ctx, m, exchanges)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _ref(post_id: str | None) -> dict[str, Any] | None:
    if post_id is None:
        return None
    return {"post_id": post_id, "url": canonical_url(post_id, None), "capture_id": None, "manifest_key": None,
            "status": None}


def _synd_summary(synd: Fetched) -> dict[str, Any] | None:
    """The syndication source's own view, kept small (the full body is in the WARC)."""
    if not isinstance(synd.data, dict):
        return None
    d = synd.data
    text, expanded = expand_text(d)
    user = d.get("user") if isinstance(d.get("user"), dict) else {}
    return {"typename": _str(d.get("__typename")), "text": text, "text_expanded": expanded,
            "created_at": _str(d.get("created_at")), "handle": _str(user.get("screen_name")),
            "author": _str(user.get("name")), "user_id": _str(user.get("id_str")),
            "lang": _str(d.get("lang"))}


def _write(ctx: CaptureContext, m: dict[str, Any], exchanges: list[Exchange]) -> CaptureResult:
    try:
        key = write_snapshot(ctx.store, m, exchanges)
    except (ArchiverError, OSError, ValueError) as exc:
        return CaptureResult("failed", PROVIDER, m["post_id"], m["url"], m["capture_id"],
                             error=f"could not store the snapshot: {exc}")
    return CaptureResult(m["status"], PROVIDER, m["post_id"], m["url"], m["capture_id"], key, m["error"], m)


def make_provider() -> TwitterProvider:
    return TwitterProvider()
