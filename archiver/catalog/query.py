"""The search query: one typed model that every face builds and the catalog runs.

A filter used to have a spelling per face (`--since` on the CLI, `posted_since` in the API,
`posted_from` on the web page). Now the field names of `SearchQuery` are the names, and each face
derives its own from them:

- the API (GET /v1/search) takes the model as its query parameters: a field's public name is the
  field name, or its alias where an older public name is kept (`near_phash`);
- the CLI (`archiver search`) makes one option per field: `--field-name`, or what the field's `Flag`
  says (`--since`), with the field's description as its help;
- the web page's form fields are named after the fields (templates/search.html), and its error
  messages use the fields' titles.

So a new filter is a field here, its SQL in archiver/catalog/search.py, and one form field in
archiver/web/templates/search.html (if the page should offer it). Validation happens here, once:
a bad value is one clear message naming the field as the face spells it (`problems`, `parse`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from types import UnionType
from typing import Annotated, Any, Literal, Self, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
)

from archiver.catalog.base import MAX_LIMIT
from archiver.catalog.syntax import MAX_HANDLE, SYNTAX_HELP, parse_search, provider_name, shown
from archiver.catalog.text import handle_norm
from archiver.errors import InputError
from archiver.providers.base import EMBED_STATUSES

# A date (the whole day) or an ISO 8601 timestamp (UTC unless it names an offset).
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?)?$"
MAX_QUERY = 500  # characters of `q`
DEFAULT_DISTANCE = 8
_DATE = re.compile(DATE_PATTERN)


@dataclass(frozen=True)
class Flag:
    """How `archiver search` spells a field when it is not `--field-name`: another option name, or
    (positional=True) the command's argument, shown as `name`."""

    name: str
    positional: bool = False


def _instant(value: Any) -> date | datetime:
    if isinstance(value, date):  # a datetime is a date too
        return value
    text = str(value).strip()
    if _DATE.fullmatch(text):
        try:
            if len(text) == 10:
                return date.fromisoformat(text)
            return datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not a date: expected a date like 2025-07-15 or an ISO 8601 timestamp")


# A bound of a date range: a `date` means the whole day, a `datetime` that second (naive: UTC).
Instant = Annotated[date | datetime, PlainValidator(_instant),
                    PlainSerializer(lambda v: v.isoformat(), return_type=str, when_used="json"),
                    WithJsonSchema({"type": "string", "pattern": DATE_PATTERN})]


def _hex(digits: int, what: str) -> Any:
    """Hex digits of a hash, any case in, lower case kept."""
    def check(value: str) -> str:
        value = value.strip().lower()
        if len(value) != digits or any(ch not in "0123456789abcdef" for ch in value):
            raise ValueError(f"expected {digits} hex digits ({what})")
        return value
    return Annotated[str, AfterValidator(check),
                     WithJsonSchema({"type": "string", "pattern": f"^[0-9a-f]{{{digits}}}$"})]


def _status(value: str) -> str:
    """A capture status in any case (ARCHIVED is archived, as status: takes it): its lower-case name."""
    folded = value.strip().lower()
    if folded not in EMBED_STATUSES:
        raise ValueError(f"expected one of {', '.join(EMBED_STATUSES)}, not {shown(value)}")
    return folded


def _handle(value: str | None) -> str | None:
    """A handle given as its own field: refused when it holds nothing of a handle ('', blanks, a lone
    @), which would otherwise match no post without saying why."""
    if value is not None and not handle_norm(value):
        raise ValueError(f"{shown(value)} is not a handle: give the account's handle, or leave the filter out")
    return value


def _provider(value: str) -> str:
    """A registered provider's name in any case, as the query's provider: filter takes it: the name
    in lower case; an unknown one is refused naming the known ones (syntax.provider_name)."""
    try:
        return provider_name(value)
    except InputError as exc:
        raise ValueError(str(exc)) from None


