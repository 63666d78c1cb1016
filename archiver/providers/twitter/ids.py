"""Twitter ids, tokens and status URLs: the syndication token the embed widget computes (a port of V8's
``Number.prototype.toString(36)``), the creation time inside a snowflake id, and the status URL in
its spellings. Pure functions, shared by the capture, the liveness probe, discovery and the fixture
origin."""

from __future__ import annotations

import math
import re
import struct
from datetime import UTC, datetime
from typing import Any

NAME = "twitter"
TWITTER_EPOCH_MS = 1288834974657
# Ids below this are the sequential ids of posts before November 2010: no timestamp inside.
FIRST_SNOWFLAKE = 300_000_000_000
# Any segment before /status/ (Twitter redirects it to the post); parse_status_url keeps it as the
# handle only when it is one.
STATUS_URL = re.compile(
    r"(?ai)https?://(?:(?:www|mobile|m)\.)?(?:(?:fx|vx)?twitter|fixupx|fixvx|x)\.com/(?:#!/)?"
    r"(?:i/web/status|i/topics/tweet|statuses|([^/?#\s<>\"']{1,200})/status(?:es)?)/(\d{1,20})(?!\d)")
HANDLE = re.compile(r"[A-Za-z0-9_]{1,15}")
DIGITS = re.compile(r"[0-9]{1,20}")
_RADIX_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _exponent(value: float) -> int:
    """V8's Double::Exponent(): the unbiased exponent of the 53-bit significand."""
    bits = struct.unpack(">Q", struct.pack(">d", value))[0]
    biased = (bits >> 52) & 0x7FF
    return (1 if biased == 0 else biased) - 1075


def double_to_radix(value: float, radix: int = 36) -> str:
    """``Number.prototype.toString(radix)`` for a finite double, ported from V8's
    DoubleToRadixCString: shortest digits that round-trip, rounded half to even."""
    if not math.isfinite(value) or not 2 <= radix <= 36:
        raise ValueError(f"cannot format {value!r} in radix {radix}")
    negative = value < 0
    value = -value if negative else value
    integer = math.floor(value)
    fraction = value - integer
    delta = max(0.5 * (math.nextafter(value, math.inf) - value), math.nextafter(0.0, 1.0))
    frac_digits: list[int] = []
    if fraction >= delta:
        while True:
            fraction *= radix
            delta *= radix
            digit = int(fraction)
            frac_digits.append(digit)
            fraction -= digit
            if (fraction > 0.5 or (fraction == 0.5 and digit & 1)) and fraction + delta > 1:
                # Round up, carrying into earlier digits (and into the integer part).
                while True:
                    if not frac_digits:
                        integer += 1
                        break
                    last = frac_digits.pop()
                    if last + 1 < radix:
                        frac_digits.append(last + 1)
                        break
                break
            if fraction < delta:
                break
    int_digits: list[str] = []
    integer_f = float(integer)
    while _exponent(integer_f / radix) > 0:
        integer_f /= radix
        int_digits.append("0")
    while True:
        remainder = math.fmod(integer_f, radix)
        int_digits.append(_RADIX_DIGITS[int(remainder)])
        integer_f = (integer_f - remainder) / radix
        if integer_f <= 0:
            break
    out = "".join(reversed(int_digits))
    if frac_digits:
        out += "." + "".join(_RADIX_DIGITS[d] for d in frac_digits)
    return "-" + out if negative else out


def syndication_token(tweet_id: str) -> str:
    """The embed widget's token: ``((Number(id)/1e15)*Math.PI).toString(36)`` without 0s and dot."""
    if not isinstance(tweet_id, str) or not DIGITS.fullmatch(tweet_id):
        raise ValueError(f"not a tweet id: {tweet_id!r}")
    return re.sub(r"0+|\.", "", double_to_radix((float(tweet_id) / 1e15) * math.pi, 36))


def snowflake_time(tweet_id: str) -> datetime | None:
    """Creation time encoded in a snowflake id; None for the sequential ids before Nov 2010."""
    if not isinstance(tweet_id, str) or not DIGITS.fullmatch(tweet_id):
        return None
    n = int(tweet_id)
    if n < FIRST_SNOWFLAKE or n >= 1 << 63:
        return None
    return datetime.fromtimestamp(((n >> 22) + TWITTER_EPOCH_MS) / 1000, UTC)


def parse_status_url(url: str) -> tuple[str | None, str] | None:
    """(handle or None, id) of a status URL in any of its spellings; None if it is not one."""
    m = STATUS_URL.search(url or "")
    if not m:
        return None
    handle = m.group(1)
    return (handle if handle is not None and HANDLE.fullmatch(handle) and handle.lower() != "i" else None), m.group(2)


def canonical_url(post_id: str, handle: str | None) -> str:
    """The status URL a capture files the post under: with the handle when it is a valid one."""
    return status_url(post_id, handle if handle and HANDLE.fullmatch(handle) else None)




def status_url(tweet_id: str, handle: str | None) -> str:
    """The canonical status URL as discovery writes it: with the handle shown, else the i/web form
    that twitter.com redirects."""
    if handle:
        return f"https://twitter.com/{handle}/status/{tweet_id}"
    return f"https://twitter.com/i/web/status/{tweet_id}"


def parse_time(value: Any) -> datetime | None:
    """A syndication ``created_at`` (ISO 8601 or the v1.1 form) as an aware datetime, or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:  # the v1.1 form: "Wed Feb 14 15:42:11 +0000 2024"
            dt = datetime.strptime(value, "%a %b %d %H:%M:%S %z %Y")
        except ValueError:
            return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)

