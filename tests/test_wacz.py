"""Evidence bundles as signed WACZ (issue 16): `archiver export` writes a WACZ 1.1.1 that `wacz validate`
accepts and pywb replays, holding every file the captures' manifests name (related posts' captures
too, within a bound), signed per the WACZ signing spec with the archive's key (`archiver keys`,
/.well-known/archiver-signing-key.pem); `archiver verify` catches a forged manifest, a missing file,
a wrong key and a replaced WARC, each in one line with exit 2, and passes an untouched bundle.

The archive is made once for the module: an article embedding a post that quotes another post, both
with a photo, captured from the fixture origin; the bundle is exported through the CLI as a user would.
Tampered copies are rebuilt the way a forger would: every digest recomputed (export.json, the
datapackage, the datapackage digest), then the signature kept, dropped, or made with a key.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import pwd
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from warcio.archiveiterator import ArchiveIterator
from warcio.warcwriter import WARCWriter

from archiver.auth import create_token
from archiver.capture.warc import read_warc
from archiver.compliance import audit, evidence
from archiver.compliance.evidence import export_bundle, verify_bundle
from archiver.compliance.holds import media_sha256s
from archiver.compliance.signing import sign_digest
from archiver.compliance.timestamps import timestamp_captures
from archiver.compliance.wacz import sha256_label
from archiver.config.settings import Settings, load_settings
from archiver.runners.local import archive
from archiver.runtime import Runtime
from archiver.storage.layout import MANIFEST_KEY_RE, blob_key, derived_prefix
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture, make_image
from archiver.web.app import create_app
from tests.harness.celery_worker import settings_env
from tests.harness.services import free_port, fresh_pg_dsn
from tests.harness.tsa import LocalTSA, openssl_verify

ROOT = Path(__file__).resolve().parent.parent
CLI = str(Path(sys.executable).with_name("archiver"))
WACZ = str(Path(sys.executable).with_name("wacz"))
WARCIO = str(Path(sys.executable).with_name("warcio"))
# pywb pins redis 2.10 and pyOpenSSL, which the redis extra and cryptography cannot share a
# virtual environment with: scripts/setup.sh installs it into .venv-pywb.
PYWB_BIN = Path(os.environ.get("ARCHIVER_PYWB_BIN") or ROOT / ".venv-pywb" / "bin")
QUOTED = "1945048830047662101"
QUOTING = "1945048830047662202"
ARTICLE = "story-wacz"


@dataclass
class Env:
    settings: Settings
    home: Path
    bundle: Path
    public_pem: Path
    fingerprint: str


def _article(origin: FixtureOrigin) -> bytes:
    return (
        '<html><head><meta charset="utf-8"></head><body><p>Harbour report.</p>\n'
        '<blockquote class="twitter-tweet"><p lang="en" dir="ltr">Ferry timetable: note the Sunday times '
        '<a href="https://t.co/q1">pic.twitter.com/q1</a></p>&mdash; Coast Desk (@CoastDesk) '
        f'<a href="https://twitter.com/CoastDesk/status/{QUOTING}">July 15, 2025</a></blockquote>\n'
        "</body></html>\n").encode()


def cli(settings: Settings, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout, env=settings_env(settings))


def make_archive(home: Path, tsa: LocalTSA, **overrides: Any) -> Settings:
    """The article archived by the local runner into `home`, each capture timestamped by `tsa`."""
    tweets = [
        TweetFixture(id=QUOTED, handle="HarbourFerries", name="Harbour Ferries", text="Ferry timetable changes.",
                     photos=[{"name": "timetable.jpg", "alt": "the timetable", "width": 320, "height": 200}]),
        TweetFixture(id=QUOTING, handle="CoastDesk", name="Coast Desk", text="Note the new Sunday times.",
                     quoted_id=QUOTED, photos=[{"name": "pier.jpg", "alt": "the pier", "width": 300, "height": 180}],
                     media_code="q1"),
    ]
    with FixtureOrigin(tweets=tweets, images={"/media/lead.jpg": make_image("lead", 64, 48)}) as origin:
        settings = load_settings(env={}).replace(home=str(home), broker_url="", **origin.settings_overrides(),
                                                 tsa_urls=tsa.url, tsa_ca_certs=str(tsa.ca_file), tsa_timeout=5.0,
                                                 **overrides)
        with Runtime.from_settings(settings) as rt:
            rep = archive(rt, _article(origin), article_id=ARTICLE, url="https://news.example/harbour")
            # The timestamping step (idempotent: a capture the runner has stamped already is left alone).
            timestamp_captures(rt, [e["snapshot"] for e in rep["embeds"] if e["snapshot"]])
    return settings


@pytest.fixture(scope="module")
def tsa() -> Iterator[LocalTSA]:
    with LocalTSA("archiver wacz test TSA") as t:
        yield t


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, tsa: LocalTSA) -> Env:
    tmp = tmp_path_factory.mktemp("wacz")
    settings = make_archive(tmp / "home", tsa)
    made = cli(settings, "keys", "create")
    assert made.returncode == 0, made.stderr
    shown = cli(settings, "keys", "show", "--json")
    key = json.loads(shown.stdout)
    pub = tmp / "archive-key.pem"
    pub.write_text(key["public_key_pem"])
    bundle = tmp / "bundle.wacz"
    run = cli(settings, "export", f"twitter/{QUOTING}", "-o", str(bundle))
    assert run.returncode == 0, run.stderr
    return Env(settings, tmp / "home", bundle, pub, key["fingerprint"])


def _manifests(rt: Runtime, post_id: str) -> list[tuple[str, dict[str, Any]]]:
    return [(k, json.loads(rt.store.get(k))) for k in rt.store.list(f"posts/twitter/{post_id}/")
            if k.endswith(".json") and not k.endswith(".timestamps.json")]


def _records(bundle: Path) -> dict[str, tuple[str, str, bytes]]:
    """url -> (WARC-Date, Content-Type, payload) of every resource record of archive/files.warc.gz."""
    out = {}
    with zipfile.ZipFile(bundle) as zf, zf.open("archive/files.warc.gz") as fh:
        for rec in ArchiveIterator(fh):
            if rec.rec_type == "resource":
                out[rec.rec_headers.get_header("WARC-Target-URI")] = (
                    rec.rec_headers.get_header("WARC-Date"), rec.rec_headers.get_header("Content-Type"),
                    rec.content_stream().read())
    return out


def verify(bundle: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`archiver verify` as a third party runs it: no settings, no storage, no catalog."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVER_")}
    env["ARCHIVER_HOME"] = str(bundle.parent / "nowhere")
    return subprocess.run([CLI, "verify", str(bundle), *args], capture_output=True, text=True, timeout=120, env=env)


def failed_lines(run: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in run.stdout + run.stderr
    return [line for line in run.stdout.splitlines() if line.startswith("FAILED ")]


# --- rebuilding a bundle as a forger would -----------------------------------------------------------
def rebuild(src: Path, dst: Path, *, edit: Callable[[str, bytes], bytes | None] | None = None,
            members: dict[str, bytes | None] | None = None, sign: str | ec.EllipticCurvePrivateKey = "keep",
            add: dict[str, bytes] | None = None, meta_edit: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """A copy of `src` with the resource records of files.warc.gz passed through `edit(key, payload)`
    (None drops the record), records `add`ed (key -> payload, listed in export.json), `members` replaced
    (None drops one), export.json passed through `meta_edit`, every digest recomputed (export.json's
    file list, datapackage.json, datapackage-digest.json), the signature kept ("keep"), dropped
    ("drop") or made with a private key."""
    with zipfile.ZipFile(src) as zf:
        parts = {n: zf.read(n) for n in zf.namelist()}
    meta = json.loads(parts["docs/export.json"])
    base = meta["public_base_url"]
    by_key = {f["key"]: f for f in meta["files"]}
    for key in add or {}:
        if key not in by_key:
            by_key[key] = {"key": key, "in": "archive/files.warc.gz", "kind": "other"}
            meta["files"].append(by_key[key])
    if edit is not None or add:
        edit = edit or (lambda _k, p: p)
        buf = io.BytesIO()
        writer = WARCWriter(buf, gzip=True, warc_version="1.1")
        for rec in ArchiveIterator(io.BytesIO(parts["archive/files.warc.gz"])):
            if rec.rec_type != "resource":
                continue
            url = rec.rec_headers.get_header("WARC-Target-URI")
            key = url[len(base) + 1:]
            payload = edit(key, rec.content_stream().read())
            if payload is None:
                meta["files"].remove(by_key[key])
                continue
            by_key[key]["sha256"] = hashlib.sha256(payload).hexdigest()
            by_key[key]["bytes"] = len(payload)
            writer.write_record(writer.create_warc_record(
                url, "resource", payload=io.BytesIO(payload), length=len(payload),
                warc_content_type=rec.rec_headers.get_header("Content-Type"),
                warc_headers_dict={"WARC-Date": rec.rec_headers.get_header("WARC-Date"),
                                   "WARC-Block-Digest": sha256_label(payload),
                                   "WARC-Payload-Digest": sha256_label(payload)}))
        for key, payload in (add or {}).items():
            by_key[key]["sha256"], by_key[key]["bytes"] = hashlib.sha256(payload).hexdigest(), len(payload)
            writer.write_record(writer.create_warc_record(
                f"{base}/{key}", "resource", payload=io.BytesIO(payload), length=len(payload),
                warc_content_type="application/octet-stream",
                warc_headers_dict={"WARC-Block-Digest": sha256_label(payload),
                                   "WARC-Payload-Digest": sha256_label(payload)}))
        parts["archive/files.warc.gz"] = buf.getvalue()
    for name, data in (members or {}).items():
        if data is None:
            parts.pop(name, None)
            meta["files"] = [f for f in meta["files"] if f["in"] != name]
            continue
        parts[name] = data
        for f in meta["files"]:
            if f["in"] == name:
                f["sha256"], f["bytes"] = hashlib.sha256(data).hexdigest(), len(data)
    if meta_edit is not None:
        meta_edit(meta)
    parts["docs/export.json"] = json.dumps(meta, indent=1).encode()
    package = json.loads(parts["datapackage.json"])
    package["resources"] = [r for r in package["resources"] if r["path"] in parts]
    for res in package["resources"]:
        res["hash"] = "sha256:" + hashlib.sha256(parts[res["path"]]).hexdigest()
        res["bytes"] = len(parts[res["path"]])
    parts["datapackage.json"] = json.dumps(package, indent=2).encode()
    digest = json.loads(parts["datapackage-digest.json"])
    digest["hash"] = "sha256:" + hashlib.sha256(parts["datapackage.json"]).hexdigest()
    if sign == "drop":
        digest.pop("signedData", None)
    elif not isinstance(sign, str):
        digest["signedData"] = sign_digest(sign, digest["hash"], package["created"])
    parts["datapackage-digest.json"] = json.dumps(digest).encode()
    with zipfile.ZipFile(dst, "w") as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return dst


def real_key(env: Env) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key((env.home / "keys" / "evidence-signing-key.pem").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


# --- the bundle ------------------------------------------------------------------------------------
def test_export_is_a_wacz_that_wacz_validate_and_warcio_accept(env: Env, tmp_path: Path) -> None:
    run = subprocess.run([WACZ, "validate", "-f", str(env.bundle)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "Validation succeeded" in run.stdout, run.stdout + run.stderr
    with zipfile.ZipFile(env.bundle) as zf:
        names = set(zf.namelist())
        package = json.loads(zf.read("datapackage.json"))
        digest = json.loads(zf.read("datapackage-digest.json"))
        for info in zf.infolist():
            if info.filename.endswith(".gz"):
                assert info.compress_type == zipfile.ZIP_STORED, info.filename  # WACZ: STORE what is compressed
        warcs = [n for n in names if n.startswith("archive/")]
        zf.extractall(tmp_path, warcs)
    assert package["wacz_version"] == "1.1.1" and package["profile"] == "data-package"
    assert {r["path"] for r in package["resources"]} == names - {"datapackage.json", "datapackage-digest.json"}
    assert {"indexes/index.cdx.gz", "pages/pages.jsonl", "docs/README.txt", "docs/export.json",
            "archive/files.warc.gz"} <= names
    assert len([n for n in names if n.startswith("archive/") and n != "archive/files.warc.gz"]) == 2
    signed = digest["signedData"]
    assert signed["created"] == package["created"] and signed["hash"] == digest["hash"]
    der = serialization.load_pem_public_key(env.public_pem.read_bytes()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert base64.b64decode(signed["publicKey"]) == der
    check = subprocess.run([WARCIO, "check", "-v", *(str(tmp_path / n) for n in warcs)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_bundle_holds_every_file_the_manifests_name_with_related_captures(env: Env) -> None:
    records = _records(env.bundle)
    with zipfile.ZipFile(env.bundle) as zf:
        meta = json.loads(zf.read("docs/export.json"))
        pages = [json.loads(line) for line in zf.read("pages/pages.jsonl").splitlines()]
        readme = zf.read("docs/README.txt").decode()
        warcs = {n: zf.read(n) for n in zf.namelist() if n.startswith("archive/") and "files.warc" not in n}
    with Runtime.from_settings(env.settings) as rt:
        quoting = _manifests(rt, QUOTING)
        quoted_key = quoting[0][1]["quoted"]["manifest_key"]
        assert quoted_key and quoted_key.startswith(f"posts/twitter/{QUOTED}/")
        docs = [*quoting, (quoted_key, json.loads(rt.store.get(quoted_key)))]
        expected: set[str] = set()
        for key, doc in docs:
            expected |= {key, doc["warc"], *(v for k, v in doc["cards"].items() if not k.endswith("_sha256"))}
            for sha in media_sha256s([doc], avatars=True):
                expected |= {blob_key(sha), *rt.store.list(derived_prefix(sha))}
        assert any(k.startswith("derived/") for k in expected)
        listed = {f["key"]: f for f in meta["files"]}
        assert expected <= set(listed), expected - set(listed)
        for key in expected:
            data = rt.store.get(key)
            if key.endswith(".warc.gz"):
                assert warcs[listed[key]["in"]] == data
            else:  # each other file at its public URL, as stored
                _date, _ctype, payload = records[rt.store.public_url(key)]
                assert payload == data and listed[key]["sha256"] == hashlib.sha256(data).hexdigest()
        for key, doc in docs:
            card = rt.store.public_url(doc["cards"]["html"])
            page = next(p for p in pages if p.get("id") == doc["capture_id"])
            assert page["url"] == card.replace(".card.html", ".html")  # the capture page (its card without one)
            assert page["ts"] == doc["captured_at"][:19] + "Z" == records[page["url"]][0]
        events = [e for e in audit.list_events(rt, action="export")]
    captures = {c["manifest_key"]: c for c in meta["captures"]}
    assert captures[quoted_key]["relation"] == "quoted" and captures[quoted_key]["depth"] == 1
    me = f"cli:{pwd.getpwuid(os.getuid()).pw_name}"  # cli_principal: the uid's passwd name, never $USER
    assert meta["created_by"] == {"name": me, "role": "compliance", "via": "cli"}
    assert events and events[0]["actor"] == me and events[0]["role"] == "compliance" and events[0]["token_id"] == "cli"
    for kind in ("manifests", "capture WARCs", "HTML cards", "PNG cards", "originals", "derived copies"):
        assert f"  {kind}\n" in readme, kind
    assert env.fingerprint in readme and meta["signed_by"] == env.fingerprint


def test_an_untouched_bundle_verifies_offline(env: Env) -> None:
    run = verify(env.bundle, "--public-key", str(env.public_pem))
    assert run.returncode == 0 and failed_lines(run) == [] and "NOT CHECKED" not in run.stdout, run.stdout
    last = run.stdout.strip().splitlines()[-1]
    assert last.startswith("OK ") and "2 captures" in last and f"signed by {env.fingerprint} (the given key)" in last
    own = verify(env.bundle)  # the key inside: integrity only, said so
    assert own.returncode == 0 and any(line.startswith("WARNING the signature was checked against the key inside")
                                       for line in own.stdout.splitlines())
    result = verify_bundle(env.bundle, public_key=env.public_pem.read_bytes())
    assert result.ok and result.captures == 2 and result.signed_by == env.fingerprint


def _readme_block(after: str) -> str:
    """The first ```sh block of the README after the line starting with `after`."""
    text = (ROOT / "README.md").read_text()
    rest = text[text.index("\n" + after) + 1:]
    start = rest.index("```sh\n") + len("```sh\n")
    return rest[start:rest.index("```", start)]


