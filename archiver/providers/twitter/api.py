"""Twitter's sources, each read into what it says about the post: oEmbed (``twitter_oembed_url``:
text, author, status URL; 404, 403), syndication (``twitter_syndication_url``, with the embed
widget's token: the tweet JSON read into a ``states.Answer``: a post, a tombstone, a
TweetUnavailable, ``{}``) and the t.co / pic.twitter.com short links (``twitter_shortlink_url``)
that lead a flattened embed to its status URL. Also the syndication JSON read into manifest fields
(edit chain, counts, entities).

An answer about another post than the one asked for is never taken as the post: a syndication post
object whose ``id_str`` (else ``rest_id``, ``id``) is another id, an oEmbed answer whose ``url`` or
closing status link names another id, is outcome "bad_response" with an error naming both ids (the
capture then goes on as when the source did not answer usefully: ``states.decide``, rule 6).

The capture's status from what the sources said is ``states.decide`` (re-exported here as
``decide``; the liveness probe shares it).
"""

from __future__ import annotations

import contextvars
import html
import re
import threading
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any
from urllib.parse import quote, urlencode

from archiver.capture.manifest import utc_iso
from archiver.lazyre import lazy
from archiver.providers import markup
from archiver.providers.base import CaptureContext, Occurrence
from archiver.providers.sources import Fetched, get, get_object
from archiver.providers.twitter.ids import (
    DIGITS,
    HANDLE,
    STATUS_URL,
    canonical_url,
    parse_status_url,
    syndication_token,
)
from archiver.providers.twitter.states import Answer, read_answer, withheld_countries
from archiver.providers.twitter.states import decide as decide

_SHORT_CODE = lazy(r"(?i)(?:pic\.(?:twitter|x)\.com|\bt\.co)/([A-Za-z0-9]{1,30})")


