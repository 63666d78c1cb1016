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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import unquote

from archiver import __version__
from archiver.auth import Principal
from archiver.capture.manifest import is_manifest_document
from archiver.capture.media import sniff
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
    from archiver.compliance.timestamps import verify_capture_timestamps
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

# --- verification bounds (the bundle is hostile input) ---
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
archive/files.warc.gz                   every other file, one WARC resource record each, at the URL
                                        the archive serves it at (its WARC-Target-URI): manifests
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
openssl ts -verify -digest <root> -in <token>.tsr -CAfile docs/tsa-ca-1.pem     a timestamp token
The archiver README's "Evidence" section shows how to check the signature with openssl.
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


def export_bundle(rt: Runtime, principal: Principal | None, posts: list[tuple[str, str]], out: IO[bytes], *,
                  query: dict[str, Any] | None = None, via: str = "api") -> dict[str, Any]:
    """Write the WACZ evidence bundle of `posts` ((provider, post_id) pairs) to `out` (a seekable binary
    file) and record the export in the audit log under `principal` (None: "system").

    Signed with the key at ``<home>/keys/evidence-signing-key.pem`` when there is one. Returns the
    summary ``{"format": "wacz", "posts", "captures", "files", "missing": [...], "left_out": [...],
    "signed": fingerprint or None}``. Raises PostNotFound for a post with no stored capture, InputError
    for too many posts or captures, ConfigError for an unreadable signing key."""

    posts = list(dict.fromkeys(check_post(p, i) for p, i in posts))
    if not posts:
        raise InputError("nothing to export: give at least one post")
    if len(posts) > MAX_EXPORT_POSTS:
        raise InputError(f"at most {MAX_EXPORT_POSTS} posts per export (got {len(posts)})")
    key: ec.EllipticCurvePrivateKey | None = load_private_key(key_path(rt.settings.home_path))
    created_at = iso(utcnow())
    now_date = warc_date(created_at)
    who = {"name": principal.name if principal else "system", "role": principal.role if principal else None,
           "via": via}
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
            if key.endswith(".warc.gz") and key.startswith("posts/"):
                where = builder.add_warc(key.removeprefix("posts/").replace("/", "-"), data)
            else:
                where = builder.add_resource(rt.store.public_url(key), data, _content_type(key, data), date)
            files.append({"key": key, "kind": file_kind(key), "sha256": hashlib.sha256(data).hexdigest(),
                          "bytes": len(data), "in": where, "url": rt.store.public_url(key)})
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
            for k in [mkey, *own, *named]:
                add_stored(k, date, mkey)
            record_key = timestamp_record_key(mkey)
            record: Any = None
            if record_key in added:
                try:
                    record = json.loads(rt.store.get(record_key))
                except (ObjectNotFound, ValueError):
                    record = None
            tokens = record.get("tokens") if isinstance(record, dict) else None
            for token in tokens if isinstance(tokens, list) else []:
                tkey = token.get("token_key") if isinstance(token, dict) else None
                if isinstance(tkey, str) and TOKEN_KEY_RE.fullmatch(tkey):
                    add_stored(tkey, date, record_key)
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
                "missing": collected.missing, "left_out": collected.left_out}
        builder.add_doc("export.json", json.dumps(meta, ensure_ascii=False, indent=1, sort_keys=True).encode())
        kinds: dict[str, int] = {}
        for f in files:
            kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1
        kind_lines = "\n".join(f"{n:>6}  {k if n == 1 else _PLURALS.get(k, k + 's')}" for k, n in sorted(kinds.items()))
        kind_lines += "\n" + "\n".join(f"{'':>6}  {line}" for line in (
            ["1  export.json: what was exported, by whom, and where each file is",
             "1  README.txt: this file"]
            + ([f"{len(ca_docs)}  TSA CA certificate(s)"] if ca_docs else [])))
        if collected.missing:
            kind_lines += f"\n\nMissing ({len(collected.missing)}): see docs/export.json \"missing\"."
        if collected.left_out:
            kind_lines += f"\nLeft out by the bound ({len(collected.left_out)}): see docs/export.json \"left_out\"."
        sign_line = (f"Signed with the archive's ECDSA P-256 key {signed}." if signed else
                     "NOT SIGNED: the archive had no signing key (archiver keys create).")
        builder.add_doc("README.txt", _README.format(
            wacz_version=WACZ_VERSION, created_at=created_at, created_by=who["name"], version=__version__,
            signed=sign_line, kinds=kind_lines).encode("utf-8"))
        first = builder.pages[0] if builder.pages else None
        title = (f"archiver evidence: {posts[0][0]}/{posts[0][1]}" if len(posts) == 1
                 else f"archiver evidence: {len(posts)} posts")
        signer = None
        if key is not None:
            private = key

            def signer(hash_value: str, created: str) -> dict[str, Any]:
                return sign_digest(private, hash_value, created)

        builder.write(out, title=title,
                      description=f"{len(collected.captures)} capture(s) of {len(posts)} post(s) exported "
                                  f"{created_at} by {who['name']} with archiver {__version__}.",
                      main_page=first, sign=signer)
    summary = {"format": "wacz", "posts": len(posts), "captures": len(collected.captures), "files": len(files),
               "missing": collected.missing, "left_out": collected.left_out, "signed": signed}
    audit.record(rt, principal, "export", ",".join(f"{p}/{i}" for p, i in posts)[:1000],
                 {"query": query, "via": via, **{k: v for k, v in summary.items() if k not in ("missing", "left_out")},
                  "missing": len(collected.missing), "left_out": len(collected.left_out)},
                 result_count=len(posts))
    return summary


