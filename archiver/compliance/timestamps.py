"""Trusted time (RFC 3161): each capture's manifest digest timestamped by every configured TSA.

Captures are batched: the SHA-256 digests of the manifests committed together become the leaves of
a Merkle tree (merkle.py: RFC 6962's, leaf = H(0x00 || digest), node = H(0x01 || left || right)) and
each TSA of ``tsa_urls`` is asked once, over the root. The request is built with ``rfc3161-client``
(SHA-256, a nonce, certReq true) over the root's preimage, so its message imprint *is* the root:
``openssl ts -verify -digest <root hex> -in <n>.tsr -CAfile <TSA CA>`` checks a stored token as it
is. Each capture keeps a record beside its manifest (``timestamp_record_key``)::

    {"schema": "archiver.timestamps.v1", "manifest_key", "manifest_sha256", "hash_algorithm": "sha256",
     "leaf", "path": [{"side": "left" | "right", "hash"}], "root", "batch_size",
     "tokens": [{"tsa_url", "token_key", "gen_time", "serial", "policy", "tsa_name", "signature_checked"}],
     "failed_attempts": [{"tsa_url", "at", "error"}], "created_at", "updated_at"}

(hex digests lowercase; times ISO 8601 UTC; ``serial`` a decimal string; ``signature_checked``
whether the token's signature was verified when it arrived, False only when no ``tsa_ca_certs`` is
configured and the token carries no root certificate; ``failed_attempts`` the last MAX_FAILURES).
The tokens, each a DER TimeStampResp as the TSA sent it, are stored at ``timestamps/<root>/<n>.tsr``
(n: the TSA's place in ``tsa_urls``).

The record is written with its root *before* any TSA is asked, so a run that dies halfway leaves a
record that is not complete, which the next run (or scan) completes over the same root: one token per
root and TSA, never two. A complete record (a token from every configured TSA for the manifest as it
is stored now) is left alone, so running twice gives the same record. A manifest rewritten since (a
retry completing the capture) gets a new record in a new batch. A TSA that fails is recorded in
``failed_attempts`` and asked again after the next ``tsa_retry_delays`` entry.

Requests go out through a bounded HTTP POST (``post_query``) that honours the fetcher's address
guard (archiver/capture/guard.py: ``fetch_allow``), TLS checks and a hard deadline, and reads at most
MAX_RESPONSE_BYTES. Timestamping never raises into a capture or a rewrite: callers get a summary
(``TimestampRun``), failures are logged and recorded.

``verify_capture_timestamps`` checks a record offline with rfc3161-client's verifier against given
trust roots (the TSAs' CA certificates, ``tsa_ca_certs``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archiver.capture.exchange import FetchError
from archiver.capture.fetch import Watchdog, ssl_context
from archiver.capture.guard import resolve_target
from archiver.compliance.merkle import (
    Step,
    build_tree,
    fold_path,
    hex_digest,
    leaf_hash,
    leaf_preimage,
    parse_path,
)
from archiver.dates import iso, parse_iso, utcnow
from archiver.errors import ConfigError
from archiver.redact import redact_url
from archiver.storage.base import ObjectNotFound, json_bytes
from archiver.storage.layout import MANIFEST_KEY_RE, timestamp_token_key
from archiver.storage.layout import manifest_key as layout_manifest_key
from archiver.storage.layout import timestamp_record_key as _record_key

if TYPE_CHECKING:
    from cryptography import x509
    from rfc3161_client import TimeStampResponse

    from archiver.config.settings import Settings
    from archiver.runtime import Runtime
    from archiver.storage.base import ObjectStore

log = logging.getLogger(__name__)

RECORD_SCHEMA = "archiver.timestamps.v1"
TSR_CONTENT_TYPE = "application/timestamp-reply"
QUERY_CONTENT_TYPE = "application/timestamp-query"
# A TimeStampResp is a few KiB (a long certificate chain makes it tens); anything bigger is refused.
MAX_RESPONSE_BYTES = 256 * 1024
# A stored record larger than this is not read (hostile or broken), nor are more tokens or steps.
MAX_RECORD_BYTES = 1024 * 1024
MAX_TOKENS = 64
MAX_FAILURES = 20
# How a stored token says which TSA it came from (object metadata: SHA-256 of the TSA's URL).
TSA_META = "tsa-url-sha256"
# SHA-256 (dotted OID): the only imprint algorithm a token may use.
SHA256_OID = "2.16.840.1.101.3.4.2.1"
_LINE = re.compile(r"\s+")
# Related captures stored with a capture (its manifest names their keys), timestamped with it.
_RELATIONS = ("quoted", "parent", "latest_edit")


def timestamp_record_key(manifest_key: str) -> str:
    """Where a capture's timestamp record lives: ``posts/<provider>/<post_id>/<capture_id>.timestamps.json``
    beside its manifest ``…/<capture_id>.json``; ValueError when `manifest_key` is not a manifest key."""
    return _record_key(manifest_key)


def one_line(text: object, limit: int = 300) -> str:
    """`text` as one bounded line (whitespace runs one space, control characters dropped)."""
    flat = _LINE.sub(" ", "".join(c for c in str(text) if c.isprintable() or c.isspace())).strip()
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


class TsaError(Exception):
    """A TSA did not give a usable token: `kind` is timeout, network, refused, http, too_large,
    malformed (not a TimeStampResp), rejected (a status other than granted) or invalid (a token
    for another digest or nonce, or one whose signature does not verify); the message is one line."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(one_line(message))
        self.kind = kind


