"""What every stored record shares: frozen pydantic models, their JSON form in storage, and the one
error a malformed stored object raises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Self, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from archiver.errors import ArchiverError
from archiver.records.factories import empty_list as empty_list
from archiver.storage.base import json_bytes

T = TypeVar("T")


class RecordError(ArchiverError, ValueError):
    """A stored object is not a valid record of its kind; the message names its key and the first
    problems (field path and reason)."""


class Record(BaseModel):
    """A stored record: frozen, and tolerant of fields a newer release may add (they are ignored).

    A field with an alias (a stored name kept for the public JSON shape) is written under the alias
    and read under either name. Validators and serializers are built on first use (``defer_build``;
    pydantic builds them under its own lock), not when the module is imported.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True, defer_build=True)
    # What the record is called in errors ("plan", "item result", ...).
    what: ClassVar[str] = "record"

    def to_json(self) -> dict[str, Any]:
        """The stored JSON shape (aliases applied) as plain dicts and lists."""
        return self.model_dump(mode="json")

    def dumps(self) -> bytes:
        """The bytes written to storage: sorted keys, the store's usual indentation."""
        return json_bytes(self.to_json())

    @classmethod
    def loads(cls, data: bytes | str, key: str) -> Self:
        """The record stored at `key` from its JSON bytes; RecordError when they are not one."""
        return validated(cls.model_validate_json, data, key, cls.what)


def load_as(adapter: TypeAdapter[T], data: bytes | str, key: str, what: str) -> T:
    """The JSON `data` stored at `key` validated as `adapter`'s type (a union of records);
    RecordError when it is not one."""
    return validated(adapter.validate_json, data, key, what)


def validated(validate: Callable[[bytes | str], T], data: bytes | str, key: str, what: str) -> T:
    """`validate(data)`, with a ValidationError turned into a RecordError naming `key` and the first
    three problems."""
    try:
        return validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
                             for err in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise RecordError(f"{key} is not a valid {what}: {problems}{more}") from None