# --- verification ---------------------------------------------------------------------------------
@dataclass
class Verification:
    """What verify_bundle found. `problems`: one line each, any makes the bundle fail; `warnings`: what
    holds but proves less than it could (an embedded key, no timestamp); `not_checked`: checks that could
    not run, with why. `files` is how many package files were hashed, `captures` how many manifests."""

    files: int = 0
    captures: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)
    signed_by: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _safe_member(name: str) -> bool:
    return bool(name) and not name.startswith("/") and "\\" not in name and ".." not in name.split("/") \
        and all(c.isprintable() for c in name)


def _sha256_member(zf: zipfile.ZipFile, name: str) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    with zf.open(name) as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
            n += len(chunk)
    return h.hexdigest(), n


def _read_member(zf: zipfile.ZipFile, name: str, cap: int) -> bytes:
    """A member's bytes, ValueError when it is larger than `cap` (declared or actual)."""
    if zf.getinfo(name).file_size > cap:
        raise ValueError(f"over {cap} bytes")
    with zf.open(name) as fh:
        data = fh.read(cap + 1)
    if len(data) > cap:
        raise ValueError(f"over {cap} bytes")
    return data


def _loads(data: bytes | None) -> Any:
    """Hostile JSON: ValueError for anything that is not JSON, too deep to parse included."""
    if data is None:
        raise ValueError("too large to parse")
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _json_member(zf: zipfile.ZipFile, name: str, result: Verification) -> Any:
    try:
        return _loads(_read_member(zf, name, MAX_JSON_BYTES))
    except KeyError:
        result.problems.append(f"{name}: missing")
    except (ValueError, zipfile.BadZipFile, OSError, EOFError) as exc:
        result.problems.append(f"{name}: unreadable or not JSON ({str(exc)[:120]})")
    return None


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


def verify_bundle(path: str | Path, *, public_key: bytes | None = None,
                  tsa_ca: Sequence[str | Path] | None = None) -> Verification:
    """Check a bundle offline: every file's hash in datapackage.json and datapackage.json's in
    datapackage-digest.json; the ECDSA signature (under `public_key`, PEM or DER bytes, when given, else
    under the bundle's own key, with a warning that this proves integrity only); each stored file's
    SHA-256 against docs/export.json; that every file a manifest names is in the bundle (its WARC, cards,
    originals, avatar, related captures unless left out by the bound); that each manifest agrees with
    its WARC (archiver.capture.warc.check_manifest_against_warc) and that its RFC 3161 timestamps hold
    (archiver.compliance.timestamps.verify_capture_timestamps, trusting the `tsa_ca` PEM files when
    given, else the CA certificates in the bundle, with a warning).

    Never raises for a hostile bundle: every failure is one line in ``problems``. InputError only for
    an unreadable `public_key` or `tsa_ca` file given by the caller."""
    result = Verification()
    trusted = load_public_key(public_key, where="--public-key") if public_key is not None else None
    trust_given = _load_trust(tsa_ca)
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        result.problems.append(f"{Path(path).name}: not a readable zip ({str(exc)[:120]})")
        return _cleaned(result)
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > MAX_MEMBERS:
            result.problems.append(f"{Path(path).name}: over {MAX_MEMBERS} files")
            return _cleaned(result)
        names = [i.filename for i in infos]
        counts: dict[str, int] = {}
        for n in names:
            counts[n] = counts.get(n, 0) + 1
        result.problems += [f"{n[:200]!r}: appears more than once" for n, c in counts.items() if c > 1]
        result.problems += [f"{n[:200]!r}: not a safe file name" for n in counts if not _safe_member(n)]
        _check_package(zf, set(names), result, trusted)
        meta = _json_member(zf, EXPORT_DOC, result)
        if not isinstance(meta, dict) or meta.get("schema") != EXPORT_SCHEMA:
            if meta is not None:
                result.problems.append(f"{EXPORT_DOC}: not an archiver export ({EXPORT_SCHEMA})")
            return _cleaned(result)
        _check_contents(zf, set(names), meta, result, trust_given)
    return _cleaned(result)


