"""Compliance actions on archived posts: legal hold, takedown, evidence export and its verification.

Object storage stays the truth: each post's compliance state is `compliance/posts/<provider>/<post_id>.json`
and the catalog tables post_compliance / takedown_keys are an index rebuilt from it by `reindex`.
A hold sets an S3 Object Lock legal hold on every object of the post where the bucket supports it,
and is recorded in every case. A takedown hides the post's manifests, WARC, cards and media from
public serving (410) but deletes nothing. An export is a signed WACZ of the stored bytes
themselves (archiver/compliance/wacz.py), which `verify_bundle` checks offline. Every action is
written to the audit log.
"""

from __future__ import annotations

import json
import re
import unicodedata
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from archiver.auth import Principal
from archiver.capture.manifest import is_manifest_document
from archiver.catalog.core import Catalog
from archiver.compliance import audit
from archiver.dates import iso, utcnow
from archiver.errors import InputError
from archiver.storage import layout
from archiver.storage.base import ObjectNotFound, stored_json_objects
from archiver.storage.layout import blob_key

if TYPE_CHECKING:
    from archiver.runtime import Runtime

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS post_compliance (
        provider TEXT NOT NULL,
        post_id TEXT NOT NULL,
        held INTEGER NOT NULL,
        taken_down INTEGER NOT NULL,
        state TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (provider, post_id))""",
    """CREATE TABLE IF NOT EXISTS takedown_keys (
        key TEXT NOT NULL,
        provider TEXT NOT NULL,
        post_id TEXT NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (key, provider, post_id))""",
]

_ready: weakref.WeakSet[Catalog] = weakref.WeakSet()


class PostNotFound(InputError):
    """No stored capture of that post."""


def ensure_schema(catalog: Catalog) -> None:
    """Create the post_compliance and takedown_keys tables in `catalog` if missing; once per Catalog object."""
    if catalog not in _ready:
        for stmt in _SCHEMA:
            catalog.execute(stmt)
        _ready.add(catalog)


def check_post(provider: str, post_id: str) -> tuple[str, str]:
    """(provider, post_id) when both are well formed; PostNotFound otherwise (no such post can be stored)."""
    try:
        layout.check_post(provider, post_id)
    except ValueError:
        raise PostNotFound(f"no post {provider!r}/{post_id!r}") from None
    return provider, post_id

# --- what belongs to a post ---------------------------------------------------------------------
def manifests(rt: Runtime, provider: str, post_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(key, manifest) of every stored capture, oldest first; unreadable files are skipped."""
    out = []
    for key in rt.store.list(layout.post_prefix(*check_post(provider, post_id))):
        if key.endswith(".json"):
            try:
                doc = json.loads(rt.store.get(key))
            except (ObjectNotFound, ValueError):
                continue
            if is_manifest_document(doc):
                out.append((key, doc))
    return out


def media_sha256s(docs: Iterable[dict[str, Any]], *, avatars: bool = False) -> list[str]:
    """The distinct, well-formed SHA-256 hex digests of the originals these manifests name (media,
    video posters, a link card's image, and with ``avatars`` the author's avatar, which other posts
    of the author share), sorted."""
    shas: set[str] = set()
    for d in docs:
        card = d.get("card") if isinstance(d.get("card"), dict) else {}
        author = d.get("author") if isinstance(d.get("author"), dict) else {}
        for m in [*(d.get("media") or ()), card.get("image")]:
            if isinstance(m, dict):
                shas.update(v for v in (m.get("sha256"), m.get("poster_sha256")) if isinstance(v, str))
        if avatars and isinstance(author.get("avatar_sha256"), str):
            shas.add(author["avatar_sha256"])
    return sorted(s for s in shas if layout.SHA256_RE.fullmatch(s))


def post_keys(rt: Runtime, provider: str, post_id: str) -> list[str]:
    """Every stored object of the post: its snapshots, WARCs, cards, capture pages, timestamp records
    and the RFC 3161 tokens they name (shared with the captures timestamped in the same batch), media
    originals and derivatives."""
    own = list(rt.store.list(layout.post_prefix(*check_post(provider, post_id))))
    if not own:
        raise PostNotFound(f"no stored capture of {provider}/{post_id}")
    keys = list(own)
    for key in own:
        if key.endswith(".timestamps.json"):
            keys.extend(k for k in _token_keys(rt, key) if k not in keys)
    for sha in media_sha256s(d for _, d in manifests(rt, provider, post_id)):
        if rt.store.exists(blob_key(sha)):
            keys.append(blob_key(sha))
        keys.extend(rt.store.list(layout.derived_prefix(sha)))
    return keys


