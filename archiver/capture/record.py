"""Writing one capture to storage: the WARC of its exchanges, its static cards and, last, the manifest
that commits it. Writing the same capture again overwrites the same keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from archiver.capture.cards.write import write_cards
from archiver.capture.manifest import dumps, validate_manifest
from archiver.capture.warc import build_warc
from archiver.storage.layout import card_keys, manifest_key, warc_key

if TYPE_CHECKING:
    from archiver.capture.fetch import Exchange
    from archiver.storage.base import ObjectStore


def write_snapshot(store: ObjectStore, manifest: dict[str, Any],
                   exchanges: Sequence[Exchange]) -> str:
    """Validate, then write the WARC (when there were exchanges), the static cards and last the
    manifest (which commits the capture); returns the manifest key. Writing the same capture again
    overwrites the same keys."""

    provider, post_id, capture_id = manifest["provider"], manifest["post_id"], manifest["capture_id"]
    key = manifest_key(provider, post_id, capture_id)
    if exchanges:
        manifest["warc"] = warc_key(provider, post_id, capture_id)
    manifest["cards"] = card_keys(manifest)
    validate_manifest(manifest)
    if exchanges:
        store.put(manifest["warc"], build_warc(exchanges, capture_id=capture_id),
                  content_type="application/warc")
    write_cards(store, manifest)
    store.put(key, dumps(manifest), content_type="application/json")
    return key
