"""Twitter's cards: link previews (summary, summary_large_image, player, app cards, a decoded
unified_card) and polls, read from the syndication JSON's ``card`` into the manifest's ``card`` and
``poll`` (``../shared/formats/twitter-shapes.md``, "Cards: link previews and polls").

A card is ``{"name": ..., "url": <t.co>, "binding_values": {key: {"type": T, "<t>_value": ...}}}``
(the GraphQL shape's ``binding_values`` list of ``{"key", "value"}`` and its ``legacy`` wrapper are
read too). The value types are STRING (``string_value``), BOOLEAN (``boolean_value``), IMAGE
(``image_value``: url, width, height, alt), USER (``user_value``) and IMAGE_COLOR
(``image_color_value``); a value whose payload does not match its stated type, or whose type is not
the one a field needs, is ignored. A ``unified_card`` carries its content as a JSON string
(components, destinations, media entities, app store data), decoded here within bounds.

Whatever the response holds, nothing here raises: what cannot be read is left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from archiver import foreign_json
from archiver.capture.manifest import LinkCard, Poll, PollChoice, utc_iso
from archiver.lazyre import lazy
from archiver.providers.base import MediaRef
from archiver.providers.twitter.media import http_url, photo_variants

# Bounds on what a response may make us read.
MAX_UNIFIED_CARD = 256 * 1024  # characters of a unified_card's JSON string; longer: no card
MAX_TEXT = 1000  # characters kept of a title, a description or a poll label
MAX_BINDINGS = 500  # binding values read of one card
MAX_COMPONENTS = 100  # components read of one unified_card
MAX_ENTITY_URLS = 100  # tweet URL entities searched for the card's t.co

_POLL = lazy(r"(?i)poll([1-9][0-9]?)choice_[a-z0-9_]{1,40}")
_CHOICE_KEY = lazy(r"choice([1-9][0-9]?)_(?:label|count)")
MAX_CHOICES = 99  # choices read of one poll
_T_CO = lazy(r"https?://t\.co/[A-Za-z0-9]{1,40}/?", re.IGNORECASE)
_CONTROL = lazy(r"[\x00-\x08\x0b-\x1f\x7f]")
_IMAGE_KEY = lazy(r"image|thumbnail")
_COUNT = lazy(r"[0-9]{1,15}")
# A count written with thousands separators: "1,204", "1.204", "1 204" (also thin and no-break spaces).
_GROUPED = lazy(r"[0-9]{1,3}(?:([,.\u00a0\u202f\u2009 ])[0-9]{3})(?:\1[0-9]{3}){0,4}")
_ANDROID_ID = lazy(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+){0,20}")
_APPLE_ID = lazy(r"(?:id)?([0-9]{1,15})")

Bindings = dict[str, dict[str, Any]]


def read_card(tweet: dict[str, Any], read_at: str) -> tuple[LinkCard | None, Poll | None, list[MediaRef]]:
    """(link card or None, poll or None, the card image to archive) of a syndication ``tweet``.

    - A poll (``poll2choice_text_only`` … ``poll4choice_text_only``, ``pollNchoice_image``, any
      ``pollNchoice_<kind>`` in any case, N from 1 to 99) gives a ``Poll``: every choice with a
      label or a count, in order (an empty or missing label kept as "", its votes with it), with its
      count as an int (a digit string, one with thousands separators or a JSON number; None when not
      stated), ``end_datetime`` (``end_datetime_utc`` as UTC ISO with a Z), ``counts_are_final``,
      ``duration_minutes`` and ``read_at`` (``read_at`` as UTC ISO: when the answer holding the
      counts was fetched, as the metrics' ``read_at``; left out when it is not a time). A poll
      that shows an image also gives a ``LinkCard`` named after the poll, carrying its t.co URL, so
      the image is archived.
    - ``unified_card`` gives a ``LinkCard`` decoded from its JSON string (``_unified``); an invalid,
      non-object or longer than ``MAX_UNIFIED_CARD`` string gives no card.
    - Any other name is a link card: ``title``, ``description``, ``domain`` (``domain``, else
      ``vanity_url``), ``url`` (the card's t.co: ``card.url``, else ``card_url``) and
      ``expanded_url`` (the tweet's ``entities.urls`` entry for that t.co, else ``card_url`` when it
      is not a t.co link).

    The card image, when there is one, is a ``MediaRef`` of type photo with ``slot="card"`` (the
    capture step puts its record into the card's ``image``), ``source="card_image"``, and
    ``variants`` at each of the named sizes, ``orig`` first (``media.photo_variants``); of several
    images the one named ``*_original`` wins, then the largest width×height (``_best_image``).
    """
    card = tweet.get("card") if isinstance(tweet, dict) else None
    if isinstance(card, dict) and isinstance(card.get("legacy"), dict):
        card = card["legacy"]  # the GraphQL shape
    if not isinstance(card, dict):
        return None, None, []
    name = _clean(card.get("name"), 200)
    if name is None:
        return None, None, []
    b = _bindings(card.get("binding_values"))
    t_co = http_url(card.get("url")) or http_url(_string(b, "card_url"))
    refs: list[MediaRef] = []
    poll_kind = _POLL.fullmatch(name)
    if poll_kind:
        poll = _poll(name, int(poll_kind.group(1)), b, read_at)
        if poll is None:
            return None, None, []
        image = _card_image(_best_image(b))
        if image is None:
            return None, poll, []
        return LinkCard(name=name, url=t_co), poll, [image]
    if name == "unified_card":
        return _unified(tweet, b, t_co)
    link = LinkCard(name=name, url=t_co, expanded_url=_expanded(tweet, t_co, b),
                    title=_clean(_string(b, "title")), description=_clean(_string(b, "description")),
                    domain=_clean(_string(b, "domain"), 253) or _clean(_string(b, "vanity_url"), 253))
    image = _card_image(_best_image(b))
    if image is not None:
        refs.append(image)
    return link, None, refs


# --- binding values ---------------------------------------------------------------------------------
def _bindings(raw: Any) -> Bindings:
    """Binding values by key, from the syndication dict or the GraphQL ``[{key, value}]`` list;
    entries that are not ``{"type": str, ...}`` objects are dropped; at most ``MAX_BINDINGS``."""
    pairs: Iterable[tuple[Any, Any]]
    if isinstance(raw, dict):
        pairs = raw.items()
    elif isinstance(raw, list):
        pairs = ((e.get("key"), e.get("value")) for e in raw if isinstance(e, dict))
    else:
        return {}
    out: Bindings = {}
    for i, (key, value) in enumerate(pairs):
        if i >= MAX_BINDINGS:
            break
        if isinstance(key, str) and isinstance(value, dict) and isinstance(value.get("type"), str):
            out.setdefault(key, value)
    return out


def _string(b: Bindings, key: str) -> str | None:
    v = b.get(key)
    if v is None or v.get("type") != "STRING" or not isinstance(v.get("string_value"), str):
        return None
    return v["string_value"]


def _boolean(b: Bindings, key: str) -> bool | None:
    v = b.get(key)
    if v is None or v.get("type") != "BOOLEAN" or not isinstance(v.get("boolean_value"), bool):
        return None
    return v["boolean_value"]


def _dimension(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 1_000_000 else 0


def _best_image(b: Bindings) -> tuple[str, int, int, str | None] | None:
    """(URL, width, height, alt text) of the card's largest image: of the IMAGE bindings named as
    images (``*image*``, ``*thumbnail*``: photo_image_full_size_original, thumbnail_image, player_image,
    summary_photo_image, a poll's image_original, ...) a ``*_original`` one first, then the largest
    area, then the first listed; None when none has an http(s) URL."""
    best: tuple[tuple[bool, int], tuple[str, int, int, str | None]] | None = None
    for key, v in b.items():
        image = v.get("image_value")
        if v.get("type") != "IMAGE" or not isinstance(image, dict) or not _IMAGE_KEY.search(key):
            continue
        url = http_url(image.get("url"))
        if url is None:
            continue
        w, h = _dimension(image.get("width")), _dimension(image.get("height"))
        rank = (key.endswith("_original"), w * h)
        if best is None or rank > best[0]:
            best = (rank, (url, w, h, _clean(image.get("alt"))))
    return best[1] if best else None


def _card_image(found: tuple[str, int, int, str | None] | None) -> MediaRef | None:
    if found is None:
        return None
    url, _w, _h, alt = found
    variants = photo_variants(url)
    return MediaRef(type="photo", url=variants[0][1], listed_url=url, alt_text=alt, source="card_image",
                    variants=variants, slot="card")


# --- text and URLs ----------------------------------------------------------------------------------
def _clean(value: Any, limit: int = MAX_TEXT) -> str | None:
    """A response's text as it may be kept: control characters (but tab and newline) dropped, at
    most ``limit`` characters; None for anything else or nothing left."""
    if not isinstance(value, str):
        return None
    text = _CONTROL.sub("", value[:limit * 2])[:limit]
    return text if text.strip() else None


def _content(value: Any) -> str | None:
    """A unified_card text: a string or ``{"content": str, ...}``."""
    if isinstance(value, dict):
        value = value.get("content")
    return _clean(value)


def _same_link(a: str, b: str) -> bool:
    """Two spellings of one short link: scheme, host case and a trailing slash aside."""
    def norm(u: str) -> str:
        parts = urlsplit(u)
        return parts.netloc.lower() + parts.path.rstrip("/") + ("?" + parts.query if parts.query else "")
    try:
        return norm(a) == norm(b)
    except ValueError:
        return False


def _expanded(tweet: dict[str, Any], t_co: str | None, b: Bindings) -> str | None:
    """Where the card's t.co leads: the tweet's URL entity for it, else ``card_url`` when it is
    already the destination (not a t.co link)."""
    if t_co:
        entities = tweet.get("entities")
        urls = entities.get("urls") if isinstance(entities, dict) else None
        for e in (urls if isinstance(urls, list) else [])[:MAX_ENTITY_URLS]:
            if isinstance(e, dict) and isinstance(e.get("url"), str) and _same_link(e["url"], t_co):
                expanded = http_url(e.get("expanded_url"))
                if expanded:
                    return expanded
    card_url = http_url(_string(b, "card_url"))
    return card_url if card_url and not _T_CO.fullmatch(card_url) else None


# --- polls ------------------------------------------------------------------------------------------
def _count(value: Any) -> int | None:
    """A count as a binding gives it: digits ("412"), digits with thousands separators ("1,204"), or a
    JSON number (412, 412.0) that is a whole non-negative count; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < 10**15 else None
    if isinstance(value, float):
        return int(value) if value.is_integer() and 0 <= value < 1e15 else None
    if not isinstance(value, str) or len(value) > 40:
        return None
    text = value.strip()
    if _COUNT.fullmatch(text):
        return int(text)
    if _GROUPED.fullmatch(text):
        return int(re.sub(r"[^0-9]", "", text))
    return None


def _count_value(b: Bindings, key: str) -> int | None:
    """A count binding (type STRING): its ``string_value`` as ``_count`` reads it, a JSON number given
    there too; None for a binding of another type."""
    v = b.get(key)
    if v is None or v.get("type") != "STRING":
        return None
    return _count(v.get("string_value"))


def _flag(b: Bindings, key: str) -> bool | None:
    """A BOOLEAN binding, or the strings "true" / "false" given in its place."""
    stated = _boolean(b, key)
    if stated is not None:
        return stated
    v = b.get(key)
    text = v.get("string_value") if v is not None else None
    if isinstance(text, str) and text.strip().lower() in ("true", "false"):
        return text.strip().lower() == "true"
    return None


def _utc(value: str | None) -> str | None:
    """An ISO 8601 time (no offset: taken as UTC) or Unix epoch milliseconds (13 digits) or seconds
    (10 digits) as the manifest's UTC ISO with a Z, or None."""
    if value is None or len(value) > 40:
        return None
    text = value.strip()
    try:
        if re.fullmatch(r"[0-9]{10}|[0-9]{13}", text):
            return utc_iso(datetime.fromtimestamp(int(text) / (1000 if len(text) == 13 else 1), UTC))
        dt = datetime.fromisoformat(text)
        return utc_iso(dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC))
    except (ValueError, OverflowError, OSError):  # not a time; a time that leaves the calendar in UTC
        return None


def _poll(name: str, n: int, b: Bindings, read_at: str) -> Poll | None:
    """The poll: choices 1 to N (N from the card's name, or the highest ``choiceK_label`` /
    ``choiceK_count`` binding when more are given, at most ``MAX_CHOICES``), each that has a label
    or a count, in order (a label binding of another type than STRING is no label). A choice whose
    label is empty or missing keeps its votes with the label "" (cards show "(no label)"): dropping
    it would change every other choice's share."""
    highest = max((int(m.group(1)) for key in b if (m := _CHOICE_KEY.fullmatch(key))), default=0)
    choices = []
    for i in range(1, min(MAX_CHOICES, max(n, highest)) + 1):
        label = _clean(_string(b, f"choice{i}_label"))
        count = _count_value(b, f"choice{i}_count")
        if label is not None or count is not None:
            choices.append(PollChoice(label=label or "", count=count))
    if not choices:
        return None
    read = _utc(read_at) if isinstance(read_at, str) else None
    return Poll(name=name, choices=choices, end_datetime=_utc(_string(b, "end_datetime_utc")),
                counts_are_final=_flag(b, "counts_are_final"),
                duration_minutes=_count_value(b, "duration_minutes"), read_at=read)


# --- unified_card -----------------------------------------------------------------------------------
def _app_url(app: Any) -> tuple[str | None, str | None]:
    """(store URL, title) of one app_store_data entry: Google Play for android_app, the App Store
    for iphone_app and ipad_app."""
    if not isinstance(app, dict) or not isinstance(app.get("id"), str):
        return None, None
    kind, app_id = app.get("type"), app["id"]
    url = None
    if kind == "android_app" and len(app_id) <= 200 and _ANDROID_ID.fullmatch(app_id):
        url = "https://play.google.com/store/apps/details?id=" + quote(app_id, safe="._")
    elif kind in ("iphone_app", "ipad_app") and (m := _APPLE_ID.fullmatch(app_id)):
        url = f"https://apps.apple.com/app/id{m.group(1)}"
    return url, _content(app.get("title"))


def _unified(tweet: dict[str, Any], b: Bindings,
             t_co: str | None) -> tuple[LinkCard | None, Poll | None, list[MediaRef]]:
    """A unified_card's link card: the first component's title (details ``title``, else ``name``,
    else an app's title) and subtitle (as description), the first destination a component names
    (``url_data.url`` and its ``vanity`` as domain, or an app store URL; else the first destination
    listed) as ``expanded_url``, and the first media component's image (``media_entities[id]
    .media_url_https``)."""
    raw = _string(b, "unified_card")
    if raw is None or len(raw) > MAX_UNIFIED_CARD:
        return None, None, []
    try:
        data = foreign_json.loads(raw)
    except ValueError:
        return None, None, []
    if not isinstance(data, dict):
        return None, None, []
    components = _obj(data.get("component_objects"))
    destinations = _obj(data.get("destination_objects"))
    media = _obj(data.get("media_entities"))
    apps = _obj(data.get("app_store_data"))
    order = data.get("components")
    names = [n for n in order if isinstance(n, str)] if isinstance(order, list) else []
    names += [n for n in components if n not in names]

    def app(app_id: Any) -> tuple[str | None, str | None]:
        entries = apps.get(app_id) if isinstance(app_id, str) else None
        return _app_url(entries[0]) if isinstance(entries, list) and entries else (None, None)

    def destination(ref: Any) -> tuple[str | None, str | None]:
        """(URL, domain) of a destination object named ``ref``."""
        dest = destinations.get(ref) if isinstance(ref, str) else None
        d = _obj(dest.get("data")) if isinstance(dest, dict) else {}
        url_data = _obj(d.get("url_data"))
        url = http_url(url_data.get("url"))
        if url:
            domain = _clean(url_data.get("vanity"), 253) or _clean(urlsplit(url).hostname, 253)
            return url, domain
        store_url, _title = app(d.get("app_id"))
        return store_url, _clean(urlsplit(store_url).hostname, 253) if store_url else None

    title = description = url = domain = None
    image: tuple[str, int, int, str | None] | None = None
    for cname in names[:MAX_COMPONENTS]:
        comp = components.get(cname)
        if not isinstance(comp, dict):
            continue
        kind, d = comp.get("type"), _obj(comp.get("data"))
        if kind == "app_store_details":
            store_url, app_title = app(d.get("app_id"))
            title = title or app_title
            if url is None and store_url:
                url, domain = store_url, _clean(urlsplit(store_url).hostname, 253)
        elif kind in ("media", "swipeable_media", "media_with_details_horizontal"):
            listed = d.get("media_list")
            first = listed[0] if isinstance(listed, list) and listed and isinstance(listed[0], dict) else d
            media_id = first.get("id") if isinstance(first.get("id"), str) else d.get("media_id")
            entity = media.get(media_id) if isinstance(media_id, str) else None
            if image is None and isinstance(entity, dict):
                found = http_url(entity.get("media_url_https"))
                info = _obj(entity.get("original_info"))
                if found:
                    image = (found, _dimension(info.get("width")), _dimension(info.get("height")),
                             _clean(entity.get("ext_alt_text")))
            if kind == "media_with_details_horizontal":
                topic = _obj(d.get("topic_detail"))
                title = title or _content(topic.get("title"))
        else:  # details, community_details, twitter_list_details, job_details, ...
            title = title or _content(d.get("title")) or _content(d.get("name"))
            description = description or _content(d.get("subtitle"))
        if url is None:
            url, domain = destination(d.get("destination"))
            if url is None and kind in ("media", "swipeable_media"):
                listed = d.get("media_list")
                if isinstance(listed, list) and listed and isinstance(listed[0], dict):
                    url, domain = destination(listed[0].get("destination"))
    if url is None:
        for ref in list(destinations)[:MAX_COMPONENTS]:
            url, domain = destination(ref)
            if url:
                break
    link = LinkCard(name="unified_card", url=t_co, expanded_url=url or _expanded(tweet, t_co, b),
                    title=title, description=description, domain=domain)
    ref = _card_image(image)
    return link, None, [ref] if ref else []


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