def _token_keys(rt: Runtime, record_key: str) -> list[str]:
    """The stored token keys a capture's timestamp record names (well-formed ones only)."""
    try:
        doc = json.loads(rt.store.get(record_key))
    except (ObjectNotFound, ValueError, RecursionError):
        return []
    tokens = doc.get("tokens") if isinstance(doc, dict) else None
    named = [t.get("token_key") for t in tokens[:64] if isinstance(t, dict)] if isinstance(tokens, list) else []
    return [k for k in named if isinstance(k, str) and _TOKEN_KEY.fullmatch(k) and rt.store.exists(k)]


_TOKEN_KEY = re.compile(rf"{layout.TIMESTAMPS_PREFIX}[0-9a-f]{{64}}/\d{{1,3}}\.tsr")


# --- state ----------------------------------------------------------------------------------
def post_state(rt: Runtime, provider: str, post_id: str) -> dict[str, Any]:
    """{"hold": {...} | None, "takedown": {...} | None} as indexed in the catalog."""
    ensure_schema(rt.catalog)
    rows = rt.catalog.query("SELECT state FROM post_compliance WHERE provider = ? AND post_id = ?",
                            [provider, post_id])
    state = json.loads(rows[0]["state"]) if rows else {"hold": None, "takedown": None}
    for part in ("hold", "takedown"):  # a reason stored before the reason rule is shown by it
        if isinstance(state.get(part), dict) and isinstance(state[part].get("reason"), str):
            state[part]["reason"] = shown_reason(state[part]["reason"])
    return state

MAX_QUOTING = 1000  # captures quoting or replying to one post that a takedown follows


def quoting_posts(rt: Runtime, provider: str, post_id: str) -> set[tuple[str, str]]:
    """The posts whose captures quote, reply to or otherwise embed this post (its manifests'
    ``referenced_by``, but a later edit of the post itself), as (provider, post_id) pairs: their
    capture pages, cards and manifests carry this post's words. At most MAX_QUOTING captures are followed."""
    ids = {ref.get("capture_id") for _, doc in manifests(rt, provider, post_id)
           for ref in (doc.get("referenced_by") or [])[:100]
           if isinstance(ref, dict) and ref.get("relation") != "latest_edit"}
    out = set()
    for cid in sorted(i for i in ids if isinstance(i, str))[:MAX_QUOTING]:
        for row in rt.catalog.query("SELECT provider, post_id FROM captures WHERE capture_id = ?", [cid]):
            try:
                layout.check_post(row["provider"], row["post_id"])
            except ValueError:
                continue
            if (row["provider"], row["post_id"]) != (provider, post_id):
                out.add((row["provider"], row["post_id"]))
    return out


def _hidden_keys(rt: Runtime, provider: str, post_id: str) -> list[str]:
    """What a takedown of the post hides from public serving: the post's own objects, its media, and the
    objects of every post whose capture embeds its words (``quoting_posts``: their capture pages, cards,
    manifests and WARCs answer 410 too, the rule being to refuse serving what contains the words rather
    than to re-render it; their own media stay served)."""
    docs = [d for _, d in manifests(rt, provider, post_id)]
    quoting = [layout.post_prefix(*p) for p in sorted(quoting_posts(rt, provider, post_id))]
    return [layout.post_prefix(provider, post_id), *quoting] + [f"blob:{sha}" for sha in media_sha256s(docs)]


def embeds_taken_down(rt: Runtime, provider: str, post_id: str) -> bool:
    """Whether the post's captures carry the words of ANOTHER post that is taken down now (a quoted,
    replied-to or related post): its public copies are then refused (``hidden_reason``) though the post
    itself is not taken down."""
    ensure_schema(rt.catalog)
    rows = rt.catalog.query("SELECT provider, post_id FROM takedown_keys WHERE key = ?",
                            [layout.post_prefix(provider, post_id)])
    return any((r["provider"], r["post_id"]) != (provider, post_id) for r in rows)