def one_line(text: str, limit: int = 600) -> str:
    """`text` (names and values from a hostile bundle) safe to print as one line: every character that
    is not printable (newlines, a terminal's escapes) as a backslash escape, at most `limit` characters."""
    out = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
    return out if len(out) <= limit else out[: limit - 1] + "…"


def _cleaned(result: Verification) -> Verification:
    result.problems = [one_line(p) for p in result.problems]
    result.warnings = [one_line(p) for p in result.warnings]
    result.not_checked = [one_line(p) for p in result.not_checked]
    return result


def _check_package(zf: zipfile.ZipFile, names: set[str], result: Verification,
                   trusted: ec.EllipticCurvePublicKey | None) -> None:
    """datapackage.json's resources against the members, its hash and signature in datapackage-digest.json."""
    package = _json_member(zf, "datapackage.json", result)
    if not isinstance(package, dict):
        return
    resources = package.get("resources")
    if not isinstance(resources, list):
        result.problems.append("datapackage.json: no resources list")
        return
    listed: set[str] = set()
    for res in resources:
        rpath = res.get("path") if isinstance(res, dict) else None
        if not isinstance(rpath, str):
            result.problems.append("datapackage.json: a resource without a path")
            continue
        listed.add(rpath)
        if rpath not in names:
            result.problems.append(f"{rpath[:200]}: listed in datapackage.json but missing")
            continue
        want = res.get("hash")
        if not (isinstance(want, str) and re.fullmatch(r"sha256:[0-9a-f]{64}", want)):
            result.problems.append(f"{rpath[:200]}: datapackage.json gives no sha256 hash")
            continue
        try:
            got, size = _sha256_member(zf, rpath)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:  # a CRC error: bytes were changed
            result.problems.append(f"{rpath[:200]}: unreadable ({str(exc)[:120]})")
            continue
        result.files += 1
        if "sha256:" + got != want:
            result.problems.append(f"{rpath[:200]}: SHA-256 mismatch (datapackage.json says {want[7:23]}…, "
                                   f"is {got[:16]}…)")
        elif res.get("bytes") != size:
            result.problems.append(f"{rpath[:200]}: size mismatch (datapackage.json says {res.get('bytes')!r}, "
                                   f"is {size})")
    for n in sorted(names - listed - {"datapackage.json", "datapackage-digest.json"}):
        result.problems.append(f"{n[:200]}: not listed in datapackage.json")
    digest = _json_member(zf, "datapackage-digest.json", result)
    if not isinstance(digest, dict):
        return
    try:
        actual = "sha256:" + _sha256_member(zf, "datapackage.json")[0]
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError):
        return
    if digest.get("hash") != actual:
        result.problems.append(f"datapackage-digest.json: hash {str(digest.get('hash'))[:80]!r} is not "
                               f"datapackage.json's ({actual[:23]}…)")
    signed = digest.get("signedData")
    if signed is None:
        if trusted is not None:
            result.problems.append("datapackage-digest.json: not signed, but a public key was given")
        else:
            result.warnings.append("the bundle is not signed: its hashes prove it is whole, not who made it")
        return
    check = check_signed_data(signed, actual, package.get("created"), trusted)
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


