"""The one interface every platform's capture implements, so a new provider is one file."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from archiver.capture.fetch import Fetcher
    from archiver.config.settings import Settings
    from archiver.discover.model import Embed
    from archiver.storage.base import ObjectStore

# Outcome of one capture. "unavailable" and "failed" are worth retrying; the rest are final.
EMBED_STATUSES = ("archived", "unavailable", "deleted", "protected", "tombstoned", "unresolved", "failed")
RETRYABLE_STATUSES = frozenset({"unavailable", "failed"})


@dataclass
class CaptureContext:
    settings: Settings
    fetcher: Fetcher
    store: ObjectStore
    article_id: str | None = None
    article_url: str | None = None
    # The decoded article text, so a provider can read what surrounded the embed (source lines).
    article_text: str | None = None
    # Fixed by the pipeline before the capture starts, so a capture run twice writes the same keys.
    # The provider uses it for the main post (quoted/parent posts get their own).
    capture_id: str | None = None
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass
class CaptureResult:
    status: str
    provider: str
    post_id: str | None
    url: str | None
    capture_id: str | None = None
    manifest_key: str | None = None
    error: str | None = None
    manifest: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "provider": self.provider,
            "post_id": self.post_id,
            "url": self.url,
            "capture_id": self.capture_id,
            "snapshot": self.manifest_key,
            "error": self.error,
        }


class Provider(Protocol):
    name: str

    def capture(self, occurrences: Sequence[Embed], ctx: CaptureContext) -> CaptureResult:
        """Capture one post. `occurrences` are every embed of that post in the article
        (same key), richest markup first; never raises for remote trouble, it reports it."""
        ...


@dataclass(frozen=True)
class SettingSpec:
    """A setting a provider declares (an endpoint URL or template): `name` is the settings field and the
    `ARCHIVER_<NAME>` environment variable, `default` its value when unset, `doc` one line for operators."""

    name: str
    default: str
    doc: str