def _index(rt: Runtime, provider: str, post_id: str, state: dict[str, Any]) -> None:
    ensure_schema(rt.catalog)
    cat = rt.catalog
    cat.execute(
        "INSERT INTO post_compliance (provider, post_id, held, taken_down, state, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (provider, post_id) DO UPDATE SET held = excluded.held, "
        "taken_down = excluded.taken_down, state = excluded.state, updated_at = excluded.updated_at",
        [provider, post_id, int(bool(state.get("hold"))), int(bool(state.get("takedown"))),
         json.dumps(state, ensure_ascii=False, sort_keys=True), iso(utcnow())],
    )
    cat.execute("DELETE FROM takedown_keys WHERE provider = ? AND post_id = ?", [provider, post_id])
    if state.get("takedown"):
        for key in _hidden_keys(rt, provider, post_id):
            cat.execute(
                "INSERT INTO takedown_keys (key, provider, post_id, reason) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (key, provider, post_id) DO NOTHING",
                [key, provider, post_id, state["takedown"]["reason"]],
            )


def _save(rt: Runtime, provider: str, post_id: str, state: dict[str, Any]) -> None:
    doc = {"schema": "archiver.compliance.v1", "provider": provider, "post_id": post_id, **state}
    data = json.dumps(doc, ensure_ascii=False, sort_keys=True).encode()
    rt.store.put(layout.compliance_state_key(provider, post_id), data, content_type="application/json")
    _index(rt, provider, post_id, state)


def _by(principal: Principal | None) -> dict[str, Any]:
    return {"by": principal.name if principal else "system", "at": iso(utcnow())}

MAX_REASON = 1000  # characters of a reason, once cleaned


def shown_reason(reason: str | None) -> str:
    """A reason without control, format (bidi controls, zero-width characters), surrogate, private-use or
    unassigned characters, its whitespace folded into single spaces: how a reason is stored, and how one
    stored before this rule is shown (``post_state``, ``hidden_reason``)."""
    kept = "".join(c for c in (reason or "") if unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co", "Cn")
                   or c in "\t\n\r")
    return " ".join(kept.split())


def clean_reason(reason: str | None) -> str:
    """A hold's or takedown's reason as stored and shown: control and format characters removed (so bidi
    controls such as U+202E cannot reorder what follows, nor NUL or U+200B hide in it), every run of
    whitespace one space, trimmed. InputError (one line) when what is left has no visible character (a
    letter, digit, punctuation mark or symbol) or is over MAX_REASON characters."""
    text = shown_reason(reason)
    if not any(unicodedata.category(c)[0] in "LNPS" for c in text):
        raise InputError("a reason is required: say why (a case number, a request, a court order) "
                         "in visible characters")
    if len(text) > MAX_REASON:
        raise InputError(f"the reason is {len(text)} characters long; at most {MAX_REASON}")
    return text


def _outcome(state: dict[str, Any], changed: bool, outcome: str) -> dict[str, Any]:
    """The post's state as the actions return it: with ``changed`` (False: nothing was changed) and
    ``outcome``, one line saying what happened."""
    return {**state, "changed": changed, "outcome": outcome}


def set_hold(rt: Runtime, principal: Principal | None, provider: str, post_id: str, *, on: bool,
             reason: str = "") -> dict[str, Any]:
    """Put (or lift) a legal hold; returns the new state ({"hold", "takedown"}) with what the store enforced,
    ``changed`` and ``outcome``: "held", "hold updated" (already held, another reason: the old and new
    reasons are audited), "hold released", "already held: nothing changed" (same reason) or "not held:
    nothing changed" (a release without a hold: audited as a "noop" event, not a state change).
    InputError for a reason without a visible character (``clean_reason``); PostNotFound."""
    target = f"{provider}/{post_id}"
    keys = post_keys(rt, provider, post_id)
    state = post_state(rt, provider, post_id)
    before = state.get("hold") if isinstance(state.get("hold"), dict) else None
    if on:
        reason = clean_reason(reason)
        if before is not None and before.get("reason") == reason:
            audit.record(rt, principal, "noop", target, {"action": "hold", "why": "already held"}, 0)
            return _outcome(state, False, "already held: nothing changed")
    elif before is None:
        audit.record(rt, principal, "noop", target, {"action": "release_hold", "why": "not held"}, 0)
        return _outcome(state, False, "not held: nothing changed")
    object_lock = rt.store.supports_object_lock()
    enforced = sum(1 for key in keys if object_lock and rt.store.set_legal_hold(key, on))
    state["hold"] = {"reason": reason, "object_lock": object_lock, "objects": enforced, **_by(principal)} if on \
        else None
    _save(rt, provider, post_id, state)
    updated = on and before is not None
    detail = {"reason": reason, "object_lock": object_lock, "objects": enforced, "keys": len(keys)}
    if updated:
        detail["previous_reason"] = before.get("reason") if before else None
    audit.record(rt, principal, ("hold_updated" if updated else "hold") if on else "release_hold", target, detail)
    return _outcome(state, True, ("hold updated" if updated else "held") if on else "hold released")