def _listed(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _words(value: str) -> str:
    """`q` as given, once it parses (archiver/catalog/syntax.py); the parser's one line otherwise (a
    query over MAX_QUERY characters too, quoted cut, so every face says the same line)."""
    if len(value) > MAX_QUERY:
        raise ValueError(f"{shown(value)} is {len(value):,} characters long; a query may have at most "
                         f"{MAX_QUERY} characters")
    try:
        parse_search(value)
    except InputError as exc:
        raise ValueError(str(exc)) from None
    return value


SORTS = ("relevance", "posted", "captured")
__all__ = ["SORTS", "SYNTAX_HELP", "SearchQuery", "flag", "is_list", "plain_message", "problems"]

Status = Annotated[str, AfterValidator(_status), WithJsonSchema({"type": "string", "enum": list(EMBED_STATUSES)})]
Provider = Annotated[str, AfterValidator(_provider), WithJsonSchema({"type": "string"})]
Sha256 = _hex(64, "a SHA-256")
DHash = _hex(16, "a difference hash")


class SearchQuery(BaseModel):
    """Posts (shown as their latest capture; words found in any capture) matching every filter given; None
    (or an empty list) is no filter.

    `q`: the query language of archiver/catalog/syntax.py (SYNTAX_HELP: words, "phrases",
    -exclusions, OR, prefix*, from:/provider:/lang:/status: filters), in any script; a `q` that does
    not parse fails validation with the parser's one line. Date bounds include the day or second
    they name (a bound at the ends of the date range bounds nothing). `handle` matches with or without
    its @, in any case; an empty handle is refused. `author`: every word of it, in any order.
    `status`: in any case. `limit` hits from `offset`, in the `sort` order: "relevance" (best first), "posted" or
    "captured" (newest first); None: relevance when there are words, else captured.
    """

    # Its validator is built on first use (defer_build; pydantic builds it under its own lock), not when
    # the module loads: a command that never searches (archive, show) does not pay for it (about 15 ms).
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    q: Annotated[str, Field(json_schema_extra={"maxLength": MAX_QUERY}, title="Words",
                            description='words, "phrases", -exclude, OR, prefix*, from:handle, provider:, '
                                        'lang:, status: (see the search syntax); empty: every post'),
                 AfterValidator(_words), Flag("query", positional=True)] = ""
    handle: Annotated[str | None, Field(max_length=MAX_HANDLE, title="Handle",
                                        description="the author's handle (with or without @)"),
                      AfterValidator(_handle)] = None
    author: str | None = Field(None, max_length=200, title="Author",
                               description="words of the author's display name, in any order")
    provider: Provider | None = Field(None, title="Provider", description="twitter, instagram, ... (any case)")
    posted_since: Annotated[Instant | None, Field(title="Posted from",
                                                  description="posted on or after (YYYY-MM-DD or ISO 8601)"),
                            Flag("--since")] = None
    posted_until: Annotated[Instant | None, Field(title="Posted to",
                                                  description="posted on or before (YYYY-MM-DD or ISO 8601)"),
                            Flag("--until")] = None
    captured_since: Instant | None = Field(None, title="Captured from", description="captured on or after")
    captured_until: Instant | None = Field(None, title="Captured to", description="captured on or before")
    article_id: Annotated[str | None, Field(max_length=128, title="Article id",
                                            description="only posts embedded in this article id"),
                          Flag("--article")] = None
    status: Annotated[list[Status] | None, BeforeValidator(_listed),
                      Field(title="Status", description="capture status (archived, deleted, ...); repeatable")] = None
    image_sha256: Sha256 | None = Field(None, title="Image SHA-256",
                                        description="posts whose captured media include this image")
    near_dhash: Annotated[DHash | None,
                          Field(alias="near_phash", title="Near image",
                                description="posts with an image near this 16-hex difference hash (dHash)"),
                          Flag("--near-phash")] = None
    max_distance: Annotated[int | None, Field(ge=0, le=64, title="Distance",
                                              description=f"bits an image near --near-phash may differ by "
                                                          f"(default {DEFAULT_DISTANCE})"),
                            Flag("--distance")] = None
    sort: Literal["relevance", "posted", "captured"] | None = Field(
        None, title="Sort", description="relevance (best first), posted or captured (newest first); "
                                        "default: relevance with words, else captured")
    limit: int = Field(50, ge=1, le=MAX_LIMIT, title="Limit", description="hits on a page")
    offset: int = Field(0, ge=0, title="Offset", description="hits to skip")

    @classmethod
    def parse(cls, values: Mapping[str, Any], spell: Callable[[str], str] | None = None) -> Self:
        """Validate `values` (keyed by field name or public alias) into a query.

        Raises InputError with one line naming each bad field as `spell(field name)` gives it
        (default: the field name) when the values do not fit.
        """
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise InputError("; ".join(problems(exc, spell))) from None

    @property
    def distance(self) -> int:
        """Bits an image near `near_dhash` may differ by."""
        return DEFAULT_DISTANCE if self.max_distance is None else self.max_distance

    def filters(self) -> dict[str, Any]:
        """The query as JSON values under their public names, without the filters not given
        (what the audit log records)."""
        return {k: v for k, v in self.model_dump(mode="json", by_alias=True).items() if v not in (None, "", [])}


def flag(name: str) -> Flag:
    """How the CLI spells field `name`."""
    found = [m for m in SearchQuery.model_fields[name].metadata if isinstance(m, Flag)]
    return found[0] if found else Flag("--" + name.replace("_", "-"))


def is_list(name: str) -> bool:
    """Whether field `name` holds several values (a repeatable option, a repeated parameter)."""
    annotation = SearchQuery.model_fields[name].annotation
    kinds = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (annotation,)
    return any(get_origin(k) is list for k in kinds)


def plain_message(err: Mapping[str, Any]) -> str:
    """A pydantic error (one of ValidationError.errors()) in plain words: a value_error's own message
    (without pydantic's "Value error, " prefix), a number out of range as "must be at least 1", a choice as
    "expected one of relevance, posted or captured", a number that is not one as "expected a whole
    number", quoting what was given (cut, control characters dropped: `shown`); else pydantic's message."""
    kind, ctx = err.get("type"), err.get("ctx") or {}
    given = err.get("input")
    if kind == "value_error" and ctx.get("error"):
        return str(ctx["error"])
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        bound = {"greater_than_equal": ("at least", "ge"), "less_than_equal": ("at most", "le"),
                 "greater_than": ("more than", "gt"), "less_than": ("less than", "lt")}[kind]
        return f"must be {bound[0]} {ctx.get(bound[1])}, not {shown(str(given))}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"expected a whole number, not {shown(str(given))}"
    if kind == "literal_error":
        choices = str(ctx.get("expected", "")).replace("'", "")
        return f"expected one of {choices}, not {shown(str(given))}"
    return str(err.get("msg") or "").removeprefix("Value error, ")


def problems(exc: ValidationError, spell: Callable[[str], str] | None = None) -> list[str]:
    """One `name: what is wrong` line per error of `exc` (`plain_message`), the name given by
    `spell(field name)`."""
    by_alias = {f.alias: name for name, f in SearchQuery.model_fields.items() if f.alias}
    out = []
    for err in exc.errors():
        loc = str(err["loc"][0]) if err["loc"] else ""
        name = by_alias.get(loc, loc)
        message = plain_message(err)
        label = spell(name) if spell and name in SearchQuery.model_fields else name
        out.append(f"{label}: {message}" if label else message)
    return list(dict.fromkeys(out))
