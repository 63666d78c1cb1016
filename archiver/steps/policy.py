"""Which rejected images a retry tries again: those our own policy refused, once that policy changed.

An image is rejected for one of two kinds of reason (``MediaRecord.refused``). Content facts do not
change when archiver's settings do: the bytes are not an image we keep, they are damaged, an image
host answered an HTML page, the URL is not an http(s) URL or carries credentials. Those stay rejected.
Policy refusals are archiver's own limits, each governed by settings (``POLICY_SETTINGS``): the
address guard (``fetch_allow``), the byte cap (``max_bytes_image``), the pixel ceiling
(``max_image_pixels``), the frame cap (``max_image_frames``), the decoding time (``media_time_limit``)
and memory (``media_memory_budget``). A policy refusal is stored with the values of the settings that
govern it (``ImageResult.refused_under``); ``archiver retry`` captures the image again when one of
them differs now (``policy_changed``), and the new result says what the new policy made of it.
A result stored before ``refused_under`` existed is classified by its error and tried once.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from archiver.config.settings import Settings
from archiver.lazyre import lazy

if TYPE_CHECKING:
    from archiver.capture.media import MediaRecord
    from archiver.records.result import ItemResult

# Each policy refusal (by the wording of its reason, archiver/capture/guard.py, fetch.py, imaging.py
# and imagepool.py) and the settings that decide it; checked in order (a frame cap's "over the cap of"
# before the byte cap's).
_RULES: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (re.compile(r"frames, over the cap|more than \d+ frames"), ("max_image_frames",)),
    (re.compile(r"pixels is over the ceiling|^decompression bomb"), ("max_image_pixels",)),
    (re.compile(r"decoding exceeded"), ("media_time_limit",)),
    (re.compile(r"ran out of memory"), ("media_memory_budget",)),
    (re.compile(r"over the cap of \d+"), ("max_bytes_image",)),
    (re.compile(r"^refused "), ("fetch_allow",)),
)
# Refusals of the URL itself (scheme, credentials): no setting allows them, so they are content facts.
_URL_FACT = lazy(r"^only http and https are fetched|^URLs with credentials are not fetched")
# Every setting a policy refusal may depend on (one whose reason is not recognised depends on all).
POLICY_SETTINGS: tuple[str, ...] = tuple(dict.fromkeys(name for _, names in _RULES for name in names))


def governing_settings(error: str | None) -> tuple[str, ...]:
    """The settings that decide a policy refusal whose reason is ``error`` (``MediaRecord.error``):
    one or more of POLICY_SETTINGS; all of them for a reason not recognised; ``()`` for a refusal of
    the URL itself (a scheme or credentials no setting allows)."""
    reason = (error or "").strip()
    if _URL_FACT.search(reason):
        return ()
    return next((names for pattern, names in _RULES if pattern.search(reason)), POLICY_SETTINGS)


def policy_values(settings: Settings, names: tuple[str, ...]) -> dict[str, str]:
    """The current values of the settings ``names``, as text (what ``refused_under`` stores)."""
    return {name: str(getattr(settings, name)) for name in names}


def refused_under(rec: MediaRecord, settings: Settings) -> dict[str, str] | None:
    """For a rejected medium that our policy refused (``rec.refused``): the values of the settings that
    decided it, by name; None for anything else (a content fact, a refused URL, an archived or failed
    medium)."""
    if rec.status != "rejected" or not rec.refused:
        return None
    names = governing_settings(rec.error)
    return policy_values(settings, names) if names else None


def _legacy_policy(error: str | None) -> bool:
    """Whether a rejection stored without ``refused_under`` reads as a policy refusal by its reason."""
    reason = (error or "").strip()
    return not _URL_FACT.search(reason) and any(p.search(reason) for p, _ in _RULES)


def policy_changed(result: ItemResult | None, settings: Settings) -> bool:
    """Whether ``result`` is an image our policy rejected under settings that differ now (so a retry
    may archive it): a setting named in its ``refused_under`` has another value; a rejection stored
    before ``refused_under`` existed counts when its error reads as a policy refusal. False for every
    other result (a content rejection stays rejected)."""
    if result is None or result.kind != "image" or result.status != "rejected":
        return False
    before = getattr(result, "refused_under", None)
    if before is None:
        return _legacy_policy(result.error)
    return any(str(getattr(settings, name, None)) != value for name, value in before.items())
