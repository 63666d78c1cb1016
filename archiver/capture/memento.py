"""Memento (RFC 7089) names and notations shared by the capture page and `archiver serve`.

URL forms, all under the public base URL (``ARCHIVER_PUBLIC_BASE_URL``, e.g.
``https://archive.example/media``; `archiver serve` answers them under ``/media/``):

```
<base>/posts/<provider>/<post_id>/<capture_id>.html   a post's Memento: the capture's human page (static)
<base>/timegate/<original URL>                        the TimeGate of an original (a post or an image URL)
<base>/timemap/link/<original URL>                    its TimeMap, application/link-format
<base>/memento/<YYYYMMDDhhmmss>/<original URL>        an image's Memento: the archived original's bytes
```

The original URL follows the prefix as it is, its query included
(``<base>/timegate/https://x.com/a/status/1?s=20``), or percent-encoded as one segment
(``<base>/timegate/https%3A%2F%2Fx.com%2Fa%2Fstatus%2F1``); its fragment is never part of it. A URL
written into a ``Link`` header or into a path here goes through ``link_uri``: characters that are not
allowed in a URI, and ``;`` ``,`` (which naive Link-header readers split on), are percent-encoded.

Which captures are Mementos of a post (``MEMENTO_STATUSES``): those that hold its content and those
that hold what the platform showed instead (a deleted, withheld, tombstoned ... post); a capture
where the platform did not answer, nothing could be captured, or no post was identified is not.
Datetimes are HTTP-dates (RFC 9110 section 5.6.7, the IMF-fixdate form RFC 7089 uses) in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote, urldefrag

from archiver.capture.statuses import CAPTURED_STATUSES, GONE_STATUSES
from archiver.lazyre import lazy

MEMENTO_STATUSES: tuple[str, ...] = (*CAPTURED_STATUSES, *GONE_STATUSES)
LINK_FORMAT = "application/link-format"
TIMEGATE = "timegate"
TIMEMAP = "timemap/link"
MEMENTO = "memento"
MAX_URL = 8192
# Characters kept as they are in a URL written into a Link header or a path (RFC 3986's unreserved and
# reserved characters, less ";" and ","; "%" so existing escapes are not escaped twice).
_KEEP = "!#$&'()*+/:=?@[]~%"
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# The three HTTP-date forms a recipient must accept (RFC 9110 5.6.7): IMF-fixdate, RFC 850, asctime.
_IMF = lazy(r"([A-Z][a-z]{2}), (\d{2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT")
_RFC850 = lazy(r"([A-Z][a-z]{5,8}), (\d{2})-([A-Z][a-z]{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT")
_ASCTIME = lazy(r"([A-Z][a-z]{2}) ([A-Z][a-z]{2}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})")
_LONG_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_STAMP = lazy(r"[0-9]{14}")


def parse_iso(value: str) -> datetime:
    """An ISO 8601 time as stored in manifests and the catalog (``2025-07-15T09:12:33.123Z``, or with an
    offset) as an aware UTC datetime; a time without an offset is taken as UTC. ValueError otherwise."""
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError("not an ISO 8601 time")
    dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC)


def http_date(when: datetime | str) -> str:
    """``when`` (an aware datetime, or an ISO 8601 string) as an IMF-fixdate in GMT, to the second:
    ``Tue, 15 Jul 2025 09:12:33 GMT``. ValueError for a string that is not ISO 8601."""
    dt = parse_iso(when) if isinstance(when, str) else when.astimezone(UTC)
    return (f"{_WEEKDAYS[dt.weekday()]}, {dt.day:02d} {_MONTHS[dt.month - 1]} {dt.year:04d} "
            f"{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d} GMT")


def parse_http_date(value: str) -> datetime:
    """An HTTP-date (an ``Accept-Datetime`` value) as an aware UTC datetime. The three forms of RFC 9110
    5.6.7 are read; the weekday must be the date's. ValueError with a one-line reason otherwise."""
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > 64:
        raise ValueError("Accept-Datetime must be an HTTP-date such as 'Tue, 15 Jul 2025 09:12:33 GMT'")
    if m := _IMF.fullmatch(text):
        wday, day, mon, year, hh, mm, ss = m.groups()
    elif m := _RFC850.fullmatch(text):
        long_day, day, mon, yy, hh, mm, ss = m.groups()
        if long_day not in _LONG_DAYS:
            raise ValueError("Accept-Datetime names no weekday")
        wday = long_day[:3]
        # RFC 9110: a two-digit year more than 50 years in the future is in the past century.
        year = str(2000 + int(yy)) if 2000 + int(yy) <= datetime.now(UTC).year + 50 else str(1900 + int(yy))
    elif m := _ASCTIME.fullmatch(text):
        wday, mon, day, hh, mm, ss, year = m.groups()
    else:
        raise ValueError("Accept-Datetime must be an HTTP-date such as 'Tue, 15 Jul 2025 09:12:33 GMT'")
    if wday not in _WEEKDAYS or mon not in _MONTHS:
        raise ValueError("Accept-Datetime names no weekday or month")
    try:
        dt = datetime(int(year), _MONTHS.index(mon) + 1, int(day), int(hh), int(mm), int(ss), tzinfo=UTC)
    except ValueError:
        raise ValueError("Accept-Datetime is not a date that exists") from None
    if _WEEKDAYS[dt.weekday()] != wday:
        raise ValueError(f"Accept-Datetime says {wday}, but that date is a {_WEEKDAYS[dt.weekday()]}")
    return dt


