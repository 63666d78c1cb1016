"""Twitter/X capture from its sources, each recorded with its own provenance.

1. The publisher's embed markup in the article (always there).
2. oEmbed: text, author, status URL.
3. Syndication: created_at, user and its flags, the text with t.co links expanded, media at original
   size, cards and polls, counts and entities, the edit chain, the quoted tweet and reply parent, or
   what the platform shows instead of the post (a tombstone, a TweetUnavailable reason).
4. For a quoted or replied-to post, also the copy its quoting or replying post's answer carried
   (source "quoting_post" / "replying_post", with that answer's URL and time): its content when its
   own request has no post or fails.

The status is decided from all of them together (``states.decide``; the rules are there), the text by
one rule over every source's text (``texts.choose_text``; each source's text is kept in ``texts``).
Every medium the answer shows is planned for archiving or listed in ``missing`` (``media.plan_media``;
a pic.twitter.com link shown while the answer lists no media is missing too), so a capture lacking one
is partial. A quoted post (named by the quoted object, ``quoted_status_id_str`` or, for a quoted
tombstone that names no id, the quoting post's link to it: ``api.quoted_link``), a replied-to post and,
when the chain shows the embedded version of an edited post is stale (``api.edit_info``), its latest
version are captured in their own right (depth 1, ``related_capture_id``, ``referenced_by``).

Flattened embeds without an id are resolved through their pic.twitter.com / t.co codes; when nothing
resolves an unresolved snapshot keeps what the article showed. Every exchange goes into the
capture's WARC. The sources themselves are read in ``api.py``. The capture returns what it found
(``CapturedPost``): the capture step archives the avatar and media and stores the related posts, the
WARC, the cards and the manifest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archiver.capture.manifest import (
    CAPTURED_STATUSES,
    Edit,
    Entities,
    LinkEntity,
    Manifest,
    Mention,
    Metrics,
    MissingPart,
    PostRef,
    ReferencedBy,
    Source,
    new_capture_id,
    related_capture_id,
    source_entry,
    utc_iso,
)
from archiver.providers import markup
from archiver.providers.base import CaptureContext, CapturedPost, MediaRef, Occurrence
from archiver.providers.twitter.answers import RELATED, post_times, shows_media
from archiver.providers.twitter.api import (
    edit_info,
    entities_info,
    expand_links,
    expand_text,
    fetch_sources,
    metrics_info,
    note_text,
    other_post_id,
    quoted_link,
    related_id,
    resolve_shortlinks,
    str_or_none,
    synd_summary,
    tweet_summary,
)
from archiver.providers.twitter.cards import read_card
from archiver.providers.twitter.ids import DIGITS, HANDLE, NAME, canonical_url
from archiver.providers.twitter.media import plan_media
from archiver.providers.twitter.states import Answer, decide, read_answer, withheld_countries
from archiver.providers.twitter.texts import choose_text

if TYPE_CHECKING:
    from archiver.capture.exchange import Exchange

_AVATAR_SIZE = re.compile(r"_(?:normal|bigger|mini|x96|200x200|400x400)(\.\w+)$")
# pic.twitter.com / pic.x.com links in a text: media a post shows.
_PIC_LINK = re.compile(r"(?i)(?<![\w.])(?:https?://)?pic\.(?:twitter|x)\.com/([A-Za-z0-9]{1,40})")
MAX_MISSING_LINKS = 20


@dataclass
class _Embedded:
    """A related post's copy inside its quoting or replying post's syndication answer: a source of
    the related post's capture (``name`` "quoting_post" / "replying_post"; ``source`` carries that
    answer's request URL, time, status and body hash; ``exchanges`` that answer's, for the WARC)."""

    name: str
    answer: Answer
    source: Source
    exchanges: list[Exchange] = field(default_factory=list)


class TwitterProvider:
    """The capture of one tweet with its quoted and parent posts (``capture``: one post's occurrences,
    richest markup first; never raises for remote trouble; stores nothing)."""

    name = NAME

    def capture(self, occurrences: Sequence[Occurrence], ctx: CaptureContext) -> CapturedPost:
        """The tweet from its markup, oEmbed and syndication, its media to archive and its quoted,
        parent and latest-version posts captured in their own right (``Provider.capture``)."""
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

    # The whole capture of one post; related posts come back here with depth 1.
    def _capture_post(self, ctx: CaptureContext, post_id: str, handle: str | None, capture_id: str,
                      occurrences: Sequence[Occurrence], sources: list[Source],
                      exchanges: list[Exchange], depth: int,
                      referenced_by: ReferencedBy | None = None, embedded: _Embedded | None = None) -> CapturedPost:
        oembed, synd = fetch_sources(ctx, post_id, handle)
        exchanges += oembed.exchanges + synd.exchanges
        synd_entry = synd.entry(synd_summary(synd))
        sources += [oembed.entry(oembed.data), synd_entry]
        if embedded is not None:
            sources.append(embedded.source)
            exchanges += [e for e in embedded.exchanges if all(e is not x for x in exchanges)]
        answer = synd.data if isinstance(synd.data, Answer) else None
        own = answer.tweet if answer is not None and answer.kind == "tweet" else None
        copy = embedded.answer.tweet if embedded is not None and embedded.answer.kind == "tweet" else None
        tweet: dict[str, Any] = own or copy or {}
        read_at = synd_entry.fetched_at if own else embedded.source.fetched_at if copy and embedded else None
        user = tweet.get("user") if isinstance(tweet.get("user"), dict) else {}
        o = oembed.data or {}
        mk = (sources[0].data or {}) if sources and sources[0].name == markup.MARKUP_SOURCE else {}
        handle = _handle(user.get("screen_name")) or _handle(o.get("handle")) or _handle(handle)
        m = markup.new_manifest(NAME, occurrences, ctx, post_id=post_id, capture_id=capture_id,
                                url=canonical_url(post_id, handle))
        # A post object showing media has content even without a text (a photo-only post, a copy
        # whose text the quoting post's answer left out).
        has_content = self._text(m, mk, o, own, copy, embedded) or any(shows_media(t) for t in (own, copy) if t)
        m.lang = str_or_none(tweet.get("lang")) or o.get("lang") or mk.get("lang")
        sensitive = tweet.get("possibly_sensitive")
        m.possibly_sensitive = sensitive if isinstance(sensitive, bool) else None
        edit = edit_info(tweet, post_id)
        m.edit = Edit.model_construct(**edit) if edit is not None else None
        self._author(m, user, o, mk, handle)
        self._times(m, post_id, tweet)
        if read_at is not None:
            counts = metrics_info(tweet, read_at)
            if counts is not None:
                m.metrics = Metrics(**counts)
        ents = entities_info(tweet)
        if ents is not None:
            m.entities = Entities(mentions=[Mention(**e) for e in ents["mentions"]], hashtags=ents["hashtags"],
                                  urls=[LinkEntity(**u) for u in ents["urls"]])
        if referenced_by is not None:
            m.referenced_by = [referenced_by]
        m.status, m.error = decide(oembed, synd, has_content, embedded.answer if embedded else None,
                                   embedded.name if embedded else "embedded")
        self._notices(m, answer, embedded, tweet)
        missing: list[MissingPart] = []
        if m.status == "partial":  # syndication failed; the copy gave the content
            missing.append(MissingPart(part="syndication", ref=synd.url, reason=m.error or synd.outcome))
        planned, unplanned = plan_media(tweet) if tweet else ([], [])
        missing += unplanned  # media the answer shows that cannot be fetched: the capture is partial
        if tweet and not planned and not unplanned:  # pic links shown, no media listed at all
            missing += self._pic_links_missing(o, mk, "the post shows this medium (a pic link in its text) but "
                                                      "the answer lists no media")
        if missing:
            m.missing = missing
        m.sources = sources
        captured = CapturedPost(NAME, m, exchanges=exchanges)
        if tweet:
            avatar = str_or_none(user.get("profile_image_url_https"))
            if avatar:
                m.author.avatar_url = _AVATAR_SIZE.sub(r"\1", avatar)  # the original size; the capture step archives it
            captured.media = [MediaRef(**item) for item in planned]
            # A poll's counts were read when the answer holding them was fetched, as the metrics'.
            card, poll, card_media = read_card(tweet, read_at or utc_iso(ctx.now()))
            if card is not None:
                m.card = card
            if poll is not None:
                m.poll = poll
            captured.media += card_media
            self._related(ctx, m, captured, tweet, synd.exchanges, capture_id, depth)
        return captured

    @staticmethod
    def _text(m: Manifest, mk: dict[str, Any], o: dict[str, Any], own: dict[str, Any] | None,
              copy: dict[str, Any] | None, embedded: _Embedded | None) -> bool:
        """Each source's text into ``m.texts``, the fullest into ``m.text`` (``texts.choose_text``);
        whether a source other than the publisher's markup gave one."""
        candidates: list[tuple[str, str | None, bool | None]] = [
            (markup.MARKUP_SOURCE, mk.get("text"), None), ("oembed", o.get("text"), None)]
        for name, tw in (("syndication", own), (embedded.name if embedded else "", copy)):
            if tw is not None:
                candidates.append((name, expand_text(tw)[0], not isinstance(tw.get("note_tweet"), dict)))
                candidates.append(("note_tweet", note_text(tw), True))
        texts, chosen, complete = choose_text(candidates)
        tweet = own or copy or {}
        if texts:
            m.texts = texts
        if chosen is not None:
            m.text, m.text_expanded, m.text_source = chosen.text, expand_links(chosen.text, tweet), chosen.source
            m.text_complete = complete
        else:
            m.text, m.text_expanded, m.text_source = None, None, None
        return any(t.source != markup.MARKUP_SOURCE for t in texts)

    @staticmethod
    def _author(m: Manifest, user: dict[str, Any], o: dict[str, Any], mk: dict[str, Any], handle: str | None) -> None:
        a = m.author
        a.name = str_or_none(user.get("name")) or o.get("author") or mk.get("author")
        a.handle, a.id = handle, str_or_none(user.get("id_str"))
        a.verified = user.get("verified") if isinstance(user.get("verified"), bool) else None
        if isinstance(user.get("is_blue_verified"), bool):
            a.is_blue_verified = user["is_blue_verified"]
        a.verified_type = str_or_none(user.get("verified_type"))
        shape = str_or_none(user.get("profile_image_shape"))
        if shape is not None:
            a.profile_image_shape = shape[:40]

    @staticmethod
    def _notices(m: Manifest, answer: Answer | None, embedded: _Embedded | None, tweet: dict[str, Any]) -> None:
        """What the platform shows instead of (or before) the post: the tombstone text verbatim, the
        interstitial, the countries it is withheld in. Called once ``m.status`` is decided: a
        tombstone text is kept only for a capture whose status is not archived or partial (the post's
        own answer showing the post outranks a copy's tombstone, which stays in that copy's source
        entry)."""
        answers = [a for a in (answer, embedded.answer if embedded else None) if a is not None]
        tomb = next((a.tombstone for a in answers if a.kind == "tombstone" and a.tombstone), None)
        if tomb is not None and m.status not in CAPTURED_STATUSES:
            m.tombstone = tomb
        interstitial = next((a.interstitial for a in answers if a.interstitial), None)
        if interstitial is not None:
            m.interstitial = interstitial
        countries = withheld_countries(tweet)
        if countries:
            m.withheld_in_countries = countries

    @staticmethod
    def _pic_links_missing(o: dict[str, Any], mk: dict[str, Any], reason: str) -> list[MissingPart]:
        """One missing part per pic.twitter.com / pic.x.com link the post's text shows (oEmbed's or
        the publisher's), when no source gave the media's URLs; ``reason`` says why."""
        seen: dict[str, str] = {}
        texts = [o.get("text"), *(o.get("links") or []), mk.get("text"), *(mk.get("media_links") or [])]
        for text in texts:
            for hit in _PIC_LINK.finditer(text if isinstance(text, str) else ""):
                link = hit.group(0)
                seen.setdefault(hit.group(1), link)
        return [MissingPart(part="media", ref=link, reason=reason) for link in list(seen.values())[:MAX_MISSING_LINKS]]

    def _related(self, ctx: CaptureContext, m: Manifest, captured: CapturedPost, tweet: dict[str, Any],
                 answer_exchanges: list[Exchange], capture_id: str, depth: int) -> None:
        """The quoted and replied-to posts and, when this version is stale, the latest version: captured
        in their own right at depth 0, only referred to (``PostRef``) deeper."""
        for relation, obj_key, id_key, source_name in RELATED:
            rid = related_id(tweet, obj_key, id_key)
            linked = quoted_link(tweet, m.post_id) if rid is None and relation == "quoted" else None
            if linked is not None:  # a quoted tombstone names no id: the quoting post's link to it does
                rid = linked[1]
            if rid is None:
                continue
            if depth > 0:
                setattr(m, relation, _ref(rid))
                continue
            obj = tweet.get(obj_key)
            embedded = None
            if isinstance(obj, dict):
                ans = read_answer(obj)
                other = other_post_id(ans.tweet, rid) if ans.kind == "tweet" else None
                if other is not None:  # a copy describing another post is not this post's copy
                    ans = Answer("other", ans.typename, tweet=ans.tweet, other_id=other)
                outcome = "ok" if ans.kind == "tweet" else ans.kind if ans.kind != "other" else "bad_response"
                embedded = _Embedded(source_name, ans, source_entry(source_name, answer_exchanges, outcome=outcome,
                                                                    data=tweet_summary(ans)),
                                     list(answer_exchanges))
            user = (embedded.answer.tweet or {}).get("user") if embedded and embedded.answer.kind == "tweet" else None
            handle = _handle(user.get("screen_name")) if isinstance(user, dict) else None
            handle = handle or _handle(tweet.get("in_reply_to_screen_name") if relation == "parent" else None)
            handle = handle or _handle(linked[0] if linked is not None else None)
            captured.related[relation] = self._capture_post(
                ctx, rid, handle,
                related_capture_id(capture_id, relation), [], [], [], depth=1,
                referenced_by=ReferencedBy(capture_id=capture_id, relation=relation), embedded=embedded)
        edit = m.edit
        latest = edit.latest_id if edit is not None else None
        if edit is None or latest is None or latest == m.post_id or edit.is_stale is not True:
            return  # only a version the chain shows to be stale has a latest version (api.edit_info)
        if depth > 0:
            m.latest_edit = _ref(latest)
            return
        captured.related["latest_edit"] = self._capture_post(
            ctx, latest, m.author.handle, related_capture_id(capture_id, "latest_edit"), [], [], [], depth=1,
            referenced_by=ReferencedBy(capture_id=capture_id, relation="latest_edit"))

    @staticmethod
    def _times(m: Manifest, post_id: str, tweet: dict[str, Any]) -> None:
        """The post's dates on the manifest, by ``post_times``."""
        m.created_at, m.created_at_snowflake, m.created_at_consistent = post_times(post_id, tweet)

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


def _handle(value: Any) -> str | None:
    """``value`` when it is a handle as the platform allows them (1-15 of ``[A-Za-z0-9_]``), else None:
    anything else ("../../etc", a name, 40 characters) is never used as the post's handle (an answer's
    raw ``screen_name`` stays in its source entry's ``data``)."""
    return value if isinstance(value, str) and HANDLE.fullmatch(value) else None


def _ref(post_id: str | None) -> PostRef | None:
    if post_id is None:
        return None
    return PostRef(post_id=post_id, url=canonical_url(post_id, None), capture_id=None, manifest_key=None, status=None)


