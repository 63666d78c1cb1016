"""The evidence signing key and the WACZ signature (Webrecorder's "WACZ Signing and Verification" 0.1.0,
https://specs.webrecorder.net/wacz-auth/0.1.0/, the anonymous signature form).

The key is an ECDSA key on NIST P-256 kept as an unencrypted PKCS#8 PEM file (mode 0600) at
``<archiver home>/keys/evidence-signing-key.pem`` (`archiver keys create`). A signed bundle's
``datapackage-digest.json`` holds ``signedData``:

```
{"hash": "sha256:<hex of datapackage.json>", "created": "<datapackage.json's created>",
 "software": "archiver", "version": "<archiver version>",
 "signature": "<base64 of the ECDSA-SHA256 signature over the UTF-8 bytes of hash, r||s, 64 bytes>",
 "publicKey": "<base64 of the DER SubjectPublicKeyInfo>"}
```

which is what ArchiveWeb.page writes and verifiers of that form (WebCrypto's ECDSA, pycryptodome's
"binary" DSS encoding) read: the signed message is the ``hash`` string itself, the signature the
IEEE P1363 concatenation of r and s. `openssl dgst -sha256 -verify` checks the same signature once r
and s are put in a DER SEQUENCE (the README's "Evidence" section shows how). The embedded public key
only proves the bundle was not changed after signing; that it was signed by *this* archive is proved
by the public key the archive publishes (``/.well-known/archiver-signing-key.pem``, `archiver keys show`).

Key rotation (`archiver keys create --force`) keeps the replaced key's PUBLIC half, so bundles it signed
still verify against a key the archive publishes: ``<home>/keys/retired/<hex>.pem``, where ``<hex>`` is
the key's fingerprint without ``sha256:``, a PEM SubjectPublicKeyInfo preceded by explanatory lines
(RFC 7468 section 2; `openssl pkey -pubin` and `load_pem_public_key` read it as it is)::

    # archiver evidence signing key, retired
    # fingerprint: sha256:<hex>
    # valid_from: 2026-01-02T03:04:05.123456Z
    # valid_until: 2026-03-04T05:06:07.654321Z

The times carry microseconds (`archiver.dates.iso_precise`), so keys rotated within one second still
list in the order they were used; a file's modification time breaks any remaining tie. The current
key's creation time is kept beside it in ``evidence-signing-key.created`` (one ISO 8601 line), the
file's modification time standing in for keys made before that file existed.
`all_keys` lists the current key and every retired one (`archiver keys show --all`,
``/.well-known/archiver-signing-keys.json``).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from archiver import __version__
from archiver.dates import iso_precise, parse_iso, utcnow
from archiver.errors import ConfigError, InputError

KEY_FILE = "evidence-signing-key.pem"
CREATED_FILE = "evidence-signing-key.created"
RETIRED_DIR = "retired"
MAX_RETIRED_KEYS = 1000
_RETIRED_NAME_RE = re.compile(r"[0-9a-f]{64}\.pem")
_FIELD_RE = re.compile(r"# (fingerprint|valid_from|valid_until): (\S{1,80})")
SOFTWARE = "archiver"
# The size of a P-256 scalar in bytes: r and s of a signature are each this long in the r||s form.
_SCALAR = 32
_MAX_KEY_FILE = 64 * 1024
_HASH_RE = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class PublicKeyInfo:
    """A public key as archiver shows it: its PEM (SubjectPublicKeyInfo) and its fingerprint,
    ``sha256:<hex>`` of the DER SubjectPublicKeyInfo (so `openssl pkey -pubin -outform DER | sha256sum`
    gives the same hex)."""

    pem: str
    fingerprint: str
    retired: str | None = None  # create_key: the fingerprint of the key it replaced and kept


@dataclass(frozen=True)
class KeyRecord:
    """One signing key the archive has used: its public PEM, fingerprint, ``status`` ("current" or
    "retired"), ``valid_from`` and ``valid_until`` (ISO 8601 UTC strings; None when not known, and
    ``valid_until`` None for the current key) and, for a retired key, the file it is kept in."""

    pem: str
    fingerprint: str
    status: str
    valid_from: str | None
    valid_until: str | None
    path: str | None = None

    def as_json(self) -> dict[str, Any]:
        """``{"fingerprint", "status", "valid_from", "valid_until", "public_key_pem"}``."""
        return {"fingerprint": self.fingerprint, "status": self.status, "valid_from": self.valid_from,
                "valid_until": self.valid_until, "public_key_pem": self.pem}


def key_path(home: Path) -> Path:
    """Where the signing key of the archiver home `home` lives: ``<home>/keys/evidence-signing-key.pem``."""
    return home / "keys" / KEY_FILE


def retired_dir(home: Path) -> Path:
    """Where the public halves of replaced signing keys are kept: ``<home>/keys/retired``."""
    return home / "keys" / RETIRED_DIR


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".key-", suffix=".part")  # mkstemp: mode 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _created_at(path: Path) -> str | None:
    """When the key at `path` was made: its ``.created`` file, else the key file's modification time."""
    try:
        with path.with_suffix(".created").open("rb") as fh:
            text = fh.read(100).decode("ascii").strip()
        return iso_precise(parse_iso(text))
    except (OSError, ValueError, OverflowError):  # UnicodeDecodeError is a ValueError
        pass
    try:
        return iso_precise(datetime.fromtimestamp(path.stat().st_mtime, UTC))
    except (OSError, ValueError, OverflowError):
        return None


