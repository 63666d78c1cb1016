"""What discovery finds: embedded posts and images, each with its span in the decoded article."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

from archiver.providers import registry
from archiver.records.factories import empty_list


def __getattr__(name: str) -> Any:
    """``PROVIDERS``: the registered providers' names (computed on use: the registry imports the
    provider modules, which import this one)."""
    if name == "PROVIDERS":
        return registry.names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class Embed:
    """One occurrence of an embedded post. Offsets count code points of the decoded text."""

    provider: str
    post_id: str | None
    url: str | None
    start: int
    end: int
    handle: str | None = None
    author: str | None = None
    text: str | None = None
    date: str | None = None
    # empty_list, not list: plan records validate Embeds with pydantic, which parses the builtin's signature
    media_links: list[str] = field(default_factory=empty_list)
    # How it was written: "blockquote", "iframe", "url-line", "flattened", "shortcode", ...
    form: str = ""

    @property
    def key(self) -> str:
        """Groups occurrences of the same post; flattened embeds without id group by their text, short
        links (no id until followed) by their URL as well."""
        if self.post_id:
            return f"{self.provider}:{self.post_id}"
        parts = [self.handle or "", self.date or "", self.text or "", *self.media_links]
        basis = "|".join([*parts, "url:" + self.url] if self.url else parts)
        return f"{self.provider}:unresolved:{hashlib.sha256(basis.encode()).hexdigest()[:16]}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ImageRef:
    """One occurrence of an image URL; the span covers exactly the URL as written."""

    url: str
    start: int
    end: int
    alt: str | None = None
    credit: str | None = None
    # Where it was found: "img-src", "srcset", "og:image", "json-ld", "markdown", "text", ...
    form: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Discovery:
    """What `discover` found in one article: its embeds and its images, each with its span."""

    embeds: list[Embed] = field(default_factory=list)
    images: list[ImageRef] = field(default_factory=list)
    # What was not read because a limit of discovery was reached, one line each (e.g. the srcdoc
    # documents past ``srcdoc.MAX_DOCUMENTS``); empty for an ordinary article.
    limits: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Its embeds and images as JSON; ``limits`` only when some limit was reached."""
        out: dict[str, Any] = {
            "embeds": [e.to_json() for e in self.embeds],
            "images": [i.to_json() for i in self.images],
        }
        if self.limits:
            out["limits"] = list(self.limits)
        return out
