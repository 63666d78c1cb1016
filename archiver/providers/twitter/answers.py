"""What a tweet's answer says, read alike by the capture (archiver.providers.twitter.capture) and by
``archiver verify`` (archiver.capture.warc re-derives a manifest from the stored answer): one rule for
both, in a module light enough for the verifier to import without the capture's machinery."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archiver.capture.manifest import utc_iso
from archiver.providers.twitter.ids import parse_time, snowflake_time

if TYPE_CHECKING:
    from archiver.providers.base import Relation

# The quoted and parent posts: (relation, the tweet's object key, the tweet's id key, the name of the
# source the object is for the related post's capture).
RELATED: tuple[tuple[Relation, str, str | None, str], ...] = (
    ("quoted", "quoted_tweet", "quoted_status_id_str", "quoting_post"),
    ("parent", "parent", "in_reply_to_status_id_str", "replying_post"))


def post_times(post_id: str, tweet: dict[str, Any]) -> tuple[str | None, str | None, bool | None]:
    """(created_at, created_at_snowflake, created_at_consistent) of a post from its id and its answer:
    the one rule the capture sets them by and ``archiver verify`` checks them by.
    ``created_at_snowflake`` is the time inside the id; ``created_at_consistent`` whether the answer's
    stated ``created_at`` agrees with it (None when either is missing). The post's ``created_at`` is the
    stated time when it agrees (or the id is a pre-snowflake one), else the id's own time: a stated date
    the id contradicts is never shown as the post's date (it stays in the syndication source's
    ``data``, and ``created_at_consistent`` False flags it). Times are ISO 8601 UTC strings."""
    snow = snowflake_time(post_id)
    stated = parse_time(tweet.get("created_at"))
    # created_at is stated to the second; the snowflake to the millisecond.
    consistent = abs((stated - snow).total_seconds()) < 1.5 if stated and snow else None
    shown = snow if consistent is False else stated or snow
    return (utc_iso(shown) if shown else None), (utc_iso(snow) if snow else None), consistent


def shows_media(tweet: dict[str, Any]) -> bool:
    """Whether a tweet object lists media (mediaDetails, photos or media entities)."""
    entities = tweet.get("entities") if isinstance(tweet.get("entities"), dict) else {}
    return any(isinstance(v, list) and v for v in (tweet.get("mediaDetails"), tweet.get("photos"),
                                                   entities.get("media")))