def link_uri(url: str) -> str:
    """``url`` fit to stand between ``<`` and ``>`` in a Link header or after a prefix in a path: its
    fragment dropped; spaces, controls, non-ASCII characters, ``<>"\\^`{|}`` and ``;`` ``,``
    percent-encoded (UTF-8); existing escapes kept."""
    return quote(urldefrag(url)[0], safe=_KEEP)


def _under(base: str, kind: str, original: str) -> str:
    return f"{base.rstrip('/')}/{kind}/{link_uri(original)}"


def timegate_url(base: str, original: str) -> str:
    """``<base>/timegate/<original>``: the TimeGate of ``original`` (a post or an image URL)."""
    return _under(base, TIMEGATE, original)


def timemap_url(base: str, original: str) -> str:
    """``<base>/timemap/link/<original>``: the link-format TimeMap of ``original``."""
    return _under(base, TIMEMAP, original)


def stamp(when: datetime) -> str:
    """``when`` as the 14 digits of an image Memento's URL: ``YYYYMMDDhhmmss`` in UTC (the year padded to
    four digits, which strftime's ``%Y`` does not do on every platform)."""
    t = when.astimezone(UTC)
    return f"{t.year:04d}{t.month:02d}{t.day:02d}{t.hour:02d}{t.minute:02d}{t.second:02d}"


STAMP_FORM = "14 digits, YYYYMMDDhhmmss in UTC (such as 20250715091233)"
_STAMP_PARTS = (("year", 0, 4), ("month", 4, 6), ("day", 6, 8), ("hour", 8, 10), ("minute", 10, 12),
                ("second", 12, 14))


def parse_stamp(value: str) -> datetime:
    """The 14 digits of an image Memento's URL as an aware UTC datetime. ValueError otherwise, with one
    line that names the expected form and what is wrong (not digits, how many, which part does not
    exist), never the raw text of a parser: the value comes from a request path."""
    if not isinstance(value, str) or not _STAMP.fullmatch(value):
        if isinstance(value, str) and (not value or (value.isascii() and value.isdigit())):
            raise ValueError(f"a Memento's datetime is {STAMP_FORM}, not {len(value)} digits")
        raise ValueError(f"a Memento's datetime is {STAMP_FORM}: it holds something other than digits")
    year, month, day, hour, minute, second = (int(value[a:b]) for _, a, b in _STAMP_PARTS)
    for name, number, low, high in (("year", year, 1, 9999), ("month", month, 1, 12), ("hour", hour, 0, 23),
                                    ("minute", minute, 0, 59), ("second", second, 0, 59)):
        if not low <= number <= high:
            raise ValueError(f"a Memento's datetime is {STAMP_FORM}: {value} has {name} {number}, "
                             f"which does not exist")
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:  # the only part left that can be out of range
        raise ValueError(f"a Memento's datetime is {STAMP_FORM}: {value} has day {day}, which "
                         f"{year:04d}-{month:02d} does not have") from None


def image_memento_url(base: str, when: datetime, original: str) -> str:
    """``<base>/memento/<YYYYMMDDhhmmss>/<original>``: the archived copy of image ``original`` fetched
    at ``when`` (to the second)."""
    return _under(base, f"{MEMENTO}/{stamp(when)}", original)


def link(url: str, rel: str, **params: str) -> str:
    """One Link header entry (RFC 8288): ``<url>; rel="..."`` and each param as ``; name="value"``
    (values carry no quote or backslash: they are datetimes and media types)."""
    out = f'<{link_uri(url)}>; rel="{rel}"'
    for name, value in params.items():
        out += f'; {name}="{value.replace(chr(34), "").replace(chr(92), "")}"'
    return out