# --- the HTTP POST -------------------------------------------------------------------------------
def post_query(url: str, query: bytes, settings: Settings, *, timeout: float | None = None,
               max_bytes: int = MAX_RESPONSE_BYTES) -> bytes:
    """POST an RFC 3161 TimeStampReq (DER) to a TSA over HTTP(S) (RFC 3161 section 3.4) and return the
    body of its 200 answer.

    The URL goes through the address guard (``resolve_target``: a private or loopback address is
    refused unless ``fetch_allow`` lists it) and the connection is made to the address checked, with
    TLS verified for the real name (``fetch_ca_bundle`` or certifi). Everything, DNS to last byte,
    ends within `timeout` seconds (``tsa_timeout``); the body may be at most `max_bytes`. No redirect
    is followed. Raises TsaError (timeout, network, refused, http, too_large)."""
    seconds = settings.tsa_timeout if timeout is None else timeout
    end = time.monotonic() + seconds
    shown = redact_url(url)[:200]
    try:
        target = resolve_target(url, settings, timeout=min(seconds, settings.fetch_connect_timeout))
    except FetchError as exc:
        raise TsaError("refused" if exc.kind in ("refused", "bad_url") else exc.kind, str(exc)) from None
    # urllib3 and http.client (about 30 ms of imports) only when a TSA is asked.
    import http.client

    import urllib3
    from urllib3.connection import HTTPConnection, HTTPSConnection

    watchdog = Watchdog(end - time.monotonic())
    conn: HTTPConnection | None = None
    resp: Any = None
    try:
        errors = []
        for ip in target.addresses:
            left = max(0.01, end - time.monotonic())
            try:
                if target.scheme == "https":
                    conn = HTTPSConnection(ip, target.port, timeout=min(left, settings.fetch_connect_timeout),
                                           server_hostname=target.host, cert_reqs="CERT_REQUIRED",
                                           ssl_context=ssl_context(settings.fetch_ca_bundle))
                else:
                    conn = HTTPConnection(ip, target.port, timeout=min(left, settings.fetch_connect_timeout))
                conn.connect()
                break
            except (OSError, urllib3.exceptions.HTTPError) as exc:
                errors.append(f"{ip}: {exc}")
                conn = None
                if watchdog.fired:
                    break
        if conn is None or conn.sock is None:
            if watchdog.fired:
                raise TsaError("timeout", f"{shown}: connecting took longer than {seconds:g}s")
            raise TsaError("network", f"{shown}: cannot connect: {'; '.join(errors)[:300]}")
        watchdog.watch(conn.sock)
        conn.timeout = max(0.01, end - time.monotonic())
        headers = {"Host": target.host_header, "User-Agent": settings.user_agent,
                   "Content-Type": QUERY_CONTENT_TYPE, "Accept": TSR_CONTENT_TYPE,
                   "Content-Length": str(len(query)), "Connection": "close"}
        conn.request("POST", target.path, body=query, headers=headers, preload_content=False,
                     decode_content=False, enforce_content_length=False)
        resp = conn.getresponse()
        if resp.status != 200:
            raise TsaError("http", f"{shown}: HTTP {resp.status} {one_line(resp.reason, 80)}")
        declared = resp.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise TsaError("too_large", f"{shown}: the answer declares {declared} bytes, over {max_bytes}")
        parts: list[bytes] = []
        total = 0
        while True:
            if watchdog.fired or time.monotonic() >= end:
                raise TsaError("timeout", f"{shown}: the answer took longer than {seconds:g}s")
            chunk = resp.read1(16 * 1024)
            if not chunk:
                if watchdog.fired:
                    raise TsaError("timeout", f"{shown}: the answer took longer than {seconds:g}s")
                return b"".join(parts)
            total += len(chunk)
            if total > max_bytes:
                raise TsaError("too_large", f"{shown}: the answer is over {max_bytes} bytes")
            parts.append(chunk)
    except TsaError:
        raise
    except (OSError, urllib3.exceptions.HTTPError, http.client.HTTPException, ValueError) as exc:
        if watchdog.fired or isinstance(exc, TimeoutError | urllib3.exceptions.TimeoutError):
            raise TsaError("timeout", f"{shown}: no answer within {seconds:g}s") from None
        raise TsaError("network", f"{shown}: {type(exc).__name__}: {one_line(exc, 200)}") from None
    finally:
        watchdog.cancel()
        if resp is not None:
            with contextlib.suppress(Exception):
                resp.close()
        if conn is not None:
            conn.close()


