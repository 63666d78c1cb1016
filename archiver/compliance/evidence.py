"""Evidence bundles: a signed WACZ of chosen posts (`export_bundle`), and `verify_bundle`, which checks
one offline (no settings, storage or catalog needed).

A bundle is a WACZ 1.1.1 package (archiver/compliance/wacz.py) holding, for every capture of every
exported post and, recursively up to MAX_RELATED_DEPTH, the captures its manifests name as quoted,
parent and latest_edit:

- the capture's WARC, as stored, under ``archive/``;
- in ``archive/files.warc.gz``, one ``resource`` record per other stored file, at the public URL of its
  key (so pywb or ReplayWeb.page replays it where a reader found it): the manifest, the HTML and PNG
  cards, the human capture page, the RFC 3161 timestamp record and the token files it names, every
  original the manifest names (media, video posters, the link card's image, the author's avatar) and
  their derived serving copies;
- ``pages/pages.jsonl``: each capture's human page (or, without one, its HTML card) as its entry;
- ``docs/export.json`` (what was exported, by whom, from which query; every file with its key, SHA-256
  and where it is in the package; what is missing or was left out by the bound), ``docs/README.txt``
  (every kind of file the bundle holds, and how to check it) and ``docs/tsa-ca-<n>.pem`` (the TSA CA
  certificates the timestamps chain to, when configured);
- ``datapackage.json`` and ``datapackage-digest.json``, signed with the archive's key when it has one
  (archiver/compliance/signing.py).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import unquote

from archiver import __version__
from archiver.auth import Principal
from archiver.capture.manifest import ManifestError, is_manifest_document, validate_manifest
from archiver.capture.media import sniff
from archiver.catalog import base as catalog_base
from archiver.compliance import audit
from archiver.compliance.holds import PostNotFound, check_post, media_sha256s, post_state
from archiver.compliance.signing import (
    check_signed_data,
    fingerprint,
    key_path,
    load_private_key,
    load_public_key,
    sign_digest,
)
from archiver.compliance.wacz import WACZ_VERSION, Page, WaczBuilder, warc_date
from archiver.dates import iso, utcnow
from archiver.errors import InputError
from archiver.storage.base import ObjectNotFound
from archiver.storage.layout import (
    MANIFEST_KEY_RE,
    blob_key,
    derived_prefix,
    post_prefix,
)

# The other halves of verification, by their interfaces (issue 16): each check is said "not checked"
# while its module is not in this archiver.
try:
    from archiver.capture.warc import check_manifest_against_warc
except ImportError:  # pragma: no cover - depends on the archiver's version
    check_manifest_against_warc = None  # type: ignore[assignment]
try:
    from archiver.compliance.timestamps import check_token, verify_capture_timestamps
except ImportError:  # pragma: no cover - depends on the archiver's version
    verify_capture_timestamps = None  # type: ignore[assignment]
try:
    from archiver.compliance.timestamps import timestamp_record_key as _ts_record_key
except ImportError:  # pragma: no cover - depends on the archiver's version
    _ts_record_key = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

    from archiver.runtime import Runtime

MAX_EXPORT_POSTS = 1000
SEARCH_PAGE = 1000           # hits asked for at a time when an export pages through a search
MAX_EXPORT_CAPTURES = 5000   # captures in one bundle, the exported posts' and their related ones
MAX_RELATED_DEPTH = 4        # quoted/parent/latest_edit links followed from an exported post's capture
EXPORT_SCHEMA = "archiver.export.v2"
EXPORT_DOC = "docs/export.json"
README_DOC = "docs/README.txt"
RELATIONS = ("quoted", "parent", "latest_edit")
TOKEN_KEY_RE = re.compile(r"timestamps/[0-9a-f]{64}/[0-9]{1,4}\.tsr")
TSR_TYPE = "application/timestamp-reply"
_TYPES = {".json": "application/json", ".warc.gz": "application/warc", ".html": "text/html; charset=utf-8",
          ".png": "image/png", ".webp": "image/webp", ".tsr": TSR_TYPE}

# --- verification bounds (the bundle is hostile input; the total budget is DECODED_BUDGET/HELD_BUDGET) ---
MAX_MEMBERS = 200_000
MAX_JSON_BYTES = 64 * 1024 * 1024
MAX_CHECKED_WARC_BYTES = 1024 * 1024 * 1024
_KEEP_SUFFIXES = (".json", ".tsr")


def capture_base(manifest_key: str) -> str:
    """``posts/<p>/<id>/<capture_id>``: the common stem of every file of one capture (``.json``,
    ``.warc.gz``, ``.card.html``, ``.card.png``, ``.html``, ``.timestamps.json``)."""
    return manifest_key.removesuffix(".json")


def timestamp_record_key(manifest_key: str) -> str:
    """Where a capture's RFC 3161 timestamp record lives: archiver.compliance.timestamps' rule when that
    module is here, else ``<capture base>.timestamps.json`` (the layout it documents)."""
    if _ts_record_key is not None:
        return str(_ts_record_key(manifest_key))
    return f"{capture_base(manifest_key)}.timestamps.json"


def file_kind(key: str) -> str:
    """The kind of a stored file, by its key, as the bundle's README names kinds."""
    if key.startswith("blobs/"):
        return "original"
    if key.startswith("derived/"):
        return "derived copy"
    if key.startswith("timestamps/"):
        return "timestamp token"
    for suffix, kind in ((".timestamps.json", "timestamp record"), (".card.html", "HTML card"),
                         (".card.png", "PNG card"), (".warc.gz", "capture WARC"), (".html", "capture page"),
                         (".json", "manifest")):
        if key.endswith(suffix):
            return kind
    return "other"


_PLURALS = {"derived copy": "derived copies", "other": "other files"}
_README = """archiver evidence bundle (WACZ {wacz_version})
================================================

Created {created_at} by {created_by} with archiver {version}.
{signed}

What it holds
-------------
{kinds}

Where
-----
archive/*.warc.gz (not files.warc.gz)   each capture's HTTP exchanges as recorded (WARC)
archive/files.warc.gz                   every stored file, one WARC resource record each, at the URL
                                        the archive serves it at (its WARC-Target-URI): the capture
                                        WARCs again (so a capture page's link to its WARC replays;
                                        the same bytes and SHA-256 as their archive/ file), manifests
                                        (posts/<provider>/<post_id>/<capture_id>.json), cards
                                        (.card.html, .card.png), capture pages (.html), timestamp
                                        records (.timestamps.json) and tokens (timestamps/<root>/<n>.tsr),
                                        originals (blobs/sha256/<ab>/<sha256>: media, video posters,
                                        link card images, avatars) and derived copies (derived/<sha256>/)
indexes/index.cdx.gz, index.idx         the CDXJ index of every record (for replay)
pages/pages.jsonl                       one entry page per capture: its capture page or HTML card
docs/export.json                        what was exported, by whom, from which query; every file with its
                                        key, SHA-256 and place here; what is missing and why
docs/tsa-ca-<n>.pem                     the TSA CA certificates the timestamps were made under, if any
datapackage.json                        every file's size and SHA-256
datapackage-digest.json                 datapackage.json's SHA-256 and the archive's ECDSA P-256 signature

Check it
--------
archiver verify BUNDLE.wacz --public-key archive-key.pem     every check below, in one command
wacz validate -f BUNDLE.wacz                                 the package and every file's hash
warcio check archive/*.warc.gz                               every WARC record's digests

A timestamp by hand (unzip the bundle first; warcio is `pip install warcio`):
zcat indexes/index.cdx.gz | grep <capture_id>       its files: each line's "url", "offset", "filename"
warcio extract --payload archive/files.warc.gz <offset of its .json>             > manifest.json
warcio extract --payload archive/files.warc.gz <offset of its .timestamps.json>  > record.json
zcat indexes/index.cdx.gz | grep <the record's "root">                          its tokens (.tsr)
warcio extract --payload archive/files.warc.gz <offset of timestamps/<root>/0.tsr> > token.tsr
openssl ts -verify -digest <root> -in token.tsr -CAfile docs/tsa-ca-1.pem       "Verification: OK"
sha256sum manifest.json, then the record's "path" joins it to "root": the archiver README's
"Checking one by hand" (under Trusted time) gives the five lines of Python; its "Evidence" section
shows how to check the signature with openssl.
"""


# --- export ---------------------------------------------------------------------------------------
@dataclass
class _Capture:
    key: str
    doc: dict[str, Any]
    depth: int
    named_by: str | None = None
    relation: str | None = None


@dataclass
class _Collected:
    captures: dict[str, _Capture] = field(default_factory=dict)
    left_out: list[dict[str, Any]] = field(default_factory=list)
    missing: list[dict[str, Any]] = field(default_factory=list)


