"""Compliance actions on archived posts: legal hold, takedown, evidence export and its verification.

Object storage stays the truth: each post's compliance state is `compliance/posts/<provider>/<post_id>.json`
and the catalog tables post_compliance / takedown_keys are an index rebuilt from it by `reindex`.
A hold sets an S3 Object Lock legal hold on every object of the post where the bucket supports it,
and is recorded in every case. A takedown hides the post's manifests, WARC, cards and media from
public serving (410) but deletes nothing, and so does it for what is stored after it: a capture of the
post, or of a post whose capture carries its words, is hidden as it is stored (``TakedownGuard``, used
by archiver/capture/record.py), and once stored the post's hidden keys are those a rebuild gives.
Every change of a post's state is made under the post's lock (``post_lock``), so a hold and a takedown
sent at once are both kept. An export is a signed WACZ of the stored bytes
themselves (archiver/compliance/wacz.py), which `verify_bundle` checks offline. Every action is
written to the audit log.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from archiver.auth import Principal
from archiver.capture.manifest import is_manifest_document
from archiver.catalog.core import Catalog
from archiver.compliance import audit
from archiver.coordination import share_locks
from archiver.dates import iso, utcnow
from archiver.errors import InputError
from archiver.roles import may_read_reasons
from archiver.storage import layout
from archiver.storage.base import ObjectNotFound, ObjectStore, stored_json_objects
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



class PostNotFound(InputError):
    """No stored capture of that post."""


def ensure_schema(catalog: Catalog) -> None:
    """Create the post_compliance and takedown_keys tables in `catalog` if missing; once per Catalog object."""
    def create() -> None:
        for stmt in _SCHEMA:
            catalog.execute(stmt)

    catalog.ensure_tables("compliance", create)


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

# What a caller outside REASON_ROLES sees of a hold or a takedown (``visible_state``): that there is one,
# and since when. Its reason, who placed it, what the store enforced, notes, history: none of it.
SHOWN_TO_ALL = ("at",)


def visible_state(role: str | None, state: Any) -> Any:
    """A post's compliance state (``post_state``, or an action's answer) as a caller of ``role`` may see
    it: whole for REASON_ROLES (``roles.may_read_reasons``, the one check); for anyone else only whether
    the post is held and whether it is taken down, each ``{"at": ...}`` (SHOWN_TO_ALL) or None, and
    nothing else of the state (an allowlist: a field added to a hold later is hidden until listed)."""
    if not isinstance(state, dict) or may_read_reasons(role):
        return state
    out: dict[str, Any] = {}
    for part in ("hold", "takedown"):
        value = state.get(part)
        out[part] = {k: value.get(k) for k in SHOWN_TO_ALL} if isinstance(value, dict) else None
    return out


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


def _index(rt: Runtime, provider: str, post_id: str, state: dict[str, Any], *, exact: bool = False) -> None:
    """Index the post's state: its post_compliance row and, while it is taken down, its takedown_keys
    (``_hidden_keys``; every row of the post gets the current reason). Rows of the post beyond those are
    left in place (a capture running now may have hidden what it is storing: ``TakedownGuard``) unless
    ``exact`` (a rebuild), and all go when it is not taken down."""
    ensure_schema(rt.catalog)
    cat = rt.catalog
    cat.execute(
        "INSERT INTO post_compliance (provider, post_id, held, taken_down, state, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (provider, post_id) DO UPDATE SET held = excluded.held, "
        "taken_down = excluded.taken_down, state = excluded.state, updated_at = excluded.updated_at",
        [provider, post_id, int(bool(state.get("hold"))), int(bool(state.get("takedown"))),
         json.dumps(state, ensure_ascii=False, sort_keys=True), iso(utcnow())],
    )
    if not state.get("takedown"):
        cat.execute("DELETE FROM takedown_keys WHERE provider = ? AND post_id = ?", [provider, post_id])
        return
    reason = state["takedown"]["reason"]
    # The new keys first, the old ones after: no moment where a key of the post is not hidden.
    wanted = _hide_all(rt, provider, post_id, reason)
    cat.execute("UPDATE takedown_keys SET reason = ? WHERE provider = ? AND post_id = ?", [reason, provider, post_id])
    if exact:
        for row in cat.query("SELECT key FROM takedown_keys WHERE provider = ? AND post_id = ?", [provider, post_id]):
            if row["key"] not in wanted:
                _unhide(rt, row["key"], provider, post_id)


def _hide(rt: Runtime, key: str, provider: str, post_id: str, reason: str) -> None:
    """Hide ``key`` (a post prefix or ``blob:<sha256>``) for the takedown of provider/post_id."""
    rt.catalog.execute(
        "INSERT INTO takedown_keys (key, provider, post_id, reason) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (key, provider, post_id) DO NOTHING", [key, provider, post_id, reason])


def _unhide(rt: Runtime, key: str, provider: str, post_id: str) -> None:
    rt.catalog.execute("DELETE FROM takedown_keys WHERE key = ? AND provider = ? AND post_id = ?",
                       [key, provider, post_id])


def _hide_all(rt: Runtime, provider: str, post_id: str, reason: str) -> set[str]:
    """Hide every key of ``_hidden_keys`` for the takedown of provider/post_id; returns them."""
    wanted = set(_hidden_keys(rt, provider, post_id))
    for key in sorted(wanted):
        _hide(rt, key, provider, post_id, reason)
    return wanted


@contextmanager
def post_lock(rt: Runtime, provider: str, post_id: str, timeout: float = 120.0) -> Iterator[None]:
    """Hold the post's compliance lock: every process changing the post's state or its takedown keys
    (API, UI, CLI, a capture of it) takes it, so read-modify-writes of its state never interleave (the
    coordinator's lock: Redis for the workers, lock files shared on this host otherwise).
    TimeoutError when not acquired within ``timeout`` seconds."""
    share_locks(rt)  # across processes on this host, not only this one's threads
    with rt.coordinator.lock(f"compliance:{provider}/{post_id}", timeout=timeout):
        yield


def _current_state(rt: Runtime, provider: str, post_id: str) -> dict[str, Any]:
    """The post's state as stored (the truth; read under its lock, it is the latest); the catalog's
    (``post_state``) when no readable state is stored."""
    try:
        doc = json.loads(rt.store.get(layout.compliance_state_key(provider, post_id)))
    except (ObjectNotFound, ValueError, RecursionError):
        return post_state(rt, provider, post_id)
    if not isinstance(doc, dict) or not all(isinstance(doc.get(p), dict | None) for p in ("hold", "takedown")):
        return post_state(rt, provider, post_id)
    state = {"hold": doc.get("hold"), "takedown": doc.get("takedown")}
    for part in ("hold", "takedown"):  # shown as post_state shows it
        if isinstance(state[part], dict) and isinstance(state[part].get("reason"), str):
            state[part] = {**state[part], "reason": shown_reason(state[part]["reason"])}
    return state


# --- what is stored after a takedown ---------------------------------------------------------------
Post = tuple[str, str]  # (provider, post_id)


def taken_down(rt: Runtime, posts: Iterable[Post]) -> dict[Post, str]:
    """The posts among ``posts`` taken down now (as the catalog indexes it), with the takedown's reason."""
    ensure_schema(rt.catalog)
    out: dict[Post, str] = {}
    for provider, post_id in sorted(set(posts)):
        rows = rt.catalog.query("SELECT state FROM post_compliance WHERE provider = ? AND post_id = ? "
                                "AND taken_down = 1", [provider, post_id])
        if rows:
            try:
                reason = json.loads(rows[0]["state"])["takedown"]["reason"]
            except (ValueError, KeyError, TypeError):
                reason = None
            out[(provider, post_id)] = reason if isinstance(reason, str) and reason else "taken down"
    return out


class TakedownGuard:
    """Keeps what one capture stores (the post's capture and those of its related posts) hidden from
    the moment it is stored when a taken-down post is involved, as the takedown would have hidden it
    had the capture been made before it, and hides nothing else, not even for a moment:

    * a capture of a taken-down post writes its media, video posters and link card image through
      ``store_for``'s store, which hides each original (and so its derived copies) before writing it
      (its manifest, WARC, cards and page are under the post's prefix, hidden already). The author's
      avatar, which the takedown's rule (``_hidden_keys``) leaves out because the author's other posts
      share it, is written to the store itself (archiver/capture/record.py), never through it;
    * a capture carrying a taken-down post's words (``captures``: each capture's post and the posts it
      carries as quoted or parent) has its post's prefix hidden before anything is stored.

    The rule of every hide, decided before the object is written: only a key the takedown's own rule
    gives for that object, and only under the post's lock while the post is taken down (a takedown
    lifted since the capture began hides nothing more; a lift, under the same lock, removes what was
    hidden before it). So a capture that raises or dies between a hide and ``settle`` leaves nothing
    hidden that the takedown does not cover: at most the originals a finished capture of the post would
    have hidden (an original stored but named by no manifest, the capture having died first, stays
    hidden until the capture's retry settles or ``archiver reindex`` rebuilds the keys exactly).

    ``settle``, once the captures are stored and indexed, makes the takedown keys of every post involved
    what a takedown (or ``archiver reindex``) computes from storage now: under each post's lock, the keys
    of ``_hidden_keys`` hidden (a takedown placed while the capture ran), and those hidden here beyond
    them (an original no stored manifest names) shown again."""

    def __init__(self, rt: Runtime, captures: Sequence[tuple[Post, Sequence[Post]]]) -> None:
        self.rt = rt
        self.posts = {p for own, carried in captures for p in (own, *carried) if _well_formed(p)}
        self.down = taken_down(rt, self.posts) if self.posts else {}
        self.made: set[tuple[str, Post]] = set()  # (key, taken-down post) hidden here
        for own, carried in captures:
            for other in carried:
                if other in self.down and other != own and _well_formed(own):
                    self._hide(layout.post_prefix(*own), other)

    def _hide(self, key: str, post: Post) -> None:
        """Hide ``key`` for the takedown of ``post``, under the post's lock and only while it is taken
        down (its current reason); once per key and post."""
        if (key, post) in self.made:
            return
        with post_lock(self.rt, *post):
            reason = taken_down(self.rt, [post]).get(post)
            if reason is None:  # lifted since the capture began: nothing of it is hidden any more
                return
            _hide(self.rt, key, *post, reason)
        self.made.add((key, post))

    def store_for(self, provider: str, post_id: str, store: ObjectStore) -> ObjectStore:
        """The store a capture of provider/post_id writes through: ``store`` itself unless the post is
        taken down, else one that hides each original before writing it or a copy derived from it."""
        post = (provider, post_id)
        if post not in self.down:
            return store
        return cast(ObjectStore, _HidingStore(store, lambda sha: self._hide(f"blob:{sha}", post)))

    def settle(self) -> None:
        """Make the takedown keys of every post involved those ``_hidden_keys`` gives now (see the class)."""
        now = taken_down(self.rt, self.posts) if self.posts else {}
        for post in sorted(set(now) | {p for _, p in self.made}):
            made = {key for key, p in self.made if p == post}
            with post_lock(self.rt, *post):
                state = post_state(self.rt, *post)  # indexed under the same lock by whoever changed it
                takedown = state.get("takedown") if isinstance(state.get("takedown"), dict) else None
                wanted: set[str] = set()
                if takedown is not None:
                    reason = takedown.get("reason")
                    wanted = _hide_all(self.rt, *post, reason if isinstance(reason, str) else "taken down")
                for key in sorted(made - wanted):
                    _unhide(self.rt, key, *post)


def _well_formed(post: Post) -> bool:
    try:
        layout.check_post(*post)
    except ValueError:
        return False
    return True


class _HidingStore:
    """An object store that calls ``hide(sha256)`` before writing an original (``blobs/sha256/..``) or a
    copy derived from one (``derived/<sha256>/..``); everything else is the store's own."""

    def __init__(self, store: ObjectStore, hide: Callable[[str], None]) -> None:
        self._store = store
        self._hide = hide

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def put(self, key: str, data: bytes, **kwargs: Any) -> bool:
        """The store's put, the original named by ``key`` hidden first."""
        parts = key.split("/")
        if key.startswith(layout.BLOB_PREFIX):
            self._hide(parts[-1])
        elif key.startswith(layout.DERIVED_PREFIX) and len(parts) > 1:
            self._hide(parts[1])
        return self._store.put(key, data, **kwargs)

    def put_blob(self, data: bytes, content_type: str, sha256: str | None = None) -> tuple[str, str, bool]:
        """The store's put_blob, the original hidden first."""
        sha = sha256 or hashlib.sha256(data).hexdigest()
        self._hide(sha)
        return self._store.put_blob(data, content_type, sha)


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
    keys = post_keys(rt, provider, post_id)
    with post_lock(rt, provider, post_id):  # a takedown or another hold sent at once waits: neither is lost
        return _set_hold(rt, principal, provider, post_id, keys, on=on, reason=reason)


def _set_hold(rt: Runtime, principal: Principal | None, provider: str, post_id: str, keys: list[str], *,
              on: bool, reason: str) -> dict[str, Any]:
    """set_hold's read-modify-write, under the post's lock."""
    target = f"{provider}/{post_id}"
    state = _current_state(rt, provider, post_id)
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
    post_keys(rt, provider, post_id)  # the post must exist
    with post_lock(rt, provider, post_id):  # a hold or another takedown sent at once waits: neither is lost
        return _set_takedown(rt, principal, provider, post_id, on=on, reason=reason)


def _set_takedown(rt: Runtime, principal: Principal | None, provider: str, post_id: str, *, on: bool,
                  reason: str) -> dict[str, Any]:
    """set_takedown's read-modify-write, under the post's lock."""
    target = f"{provider}/{post_id}"
    state = _current_state(rt, provider, post_id)
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


def _state_of(doc: Any) -> tuple[str, str, dict[str, Any]] | None:
    """(provider, post_id, {"hold", "takedown"}) of a stored compliance state; None when it is not one."""
    if not isinstance(doc, dict):
        return None
    provider, post_id = doc.get("provider"), doc.get("post_id")
    hold, takedown = doc.get("hold"), doc.get("takedown")
    if (not isinstance(provider, str) or not isinstance(post_id, str) or not isinstance(hold, dict | None)
            or not isinstance(takedown, dict | None) or (takedown and not isinstance(takedown.get("reason"), str))):
        return None
    return provider, post_id, {"hold": hold, "takedown": takedown}


def reindex(rt: Runtime, skipped: list[str] | None = None) -> int:
    """Rebuild post_compliance and takedown_keys from the stored states (holds and takedowns); returns
    how many were indexed. A damaged state is left out, its key and reason appended to `skipped`."""
    n = 0
    for key, doc in stored_json_objects(rt.store, layout.COMPLIANCE_POSTS_PREFIX, skipped):
        found = _state_of(doc)
        if found is None:
            if skipped is not None:
                skipped.append(f"{key}: not a compliance state")
            continue
        provider, post_id, state = found
        with post_lock(rt, provider, post_id):  # not amid a change of the post's state
            try:  # the latest, should it have changed since it was listed
                again = _state_of(json.loads(rt.store.get(key)))
            except (ObjectNotFound, ValueError, RecursionError):
                again = None
            if again is not None and again[:2] == (provider, post_id):
                state = again[2]
            _index(rt, provider, post_id, state, exact=True)
        n += 1
    return n