def test_the_signature_checks_with_openssl_as_the_readme_says(env: Env, tmp_path: Path) -> None:
    """The README's steps for a machine without archiver, run as written in the unzipped bundle: r||s into
    DER with `openssl asn1parse -genconf`, then `openssl dgst -sha256 -verify` over the hash string."""
    with zipfile.ZipFile(env.bundle) as zf:
        zf.extractall(tmp_path)
    shutil.copy(env.public_pem, tmp_path / "archive-key.pem")
    steps = _readme_block("The signature, with Python's standard library and OpenSSL")
    ok = subprocess.run(["bash", "-euc", steps], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "Verified OK" in ok.stdout, ok.stdout + ok.stderr
    digest = json.loads((tmp_path / "datapackage-digest.json").read_text())
    assert (tmp_path / "hash.txt").read_text() == digest["hash"]
    assert f"{digest['hash'].removeprefix('sha256:')}  datapackage.json" in ok.stdout  # sha256sum says the same
    (tmp_path / "hash.txt").write_text(digest["hash"][:-1] + ("0" if digest["hash"][-1] != "0" else "1"))
    bad = subprocess.run(["openssl", "dgst", "-sha256", "-verify", "archive-key.pem", "-signature", "sig.der",
                          "hash.txt"], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", str(env.public_pem), "-outform", "DER"],
                         capture_output=True, timeout=30, check=True).stdout
    assert "sha256:" + hashlib.sha256(der).hexdigest() == env.fingerprint


# --- what verify catches -------------------------------------------------------------------------------
def _forge_author(key: str, payload: bytes) -> bytes:
    if key.startswith(f"posts/twitter/{QUOTING}/") and MANIFEST_KEY_RE.fullmatch(key):
        doc = json.loads(payload)
        doc["author"]["name"] = "Someone Else"
        return json.dumps(doc, indent=2).encode()
    return payload


def test_a_forged_manifest_fails_whatever_is_done_with_the_signature(env: Env, tmp_path: Path) -> None:
    kept = verify(rebuild(env.bundle, tmp_path / "kept.wacz", edit=_forge_author))
    lines = failed_lines(kept)
    assert kept.returncode == 2 and any("datapackage-digest.json signedData: signs hash" in x for x in lines), lines
    forger = ec.generate_private_key(ec.SECP256R1())
    resigned = rebuild(env.bundle, tmp_path / "resigned.wacz", edit=_forge_author, sign=forger)
    run = verify(resigned, "--public-key", str(env.public_pem))
    assert run.returncode == 2
    assert any("does not verify under the given public key" in x for x in failed_lines(run)), run.stdout
    dropped = verify(rebuild(env.bundle, tmp_path / "dropped.wacz", edit=_forge_author, sign="drop"),
                     "--public-key", str(env.public_pem))
    assert dropped.returncode == 2 and "FAILED datapackage-digest.json: not signed, but a public key was given" \
        in dropped.stdout


def test_a_forged_manifest_signed_by_the_forger_fails_on_its_timestamp_and_warc(env: Env, tmp_path: Path) -> None:
    """The forger's own key inside the bundle makes the signature hold (integrity only, as verify warns);
    the manifest still disagrees with its RFC 3161 timestamp and with the WARC it came from."""
    forger = ec.generate_private_key(ec.SECP256R1())
    run = verify(rebuild(env.bundle, tmp_path / "forged.wacz", edit=_forge_author, sign=forger))
    lines = failed_lines(run)
    assert run.returncode == 2 and "WARNING the signature was checked against the key inside" in run.stdout
    assert any(x.startswith(f"FAILED posts/twitter/{QUOTING}/") and "timestamps.json: the record is for manifest "
               "SHA-256" in x for x in lines), lines
    assert any(x.startswith(f"FAILED posts/twitter/{QUOTING}/") and ".json: " in x and "Someone Else" in x
               for x in lines), lines  # check_manifest_against_warc: the WARC's responses name another author


def test_a_missing_file_fails_even_when_the_archive_signs_it(env: Env, tmp_path: Path) -> None:
    with Runtime.from_settings(env.settings) as rt:
        (mkey, doc), = _manifests(rt, QUOTING)
    photo = blob_key(doc["media"][0]["sha256"])
    quoted_key = doc["quoted"]["manifest_key"]
    key = real_key(env)
    run = verify(rebuild(env.bundle, tmp_path / "no-photo.wacz", edit=lambda k, p: None if k == photo else p,
                         sign=key), "--public-key", str(env.public_pem))
    lines = failed_lines(run)
    assert run.returncode == 2 and lines == [f"FAILED {mkey}: original {photo.rsplit('/', 1)[-1][:16]}… is not "
                                             "in the bundle"], run.stdout
    run = verify(rebuild(env.bundle, tmp_path / "no-quoted.wacz", edit=lambda k, p: None if k == quoted_key else p,
                         sign=key), "--public-key", str(env.public_pem))
    assert run.returncode == 2 and f"FAILED {mkey}: its quoted capture {quoted_key} is not in the bundle" in run.stdout


def test_a_wrong_key_fails(env: Env, tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    other.write_bytes(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    run = verify(env.bundle, "--public-key", str(other))
    lines = failed_lines(run)
    assert run.returncode == 2 and len(lines) == 1 and "does not verify under the given public key" in lines[0]
    assert env.fingerprint in lines[0]  # the key the bundle names, said beside the one given
    not_a_key = tmp_path / "junk.pem"
    not_a_key.write_text("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    junk = verify(env.bundle, "--public-key", str(not_a_key))
    assert junk.returncode == 2 and junk.stderr.startswith("archiver: error: --public-key: not a public key")


def test_a_replaced_warc_fails_even_when_the_archive_signs_it(env: Env, tmp_path: Path) -> None:
    with zipfile.ZipFile(env.bundle) as zf:
        meta = json.loads(zf.read("docs/export.json"))
        where = {c["post_id"]: c["warc"] for c in meta["captures"]}
        other = zf.read(where[QUOTED])
    run = verify(rebuild(env.bundle, tmp_path / "swapped.wacz", members={where[QUOTING]: other}, sign=real_key(env)),
                 "--public-key", str(env.public_pem))
    lines = failed_lines(run)
    assert run.returncode == 2 and any(f"posts/twitter/{QUOTING}/" in x and "is of capture" in x for x in lines), lines


def test_hostile_bundles_fail_in_one_line_each(tmp_path: Path, env: Env) -> None:
    junk = tmp_path / "junk.wacz"
    junk.write_bytes(b"PK\x03\x04" + os.urandom(2000))
    run = verify(junk)
    assert run.returncode == 2 and len(failed_lines(run)) == 1 and "not a readable zip" in run.stdout
    evil = tmp_path / "evil.wacz"
    with zipfile.ZipFile(env.bundle) as src, zipfile.ZipFile(evil, "w") as zf:
        for name in src.namelist():
            data = src.read(name)
            if name == "docs/export.json":
                data = b'{"schema": "archiver.export.v2", "public_base_url": 7, "files": "x"}'
            if name == "datapackage.json":
                data = b"[" * 100_000
            zf.writestr(name, data)
        zf.writestr("../escape.txt", b"x")
        zf.writestr("archive/\x1b[31mred.warc.gz", b"not a warc")
    run = verify(evil)
    lines = failed_lines(run)
    assert run.returncode == 2 and all("\n" not in x and "\x1b" not in x for x in lines)
    assert any("'../escape.txt': not a safe file name" in x for x in lines)
    assert any(x.startswith("FAILED datapackage.json: unreadable or not JSON") for x in lines)
    assert "FAILED docs/export.json: public_base_url must be a string, not the number 7" in lines
    assert "FAILED docs/export.json: files must be a list, not the string 'x'" in lines
    sly = tmp_path / "sly.wacz"  # a sound datapackage, and names made to move the cursor
    with zipfile.ZipFile(env.bundle) as src, zipfile.ZipFile(sly, "w") as zf:
        for name in src.namelist():
            zf.writestr(name, src.read(name))
        zf.writestr("docs/\x1b[2J\nOK 1 files.txt", b"x")
    run = verify(sly)
    lines = failed_lines(run)
    forged = "FAILED docs/\\u001b[2J\\u000aOK 1 files.txt: not listed in datapackage.json"
    assert run.returncode == 2 and forged in lines
    assert "\x1b" not in run.stdout and not any(line.startswith("OK") for line in run.stdout.splitlines())


def test_related_captures_beyond_the_bound_are_left_out_and_said(env: Env, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evidence, "MAX_RELATED_DEPTH", 0)
    out = tmp_path / "bounded.wacz"
    with Runtime.from_settings(env.settings) as rt, out.open("w+b") as fh:
        summary = export_bundle(rt, None, [("twitter", QUOTING)], fh, via="test")
        (mkey, doc), = _manifests(rt, QUOTING)
    assert summary["captures"] == 1
    assert summary["left_out"] == [{"key": doc["quoted"]["manifest_key"], "relation": "quoted", "named_by": mkey,
                                    "why": "over the bound of 0 related links"}]
    result = verify_bundle(out)
    assert result.ok, result.problems
    assert any("its quoted capture" in w and "left out by the export's bound" in w for w in result.warnings)


def test_a_file_missing_from_storage_is_listed_and_fails_verification(env: Env, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(env.home, home)
    settings = env.settings.replace(home=str(home))
    with Runtime.from_settings(settings) as rt:
        (_, doc), = _manifests(rt, QUOTING)
        avatar = blob_key(doc["author"]["avatar_sha256"])
        (home / "objects" / avatar).unlink()
    run = cli(settings, "export", f"twitter/{QUOTING}", "-o", str(tmp_path / "b.wacz"))
    assert run.returncode == 0, run.stderr
    missing = json.loads(run.stdout)["missing"]
    assert [m["key"] for m in missing] == [avatar] and missing[0]["why"] == "not in storage"
    check = verify(tmp_path / "b.wacz")
    assert check.returncode == 2 and any(avatar.rsplit("/", 1)[-1][:16] in x for x in failed_lines(check))


def test_export_by_article_or_query_and_nothing_to_export(env: Env, tmp_path: Path) -> None:
    for args in (["--article", ARTICLE], ["--query", "Sunday times"]):
        out = tmp_path / f"{args[0][2:]}.wacz"
        run = cli(env.settings, "export", *args, "-o", str(out))
        assert run.returncode == 0, run.stderr
        with zipfile.ZipFile(out) as zf:
            meta = json.loads(zf.read("docs/export.json"))
        assert [(p["provider"], p["post_id"]) for p in meta["posts"]] == [("twitter", QUOTING)]
        assert meta["query"]["search"] and verify(out).returncode == 0
    none = cli(env.settings, "export", "--query", "zebra crossing", "-o", str(tmp_path / "none.wacz"))
    assert none.returncode == 2 and none.stderr.strip() == (
        "archiver: error: nothing to export: no archived post for the query 'zebra crossing'")
    assert not (tmp_path / "none.wacz").exists() and not list(tmp_path.glob("*.part"))


def test_unsigned_exports_say_so(env: Env, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(env.home, home, ignore=shutil.ignore_patterns("keys"))
    settings = env.settings.replace(home=str(home))
    out = tmp_path / "unsigned.wacz"
    run = cli(settings, "export", f"twitter/{QUOTING}", "-o", str(out))
    assert run.returncode == 0 and json.loads(run.stdout)["signed"] is None
    assert "the bundle is not signed" in run.stderr
    plain = verify(out)
    assert plain.returncode == 0 and "WARNING the bundle is not signed" in plain.stdout
    assert verify(out, "--public-key", str(env.public_pem)).returncode == 2


# --- trusted time ----------------------------------------------------------------------------------------
def test_timestamps_travel_with_the_bundle_and_openssl_accepts_them(env: Env, tsa: LocalTSA, tmp_path: Path) -> None:
    records = _records(env.bundle)
    with zipfile.ZipFile(env.bundle) as zf:
        meta = json.loads(zf.read("docs/export.json"))
        ca = zf.read("docs/tsa-ca-1.pem")
    assert ca == tsa.ca_pem and meta["tsa_ca"] == ["docs/tsa-ca-1.pem"]
    kinds = [f["kind"] for f in meta["files"]]
    assert kinds.count("timestamp record") == 2 and kinds.count("timestamp token") >= 1
    (tmp_path / "ca.pem").write_bytes(ca)
    with Runtime.from_settings(env.settings) as rt:
        (mkey, _), = _manifests(rt, QUOTING)
        rec = json.loads(records[rt.store.public_url(mkey.replace(".json", ".timestamps.json"))][2])
        token = records[rt.store.public_url(rec["tokens"][0]["token_key"])][2]
    assert token == rt.store.get(rec["tokens"][0]["token_key"])
    ok, out = openssl_verify(rec["root"], token, tmp_path / "ca.pem")  # the README's openssl ts -verify
    assert ok, out
    assert not openssl_verify(hashlib.sha256(b"something else").hexdigest(), token, tmp_path / "ca.pem")[0]
    given = verify(env.bundle, "--public-key", str(env.public_pem), "--tsa-ca", str(tsa.ca_file))
    assert given.returncode == 0 and "NOT CHECKED timestamps" not in given.stdout and "WARNING" not in given.stdout
    inside = verify(env.bundle, "--public-key", str(env.public_pem))
    assert inside.returncode == 0
    assert "timestamps checked against the TSA CA certificates in the bundle" in inside.stdout


def test_a_token_for_another_digest_fails(env: Env, tsa: LocalTSA, tmp_path: Path) -> None:
    other = tsa.reply(tsa.query_for(hashlib.sha256(b"another manifest").hexdigest()))
    forged = rebuild(env.bundle, tmp_path / "token.wacz", sign=real_key(env),
                     edit=lambda k, p: other if k.startswith("timestamps/") else p)
    run = verify(forged, "--public-key", str(env.public_pem), "--tsa-ca", str(tsa.ca_file))
    lines = failed_lines(run)
    assert run.returncode == 2 and lines and all(".timestamps.json: " in x for x in lines), lines
    stranger = LocalTSA("a stranger's TSA")
    try:
        run = verify(env.bundle, "--public-key", str(env.public_pem), "--tsa-ca", str(stranger.ca_file))
    finally:
        stranger.stop()
    assert run.returncode == 2 and all(".timestamps.json: " in x for x in failed_lines(run))


# --- replay ----------------------------------------------------------------------------------------------
def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError):  # not listening yet
        return 0, b""


def test_pywb_replays_the_card_page_and_a_photo_byte_identical(env: Env, tmp_path: Path) -> None:
    assert (PYWB_BIN / "wayback").exists(), f"pywb is not installed in {PYWB_BIN} (bash scripts/setup.sh)"
    run = subprocess.run([str(PYWB_BIN / "wb-manager"), "init", "evidence"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    run = subprocess.run([str(PYWB_BIN / "wb-manager"), "add", "--unpack-wacz", "evidence", str(env.bundle)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    port = free_port()
    proc = subprocess.Popen([str(PYWB_BIN / "wayback"), "-p", str(port), "-b", "127.0.0.1"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        with Runtime.from_settings(env.settings) as rt:
            (_, doc), = _manifests(rt, QUOTING)
            ts = doc["captured_at"][:19].replace("-", "").replace("T", "").replace(":", "")
            card = rt.store.get(doc["cards"]["html"])
            photo_key = blob_key(doc["media"][0]["sha256"])
            photo = rt.store.get(photo_key)
            urls = {rt.store.public_url(doc["cards"]["html"]): card, rt.store.public_url(photo_key): photo}
            page_key = doc["cards"]["html"].replace(".card.html", ".html")  # the capture page, the bundle's entry
            urls[rt.store.public_url(page_key)] = rt.store.get(page_key)
        deadline = time.monotonic() + 30
        while _get(f"http://127.0.0.1:{port}/")[0] != 200:
            assert proc.poll() is None and time.monotonic() < deadline, "pywb did not start"
            time.sleep(0.2)
        for url, data in urls.items():
            status, body = _get(f"http://127.0.0.1:{port}/evidence/{ts}id_/{url}")
            assert status == 200 and body == data, url
        assert card.count(rt.store.public_url(photo_key).encode()) == 1  # the card shows that very photo
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# --- keys -----------------------------------------------------------------------------------------------
def test_keys_create_show_and_the_well_known_url(tmp_settings: Callable[..., Settings], tmp_path: Path) -> None:
    settings = tmp_settings(broker_url="")
    missing = cli(settings, "keys", "show")
    assert missing.returncode == 2 and missing.stderr.startswith("archiver: error: no signing key at ")
    with Runtime.from_settings(settings) as rt, TestClient(create_app(settings, rt)) as client:
        assert client.get("/.well-known/archiver-signing-key.pem").status_code == 404
        made = cli(settings, "keys", "create")
        assert made.returncode == 0, made.stderr
        path = tmp_path / "keys" / "evidence-signing-key.pem"
        assert path.stat().st_mode & 0o777 == 0o600 and (tmp_path / "keys").stat().st_mode & 0o077 == 0
        again = cli(settings, "keys", "create")
        assert again.returncode == 2 and "already exists" in again.stderr
        shown = cli(settings, "keys", "show").stdout
        served = client.get("/.well-known/archiver-signing-key.pem")  # no token: public
        assert served.status_code == 200 and served.headers["content-type"] == "application/x-pem-file"
        fingerprint = shown.splitlines()[0].removeprefix("fingerprint ")
        assert served.text in shown and served.headers["x-key-fingerprint"] == fingerprint
        assert "PRIVATE" not in served.text
        forced = cli(settings, "keys", "create", "--force")
        assert forced.returncode == 0 and f"fingerprint {fingerprint}" not in forced.stdout
        assert f"kept the replaced key's public key {fingerprint}" in forced.stdout  # tests/test_export_cli.py
        assert client.get("/.well-known/archiver-signing-key.pem").headers["x-key-fingerprint"] != fingerprint


# --- the API and the distributed stores ------------------------------------------------------------------
def test_the_api_exports_a_verifiable_wacz_documented_in_openapi(env: Env, tmp_path: Path) -> None:
    with Runtime.from_settings(env.settings) as rt, TestClient(create_app(env.settings, rt)) as client:
        token = create_token(rt.catalog, "compliance", "officer-7")
        resp = client.get(f"/v1/posts/twitter/{QUOTING}/export", headers={"Authorization": f"Bearer {token}"})
        spec = client.get("/openapi.json", headers={"Authorization": f"Bearer {token}"}).json()
        events = audit.list_events(rt, action="export")
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/zip"
    assert resp.headers["content-disposition"] == f'attachment; filename="evidence-twitter-{QUOTING}.wacz"'
    assert resp.headers["x-archiver-signed-by"] == env.fingerprint
    out = tmp_path / "api.wacz"
    out.write_bytes(resp.content)
    assert verify(out, "--public-key", str(env.public_pem)).returncode == 0
    assert events[0]["actor"] == "officer-7"
    for path, method in (("/v1/posts/{provider}/{post_id}/export", "get"), ("/v1/exports", "post")):
        ok = spec["paths"][path][method]["responses"]["200"]
        assert "application/zip" in ok["content"] and "WACZ" in ok["description"]


@pytest.mark.integration
def test_export_and_verify_on_s3_and_postgres(tmp_path: Path, s3: Any, postgres_dsn: str, tsa: LocalTSA) -> None:
    bucket = s3.make_bucket()
    settings = make_archive(tmp_path / "home", tsa, catalog=fresh_pg_dsn(postgres_dsn),
                            **s3.settings_overrides(bucket, "news"))
    assert cli(settings, "keys", "create").returncode == 0
    out = tmp_path / "s3.wacz"
    run = cli(settings, "export", "--query", "Sunday", "-o", str(out))
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["captures"] == 2 and summary["missing"] == [] and summary["signed"]
    check = verify(out, "--tsa-ca", str(tsa.ca_file))
    assert check.returncode == 0 and "NOT CHECKED timestamps" not in check.stdout, check.stdout
    with zipfile.ZipFile(out) as zf:
        meta = json.loads(zf.read("docs/export.json"))
        first = next(c for c in meta["captures"] if c["post_id"] == QUOTING)
        warc = zf.read(first["warc"])
    assert any(r["type"] == "response" for r in read_warc(warc))


# --- verify: what a forger or a hostile bundle can no longer switch off (issue 16, round 3) -------------------
def _quoting(env: Env) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The quoting capture's manifest key and manifest, and the bundle's docs/export.json."""
    with Runtime.from_settings(env.settings) as rt:
        (mkey, doc), = _manifests(rt, QUOTING)
    with zipfile.ZipFile(env.bundle) as zf:
        meta = json.loads(zf.read("docs/export.json"))
    return mkey, doc, meta


def _record_for(manifest: bytes, mkey: str, token_key: str, token: bytes | None = None,
                tsa: LocalTSA | None = None) -> tuple[bytes, bytes]:
    """A one-leaf timestamp record for `manifest` and its token (made now by `tsa` unless given)."""
    from archiver.compliance.merkle import leaf_hash
    from archiver.compliance.timestamps import RECORD_SCHEMA

    digest = hashlib.sha256(manifest).digest()
    root = leaf_hash(digest).hex()
    if token is None:
        assert tsa is not None
        token = tsa.reply(tsa.query_for(root))
    record = {"schema": RECORD_SCHEMA, "manifest_key": mkey, "manifest_sha256": digest.hex(),
              "hash_algorithm": "sha256", "leaf": root, "root": root, "path": [],
              "tokens": [{"tsa_url": "local", "token_key": token_key}]}
    return json.dumps(record).encode(), token


def test_the_warc_check_cannot_be_switched_off(env: Env, tmp_path: Path) -> None:
    """The manifest's "warc" field nulled, pointed elsewhere or removed, the WARC moved into files.warc.gz or
    dropped, or another WARC given than warc_sha256 names: the forged author is still caught or verify fails."""
    mkey, doc, meta = _quoting(env)
    own = mkey.replace(".json", ".warc.gz")
    member = next(f["in"] for f in meta["files"] if f["key"] == own)
    with zipfile.ZipFile(env.bundle) as zf:
        warc = zf.read(member)
    record = mkey.replace(".json", ".timestamps.json")

    def forged(change: Callable[[dict[str, Any]], None], drop: str = "") -> Callable[[str, bytes], bytes | None]:
        def edit(key: str, payload: bytes) -> bytes | None:
            if key in (record, drop):  # `drop`: the capture WARC's replay copy, when the export wrote one
                return None  # a forger cannot keep the timestamp; dropping it only warns
            if key == mkey:
                d = json.loads(payload)
                d["author"]["name"] = "Someone Else"
                change(d)
                return json.dumps(d).encode()
            return payload
        return edit

    key = real_key(env)
    for label, change in (("null", lambda d: d.update(warc=None)),
                          ("card", lambda d: d.update(warc=d["cards"]["html"])), ("gone", lambda d: d.pop("warc"))):
        run = verify(rebuild(env.bundle, tmp_path / f"{label}.wacz", edit=forged(change), sign=key),
                     "--public-key", str(env.public_pem))
        lines = failed_lines(run)
        assert run.returncode == 2 and any(mkey in x and "Someone Else" in x for x in lines), (label, lines)

    def moved(m: dict[str, Any]) -> None:  # the WARC listed only as a record of files.warc.gz
        m["files"] = [f for f in m["files"] if f["key"] != own]
        m["files"].append({"key": own, "kind": "WARC", "in": "archive/files.warc.gz",
                           "sha256": hashlib.sha256(warc).hexdigest(), "bytes": len(warc)})
    run = verify(rebuild(env.bundle, tmp_path / "moved.wacz", edit=forged(lambda d: None, own), add={own: warc},
                         members={member: None}, meta_edit=moved, sign=key), "--public-key", str(env.public_pem))
    lines = failed_lines(run)
    assert run.returncode == 2 and any(mkey in x and "Someone Else" in x for x in lines), lines
    assert not any("not listed" in x or "recorded twice" in x for x in lines), lines  # the move itself is sound
    run = verify(rebuild(env.bundle, tmp_path / "nowarc.wacz", edit=forged(lambda d: None, own),
                         members={member: None}, sign=key), "--public-key", str(env.public_pem))
    assert run.returncode == 2 and f"FAILED {mkey}: its WARC {own} is not in the bundle, so nothing it says can be " \
        "checked" in failed_lines(run), run.stdout
    if "warc_sha256" in doc:  # written since the manifest binds its WARC
        run = verify(rebuild(env.bundle, tmp_path / "sha.wacz", sign=key, edit=lambda k, p: None if k == record else (
            json.dumps({**json.loads(p), "warc_sha256": "0" * 64}).encode() if k == mkey else p)),
            "--public-key", str(env.public_pem))
        assert run.returncode == 2 and any("is not the one its warc_sha256" in x for x in failed_lines(run)), run.stdout


def test_cards_and_the_capture_page_are_bound_to_the_capture(env: Env, tmp_path: Path) -> None:
    """An edited card or page fails even when the archive's key signs the bundle: the manifest's digests
    bind them, and without those the WARC's resource records do."""
    mkey, doc, _ = _quoting(env)
    key = real_key(env)
    for target in (doc["cards"]["html"], doc["cards"]["png"], mkey.replace(".json", ".html")):
        run = verify(rebuild(env.bundle, tmp_path / "card.wacz", sign=key,
                             edit=lambda k, p, t=target: p + b"<!-- edited -->" if k == t else p),
                     "--public-key", str(env.public_pem))
        lines = failed_lines(run)
        assert run.returncode == 2 and any(target in x and "is not the stored one" in x for x in lines), (target, lines)
    record = mkey.replace(".json", ".timestamps.json")

    def no_digests(k: str, p: bytes) -> bytes | None:  # an older manifest: only the WARC's records bind the card
        if k == record:
            return None
        if k == mkey:
            d = json.loads(p)
            d["cards"] = {n: v for n, v in d["cards"].items() if not n.endswith("_sha256")}
            return json.dumps(d).encode()
        return p + b" " if k == doc["cards"]["html"] else p
    run = verify(rebuild(env.bundle, tmp_path / "old.wacz", sign=key, edit=no_digests), "--public-key",
                 str(env.public_pem))
    assert run.returncode == 2 and any("its WARC's record says" in x for x in failed_lines(run)), run.stdout


def test_captured_at_must_agree_with_the_token_and_the_warc(env: Env, tsa: LocalTSA, tmp_path: Path) -> None:
    """captured_at moved back before the WARC's exchanges, or forward after its (new, genuine) token, fails;
    the token times are in the OK line and in --json."""
    mkey, _, _ = _quoting(env)
    record = mkey.replace(".json", ".timestamps.json")
    key = real_key(env)
    for when, said in (("2019-03-01T08:00:00.000Z", "is before its WARC's first WARC-Date"),
                       ("2031-01-01T00:00:00.000Z", "is after its timestamp")):
        with zipfile.ZipFile(env.bundle) as zf:
            manifest = _records(env.bundle)[json.loads(zf.read("docs/export.json"))["public_base_url"] + "/" + mkey][2]
        d = json.loads(manifest)
        d["captured_at"] = when
        new = json.dumps(d).encode()
        token_key = f"timestamps/{'e' * 64}/0.tsr"
        rec, token = _record_for(new, mkey, token_key, tsa=tsa)
        run = verify(rebuild(env.bundle, tmp_path / "when.wacz", sign=key, add={token_key: token},
                             edit=lambda k, p, n=new, r=rec: n if k == mkey else r if k == record else p),
                     "--public-key", str(env.public_pem), "--tsa-ca", str(tsa.ca_file))
        lines = failed_lines(run)
        assert run.returncode == 2 and any(mkey in x and said in x for x in lines), (when, lines)
        assert not any(".timestamps.json" in x for x in lines), lines  # the token itself is genuine
    run = verify(env.bundle, "--public-key", str(env.public_pem), "--tsa-ca", str(tsa.ca_file), "--json")
    out = json.loads(run.stdout)
    with zipfile.ZipFile(env.bundle) as zf:
        base = json.loads(zf.read("docs/export.json"))["public_base_url"]
    said = {json.loads(_records(env.bundle)[f"{base}/{t['capture'].replace('.json', '.timestamps.json')}"][2])
            ["tokens"][0]["gen_time"] for t in out["timestamps"]}
    assert out["ok"] and len(out["timestamps"]) == 2 and said == {t["gen_time"] for t in out["timestamps"]}
    text = verify(env.bundle, "--public-key", str(env.public_pem), "--tsa-ca", str(tsa.ca_file))
    assert all(f"at {t['gen_time']}" in text.stdout.splitlines()[-1] for t in out["timestamps"]), text.stdout


def test_trust_pending_and_several_tsas(env: Env, tsa: LocalTSA, tmp_path: Path) -> None:
    """No TSA CA at all: tokens checked against their own roots pass with a warning that the time is not
    anchored. A record without tokens (the TSA was down) warns "timestamp pending" and does not fail. With
    two TSAs, the capture's time stands on the one that verifies; the other is a warning."""
    mkey, _, meta = _quoting(env)
    key = real_key(env)
    noca = rebuild(env.bundle, tmp_path / "noca.wacz", sign=key, members={"docs/tsa-ca-1.pem": None},
                   meta_edit=lambda m: m.update(tsa_ca=[]))
    run = verify(noca, "--public-key", str(env.public_pem))
    assert run.returncode == 0 and "not anchored to a trusted TSA" in run.stdout, run.stdout
    record = mkey.replace(".json", ".timestamps.json")
    pending = rebuild(env.bundle, tmp_path / "pending.wacz", sign=key, edit=lambda k, p: json.dumps(
        {**json.loads(p), "tokens": []}).encode() if k == record else p)
    run = verify(pending, "--public-key", str(env.public_pem), "--tsa-ca", str(tsa.ca_file))
    assert run.returncode == 0 and f"WARNING {record}: timestamp pending" in run.stdout, run.stdout
    doc = json.loads(_records(env.bundle)[f"{meta['public_base_url']}/{record}"][2])
    stranger = LocalTSA("a TSA later distrusted")
    try:
        other = stranger.reply(stranger.query_for(doc["root"]))
    finally:
        stranger.stop()
    other_key = f"timestamps/{doc['root']}/7.tsr"
    two = {**doc, "tokens": [*doc["tokens"], {"tsa_url": "stranger", "token_key": other_key}]}
    both = rebuild(env.bundle, tmp_path / "two.wacz", sign=key, add={other_key: other},
                   edit=lambda k, p: json.dumps(two).encode() if k == record else p)
    run = verify(both, "--public-key", str(env.public_pem), "--tsa-ca", str(tsa.ca_file))
    assert run.returncode == 0 and "another TSA's token does not stand" in run.stdout, run.stdout
    only_other = {**doc, "tokens": [{"tsa_url": "stranger", "token_key": other_key}]}
    run = verify(rebuild(env.bundle, tmp_path / "other.wacz", sign=key, add={other_key: other},
                         edit=lambda k, p: json.dumps(only_other).encode() if k == record else p),
                 "--public-key", str(env.public_pem), "--tsa-ca", str(tsa.ca_file))
    assert run.returncode == 2 and any(record in x for x in failed_lines(run)), run.stdout


def _gzip_record(uri: str, size: int, rtype: str = "resource") -> bytes:
    """One gzip member: a WARC record of `size` bytes of zeros, made without holding them."""
    import zlib
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = (f"WARC/1.1\r\nWARC-Type: {rtype}\r\nWARC-Record-ID: <urn:uuid:{os.urandom(16).hex()}>\r\n"
            f"WARC-Target-URI: {uri}\r\nWARC-Date: 2026-01-01T00:00:00Z\r\nContent-Type: application/json\r\n"
            f"Content-Length: {size}\r\n\r\n").encode()
    out, zero, left = [c.compress(head)], b"\0" * (1 << 22), size
    while left > 0:
        out.append(c.compress(zero[: min(left, len(zero))]))
        left -= len(zero)
    return b"".join([*out, c.compress(b"\r\n\r\n"), c.flush()])


def _gzip_line(size: int) -> bytes:
    """One gzip member: a WARC record whose header has a line of `size` bytes (warcio reads lines whole)."""
    import zlib
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    out, chunk, left = [c.compress(b"WARC/1.1\r\nWARC-Type: resource\r\nX-Long: ")], b"a" * (1 << 22), size
    while left > 0:
        out.append(c.compress(chunk[: min(left, len(chunk))]))
        left -= len(chunk)
    return b"".join([*out, c.compress(b"\r\nContent-Length: 0\r\n\r\n\r\n\r\n"), c.flush()])


def test_hostile_bundles_stay_within_one_budget(env: Env, tmp_path: Path) -> None:
    """Decoded bytes and bytes held are bounded over the whole verification, whichever layer they hide in:
    a capture WARC with a huge gzip record, many large JSON records in files.warc.gz, a deflate bomb in
    docs/, a WARC compressed again inside the zip. Each fails in one line, within the budget's memory."""
    import tracemalloc

    mkey, _, meta = _quoting(env)
    member = next(f["in"] for f in meta["files"] if f["key"] == mkey.replace(".json", ".warc.gz"))
    with zipfile.ZipFile(env.bundle) as zf:
        warc = zf.read(member)
    held = 16 << 20
    bomb = rebuild(env.bundle, tmp_path / "warc-bomb.wacz", members={member: warc + _gzip_record("urn:x:y", 160 << 20)})
    tracemalloc.start()
    try:
        result = verify_bundle(bomb, held_budget=held)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert any("over the verification budget" in p and "held in memory" in p for p in result.problems), result.problems
    assert peak < 4 * held, peak
    with zipfile.ZipFile(env.bundle) as zf:
        files = zf.read("archive/files.warc.gz")
    many = files + b"".join(_gzip_record(f"{meta['public_base_url']}/posts/twitter/1/x{i}.json", 6 << 20)
                            for i in range(8))
    jsons = rebuild(env.bundle, tmp_path / "jsons.wacz", members={"archive/files.warc.gz": many})
    result = verify_bundle(jsons, held_budget=held)
    assert any("held in memory" in p for p in result.problems), result.problems
    header_bomb = rebuild(env.bundle, tmp_path / "header.wacz",
                          members={"archive/files.warc.gz": files + _gzip_line(200 << 20)})
    tracemalloc.start()
    try:
        result = verify_bundle(header_bomb, held_budget=held)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert any("a WARC header line over" in p for p in result.problems), result.problems
    assert peak < 4 * held, peak
    result = verify_bundle(env.bundle, decoded_budget=64 << 10)
    assert not result.ok and result.problems[-1].endswith("(a compression bomb, or a bundle too large to verify here)")
    assert verify_bundle(env.bundle).ok  # the default budget is ample for a real bundle
    zipped = tmp_path / "deflated.wacz"
    with zipfile.ZipFile(env.bundle) as src, zipfile.ZipFile(zipped, "w") as zf:
        for info in src.infolist():
            zf.writestr(info.filename, src.read(info.filename), compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("docs/zeros.txt", b"\0" * (8 << 20), compress_type=zipfile.ZIP_DEFLATED)
    run = verify(zipped)
    lines = failed_lines(run)
    assert run.returncode == 2 and "FAILED 'archive/files.warc.gz': a WARC compressed again inside the zip (a WACZ " \
        "stores its WARCs as they are)" in lines, lines
    assert any(x.startswith("FAILED 'docs/zeros.txt': decodes to 8388608 bytes") for x in lines), lines


def test_unsafe_zip_layouts_fail(env: Env, tmp_path: Path) -> None:
    """A symbolic link member, a name that is both a file and a directory, a name twice: each fails."""
    import warnings

    bad = tmp_path / "layout.wacz"
    with zipfile.ZipFile(env.bundle) as src, zipfile.ZipFile(bad, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate it is told to write
        for info in src.infolist():
            zf.writestr(info, src.read(info.filename))
        link = zipfile.ZipInfo("docs/link")
        link.create_system, link.external_attr = 3, (0o120777 << 16)
        zf.writestr(link, b"/etc/passwd")
        zf.writestr(zipfile.ZipInfo("docs/README.txt/"), b"")
        zf.writestr("docs/twice.txt", b"a")
        zf.writestr("docs/twice.txt", b"b")
    run = verify(bad)
    lines = failed_lines(run)
    assert run.returncode == 2 and "FAILED 'docs/link': a symbolic link" in lines, lines
    assert "FAILED 'docs/README.txt': both a file and a directory" in lines, lines
    assert "FAILED 'docs/twice.txt': appears more than once" in lines, lines


def test_verify_counts_files_as_export_does(env: Env) -> None:
    """The OK line gives the WACZ members hashed and the stored files as export counts them."""
    with zipfile.ZipFile(env.bundle) as zf:
        meta = json.loads(zf.read("docs/export.json"))
        members = len([n for n in zf.namelist() if not n.endswith("/")]) - 2  # all but the datapackage and its digest
    run = verify(env.bundle, "--public-key", str(env.public_pem))
    assert run.returncode == 0 and run.stdout.splitlines()[-1].startswith(
        f"OK {members} files ({len(meta['files'])} stored files as export counts them), 2 captures"), run.stdout


# --- the shape of every JSON member verify reads -------------------------------------------------------
def _repack(src: Path, dst: Path, *, package: Callable[[dict[str, Any]], None] | bytes | None = None,
            digest: Callable[[dict[str, Any]], None] | bytes | None = None,
            key: ec.EllipticCurvePrivateKey | None = None) -> Path:
    """A copy of `src` with datapackage.json passed through `package` (an edit of its document, or its
    new bytes as they are), datapackage-digest.json's hash recomputed and, with `key`, signed again, then
    passed through `digest` likewise; no other member changed (so a forger's recomputed digest)."""
    with zipfile.ZipFile(src) as zf:
        parts = {n: zf.read(n) for n in zf.namelist()}
    if isinstance(package, bytes):
        parts["datapackage.json"] = package
    elif package is not None:
        doc = json.loads(parts["datapackage.json"])
        package(doc)
        parts["datapackage.json"] = json.dumps(doc, indent=2).encode()
    d = json.loads(parts["datapackage-digest.json"])
    d["hash"] = "sha256:" + hashlib.sha256(parts["datapackage.json"]).hexdigest()
    if key is not None:
        d["signedData"] = sign_digest(key, d["hash"], json.loads(parts["datapackage.json"])["created"])
    if isinstance(digest, bytes):
        parts["datapackage-digest.json"] = digest
    else:
        if digest is not None:
            digest(d)
        parts["datapackage-digest.json"] = json.dumps(d).encode()
    with zipfile.ZipFile(dst, "w") as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return dst


def test_a_package_or_digest_that_is_not_an_object_fails_and_hides_no_tampering(env: Env, tmp_path: Path) -> None:
    """datapackage.json or datapackage-digest.json as any JSON value but an object (a list, a string, a
    number, null) fails in one clear line, with the archive's key given or not; the docs edited beside it
    are not let through, and no OK line is printed."""
    tampered = rebuild(env.bundle, tmp_path / "tampered.wacz", members={"docs/README.txt": b"Nothing to check.\n"},
                       meta_edit=lambda m: m.update(created_by={"name": "Someone Else"}))
    cases = [("datapackage.json", value, kind) for value, kind in (
        (b"[1, 2]", "a list"), (b'"x"', "the string 'x'"), (b"null", "null"), (b"7", "the number 7"))]
    cases += [("datapackage-digest.json", value, kind) for value, kind in (
        (b"[]", "a list"), (b'"sig"', "the string 'sig'"), (b"null", "null"), (b"true", "true"))]
    for n, (member, value, kind) in enumerate(cases):
        bad = _repack(tampered, tmp_path / f"shape-{n}.wacz", **{"package" if member == "datapackage.json"
                                                                else "digest": value})
        said = f"{member}: {kind}, not a JSON object"
        for given in (env.public_pem.read_bytes(), None):
            result = verify_bundle(bad, public_key=given)
            assert not result.ok and said in result.problems, (member, value, given is not None, result.problems)
        if n in (0, len(cases) - 1):  # as a third party runs it
            run = verify(bad, "--public-key", str(env.public_pem))
            assert run.returncode == 2 and f"FAILED {said}" in failed_lines(run), run.stdout
            assert not any(line.startswith("OK") for line in run.stdout.splitlines()), run.stdout
    # a malformed resources list still leaves every member checked: they fail, unhashed, in one line
    result = verify_bundle(_repack(tampered, tmp_path / "res.wacz", package=lambda p: p.update(resources={}),
                                   key=real_key(env)), public_key=env.public_pem.read_bytes())
    assert "datapackage.json: resources must be a list, not an object" in result.problems, result.problems
    assert any(p.startswith("datapackage.json: no resources list, so none of the bundle's") for p in result.problems)


def test_the_fields_of_the_package_and_its_digest_must_be_of_their_types(env: Env, tmp_path: Path) -> None:
    """Signed with the archive's own key, so only the shape is at fault: a size that is not a whole number,
    a created that is not a string, a name twice, NaN, the digest's path, a signedData that is null or whose
    fields are of other types. Each fails, saying what the field must be."""
    key, pem = real_key(env), env.public_pem.read_bytes()
    with zipfile.ZipFile(env.bundle) as zf:
        package_bytes = zf.read("datapackage.json")
    first = json.loads(package_bytes)["resources"][0]
    where = f"datapackage.json resource {first['path']}"

    def res0(field: str, value: Any) -> Callable[[dict[str, Any]], None]:
        return lambda p: p["resources"][0].update({field: value})

    def signed(field: str, value: Any) -> Callable[[dict[str, Any]], None]:
        return lambda d: d["signedData"].update({field: value})

    cases: list[tuple[str, dict[str, Any], str]] = [
        ("float", {"package": res0("bytes", float(first["bytes"]))},
         f"{where}: bytes must be a whole number of bytes, not the number {float(first['bytes'])}"),
        ("string", {"package": res0("bytes", str(first["bytes"]))},
         f"{where}: bytes must be a whole number of bytes, not the string '{first['bytes']}'"),
        ("upper", {"package": res0("hash", first["hash"].upper())},
         f"{where}: hash must be sha256:<64 hex digits>, not the string '{first['hash'].upper()}'"),
        ("created", {"package": lambda p: p.update(created=5)},
         "datapackage.json: created must be a string, not the number 5"),
        ("twice", {"package": b'{"resources": [], ' + package_bytes.lstrip()[1:]},
         "datapackage.json: unreadable or not JSON (the name 'resources' twice in one object)"),
        ("nan", {"package": lambda p: p.update(extra=float("nan"))},
         "datapackage.json: unreadable or not JSON (NaN is not JSON)"),
        ("path", {"digest": lambda d: d.update(path="other.json")},
         "datapackage-digest.json: path must be 'datapackage.json', not the string 'other.json'"),
        ("null", {"digest": lambda d: d.update(signedData=None)},
         "datapackage-digest.json signedData: null, not a JSON object"),
        ("signature", {"digest": signed("signature", 7)},
         "datapackage-digest.json signedData: signature must be a string, not the number 7"),
        ("publickey", {"digest": signed("publicKey", ["not", "a", "key"])},
         "datapackage-digest.json signedData: publicKey must be a string (PEM), not a list"),
    ]
    for label, change, said in cases:
        bad = _repack(env.bundle, tmp_path / f"{label}.wacz", key=key, **change)
        for given in (pem, None):
            result = verify_bundle(bad, public_key=given)
            assert not result.ok and said in result.problems, (label, given is not None, result.problems)
    run = verify(_repack(env.bundle, tmp_path / "null.wacz", digest=lambda d: d.update(signedData=None)))
    assert run.returncode == 2 and "FAILED datapackage-digest.json signedData: null, not a JSON object" in \
        failed_lines(run), run.stdout


def test_export_json_timestamp_records_and_manifests_must_be_of_their_shape(env: Env, tmp_path: Path) -> None:
    """docs/export.json's lists and entries, a timestamp record's tokens and a manifest (its schema) of
    another shape fail, even when the archive's key signs the bundle: a cards field turned into a list no
    longer unbinds an edited card, a left_out or tsa_ca of another type is not passed over."""
    mkey, doc, _ = _quoting(env)
    key, pem = real_key(env), env.public_pem.read_bytes()
    record = mkey.replace(".json", ".timestamps.json")

    def meta_case(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        return {"meta_edit": change}

    def edit_case(target: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        def edit(k: str, p: bytes) -> bytes | None:
            if k == target:
                d = json.loads(p)
                change(d)
                return json.dumps(d).encode()
            return p
        return {"edit": edit}

    def cards_listed(k: str, p: bytes) -> bytes | None:
        if k == record:
            return None  # the forger cannot keep the timestamp; dropping it only warns
        if k == mkey:
            return json.dumps({**json.loads(p), "cards": list(doc["cards"].values())}).encode()
        return p + b"<!-- edited -->" if k == doc["cards"]["html"] else p

    cases: list[tuple[str, dict[str, Any], str]] = [
        ("left_out", meta_case(lambda m: m.update(left_out="x")),
         "docs/export.json: left_out must be a list, not the string 'x'"),
        ("left_out_entry", meta_case(lambda m: m.update(left_out=[{"key": 7}])),
         "docs/export.json left_out[0]: key must be a string, not the number 7"),
        ("tsa_ca", meta_case(lambda m: m.update(tsa_ca=[7])),
         "docs/export.json: tsa_ca[0] must be a string, not the number 7"),
        ("tsa_ca_gone", meta_case(lambda m: m.update(tsa_ca=["docs/none.pem"])),
         "docs/export.json: tsa_ca names docs/none.pem, which is not in the bundle"),
        ("files", meta_case(lambda m: m.pop("files")), "docs/export.json: no files (a list)"),
        ("sha256", meta_case(lambda m: m["files"][0].update(sha256=5)),
         "docs/export.json files[0]: sha256 must be 64 hex digits, not the number 5"),
        ("tokens", edit_case(record, lambda r: r.update(tokens={"0": r["tokens"][0]})),
         f"{record}: tokens must be a list, not an object"),
        ("token_entry", edit_case(record, lambda r: r.update(tokens=[*r["tokens"], "x"])),
         f"{record} tokens[1]: the string 'x', not a JSON object"),
        ("token_key", edit_case(record, lambda r: r.update(tokens=[*r["tokens"], {"tsa_url": "b", "token_key": 1}])),
         f"{record} tokens[1]: token_key must be a string, not the number 1"),
        ("cards", {"edit": cards_listed}, f"{mkey}: manifest invalid at cards"),
    ]
    for label, change, said in cases:
        bad = rebuild(env.bundle, tmp_path / f"{label}.wacz", sign=key, **change)
        result = verify_bundle(bad, public_key=pem)
        assert not result.ok and any(p.startswith(said) for p in result.problems), (label, result.problems)
