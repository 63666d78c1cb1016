"""Compliance actions on archived posts: legal hold, takedown, evidence export and its verification.

Object storage stays the truth: each post's compliance state is `compliance/posts/<provider>/<post_id>.json`
and the catalog tables post_compliance / takedown_keys are an index rebuilt from it by `reindex`.
A hold sets an S3 Object Lock legal hold on every object of the post where the bucket supports it,
and is recorded in every case. A takedown hides the post's manifests, WARC, cards and media from
public serving (410) but deletes nothing. An export is a zip of the stored bytes themselves plus a
SHA256SUMS list, which `verify_bundle` checks offline. Every action is written to the audit log.
"""

from __future__ import annotations

import hashlib
import json
import re
import weakref
import zipfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from archiver import __version__, audit
from archiver.auth import Principal
from archiver.catalog import Catalog
from archiver.errors import InputError
from archiver.pipeline import Runtime, iso, utcnow
from archiver.store import ObjectNotFound, blob_key

PROVIDER_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
POST_ID_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,199}")
SHA256_RE = re.compile(r"[0-9a-f]{64}")
SUMS = "SHA256SUMS"
MAX_EXPORT_POSTS = 1000
_STORED_SUFFIXES = (".warc.gz", ".gz", ".zip")
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
    if catalog not in _ready:
        for stmt in _SCHEMA:
            catalog.execute(stmt)
        _ready.add(catalog)


def check_post(provider: str, post_id: str) -> tuple[str, str]:
    if not PROVIDER_RE.fullmatch(provider) or not POST_ID_RE.fullmatch(post_id) or ".." in post_id:
        raise PostNotFound(f"no post {provider!r}/{post_id!r}")
    return provider, post_id


def post_prefix(provider: str, post_id: str) -> str:
    return f"posts/{provider}/{post_id}/"


def state_key(provider: str, post_id: str) -> str:
    return f"compliance/posts/{provider}/{post_id}.json"