def _files_warc(zf: zipfile.ZipFile, name: str, base: str, result: Verification) -> dict[str, _Stored]:
    """Every resource record of the files WARC, by the key its URL names under `base`."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    out: dict[str, _Stored] = {}
    try:
        with zf.open(name) as fh:
            for rec in ArchiveIterator(fh):
                if rec.rec_type != "resource":
                    continue
                url = rec.rec_headers.get_header("WARC-Target-URI") or ""
                if not url.startswith(base + "/"):
                    result.problems.append(f"{name}: a record at {url[:200]!r}, outside {base}")
                    continue
                key = unquote(url[len(base) + 1:])
                stream = rec.content_stream()
                keep = key.endswith(_KEEP_SUFFIXES)
                h, size, chunks = hashlib.sha256(), 0, []
                for chunk in iter(lambda s=stream: s.read(1 << 20), b""):  # type: ignore[misc]
                    h.update(chunk)
                    size += len(chunk)
                    if keep and size <= MAX_JSON_BYTES:
                        chunks.append(chunk)
                if key in out:
                    result.problems.append(f"{key[:200]}: recorded twice in {name}")
                out[key] = _Stored(h.hexdigest(), size, b"".join(chunks) if keep and size <= MAX_JSON_BYTES
                                   else None)
    except KeyError:
        result.problems.append(f"{name}: missing")
    except (ArchiveLoadFailed, zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        result.problems.append(f"{name}: not a readable WARC ({str(exc)[:120]})")
    return out


def _check_contents(zf: zipfile.ZipFile, names: set[str], meta: dict[str, Any], result: Verification,
                    trust_given: list[bytes] | None) -> None:
    base = meta.get("public_base_url")
    files_warc = meta.get("files_warc")
    if not isinstance(base, str) or not isinstance(files_warc, str):
        result.problems.append(f"{EXPORT_DOC}: no public_base_url or files_warc")
        return
    stored = _files_warc(zf, files_warc, base.rstrip("/"), result)
    listed: dict[str, dict[str, Any]] = {}
    for f in meta.get("files") or []:
        if not (isinstance(f, dict) and isinstance(f.get("key"), str) and isinstance(f.get("in"), str)):
            result.problems.append(f"{EXPORT_DOC}: a malformed file entry")
            continue
        listed[f["key"]] = f
    warcs: dict[str, str] = {}  # key -> archive member, for the capture WARCs
    for key, f in listed.items():
        where = f["in"]
        if where == files_warc:
            got = stored.get(key)
            if got is None:
                result.problems.append(f"{key[:200]}: listed in {EXPORT_DOC} but not in {files_warc}")
            elif got.sha256 != f.get("sha256"):
                result.problems.append(f"{key[:200]}: SHA-256 {got.sha256[:16]}… is not the "
                                       f"{str(f.get('sha256'))[:16]}… {EXPORT_DOC} lists")
        elif where.startswith("archive/") and where in names:
            warcs[key] = where
            try:
                digest, _ = _sha256_member(zf, where)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError):
                continue  # already said by the package check
            if digest != f.get("sha256"):
                result.problems.append(f"{key[:200]}: SHA-256 {digest[:16]}… of {where} is not the "
                                       f"{str(f.get('sha256'))[:16]}… {EXPORT_DOC} lists")
        else:
            result.problems.append(f"{key[:200]}: listed in {EXPORT_DOC} at {where[:200]!r}, which is not here")
    for key in stored:
        if key not in listed:
            result.problems.append(f"{key[:200]}: in {files_warc} but not listed in {EXPORT_DOC}")
    present = set(stored) | set(warcs)
    for key, got in stored.items():
        if key.startswith("blobs/sha256/") and key.rsplit("/", 1)[-1] != got.sha256:
            result.problems.append(f"{key[:200]}: content does not match its name (SHA-256 {got.sha256[:16]}…)")
    left_out = {e.get("key") for e in meta.get("left_out") or [] if isinstance(e, dict)}
    trust = trust_given
    if trust is None:
        trust = [zf.read(p) for p in meta.get("tsa_ca") or [] if isinstance(p, str) and p in names] or None
    check_warc = check_manifest_against_warc
    check_ts = verify_capture_timestamps
    for key in sorted(k for k in stored if MANIFEST_KEY_RE.fullmatch(k)):
        raw = stored[key].data
        try:
            doc = _loads(raw)
        except ValueError:
            doc = None
        if not is_manifest_document(doc):
            result.problems.append(f"{key[:200]}: not a manifest")
            continue
        assert isinstance(doc, dict) and raw is not None
        result.captures += 1
        _check_manifest(key, doc, raw, present, left_out, result)
        warc_key = doc.get("warc")
        if isinstance(warc_key, str) and warc_key in warcs:
            _check_against_warc(zf, key, doc, warcs[warc_key], check_warc, result)
        _check_timestamps(key, raw, stored, check_ts, trust, trust_given is not None, result)
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
            result.problems.append(f"{key[:200]}: its {part} {str(doc.get(part))[:80]!r} is not the one its key names")
    named: list[tuple[str, str]] = []
    if isinstance(doc.get("warc"), str):
        named.append(("its WARC", doc["warc"]))
    cards = doc.get("cards")
    if isinstance(cards, dict):
        named += [(f"its {kind} card", k) for kind, k in cards.items() if isinstance(k, str)]
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


def _check_against_warc(zf: zipfile.ZipFile, key: str, doc: dict[str, Any], member: str, check: Any,
                        result: Verification) -> None:
    """The WARC is this capture's (its warcinfo's capture-id), and the manifest agrees with its records."""
    try:
        data = _read_member(zf, member, MAX_CHECKED_WARC_BYTES)
    except (ValueError, zipfile.BadZipFile, OSError, EOFError) as exc:
        result.not_checked.append(f"{key[:200]} against {member[:200]}: {str(exc)[:120]}")
        return
    capture_id = _warcinfo_capture_id(data)
    if capture_id is not None and capture_id != doc.get("capture_id"):
        result.problems.append(f"{key[:200]}: its WARC {member[:200]} is of capture {capture_id[:40]!r}")
    if check is None:
        return
    try:
        problems = check(doc, data)
    except Exception as exc:  # a hostile WARC must not end the verification
        problems = [f"the WARC could not be read ({type(exc).__name__}: {str(exc)[:120]})"]
    result.problems += [f"{key[:200]}: {' '.join(str(p).split())[:300]}" for p in problems]


def _warcinfo_capture_id(data: bytes) -> str | None:
    """The ``capture-id`` field of the WARC's first warcinfo record, if any."""
    from warcio.archiveiterator import ArchiveIterator

    try:
        for rec in ArchiveIterator(io.BytesIO(data)):
            if rec.rec_type != "warcinfo":
                return None
            for line in rec.content_stream().read(1 << 16).decode("utf-8", "replace").splitlines():
                name, _, value = line.partition(":")
                if name.strip().lower() == "capture-id":
                    return value.strip()
            return None
    except Exception:  # unreadable: check_manifest_against_warc says why
        return None
    return None