# --- tokens --------------------------------------------------------------------------------------
def load_certificates(data: bytes) -> list[x509.Certificate]:
    """The X.509 certificates in `data`: one DER certificate or any number of PEM ones; ValueError
    when there is none."""
    from cryptography import x509  # cryptography (about 30 ms to import) only where tokens are read

    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificates(data)
    return [x509.load_der_x509_certificate(data)]


def load_trust_roots(settings: Settings) -> list[bytes]:
    """The DER bytes of every certificate in the ``tsa_ca_certs`` files; ConfigError naming the file
    that cannot be read or holds no certificate. [] when none is configured."""
    from cryptography.hazmat.primitives.serialization import Encoding  # only where roots are configured

    out: list[bytes] = []
    for name in settings.tsa_ca_cert_list:
        try:
            certs = load_certificates(Path(name).expanduser().read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"tsa_ca_certs: {name!r} holds no readable certificate: {one_line(exc, 200)}") from None
        out.extend(c.public_bytes(Encoding.DER) for c in certs)
    return out


@dataclass(frozen=True)
class TokenInfo:
    """What a checked token says: its time (ISO 8601 UTC, to the second), serial number (decimal),
    policy OID, the TSA's name (its GeneralName as text, or None), and whether its signature was
    verified (False only for a token accepted with `unanchored_ok`: no trust root to check it by)."""

    gen_time: str
    serial: str
    policy: str
    tsa_name: str | None
    signature_checked: bool = True


def _gen_time(value: datetime) -> str:
    value = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return iso(value)


def _tsa_name(resp: TimeStampResponse) -> str | None:
    from cryptography import x509  # loaded already by whoever decoded `resp`

    try:
        name = resp.tst_info.name
    except Exception:
        return None
    value = getattr(name, "value", None)
    if isinstance(value, x509.Name):
        return one_line(value.rfc4514_string(), 200)
    return one_line(value, 200) if value is not None else None


