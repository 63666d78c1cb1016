"""Evidence bundles: a zip of the stored bytes of chosen posts with a SHA256SUMS list, and
`verify_bundle`, which checks one offline (no settings, storage or catalog needed).
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from archiver import __version__
from archiver.auth import Principal
from archiver.capture.manifest import is_manifest_document
from archiver.compliance import audit
from archiver.compliance.holds import PostNotFound, check_post, media_sha256s, post_state
from archiver.dates import iso, utcnow
from archiver.errors import InputError
from archiver.storage.base import ObjectNotFound
from archiver.storage.layout import BLOB_PREFIX, POSTS_PREFIX, blob_key, post_prefix

if TYPE_CHECKING:
    from archiver.runtime import Runtime

SUMS = "SHA256SUMS"

MAX_EXPORT_POSTS = 1000

_STORED_SUFFIXES = (".warc.gz", ".gz", ".zip")

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
            kind = zipfile.ZIP_STORED if name.endswith(_STORED_SUFFIXES) or name.startswith(BLOB_PREFIX) \
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
            shas = media_sha256s(docs, avatars=True)
            blobs.update(shas)
            listed.append({"provider": provider, "post_id": post_id, "files": len(keys),
                           "captures": sum(1 for d in docs if is_manifest_document(d)),
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
    """What verify_bundle found: `files` listed in SHA256SUMS and hashed, one line per problem; ok if none."""

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
            if name.startswith(BLOB_PREFIX) and name in actual and actual[name] != name.rsplit("/", 1)[-1]:
                result.problems.append(f"{name}: content does not match its name")
            if not (name.startswith(POSTS_PREFIX) and name.endswith(".json")):
                continue
            try:
                doc = json.loads(zf.read(name))
            except (ValueError, zipfile.BadZipFile, OSError):
                result.problems.append(f"{name}: not valid JSON")
                continue
            if not is_manifest_document(doc):
                continue
            for sha in media_sha256s([doc], avatars=True):
                if blob_key(sha) not in names:
                    result.problems.append(f"{name}: media {sha[:16]}… is not in the bundle")
            warc = doc.get("warc")
            if isinstance(warc, str) and warc not in names:
                result.problems.append(f"{name}: its WARC {warc} is not in the bundle")
    return result
