"""Restoring an article whose originals died, and reverting it to any earlier version.

Restore works on the CURRENT version's bytes: each dead item's occurrences (spans in the source the
plan was made from) are carried through the chain of version patches to where they sit now, and
only those spans change — a dead tweet embed becomes a frame showing its static card (the embed
markup it replaces stays in the new version's patch, so the restore can be reversed), a dead image
points at its stable copy. Revert writes an earlier version's bytes, exactly, as a new current
version. Both go through pipeline.write_version, tell the CMS through a signed callback, and are
audit-logged.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import http.client
import json
import logging
from typing import Any
from urllib.parse import urlsplit

from archiver import health
from archiver.auth import Principal
from archiver.errors import ArchiverError, InputError
from archiver.pipeline import (
    Plan,
    Runtime,
    check_article_id,
    encodable,
    load_plan,
    load_result,
    versions,
    write_version,
)
from archiver.rewrite import Patch, PatchError, Replacement, splice
from archiver.store import ObjectNotFound

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Archiver-Signature"
CALLBACK_TIMEOUT = 10.0


class RestoreError(ArchiverError):
    """The article cannot be restored or reverted as asked."""


# --- reports in the shape of `archiver show --json` ----------------------------------------------
def version_entry(rt: Runtime, v: dict[str, Any]) -> dict[str, Any]:
    return {"version": v["version"], "created": v["created_at"], "reason": v["reason"], "key": v["key"],
            "path": rt.store.locate(v["key"]), "sha256": v["sha256"]}


def _history(rt: Runtime, article_id: str) -> list[dict[str, Any]]:
    history = versions(rt, check_article_id(article_id))
    if not history:
        raise InputError(f"no article {article_id!r} in {rt.store.describe()}")
    return history


# --- carrying source spans to the current version ------------------------------------------------
def patch_chain(rt: Runtime, history: list[dict[str, Any]], number: int, source_sha256: str) -> list[Patch]:
    """The patches leading from the source to version `number`, oldest first."""
    return [patch for patch, _ in chain_docs(rt, history, number, source_sha256)]


def chain_docs(rt: Runtime, history: list[dict[str, Any]], number: int,
               source_sha256: str) -> list[tuple[Patch, dict[str, Any]]]:
    """Each patch from the source to version `number` with its stored document, oldest first."""
    metas = {v["version"]: v for v in history}
    chain: list[tuple[Patch, dict[str, Any]]] = []
    while True:
        meta = metas.get(number)
        if meta is None or len(chain) > len(metas):
            raise RestoreError(f"version {number} is missing from the article's history")
        try:
            doc = json.loads(rt.store.get(meta["patch_key"]))
            chain.append((Patch.from_json(doc), doc))
        except (ObjectNotFound, KeyError, ValueError) as exc:
            raise RestoreError(f"version {number} has no usable patch: {exc}") from None
        base = doc.get("base") or {}
        if base.get("kind") == "version" and int(base.get("version", number)) < number:
            number = int(base["version"])
            continue
        if base.get("kind") == "source" and base.get("sha256") == source_sha256:
            return chain[::-1]
        raise RestoreError(f"version {meta['version']} does not derive from source {source_sha256[:12]}")


def map_span(chain: list[Patch], start: int, end: int) -> tuple[int, int] | None:
    """Where [start, end) of the source sits after the chain, or None if an edit cut across it."""
    for patch in chain:
        before = inside = 0
        for op in patch.ops:
            a, b, delta = op["start"], op["end"], len(op["new"]) - (op["end"] - op["start"])
            if start <= a and b <= end and not (a == b and a in (start, end)):
                inside += delta
            elif b <= start:
                before += delta
            elif a >= end:
                continue
            else:
                return None
        start, end = start + before, end + before + inside
    return start, end


# --- what a dead item becomes ---------------------------------------------------------------------
def card_key(rt: Runtime, result: dict[str, Any]) -> str:
    """The static card of the item's capture; RestoreError when there is none."""
    snapshot = result.get("snapshot")
    if result.get("status") != "archived" or not snapshot:
        raise RestoreError(f"no archived copy of {result.get('url')} to restore from "
                           f"(capture status {result.get('status')!r})")
    manifest = json.loads(rt.store.get(snapshot))
    key = (manifest.get("cards") or {}).get("html") or snapshot.removesuffix(".json") + ".card.html"
    if not isinstance(key, str) or not rt.store.exists(key):
        raise RestoreError(f"the capture {result.get('capture_id')} of {result.get('url')} has no static card "
                           f"({key}) yet: capture the post again to make one")
    return key