def _retired_text(info: PublicKeyInfo, valid_from: str | None, valid_until: str) -> bytes:
    lines = ["# archiver evidence signing key, retired", f"# fingerprint: {info.fingerprint}"]
    if valid_from:
        lines.append(f"# valid_from: {valid_from}")
    lines.append(f"# valid_until: {valid_until}")
    return ("\n".join(lines) + "\n" + info.pem).encode("ascii")


def _retire(path: Path) -> str | None:
    """Keep the public half of the key at `path` under retired/ before it is replaced; its fingerprint,
    or None when there is no readable key there (nothing to keep). ConfigError when it cannot be kept."""
    try:
        key = load_private_key(path)
    except ConfigError:
        return None  # not a key (what --force is for): there is no public half to keep
    if key is None:
        return None
    info = public_info(key.public_key())
    target = retired_dir(path.parent.parent) / f"{info.fingerprint.removeprefix('sha256:')}.pem"
    try:
        _write_atomic(target, _retired_text(info, _created_at(path), iso_precise(utcnow())), 0o644)
    except OSError as exc:
        raise ConfigError(f"cannot keep the old public key in {target}: {exc.strerror or exc} "
                          "(the signing key was not replaced)") from None
    return info.fingerprint


def fingerprint(public_key: ec.EllipticCurvePublicKey) -> str:
    """``sha256:<hex>`` of the DER SubjectPublicKeyInfo of `public_key`."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def public_info(public_key: ec.EllipticCurvePublicKey) -> PublicKeyInfo:
    """The PEM and fingerprint of `public_key`."""
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return PublicKeyInfo(pem.decode("ascii"), fingerprint(public_key))


def create_key(path: Path, *, force: bool = False) -> PublicKeyInfo:
    """Make a new P-256 key and write it to `path` (PKCS#8 PEM, mode 0600; its directory made 0700).

    Refuses (InputError) to replace an existing file unless `force`; with `force`, the old key's public
    half is first kept in ``<home>/keys/retired/<hex>.pem`` with its dates (see the module docstring;
    `path` is ``<home>/keys/<file>``), then the new file replaces the old one atomically and its creation
    time is written beside it. Returns the new public key's PEM and fingerprint, and in ``retired`` the
    fingerprint of the key kept. ConfigError when a file cannot be written (the old key then stays).
    """
    if path.exists() and not force:
        raise InputError(f"{path} already exists: a signing key is there (--force replaces it; bundles "
                         "signed with the old key then verify only against the old public key)")
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    retired = _retire(path) if path.exists() else None
    try:
        _write_atomic(path, pem, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot write the signing key {path}: {exc.strerror or exc}") from None
    with contextlib.suppress(OSError):  # else the key file's modification time stands in
        _write_atomic(path.with_suffix(".created"), (iso_precise(utcnow()) + "\n").encode("ascii"), 0o600)
    info = public_info(key.public_key())
    return PublicKeyInfo(info.pem, info.fingerprint, retired)


def read_retired(path: Path) -> KeyRecord:
    """A retired key file (hostile bytes: at most 64 KiB, the PEM must be a P-256 public key whose
    fingerprint is the file's name). InputError, one line, for anything else."""
    try:
        data = path.read_bytes()[: _MAX_KEY_FILE + 1]
    except OSError as exc:
        raise InputError(f"{path.name}: {exc.strerror or exc}") from None
    key = load_public_key(data, where=path.name)
    info = public_info(key)
    if path.name != info.fingerprint.removeprefix("sha256:") + ".pem":
        raise InputError(f"{path.name}: holds key {info.fingerprint}, not the one its name says")
    fields: dict[str, str] = {}
    for line in data.decode("ascii", "replace").splitlines()[:20]:
        if (m := _FIELD_RE.fullmatch(line.strip())) is not None:
            try:
                value = m.group(2)
                fields[m.group(1)] = value if m.group(1) == "fingerprint" else iso_precise(parse_iso(value))
            except (ValueError, OverflowError):  # not a time, or one outside years 1-9999 in UTC
                continue
    return KeyRecord(info.pem, info.fingerprint, "retired", fields.get("valid_from"), fields.get("valid_until"),
                     str(path))


def all_keys(home: Path) -> tuple[list[KeyRecord], list[str]]:
    """Every signing key of the archiver home `home`: the current one first (when there is one), then the
    retired ones, latest retired first (at most MAX_RETIRED_KEYS). Also the problems met, one line each
    (a retired file that is not a key, an unreadable current key), which leave that key out.
    """
    keys: list[KeyRecord] = []
    problems: list[str] = []
    path = key_path(home)
    try:
        current = load_private_key(path)
    except ConfigError as exc:
        problems.append(str(exc))
        current = None
    if current is not None:
        info = public_info(current.public_key())
        keys.append(KeyRecord(info.pem, info.fingerprint, "current", _created_at(path), None, str(path)))
    retired: list[KeyRecord] = []
    try:
        names = sorted(p.name for p in retired_dir(home).iterdir())
    except FileNotFoundError:
        names = []
    except OSError as exc:
        problems.append(f"cannot list {retired_dir(home)}: {exc.strerror or exc}")
        names = []
    for name in names:
        if not _RETIRED_NAME_RE.fullmatch(name):
            continue
        if len(retired) >= MAX_RETIRED_KEYS:
            problems.append(f"more than {MAX_RETIRED_KEYS} retired keys: the rest are not listed")
            break
        try:
            retired.append(read_retired(retired_dir(home) / name))
        except InputError as exc:
            problems.append(f"retired key {exc}")
    # Latest retired first: by valid_until (all written by iso_precise, so the strings sort as times),
    # a tie (older whole-second files) broken by when the file was written.
    retired.sort(key=lambda k: (k.valid_until or "", _mtime_ns(k.path)), reverse=True)
    return keys + [k for k in retired if not keys or k.fingerprint != keys[0].fingerprint], problems


def _mtime_ns(path: str | None) -> int:
    """The modification time of `path` in nanoseconds; 0 when it cannot be read."""
    try:
        return os.stat(path).st_mtime_ns if path else 0
    except OSError:
        return 0


def load_private_key(path: Path) -> ec.EllipticCurvePrivateKey | None:
    """The signing key at `path`, or None when there is no file.

    ConfigError (one line) when the file is unreadable, over 64 KiB, not an unencrypted PEM private key,
    or not on P-256."""
    try:
        if not path.exists():
            return None
        if path.stat().st_size > _MAX_KEY_FILE:
            raise ConfigError(f"{path} is not a signing key (over {_MAX_KEY_FILE} bytes)")
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the signing key {path}: {exc.strerror or exc}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path} is not an unencrypted PEM private key ({str(exc)[:120]})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ConfigError(f"{path} is not an ECDSA P-256 key (make one with `archiver keys create --force`)")
    return key


def load_public_key(data: bytes, *, where: str) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from PEM (SubjectPublicKeyInfo, or a certificate, or a private key whose public
    half is taken; explanatory lines before it, as a retired key file has, are skipped) or base64/DER
    SubjectPublicKeyInfo. InputError naming `where` for anything else."""
    if len(data) > _MAX_KEY_FILE:
        raise InputError(f"{where}: not a public key (over {_MAX_KEY_FILE} bytes)")
    key: Any = None
    text = data.strip()
    if (begin := text.find(b"-----BEGIN")) > 0:  # explanatory text before the PEM (RFC 7468 section 2)
        text = text[begin:]
    try:
        if text.startswith(b"-----BEGIN CERTIFICATE"):
            from cryptography import x509

            key = x509.load_pem_x509_certificate(text).public_key()
        elif b"PRIVATE KEY" in text[:40]:
            key = serialization.load_pem_private_key(text, password=None).public_key()
        elif text.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(text)
        else:
            der = text if not text.isascii() else base64.b64decode(text, validate=True)
            key = serialization.load_der_public_key(der)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InputError(f"{where}: not a public key ({str(exc)[:120]})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise InputError(f"{where}: not an ECDSA P-256 public key")
    return key


def sign_digest(key: ec.EllipticCurvePrivateKey, hash_value: str, created: str) -> dict[str, str]:
    """The anonymous ``signedData`` of the WACZ signing spec over `hash_value` (``sha256:<hex>`` of
    datapackage.json), carrying `created` (datapackage.json's ``created``, which `wacz validate`
    requires the two to share) and the public key."""
    if not _HASH_RE.fullmatch(hash_value):
        raise ValueError(f"not a sha256:<hex> digest: {hash_value[:80]!r}")
    der = key.sign(hash_value.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(_SCALAR, "big") + s.to_bytes(_SCALAR, "big")
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    return {"hash": hash_value, "created": created, "software": SOFTWARE, "version": __version__,
            "signature": base64.b64encode(raw).decode("ascii"), "publicKey": base64.b64encode(spki).decode("ascii")}


@dataclass
class SignatureCheck:
    """What `check_signed_data` found: `problems` (each one line: the signature does not hold), `key`
    (the public key the signature was checked against, when it holds) and whether that key was the
    one embedded in the bundle (`embedded_key`: integrity only) or one given by the verifier."""

    problems: list[str]
    key: ec.EllipticCurvePublicKey | None = None
    embedded_key: bool = False


def check_signed_data(signed: Any, datapackage_hash: str, created: Any,
                      trusted: ec.EllipticCurvePublicKey | None) -> SignatureCheck:
    """Check a ``signedData`` object (hostile JSON) against the hash of datapackage.json as computed
    (`datapackage_hash`, ``sha256:<hex>``) and datapackage.json's `created`.

    With `trusted`, the signature must verify under that key (the embedded key is then only compared);
    without, under the embedded ``publicKey``. Each failure is one line in ``problems``."""
    where = "datapackage-digest.json signedData"
    if not isinstance(signed, dict):
        return SignatureCheck([f"{where}: not an object"])
    problems = []
    if signed.get("hash") != datapackage_hash:
        problems.append(f"{where}: signs hash {str(signed.get('hash'))[:80]!r}, but datapackage.json's is "
                        f"{datapackage_hash}")
    if signed.get("created") != created:
        problems.append(f"{where}: created {str(signed.get('created'))[:40]!r} is not datapackage.json's "
                        f"{str(created)[:40]!r}")
    embedded: ec.EllipticCurvePublicKey | None = None
    if isinstance(signed.get("publicKey"), str):
        try:
            embedded = load_public_key(signed["publicKey"].encode("ascii", "replace"), where=f"{where} publicKey")
        except InputError as exc:
            if trusted is None:
                problems.append(str(exc))
    elif trusted is None:
        problems.append(f"{where}: no publicKey (a domain-certificate signature, which this verifier does "
                        "not check; give --public-key)")
    key = trusted or embedded
    if key is None:
        return SignatureCheck(problems)
    try:
        raw = base64.b64decode(str(signed.get("signature", "")), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 2 * _SCALAR:
        problems.append(f"{where}: the signature is not 64 bytes of base64 (ECDSA P-256 r||s)")
        return SignatureCheck(problems)
    der = encode_dss_signature(int.from_bytes(raw[:_SCALAR], "big"), int.from_bytes(raw[_SCALAR:], "big"))
    message = signed["hash"].encode("utf-8") if isinstance(signed.get("hash"), str) else b""
    try:
        key.verify(der, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        if trusted is not None:
            problems.append(f"{where}: the signature does not verify under the given public key "
                            f"{fingerprint(trusted)}" + ("" if embedded is None else
                                                         f" (the bundle names key {fingerprint(embedded)})"))
        else:
            problems.append(f"{where}: the signature does not verify under the bundle's own public key")
        return SignatureCheck(problems)
    return SignatureCheck(problems, key, embedded_key=trusted is None)
