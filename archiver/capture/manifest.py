"""The capture manifest: what was captured of one post and how, as a typed model.

A manifest is stored at ``posts/<provider>/<post_id>/<capture_id>.json`` and is a public interface:
its JSON shape is version 2 of the schema, ``archiver/schemas/manifest.v2.json``, which is generated
from the models here (``python -m archiver.capture.manifest --schema`` prints it; ``--write`` writes
it; a test keeps the checked-in file equal to what the models generate). Stored manifests are
validated by the model itself (``validate_manifest``, ``load_manifest``).

Version 2 adds to version 1 and changes nothing in it: the platform's states (``suspended``,
``withheld``, ``age_restricted``, ``violated_rules``) and ``partial``; each source's text
(``texts``) and ``text_complete``; link cards and polls; counts and entities with the time they
were read; the edit chain and the latest version; media size variants and flags; the parts a capture
lacks (``missing``). Version 1 manifests already in storage (``archiver/schemas/manifest.v1.json``,
frozen) still load through the same model: a version 1 document may not use version 2's top-level
fields or statuses.

Optional fields are written only when a capture set them (``to_json`` leaves unset ones out), so a
Twitter manifest carries ``edit`` and ``created_at_snowflake`` while a markup-only one does not, as
they always did.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from archiver import __version__
from archiver.capture.statuses import CAPTURED_STATUSES as CAPTURED_STATUSES
from archiver.capture.statuses import EMBED_STATUSES as EMBED_STATUSES
from archiver.capture.statuses import FINAL_STATUSES as FINAL_STATUSES
from archiver.capture.statuses import GONE_STATUSES as GONE_STATUSES
from archiver.capture.statuses import RETRYABLE_STATUSES as RETRYABLE_STATUSES
from archiver.capture.statuses import STATUS_WORDS as STATUS_WORDS
from archiver.capture.statuses import V1_STATUSES as V1_STATUSES
from archiver.capture.statuses import EmbedStatus as EmbedStatus
from archiver.errors import ArchiverError
from archiver.records.factories import empty_list

# The capture statuses (EMBED_STATUSES, STATUS_WORDS, ...) are defined in archiver/capture/statuses.py,
# which loads no pydantic, and re-exported here.

if TYPE_CHECKING:
    from archiver.capture.exchange import Exchange

SCHEMA_ID = "archiver.manifest.v2"
SCHEMA_FILE = "manifest.v2.json"
SCHEMA_V1 = "archiver.manifest.v1"
# Every manifest schema id this code reads (stored captures of older versions stay readable).
MANIFEST_SCHEMAS = (SCHEMA_V1, SCHEMA_ID)

Utc = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
CaptureId = Annotated[str, StringConstraints(pattern=r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")]
Count = Annotated[int, Field(ge=0)]


class ManifestError(ArchiverError):
    """A manifest does not satisfy the schema; the message names the first offending field."""


class _Part(BaseModel):
    """Every part of a manifest: strict JSON types, no field the schema does not name.

    Validators and serializers are built on first use (``defer_build``; pydantic builds them under its
    own lock), not when the module is imported: a run that validates no manifest does not pay for them.
    """

    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)


class Author(_Part):
    """Who posted it. ``avatar_url`` is the avatar at its original size; the capture step archives it
    and sets ``avatar_sha256``."""

    name: str | None
    handle: str | None
    id: str | None
    avatar_sha256: Sha256 | None
    avatar_url: str | None = None
    verified: bool | None = None
    verified_type: str | None = None
    is_blue_verified: bool | None = Field(None, description="v2: the paid check mark (Twitter)")
    profile_image_shape: str | None = Field(None, description="v2: Circle, Square (organisations), Hexagon")


class Edit(_Part):
    """The post's edit chain (Twitter's edit_control; on an earlier version, its
    edit_control_initial). ``edit_ids`` is the whole chain in order, first the initial post, last the
    latest version; ``is_latest`` says whether this post is that latest version."""

    edit_ids: list[str]
    is_edited: bool
    is_latest: bool
    latest_id: str | None = None
    editable_until: Utc | None = None
    edits_remaining: int | None = None
    initial_id: str | None = Field(None, description="v2: the first version's id")
    is_edit_eligible: bool | None = Field(None, description="v2: the platform allowed edits")
    is_stale: bool | None = Field(None, description="v2: this version is no longer the latest: the post is in "
                                                    "the chain and not its last (isStaleEdit is checked "
                                                    "against the chain)")


class MediaAvailability(_Part):
    """v2: the platform's ext_media_availability: "Available" or "Unavailable", and why (Geoblocked, ...)."""

    status: str | None
    reason: str | None = None