def card_markup(rt: Runtime, result: dict[str, Any], key: str, *, html_context: bool) -> str:
    """A sandboxed frame showing the card (HTML), or the card's stable URL (text, Markdown lines)."""
    src = rt.store.public_url(key)
    if not html_context:
        return src
    e = html.escape
    original = result.get("url") or ""
    title = f"Archived copy of {original}" if original else "Archived copy of a post"
    return (f'<iframe class="archiver-card" src="{e(src)}" title="{e(title)}" sandbox="" loading="lazy" '
            f'referrerpolicy="no-referrer" style="border:0;width:100%;max-width:550px;min-height:250px" '
            f'data-originalurl="{e(original)}" data-versionurl="{e(rt.store.public_url(result["snapshot"]))}" '
            f'data-versiondate="{e(result.get("captured_at") or "")}"></iframe>')


def _replacements(rt: Runtime, plan: Plan, text: str, encoding: str, chain: list[Patch],
                  item: dict[str, Any]) -> list[Replacement]:
    res = load_result(rt, plan, item["item_id"]) or {}
    reps = []
    key = card_key(rt, res) if item["kind"] == "embed" else None
    if item["kind"] == "image" and not res.get("stable_url"):
        raise RestoreError(f"no stable copy of {item['url']} (capture status {res.get('status')!r})")
    for occ in item["occurrences"]:
        span = map_span(chain, occ["start"], occ["end"])
        if span is None:
            raise RestoreError(f"an edit in a later version cut across {item.get('url')} at {occ['start']}")
        old = text[span[0]:span[1]]
        if key is not None:
            new = card_markup(rt, res, key, html_context=old.lstrip().startswith("<"))
        else:
            new = res["stable_url"]
        new = encodable(new, encoding)
        if new != old:
            reps.append(Replacement(span[0], span[1], new))
    return reps


# --- restore and revert ---------------------------------------------------------------------------
def restore(rt: Runtime, article_id: str, *, item_ids: list[str] | None = None, all_dead: bool = False,
            principal: Principal | None = None, auto: bool = False) -> dict[str, Any]:
    """Restore the given items (with `all_dead`, or when none are given: every dead one too) into a
    new version; report what happened to each."""
    with rt.coordinator.lock(f"restore:{article_id}", timeout=120):
        history = _history(rt, article_id)
        current = history[-1]
        plan = load_plan(rt, article_id, current["source_sha256"])
        wanted = set(item_ids or [])
        unknown = sorted(wanted - {it["item_id"] for it in plan.items})
        if unknown:
            raise InputError(f"article {article_id!r} has no item {', '.join(unknown)}")
        if all_dead or not wanted:
            wanted |= {o.item_id for o in health.dead_items(rt, article_id)}
        encoding = current.get("encoding") or plan.encoding
        text = rt.store.get(current["key"]).decode(encoding)
        chain = patch_chain(rt, history, current["version"], plan.source_sha256)
        reps: list[Replacement] = []
        outcome = []
        for item in plan.items:
            if item["item_id"] not in wanted:
                continue
            entry = {"item_id": item["item_id"], "kind": item["kind"], "url": item.get("url")}
            try:
                found = _replacements(rt, plan, text, encoding, chain, item)
            except (RestoreError, ObjectNotFound) as exc:
                outcome.append({**entry, "status": "error", "error": str(exc)})
                continue
            reps.extend(found)
            outcome.append({**entry, "status": "restored" if found else "already", "error": None})
        version = current
        new = False
        if reps:
            try:
                new_text, patch = splice(text, reps)
            except (ValueError, PatchError) as exc:
                raise RestoreError(f"restoring {article_id!r}: {exc}") from None
            base = {"kind": "version", "version": current["version"], "sha256": current["sha256"],
                    "key": current["key"]}
            written = write_version(
                rt, article_id, new_text.encode(encoding), reason="auto-restore" if auto else "restore",
                source_sha256=plan.source_sha256, encoding=encoding,
                patch_doc={"base": base, **patch.to_json(),
                           "restored": [o["item_id"] for o in outcome if o["status"] == "restored"]},
                unless_current=False, expected_current=current["version"])
            version = next(v for v in versions(rt, article_id) if v["version"] == written.number)
            new = True
    report = {"article_id": article_id, "current": version["version"], "version": version_entry(rt, version),
              "new_version": new, "items": outcome}
    report["callback"] = notify_cms(rt, "restore", report) if new else None
    _audit(rt, principal, "restore", article_id, {"version": version["version"], "new_version": new,
                                                  "auto": auto, "items": outcome,
                                                  "callback": report["callback"]},
           sum(1 for o in outcome if o["status"] == "restored"))
    return report