def _related(doc: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(relation, manifest key) of the quoted, parent and latest_edit captures a manifest names."""
    for relation in RELATIONS:
        ref = doc.get(relation)
        key = ref.get("manifest_key") if isinstance(ref, dict) else None
        if isinstance(key, str) and MANIFEST_KEY_RE.fullmatch(key):
            yield relation, key


def _load_manifest(rt: Runtime, key: str) -> dict[str, Any] | None:
    try:
        doc = json.loads(rt.store.get(key))
    except (ObjectNotFound, ValueError):
        return None
    return doc if is_manifest_document(doc) else None


def _collect(rt: Runtime, posts: list[tuple[str, str]]) -> _Collected:
    """Every capture of the posts, then the related captures breadth first, bounded."""
    out = _Collected()
    queue: list[_Capture] = []
    for provider, post_id in posts:
        keys = [k for k in rt.store.list(post_prefix(provider, post_id)) if MANIFEST_KEY_RE.fullmatch(k)]
        found = [(k, d) for k in keys if (d := _load_manifest(rt, k)) is not None]
        if not found:
            raise PostNotFound(f"no stored capture of {provider}/{post_id}")
        for key, doc in found:
            if len(out.captures) >= MAX_EXPORT_CAPTURES:
                raise InputError(f"at most {MAX_EXPORT_CAPTURES} captures per export: export fewer posts")
            out.captures[key] = cap = _Capture(key, doc, 0)
            queue.append(cap)
    while queue:
        cap = queue.pop(0)
        for relation, key in _related(cap.doc):
            if key in out.captures:
                continue
            why = None
            if cap.depth + 1 > MAX_RELATED_DEPTH:
                why = f"over the bound of {MAX_RELATED_DEPTH} related links"
            elif len(out.captures) >= MAX_EXPORT_CAPTURES:
                why = f"over the bound of {MAX_EXPORT_CAPTURES} captures"
            doc = None if why else _load_manifest(rt, key)
            if why is None and doc is None:
                out.missing.append({"key": key, "kind": "manifest", "named_by": cap.key,
                                    "why": f"the {relation} capture is not stored"})
                continue
            if why is not None or doc is None:
                out.left_out.append({"key": key, "relation": relation, "named_by": cap.key, "why": why})
                continue
            out.captures[key] = new = _Capture(key, doc, cap.depth + 1, cap.key, relation)
            queue.append(new)
    return out


def _date_of(doc: Mapping[str, Any], fallback: str) -> str:
    try:
        return warc_date(str(doc.get("captured_at") or ""))
    except ValueError:
        return fallback


def _content_type(key: str, data: bytes) -> str:
    """What `archiver serve` answers for the key (archiver/web/copies.py's rule: by the key's kind, else by
    the bytes, never what an origin claimed), and application/timestamp-reply for a token."""
    for suffix, ctype in _TYPES.items():
        if key.endswith(suffix):
            return ctype
    return sniff(data) or "application/octet-stream"


def _tsa_ca_files(rt: Runtime) -> list[bytes]:
    """The PEM files of the setting tsa_ca_certs (a comma list of paths; H2's setting), each under 1 MiB."""
    paths = [p.strip() for p in str(getattr(rt.settings, "tsa_ca_certs", "") or "").split(",") if p.strip()]
    out = []
    for p in paths:
        try:
            data = Path(p).expanduser().read_bytes()[: 1 << 20]
        except OSError as exc:
            raise InputError(f"cannot read the TSA CA certificate {p}: {exc.strerror or exc}") from None
        out.append(data)
    return out


def search_posts(search: Callable[[Any], Any], query: Any) -> tuple[list[tuple[str, str]], int, dict[str, str | None]]:
    """Every post a search finds, for an export: pages through ``search`` (a catalog's ``search``) with
    ``query`` (a SearchQuery; its own limit and offset are ignored: an export of a query takes every
    match) and returns ((provider, post_id) pairs in the search's order, how many it matched, and for
    each post whose words matched another capture than its latest: "provider/post_id" -> that capture's
    id, or None for words spread over several captures: the hits' ``matched_capture_id``). InputError,
    one line, when it matches more than MAX_EXPORT_POSTS (narrow the search): a query's export never
    leaves a match out silently."""
    posts: dict[tuple[str, str], None] = {}
    elsewhere: dict[str, str | None] = {}
    offset, total, exact = 0, 0, True
    step = max(1, min(catalog_base.MAX_LIMIT, SEARCH_PAGE, MAX_EXPORT_POSTS))
    while True:
        page = search(query.model_copy(update={"limit": step, "offset": offset}))
        total, exact = max(total, int(page.total)), exact and bool(getattr(page, "total_exact", True))
        if total > MAX_EXPORT_POSTS or not exact:
            raise InputError(f"the search matches {'more than ' if not exact else ''}{total} posts; an export holds "
                             f"at most {MAX_EXPORT_POSTS}: narrow the search (a date range, from:, status:)")
        posts.update(((h["provider"], h["post_id"]), None) for h in page.hits)
        elsewhere.update((f"{h['provider']}/{h['post_id']}", h["matched_capture_id"]) for h in page.hits
                         if "matched_capture_id" in h and h["matched_capture_id"] != h.get("capture_id"))
        offset += len(page.hits)
        if not page.hits or offset >= total:
            break
    return list(posts), max(total, len(posts)), elsewhere


def _stored_capture_problems(rt: Runtime, mkey: str, doc: dict[str, Any], got: Mapping[str, bytes | None],
                             record: Any, tsa_ca: list[bytes]) -> list[str]:
    """What `verify_bundle` would say against a stored capture before it is exported and signed: its
    manifest's schema, its WARC (``warc_sha256``, its warcinfo's capture, the manifest re-derived from
    it: ``check_manifest_against_warc``) and its timestamp record and tokens
    (``verify_capture_timestamps``, under the configured TSA CA certificates, else the tokens' own).
    One line each; [] when it holds."""
    problems: list[str] = []
    try:
        validate_manifest(doc)
    except ManifestError as exc:
        problems.append(f"not a valid manifest: {one_line(exc, 200)}")
    raw = got.get(mkey)
    wkey = doc.get("warc")
    warc = got.get(wkey) if isinstance(wkey, str) else None
    if warc is not None and len(warc) <= MAX_CHECKED_WARC_BYTES:
        want = doc.get("warc_sha256")
        if want is not None and want != hashlib.sha256(warc).hexdigest():
            problems.append(f"its WARC is not the one its warc_sha256 {str(want)[:16]}… names")
        if check_manifest_against_warc is not None:
            problems += check_manifest_against_warc(doc, warc)
    if raw is None or not isinstance(record, dict) or verify_capture_timestamps is None:
        return problems
    trust = tsa_ca or None
    # As the verifier does (_check_timestamps): the record must be this manifest's, and when it holds
    # tokens at least one of them must verify (another TSA's failing token is only a warning there).
    problems += [f"timestamp record: {p}" for p in verify_capture_timestamps(raw, {**record, "tokens": []}, {}, trust)
                 if "timestamping still pending" not in str(p)]
    entries = record.get("tokens")
    if problems or not isinstance(entries, list) or not entries:
        return problems
    for entry in entries[:MAX_TIMESTAMP_TOKENS]:
        tkey = entry.get("token_key") if isinstance(entry, dict) else None
        if not isinstance(tkey, str) or not TOKEN_KEY_RE.fullmatch(tkey):
            continue
        try:
            token = rt.store.get(tkey)
        except ObjectNotFound:
            continue
        if not verify_capture_timestamps(raw, {**record, "tokens": [entry]}, {tkey: token}, trust):
            return problems
    return [*problems, "timestamp record: no token verifies"]


def export_bundle(rt: Runtime, principal: Principal | None, posts: list[tuple[str, str]], out: IO[bytes], *,
                  query: dict[str, Any] | None = None, via: str = "api",
                  env_user: str | None = None) -> dict[str, Any]:
    """Write the WACZ evidence bundle of `posts` ((provider, post_id) pairs) to `out` (a seekable binary
    file) and record the export in the audit log under `principal` (None: "system").

    `query`: the selection as the caller recorded it; when it holds ``matched`` (how many posts the
    search matched, ``search_posts``), export.json, README.txt, the summary and the audit event say
    ``matched`` and ``exported`` (every match: a search over the bound is refused before this).

    `env_user`: for a CLI export, the user name the environment claimed when it is not the OS user's
    (archiver.cli.output.os_user); recorded as ``created_by.environment_user`` and in the audit event,
    never as the exporter. Every name is written as one printable line (`one_line`) in export.json,
    README.txt and datapackage.json.

    Each capture WARC is the package file ``archive/<provider>-<post_id>-<capture_id>.warc.gz`` and, so
    that the capture page's link to it replays, also a resource record at its public URL in
    ``archive/files.warc.gz`` (its export.json entry's ``replay_copy``; the same bytes and SHA-256).

    Signed with the key at ``<home>/keys/evidence-signing-key.pem`` when there is one. Returns the
    summary ``{"format": "wacz", "sha256" and "bytes": the bundle's as written to `out` (also in the
    audit event, so a file can be tied to its export), "partial": manifest keys of partial captures
    (also in export.json and README.txt), "posts", "captures", "files": the files in the package
    (datapackage.json's resources, what `archiver verify` counts as files), "stored_files": the stored
    files it holds (export.json's "files"), "missing": [...], "left_out": [...], "pending_timestamps":
    [manifest keys whose timestamp record has no token yet], "signed": fingerprint or None}``. Raises
    PostNotFound for a post with no stored capture, InputError for too many posts or captures,
    ConfigError for an unreadable signing key."""

    posts = list(dict.fromkeys(check_post(p, i) for p, i in posts))
    if not posts:
        raise InputError("nothing to export: give at least one post")
    if len(posts) > MAX_EXPORT_POSTS:
        raise InputError(f"at most {MAX_EXPORT_POSTS} posts per export (got {len(posts)})")
    found = query.get("matched") if isinstance(query, dict) else None
    matched = found if isinstance(found, int) and not isinstance(found, bool) else None
    key: ec.EllipticCurvePrivateKey | None = load_private_key(key_path(rt.settings.home_path))
    created_at = iso(utcnow())
    now_date = warc_date(created_at)
    who: dict[str, Any] = {"name": one_line(principal.name, 200) if principal else "system",
                           "role": principal.role if principal else None, "via": via}
    if env_user is not None:
        who["environment_user"] = one_line(env_user, 200)
    pending: list[str] = []
    collected = _collect(rt, posts)
    files: list[dict[str, Any]] = []
    added: set[str] = set()
    blob_dates: dict[str, str] = {}
    captures_out: list[dict[str, Any]] = []
    tsa_ca = _tsa_ca_files(rt)

    with tempfile.TemporaryDirectory(prefix="archiver-export-") as tmp:
        builder = WaczBuilder(Path(tmp))

        def add_stored(key: str, date: str, named_by: str | None) -> bytes | None:
            if key in added:
                return None
            try:
                data = rt.store.get(key)
            except ObjectNotFound:
                collected.missing.append({"key": key, "kind": file_kind(key), "named_by": named_by,
                                          "why": "not in storage"})
                return None
            added.add(key)
            entry: dict[str, Any] = {"key": key, "kind": file_kind(key), "sha256": hashlib.sha256(data).hexdigest(),
                                     "bytes": len(data), "url": rt.store.public_url(key)}
            if key.endswith(".warc.gz") and key.startswith("posts/"):
                entry["in"] = builder.add_warc(key.removeprefix("posts/").replace("/", "-"), data)
                # the same bytes at its URL too, so the capture page's link to its WARC replays
                entry["replay_copy"] = builder.add_resource(entry["url"], data, _content_type(key, data), date)
            else:
                entry["in"] = builder.add_resource(entry["url"], data, _content_type(key, data), date)
            files.append(entry)
            return data

        listings: dict[str, list[str]] = {}
        for cap in collected.captures.values():
            doc, mkey = cap.doc, cap.key
            date = _date_of(doc, now_date)
            base = capture_base(mkey)
            m = MANIFEST_KEY_RE.fullmatch(mkey)
            assert m is not None
            provider, post_id = m.group("provider"), m.group("post_id")
            prefix = post_prefix(provider, post_id)
            if prefix not in listings:
                listings[prefix] = list(rt.store.list(prefix))
            # Its own files (the manifest, WARC, cards, page, timestamp record) share its stem.
            own = [k for k in listings[prefix] if k.startswith(base + ".")]
            cards = doc.get("cards") if isinstance(doc.get("cards"), dict) else {}
            named = [n for n in (doc.get("warc"), *cards.values()) if isinstance(n, str) and n.startswith(base + ".")]
            got: dict[str, bytes] = {}
            for k in [mkey, *own, *named]:
                data = add_stored(k, date, mkey)
                if data is not None:
                    got[k] = data
            record_key = timestamp_record_key(mkey)
            record: Any = None
            if record_key in added:
                try:
                    record = json.loads(rt.store.get(record_key))
                except (ObjectNotFound, ValueError):
                    record = None
            tokens = record.get("tokens") if isinstance(record, dict) else None
            if isinstance(record, dict) and not tokens:
                pending.append(mkey)
            for token in tokens if isinstance(tokens, list) else []:
                tkey = token.get("token_key") if isinstance(token, dict) else None
                if isinstance(tkey, str) and TOKEN_KEY_RE.fullmatch(tkey):
                    add_stored(tkey, date, record_key)
            bad = _stored_capture_problems(rt, mkey, doc, got, record, tsa_ca)
            if bad:  # never sign what the bundle's own checks would fail: the storage is not what was captured
                audit.record(rt, principal, "export_refused", f"{provider}/{post_id}",
                             {"via": via, "manifest_key": mkey, "problems": bad[:10]}, result_count=0)
                raise InputError(f"{one_line(mkey, 200)} does not verify against its own WARC and timestamp "
                                 f"record ({one_line(bad[0], 300)}{f'; {len(bad) - 1} more' if len(bad) > 1 else ''}"
                                 "): the stored capture was altered or damaged; nothing was exported or signed")
            for sha in media_sha256s([doc], avatars=True):
                blob_dates.setdefault(sha, date)
            page_key = next((k for k in (f"{base}.html", f"{base}.card.html") if k in added), None)
            author = doc.get("author") if isinstance(doc.get("author"), dict) else {}
            text = doc.get("text") if isinstance(doc.get("text"), str) else None
            if page_key is not None:
                handle = f" by @{author['handle']}" if isinstance(author.get("handle"), str) else ""
                builder.add_page(Page(rt.store.public_url(page_key), date,
                                      f"{doc.get('provider')} post {doc.get('post_id')}{handle} "
                                      f"({doc.get('status')}), captured {date}",
                                      text[:10_000] if text else None,
                                      {"id": str(doc.get("capture_id"))}))
            warc_file = next((f["in"] for f in files if f["key"] == doc.get("warc")), None)
            captures_out.append({"manifest_key": mkey, "provider": doc.get("provider"),
                                 "post_id": doc.get("post_id"), "capture_id": doc.get("capture_id"),
                                 "captured_at": doc.get("captured_at"), "status": doc.get("status"),
                                 "depth": cap.depth, "relation": cap.relation, "named_by": cap.named_by,
                                 "warc": warc_file, "page": rt.store.public_url(page_key) if page_key else None})
        for provider, post_id in posts:  # anything else stored under an exported post's prefix
            for k in listings.get(post_prefix(provider, post_id), []):
                add_stored(k, now_date, post_prefix(provider, post_id))
        for sha, date in sorted(blob_dates.items()):
            add_stored(blob_key(sha), date, "manifest")
            for dkey in rt.store.list(derived_prefix(sha)):
                add_stored(dkey, date, blob_key(sha))
        ca_docs = [builder.add_doc(f"tsa-ca-{n}.pem", pem) for n, pem in enumerate(tsa_ca, 1)]
        signed = fingerprint(key.public_key()) if key is not None else None
        post_list = [{"provider": p, "post_id": i, **post_state(rt, p, i)} for p, i in posts]
        meta = {"schema": EXPORT_SCHEMA, "archiver_version": __version__, "created_at": created_at,
                "created_by": who, "query": query, "public_base_url": rt.store.public_base_url,
                "files_warc": "archive/files.warc.gz", "signed_by": signed, "tsa_ca": ca_docs,
                "bounds": {"related_depth": MAX_RELATED_DEPTH, "captures": MAX_EXPORT_CAPTURES},
                "posts": post_list, "captures": captures_out, "files": files,
                "missing": collected.missing, "left_out": collected.left_out, "pending_timestamps": pending}
        partial = [c.key for c in collected.captures.values() if c.doc.get("status") == "partial"]
        meta["partial"] = partial
        if matched is not None:
            meta["search_result"] = {"matched": matched, "exported": matched, "cut": False}
        builder.add_doc("export.json", json.dumps(meta, ensure_ascii=False, indent=1, sort_keys=True).encode())
        kinds: dict[str, int] = {}
        for f in files:
            kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1
        kind_lines = "\n".join(f"{n:>6}  {k if n == 1 else _PLURALS.get(k, k + 's')}" for k, n in sorted(kinds.items()))
        kind_lines += "\n" + "\n".join(f"{'':>6}  {line}" for line in (
            ["1  export.json: what was exported, by whom, and where each file is",
             "1  README.txt: this file"]
            + ([f"{len(ca_docs)}  TSA CA certificate(s)"] if ca_docs else [])))
        if matched is not None:
            kind_lines += (f"\n\nThe search matched {matched} post(s); all {matched} are exported (an export "
                           f"holds at most {MAX_EXPORT_POSTS}: a search matching more is refused).")
            elsewhere = query.get("matched_captures") if isinstance(query, dict) else None
            if isinstance(elsewhere, dict) and elsewhere:
                kind_lines += (f"\n{len(elsewhere)} of them matched by the words of an earlier capture, not "
                               "their latest (or of several captures together): docs/export.json's "
                               "query.matched_captures names the capture for each.")
        if partial:
            kind_lines += (f"\n\nPartial captures ({len(partial)}): some of what these posts showed could not "
                           "be archived (a photo or video failed, a source did not answer); each manifest's "
                           "\"missing\" says what and why, and docs/export.json \"partial\" lists them:\n"
                           + "\n".join(f"  {k}" for k in partial[:50])
                           + (f"\n  and {len(partial) - 50} more" if len(partial) > 50 else ""))
        if collected.missing:
            kind_lines += f"\n\nMissing ({len(collected.missing)}): see docs/export.json \"missing\"."
        if collected.left_out:
            kind_lines += f"\nLeft out by the bound ({len(collected.left_out)}): see docs/export.json \"left_out\"."
        sign_line = (f"Signed with the archive's ECDSA P-256 key {signed}." if signed else
                     "NOT SIGNED: the archive had no signing key (archiver keys create).")
        if pending:
            kind_lines += (f"\nTimestamping pending ({len(pending)}): the TSAs had not answered yet when these "
                           "captures' records were written; see docs/export.json \"pending_timestamps\".")
        by = who["name"] + (f" (the environment said {who['environment_user']})" if env_user is not None else "")
        builder.add_doc("README.txt", _README.format(
            wacz_version=WACZ_VERSION, created_at=created_at, created_by=by, version=__version__,
            signed=sign_line, kinds=kind_lines).encode("utf-8"))
        first = builder.pages[0] if builder.pages else None
        title = (f"archiver evidence: {posts[0][0]}/{posts[0][1]}" if len(posts) == 1
                 else f"archiver evidence: {len(posts)} posts")
        signer = None
        if key is not None:
            private = key

            def signer(hash_value: str, created: str) -> dict[str, Any]:
                return sign_digest(private, hash_value, created)

        start = out.tell()
        package = builder.write(out, title=title,
                      description=f"{len(collected.captures)} capture(s) of {len(posts)} post(s) exported "
                                  f"{created_at} by {who['name']} with archiver {__version__}.",
                      main_page=first, sign=signer)
    end = out.tell()
    bundle_sha: str | None = None
    try:  # read back what was written (a write-only target cannot be: its hash is then not known)
        out.seek(start)
        bundle_hash, left = hashlib.sha256(), end - start
        while left > 0:
            chunk = out.read(min(left, 1 << 20))
            if not chunk:
                break
            bundle_hash.update(chunk)
            left -= len(chunk)
        bundle_sha = bundle_hash.hexdigest()
    except OSError:
        bundle_sha = None
    out.seek(end)
    summary = {"format": "wacz", "sha256": bundle_sha, "bytes": end - start,
               "posts": len(posts), "captures": len(collected.captures), "partial": partial,
               **({"matched": matched, "exported": matched} if matched is not None else {}),
               "files": len(package.get("resources") or []), "stored_files": len(files), "missing": collected.missing,
               "left_out": collected.left_out, "pending_timestamps": pending, "signed": signed}
    audit.record(rt, principal, "export", ",".join(f"{p}/{i}" for p, i in posts)[:1000],
                 {"query": query, "via": via,
                  **{k: v for k, v in summary.items()
                     if k not in ("missing", "left_out", "pending_timestamps", "partial")},
                  "partial": len(partial),
                  "missing": len(collected.missing), "left_out": len(collected.left_out),
                  "pending_timestamps": len(pending),
                  **({"environment_user": who["environment_user"]} if env_user is not None else {})},
                 result_count=len(posts))
    return summary


# --- verification ---------------------------------------------------------------------------------
@dataclass
class Verification:
    """What verify_bundle found. `problems`: one each (as found: names from the bundle unescaped, at most
    600 characters; whoever prints them escapes them), any makes the bundle fail; `warnings`: what
    holds but proves less than it could (an embedded key, a pending timestamp, a TSA not anchored);
    `not_checked`: checks that could not run, with why. `files` counts the WACZ members hashed against
    datapackage.json, `stored_files` the stored files as export counts them (its "files": the entries
    of docs/export.json found with their SHA-256), `captures` the manifests; `timestamps` one entry per verified
    token: ``{"capture": manifest key, "tsa": the record's tsa_url, "gen_time": ISO 8601 UTC}``."""

    files: int = 0
    captures: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)
    signed_by: str | None = None
    stored_files: int = 0
    timestamps: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class _OverBudget(Exception):
    """The bundle needs more decoded bytes, or more bytes held at once, than verification allows."""


class _Budget:
    """One total budget for a whole verification: `decoded` bytes decompressed (every layer: a zip
    member, a gzip record inside a WARC, each pass counted) and `held` bytes kept in memory at once.
    Raises _OverBudget the moment either runs out, so a compression bomb costs at most the budget."""

    def __init__(self, decoded: int, held: int) -> None:
        self.decoded_left = decoded
        self.held_left = held
        self.decoded_total, self.held_total = decoded, held

    def decode(self, n: int) -> None:
        self.decoded_left -= n
        if self.decoded_left < 0:
            raise _OverBudget(f"over the verification budget of {self.decoded_total} decoded bytes "
                              "(a compression bomb, or a bundle too large to verify here)")

    def hold(self, n: int) -> None:
        self.held_left -= n
        if self.held_left < 0:
            raise _OverBudget(f"over the verification budget of {self.held_total} bytes held in memory")

    def release(self, n: int) -> None:
        self.held_left += n


class _Counted(io.RawIOBase):
    """A read-only stream that charges every byte read from `inner` to the budget's decoded bytes."""

    def __init__(self, inner: IO[bytes], budget: _Budget) -> None:
        self.inner, self.budget = inner, budget

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.inner.read(min(len(b), 1 << 20))
        self.budget.decode(len(data))
        b[: len(data)] = data
        return len(data)


MAX_WARC_HEADER_LINE = 1 << 20  # a WARC header line longer than this is hostile (warcio reads lines whole)


class _WarcStream(io.RawIOBase):
    """A WARC file as plain records for warcio: its gzip members decoded here, in bounded steps, every
    decoded byte charged to the budget (a gzip bomb stops at the budget), and while `headers` is set
    (warcio reading record headers, which it reads a line at a time without a bound) a line over
    MAX_WARC_HEADER_LINE raises _OverBudget. A WARC that is not gzipped passes through as it is."""

    def __init__(self, raw: IO[bytes], budget: _Budget) -> None:
        self.raw, self.budget = raw, budget
        self.gzip: bool | None = None
        self.decomp: Any = None
        self.pending = b""
        self.out = b""
        self.headers = True
        self.since_newline = 0

    def readable(self) -> bool:
        return True

    def _more(self) -> bool:
        import zlib

        if self.gzip is None:
            self.pending = self.raw.read(2)
            self.gzip = self.pending == b"\x1f\x8b"
        if not self.gzip:
            data, self.pending = self.pending or self.raw.read(1 << 16), b""
            self.out = data
            return bool(data)
        while True:
            if self.decomp is not None and self.decomp.unconsumed_tail:
                data = self.decomp.unconsumed_tail
            else:
                data, self.pending = self.pending or self.raw.read(1 << 16), b""
                if not data:
                    return False
            if self.decomp is None:
                self.decomp = zlib.decompressobj(31)
            try:
                out = self.decomp.decompress(data, 1 << 20)
            except zlib.error as exc:
                raise ValueError(f"not gzip ({exc})") from None
            if self.decomp.eof:
                self.pending, self.decomp = self.decomp.unused_data, None
            if out:
                self.budget.decode(len(out))
                self.out = out
                return True

    def readinto(self, b: Any) -> int:
        if not self.out and not self._more():
            return 0
        n = min(len(b), len(self.out))
        chunk, self.out = self.out[:n], self.out[n:]
        b[:n] = chunk
        if self.headers:
            i = chunk.rfind(b"\n")
            self.since_newline = n - i - 1 if i >= 0 else self.since_newline + n
            if self.since_newline > MAX_WARC_HEADER_LINE:
                raise _OverBudget(f"a WARC header line over {MAX_WARC_HEADER_LINE} bytes")
        else:
            self.since_newline = 0
        return n


def _safe_member(name: str) -> bool:
    return bool(name) and not name.startswith("/") and "\\" not in name and ".." not in name.split("/") \
        and "." not in name.split("/")[:-1] and "" not in name.split("/")[:-1] \
        and not re.match(r"[A-Za-z]:", name) and all(c.isprintable() for c in name)


_S_IFMT, _S_IFLNK, _S_IFREG, _S_IFDIR = 0o170000, 0o120000, 0o100000, 0o040000
MAX_RATIO = 1000          # a deflated member decoding to more than this many times its size is a bomb
_RATIO_FLOOR = 1 << 20    # below this decoded size the ratio does not matter


def _check_layout(infos: list[zipfile.ZipInfo], result: Verification) -> None:
    """Unsafe zip layouts fail: unsafe names (absolute, ``..``, drive letters, unprintable), a name
    twice, a file and a directory of the same name, a member that is not a plain file or directory
    (a symlink), an archive/ WARC compressed again inside the zip (export stores them as they are),
    a compression method other than stored/deflated, and a deflated member whose declared size is
    over MAX_RATIO times its compressed size."""
    counts: dict[str, int] = {}
    for i in infos:
        counts[i.filename] = counts.get(i.filename, 0) + 1
    result.problems += [f"'{n[:200]}': appears more than once" for n, c in counts.items() if c > 1]
    files = {i.filename for i in infos if not i.is_dir()}
    dirs = {i.filename.rstrip("/") for i in infos if i.is_dir()}
    for n in files:
        parts = n.split("/")
        dirs.update("/".join(parts[:k]) for k in range(1, len(parts)))
    for n in sorted(files & dirs):
        result.problems.append(f"'{n[:200]}': both a file and a directory")
    for i in infos:
        name = i.filename
        if not _safe_member(name.rstrip("/") if i.is_dir() else name):
            result.problems.append(f"'{name[:200]}': not a safe file name")
        mode = (i.external_attr >> 16) & _S_IFMT
        if i.create_system == 3 and mode not in (0, _S_IFREG, _S_IFDIR):
            what = "a symbolic link" if mode == _S_IFLNK else f"not a plain file (mode {mode:o})"
            result.problems.append(f"'{name[:200]}': {what}")
        if i.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            result.problems.append(f"'{name[:200]}': compression method {i.compress_type} (stored or deflated only)")
        elif i.compress_type == zipfile.ZIP_DEFLATED:
            if name.startswith("archive/") and not i.is_dir():
                result.problems.append(f"'{name[:200]}': a WARC compressed again inside the zip (a WACZ "
                                       "stores its WARCs as they are)")
            elif i.file_size > _RATIO_FLOOR and i.file_size > MAX_RATIO * max(i.compress_size, 1):
                result.problems.append(f"'{name[:200]}': decodes to {i.file_size} bytes from "
                                       f"{i.compress_size} (a compression bomb)")


_EOCD = b"PK\x05\x06"
_PACKAGE_FILES = ("datapackage.json", "datapackage-digest.json", "indexes/index.cdx.gz", "indexes/index.idx",
                  "pages/pages.jsonl")


def _check_framing(path: str | Path, infos: list[zipfile.ZipInfo], comment: bytes, result: Verification) -> None:
    """The package is the zip alone, as export writes it (WACZ 1.1.1: a ZIP whose every file the
    datapackage lists): no bytes before its first member, no zip comment and nothing after its end of
    central directory, and no directory entries (a WACZ holds files; every one listed and hashed)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
            fh.seek(0, io.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 22))
            tail = fh.read(22)
    except OSError as exc:
        result.problems.append(f"{Path(path).name}: unreadable ({exc.strerror or exc})")
        return
    prefix = min((i.header_offset for i in infos), default=0)
    if prefix > 0 or head != b"PK\x03\x04":
        result.problems.append(f"{Path(path).name}: {prefix or 'some'} bytes before the zip's first file (a bundle "
                               "is the zip alone)")
    if comment:
        result.problems.append(f"{Path(path).name}: a zip comment ({len(comment)} bytes) export never writes")
    elif tail[:4] != _EOCD or tail[20:22] != b"\0\0":
        result.problems.append(f"{Path(path).name}: bytes after the zip's end (a bundle is the zip alone)")
    for i in infos:
        if i.is_dir():
            result.problems.append(f"'{i.filename[:200]}': a directory entry (a WACZ holds files, each listed in "
                                   "datapackage.json)")


def _sha256_member(zf: zipfile.ZipFile, name: str, budget: _Budget) -> tuple[str, int]:
    """SHA-256 (hex) and size of a member, streamed: its decoded bytes are charged to `budget`."""
    h = hashlib.sha256()
    n = 0
    with zf.open(name) as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            budget.decode(len(chunk))
            h.update(chunk)
            n += len(chunk)
    return h.hexdigest(), n


def _read_member(zf: zipfile.ZipFile, name: str, cap: int, budget: _Budget) -> bytes:
    """A member's bytes, ValueError when it is larger than `cap` (declared or actual); the bytes are
    charged to `budget` as decoded and held (the caller releases them when done)."""
    if zf.getinfo(name).file_size > cap:
        raise ValueError(f"over {cap} bytes")
    chunks, n = [], 0
    with zf.open(name) as fh:
        while n <= cap:
            chunk = fh.read(min(1 << 20, cap + 1 - n))
            if not chunk:
                break
            budget.decode(len(chunk))
            budget.hold(len(chunk))
            chunks.append(chunk)
            n += len(chunk)
    if n > cap:
        budget.release(n)
        raise ValueError(f"over {cap} bytes")
    return b"".join(chunks)


def _loads(data: bytes | None) -> Any:
    """Hostile JSON: ValueError for anything that is not strict JSON (RFC 8259), too deep to parse
    included, and for a name twice in one object (which value counts differs between readers) and the
    NaN and Infinity Python would otherwise read."""
    if data is None:
        raise ValueError("too large to parse")
    try:
        return json.loads(data, object_pairs_hook=_unique_names, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _unique_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise ValueError(f"the name '{name[:80]}' twice in one object")
        out[name] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_member(zf: zipfile.ZipFile, name: str, result: Verification, budget: _Budget) -> dict[str, Any] | None:
    """A JSON member that must be an object: None, with the problem said, when it is missing, unreadable,
    not JSON or any other JSON value (a list, a string, a number, null)."""
    try:
        data = _read_member(zf, name, MAX_JSON_BYTES, budget)
    except KeyError:
        result.problems.append(f"{name}: missing")
        return None
    except (ValueError, zipfile.BadZipFile, OSError, EOFError) as exc:
        result.problems.append(f"{name}: unreadable or not JSON ({str(exc)[:120]})")
        return None
    try:
        # the parsed document is kept; charge it (a JSON object costs more than its text)
        budget.hold(len(data))
        doc = _loads(data)
    except ValueError as exc:
        result.problems.append(f"{name}: unreadable or not JSON ({str(exc)[:120]})")
        return None
    finally:
        budget.release(len(data))
    if not isinstance(doc, dict):
        result.problems.append(f"{name}: {_kind(doc)}, not a JSON object")
        return None
    return doc


# --- the shapes of the JSON verify reads: each field a test and what it must be, as a finding says it ---
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_LABEL_RE = re.compile(r"sha256:[0-9a-f]{64}")


def _kind(value: Any) -> str:
    """A JSON value as a finding names what it is: ``null``, ``a list``, ``the string '…'`` ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {str(value)[:40]}"
    if isinstance(value, str):
        return f"the string '{value[:80]}'" + ("…" if len(value) > 80 else "")
    return "a list" if isinstance(value, list) else "an object"


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_size(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_sha256(value: Any) -> bool:
    return isinstance(value, str) and bool(_SHA256_RE.fullmatch(value))


def _is_label(value: Any) -> bool:
    return isinstance(value, str) and bool(_LABEL_RE.fullmatch(value))


def _is_list(value: Any) -> bool:
    return isinstance(value, list)


_Shape = Sequence[tuple[str, Callable[[Any], bool], str]]

# datapackage.json, one of its resources, datapackage-digest.json and its signedData (what verify reads)
_PACKAGE: _Shape = (("resources", _is_list, "a list"), ("created", _is_str, "a string"))
_RESOURCE: _Shape = (("path", _is_str, "a string"), ("hash", _is_label, "sha256:<64 hex digits>"),
                     ("bytes", _is_size, "a whole number of bytes"))
_DIGEST: _Shape = (("path", lambda v: v == "datapackage.json", "'datapackage.json'"),)
_SIGNED: _Shape = (("hash", _is_label, "sha256:<64 hex digits>"), ("created", _is_str, "a string"),
                   ("signature", _is_str, "a string"))
# docs/export.json and one entry of its files, of its left_out; one token entry of a timestamp record
_EXPORT: _Shape = (("public_base_url", _is_str, "a string"), ("files_warc", _is_str, "a string"),
                   ("files", _is_list, "a list"), ("left_out", _is_list, "a list"),
                   ("tsa_ca", _is_list, "a list"))
_EXPORT_FILE: _Shape = (("key", _is_str, "a string"), ("in", _is_str, "a string"),
                        ("sha256", _is_sha256, "64 hex digits"))
_LEFT_OUT: _Shape = (("key", _is_str, "a string"),)
_TOKEN: _Shape = (("tsa_url", _is_str, "a string"), ("token_key", _is_str, "a string"))


def _shape_ok(where: str, doc: Any, shape: _Shape, result: Verification) -> bool:
    """Whether `doc` is an object whose fields in `shape` are all there and pass their tests; each that
    is not is a problem, said with what it must be."""
    if not isinstance(doc, dict):
        result.problems.append(f"{where}: {_kind(doc)}, not a JSON object")
        return False
    ok = True
    for name, test, what in shape:
        if name not in doc:
            result.problems.append(f"{where}: no {name} ({what})")
            ok = False
        elif not test(doc[name]):
            result.problems.append(f"{where}: {name} must be {what}, not {_kind(doc[name])}")
            ok = False
    return ok


def _load_trust(paths: Sequence[str | Path] | None) -> list[bytes] | None:
    if not paths:
        return None
    out = []
    for p in paths:
        try:
            out.append(Path(p).read_bytes()[: 1 << 20])
        except OSError as exc:
            raise InputError(f"cannot read {p}: {exc.strerror or exc}") from None
    return out


# One total budget for a verification (see _Budget): decoded bytes over every read, bytes held at once.
DECODED_BUDGET = 2 * 1024 ** 3
HELD_BUDGET = 256 * 1024 ** 2
MAX_CA_BYTES = 1 << 20    # a TSA CA certificate file in the bundle
TIME_SLACK_SECONDS = 300  # clock skew allowed between the capture, its WARC-Dates and its tokens
CAPTURE_BEFORE_WARC_SECONDS = 3600  # how long before its first WARC-Date a capture may say it began


def verify_bundle(path: str | Path, *, public_key: bytes | None = None,
                  tsa_ca: Sequence[str | Path] | None = None, decoded_budget: int = DECODED_BUDGET,
                  held_budget: int = HELD_BUDGET) -> Verification:
    """Check a bundle offline: a safe zip layout (_check_layout); every file's hash in datapackage.json
    and datapackage.json's in datapackage-digest.json; the ECDSA signature (under `public_key`, PEM or
    DER bytes, when given, else under the bundle's own key, with a warning that this proves integrity
    only); each stored file's SHA-256 against docs/export.json; that every file a manifest names is in
    the bundle; that each capture has its WARC (its own key stem, ``posts/<p>/<id>/<cid>.warc.gz``,
    wherever the bundle holds it; missing or unreadable fails), equal to the manifest's
    ``warc_sha256`` when given, and that the manifest agrees with it
    (archiver.capture.warc.check_manifest_against_warc); that its cards and page are the stored ones
    (the manifest's ``cards.html_sha256``/``png_sha256``/``page_sha256``, else the WARC's
    ``urn:archiver:<key>`` resource records); and its RFC 3161 timestamps
    (archiver.compliance.timestamps.verify_capture_timestamps, trusting the `tsa_ca` PEM files when
    given, else the CA certificates in the bundle, else the tokens' own roots, each with a warning):
    a capture's time stands when one token verifies, the others are warnings; no token is a warning
    (timestamp pending); ``captured_at`` must not be after a verified token's time nor before the
    WARC's first WARC-Date, nor the WARC's last WARC-Date after the token (TIME_SLACK_SECONDS of skew).

    Every JSON document it reads is hostile and must be of its shape, or the bundle fails with what is
    wrong: strict JSON (no name twice in an object, no NaN or Infinity), an object, and each field it
    reads of its type (_shape_ok: datapackage.json, datapackage-digest.json and its signedData,
    docs/export.json and its entries, a timestamp record's tokens; a manifest its schema,
    archiver.capture.manifest.validate_manifest). A malformed one stops only the checks that need it;
    the others still run, so no member passes unchecked because a manifest beside it was malformed.

    Bounded: `decoded_budget` bytes decoded in all (default 2 GiB) and `held_budget` bytes in memory at
    once (default 256 MiB); a bundle that needs more fails with one line. Never raises for a hostile
    bundle: every failure is one line in ``problems``. InputError only for an unreadable `public_key`
    or `tsa_ca` file given by the caller."""
    result = Verification()
    trusted = load_public_key(public_key, where="--public-key") if public_key is not None else None
    trust_given = _load_trust(tsa_ca)
    budget = _Budget(decoded_budget, held_budget)
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        result.problems.append(f"{Path(path).name}: not a readable zip ({str(exc)[:120]})")
        return _cleaned(result)
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            result.problems.append(f"{Path(path).name}: over {MAX_MEMBERS} files")
            return _cleaned(result)
        _check_layout(infos, result)  # nothing is ever extracted: the rest is still checked, within budget
        _check_framing(path, infos, zf.comment, result)
        names = {i.filename for i in infos if not i.is_dir()}
        try:
            _check_package(zf, names, result, trusted, budget)
            meta = _json_member(zf, EXPORT_DOC, result, budget)
            if meta is None:  # said: without it no stored file can be named
                return _cleaned(result)
            if meta.get("schema") != EXPORT_SCHEMA:
                result.problems.append(f"{EXPORT_DOC}: not an archiver export ({EXPORT_SCHEMA})")
                return _cleaned(result)
            _check_contents(zf, names, meta, result, trust_given, budget)
        except _OverBudget as exc:
            result.problems.append(f"{Path(path).name}: {exc}")
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError) as exc:  # zip-level damage
            result.problems.append(f"{Path(path).name}: unreadable ({type(exc).__name__}: {str(exc)[:120]})")
    return _cleaned(result)


def one_line(text: str, limit: int = 600) -> str:
    """`text` (names and values from a hostile bundle) safe to print as one line: every character that
    is not printable (newlines, a terminal's escapes) as a backslash escape, at most `limit` characters."""
    out = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
    return out if len(out) <= limit else out[: limit - 1] + "…"


def _bounded(text: str, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cleaned(result: Verification) -> Verification:
    """Each finding bounded in length but kept as it is (names from the bundle included): whoever shows
    it escapes it once, for its medium (the CLI's `printable` for a line, JSON's escapes for --json),
    so no text is escaped twice or carried pre-escaped."""
    result.problems = [_bounded(p, 600) for p in result.problems]
    result.warnings = [_bounded(p, 600) for p in result.warnings]
    result.not_checked = [_bounded(p, 600) for p in result.not_checked]
    result.timestamps = [{k: _bounded(v, 200) for k, v in t.items()} for t in result.timestamps]
    return result


def _check_package(zf: zipfile.ZipFile, names: set[str], result: Verification,
                   trusted: ec.EllipticCurvePublicKey | None, budget: _Budget) -> None:
    """datapackage.json's resources against the members, its hash and signature in datapackage-digest.json.
    Both must be of their shape (_PACKAGE, _RESOURCE, _DIGEST, _SIGNED): a field missing or of another
    type fails, and the checks it does not stop still run (every member not hashed against a resources
    list is a problem, the signature is checked whatever datapackage.json holds), so no member goes
    unchecked because a manifest is malformed."""
    package = _json_member(zf, "datapackage.json", result, budget)
    listed: set[str] = set()
    if package is not None:
        _shape_ok("datapackage.json", package, _PACKAGE, result)
    if package is not None and isinstance(package.get("resources"), list):
        for i, res in enumerate(package["resources"]):
            rpath = res.get("path") if isinstance(res, dict) else None
            if not isinstance(rpath, str):
                result.problems.append(f"datapackage.json: resource {i} has no path ({_kind(res)[:120]})")
                continue
            if rpath in listed:
                result.problems.append(f"{rpath[:200]}: listed twice in datapackage.json")
                continue
            listed.add(rpath)
            if rpath not in names:
                result.problems.append(f"{rpath[:200]}: listed in datapackage.json but missing")
                continue
            if not _shape_ok(f"datapackage.json resource {rpath[:200]}", res, _RESOURCE, result):
                continue
            try:
                got, size = _sha256_member(zf, rpath, budget)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:  # a CRC error: bytes were changed
                result.problems.append(f"{rpath[:200]}: unreadable ({str(exc)[:120]})")
                continue
            result.files += 1
            if "sha256:" + got != res["hash"]:
                result.problems.append(f"{rpath[:200]}: SHA-256 mismatch (datapackage.json says {res['hash'][7:23]}…, "
                                       f"is {got[:16]}…)")
            elif res["bytes"] != size:
                result.problems.append(f"{rpath[:200]}: size mismatch (datapackage.json says '{res['bytes']}', "
                                       f"is {size})")
    unlisted = sorted(names - listed - {"datapackage.json", "datapackage-digest.json"})
    if package is None or not isinstance(package.get("resources"), list):
        if unlisted:  # said once: without a resources list, none of them is checked
            result.problems.append(f"datapackage.json: no resources list, so none of the bundle's {len(unlisted)} "
                                   "files is checked against it")
    else:
        for n in unlisted:
            result.problems.append(f"{n[:200]}: not listed in datapackage.json")
    created = package.get("created") if package is not None else None
    digest = _json_member(zf, "datapackage-digest.json", result, budget)
    if digest is None:
        return
    _shape_ok("datapackage-digest.json", digest, _DIGEST, result)
    try:
        actual = "sha256:" + _sha256_member(zf, "datapackage.json", budget)[0]
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError):
        return  # missing or unreadable: said above
    if digest.get("hash") != actual:
        result.problems.append(f"datapackage-digest.json: hash '{str(digest.get('hash'))[:80]}' is not "
                               f"datapackage.json's ({actual[:23]}…)")
    if "signedData" not in digest:
        if trusted is not None:
            result.problems.append("datapackage-digest.json: not signed, but a public key was given")
        else:
            result.warnings.append("the bundle is not signed: its hashes prove it is whole, not who made it")
        return
    signed = digest["signedData"]
    if not _shape_ok("datapackage-digest.json signedData", signed, _SIGNED, result):
        return
    if "publicKey" in signed and not isinstance(signed["publicKey"], str):
        result.problems.append(f"datapackage-digest.json signedData: publicKey must be a string (PEM), not "
                               f"{_kind(signed['publicKey'])}")
        return
    check = check_signed_data(signed, actual, created, trusted)
    result.problems += check.problems
    if check.key is not None:
        result.signed_by = fingerprint(check.key)
        if check.embedded_key:
            result.warnings.append(f"the signature was checked against the key inside the bundle "
                                   f"({result.signed_by}): that proves the bundle is unchanged since signing, "
                                   "not who signed it; give --public-key with the archive's published key")


@dataclass
class _Stored:
    """A stored file as the bundle holds it: sha256 and size, and its bytes when small and needed."""

    sha256: str
    size: int
    data: bytes | None


_CAPTURE_WARC_RE = re.compile(r"posts/[^/]+/[^/]+/[^/]+\.warc\.gz")


def _files_warc(zf: zipfile.ZipFile, name: str, base: str, result: Verification,
                budget: _Budget, hash_only: frozenset[str] = frozenset()) -> dict[str, _Stored]:
    """Every resource record of the files WARC, by the key its URL names under `base`. The bytes of the
    JSON and token files, and of capture WARCs stored here, are kept (charged to the held budget);
    every record is read through in bounded chunks, its decoded bytes charged to the budget."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    out: dict[str, _Stored] = {}
    try:
        with zf.open(name) as raw:
            plain = _WarcStream(io.BufferedReader(_Counted(raw, budget), 1 << 16), budget)
            for rec in ArchiveIterator(io.BufferedReader(plain, 1 << 16)):
                stream = rec.raw_stream
                plain.headers = False
                url = rec.rec_headers.get_header("WARC-Target-URI") or ""
                take = rec.rec_type == "resource"
                if take and not url.startswith(base + "/"):
                    result.problems.append(f"{name}: a record at '{url[:200]}', outside {base}")
                    take = False
                key = unquote(url[len(base) + 1:]) if take else ""
                keep = take and key not in hash_only and (key.endswith(_KEEP_SUFFIXES)
                                                          or bool(_CAPTURE_WARC_RE.fullmatch(key)))
                cap = MAX_JSON_BYTES if key.endswith(_KEEP_SUFFIXES) else MAX_CHECKED_WARC_BYTES
                h, size, chunks = hashlib.sha256(), 0, []
                for chunk in iter(lambda s=stream: s.read(1 << 20), b""):  # type: ignore[misc]
                    h.update(chunk)  # decoded bytes: charged by _WarcStream
                    size += len(chunk)
                    if keep and size <= cap:
                        budget.hold(len(chunk))
                        chunks.append(chunk)
                    elif keep:
                        budget.release(sum(map(len, chunks)))
                        keep, chunks = False, []
                plain.headers = True  # warcio reads the next record's header lines next
                if not take:
                    continue
                if key in out:
                    result.problems.append(f"{key[:200]}: recorded twice in {name}")
                out[key] = _Stored(h.hexdigest(), size, b"".join(chunks) if keep else None)
    except KeyError:
        result.problems.append(f"{name}: missing")
    except (ArchiveLoadFailed, zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        result.problems.append(f"{name}: not a readable WARC ({str(exc)[:120]})")
    return out


def _check_contents(zf: zipfile.ZipFile, names: set[str], meta: dict[str, Any], result: Verification,
                    trust_given: list[bytes] | None, budget: _Budget) -> None:
    _shape_ok(EXPORT_DOC, meta, _EXPORT, result)
    base, files_warc = meta.get("public_base_url"), meta.get("files_warc")
    if not isinstance(base, str) or not isinstance(files_warc, str):
        return  # said: without them no record of the files WARC can be named
    entries = []
    for i, f in enumerate(meta["files"] if isinstance(meta.get("files"), list) else []):
        if _shape_ok(f"{EXPORT_DOC} files[{i}]", f, _EXPORT_FILE, result):
            entries.append(f)
    # a capture WARC export.json places in archive/ is checked there: its replay copy here is only hashed
    in_archive = frozenset(f["key"] for f in entries if f["in"] != files_warc)
    stored = _files_warc(zf, files_warc, base.rstrip("/"), result, budget, in_archive)
    listed: dict[str, dict[str, Any]] = {}
    for f in entries:
        if f["key"] in listed:
            result.problems.append(f"{f['key'][:200]}: listed twice in {EXPORT_DOC}")
        listed[f["key"]] = f
    warcs: dict[str, str] = {}  # key -> archive member, for the capture WARCs
    digests: dict[str, str] = {k: s.sha256 for k, s in stored.items()}  # every stored file's SHA-256
    for key, f in listed.items():
        where = f["in"]
        if where == files_warc:
            got = stored.get(key)
            if got is None:
                result.problems.append(f"{key[:200]}: listed in {EXPORT_DOC} but not in {files_warc}")
            elif got.sha256 != f.get("sha256"):
                result.problems.append(f"{key[:200]}: SHA-256 {got.sha256[:16]}… is not the "
                                       f"{str(f.get('sha256'))[:16]}… {EXPORT_DOC} lists")
            else:
                result.stored_files += 1
        elif where.startswith("archive/") and where != files_warc and where in names:
            if where in warcs.values():
                result.problems.append(f"{key[:200]}: {where[:200]} is listed for two files")
                continue
            warcs[key] = where
            try:
                digest, _ = _sha256_member(zf, where, budget)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError):
                continue  # already said by the package check
            digests[key] = digest
            if digest != f.get("sha256"):
                result.problems.append(f"{key[:200]}: SHA-256 {digest[:16]}… of {where} is not the "
                                       f"{str(f.get('sha256'))[:16]}… {EXPORT_DOC} lists")
            else:
                result.stored_files += 1
        else:
            result.problems.append(f"{key[:200]}: listed in {EXPORT_DOC} at '{where[:200]}', which is not here")
    for key, f in listed.items():  # a second copy (a capture WARC's replay copy) must be the same file
        if f["in"] != files_warc and key in stored and stored[key].sha256 != f.get("sha256"):
            result.problems.append(f"{key[:200]}: its copy in {files_warc} (SHA-256 {stored[key].sha256[:16]}…) is "
                                   f"not the {str(f.get('sha256'))[:16]}… {EXPORT_DOC} lists")
    for key in stored:
        if key not in listed:
            result.problems.append(f"{key[:200]}: in {files_warc} but not listed in {EXPORT_DOC}")
    present = set(stored) | set(warcs)
    for key, got in stored.items():
        if key.startswith("blobs/sha256/") and key.rsplit("/", 1)[-1] != got.sha256:
            result.problems.append(f"{key[:200]}: content does not match its name (SHA-256 {got.sha256[:16]}…)")
    left_out: set[Any] = set()
    for i, e in enumerate(meta["left_out"] if isinstance(meta.get("left_out"), list) else []):
        if _shape_ok(f"{EXPORT_DOC} left_out[{i}]", e, _LEFT_OUT, result):
            left_out.add(e["key"])
    ca_names = []
    for i, p in enumerate(meta["tsa_ca"] if isinstance(meta.get("tsa_ca"), list) else []):
        if not isinstance(p, str):
            result.problems.append(f"{EXPORT_DOC}: tsa_ca[{i}] must be a string, not {_kind(p)}")
        elif p not in names:
            result.problems.append(f"{EXPORT_DOC}: tsa_ca names {p[:200]}, which is not in the bundle")
        else:
            ca_names.append(p)
    # Nothing but what an export writes (WACZ 1.1.1's files, and the ones export.json places): a member
    # the package lists but export.json does not account for is not part of the evidence.
    wrote = {*_PACKAGE_FILES, files_warc, EXPORT_DOC, README_DOC, *ca_names, *(f["in"] for f in entries)}
    for n in sorted(names - wrote):
        result.problems.append(f"'{n[:200]}': not a file this export wrote (docs/export.json does not account "
                               "for it)")
    trust, trust_from = trust_given, "given"
    if trust is None:
        trust, trust_from = [], "bundle"
        for p in ca_names:
            try:
                data = _read_member(zf, p, MAX_CA_BYTES, budget)
            except (ValueError, zipfile.BadZipFile, OSError, EOFError) as exc:
                result.problems.append(f"{p[:200]}: unreadable ({str(exc)[:120]})")
                continue
            trust.append(data)
        if not trust:
            trust, trust_from = None, "own"
    check_warc = check_manifest_against_warc
    check_ts = verify_capture_timestamps
    for key in sorted(k for k in stored if MANIFEST_KEY_RE.fullmatch(k)):
        raw = stored[key].data
        try:
            doc = _loads(raw)
        except ValueError as exc:
            result.problems.append(f"{key[:200]}: not a manifest (not JSON: {str(exc)[:120]})")
            continue
        if not is_manifest_document(doc):
            result.problems.append(f"{key[:200]}: not a manifest")
            continue
        assert isinstance(doc, dict) and raw is not None
        result.captures += 1
        try:  # the schema the checks below rely on (check_manifest_against_warc leaves it to its caller)
            validate_manifest(doc)
        except ManifestError as exc:
            result.problems.append(f"{key[:200]}: {' '.join(str(exc).split())[:300]}")
        _check_manifest(key, doc, raw, present, left_out, result)
        seen = _check_against_warc(zf, key, doc, stored, warcs, check_warc, result, budget)
        _check_cards(key, doc, digests, seen, result)
        _check_timestamps(key, doc, raw, stored, check_ts, trust, trust_from, seen, result)
    if check_warc is None:
        result.not_checked.append("manifests against their WARCs: this archiver has no "
                                  "archiver.capture.warc.check_manifest_against_warc")
    if check_ts is None:
        result.not_checked.append("timestamps: this archiver has no "
                                  "archiver.compliance.timestamps.verify_capture_timestamps")


def _check_manifest(key: str, doc: dict[str, Any], raw: bytes, present: set[str], left_out: set[Any],
                    result: Verification) -> None:
    """The manifest is the capture its key names, and every file it names is in the bundle."""
    m = MANIFEST_KEY_RE.fullmatch(key)
    assert m is not None
    for part in ("provider", "post_id", "capture_id"):
        if doc.get(part) != m.group(part):
            result.problems.append(f"{key[:200]}: its {part} '{str(doc.get(part))[:80]}' is not the one its key names")
    named: list[tuple[str, str]] = []
    cards = doc.get("cards")
    if isinstance(cards, dict):
        named += [(f"its {kind} card", k) for kind, k in cards.items()
                  if isinstance(k, str) and not kind.endswith("_sha256")]
    named += [("original", blob_key(sha)) for sha in media_sha256s([doc], avatars=True)]
    for relation, rkey in _related(doc):
        if rkey in left_out:
            result.warnings.append(f"{key[:200]}: its {relation} capture {rkey[:200]} was left out by the "
                                   "export's bound")
        else:
            named.append((f"its {relation} capture", rkey))
    for what, nkey in named:
        if nkey not in present:
            label = f"{what} {nkey[len('blobs/sha256/'):][3:19]}…" if what == "original" else f"{what} {nkey}"
            result.problems.append(f"{key[:200]}: {label[:300]} is not in the bundle")


@dataclass
class _WarcSeen:
    """What the pre-scan of a capture WARC found: its resource records' SHA-256 by the key their
    ``urn:archiver:`` URI names, its first and last WARC-Date, its warcinfo's capture-id."""

    resources: dict[str, str] = field(default_factory=dict)
    first: datetime | None = None
    last: datetime | None = None
    capture_id: str | None = None
    checked: bool = False


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        t = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _scan_warc(data: bytes, budget: _Budget) -> tuple[_WarcSeen, int]:
    """Read a capture WARC through in bounded chunks (decoded bytes charged to `budget`): what it holds
    (_WarcSeen) and its largest record's decoded size. Raises ValueError when it is not a WARC."""
    from warcio.archiveiterator import ArchiveIterator

    seen, largest = _WarcSeen(), 0
    plain = _WarcStream(io.BytesIO(data), budget)
    for n, rec in enumerate(ArchiveIterator(io.BufferedReader(plain, 1 << 16))):
        plain.headers = False
        when = _parse_time(rec.rec_headers.get_header("WARC-Date"))
        if when is not None:
            seen.first = when if seen.first is None else min(seen.first, when)
            seen.last = when if seen.last is None else max(seen.last, when)
        uri = rec.rec_headers.get_header("WARC-Target-URI") or ""
        h, size, head = hashlib.sha256(), 0, b""
        for chunk in iter(lambda s=rec.raw_stream: s.read(1 << 20), b""):  # type: ignore[misc]
            h.update(chunk)  # decoded bytes: charged by _WarcStream
            if size < (1 << 16):
                head += chunk[: (1 << 16) - size]
            size += len(chunk)
        plain.headers = True
        largest = max(largest, size)
        if rec.rec_type == "resource" and uri.startswith("urn:archiver:"):
            seen.resources[unquote(uri[len("urn:archiver:"):])] = h.hexdigest()
        if n == 0 and rec.rec_type == "warcinfo":
            for line in head.decode("utf-8", "replace").splitlines():
                name, _, value = line.partition(":")
                if name.strip().lower() == "capture-id":
                    seen.capture_id = value.strip()
                    break
    return seen, largest


def _fetched_nothing(doc: dict[str, Any]) -> bool:
    """Whether a manifest says its capture fetched nothing: not archived, no medium or avatar archived,
    and every source the publisher's markup (the article itself). Such a capture has no WARC; one that
    claims anything fetched must have its WARC."""
    if doc.get("status") in ("archived", "partial"):
        return False
    sources = doc.get("sources") if isinstance(doc.get("sources"), list) else []
    if any(not isinstance(src, dict) or src.get("name") != "publisher_markup" for src in sources):
        return False
    media = doc.get("media") if isinstance(doc.get("media"), list) else []
    if any(isinstance(m, dict) and (m.get("status") == "archived" or m.get("sha256")) for m in media):
        return False
    author = doc.get("author") if isinstance(doc.get("author"), dict) else {}
    return not author.get("avatar_sha256")


def _check_against_warc(zf: zipfile.ZipFile, key: str, doc: dict[str, Any], stored: dict[str, _Stored],
                        warcs: dict[str, str], check: Any, result: Verification, budget: _Budget) -> _WarcSeen:
    """The capture's WARC is found by its own key stem (whatever the manifest's ``warc`` field says,
    which must be that key or absent), in archive/ or in the files WARC; it must be there, readable
    within the budget, equal to the manifest's ``warc_sha256`` when given, of this capture (its
    warcinfo's capture-id), and the manifest must agree with its records. Each failure is a problem."""
    own = capture_base(key) + ".warc.gz"
    declared = doc.get("warc")
    if declared is None and _fetched_nothing(doc) and own not in warcs and own not in stored:
        # Nothing was fetched (a post kept only as the article showed it: unresolved, unavailable):
        # the capture wrote no WARC (archiver.capture.record), and there is no answer to check it by.
        result.not_checked.append(f"{key[:200]}: no WARC: nothing was fetched for this capture (status "
                                  f"{str(doc.get('status'))[:20]}); it holds only what the article showed")
        return _WarcSeen()
    if declared is not None and declared != own:
        result.problems.append(f"{key[:200]}: its warc field names '{str(declared)[:200]}', not its own {own}")
    data: bytes | None = None
    held = 0
    try:
        if own in warcs:
            try:
                data = _read_member(zf, warcs[own], min(MAX_CHECKED_WARC_BYTES, max(budget.held_left, 0)), budget)
                held = len(data)
            except (ValueError, zipfile.BadZipFile, OSError, EOFError) as exc:
                result.problems.append(f"{key[:200]}: its WARC {warcs[own][:200]} cannot be checked "
                                       f"({str(exc)[:120]})")
                return _WarcSeen()
        elif own in stored:
            data = stored[own].data
            if data is None:
                result.problems.append(f"{key[:200]}: its WARC {own} is too large to check")
                return _WarcSeen()
        else:
            result.problems.append(f"{key[:200]}: its WARC {own} is not in the bundle, so nothing it says "
                                   "can be checked")
            return _WarcSeen()
        want = doc.get("warc_sha256")
        if want is not None and want != hashlib.sha256(data).hexdigest():
            result.problems.append(f"{key[:200]}: its WARC is not the one its warc_sha256 "
                                   f"{str(want)[:16]}… names")
        try:
            seen, largest = _scan_warc(data, budget)
        except _OverBudget:
            raise
        except Exception as exc:  # a hostile WARC must not end the verification
            result.problems.append(f"{key[:200]}: its WARC is not readable ({type(exc).__name__}: "
                                   f"{str(exc)[:120]})")
            return _WarcSeen()
        if seen.capture_id is not None and seen.capture_id != doc.get("capture_id"):
            result.problems.append(f"{key[:200]}: its WARC is of capture '{seen.capture_id[:40]}'")
        if check is None:
            return seen
        # the check decodes each record whole: it may hold twice the largest record besides the WARC
        budget.hold(2 * largest)
        held += 2 * largest
        budget.decode(largest)
        try:
            problems = check(doc, data)
        except Exception as exc:  # a hostile WARC must not end the verification
            problems = [f"the WARC could not be read ({type(exc).__name__}: {str(exc)[:120]})"]
        result.problems += [f"{key[:200]}: {' '.join(str(p).split())[:300]}" for p in problems]
        seen.checked = True
        return seen
    finally:
        budget.release(held)


_CARD_PARTS = (("html", "HTML card"), ("png", "PNG card"), ("page", "capture page"))


def _check_cards(key: str, doc: dict[str, Any], digests: dict[str, str], seen: _WarcSeen,
                 result: Verification) -> None:
    """The cards and the capture page in the bundle are the ones stored with the capture: equal to the
    manifest's ``cards.<part>_sha256`` when it gives one, else to the WARC's resource record for their
    key. A card that can be bound by neither fails; a capture page present but unbound (made before pages
    went into the WARC) is said NOT CHECKED."""
    cards = doc.get("cards") if isinstance(doc.get("cards"), dict) else {}
    assert isinstance(cards, dict)
    for part, label in _CARD_PARTS:
        ckey = capture_base(key) + ".html" if part == "page" else cards.get(part)
        if not isinstance(ckey, str):
            continue
        got = digests.get(ckey)
        if got is None:
            continue  # a card not in the bundle is said by _check_manifest; a page need not travel
        want = cards.get(f"{part}_sha256")
        source = "the manifest's digest"
        if want is None:
            want, source = seen.resources.get(ckey), "its WARC's record"
        if want is None and part == "page":  # pages older than their WARC records: said, not failed
            result.not_checked.append(f"{key[:200]}: its {label} {ckey[:200]} (no digest in the manifest, no "
                                      "record in its WARC): rely on the manifest, not on the page")
        elif want is None:
            result.problems.append(f"{key[:200]}: its {label} {ckey[:200]} cannot be bound to the capture "
                                   "(no digest in the manifest, no record in its WARC)")
        elif want != got:
            result.problems.append(f"{key[:200]}: its {label} {ckey[:200]} is not the stored one "
                                   f"({source} says {str(want)[:16]}…, it is {got[:16]}…)")


def _check_timestamps(key: str, doc: dict[str, Any], raw: bytes, stored: dict[str, _Stored], check: Any,
                      trust: list[bytes] | None, trust_from: str, seen: _WarcSeen, result: Verification) -> None:
    """The capture's timestamp record: no record, or one without tokens, is a warning; each token is
    checked alone (verify_capture_timestamps with that token): the capture's time stands when at least
    one verifies, the others are warnings; none verifying fails. Against verified token times:
    captured_at not after the earliest (+ slack), the WARC's last WARC-Date not after it either, and
    captured_at not before the WARC's first WARC-Date (- slack)."""
    record_key = timestamp_record_key(key)
    got = stored.get(record_key)
    if got is None:
        result.warnings.append(f"{key[:200]}: no trusted timestamp (no {record_key.rsplit('/', 1)[-1]})")
        _check_times(key, doc, seen, [], result)
        return
    try:
        record = _loads(got.data)
    except ValueError as exc:
        result.problems.append(f"{record_key[:200]}: not JSON ({str(exc)[:120]})")
        return
    if not isinstance(record, dict):
        result.problems.append(f"{record_key[:200]}: not a timestamp record ({_kind(record)}, not a JSON object)")
        return
    entries = record.get("tokens", [])
    if not isinstance(entries, list):  # pending is an empty list; anything else is no record
        result.problems.append(f"{record_key[:200]}: tokens must be a list, not {_kind(entries)}")
        return
    if not all([_shape_ok(f"{record_key[:200]} tokens[{i}]", e, _TOKEN, result)
                for i, e in enumerate(entries[:MAX_TIMESTAMP_TOKENS])]):
        return  # a malformed entry is no other TSA's token to pass over with a warning
    if check is None:
        return
    base = {**record, "tokens": []}
    try:
        problems = [p for p in check(raw, base, {}, trust) if "timestamping still pending" not in str(p)]
    except Exception as exc:  # hostile tokens must not end the verification
        problems = [f"could not be checked ({type(exc).__name__}: {str(exc)[:120]})"]
    if problems:
        result.problems += [f"{record_key[:200]}: {' '.join(str(p).split())[:300]}" for p in problems]
        return
    if not entries:
        result.warnings.append(f"{record_key[:200]}: timestamp pending (the record holds no token yet)")
        _check_times(key, doc, seen, [], result)
        return
    good: list[tuple[str, str]] = []
    bad: list[str] = []
    for entry in entries[:MAX_TIMESTAMP_TOKENS]:
        tkey = entry.get("token_key") if isinstance(entry, dict) else None
        tsa = str(entry.get("tsa_url")) if isinstance(entry, dict) else "?"
        data = stored[tkey].data if isinstance(tkey, str) and tkey in stored else None
        if not isinstance(tkey, str) or data is None:
            bad.append(f"token {str(tkey)[:200]}: not in the bundle")
            continue
        try:
            lines = check(raw, {**record, "tokens": [entry]}, {tkey: data}, trust)
        except Exception as exc:
            lines = [f"could not be checked ({type(exc).__name__}: {str(exc)[:120]})"]
        gen = entry.get("gen_time")
        if not lines and not isinstance(gen, str):  # the time comes from the token itself
            try:
                gen = check_token(data, bytes.fromhex(str(record.get("root"))), trust)[1].gen_time
            except Exception as exc:
                lines = [f"token {tkey[:200]}: its time cannot be read ({str(exc)[:120]})"]
        if lines:
            bad += [' '.join(str(p).split())[:300] for p in lines]
        else:
            good.append((tsa, str(gen)))
    if len(entries) > MAX_TIMESTAMP_TOKENS:
        bad.append(f"{len(entries) - MAX_TIMESTAMP_TOKENS} more tokens not checked")
    if not good:
        result.problems += [f"{record_key[:200]}: {b}" for b in bad] or [f"{record_key[:200]}: no token verifies"]
        return
    result.warnings += [f"{record_key[:200]}: another TSA's token does not stand ({b})" for b in bad]
    result.timestamps += [{"capture": key, "tsa": tsa, "gen_time": gen} for tsa, gen in good]
    if trust_from == "own":
        result.warnings.append(f"{record_key[:200]}: the tokens were checked only against the self-signed "
                               "roots they carry: the time is not anchored to a trusted TSA; give --tsa-ca "
                               "with the TSAs' published certificates")
    elif trust_from == "bundle":
        result.warnings.append(f"{record_key[:200]}: timestamps checked against the TSA CA certificates in "
                               "the bundle; give --tsa-ca with the TSAs' published certificates to rely on them")
    _check_times(key, doc, seen, [g for _, g in good], result)


MAX_TIMESTAMP_TOKENS = 16


def _check_times(key: str, doc: dict[str, Any], seen: _WarcSeen, token_times: list[str],
                 result: Verification) -> None:
    """captured_at against the WARC's WARC-Dates and the verified tokens' times (TIME_SLACK_SECONDS)."""
    slack = timedelta(seconds=TIME_SLACK_SECONDS)
    captured = _parse_time(doc.get("captured_at"))
    if captured is None:
        result.problems.append(f"{key[:200]}: its captured_at '{str(doc.get('captured_at'))[:40]}' is not a time")
        return
    if seen.first is not None and captured < seen.first - timedelta(seconds=CAPTURE_BEFORE_WARC_SECONDS):
        result.problems.append(f"{key[:200]}: captured_at {iso(captured)} is before its WARC's first "
                               f"WARC-Date {iso(seen.first)}")
    times = [t for t in (_parse_time(s) for s in token_times) if t is not None]
    if not times:
        return
    earliest = min(times)
    if captured > earliest + slack:
        result.problems.append(f"{key[:200]}: captured_at {iso(captured)} is after its timestamp "
                               f"{iso(earliest)}")
    if seen.last is not None and seen.last > earliest + slack:
        result.problems.append(f"{key[:200]}: its WARC's last WARC-Date {iso(seen.last)} is after its "
                               f"timestamp {iso(earliest)}")