# --- what belongs to a post ---------------------------------------------------------------------
def manifests(rt: Runtime, provider: str, post_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(key, manifest) of every stored capture, oldest first; unreadable files are skipped."""
    out = []
    for key in rt.store.list(post_prefix(*check_post(provider, post_id))):
        if key.endswith(".json"):
            try:
                doc = json.loads(rt.store.get(key))
            except (ObjectNotFound, ValueError):
                continue
            if isinstance(doc, dict) and doc.get("schema") == "archiver.manifest.v1":
                out.append((key, doc))
    return out


def media_sha256s(docs: Iterable[dict[str, Any]]) -> list[str]:
    shas = {m["sha256"] for d in docs for m in d.get("media") or ()
            if isinstance(m, dict) and isinstance(m.get("sha256"), str) and SHA256_RE.fullmatch(m["sha256"])}
    return sorted(shas)


def post_keys(rt: Runtime, provider: str, post_id: str) -> list[str]:
    """Every stored object of the post: its snapshots, WARCs, cards, media originals and derivatives."""
    own = list(rt.store.list(post_prefix(*check_post(provider, post_id))))
    if not own:
        raise PostNotFound(f"no stored capture of {provider}/{post_id}")
    keys = list(own)
    for sha in media_sha256s(d for _, d in manifests(rt, provider, post_id)):
        if rt.store.exists(blob_key(sha)):
            keys.append(blob_key(sha))
        keys.extend(rt.store.list(f"derived/{sha}/"))
    return keys


# --- state ----------------------------------------------------------------------------------
def post_state(rt: Runtime, provider: str, post_id: str) -> dict[str, Any]:
    """{"hold": {...} | None, "takedown": {...} | None} as indexed in the catalog."""
    ensure_schema(rt.catalog)
    rows = rt.catalog.query("SELECT state FROM post_compliance WHERE provider = ? AND post_id = ?",
                            [provider, post_id])
    return json.loads(rows[0]["state"]) if rows else {"hold": None, "takedown": None}


def _hidden_keys(rt: Runtime, provider: str, post_id: str) -> list[str]:
    docs = [d for _, d in manifests(rt, provider, post_id)]
    return [post_prefix(provider, post_id)] + [f"blob:{sha}" for sha in media_sha256s(docs)]


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
    rt.store.put(state_key(provider, post_id), json.dumps(doc, ensure_ascii=False, sort_keys=True).encode(),
                 content_type="application/json")
    _index(rt, provider, post_id, state)


def _by(principal: Principal | None) -> dict[str, Any]:
    return {"by": principal.name if principal else "system", "at": iso(utcnow())}


def set_hold(rt: Runtime, principal: Principal | None, provider: str, post_id: str, *, on: bool,
             reason: str = "") -> dict[str, Any]:
    """Put (or lift) a legal hold; returns the new state with what the store enforced."""
    keys = post_keys(rt, provider, post_id)
    object_lock = rt.store.supports_object_lock()
    enforced = sum(1 for key in keys if object_lock and rt.store.set_legal_hold(key, on))
    state = post_state(rt, provider, post_id)
    state["hold"] = {"reason": reason, "object_lock": object_lock, "objects": enforced, **_by(principal)} if on \
        else None
    _save(rt, provider, post_id, state)
    audit.record(rt, principal, "hold" if on else "release_hold", f"{provider}/{post_id}",
                 {"reason": reason, "object_lock": object_lock, "objects": enforced, "keys": len(keys)})
    return state


def set_takedown(rt: Runtime, principal: Principal | None, provider: str, post_id: str, *, on: bool,
                 reason: str = "") -> dict[str, Any]:
    """Hide the post from public serving (or show it again); the stored evidence is untouched."""
    post_keys(rt, provider, post_id)  # the post must exist
    state = post_state(rt, provider, post_id)
    state["takedown"] = {"reason": reason, **_by(principal)} if on else None
    _save(rt, provider, post_id, state)
    audit.record(rt, principal, "takedown" if on else "restore_public", f"{provider}/{post_id}",
                 {"reason": reason})
    return state


def hidden_reason(rt: Runtime, key: str) -> str | None:
    """Why a public key is taken down, or None when it may be served."""
    parts = key.split("/")
    if key.startswith("posts/"):
        candidates = ["/".join(parts[:i]) + "/" for i in range(3, len(parts))]
    elif key.startswith(("blobs/", "derived/")):
        candidates = [f"blob:{parts[-1] if key.startswith('blobs/') else parts[1]}"]
    else:
        return None
    if not candidates:
        return None
    ensure_schema(rt.catalog)
    marks = ", ".join("?" for _ in candidates)
    rows = rt.catalog.query(f"SELECT reason FROM takedown_keys WHERE key IN ({marks}) LIMIT 1",  # noqa: S608
                            candidates)
    return rows[0]["reason"] if rows else None


def reindex(rt: Runtime) -> int:
    """Rebuild post_compliance and takedown_keys from the stored states; returns how many."""
    n = 0
    for key in rt.store.list("compliance/posts/"):
        doc = json.loads(rt.store.get(key))
        _index(rt, doc["provider"], doc["post_id"], {"hold": doc.get("hold"), "takedown": doc.get("takedown")})
        n += 1
    return n


# --- evidence export ---------------------------------------------------------------------------
_README = """archiver evidence bundle
========================

Created {created_at} by {created_by} with archiver {version}.

posts/<provider>/<post_id>/<capture_id>.json      each capture's manifest, as stored
posts/<provider>/<post_id>/<capture_id>.warc.gz   the raw HTTP exchanges of that capture (WARC)
blobs/sha256/<ab>/<sha256>                        media originals, named by their SHA-256
export.json                                       what was exported, by whom, from which query
SHA256SUMS                                        the SHA-256 of every other file here

Check it offline: `sha256sum -c SHA256SUMS` or `archiver verify BUNDLE.zip`, which also checks
that every media sha256 a manifest names is included and matches its bytes.
"""


def export_bundle(rt: Runtime, principal: Principal | None, posts: list[tuple[str, str]], out: IO[bytes], *,
                  query: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write a zip of the posts' stored evidence to `out`; audited. Returns a summary."""
    posts = list(dict.fromkeys(check_post(p, i) for p, i in posts))
    if len(posts) > MAX_EXPORT_POSTS:
        raise InputError(f"at most {MAX_EXPORT_POSTS} posts per export (got {len(posts)})")
    sums: list[tuple[str, str]] = []
    listed: list[dict[str, Any]] = []
    created = {"created_at": iso(utcnow()), "created_by": principal.name if principal else "system"}
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:

        def add(name: str, data: bytes) -> None:
            kind = zipfile.ZIP_STORED if name.endswith(_STORED_SUFFIXES) or name.startswith("blobs/") \
                else zipfile.ZIP_DEFLATED
            zf.writestr(name, data, compress_type=kind)
            sums.append((hashlib.sha256(data).hexdigest(), name))

        blobs: set[str] = set()
        for provider, post_id in posts:
            keys = list(rt.store.list(post_prefix(provider, post_id)))
            if not keys:
                raise PostNotFound(f"no stored capture of {provider}/{post_id}")
            docs = []
            for key in keys:
                data = rt.store.get(key)
                add(key, data)
                if key.endswith(".json"):
                    docs.append(json.loads(data))
            shas = media_sha256s(docs)
            blobs.update(shas)
            listed.append({"provider": provider, "post_id": post_id, "files": len(keys),
                           "captures": sum(1 for d in docs if d.get("schema") == "archiver.manifest.v1"),
                           "media": shas, **post_state(rt, provider, post_id)})
        missing = []
        for sha in sorted(blobs):
            try:
                add(blob_key(sha), rt.store.get(blob_key(sha)))
            except ObjectNotFound:
                missing.append(sha)
        meta = {"schema": "archiver.export.v1", "archiver_version": __version__, **created, "query": query,
                "posts": listed, "missing_blobs": missing}
        add("export.json", json.dumps(meta, ensure_ascii=False, indent=1, sort_keys=True).encode())
        add("README.txt", _README.format(version=__version__, **created).encode())
        zf.writestr(SUMS, "".join(f"{h}  {n}\n" for h, n in sums))
    summary = {"posts": len(posts), "files": len(sums) + 1, "missing_blobs": missing}
    audit.record(rt, principal, "export", ",".join(f"{p}/{i}" for p, i in posts)[:1000],
                 {"query": query, **summary}, result_count=len(posts))
    return summary


@dataclass
class Verification:
    files: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _sha256_member(zf: zipfile.ZipFile, name: str) -> str:
    h = hashlib.sha256()
    with zf.open(name) as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_bundle(path: str | Path) -> Verification:
    """Recompute every hash of a bundle and check its manifests' media against the included blobs."""
    result = Verification()
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        result.problems.append(f"{path}: not a readable zip ({exc})")
        return result
    with zf:
        names = [i.filename for i in zf.infolist() if not i.is_dir()]
        dupes = sorted(n for n, count in Counter(names).items() if count > 1)
        result.problems += [f"{n}: appears more than once" for n in dupes]
        if SUMS not in names:
            result.problems.append(f"{SUMS}: missing")
            return result
        expected: dict[str, str] = {}
        for line in zf.read(SUMS).decode("utf-8", "replace").splitlines():
            m = re.fullmatch(r"([0-9a-f]{64}) [ *](.+)", line)
            if not m:
                result.problems.append(f"{SUMS}: malformed line {line[:80]!r}")
                continue
            expected[m.group(2)] = m.group(1)
        for name in names:
            if name != SUMS and name not in expected:
                result.problems.append(f"{name}: not listed in {SUMS}")
        actual: dict[str, str] = {}
        for name, digest in expected.items():
            if name not in names:
                result.problems.append(f"{name}: listed in {SUMS} but missing")
                continue
            try:
                actual[name] = _sha256_member(zf, name)
            except (zipfile.BadZipFile, OSError, ValueError) as exc:  # a CRC error: bytes were changed
                result.problems.append(f"{name}: unreadable ({exc})")
                continue
            if actual[name] != digest:
                result.problems.append(f"{name}: SHA-256 mismatch (listed {digest[:16]}…, is {actual[name][:16]}…)")
            result.files += 1
        for name in names:
            if name.startswith("blobs/sha256/") and name in actual and actual[name] != name.rsplit("/", 1)[-1]:
                result.problems.append(f"{name}: content does not match its name")
            if not (name.startswith("posts/") and name.endswith(".json")):
                continue
            try:
                doc = json.loads(zf.read(name))
            except (ValueError, zipfile.BadZipFile, OSError):
                result.problems.append(f"{name}: not valid JSON")
                continue
            if not isinstance(doc, dict) or doc.get("schema") != "archiver.manifest.v1":
                continue
            for sha in media_sha256s([doc]):
                if blob_key(sha) not in names:
                    result.problems.append(f"{name}: media {sha[:16]}… is not in the bundle")
            warc = doc.get("warc")
            if isinstance(warc, str) and warc not in names:
                result.problems.append(f"{name}: its WARC {warc} is not in the bundle")
    return result
