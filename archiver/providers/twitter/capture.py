"""Twitter/X capture from three sources, each recorded with its own provenance.

1. The publisher's embed markup in the article (always there).
2. oEmbed: text, author, status URL.
3. Syndication: created_at, user, full text with t.co links expanded, media at original size, quoted
   tweet and reply parent (each snapshotted in its own right), edit control.

Flattened embeds without an id are resolved through their pic.twitter.com / t.co codes; when nothing
resolves an unresolved snapshot keeps what the article showed. Every exchange goes into the
capture's WARC. The sources themselves are read in ``api.py``. The capture returns what it found
(``CapturedPost``): the capture step archives the avatar and media and stores the quoted and parent
posts, the WARC, the cards and the manifest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from archiver.capture.manifest import (
    Edit,
    Manifest,
    PostRef,
    ReferencedBy,
    Source,
    new_capture_id,
    related_capture_id,
    utc_iso,
)
from archiver.providers import markup
from archiver.providers.base import CaptureContext, CapturedPost, MediaRef, Occurrence, Relation
from archiver.providers.twitter.api import (
    decide,
    edit_info,
    expand_text,
    fetch_oembed,
    fetch_syndication,
    related_id,
    resolve_shortlinks,
    str_or_none,
    synd_summary,
)
from archiver.providers.twitter.cards import read_card
from archiver.providers.twitter.ids import DIGITS, HANDLE, NAME, canonical_url, parse_time, snowflake_time
from archiver.providers.twitter.media import media_plan

if TYPE_CHECKING:
    from archiver.capture.exchange import Exchange

_AVATAR_SIZE = re.compile(r"_(?:normal|bigger|mini|x96|200x200|400x400)(\.\w+)$")
# The quoted and parent posts: (relation, the tweet's object key, the tweet's id key).
_RELATED: tuple[tuple[Relation, str, str | None], ...] = (
    ("quoted", "quoted_tweet", None), ("parent", "parent", "in_reply_to_status_id_str"))


class TwitterProvider:
    """The capture of one tweet with its quoted and parent posts (``capture``: one post's occurrences,
    richest markup first; never raises for remote trouble; stores nothing)."""

    name = NAME

    def capture(self, occurrences: Sequence[Occurrence], ctx: CaptureContext) -> CapturedPost:
        """The tweet from its markup, oEmbed and syndication, its media to archive and its quoted and
        parent posts captured in their own right (``Provider.capture``)."""
        if not occurrences:
            return CapturedPost(NAME, None, error="no occurrences to capture")
        first = next((o.embed for o in occurrences if o.embed.post_id and DIGITS.fullmatch(o.embed.post_id)), None)
        exchanges: list[Exchange] = []
        sources = [markup.markup_source(occurrences, ctx)]
        handle = next((o.embed.handle for o in occurrences
                       if o.embed.handle and HANDLE.fullmatch(o.embed.handle)), None)
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
                      occurrences: Sequence[Occurrence], sources: list[Source],
                      exchanges: list[Exchange], depth: int,
                      referenced_by: ReferencedBy | None = None) -> CapturedPost:
        oembed = fetch_oembed(ctx, post_id, handle)
        synd = fetch_syndication(ctx, post_id)
        exchanges += oembed.exchanges + synd.exchanges
        sources += [oembed.entry(oembed.data), synd.entry(synd_summary(synd))]
        tweet = synd.data if synd.outcome == "ok" else {}
        user = tweet.get("user") if isinstance(tweet.get("user"), dict) else {}
        o = oembed.data or {}
        mk = (sources[0].data or {}) if sources and sources[0].name == markup.MARKUP_SOURCE else {}
        handle = str_or_none(user.get("screen_name")) or o.get("handle") or handle
        m = markup.new_manifest(NAME, occurrences, ctx, post_id=post_id, capture_id=capture_id,
                                url=canonical_url(post_id, handle))
        text, expanded = expand_text(tweet)
        text_source = "syndication" if text else None
        if not text and o.get("text"):
            text, expanded, text_source = o["text"], o["text"], "oembed"
        has_content = bool(text and text.strip())
        if not text and mk.get("text"):
            text, expanded, text_source = mk["text"], mk["text"], markup.MARKUP_SOURCE
        m.text, m.text_expanded, m.text_source = text, expanded, text_source
        m.lang = str_or_none(tweet.get("lang")) or o.get("lang") or mk.get("lang")
        sensitive = tweet.get("possibly_sensitive")
        m.possibly_sensitive = sensitive if isinstance(sensitive, bool) else None
        edit = edit_info(tweet, post_id)
        m.edit = Edit.model_construct(**edit) if edit is not None else None
        a = m.author
        a.name = str_or_none(user.get("name")) or o.get("author") or mk.get("author")
        a.handle, a.id = handle, str_or_none(user.get("id_str"))
        a.verified = user.get("verified") if isinstance(user.get("verified"), bool) else None
        a.verified_type = str_or_none(user.get("verified_type"))
        self._times(m, post_id, tweet)
        if synd.outcome == "tombstone" and isinstance(synd.data, dict):
            tomb = synd.data.get("tombstone")
            tomb_text = tomb.get("text") if isinstance(tomb, dict) else None
            m.tombstone = str_or_none(tomb_text.get("text")) if isinstance(tomb_text, dict) else None
        if referenced_by is not None:
            m.referenced_by = [referenced_by]
        m.status, m.error = decide(oembed, synd, has_content)
        m.sources = sources
        captured = CapturedPost(NAME, m, exchanges=exchanges)
        if synd.outcome == "ok":
            avatar = str_or_none(user.get("profile_image_url_https"))
            if avatar:
                a.avatar_url = _AVATAR_SIZE.sub(r"\1", avatar)  # the original size; the capture step archives it
            captured.media = [MediaRef(**item) for item in media_plan(tweet)]
            card, poll, card_media = read_card(tweet, utc_iso(ctx.now()))
            if card is not None:
                m.card = card
            if poll is not None:
                m.poll = poll
            captured.media += card_media
            for relation, obj_key, id_key in _RELATED:
                if depth == 0:
                    related = self._related(ctx, tweet, obj_key, id_key, capture_id, relation)
                    if related is not None:
                        captured.related[relation] = related
                else:
                    setattr(m, relation, _ref(related_id(tweet, obj_key, id_key)))
        return captured

    @staticmethod
    def _times(m: Manifest, post_id: str, tweet: dict[str, Any]) -> None:
        snow = snowflake_time(post_id)
        stated = parse_time(tweet.get("created_at"))
        m.created_at_snowflake = utc_iso(snow) if snow else None
        m.created_at = utc_iso(stated or snow) if (stated or snow) else None
        # created_at is stated to the second; the snowflake to the millisecond.
        m.created_at_consistent = abs((stated - snow).total_seconds()) < 1.5 if stated and snow else None

    def _related(self, ctx: CaptureContext, tweet: dict[str, Any], obj_key: str, id_key: str | None,
                 capture_id: str, relation: Relation) -> CapturedPost | None:
        rid = related_id(tweet, obj_key, id_key)
        if rid is None:
            return None
        obj = tweet.get(obj_key) if isinstance(tweet.get(obj_key), dict) else {}
        user = obj.get("user") if isinstance(obj.get("user"), dict) else {}
        handle = str_or_none(user.get("screen_name")) or str_or_none(tweet.get("in_reply_to_screen_name"))
        handle = handle if handle and HANDLE.fullmatch(handle) else None
        return self._capture_post(ctx, rid, handle, related_capture_id(capture_id, relation), [], [], [], depth=1,
                                  referenced_by=ReferencedBy(capture_id=capture_id, relation=relation))

    @staticmethod
    def _unresolved(occurrences: Sequence[Occurrence], ctx: CaptureContext, sources: list[Source],
                    exchanges: list[Exchange], transient: bool) -> CapturedPost:
        e = occurrences[0].embed
        m = markup.new_manifest(NAME, occurrences, ctx, post_id=markup.unresolved_post_id(e),
                                capture_id=ctx.capture_id or new_capture_id(ctx.now()), url=None,
                                status="unavailable" if transient else "unresolved")
        mk = sources[0].data or {}
        m.text, m.text_expanded, m.text_source, m.lang = mk["text"], mk["text"], markup.MARKUP_SOURCE, mk["lang"]
        m.sources = sources
        m.error = "the shortlink service did not answer; try again" if transient \
            else "no status URL found for this flattened post; kept what the article showed"
        m.author.name, m.author.handle = e.author, e.handle
        return CapturedPost(NAME, m, exchanges=exchanges)


def _ref(post_id: str | None) -> PostRef | None:
    if post_id is None:
        return None
    return PostRef(post_id=post_id, url=canonical_url(post_id, None), capture_id=None, manifest_key=None, status=None)
