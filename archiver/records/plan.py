"""The plan of one article source: its distinct items (posts grouped by id, images by URL), each
with every occurrence discovery found (the Embed or ImageRef records, spans included).

Stored once per source at ``articles/<id>/plans/<sha256>.json`` and read by every later step.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, computed_field

from archiver import __version__
from archiver.article.metadata import ArticleMetadata
from archiver.discover.model import Embed, ImageRef
from archiver.records.base import Record, empty_list
from archiver.storage.layout import source_key

SHA256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class EmbedFields(Record):
    """What an embed's plan item and its result both name: the item, the platform, the post id and URL."""

    item_id: str
    kind: Literal["embed"] = "embed"
    provider: str
    post_id: str | None = None
    url: str | None = None


class ImageFields(Record):
    """What an image's plan item and its result both name: the item and the image URL."""

    item_id: str
    kind: Literal["image"] = "image"
    url: str


class EmbedItem(EmbedFields):
    """One embedded post: every occurrence of it in the article (same provider and post id, or the
    same flattened text), richest markup first. `post_id` and `url` come from the occurrences."""

    what = "plan item"
    occurrences: list[Embed] = Field(min_length=1)


class ImageItem(ImageFields):
    """One image URL: every place the article uses it (img src, srcset, og:image, ...)."""

    what = "plan item"
    occurrences: list[ImageRef] = Field(min_length=1)


PlanItem = Annotated[EmbedItem | ImageItem, Field(discriminator="kind")]


class Plan(Record):
    """The distinct items of one article source, with every occurrence's span.

    Offsets count code points of the source decoded with `encoding`. `created_at` is ISO 8601 UTC.
    Stored with its `source_key` and the `archiver_version` that made it.
    """

    what = "plan"
    article_id: str
    source_sha256: SHA256
    encoding: str
    url: str | None = None
    base_url: str | None = None
    # The registrable domain (or IP, single label) whose hosts get the own-site politeness limits while
    # this plan's items are captured, decided once by prepare (archiver.capture.ownsite.OwnSites.
    # trusted_site); None, as in a plan made before it was decided: third-party limits only.
    own_site: str | None = Field(None, exclude_if=lambda v: v is None)
    created_at: str
    archiver_version: str = __version__
    # What the article says of itself (headline, published time); None in a plan made before it was
    # read (not written then, so such a plan is stored as it was).
    metadata: ArticleMetadata | None = Field(None, exclude_if=lambda v: v is None)
    items: list[PlanItem] = Field(default_factory=empty_list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def source_key(self) -> str:
        """Where the source this plan was made from is stored."""
        return source_key(self.article_id, self.source_sha256)

    @property
    def group(self) -> str:
        """The name of this plan's set of items in locks and done-sets: ``<article id>:<source sha256>``."""
        return f"{self.article_id}:{self.source_sha256}"

    def item(self, item_id: str) -> EmbedItem | ImageItem:
        """The item with this id; KeyError when the plan has none."""
        for it in self.items:
            if it.item_id == item_id:
                return it
        raise KeyError(item_id)

