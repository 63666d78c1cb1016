"""Item results: the stored outcome of capturing one item of a plan, at
``articles/<id>/results/<source sha256>/<item_id>.json``.

An embed's result names the capture it ended with by its `manifest_key` (the catalog's name for
the manifest's object key). Stored results, the `archiver archive --json` report and the HTTP API
have always called it "snapshot", and they still do: the field is written under that alias.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, ConfigDict, Field, TypeAdapter

from archiver.capture.manifest import FINAL_STATUSES
from archiver.providers.base import EMBED_STATUSES
from archiver.records.base import Record, load_as
from archiver.records.plan import EmbedFields, EmbedItem, ImageFields, ImageItem
from archiver.storage.layout import filed_post_id_of

# The outcomes that end an item; the others ("partial", "unavailable", "failed") are captured again by retry.
FINAL_EMBED_STATUSES = FINAL_STATUSES
FINAL_IMAGE_STATUSES = ("archived", "rejected")
IMAGE_STATUSES = ("archived", "rejected", "failed")
# Stored while a capture runs: its capture id is fixed, so a capture run again writes the same keys.
CAPTURING = "capturing"


def _one_of(allowed: tuple[str, ...]) -> AfterValidator:
    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"status {value!r} is not one of {', '.join(allowed)}")
        return value
    return AfterValidator(check)


class _Outcome(Record):
    """What every item result has besides the item's fields: its status and error, and how many
    occurrences of the item it stands for."""

    what = "item result"
    # The statuses that end the item (a retry leaves it alone).
    finals: ClassVar[tuple[str, ...]] = ()
    status: str
    error: str | None = None
    occurrences: int = 1
    # Which capture attempt of the item this is: 0 the first, n the n-th retry on the schedule of
    # the capture_retry_delays setting (the sweeper reads it to know when the next one is due).
    attempt: int = 0

    def to_json(self) -> dict[str, Any]:
        """The stored shape; `attempt` only when it is not 0, so a first capture's result keeps the
        shape results had before retries were counted."""
        data = super().to_json()
        if not data.get("attempt"):
            data.pop("attempt", None)
        return data

    @property
    def final(self) -> bool:
        """Whether this outcome ends the item (a retry leaves it alone)."""
        return self.status in self.finals


class EmbedResult(_Outcome, EmbedFields):
    """What capturing one embedded post ended with.

    status: one of EMBED_STATUSES, or "capturing" while a capture runs. manifest_key (stored as
    "snapshot"): the manifest of the capture, None when nothing was stored. capture_id and
    captured_at (ISO 8601 UTC) identify that capture. occurrences: how many times the article
    embeds the post.
    """

    finals = FINAL_EMBED_STATUSES
    status: Annotated[str, _one_of((*EMBED_STATUSES, CAPTURING))]
    manifest_key: str | None = Field(None, alias="snapshot")
    capture_id: str | None = None
    captured_at: str | None = None

    @property
    def filed_id(self) -> str | None:
        """The id the post is stored and indexed under (``posts/<provider>/<id>/``, the catalog's
        posts, captures and compliance rows), which `post_id` (the platform's, Telegram's "channel/123")
        may not be: archiver.storage.layout.filed_post_id_of. Compare this, never `post_id`, with
        what storage or the catalog hold."""
        return filed_post_id_of(self.manifest_key, self.post_id)


class ImageResult(_Outcome, ImageFields):
    """What archiving one image ended with.

    status: archived, rejected (not an image we keep) or failed (worth retrying). sha256 and key:
    the original's digest and object key; mime its sniffed type; stable_url the public URL the
    article now points at. occurrences: how many places the article uses the URL. fetched_at (ISO 8601
    UTC, archived only; absent from results stored before it was kept): when the original was fetched
    from the URL (an earlier fetch reused within media_dedupe_window keeps that fetch's time) — the
    Memento datetime of the image (archiver reindex rebuilds url_history from it). refused_under
    (rejected by our own policy only; absent otherwise): the values of the settings that refused it, by
    name (archiver/steps/policy.py), so `archiver retry` tries it again once they change.
    """

    finals = FINAL_IMAGE_STATUSES
    status: Annotated[str, _one_of(IMAGE_STATUSES)]
    sha256: str | None = None
    key: str | None = None
    mime: str | None = None
    stable_url: str | None = None
    fetched_at: str | None = None
    refused_under: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        """The stored shape; `fetched_at` and `refused_under` only when set (results keep the shape
        they had before them)."""
        data = super().to_json()
        for name in ("fetched_at", "refused_under"):
            if data.get(name) is None:
                data.pop(name, None)
        return data


ItemResult = EmbedResult | ImageResult
# Built on first use like the records themselves.
_ITEM_RESULT: TypeAdapter[ItemResult] = TypeAdapter(Annotated[ItemResult, Field(discriminator="kind")],
                                                    config=ConfigDict(defer_build=True))


def load_item_result(data: bytes | str, key: str) -> ItemResult:
    """The item result stored at `key` (either kind); RecordError when it is not one."""
    return load_as(_ITEM_RESULT, data, key, "item result")


def failed_result(item: EmbedItem | ImageItem, reason: str | None) -> ItemResult:
    """A failed outcome of `item` (retry captures it again), with `reason` as its error."""
    if isinstance(item, EmbedItem):
        return EmbedResult(item_id=item.item_id, provider=item.provider, post_id=item.post_id, url=item.url,
                           status="failed", error=reason, occurrences=len(item.occurrences))
    return ImageResult(item_id=item.item_id, url=item.url, status="failed", error=reason,
                       occurrences=len(item.occurrences))
