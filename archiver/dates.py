"""The one clock format archiver stores: UTC, ISO 8601 to the second with a Z."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """`dt` in UTC as 'YYYY-MM-DDTHH:MM:SSZ' (ISO 8601, whole seconds); a naive `dt` is taken as local time."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    """A time `iso` wrote (or any ISO 8601 time with an offset or a Z), timezone-aware;
    ValueError when `text` is not one. A time without an offset is taken as UTC."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
