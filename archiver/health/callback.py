"""The signed callback that tells the CMS an article changed (restore, revert): HMAC-SHA256 over the
body, posted through the fetcher's address guard.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
from typing import TYPE_CHECKING, Any

from archiver.capture.exchange import FetchError
from archiver.capture.fetch import ssl_context
from archiver.capture.guard import resolve_target

if TYPE_CHECKING:
    from archiver.runtime import Runtime

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Archiver-Signature"

CALLBACK_TIMEOUT = 10.0

# --- the CMS callback ------------------------------------------------------------------------------
def sign(secret: str, body: bytes) -> str:
    """The X-Archiver-Signature value: "sha256=" and the hex HMAC-SHA256 of `body` keyed by UTF-8 `secret`."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()

def notify_cms(rt: Runtime, event: str, report: dict[str, Any]) -> dict[str, Any] | None:
    """POST the new version to `cms_callback_url`, signed; the outcome (never raises)."""

    url = rt.settings.cms_callback_url
    if not url:
        return None
    payload = {"event": event, "article_id": report["article_id"], "current": report["current"],
               "version": report["version"]}
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    if rt.settings.cms_callback_secret:
        headers[SIGNATURE_HEADER] = sign(rt.settings.cms_callback_secret, body)
    try:
        status = post(rt, url, body, headers)
    except FetchError as exc:
        log.warning("CMS callback to %s failed: %s", url, exc)
        return {"url": url, "status": None, "error": f"{exc.kind}: {exc}"}
    return {"url": url, "status": status, "error": None if 200 <= status < 300 else f"HTTP {status}"}

def post(rt: Runtime, url: str, body: bytes, headers: dict[str, str]) -> int:
    """One POST through the fetcher's address guard (the Fetcher itself only GETs): the host is
    resolved and checked once and the connection goes to that checked address; no redirects."""
    import urllib3
    from urllib3.connection import HTTPConnection, HTTPSConnection


    target = resolve_target(url, rt.settings)
    errors = []
    for ip in target.addresses:
        if target.scheme == "https":
            # certifi's roots, loaded once per process (the fetcher's cached context).
            conn: HTTPConnection = HTTPSConnection(ip, target.port, timeout=CALLBACK_TIMEOUT,
                                                   server_hostname=target.host, ssl_context=ssl_context(None),
                                                   cert_reqs="CERT_REQUIRED")
        else:
            conn = HTTPConnection(ip, target.port, timeout=CALLBACK_TIMEOUT)
        try:
            conn.request("POST", target.path, body=body, headers={
                "Host": target.host_header, "User-Agent": rt.settings.user_agent, "Connection": "close",
                "Content-Length": str(len(body)), **headers})
            resp = conn.getresponse()
            resp.read(64 * 1024)
            return int(resp.status)
        except (OSError, urllib3.exceptions.HTTPError, http.client.HTTPException) as exc:
            errors.append(f"{ip}: {type(exc).__name__}: {exc}")
        finally:
            conn.close()
    raise FetchError("network", f"POST {url[:200]} failed: {'; '.join(errors)[:300]}")