class SensitiveWarning(_Part):
    """v2: the platform's sensitive_media_warning flags."""

    adult_content: bool | None = None
    graphic_violence: bool | None = None
    other: bool | None = None


class Media(_Part):
    """One archived (or not) medium: the original's digest and key, what was fetched, as listed."""

    type: Literal["photo", "video", "animated_gif", "thumbnail"]
    status: Literal["archived", "rejected", "failed"]
    error: str | None = None
    sha256: Sha256 | None
    key: str | None = None
    mime: str | None
    bytes: Count | None
    width: Count | None
    height: Count | None
    duration: Annotated[float, Field(ge=0)] | None
    original_url: str
    final_url: str | None = None
    listed_url: str | None = None
    bitrate: int | None = None
    poster_url: str | None = None
    alt_text: str | None
    poster_sha256: Sha256 | None = None
    poster_key: str | None = None
    variant: str | None = Field(None, description="v2: which size was stored (orig, 4096x4096, large, "
                                                  "medium, ...), when the platform serves several")
    degraded: bool | None = Field(None, description="v2: true when what was stored is not the original size")
    poster_variant: str | None = Field(None, description="v2: which size of the poster was stored")
    availability: MediaAvailability | None = None
    sensitive_warning: SensitiveWarning | None = None
    possibly_sensitive: bool | None = None
    source_status_id: str | None = Field(None, description="v2: reused media: the post it first appeared in")
    source_user_id: str | None = Field(None, description="v2: reused media: the account that first posted it")


class PostRef(_Part):
    """A quoted or parent post: its own capture when it was captured in its own right."""

    post_id: str
    url: str | None = None
    capture_id: CaptureId | None
    manifest_key: str | None
    status: str | None


class ReferencedBy(_Part):
    """The capture that quoted this post, replied to it, or (v2, ``latest_edit``) showed an earlier
    version of it: ``relation`` is what this post is to that capture."""

    capture_id: CaptureId
    relation: Literal["quoted", "parent", "latest_edit"]


class SourceText(_Part):
    """v2: the post's text as one source gave it. ``complete`` is False when the source is known to
    give a preview (a long post's syndication text), None when nothing says."""

    source: str
    text: str
    complete: bool | None = None


class LinkCard(_Part):
    """v2: a link preview the post shows (Twitter's summary, summary_large_image, player, or a decoded
    unified_card): the card's name, its t.co URL and where it leads, title, description, domain and
    its image (archived at its original size like any medium)."""

    name: str
    url: str | None = None
    expanded_url: str | None = None
    title: str | None = None
    description: str | None = None
    domain: str | None = None
    image: Media | None = None


class PollChoice(_Part):
    """v2: one choice of a poll: its label and the count read at ``Poll.read_at``."""

    label: str
    count: Count | None = None


class Poll(_Part):
    """v2: a poll (Twitter's poll2choice_text_only ... poll4choice_image): every choice in order, when it
    ends, whether its counts are final and when they were read."""

    name: str
    choices: list[PollChoice]
    end_datetime: Utc | None = None
    counts_are_final: bool | None = None
    duration_minutes: Count | None = None
    read_at: Utc | None = None


class Metrics(_Part):
    """v2: counts the platform showed, and when they were read (they change after the capture)."""

    read_at: Utc
    favorite_count: Count | None = None
    conversation_count: Count | None = None
    retweet_count: Count | None = None
    reply_count: Count | None = None
    quote_count: Count | None = None
    view_count: Count | None = None


class Mention(_Part):
    """v2: an account the post mentions."""

    handle: str
    id: str | None = None
    name: str | None = None


class LinkEntity(_Part):
    """v2: a link in the post's text: the t.co URL, where it leads and how it was shown."""

    url: str
    expanded_url: str | None = None
    display_url: str | None = None