def _check_timestamps(key: str, raw: bytes, stored: dict[str, _Stored], check: Any, trust: list[bytes] | None,
                      trust_given: bool, result: Verification) -> None:
    record_key = timestamp_record_key(key)
    got = stored.get(record_key)
    if got is None:
        result.warnings.append(f"{key[:200]}: no trusted timestamp (no {record_key.rsplit('/', 1)[-1]})")
        return
    try:
        record = _loads(got.data)
    except ValueError:
        result.problems.append(f"{record_key[:200]}: not JSON")
        return
    if not isinstance(record, dict):
        result.problems.append(f"{record_key[:200]}: not a timestamp record")
        return
    tokens: dict[str, bytes] = {}
    for token in record.get("tokens") or []:
        tkey = token.get("token_key") if isinstance(token, dict) else None
        if not isinstance(tkey, str):
            continue
        data = stored[tkey].data if tkey in stored else None
        if data is None:
            result.problems.append(f"{record_key[:200]}: its token {tkey[:200]} is not in the bundle")
        else:
            tokens[tkey] = data
    if check is None:
        return
    try:
        problems = check(raw, record, tokens, trust)
    except Exception as exc:  # hostile tokens must not end the verification
        problems = [f"could not be checked ({type(exc).__name__}: {str(exc)[:120]})"]
    result.problems += [f"{record_key[:200]}: {' '.join(str(p).split())[:300]}" for p in problems]
    if not problems and trust and not trust_given:
        result.warnings.append(f"{record_key[:200]}: timestamps checked against the TSA CA certificates in "
                               "the bundle; give --tsa-ca with the TSAs' published certificates to rely on them")