def fetch_oembed(ctx: CaptureContext, post_id: str, handle: str | None) -> Fetched:
    """Ask oEmbed about the post; ``data`` gets url, author, handle, text, lang, dir and links when it
    answered with a post ("bad_response" when its html carries no text, or when its ``url`` or the
    status link closing its blockquote names another post: ``data`` is then only that url and id)."""
    query = urlencode({"url": canonical_url(post_id, handle), "omit_script": "true", "dnt": "true"})
    body, fetched = get_object(ctx, "oembed", f"{ctx.settings.twitter_oembed_url}?{query}")
    if body is None:
        return fetched
    _, hrefs, lang, direction = markup.parse_fragment(str(body.get("html") or ""))
    p_text = _oembed_text(str(body.get("html") or ""))
    author_url = str(body.get("author_url") or "")
    handle_m = _AUTHOR_URL.fullmatch(author_url[:300])
    url = body.get("url") if isinstance(body.get("url"), str) else None
    other = _other_oembed_id(post_id, url, str(body.get("html") or ""))
    if other is not None:  # an answer about another post is never this post's (this module's docstring)
        fetched.outcome = "bad_response"
        fetched.error = f"oembed: the answer describes post {other}, not the requested {post_id}"
        fetched.data = {"url": url, "post_id": other}
        return fetched
    fetched.data = {
        "url": url,
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


_AUTHOR_URL = lazy(r"(?i)https?://(?:(?:www|mobile)\.)?(?:twitter|x)\.com/([A-Za-z0-9_]{1,15})/?")
# The keys a post object states its own id under (syndication's id_str; GraphQL's rest_id; v1.1's id).
_ID_KEYS = ("id_str", "rest_id", "id")


def stated_id(tweet: dict[str, Any]) -> str | None:
    """The id a post object says it has (``id_str``, else ``rest_id``, else ``id``), as a string; None
    when it states none. An ``id_str`` or ``rest_id`` that is not an id (a word, a list) is returned
    as it reads, so it differs from any requested id; ``id`` counts only as an integer (read exactly)
    or a digit string (GraphQL's ``id`` is a node id, not the post's)."""
    for key in _ID_KEYS:
        value = tweet.get(key)
        if isinstance(value, bool) or value is None or value == "":
            continue
        if isinstance(value, int):
            return str(value)
        if key == "id":
            return value if isinstance(value, str) and DIGITS.fullmatch(value) else None
        return value[:40] if isinstance(value, str) else repr(value)[:40]
    return None


def other_post_id(tweet: dict[str, Any] | None, post_id: str) -> str | None:
    """The id a post object states when it is not ``post_id`` (the answer describes another post);
    None when it states ``post_id`` or no id."""
    stated = stated_id(tweet or {})
    return stated if stated is not None and stated != post_id else None


def _other_oembed_id(post_id: str, url: str | None, fragment: str) -> str | None:
    """The post id oEmbed's answer names when it is not ``post_id``: its ``url``'s, else the status
    link that ends its blockquote (the date link); None when they name ``post_id`` or nothing."""
    links = [h for h in markup.parse_fragment(fragment)[1] if STATUS_URL.search(h)] if fragment else []
    for candidate in (url, links[-1] if links else None):
        found = parse_status_url(candidate[:2000]) if isinstance(candidate, str) else None
        if found is not None and found[1] != post_id:
            return found[1]
    return None


def _oembed_text(fragment: str) -> str:
    """The text of the first <p> of the oEmbed blockquote."""
    m = re.search(r"(?is)<p\b[^>]*>(.*?)</p>", fragment)
    if not m:
        return ""
    text, _, _, _ = markup.parse_fragment(m.group(1))
    return text.strip()


def fetch_sources(ctx: CaptureContext, post_id: str, handle: str | None) -> tuple[Fetched, Fetched]:
    """(``fetch_oembed``, ``fetch_syndication``) of the post, asked at the same time: the two are
    independent and on different hosts, each a round trip of 100-300 ms on the real network, so a
    capture (and a liveness probe) waits for the slower one instead of both. Syndication runs in a
    thread of its own, in a copy of this context (the article's fetch deadline holds there too);
    whatever it raises (an infrastructure fault: neither raises for remote trouble) is raised here,
    after oEmbed is done."""
    outcome: list[tuple[bool, Any]] = []

    def ask_syndication() -> None:
        try:
            outcome.append((True, fetch_syndication(ctx, post_id)))
        except BaseException as exc:  # handed to the caller's thread below
            outcome.append((False, exc))

    worker = threading.Thread(target=contextvars.copy_context().run, args=(ask_syndication,),
                              name="syndication", daemon=True)
    worker.start()
    try:
        oembed = fetch_oembed(ctx, post_id, handle)
    finally:
        worker.join()
    ok, synd = outcome[0]
    if not ok:
        raise synd
    return oembed, synd


def fetch_syndication(ctx: CaptureContext, post_id: str) -> Fetched:
    """Ask syndication for the tweet JSON, read into an ``states.Answer`` (``data``): outcome "ok"
    (a post, any visibility wrapper taken off), "empty" ({}), "tombstone", "unavailable" (a
    TweetUnavailable; its reason in ``error``), "forbidden", "not_found", "bad_response" (JSON that is
    not a post object, or a post object stating another id than ``post_id``: ``data`` is then an
    Answer of kind "other" naming it in ``other_id``), or the transport's classification (``data``
    None)."""
    query = urlencode({"id": post_id, "lang": "en", "token": syndication_token(post_id)})
    body, fetched = get_object(ctx, "syndication", f"{ctx.settings.twitter_syndication_url}?{query}")
    if body is None:
        return fetched
    answer = read_answer(body)
    other = other_post_id(answer.tweet, post_id) if answer.kind == "tweet" else None
    if other is not None:  # an answer about another post: never this post's content
        fetched.data = Answer("other", answer.typename, tweet=answer.tweet, other_id=other)
        fetched.outcome = "bad_response"
        fetched.error = f"syndication: the answer describes post {other[:40]}, not the requested {post_id}"
        return fetched
    fetched.data = answer
    if answer.kind == "tweet":
        fetched.outcome = "ok"
    elif answer.kind in ("empty", "tombstone", "unavailable"):
        fetched.outcome = answer.kind
        if answer.kind == "unavailable":
            fetched.error = f"syndication: TweetUnavailable ({answer.reason or 'no reason'})"
    else:
        fetched.outcome = "bad_response"
        fetched.error = f"syndication: not a tweet object ({answer.typename or 'no __typename'})"
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


def _link_entities(tweet: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(t.co URL, expanded URL, indices as given) of the tweet's ``entities.urls`` and
    ``entities.media`` (at most 200 of each) that name both."""
    entities = tweet.get("entities") if isinstance(tweet.get("entities"), dict) else {}
    out = []
    for group in ("urls", "media"):
        found = entities.get(group)
        for ent in found[:200] if isinstance(found, list) else []:
            if isinstance(ent, dict) and isinstance(ent.get("url"), str) and isinstance(
                    ent.get("expanded_url"), str) and ent["url"]:
                out.append((ent["url"], ent["expanded_url"], ent.get("indices")))
    return out


_CODE_CHAR = lazy(r"[A-Za-z0-9]")


def _by_indices(text: str, links: list[tuple[str, str, Any]]) -> str | None:
    """``text`` with each link replaced at its ``indices`` (code-point offsets, as the platform gives
    them), or None when some link has none or they do not fit ``text``: not two ints with the link's
    t.co URL between them (and no letter or digit right after it), or overlapping."""
    spans: dict[tuple[int, int], str] = {}
    for url, expanded, indices in links:
        if not (isinstance(indices, list) and len(indices) == 2
                and all(isinstance(i, int) and not isinstance(i, bool) for i in indices)):
            return None
        start, end = indices
        if not 0 <= start < end <= len(text) or text[start:end] != url or _CODE_CHAR.match(text, end):
            return None  # not there, or only the start of a longer link
        if spans.get((start, end), expanded) != expanded:
            return None
        spans[(start, end)] = expanded
    ordered = sorted(spans)
    if any(a[1] > b[0] for a, b in pairwise(ordered)):
        return None
    for start, end in reversed(ordered):
        text = text[:start] + spans[(start, end)] + text[end:]
    return text


def expand_links(text: str, tweet: dict[str, Any]) -> str:
    """``text`` with the tweet's t.co links (``entities.urls`` and ``entities.media``) replaced by
    their expanded URLs. By the entities' ``indices`` when every link has them and they fit ``text``
    (it is the text they were given for); otherwise each t.co URL is replaced where it stands whole
    (not followed by another letter or digit of a longer code), the longest first, in one pass, so
    ``t.co/CCC`` never expands inside ``t.co/CCCDDDDDDD`` nor inside an expansion already made."""
    links = _link_entities(tweet)
    if not links:
        return text
    placed = _by_indices(text, links)
    if placed is not None:
        return placed
    expansions: dict[str, str] = {}
    for url, expanded, _ in links:
        expansions.setdefault(url, expanded)
    pattern = "|".join(re.escape(u) for u in sorted(expansions, key=len, reverse=True))
    return re.sub(f"(?:{pattern})(?![A-Za-z0-9])", lambda m: expansions[m.group(0)], text)


def expand_text(tweet: dict[str, Any]) -> tuple[str | None, str | None]:
    """(text as posted, text with t.co links replaced by their expanded URLs), HTML-unescaped."""
    raw = tweet.get("text") if isinstance(tweet.get("text"), str) else tweet.get("full_text")
    if not isinstance(raw, str):
        return None, None
    return html.unescape(raw), html.unescape(expand_links(raw, tweet))


def note_text(tweet: dict[str, Any]) -> str | None:
    """The whole text of a long post when the answer carries it (a ``note_tweet`` with ``text``, or
    GraphQL's ``note_tweet.note_tweet_results.result.text``); syndication usually carries only the
    note's id, and None is returned."""
    note = tweet.get("note_tweet")
    if not isinstance(note, dict):
        return None
    results = note.get("note_tweet_results")
    result = results.get("result") if isinstance(results, dict) else None
    for holder in (note, result if isinstance(result, dict) else {}):
        if isinstance(holder.get("text"), str) and holder["text"].strip():
            return html.unescape(holder["text"])
    return None


def _digits(value: Any) -> int | None:
    """A count given as a non-negative int or a digit string (``"4"``), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < 10**18 else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    return None


def edit_info(tweet: dict[str, Any], post_id: str) -> dict[str, Any] | None:
    """The manifest's ``Edit`` fields from the tweet's ``edit_control`` (None when it has none;
    ``../shared/formats/twitter-shapes.md``, "Edits"): the chain from ``edit_tweet_ids`` or, on
    another version, ``edit_control_initial.edit_tweet_ids`` (first the initial post, last the latest
    version; recorded as given), editable-until (UTC ISO, from ``editable_until_msecs``), edits
    remaining and ``is_edit_eligible``.

    The flags are checked against the chain, which decides when they disagree:

    - the post in the chain: ``is_latest`` whether it is the chain's last, ``latest_id`` that last,
      ``initial_id`` (``initial_tweet_id`` or the chain's first), ``is_edited`` (``isEdited`` or a
      chain of more than one), ``is_stale`` whether it is not the last (``isStaleEdit`` true on the
      latest version does not make it stale of itself; false on an earlier one does not hide that);
    - no chain (an ``initial_tweet_id`` alone, or nothing): ``isStaleEdit`` decides, as nothing
      contradicts it: true, the post is stale and not the latest (``latest_id`` unknown, None, so
      nothing is captured as the latest version); otherwise it is its own latest version, not
      stale. ``is_edited`` from ``isEdited``, a stale version, or an ``initial_tweet_id`` other than
      the post's (a version after the first is an edit);
    - a chain that does not contain the post (it cannot be this post's): kept in ``edit_ids``, but
      ``is_latest`` False, ``latest_id`` and ``initial_id`` None, not stale, ``is_edited`` from
      ``isEdited`` only; nothing is captured as its latest version."""
    ec = tweet.get("edit_control")
    if not isinstance(ec, dict):
        return None
    initial = ec.get("edit_control_initial") if isinstance(ec.get("edit_control_initial"), dict) else {}
    raw_ids = ec.get("edit_tweet_ids") if isinstance(ec.get("edit_tweet_ids"), list) else initial.get(
        "edit_tweet_ids")
    ids = list(dict.fromkeys(i for i in (raw_ids if isinstance(raw_ids, list) else [])[:100]
                             if isinstance(i, str) and DIGITS.fullmatch(i)))
    in_chain = post_id in ids
    initial_id = ec.get("initial_tweet_id")
    initial_id = initial_id if isinstance(initial_id, str) and DIGITS.fullmatch(initial_id) else (
        ids[0] if ids else None)
    if ids and not in_chain:
        initial_id = None

    def field(name: str) -> Any:
        return ec.get(name) if name in ec else initial.get(name)

    until_ms = _digits(field("editable_until_msecs"))
    until = None
    if until_ms is not None:
        try:
            until = utc_iso(datetime.fromtimestamp(until_ms / 1000, UTC))
        except (OverflowError, OSError, ValueError):
            until = None
    eligible = field("is_edit_eligible")
    said_edited = tweet.get("isEdited") is True
    if ids:
        is_latest, is_stale = ids[-1] == post_id, in_chain and ids[-1] != post_id
        is_edited = said_edited or (in_chain and len(ids) > 1)
    else:  # no chain: the platform's flag is all there is
        is_stale = tweet.get("isStaleEdit") is True
        is_latest = not is_stale
        is_edited = said_edited or is_stale or (initial_id is not None and initial_id != post_id)
    return {
        "edit_ids": ids,
        "is_edited": is_edited,
        "is_latest": is_latest,
        "latest_id": ids[-1] if in_chain else None,
        "initial_id": initial_id,
        "is_stale": is_stale,
        "editable_until": until,
        "edits_remaining": _digits(field("edits_remaining")),
        "is_edit_eligible": eligible if isinstance(eligible, bool) else None,
    }


def metrics_info(tweet: dict[str, Any], read_at: str) -> dict[str, Any] | None:
    """The manifest's ``Metrics`` fields: the counts the tweet carries (favorite_count,
    conversation_count, and retweet/reply/quote counts and ``views.count`` when present) with
    ``read_at`` (UTC ISO, when the answer holding them was fetched); None when it carries none."""
    counts: dict[str, Any] = {name: _digits(tweet.get(name)) for name in (
        "favorite_count", "conversation_count", "retweet_count", "reply_count", "quote_count")}
    views = tweet.get("views")
    counts["view_count"] = _digits(views.get("count")) if isinstance(views, dict) else None
    found = {k: v for k, v in counts.items() if v is not None}
    return {"read_at": read_at, **found} if found else None


def entities_info(tweet: dict[str, Any]) -> dict[str, Any] | None:
    """The manifest's ``Entities`` fields from the tweet's ``entities``: mentions (handle, id_str,
    name; a mention whose ``screen_name`` is not a handle, 1-15 of ``[A-Za-z0-9_]``, is left out),
    hashtags (their text) and links (t.co URL, expanded and display URL), at most 200 of each; None
    when the tweet has no entities object."""
    ents = tweet.get("entities")
    if not isinstance(ents, dict):
        return None

    def items(name: str) -> list[dict[str, Any]]:
        raw = ents.get(name)
        return [e for e in raw[:200] if isinstance(e, dict)] if isinstance(raw, list) else []

    mentions = [{"handle": e["screen_name"], "id": str_or_none(e.get("id_str")), "name": str_or_none(e.get("name"))}
                for e in items("user_mentions")
                if isinstance(e.get("screen_name"), str) and HANDLE.fullmatch(e["screen_name"])]
    hashtags = [e["text"] for e in items("hashtags") if str_or_none(e.get("text"))]
    urls = [{"url": e["url"], "expanded_url": str_or_none(e.get("expanded_url")),
             "display_url": str_or_none(e.get("display_url"))} for e in items("urls") if str_or_none(e.get("url"))]
    return {"mentions": mentions, "hashtags": hashtags, "urls": urls}


def related_id(tweet: dict[str, Any], obj_key: str, id_key: str | None) -> str | None:
    """The id of the tweet's quoted (``obj_key`` "quoted_tweet") or parent post, if it names one
    (the object's ``id_str``, inside any visibility wrapper, else the tweet's ``id_key``)."""
    obj = read_answer(tweet.get(obj_key)).tweet or {}
    if isinstance(obj.get("id_str"), str) and DIGITS.fullmatch(obj["id_str"]):
        return str(obj["id_str"])
    value = tweet.get(id_key) if id_key else None
    return value if isinstance(value, str) and DIGITS.fullmatch(value) else None


def quoted_link(tweet: dict[str, Any], post_id: str) -> tuple[str | None, str] | None:
    """(handle or None, id) of the post ``tweet`` quotes, read from its links when neither the quoted
    object nor ``quoted_status_id_str`` names it (a quoted post shown as a tombstone carries no id):
    ``quoted_status_permalink.expanded`` (else its ``url`` when that is a status URL), else the last
    ``entities.urls`` entry whose ``expanded_url`` is a status URL other than ``post_id`` (the
    platform appends the quoted post's link to the quoting text). Only for a tweet that says it
    quotes: a ``quoted_tweet`` object, ``is_quote_status`` true or a ``quoted_status_permalink``;
    None otherwise or when no link names a post."""
    permalink = tweet.get("quoted_status_permalink")
    if not (isinstance(tweet.get("quoted_tweet"), dict) or tweet.get("is_quote_status") is True
            or isinstance(permalink, dict)):
        return None
    if isinstance(permalink, dict):
        for key in ("expanded", "url"):
            value = permalink.get(key)
            found = parse_status_url(value[:2000]) if isinstance(value, str) else None
            if found and found[1] != post_id:
                return found
    entities = tweet.get("entities")
    urls = entities.get("urls") if isinstance(entities, dict) else None
    for ent in reversed(urls[:200] if isinstance(urls, list) else []):
        value = ent.get("expanded_url") if isinstance(ent, dict) else None
        found = parse_status_url(value[:2000]) if isinstance(value, str) else None
        if found and found[1] != post_id:
            return found
    return None


def tweet_summary(answer: Answer | None) -> dict[str, Any] | None:
    """What a syndication answer (or an embedded copy) says, kept small for its source entry (the
    full body is in the WARC): the type, text, times, author, the notices and flags, and what it
    shows of its quoted and parent posts (kind, id, tombstone text or reason: a quoted tombstone
    that names no id is kept here)."""
    if answer is None:
        return None
    d = answer.tweet or {}
    text, expanded = expand_text(d)
    user = d.get("user") if isinstance(d.get("user"), dict) else {}
    out: dict[str, Any] = {
        "typename": answer.typename, "text": text, "text_expanded": expanded,
        "created_at": str_or_none(d.get("created_at")), "handle": str_or_none(user.get("screen_name")),
        "author": str_or_none(user.get("name")), "user_id": str_or_none(user.get("id_str")),
        "lang": str_or_none(d.get("lang"))}
    if answer.kind != "tweet":
        out["kind"] = answer.kind
    if answer.other_id is not None:  # the answer describes another post (kept as it was read)
        out["other_post_id"] = answer.other_id
    for name, value in (("tombstone", answer.tombstone), ("reason", answer.reason),
                        ("interstitial", answer.interstitial)):
        if value is not None:
            out[name] = value
    if isinstance(d.get("note_tweet"), dict):
        out["note_tweet"] = True
    if withheld_countries(d):
        out["withheld_in_countries"] = withheld_countries(d)
    for key in ("quoted_tweet", "parent"):  # what the answer shows of them (a tombstone may name no id)
        obj = d.get(key)
        if isinstance(obj, dict):
            inner = read_answer(obj)
            shown: dict[str, Any] = {"kind": inner.kind, "id": str_or_none((inner.tweet or {}).get("id_str"))}
            for name, value in (("tombstone", inner.tombstone), ("reason", inner.reason)):
                if value is not None:
                    shown[name] = value
            out[key] = shown
    return out


def synd_summary(synd: Fetched) -> dict[str, Any] | None:
    """The syndication source's own view, kept small (the full body is in the WARC)."""
    return tweet_summary(synd.data if isinstance(synd.data, Answer) else None)


def str_or_none(value: Any) -> str | None:
    """``value`` when it is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None

