"""Liveness probes: asking an original (a post, a page, an image URL) whether it is still there.
A probe only reports; the state machine in state.py decides what a report means.

An embedded post is asked through its provider's probe (``ProviderSpec.probe``, found in the
registry: Twitter reads oEmbed and syndication); a provider without one, or a post without an id,
gets the generic page probe. Images are probed here.
"""

from __future__ import annotations

import hashlib
import re
import socket
from dataclasses import asdict
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from archiver.capture.exchange import FetchError
from archiver.capture.media import MediaRejected, inspect_image, sniff
from archiver.health.state import Original, Probe
from archiver.providers import registry

if TYPE_CHECKING:
    from archiver.config.settings import Settings
    from archiver.runtime import Runtime

# Generic placeholder images recognised by their 64-bit dHash (media.dhash): a blank single-colour
# image hashes to zero whatever its size or colour (spacer GIFs, "removed" grey boxes).
PLACEHOLDER_DHASHES = {"0000000000000000": "a blank single-colour image"}

PLACEHOLDER_MAX_DISTANCE = 2

_HOME_PATH = re.compile(r"(?i)^/?(?:index\.\w{2,5}|default\.\w{2,5}|home/?)?$")

_NOT_FOUND = re.compile(r"(?i)(?:^|[/_.?=&-])(?:404|410|not[-_]?found|notfound|missing|removed|unavailable|"
                        r"error|deleted)(?:$|[/_.?=&-])")

# A sign-in wall: a redirect whose target path has a login, sign-in or auth page as a whole segment.
_LOGIN = re.compile(r"(?i)(?:^|/)(?:login|log-in|logon|signin|sign-in|sign_in|auth|oauth2?|sso|"
                    r"authenticate|session/new|users/sign_in)(?:/|$|\.(?:html?|php|aspx?|jsp|do|cgi)$)")

# What getaddrinfo says when a name does not exist (NXDOMAIN) or has no address: the host is gone.
# A resolver that cannot answer (EAI_AGAIN, a timeout) says nothing about the host.
_GONE_NAMES = tuple(f"[Errno {n}]" for n in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)))

# The address guard's refusal of an address ("refused URL: 10.0.0.1 is private (port 80)"), as opposed
# to its refusal of a scheme or of credentials in the URL.
_ADDRESS_REFUSED = re.compile(r"^refused .*: \S+ (?:is |embeds the non-public )")

_HTML_START = re.compile(rb"(?is)^\s*(?:<!doctype|<html|<head|<body|<\?xml|<!--|<div|<p\b|<title)")


def probe(rt: Runtime, original: Original | dict[str, Any]) -> Probe:
    """Ask the original once, through the safe fetcher. Failures of our own side raise."""
    o = original if isinstance(original, dict) else asdict(original)
    if o["kind"] == "embed":
        spec = registry.find(o.get("provider"))
        if spec is not None and spec.probe is not None and o.get("post_id"):
            return spec.probe(rt, o["url"], o["post_id"])
        return probe_page(rt, o["url"])
    return probe_image(rt, o["url"], o.get("archived_sha256"))


def fetch_failure(exc: FetchError) -> Probe:
    """What a fetch that got no answer says of the original. Gone (a failure, counted toward dead like
    a 404): its host no longer resolves (NXDOMAIN, no address), or it or a redirect on the way points
    at an address readers cannot reach (private, loopback, ...: the address guard refuses it). Anything
    else (a timeout, a network error, a resolver that cannot answer, an answer too large, a refused
    scheme) could not decide: inconclusive."""
    text = str(exc)
    if exc.kind == "network" and (text.endswith(" has no address") or (
            text.startswith("cannot resolve ") and any(n in text for n in _GONE_NAMES))):
        return Probe("failure", f"the host no longer resolves ({text[:200]})")
    if exc.kind == "refused" and _ADDRESS_REFUSED.match(text):
        where = "redirected to" if exc.exchanges else "the host now points at"
        return Probe("failure", f"{where} an address readers cannot reach ({text[:200]})")
    return Probe("inconclusive", f"{exc.kind}: {text}")


def _login_redirect(url: str, final_url: str) -> str | None:
    """Why a redirect from `url` to `final_url` says the original is gone behind a sign-in wall (its
    target's path has a login page's segment and the URL's did not); None otherwise."""
    if final_url != url and _LOGIN.search(urlsplit(final_url).path) and not _LOGIN.search(urlsplit(url).path):
        return f"redirected to a login page ({final_url[:200]})"
    return None