def revert(rt: Runtime, article_id: str, to_version: int, *, principal: Principal | None = None) -> dict[str, Any]:
    """Write version `to_version`'s bytes, exactly, as a new current version."""
    with rt.coordinator.lock(f"restore:{article_id}", timeout=120):
        history = _history(rt, article_id)
        target = next((v for v in history if v["version"] == to_version), None)
        if target is None:
            raise InputError(f"article {article_id!r} has no version {to_version} "
                             f"(versions 1-{history[-1]['version']})")
        body = rt.store.get(target["key"])
        if hashlib.sha256(body).hexdigest() != target["sha256"]:
            raise RestoreError(f"stored bytes of version {to_version} do not match their recorded sha256")
        encoding = target.get("encoding") or "utf-8"
        _, patch = splice(body.decode(encoding, errors="replace"), [])
        base = {"kind": "version", "version": to_version, "sha256": target["sha256"], "key": target["key"]}
        written = write_version(rt, article_id, body, reason="revert", source_sha256=target["source_sha256"],
                                encoding=encoding, patch_doc={"base": base, **patch.to_json(),
                                                              "reverted_to": to_version},
                                unless_current=False, expected_current=history[-1]["version"])
        version = next(v for v in versions(rt, article_id) if v["version"] == written.number)
    report = {"article_id": article_id, "current": version["version"], "version": version_entry(rt, version),
              "new_version": True, "reverted_to": to_version}
    report["callback"] = notify_cms(rt, "revert", report)
    _audit(rt, principal, "revert", article_id, {"version": version["version"], "reverted_to": to_version,
                                                 "callback": report["callback"]}, 1)
    return report


def _audit(rt: Runtime, principal: Principal | None, action: str, article_id: str, detail: dict[str, Any],
           count: int) -> None:
    from archiver import audit

    audit.record(rt, principal, action, f"article:{article_id}", detail, count)


# --- auto-restore policy ----------------------------------------------------------------------------
def auto_restore_sites(rt: Runtime) -> set[str]:
    return {h.strip().lower().rstrip(".") for h in rt.settings.auto_restore_sites.split(",") if h.strip()}


def auto_restore(rt: Runtime, url: str) -> list[dict[str, Any]]:
    """Restore every article of a policy site that uses this (now dead) original."""
    sites = auto_restore_sites(rt)
    if not sites:
        return []
    health.ensure_schema(rt.catalog)
    rows = rt.catalog.query(
        "SELECT DISTINCT a.article_id AS article_id, a.url AS url FROM link_uses u "
        "JOIN articles a ON a.article_id = u.article_id WHERE u.url_sha256 = ? ORDER BY a.article_id",
        [health.url_sha256(url)])
    done = []
    for row in rows:
        host = (urlsplit(row["url"] or "").hostname or "").lower()
        if host and any(host == s or host.endswith("." + s) for s in sites):
            try:
                done.append(restore(rt, row["article_id"], auto=True))
            except ArchiverError as exc:
                log.warning("auto-restore of %s failed: %s", row["article_id"], exc)
    return done


# --- the CMS callback ------------------------------------------------------------------------------
def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def notify_cms(rt: Runtime, event: str, report: dict[str, Any]) -> dict[str, Any] | None:
    """POST the new version to `cms_callback_url`, signed; the outcome (never raises)."""
    from archiver.fetch import FetchError

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
    import certifi
    import urllib3
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.util.ssl_ import create_urllib3_context

    from archiver.fetch import FetchError, resolve_target

    target = resolve_target(url, rt.settings)
    errors = []
    for ip in target.addresses:
        if target.scheme == "https":
            context = create_urllib3_context()
            context.load_verify_locations(certifi.where())
            conn: HTTPConnection = HTTPSConnection(ip, target.port, timeout=CALLBACK_TIMEOUT,
                                                   server_hostname=target.host, ssl_context=context,
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
