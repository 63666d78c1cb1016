"""The one clock format archiver stores (UTC, ISO 8601 to the second with a Z) and the one format
people read (`shown`: "30 Nov 2026, 17:23 IST" in the operator's display time zone)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """`dt` in UTC as 'YYYY-MM-DDTHH:MM:SSZ' (ISO 8601, whole seconds); a naive `dt` is taken as local time."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_precise(dt: datetime) -> str:
    """`dt` in UTC as 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (ISO 8601 with microseconds), for times whose order
    matters within a second (a signing key's validity: two rotations in one second must still sort);
    a naive `dt` is taken as local time. OverflowError when `dt` in UTC falls outside years 1-9999."""
    d = dt.astimezone(UTC)
    return f"{d.year:04d}-{d:%m-%dT%H:%M:%S.%f}Z"  # the year always 4 digits (strftime drops zeros below 1000)


def parse_iso(text: str) -> datetime:
    """A time `iso` wrote (or any ISO 8601 time with an offset or a Z), timezone-aware;
    ValueError when `text` is not one. A time without an offset is taken as UTC."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name` (e.g. "Asia/Kolkata", "UTC"); ValueError naming it when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name[:64]!r}: expected an IANA name like Asia/Kolkata or UTC") from None


def as_datetime(value: object) -> datetime | None:
    """`value` (an aware or naive datetime, a date, or an ISO 8601 string; naive means UTC) as an aware
    datetime in UTC, or None when it is none of these (a hostile or empty manifest value)."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    elif isinstance(value, str) and 10 <= len(value) <= 40:
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return (dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)).astimezone(UTC)


def shown(value: object, tz: str = "UTC") -> tuple[str, str, str] | None:
    """How a time is shown to people: (text in `tz` like "30 Nov 2026, 17:23 IST", the UTC instant
    as ISO 8601 for `<time datetime>`, the same instant as "30 Nov 2026, 11:53:00 UTC" for hover),
    or None when `value` is not a time (see `as_datetime`). The month is English and never wraps
    (callers keep it on one line); ValueError for an unknown `tz`."""
    dt = as_datetime(value)
    if dt is None:
        return None
    local = dt.astimezone(zone(tz))
    abbrev = local.tzname() or tz
    text = f"{local.day} {local:%b %Y, %H:%M} {abbrev}"
    return text, iso(dt), f"{dt.day} {dt:%b %Y, %H:%M:%S} UTC"
