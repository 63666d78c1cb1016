"""Twitter's sources, each read into what it says about the post: oEmbed (``twitter_oembed_url``:
text, author, status URL; 404 deleted, 403 protected), syndication (``twitter_syndication_url``, with
the embed widget's token: the tweet JSON; ``TweetTombstone`` is tombstoned, ``{}`` or 404 deleted)
and the t.co / pic.twitter.com short links (``twitter_shortlink_url``) that lead a flattened embed to
its status URL. Also the syndication JSON read into manifest fields, and the capture's status from
what the sources said (``decide``, which the liveness probe shares).
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from archiver.capture.manifest import utc_iso
from archiver.providers import markup
from archiver.providers.base import CaptureContext, Occurrence
from archiver.providers.sources import Fetched, get, get_object
from archiver.providers.twitter.ids import DIGITS, STATUS_URL, canonical_url, parse_status_url, syndication_token

_SHORT_CODE = re.compile(r"(?i)(?:pic\.(?:twitter|x)\.com|\bt\.co)/([A-Za-z0-9]{1,30})")


def fetch_oembed(ctx: CaptureContext, post_id: str, handle: str | None) -> Fetched:
    """Ask oEmbed about the post; ``data`` gets url, author, handle, text, lang, dir and links when it
    answered with a post ("bad_response" when its html carries no text)."""
    query = urlencode({"url": canonical_url(post_id, handle), "omit_script": "true", "dnt": "true"})
    body, fetched = get_object(ctx, "oembed", f"{ctx.settings.twitter_oembed_url}?{query}")
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
    """Ask syndication for the tweet JSON: outcome "ok" with the tweet as ``data``, "empty" ({}),
    "tombstone", "forbidden", "not_found", or the transport's classification."""
    query = urlencode({"id": post_id, "lang": "en", "token": syndication_token(post_id)})
    body, fetched = get_object(ctx, "syndication", f"{ctx.settings.twitter_syndication_url}?{query}")
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


def resolve_shortlinks(ctx: CaptureContext, occurrence: Occurrence) -> tuple[tuple[str | None, str] | None,
                                                                            list[Fetched]]:
    """Follow the pic.twitter.com / t.co codes a flattened embed shows (in what discovery read and in
    its markup) to its status URL: ((handle or None, post id) or None, every attempt)."""
    embed = occurrence.embed
    seen: list[str] = []
    for text in [*embed.media_links, embed.text or "", occurrence.markup]:
        for m in _SHORT_CODE.finditer(text):
            if m.group(1) not in seen:
                seen.append(m.group(1))
    attempts: list[Fetched] = []
    for code in seen[:5]:
        url = ctx.settings.twitter_shortlink_url.replace("{code}", quote(code, safe=""))
        resp, fetched = get(ctx, "shortlink", url, kind="html", follow_redirects=False)
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


def edit_info(tweet: dict[str, Any], post_id: str) -> dict[str, Any] | None:
    """The manifest's ``edit`` from the tweet's edit_control (None when it has none)."""
    ec = tweet.get("edit_control")
    if not isinstance(ec, dict):
        return None
    ids = [i for i in ec.get("edit_tweet_ids") or [] if isinstance(i, str) and DIGITS.fullmatch(i)]
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


def related_id(tweet: dict[str, Any], obj_key: str, id_key: str | None) -> str | None:
    """The id of the tweet's quoted (``obj_key`` "quoted_tweet") or parent post, if it names one."""
    obj = tweet.get(obj_key)
    if isinstance(obj, dict) and isinstance(obj.get("id_str"), str) and DIGITS.fullmatch(obj["id_str"]):
        return obj["id_str"]
    value = tweet.get(id_key) if id_key else None
    return value if isinstance(value, str) and DIGITS.fullmatch(value) else None


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


def synd_summary(synd: Fetched) -> dict[str, Any] | None:
    """The syndication source's own view, kept small (the full body is in the WARC)."""
    if not isinstance(synd.data, dict):
        return None
    d = synd.data
    text, expanded = expand_text(d)
    user = d.get("user") if isinstance(d.get("user"), dict) else {}
    return {"typename": str_or_none(d.get("__typename")), "text": text, "text_expanded": expanded,
            "created_at": str_or_none(d.get("created_at")), "handle": str_or_none(user.get("screen_name")),
            "author": str_or_none(user.get("name")), "user_id": str_or_none(user.get("id_str")),
            "lang": str_or_none(d.get("lang"))}


def str_or_none(value: Any) -> str | None:
    """``value`` when it is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None