class Entities(_Part):
    """v2: what the post's text links to: mentioned accounts, hashtags, links."""

    mentions: list[Mention] = Field(default_factory=empty_list)
    hashtags: list[str] = Field(default_factory=empty_list)
    urls: list[LinkEntity] = Field(default_factory=empty_list)


class MissingPart(_Part):
    """v2: a part the sources show exists that the capture lacks (so its status is ``partial``):
    ``part`` names what (photo, video, animated_gif, card_image, quoted, parent, latest_edit, ...),
    ``ref`` which one (a URL, a short link, a post id), ``reason`` why it is missing."""

    part: str
    ref: str | None = None
    reason: str


class Attribution(_Part):
    """What the article showed as the post's attribution."""

    shown: str | None = Field(description="the attribution line as the article showed it, "
                                          "e.g. '— ANI (@ANI) July 15, 2025'")
    source_lines: list[str]
    author: str | None = None
    handle: str | None = None
    date: str | None = None


class ArticleOccurrence(_Part):
    """Where the article embeds the post: code point offsets of the decoded article, and the form."""

    start: Count
    end: Count
    form: str


class ArticleRef(_Part):
    """An article that embeds the post, with every occurrence."""

    article_id: str | None
    url: str | None
    occurrences: list[ArticleOccurrence]


class Source(_Part):
    """Provenance of one source: the first request's URL, the last response's URL, status and body hash."""

    name: Annotated[str, Field(min_length=1)]
    request_url: str | None
    final_url: str | None
    fetched_at: Utc
    http_status: int | None
    response_sha256: Sha256 | None
    outcome: str = Field(description="what this source said: ok, not_found, forbidden, empty, tombstone, "
                                     "rate_limited, error, ...")
    error: str | None = None
    data: dict[str, Any] | None = Field(None, description="what this source carried, in the archiver's field names")


class Cards(_Part):
    """The static cards rendered from this manifest: a sanitized HTML fragment and a PNG, by key; and
    (set by archiver.capture.record since issue 16, absent in older captures) the SHA-256 of each card's
    stored bytes and of the capture's human page (``posts/<p>/<id>/<cid>.html``) as stored. The page
    does not show the manifest's own digest (that would be a cycle: the manifest names the page's); the
    signed manifest binds the page, the cards and the WARC instead."""

    html: str
    png: str
    html_sha256: Sha256 | None = Field(None, description="v2: SHA-256 of the stored HTML card's bytes")
    png_sha256: Sha256 | None = Field(None, description="v2: SHA-256 of the stored PNG card's bytes")
    page_sha256: Sha256 | None = Field(None, description="v2: SHA-256 of the stored capture page's bytes")


def _this_version(schema: dict[str, Any]) -> None:
    """The generated schema names only the version it describes."""
    schema.pop("enum", None)
    schema["const"] = SCHEMA_ID