def probe_page(rt: Runtime, url: str) -> Probe:
    """A post of a provider without a probe of its own: gone on 404/410/451 of its page, a redirect
    to a login page, or a fetch_failure that says gone; a direct 401/403 could not decide (sites
    refuse robots that readers pass)."""
    try:
        resp = rt.fetcher.get(url, kind="html")
    except FetchError as exc:
        return fetch_failure(exc)
    if resp.status in (404, 410, 451):
        return Probe("failure", f"HTTP {resp.status}")
    walled = _login_redirect(url, resp.final_url)
    if walled:
        return Probe("failure", walled)
    if 200 <= resp.status < 300:
        return Probe("ok", f"HTTP {resp.status}")
    return Probe("inconclusive", f"HTTP {resp.status}")


def _redirect_failure(url: str, final_url: str) -> str | None:
    if final_url == url:
        return None
    before, after = urlsplit(url), urlsplit(final_url)
    if _HOME_PATH.match(after.path) and not _HOME_PATH.match(before.path):
        return f"redirected to the site's home page ({final_url[:200]})"
    target = f"{after.path}?{after.query}"
    if _NOT_FOUND.search(target) and not _NOT_FOUND.search(f"{before.path}?{before.query}"):
        return f"redirected to a 'not found' page ({final_url[:200]})"
    return None


def placeholder_reason(data: bytes, settings: Settings, archived_sha256: str | None = None) -> str | None:
    """Why these image bytes are a generic placeholder rather than the image, or None."""
    sha = hashlib.sha256(data).hexdigest()
    if sha == archived_sha256:
        return None
    known = {s.strip().lower() for s in settings.health_placeholder_sha256s.split(",") if s.strip()}
    if sha in known:
        return "a known placeholder image (sha256 listed in health_placeholder_sha256s)"
    try:
        info = inspect_image(data, settings)
    except (MediaRejected, ValueError, OSError):
        return None
    if not info.dhash:
        return None
    for ref, label in PLACEHOLDER_DHASHES.items():
        if bin(int(info.dhash, 16) ^ int(ref, 16)).count("1") <= PLACEHOLDER_MAX_DISTANCE:
            return f"a placeholder image ({label})"
    return None


def probe_image(rt: Runtime, url: str, archived_sha256: str | None = None) -> Probe:
    """An image: gone on 404/410/451 or 401/403 (an image readers are refused), a redirect to a home,
    "not found" or login page, a fetch_failure that says gone, an HTML page or another type in its
    place, or a placeholder image; the same bytes or another image are ok (another image with
    `changed` set, when the archived SHA-256 is known)."""
    try:
        resp = rt.fetcher.get(url, kind="image")
    except FetchError as exc:
        return fetch_failure(exc)
    if resp.status == 429 or resp.status >= 500:
        return Probe("inconclusive", f"HTTP {resp.status}")
    if resp.status in (404, 410, 451):
        return Probe("failure", f"HTTP {resp.status}")
    moved = _redirect_failure(url, resp.final_url) or _login_redirect(url, resp.final_url)
    if moved:
        return Probe("failure", moved)
    if resp.status in (401, 403):
        return Probe("failure", f"HTTP {resp.status}")
    if resp.status >= 300:
        return Probe("inconclusive", f"HTTP {resp.status}")
    sha = hashlib.sha256(resp.body).hexdigest()
    if sha == archived_sha256:
        return Probe("ok", "the same bytes as archived", changed=False)
    mime = sniff(resp.body)
    if mime is None or not mime.startswith(("image/", "video/")):
        if resp.content_type in ("text/html", "application/xhtml+xml") or _HTML_START.match(resp.body[:512]):
            return Probe("failure", "the image became an HTML page")
        return Probe("failure", f"no longer an image ({resp.content_type or 'no content type'})")
    reason = placeholder_reason(resp.body, rt.settings, archived_sha256)
    if reason:
        return Probe("failure", reason)
    if archived_sha256:
        return Probe("ok", f"HTTP {resp.status}, {mime}, different bytes than archived", changed=True)
    return Probe("ok", f"HTTP {resp.status}, {mime}")
