"""One source of a capture: a GET through the safe fetcher, classified into what it says about
the post (ok, not_found, forbidden, rate_limited, ...), with the raw exchanges kept for the WARC.
Shared by every provider that talks to a platform (Twitter's three sources, oEmbed endpoints)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archiver.capture.exchange import FetchError
from archiver.capture.manifest import Source, source_entry

if TYPE_CHECKING:
    from archiver.capture.exchange import Exchange, Response
    from archiver.providers.base import CaptureContext

# Outcomes of a source that say "try again later" rather than anything about the post.
TRANSIENT = frozenset({"rate_limited", "server_error", "network", "bad_response"})


@dataclass
class Fetched:
    """One source's answer: what it said (``outcome``), the parsed body and the raw exchanges."""

    name: str
    outcome: str
    data: Any = None
    error: str | None = None
    exchanges: list[Exchange] = field(default_factory=list)
    url: str | None = None

    @property
    def transient(self) -> bool:
        return self.outcome in TRANSIENT

    def entry(self, data: dict[str, Any] | None = None) -> Source:
        """This source's manifest entry, carrying ``data`` (in the archiver's field names)."""
        return source_entry(self.name, self.exchanges, outcome=self.outcome, error=self.error, data=data,
                            fallback_url=self.url)


def get(ctx: CaptureContext, name: str, url: str, *, kind: str = "json",
        follow_redirects: bool = True) -> tuple[Response | None, Fetched]:
    """GET ``url`` as source ``name``; the response (None when none came) and its classification."""

    try:
        resp = ctx.fetcher.get(url, kind=kind, follow_redirects=follow_redirects)
    except FetchError as exc:
        outcome = "network" if exc.retryable else "bad_response"
        return None, Fetched(name, outcome, error=f"{exc.kind}: {exc}", exchanges=list(exc.exchanges),
                             url=url)
    fetched = Fetched(name, "ok", exchanges=list(resp.exchanges), url=url)
    if resp.status == 429:
        fetched.outcome, fetched.error = "rate_limited", f"HTTP 429 from {name} (rate limited)"
    elif resp.status >= 500:
        fetched.outcome, fetched.error = "server_error", f"HTTP {resp.status} from {name}"
    elif resp.status == 404:
        fetched.outcome = "not_found"
    elif resp.status in (401, 403):
        fetched.outcome = "forbidden"
    elif resp.status >= 400:
        fetched.outcome, fetched.error = "error", f"HTTP {resp.status} from {name}"
    return resp, fetched


def json_object(resp: Response, fetched: Fetched) -> dict[str, Any] | None:
    """The body as a JSON object, or None with ``fetched`` marked bad_response."""
    try:
        body = resp.json()
    except Exception as exc:  # FetchError(bad_response) from the real fetcher, ValueError from others
        fetched.outcome, fetched.error = "bad_response", f"{fetched.name}: {exc}"
        return None
    if not isinstance(body, dict):
        fetched.outcome, fetched.error = "bad_response", f"{fetched.name}: JSON is not an object"
        return None
    return body


def get_object(ctx: CaptureContext, name: str, url: str) -> tuple[dict[str, Any] | None, Fetched]:
    """GET ``url`` as source ``name`` and read its body as a JSON object: (the object, or None when the
    source did not answer "ok" with one, and the classification)."""
    resp, fetched = get(ctx, name, url)
    if resp is None or fetched.outcome != "ok":
        return None, fetched
    return json_object(resp, fetched), fetched