def set_takedown(rt: Runtime, principal: Principal | None, provider: str, post_id: str, *, on: bool,
                 reason: str = "") -> dict[str, Any]:
    """Hide the post from public serving (or show it again); the stored evidence is untouched. Returns the
    new state with ``changed`` and ``outcome`` as set_hold does: "taken down", "takedown updated",
    "already taken down: nothing changed", "served publicly again" or "not taken down: nothing changed"
    (a lift without a takedown: a "noop" audit event). InputError for a bad reason (``clean_reason``)."""
    target = f"{provider}/{post_id}"
    post_keys(rt, provider, post_id)  # the post must exist
    state = post_state(rt, provider, post_id)
    before = state.get("takedown") if isinstance(state.get("takedown"), dict) else None
    if on:
        reason = clean_reason(reason)
        if before is not None and before.get("reason") == reason:
            audit.record(rt, principal, "noop", target, {"action": "takedown", "why": "already taken down"}, 0)
            return _outcome(state, False, "already taken down: nothing changed")
    elif before is None:
        audit.record(rt, principal, "noop", target, {"action": "restore_public", "why": "not taken down"}, 0)
        return _outcome(state, False, "not taken down: nothing changed")
    state["takedown"] = {"reason": reason, **_by(principal)} if on else None
    _save(rt, provider, post_id, state)
    updated = on and before is not None
    detail: dict[str, Any] = {"reason": reason}
    if updated:
        detail["previous_reason"] = before.get("reason") if before else None
    audit.record(rt, principal, ("takedown_updated" if updated else "takedown") if on else "restore_public",
                 target, detail)
    return _outcome(state, True, ("takedown updated" if updated else "taken down") if on
                    else "served publicly again")


def hidden_reason(rt: Runtime, key: str) -> str | None:
    """Why a public key is taken down, or None when it may be served."""
    parts = key.split("/")
    if key.startswith(layout.POSTS_PREFIX):
        candidates = ["/".join(parts[:i]) + "/" for i in range(3, len(parts))]
    elif key.startswith((layout.BLOB_PREFIX, layout.DERIVED_PREFIX)):
        candidates = [f"blob:{parts[-1] if key.startswith('blobs/') else parts[1]}"]
    else:
        return None
    if not candidates:
        return None
    ensure_schema(rt.catalog)
    marks = ", ".join("?" for _ in candidates)
    rows = rt.catalog.query(f"SELECT reason FROM takedown_keys WHERE key IN ({marks}) LIMIT 1",  # noqa: S608
                            candidates)
    return shown_reason(rows[0]["reason"]) or "taken down" if rows else None


def reindex(rt: Runtime, skipped: list[str] | None = None) -> int:
    """Rebuild post_compliance and takedown_keys from the stored states (holds and takedowns); returns
    how many were indexed. A damaged state is left out, its key and reason appended to `skipped`."""
    n = 0
    for key, doc in stored_json_objects(rt.store, layout.COMPLIANCE_POSTS_PREFIX, skipped):
        provider, post_id = doc.get("provider"), doc.get("post_id")
        hold, takedown = doc.get("hold"), doc.get("takedown")
        if (not isinstance(provider, str) or not isinstance(post_id, str) or not isinstance(hold, dict | None)
                or not isinstance(takedown, dict | None) or (takedown and not isinstance(takedown.get("reason"), str))):
            if skipped is not None:
                skipped.append(f"{key}: not a compliance state")
            continue
        _index(rt, provider, post_id, {"hold": hold, "takedown": takedown})
        n += 1
    return n