class Manifest(_Part):
    """One capture of one social post: what each source said, with provenance, and where the archived
    bytes are. Raw HTTP exchanges are kept beside it as WARC records."""

    # Version 1 documents load too (see the module's docstring); the schema describes version 2.
    schema_: Literal["archiver.manifest.v1", "archiver.manifest.v2"] = Field(alias="schema",
                                                                             json_schema_extra=_this_version)
    archiver_version: Annotated[str, Field(min_length=1)]
    capture_id: CaptureId
    captured_at: Utc
    provider: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
    post_id: Annotated[str, Field(min_length=1, max_length=200)]
    status: EmbedStatus = Field(description=(
        "archived: every part the sources show was captured; partial (v2): captured, but parts the sources "
        "show exist are missing (listed in missing; retried); unavailable: the platform did not answer "
        "(retried); failed: nothing could be captured (retried); what the platform shows instead of the post: "
        "deleted (by its author, or gone from every source), suspended (v2: the account), protected (the "
        "account limits who sees it), withheld (v2: in some countries, see withheld_in_countries), "
        "age_restricted (v2: not shown to logged-out readers), violated_rules (v2: removed for breaking the "
        "rules), tombstoned (any other notice, its text kept verbatim in tombstone); unresolved: the article "
        "shows a post without a link to it"))
    error: str | None = Field(None, description="why the status is not archived, in one line")
    url: str | None
    author: Author
    created_at: Utc | None
    created_at_snowflake: Utc | None = None
    created_at_consistent: bool | None = None
    text: str | None
    text_expanded: str | None
    lang: str | None
    possibly_sensitive: bool | None = None
    tombstone: str | None = None
    edit: Edit | None = None
    media: list[Media]
    quoted: PostRef | None
    parent: PostRef | None
    referenced_by: list[ReferencedBy] = Field(default_factory=empty_list)
    attribution: Attribution
    articles: list[ArticleRef]
    sources: list[Source]
    warc: str | None
    warc_sha256: Sha256 | None = Field(None, description="v2: SHA-256 of the stored WARC file's bytes (.warc.gz)")
    text_source: str | None = Field(None, description="which source the top-level text came from")
    cards: Cards | None = None
    # --- version 2 ---
    text_complete: bool | None = Field(None, description="v2: false when no source gave the whole text "
                                                         "(the stored text is a preview)")
    texts: list[SourceText] | None = Field(None, description="v2: the text as each source gave it")
    interstitial: str | None = Field(None, description="v2: the warning the platform shows before the post")
    withheld_in_countries: list[str] | None = Field(None, description="v2: country codes it is withheld in")
    card: LinkCard | None = None
    poll: Poll | None = None
    metrics: Metrics | None = None
    entities: Entities | None = None
    latest_edit: PostRef | None = Field(None, description="v2: the latest version of an edited post, "
                                                          "captured in its own right, when this one is stale")
    missing: list[MissingPart] | None = Field(None, description="v2: parts the sources show exist that "
                                                                "this capture lacks")

    model_config = ConfigDict(populate_by_name=True, title="archiver post snapshot manifest, version 2")

    @model_validator(mode="after")
    def _version_1_uses_version_1(self) -> Self:
        """A version 1 document may not use version 2's top-level fields or statuses."""
        if self.schema_ == SCHEMA_V1:
            added = sorted(f for f in _V2_FIELDS if f in self.model_fields_set)
            if added:
                raise ValueError(f"{added[0]} is a version 2 field; schema says version 1")
            if self.status not in V1_STATUSES:
                raise ValueError(f"status {self.status!r} is a version 2 status; schema says version 1")
        return self

    @classmethod
    def new(cls, *, provider: str, post_id: str, capture_id: str, captured_at: datetime, status: str,
            url: str | None) -> Self:
        """Every required field, empty; providers fill in what they learn. Not validated until it is
        stored (``validate_manifest``), so a bad value is reported as a storage failure."""
        return cls.model_construct(
            schema_=SCHEMA_ID, archiver_version=__version__, capture_id=capture_id, captured_at=utc_iso(captured_at),
            provider=provider, post_id=post_id, status=status, error=None, url=url,
            author=Author.model_construct(name=None, handle=None, id=None, avatar_sha256=None),
            created_at=None, text=None, text_expanded=None, lang=None, media=[], quoted=None, parent=None,
            attribution=Attribution.model_construct(shown=None, source_lines=[]), articles=[], sources=[],
            warc=None)

    def to_json(self) -> dict[str, Any]:
        """The stored JSON shape: plain dicts and lists, optional fields only when they were set."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)

    def dumps(self) -> bytes:
        """The stored bytes: UTF-8 JSON, keys sorted, two-space indent."""
        return dumps(self.to_json())


_V2_FIELDS = ("text_complete", "texts", "interstitial", "withheld_in_countries", "card", "poll", "metrics",
              "entities", "latest_edit", "missing", "warc_sha256")


def is_manifest_document(doc: Any) -> bool:
    """Whether ``doc`` (parsed JSON) claims to be a manifest of a schema version this code reads."""
    return isinstance(doc, dict) and doc.get("schema") in MANIFEST_SCHEMAS


# --- capture ids, times, sources -----------------------------------------------------------------
def utc_iso(dt: datetime) -> str:
    """ISO 8601 in UTC with millisecond precision and a Z: ``2024-03-05T08:15:00.132Z``."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_capture_id(now: datetime | None = None) -> str:
    """Sortable and unique: ``YYYYMMDDTHHMMSSZ-<8 hex>``."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def related_capture_id(capture_id: str, relation: str) -> str:
    """The capture id of a post captured in its own right as the ``relation`` ("quoted", "parent") of
    capture ``capture_id``: derived from it, so a capture run twice writes the same related keys."""
    return capture_id[:-8] + hashlib.sha256(f"{capture_id}/{relation}".encode()).hexdigest()[:8]


def source_entry(name: str, exchanges: Sequence[Exchange], *, outcome: str, error: str | None = None,
                 data: dict[str, Any] | None = None, fallback_url: str | None = None,
                 fetched_at: datetime | None = None) -> Source:
    """Provenance of one source from the exchanges that produced it: the first request's URL,
    the last response's URL, status and body hash (``fallback_url`` and ``fetched_at`` when there
    were no exchanges)."""
    first = exchanges[0] if exchanges else None
    last = exchanges[-1] if exchanges else None
    when = first.started_at if first is not None else (fetched_at or datetime.now(UTC))
    answered = last is not None and last.status is not None
    return Source.model_construct(
        name=name,
        request_url=first.url if first is not None else fallback_url,
        final_url=last.url if last is not None else fallback_url,
        fetched_at=utc_iso(when),
        http_status=last.status if answered and last is not None else None,
        response_sha256=hashlib.sha256(last.body).hexdigest() if answered and last is not None else None,
        outcome=outcome,
        error=error,
        data=data,
    )


# --- validating and storing ----------------------------------------------------------------------
def validate_manifest(manifest: Manifest | dict[str, Any] | Any) -> Manifest:
    """The manifest as a validated model; ManifestError naming the first problem if ``manifest`` (a
    model, or its JSON shape as plain dicts) breaks the schema."""
    data = manifest.to_json() if isinstance(manifest, Manifest) else manifest
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        err = sorted(exc.errors(), key=lambda e: [str(p) for p in e["loc"]])[0]
        where = "/".join(str(p) for p in err["loc"]) or "(top)"
        raise ManifestError(f"manifest invalid at {where}: {err['msg']}") from None


def load_manifest(data: bytes | str) -> Manifest:
    """A stored manifest's bytes as a validated model; ManifestError when they are not one."""
    try:
        parsed = json.loads(data)
    except ValueError as exc:
        raise ManifestError(f"manifest is not JSON: {exc}") from None
    return validate_manifest(parsed)


