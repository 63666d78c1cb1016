"""Article versions: committing a new version (body, patch, then the metadata that commits it),
listing them from storage, and carrying a source span through the chain of patches to a version.

Finalize, restore and revert all write through `write_version`, serialized per article.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from archiver import __version__
from archiver.article.decode import same_encoding, web_name
from archiver.article.splice import Patch
from archiver.coordination import share_locks
from archiver.dates import iso, utcnow
from archiver.errors import ArchiverError
from archiver.records.base import RecordError
from archiver.records.version import Version
from archiver.storage.base import ObjectNotFound, json_bytes
from archiver.storage.layout import (
    article_prefix,
    patch_key,
    sha256_hex,
    version_key,
    version_meta_key,
    version_number,
)

if TYPE_CHECKING:
    from archiver.runtime import Runtime


# --- committing ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Written:
    """What `write_version` left current: the committed `version`, and whether this call wrote it
    (`new` is False when the bytes equalled the current version's)."""

    version: Version
    new: bool

    @property
    def number(self) -> int:
        return self.version.version

    @property
    def key(self) -> str:
        return self.version.key


class RestoreError(ArchiverError):
    """The article cannot be restored or reverted as asked (its version history does not allow it)."""


class VersionConflict(ArchiverError):
    """Another version was written between reading the current one and writing its successor."""


class DamagedVersion(Exception):
    """A version the caller needs has a committed record (``articles/<id>/v<N>.json``) that cannot be
    read (not JSON, not a version record, gone between listing and reading). Not the user's error: the
    CLI exits 1 with this one line, which names the object and says how to get it back."""

    def __init__(self, article_id: str, number: int) -> None:
        key = version_meta_key(article_id, number)
        super().__init__(f"version {number} of article {article_id!r} cannot be used: its record {key} is "
                         "unreadable (restore that object from a backup, or run `archiver reindex` to see "
                         "what storage still holds)")
        self.article_id, self.number, self.key = article_id, number, key


class DamagedData(DamagedVersion):
    """Stored data a command needs is damaged or missing (a version's bytes gone or failing their
    recorded SHA-256, a version record gone, a capture's manifest gone): not the user's error. The CLI
    exits 1 with this one line, which names the object and says how to get it back."""

    def __init__(self, message: str, *, article_id: str = "", number: int = 0, key: str = "") -> None:
        Exception.__init__(self, message)
        self.article_id, self.number, self.key = article_id, number, key


class DamagedStoredVersion(RestoreError, DamagedData):
    """A version's stored bytes (or its record) are missing or fail their recorded SHA-256. A
    RestoreError (the API answers 409) and DamagedData (the CLI exits 1: ``as_damaged``)."""


def as_damaged(exc: DamagedData) -> DamagedData:
    """`exc` as a plain DamagedData (no ArchiverError), so the CLI reports it as damaged stored data
    (exit 1) and not as the user's error."""
    return DamagedData(str(exc), article_id=exc.article_id, number=exc.number, key=exc.key)


@dataclass(frozen=True)
class Listing:
    """Article `article_id`'s committed versions as storage holds them: `readable` (oldest first) and the numbers
    of those whose record is `unreadable` (ascending). `last_number` is the highest committed number of
    either kind (0 for none): the next version is written after it, never over a damaged one."""

    article_id: str
    readable: list[Version]
    unreadable: list[int]

    @property
    def last_number(self) -> int:
        return max([v.version for v in self.readable[-1:]] + self.unreadable[-1:] + [0])

    def entries(self) -> list[dict[str, Any]]:
        """Every committed version, ascending: a readable one as Version.to_json(), an unreadable one as
        {"version": N, "unreadable": True, "key": its record's key}."""
        out = [v.to_json() for v in self.readable]
        out += [{"version": n, "unreadable": True, "key": version_meta_key(self.article_id, n)}
                for n in self.unreadable]
        return sorted(out, key=lambda e: int(e["version"]))


def version_listing(rt: Runtime, article_id: str) -> Listing:
    """The article's committed versions, tolerating a damaged record: one that is not JSON, not a
    version record or gone between listing and reading is listed as unreadable, not raised. Storage
    faults (not answering) are raised."""
    readable: list[Version] = []
    broken: list[int] = []
    for key in rt.store.list(f"{article_prefix(article_id)}v"):
        number = version_number(article_id, key)
        if number is None:
            continue
        try:
            readable.append(Version.loads(rt.store.get(key), key))
        except (RecordError, ObjectNotFound, ValueError):
            broken.append(number)
    return Listing(article_id, sorted(readable, key=lambda v: v.version), sorted(broken))


def versions(rt: Runtime, article_id: str) -> list[Version]:
    """Committed versions from storage (the truth) whose record can be read, oldest first: a damaged
    record is left out (`version_listing` names those), so one bad ``v<N>.json`` does not block
    reading, showing or reverting to the others. Storage faults are raised."""
    return version_listing(rt, article_id).readable


def version_entry(rt: Runtime, v: Version) -> dict[str, Any]:
    """One version as restore and revert reports give it (`archiver show` prints it as a line):
    {"version", "created", "reason", "key", "path" (a file path in file mode, else the key), "sha256"}."""
    return {"version": v.version, "created": v.created_at, "reason": v.reason, "key": v.key,
            "path": rt.store.locate(v.key), "sha256": v.sha256}


def version_body(rt: Runtime, v: Version) -> bytes:
    """Version `v`'s stored bytes, verified against its recorded SHA-256: what every reader that builds
    on a stored version (restore, revert, withhold) must use. DamagedStoredVersion, one line naming the
    object, when they are missing or differ."""
    where = f"version {v.version} of article {v.article_id!r} cannot be used: its bytes {v.key}"
    fix = "(damaged stored data: restore that object from a backup, or revert to another version)"
    try:
        body = rt.store.get(v.key)
    except ObjectNotFound:
        raise DamagedStoredVersion(f"{where} are missing {fix}", article_id=v.article_id, number=v.version,
                                   key=v.key) from None
    if sha256_hex(body) != v.sha256:
        raise DamagedStoredVersion(f"{where} do not match their recorded sha256 {fix}", article_id=v.article_id,
                                   number=v.version, key=v.key)
    return body


def missing_version(article_id: str, number: int) -> DamagedStoredVersion:
    """The error for version `number`, below the last committed one, whose record is missing or unreadable."""
    key = version_meta_key(article_id, number)
    return DamagedStoredVersion(f"version {number} of article {article_id!r} cannot be used: its record {key} is "
                                "missing or unreadable (damaged stored data: restore that object from a backup)",
                                article_id=article_id, number=number, key=key)


def encodable(text: str, encoding: str) -> str:
    """`text` as it reads back after encoding (characters the encoding lacks become references)."""
    return text.encode(encoding, errors="xmlcharrefreplace").decode(encoding)


def write_version(rt: Runtime, article_id: str, body: bytes, *, reason: str, source_sha256: str, encoding: str,
                  patch_doc: dict[str, Any], unless_current: bool = True, expected_current: int | None = None,
                  history: Sequence[Version] | None = None) -> Written:
    """Commit `body` as the article's next version (finalize, restore and revert all come here).

    With `unless_current`, bytes equal to the current version's write nothing and return it.
    Body and patch are written first; the metadata file commits the version, so a crash before it
    leaves an uncommitted body that the next writer overwrites. Serialized per article; with
    `expected_current` (an edit made on top of that version) a newer version raises VersionConflict.
    The lock is shared with the other processes using this storage (archiver.coordination.share_locks),
    and the metadata is put only if no record has that number (VersionConflict otherwise).
    `history` is the article's versions as the caller listed them: under the lock one existence check
    (is there a version after its last?) replaces listing them again, and they are listed only when
    another writer got in between.
    """
    digest = sha256_hex(body)
    aid = article_id
    share_locks(rt)  # serialized across the processes that write this storage, not only this one's threads
    with rt.coordinator.lock(f"article:{aid}", timeout=120):
        # Versions are committed one after another under this lock, so when the one after the last
        # known is not committed, the known list is still the whole history.
        known = list(history) if history is not None else None
        last = known[-1].version if known else 0
        if known is None or rt.store.exists(version_meta_key(aid, last + 1)):
            listing = version_listing(rt, aid)
            known, last = listing.readable, listing.last_number
        current = known[-1] if known and known[-1].version == last else None
        # A damaged record above the last readable one still holds its number: the next version goes
        # after it (never over it), and nothing is "current" to compare bytes with.
        number = known[-1].version if known else 0
        if expected_current is not None and number != expected_current:
            raise VersionConflict(f"article {aid!r} moved to version {number} while an edit of version "
                                  f"{expected_current} was prepared; run it again")
        # The same bytes in another encoding (a re-archive with a corrected charset) are a new version:
        # the version's encoding is what the article is shown, restored and edited in.
        if (unless_current and current is not None and current.sha256 == digest
                and (current.encoding is None or same_encoding(current.encoding, encoding))):
            written = Written(current, new=False)
        else:
            n = last + 1
            rt.store.put(version_key(aid, n), body, content_type="text/html; charset=" + web_name(encoding))
            rt.store.put(patch_key(aid, n), json_bytes(patch_doc), content_type="application/json")
            meta = Version(article_id=aid, version=n, key=version_key(aid, n), sha256=digest,
                           created_at=iso(utcnow()), reason=reason, source_sha256=source_sha256,
                           encoding=encoding, patch_key=patch_key(aid, n), archiver_version=__version__)
            # A committed version is final: should a lock have failed us, the record another writer
            # committed under this number stays, and this write is a conflict (the caller tries again).
            if not rt.store.put(version_meta_key(aid, n), meta.dumps(), content_type="application/json",
                                if_none_match=True):
                raise VersionConflict(f"article {aid!r}: version {n} was committed by another writer meanwhile")
            written = Written(meta, new=True)
        v = written.version
        rt.catalog.record_version(article_id=aid, version=v.version, key=v.key, sha256=v.sha256,
                                  source_sha256=v.source_sha256, reason=v.reason, created_at=v.created_at)
    return written

# --- carrying source spans to the current version ------------------------------------------------
def patch_chain(rt: Runtime, history: Sequence[Version], number: int, source_sha256: str) -> list[Patch]:
    """The patches leading from the source to version `number`, oldest first."""
    return [patch for patch, _ in chain_docs(rt, history, number, source_sha256)]

def chain_docs(rt: Runtime, history: Sequence[Version], number: int,
               source_sha256: str) -> list[tuple[Patch, dict[str, Any]]]:
    """Each patch from the source to version `number` with its stored document, oldest first."""
    metas = {v.version: v for v in history}
    chain: list[tuple[Patch, dict[str, Any]]] = []
    while True:
        meta = metas.get(number)
        if meta is None or len(chain) > len(metas):
            raise RestoreError(f"version {number} is missing from the article's history")
        try:
            if meta.patch_key is None:
                raise KeyError("patch_key")
            doc = json.loads(rt.store.get(meta.patch_key))
            chain.append((Patch.from_json(doc), doc))
        except ObjectNotFound:
            raise DamagedStoredVersion(f"version {number} of article {meta.article_id!r} cannot be used: its patch "
                                       f"{meta.patch_key} is missing (damaged stored data: restore that object "
                                       "from a backup)", article_id=meta.article_id, number=number,
                                       key=meta.patch_key or "") from None
        except (KeyError, ValueError) as exc:
            raise DamagedStoredVersion(f"version {number} of article {meta.article_id!r} cannot be used: its patch "
                                       f"{meta.patch_key} is unreadable ({str(exc)[:200]}; damaged stored data: "
                                       "restore that object from a backup)", article_id=meta.article_id,
                                       number=number, key=meta.patch_key or "") from None
        base = doc.get("base") or {}
        if base.get("kind") == "version" and int(base.get("version", number)) < number:
            number = int(base["version"])
            continue
        if base.get("kind") == "source" and base.get("sha256") == source_sha256:
            return chain[::-1]
        raise RestoreError(f"version {meta.version} does not derive from source {source_sha256[:12]}")

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