def _tlv(buf: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """The DER element at ``pos`` (before ``end``): (tag byte, where its content starts, where it ends).
    ValueError for a high tag number, an indefinite or overlong length, or one past ``end``."""
    if pos + 2 > end:
        raise ValueError("truncated element")
    tag, first = buf[pos], buf[pos + 1]
    if tag & 0x1F == 0x1F:
        raise ValueError("high tag number")
    pos += 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 4 or pos + n > end:
            raise ValueError("indefinite or overlong length")
        length = int.from_bytes(buf[pos:pos + n], "big")
        pos += n
    if pos + length > end:
        raise ValueError("length past the end")
    return tag, pos, pos + length


def _children(buf: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """The elements inside ``buf[start:end]``: (tag, element start, content start, end) each."""
    out, pos = [], start
    while pos < end:
        tag, content, stop = _tlv(buf, pos, end)
        out.append((tag, pos, content, stop))
        pos = stop
    return out


def der_sets_sorted(data: bytes) -> bytes | None:
    """A TimeStampResp (DER) with its token's SignedData SET OFs that no signature covers
    (``digestAlgorithms``, ``certificates`` [0], ``crls`` [1]) put in DER's order (X.690 11.6: by
    their encodings), so a strict DER parser reads a reply a real TSA sent unsorted. The elements are
    moved, never changed (every length stays), and ``signerInfos`` and everything signed are left as
    they are. None when ``data`` is not shaped as a TimeStampResp with a SignedData token."""
    try:
        out = bytearray(data)
        tag, start, end = _tlv(data, 0, len(data))
        parts = _children(data, start, end) if tag == 0x30 else []
        if len(parts) < 2 or parts[1][0] != 0x30:
            return None
        info = _children(data, parts[1][2], parts[1][3])  # ContentInfo: OID, [0] EXPLICIT SignedData
        if len(info) < 2 or info[1][0] != 0xA0:
            return None
        inner = _children(data, info[1][2], info[1][3])
        if len(inner) != 1 or inner[0][0] != 0x30:
            return None
        signed = _children(data, inner[0][2], inner[0][3])
        for i, (tag, _, content, stop) in enumerate(signed):
            if (i == 1 and tag == 0x31) or tag in (0xA0, 0xA1):
                members = sorted(data[p:q] for _, p, _, q in _children(data, content, stop))
                out[content:stop] = b"".join(members)
        return bytes(out)
    except (ValueError, IndexError):
        return None


def check_token(data: bytes, root: bytes, trust_roots: Sequence[bytes] | None, *,
                nonce: int | None = None, unanchored_ok: bool = False) -> tuple[TimeStampResponse, TokenInfo]:
    """Check a TimeStampResp (DER) over the 32-byte Merkle `root` and return it with what it says.

    It must parse (rfc3161-client), be granted, carry a SHA-256 message imprint equal to `root` (and
    `nonce` when given) and verify with rfc3161-client's Verifier: the signature chains to one of
    `trust_roots` (DER or PEM certificates) and the signer's certificate has the critical
    timeStamping EKU. With `trust_roots` None the self-signed certificates the token carries are
    used, which checks its integrity but not who the TSA is; when it carries none, the token is
    refused, or with `unanchored_ok` (taking a token in with no ``tsa_ca_certs`` configured: many
    TSAs leave their root out) accepted on its imprint and nonce alone, ``signature_checked``
    False. Raises TsaError (malformed, rejected, invalid) with a one-line reason."""
    # rfc3161-client and cryptography (about 35 ms to import) only where a token is checked.
    from cryptography import x509
    from rfc3161_client import PKIStatus, VerificationError, VerifierBuilder, decode_timestamp_response

    if not isinstance(data, bytes) or not data:
        raise TsaError("malformed", "empty answer, not a TimeStampResp")
    if len(data) > MAX_RESPONSE_BYTES:
        raise TsaError("too_large", f"{len(data)} bytes, over {MAX_RESPONSE_BYTES}")
    try:
        try:
            resp = decode_timestamp_response(data)
        except Exception:
            # Real TSAs (OpenSSL's `certs=` chains among them) send SET OFs out of DER's order: parse
            # them sorted. Only unsigned sets are reordered, so the signature is checked as sent.
            ordered = der_sets_sorted(data)
            if ordered is None or ordered == data:
                raise
            resp = decode_timestamp_response(ordered)
        status = int(resp.status)
    except Exception as exc:
        raise TsaError("malformed", f"not an RFC 3161 TimeStampResp ({type(exc).__name__}: "
                                    f"{one_line(exc, 120)})") from None
    if status not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        try:
            said = "; ".join(resp.status_string)
        except Exception:
            said = ""
        raise TsaError("rejected", f"the TSA refused the request (PKIStatus {status}"
                                   f"{': ' + one_line(said, 200) if said else ''})")
    try:
        tst = resp.tst_info
        imprint = tst.message_imprint
        algorithm, message = imprint.hash_algorithm, imprint.message
        token_nonce, serial, policy, gen = tst.nonce, tst.serial_number, tst.policy, tst.gen_time
        certificates = list(resp.signed_data.certificates)
    except Exception as exc:
        raise TsaError("malformed", f"the token cannot be read ({type(exc).__name__}: {one_line(exc, 120)})") from None
    if algorithm.dotted_string != SHA256_OID:
        raise TsaError("invalid", f"the token's imprint is not SHA-256 (OID {algorithm.dotted_string})")
    if message != root:
        raise TsaError("invalid", f"the token is over {bytes(message).hex()[:64]}, not over {root.hex()}")
    if nonce is not None and token_nonce != nonce:
        raise TsaError("invalid", "the token's nonce is not the request's")
    if trust_roots is None:
        roots = []
        for der in certificates:
            with contextlib.suppress(ValueError):
                cert = x509.load_der_x509_certificate(der)
                if cert.issuer == cert.subject:
                    roots.append(cert)
        if not roots and unanchored_ok:
            return resp, TokenInfo(_gen_time(gen), str(serial), policy.dotted_string, _tsa_name(resp), False)
        if not roots:
            raise TsaError("invalid", "no trust roots given and the token carries no root certificate: "
                                      "its signature cannot be checked")
    else:
        roots = []
        for item in trust_roots:
            try:
                roots.extend(load_certificates(item))
            except ValueError as exc:
                raise TsaError("invalid", f"a trust root is not a certificate: {one_line(exc, 120)}") from None
        if not roots:
            raise TsaError("invalid", "no trust root to check the signature against")
    builder = VerifierBuilder()
    for cert in dict.fromkeys(roots):
        builder = builder.add_root_certificate(cert)
    try:
        builder.build().verify(resp, root)
    except (VerificationError, ValueError) as exc:
        raise TsaError("invalid", f"the token does not verify: {one_line(exc, 200)}") from None
    except Exception as exc:
        raise TsaError("invalid", f"the token does not verify ({type(exc).__name__}: {one_line(exc, 160)})") from None
    return resp, TokenInfo(_gen_time(gen), str(serial), policy.dotted_string, _tsa_name(resp))


def request_token(url: str, preimage: bytes, settings: Settings, trust_roots: Sequence[bytes] | None
                  ) -> tuple[bytes, TokenInfo]:
    """Ask the TSA at `url` for a token over SHA-256(`preimage`), the Merkle root; return the
    TimeStampResp's DER and what it says (``check_token`` against `trust_roots`).

    The request is rfc3161-client's (SHA-256, a random nonce, certReq true). A failure is repeated
    ``tsa_retries`` times at once (a refused request or a malformed token too: TSAs answer garbage
    under load); then TsaError with the last reason."""
    from rfc3161_client import HashAlgorithm, TimestampRequestBuilder  # only where a token is asked for

    root = hashlib.sha256(preimage).digest()
    attempts = settings.tsa_retries + 1
    for attempt in range(attempts):
        request = (TimestampRequestBuilder().data(preimage).hash_algorithm(HashAlgorithm.SHA256)
                   .nonce(nonce=True).cert_request(cert_request=True).build())
        try:
            body = post_query(url, request.as_bytes(), settings)
            _, info = check_token(body, root, trust_roots, nonce=request.nonce, unanchored_ok=trust_roots is None)
            return body, info
        except TsaError as exc:
            if attempt == attempts - 1 or exc.kind == "refused":
                raise
            time.sleep(min(2.0, 0.25 * 2 ** attempt))
    raise AssertionError("unreachable")


# --- records -------------------------------------------------------------------------------------
def url_id(url: str) -> str:
    """How a TSA is named in records and token metadata: its URL with any credentials masked."""
    return redact_url(url)


def load_record(store: ObjectStore, manifest_key: str) -> dict[str, Any] | None:
    """The stored timestamp record of a capture, None when there is none or it cannot be used
    (too large, not JSON, not a record of this schema: logged; the capture is timestamped anew)."""
    key = timestamp_record_key(manifest_key)
    try:
        data = store.get(key)
    except ObjectNotFound:
        return None
    try:
        if len(data) > MAX_RECORD_BYTES:
            raise ValueError(f"{len(data)} bytes")
        doc = json.loads(data)
        if not isinstance(doc, dict) or doc.get("schema") != RECORD_SCHEMA:
            raise ValueError("not a timestamp record")
        _check_record_shape(doc)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        log.warning("timestamp record %s cannot be used (%s); the capture is timestamped again", key,
                    one_line(exc, 200))
        return None
    return doc


def _check_record_shape(doc: dict[str, Any]) -> None:
    """ValueError unless `doc` has the fields this module writes, of the right types."""
    for name in ("manifest_key", "manifest_sha256", "leaf", "root"):
        if not isinstance(doc.get(name), str):
            raise ValueError(f"no {name}")
    tokens, failed = doc.get("tokens"), doc.get("failed_attempts")
    if not isinstance(tokens, list) or len(tokens) > MAX_TOKENS or not isinstance(failed, list):
        raise ValueError("bad tokens or failed_attempts")
    for t in tokens:
        if not isinstance(t, dict) or not isinstance(t.get("tsa_url"), str) or not isinstance(t.get("token_key"), str):
            raise ValueError("a token entry without tsa_url or token_key")
    parse_path(doc.get("path"))


def _record_root(doc: dict[str, Any]) -> tuple[bytes, bytes] | None:
    """(root, root preimage) when the record's leaf and path join its manifest digest to its root; else None."""
    try:
        digest = hex_digest(doc["manifest_sha256"], "manifest_sha256")
        leaf = hex_digest(doc["leaf"], "leaf")
        root = hex_digest(doc["root"], "root")
        path = parse_path(doc["path"])
    except (KeyError, ValueError):
        return None
    if leaf != leaf_hash(digest):
        return None
    folded, pre = fold_path(leaf, path)
    if folded != root:
        return None
    return root, pre if pre is not None else leaf_preimage(digest)


def _tokens_by_tsa(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["tsa_url"]: t for t in doc.get("tokens") or [] if isinstance(t, dict) and "tsa_url" in t}


def missing_tsas(doc: Mapping[str, Any] | None, urls: Sequence[str]) -> list[str]:
    """The configured TSA URLs `urls` the record has no token from (all of them for no record)."""
    have = _tokens_by_tsa(doc) if doc else {}
    return [u for u in urls if url_id(u) not in have]


def _due(doc: Mapping[str, Any], url: str, now: datetime, delays: Sequence[float]) -> bool:
    """Whether TSA `url` may be asked again for this record: never failed, or the delay its number of
    failures calls for (``tsa_retry_delays``, the last repeating) has passed since the last failure."""
    failures = [f for f in doc.get("failed_attempts") or [] if isinstance(f, dict) and f.get("tsa_url") == url_id(url)]
    if not failures or not delays:
        return True
    try:
        last = max(parse_iso(str(f.get("at"))) for f in failures)
    except ValueError:
        return True
    return now >= last + timedelta(seconds=delays[min(len(failures), len(delays)) - 1])


def next_due(doc: Mapping[str, Any] | None, urls: Sequence[str], now: datetime, delays: Sequence[float]) -> datetime:
    """When the record's earliest missing token may next be asked for (`now` when one may be now)."""
    if doc is None:
        return now
    times = []
    for url in missing_tsas(doc, urls):
        failures = [f for f in doc.get("failed_attempts") or [] if isinstance(f, dict)
                    and f.get("tsa_url") == url_id(url)]
        if not failures or not delays:
            return now
        try:
            last = max(parse_iso(str(f.get("at"))) for f in failures)
        except ValueError:
            return now
        times.append(last + timedelta(seconds=delays[min(len(failures), len(delays)) - 1]))
    return max(now, min(times)) if times else now


@dataclass
class TimestampRun:
    """What one round of timestamping did: captures looked at, already complete, completed now,
    still pending (a TSA failed or is not due yet), requests made, roots timestamped (hex), one line
    per failure, and keys that could not be read."""

    captures: int = 0
    complete: int = 0
    stamped: int = 0
    pending: list[str] = field(default_factory=list)
    requests: int = 0
    roots: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    skipped: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The run as JSON (what `archiver timestamp --json` prints)."""
        return {"captures": self.captures, "complete": self.complete, "stamped": self.stamped,
                "pending": self.pending, "requests": self.requests, "roots": self.roots,
                "failures": self.failures, "unreadable": self.unreadable, "skipped": self.skipped}


@dataclass
class _Member:
    key: str
    digest: str
    record: dict[str, Any]
    changed: bool = False


def related_keys(manifest: bytes) -> list[str]:
    """The manifest keys a stored manifest names for its quoted, parent and latest_edit posts."""
    try:
        doc = json.loads(manifest)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return []
    out = []
    for relation in _RELATIONS:
        ref = doc.get(relation) if isinstance(doc, dict) else None
        key = ref.get("manifest_key") if isinstance(ref, dict) else None
        if isinstance(key, str) and MANIFEST_KEY_RE.fullmatch(key):
            out.append(key)
    return out


def timestamp_captures(rt: Runtime, manifest_keys: Iterable[str], *, now: datetime | None = None,
                       deadline: float | None = None, follow_related: bool = True, force: bool = False,
                       max_captures: int = 10_000) -> TimestampRun:
    """Give each capture (by manifest key) a complete timestamp record: a token from every TSA of
    ``tsa_urls`` over a Merkle root its inclusion path leads to.

    Captures without a record for their manifest as stored now are batched into one new tree (in key
    order) and their records written with its root first; then each root lacking a TSA's token (new
    ones, and earlier ones a TSA failed on, once due by ``tsa_retry_delays`` or with `force`) gets
    one request per TSA, and every record under that root gets the token. With `follow_related` the
    quoted, parent and latest_edit captures a manifest names are included. Requests stop once
    `deadline` (time.monotonic()) passes; what is left stays pending. One round runs at a time per
    coordinator (the lock "timestamps"); a round that cannot get it in time is skipped.

    Never raises for a TSA's failure (recorded in the records and the run's `failures`); ConfigError
    for unreadable ``tsa_ca_certs``; storage faults propagate (the callers log or retry them)."""
    settings = rt.settings
    urls = settings.tsa_url_list
    run = TimestampRun()
    if not urls:
        run.skipped = "no time-stamping authority configured (tsa_urls)"
        return run
    trust = load_trust_roots(settings) or None
    now = now or utcnow()
    try:
        with rt.coordinator.lock("timestamps", timeout=max(5.0, settings.tsa_timeout)):
            _timestamp(rt, list(manifest_keys), urls, trust, now, deadline, follow_related, force, max_captures, run)
    except TimeoutError:
        run.skipped = "another timestamping round is running"
    return run


def _timestamp(rt: Runtime, keys: list[str], urls: list[str], trust: list[bytes] | None, now: datetime,
               deadline: float | None, follow_related: bool, force: bool, max_captures: int,
               run: TimestampRun) -> None:
    store = rt.store
    delays = rt.settings.tsa_retry_delay_list
    groups: dict[str, list[_Member]] = {}
    preimages: dict[str, bytes] = {}
    fresh: list[tuple[str, str]] = []
    seen: set[str] = set()
    queue = deque(dict.fromkeys(keys))
    while queue and len(seen) < max_captures:
        key = queue.popleft()
        if key in seen:
            continue
        seen.add(key)
        if not isinstance(key, str) or not MANIFEST_KEY_RE.fullmatch(key):
            run.unreadable.append(one_line(key, 200))
            continue
        try:
            manifest = store.get(key)
        except ObjectNotFound:
            run.unreadable.append(key)
            continue
        run.captures += 1
        if follow_related:
            queue.extend(k for k in related_keys(manifest) if k not in seen)
        digest = hashlib.sha256(manifest).hexdigest()
        record = load_record(store, key)
        joined = _record_root(record) if record is not None and record.get("manifest_sha256") == digest else None
        if record is None or joined is None or record.get("manifest_key") != key:
            fresh.append((key, digest))
            continue
        if not missing_tsas(record, urls):
            run.complete += 1
            continue
        root_hex = record["root"]
        groups.setdefault(root_hex, []).append(_Member(key, digest, record))
        preimages[root_hex] = joined[1]
    fresh_root = None
    if fresh:
        fresh.sort()
        tree = build_tree([bytes.fromhex(d) for _, d in fresh])
        root_hex = fresh_root = tree.root.hex()
        preimages[root_hex] = tree.preimage
        stamp = iso(now)
        for i, (key, digest) in enumerate(fresh):
            record = {"schema": RECORD_SCHEMA, "manifest_key": key, "manifest_sha256": digest,
                      "hash_algorithm": "sha256", "leaf": tree.leaves[i].hex(),
                      "path": [s.to_json() for s in tree.path(i)], "root": root_hex, "batch_size": len(fresh),
                      "tokens": [], "failed_attempts": [], "created_at": stamp, "updated_at": stamp}
            # Written before any TSA is asked: a round that dies now is completed over this root.
            store.put(timestamp_record_key(key), json_bytes(record), content_type="application/json")
            groups.setdefault(root_hex, []).append(_Member(key, digest, record))
    # The new batch first: a run's own captures are not kept waiting by earlier roots a TSA fails on.
    ordered = dict(sorted(groups.items(), key=lambda item: item[0] != (fresh_root or "")))
    for root_hex, members in ordered.items():
        _complete_root(rt, root_hex, preimages[root_hex], members, urls, trust, now, delays, deadline, force, run)
        for m in members:
            if m.changed:
                m.record["updated_at"] = iso(now)
                store.put(timestamp_record_key(m.key), json_bytes(m.record), content_type="application/json")
            if missing_tsas(m.record, urls):
                run.pending.append(m.key)
            else:
                run.stamped += 1


def _complete_root(rt: Runtime, root_hex: str, preimage: bytes, members: list[_Member], urls: list[str],
                   trust: list[bytes] | None, now: datetime, delays: list[float], deadline: float | None,
                   force: bool, run: TimestampRun) -> None:
    """Get every member of one root the tokens it lacks: one per TSA, shared by all of them."""
    root = bytes.fromhex(root_hex)
    for n, url in enumerate(urls):
        needing = [m for m in members if url in missing_tsas(m.record, urls)]
        if not needing:
            continue
        known = next((_tokens_by_tsa(m.record)[url_id(url)] for m in members
                      if url_id(url) in _tokens_by_tsa(m.record)), None)
        if known is None:
            if not force and not any(_due(m.record, url, now, delays) for m in needing):
                continue
            if deadline is not None and time.monotonic() >= deadline:
                continue
            try:
                known = _obtain(rt, url, n, root_hex, root, preimage, trust, run)
            except TsaError as exc:
                line = f"{url_id(url)[:200]}: root {root_hex[:16]}…: {exc}"
                log.warning("timestamp: %s (%d capture(s) wait for a retry)", line, len(needing))
                run.failures.append(one_line(line, 400))
                for m in needing:
                    failed = [*m.record.get("failed_attempts", []),
                              {"tsa_url": url_id(url), "at": iso(now), "error": one_line(f"{exc.kind}: {exc}", 300)}]
                    m.record["failed_attempts"] = failed[-MAX_FAILURES:]
                    m.changed = True
                continue
            if root_hex not in run.roots:
                run.roots.append(root_hex)
        for m in needing:
            m.record["tokens"] = [*m.record.get("tokens", []), dict(known)]
            m.changed = True


def _obtain(rt: Runtime, url: str, n: int, root_hex: str, root: bytes, preimage: bytes,
            trust: list[bytes] | None, run: TimestampRun) -> dict[str, Any]:
    """The token entry of TSA `url` over `root`: a token stored already for this root by this TSA (a
    round that died after storing it) when it still checks, else a new one, stored at
    ``timestamps/<root>/<n>.tsr`` (or the next number free, when another TSA's token holds that one)."""
    store = rt.store
    tsa = hashlib.sha256(url_id(url).encode("utf-8")).hexdigest()
    count = len(rt.settings.tsa_url_list)
    key = None
    for candidate in [n, *range(count, count + MAX_TOKENS)]:
        k = timestamp_token_key(root_hex, candidate)
        try:
            info = store.head(k)
        except ObjectNotFound:
            key = k
            break
        if info.metadata.get(TSA_META) != tsa:
            continue   # another TSA's token over this root
        try:
            _, checked = check_token(store.get(k), root, trust, unanchored_ok=trust is None)
            return _entry(url, k, checked)
        except (TsaError, ObjectNotFound):
            key = k    # ours, but it no longer checks: replaced
            break
    if key is None:
        raise TsaError("refused", f"no free token name under timestamps/{root_hex}/")
    run.requests += 1
    body, checked = request_token(url, preimage, rt.settings, trust)
    store.put(key, body, content_type=TSR_CONTENT_TYPE, metadata={TSA_META: tsa})
    log.info("timestamp: %s gave a token over %s (%s), stored at %s", url_id(url), root_hex, checked.gen_time, key)
    return _entry(url, key, checked)


def _entry(url: str, key: str, info: TokenInfo) -> dict[str, Any]:
    return {"tsa_url": url_id(url), "token_key": key, "gen_time": info.gen_time, "serial": info.serial,
            "policy": info.policy, "tsa_name": info.tsa_name, "signature_checked": info.signature_checked}


def find_pending(rt: Runtime, *, since: datetime | None = None, limit: int | None = None,
                 check_digest: bool = True) -> list[str]:
    """Manifest keys of captures (from the catalog, newest first) made since `since` (default
    ``tsa_lookback`` ago), at most `limit` (default ``tsa_scan_limit``) looked at, whose stored record
    is missing or lacks a token from a configured TSA, or (with `check_digest`, which reads each
    manifest too) is for another manifest digest than the one stored now."""
    settings = rt.settings
    urls = settings.tsa_url_list
    if not urls:
        return []
    since = since or utcnow() - timedelta(seconds=settings.tsa_lookback)
    limit = settings.tsa_scan_limit if limit is None else limit
    rows = rt.catalog.query("SELECT manifest_key FROM captures WHERE captured_at >= ? AND manifest_key IS NOT NULL "
                            "ORDER BY captured_at DESC, capture_id DESC LIMIT ?", [iso(since), int(limit)])
    out = []
    for row in rows:
        key = row.get("manifest_key")
        if not isinstance(key, str) or not MANIFEST_KEY_RE.fullmatch(key):
            continue
        record = load_record(rt.store, key)
        if record is not None and not missing_tsas(record, urls):
            if not check_digest:
                continue
            try:
                digest = hashlib.sha256(rt.store.get(key)).hexdigest()
            except ObjectNotFound:
                continue
            if record.get("manifest_sha256") == digest:
                continue
        out.append(key)
    return out


# --- verification --------------------------------------------------------------------------------
def verify_capture_timestamps(manifest_bytes: bytes, record: dict[str, Any], tokens: Mapping[str, bytes],
                              trust_roots: Sequence[bytes] | None = None) -> list[str]:
    """Check a capture's timestamp record offline; returns the problems, one line each ([] when fine).

    `manifest_bytes` are the manifest as stored; `record` its timestamp record (parsed JSON, the
    shape in this module's docstring); `tokens` the token files the record names, by their
    ``token_key`` (``timestamps/<root>/<n>.tsr``); `trust_roots` the TSAs' CA certificates (DER or
    PEM bytes; None: each token's own self-signed certificates, which proves integrity, not who
    signed). Fine means: the record is for this manifest (schema, key, SHA-256), its leaf is
    SHA-256(0x00 || digest) and its inclusion path joins that leaf to its root, the record holds at
    least one token, and every token is a granted RFC 3161 TimeStampResp whose SHA-256 imprint is
    that root, whose signature rfc3161-client's Verifier accepts against the trust roots (critical
    timeStamping EKU), and whose time and serial number are the ones the record states. Every
    input is hostile: nothing here raises, problems are bounded one-liners."""
    try:
        return _verify(manifest_bytes, record, tokens, trust_roots)
    except Exception as exc:
        return [f"the timestamp record cannot be checked: {type(exc).__name__}: {one_line(exc, 200)}"]


def _verify(manifest_bytes: bytes, record: dict[str, Any], tokens: Mapping[str, bytes],
            trust_roots: Sequence[bytes] | None) -> list[str]:
    if not isinstance(record, dict) or record.get("schema") != RECORD_SCHEMA:
        return [f"not a timestamp record of schema {RECORD_SCHEMA}"]
    problems: list[str] = []
    digest = hashlib.sha256(manifest_bytes).digest()
    if record.get("hash_algorithm", "sha256") != "sha256":
        problems.append("the record's hash algorithm is not sha256")
    if record.get("manifest_sha256") != digest.hex():
        return [f"the record is for manifest SHA-256 {one_line(record.get('manifest_sha256'), 80)}, "
                f"not for this manifest's {digest.hex()}"]
    with contextlib.suppress(ValueError, UnicodeDecodeError, AttributeError, KeyError, TypeError, RecursionError):
        doc = json.loads(manifest_bytes)
        expected = layout_manifest_key(doc["provider"], doc["post_id"], doc["capture_id"])
        if record.get("manifest_key") != expected:
            problems.append(f"the record names manifest {one_line(record.get('manifest_key'), 200)!r}, "
                            f"not {expected!r}")
    try:
        leaf = hex_digest(record.get("leaf"), "the record's leaf")
        root = hex_digest(record.get("root"), "the record's root")
        path: list[Step] = parse_path(record.get("path"))
    except ValueError as exc:
        return [*problems, one_line(exc, 200)]
    if leaf != leaf_hash(digest):
        return [*problems, "the record's leaf is not SHA-256(0x00 || the manifest's SHA-256)"]
    folded, _ = fold_path(leaf, path)
    if folded != root:
        return [*problems, f"the inclusion path joins the leaf to {folded.hex()}, "
                           f"not to the record's root {root.hex()}"]
    entries = record.get("tokens")
    if not isinstance(entries, list) or not entries:
        return [*problems, "the record holds no timestamp token (timestamping still pending)"]
    if len(entries) > MAX_TOKENS:
        return [*problems, f"the record lists {len(entries)} tokens, more than {MAX_TOKENS}"]
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("token_key"), str):
            problems.append(f"token {i}: no token_key")
            continue
        name = one_line(entry["token_key"], 200)
        data = tokens.get(entry["token_key"])
        if data is None:
            problems.append(f"token {name}: missing")
            continue
        try:
            _, info = check_token(data, root, trust_roots)
        except TsaError as exc:
            problems.append(f"token {name}: {exc}")
            continue
        if entry.get("gen_time") is not None and entry.get("gen_time") != info.gen_time:
            problems.append(f"token {name}: the record says time {one_line(entry.get('gen_time'), 40)}, "
                            f"the token {info.gen_time}")
        if entry.get("serial") is not None and str(entry.get("serial")) != info.serial:
            problems.append(f"token {name}: the record says serial {one_line(entry.get('serial'), 60)}, "
                            f"the token {info.serial}")
    return problems