def dumps(manifest: dict[str, Any]) -> bytes:
    """A manifest's JSON shape as stored: UTF-8, keys sorted, two-space indent."""
    return json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")


# --- the JSON Schema, generated ------------------------------------------------------------------
class _SchemaGenerator(GenerateJsonSchema):
    """Pydantic's JSON Schema without the titles it derives from Python names."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        out = super().model_schema(schema)
        if schema["cls"] is not Manifest:
            out.pop("title", None)
        if "description" in out:  # a docstring, wrapped for the source: one line in the schema
            out["description"] = " ".join(out["description"].split())
        return out


def manifest_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of version 2 manifests, generated from ``Manifest``."""
    body = Manifest.model_json_schema(by_alias=True, schema_generator=_SchemaGenerator)
    head = {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://archiver.example/schemas/{SCHEMA_FILE}",
            "title": body.pop("title"), "description": body.pop("description"), "type": body.pop("type")}
    defs = body.pop("$defs")
    return {**head, **body, "$defs": defs}


def schema_text() -> str:
    """``manifest_schema()`` as the checked-in file's text."""
    return json.dumps(manifest_schema(), ensure_ascii=False, indent=2) + "\n"


def checked_in_schema() -> str:
    """The text of ``archiver/schemas/manifest.v2.json`` as installed with the package."""
    return resources.files("archiver").joinpath(f"schemas/{SCHEMA_FILE}").read_text(encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m archiver.capture.manifest --schema`` prints the generated schema; ``--write`` writes
    it over ``archiver/schemas/manifest.v2.json`` (for a source checkout)."""
    parser = argparse.ArgumentParser(prog="python -m archiver.capture.manifest", description=main.__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--schema", action="store_true", help="print the generated JSON Schema")
    group.add_argument("--write", action="store_true", help=f"write it to archiver/schemas/{SCHEMA_FILE}")
    args = parser.parse_args(argv)
    if args.schema:
        sys.stdout.write(schema_text())
        return 0
    path = Path(__file__).resolve().parent.parent / "schemas" / SCHEMA_FILE
    path.write_text(schema_text(), encoding="utf-8")
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
