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
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from archiver import __version__
from archiver.errors import ConfigError, InputError

KEY_FILE = "evidence-signing-key.pem"
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


def key_path(home: Path) -> Path:
    """Where the signing key of the archiver home `home` lives: ``<home>/keys/evidence-signing-key.pem``."""
    return home / "keys" / KEY_FILE


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

    Refuses (InputError) to replace an existing file unless `force`; the new file replaces the old one
    atomically. Returns the public key's PEM and fingerprint. ConfigError when the file cannot be written.
    """
    if path.exists() and not force:
        raise InputError(f"{path} already exists: a signing key is there (--force replaces it; bundles "
                         "signed with the old key then verify only against the old public key)")
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".key-", suffix=".part")  # mkstemp: mode 0600
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError(f"cannot write the signing key {path}: {exc.strerror or exc}") from None
    return public_info(key.public_key())


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
    half is taken) or base64/DER SubjectPublicKeyInfo. InputError naming `where` for anything else."""
    if len(data) > _MAX_KEY_FILE:
        raise InputError(f"{where}: not a public key (over {_MAX_KEY_FILE} bytes)")
    key: Any = None
    text = data.strip()
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
