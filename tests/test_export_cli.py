"""`archiver export` and `archiver keys` as a user and an attacker meet them (issue 16, round 3):

- key rotation keeps every public key that ever signed: `keys create --force` keeps the old one under
  keys/retired/ with its dates, `keys show --all` and /.well-known/archiver-signing-keys.json list
  them, and a bundle signed before the rotation verifies against its retired key;
- the exporter is the operating-system user of the uid, not what LOGNAME/USER say (kept apart, and
  escaped, when they differ);
- a query that searches nothing, and a target that is not a regular file, are refused in one line;
  `-o -` writes the bundle to stdout;
- the bundle's README.txt timestamp steps can be followed with warcio and openssl as written, the
  capture page's link to its WARC replays in pywb, and export and verify count files alike.

The archive is made once (tests/test_wacz.py's article and tweets, captured from the fixture origin and
timestamped by a local TSA) and exported through the CLI.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import pwd
import re
import shutil
import subprocess
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from archiver.compliance.evidence import verify_bundle
from archiver.compliance.signing import check_signed_data, load_public_key
from archiver.config.settings import Settings
from archiver.runtime import Runtime
from archiver.web.app import create_app
from tests.harness.celery_worker import settings_env
from tests.harness.services import free_port
from tests.harness.tsa import LocalTSA, openssl_verify
from tests.test_wacz import CLI, PYWB_BIN, QUOTING, WARCIO, _get, cli, make_archive, verify

OS_USER = pwd.getpwuid(os.getuid()).pw_name


@dataclass
class Made:
    settings: Settings
    home: Path
    bundle: Path
    summary: dict
    tsa: LocalTSA


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Made]:
    tmp = tmp_path_factory.mktemp("export-cli")
    with LocalTSA("archiver export-cli test TSA") as tsa:
        settings = make_archive(tmp / "home", tsa)
        assert cli(settings, "keys", "create").returncode == 0
        bundle = tmp / "bundle.wacz"
        run = cli(settings, "export", f"twitter/{QUOTING}", "-o", str(bundle))
        assert run.returncode == 0, run.stderr
        yield Made(settings, tmp / "home", bundle, json.loads(run.stdout), tsa)


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    return {**settings_env(settings), **extra}


def _export(settings: Settings, *args: str, env: dict[str, str] | None = None,
            stdout: int | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([CLI, "export", *args], env=env or settings_env(settings), timeout=180,
                          stdout=stdout if stdout is not None else subprocess.PIPE, stderr=subprocess.PIPE)


# --- keys ----------------------------------------------------------------------------------------------
def _signature_holds(bundle: Path, key_file: Path) -> bool:
    with zipfile.ZipFile(bundle) as zf:
        package = zf.read("datapackage.json")
        digest = json.loads(zf.read("datapackage-digest.json"))
    key = load_public_key(key_file.read_bytes(), where=str(key_file))
    check = check_signed_data(digest["signedData"], "sha256:" + hashlib.sha256(package).hexdigest(),
                              json.loads(package)["created"], key)
    return not check.problems and check.key is not None


def test_a_rotated_key_stays_published_and_its_bundles_still_verify(made: Made, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(made.home, home)
    settings = made.settings.replace(home=str(home))
    first = json.loads(cli(settings, "keys", "show", "--json").stdout)
    forced = cli(settings, "keys", "create", "--force")
    assert forced.returncode == 0, forced.stderr
    assert f"kept the replaced key's public key {first['fingerprint']}" in forced.stdout
    retired = home / "keys" / "retired" / (first["fingerprint"].removeprefix("sha256:") + ".pem")
    text = retired.read_text()
    assert "PRIVATE" not in text and first["public_key_pem"] in text
    assert re.search(r"^# valid_until: \d{4}-\d\d-\d\dT", text, re.M) and "# valid_from: " in text
    # the bundle signed before the rotation verifies against the retired file as it is ...
    assert _signature_holds(made.bundle, retired)
    # ... and with openssl, which reads the file as it is too
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", str(retired), "-outform", "DER"],
                         capture_output=True, timeout=30, check=True).stdout
    assert "sha256:" + hashlib.sha256(der).hexdigest() == first["fingerprint"]
    second = json.loads(cli(settings, "keys", "show", "--json").stdout)
    assert second["fingerprint"] != first["fingerprint"]
    cli(settings, "keys", "create", "--force")  # rotate twice: both old keys are kept, the latest first
    listed = json.loads(cli(settings, "keys", "show", "--all", "--json").stdout)["keys"]
    assert [k["status"] for k in listed] == ["current", "retired", "retired"]
    assert [k["fingerprint"] for k in listed[1:]] == [second["fingerprint"], first["fingerprint"]]
    assert listed[2]["valid_until"] <= listed[1]["valid_from"] <= listed[1]["valid_until"]
    assert listed[0]["valid_until"] is None and listed[1]["public_key_pem"] == second["public_key_pem"]
    plain = cli(settings, "keys", "show", "--all").stdout
    assert f"fingerprint {first['fingerprint']} retired valid " in plain
    # a file in retired/ that is not the key its name says is left out with a warning, never a traceback
    (retired.parent / ("ab" * 32 + ".pem")).write_text(first["public_key_pem"])
    warned = cli(settings, "keys", "show", "--all", "--json")
    assert warned.returncode == 0 and "not the one its name says" in warned.stderr
    assert len(json.loads(warned.stdout)["keys"]) == 3 and "Traceback" not in warned.stderr
    with Runtime.from_settings(settings) as rt, TestClient(create_app(settings, rt)) as client:
        served = client.get("/.well-known/archiver-signing-keys.json")  # no token: public
        pem = client.get("/.well-known/archiver-signing-key.pem")
    assert served.status_code == 200 and served.json()["keys"] == listed
    assert pem.headers["x-key-fingerprint"] == listed[0]["fingerprint"] and pem.text == listed[0]["public_key_pem"]


def test_the_keys_url_answers_an_empty_list_without_keys(tmp_path: Path, made: Made) -> None:
    settings = made.settings.replace(home=str(tmp_path))
    with Runtime.from_settings(settings) as rt, TestClient(create_app(settings, rt)) as client:
        assert client.get("/.well-known/archiver-signing-keys.json").json() == {"keys": []}


# --- who exported --------------------------------------------------------------------------------------
def test_the_exporter_is_the_os_user_whatever_the_environment_says(made: Made, tmp_path: Path) -> None:
    claimed = "chief.compliance.officer\nOK 25 files\x1b[2J"
    out = tmp_path / "spoof.wacz"
    run = _export(made.settings, f"twitter/{QUOTING}", "-o", str(out),
                  env=_env(made.settings, LOGNAME=claimed, USER="someone-else"))
    assert run.returncode == 0, run.stderr
    with zipfile.ZipFile(out) as zf:
        meta = json.loads(zf.read("docs/export.json"))
        readme = zf.read("docs/README.txt").decode()
        package = json.loads(zf.read("datapackage.json"))
    assert meta["created_by"]["name"] == f"cli:{OS_USER}"
    assert meta["created_by"]["environment_user"] == "chief.compliance.officer\\u000aOK 25 files\\u001b[2J"
    created = [line for line in readme.splitlines() if line.startswith("Created ")]
    assert len(created) == 1 and f" by cli:{OS_USER} (the environment said chief.compliance.officer\\u000aOK 25 files" \
        in created[0]
    assert "\x1b" not in readme and "\nOK 25 files" not in readme and "\n" not in package["description"]
    with Runtime.from_settings(made.settings) as rt:
        from archiver.compliance import audit

        event = audit.list_events(rt, action="export")[0]
    assert event["actor"] == f"cli:{OS_USER}" and event["detail"]["environment_user"].startswith("chief.")
    same = _export(made.settings, f"twitter/{QUOTING}", "-o", str(tmp_path / "same.wacz"),
                   env=_env(made.settings, LOGNAME=OS_USER, USER=OS_USER))
    with zipfile.ZipFile(tmp_path / "same.wacz") as zf:
        assert same.returncode == 0 and "environment_user" not in json.loads(zf.read("docs/export.json"))["created_by"]


# --- what export refuses -------------------------------------------------------------------------------
@pytest.mark.parametrize("query", ["", " ", '"', '""', "-", "*", "- * !"])
def test_a_query_that_searches_nothing_is_refused(made: Made, tmp_path: Path, query: str) -> None:
    out = tmp_path / "q.wacz"
    run = _export(made.settings, "--query", query, "-o", str(out))
    err = run.stderr.decode()
    assert run.returncode == 2 and err.count("\n") == 1 and "searches nothing" in err, err
    assert not out.exists() and not list(tmp_path.glob("*.part"))


def test_a_target_that_is_not_a_regular_file_is_refused_and_left_alone(made: Made, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / "link-to-file").symlink_to(victim)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere.wacz")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir").mkdir()
    for name, kind in (("link-to-file", "a symbolic link"), ("dangling", "a symbolic link"), ("fifo", "a FIFO"),
                       ("dir", "a directory")):
        run = _export(made.settings, f"twitter/{QUOTING}", "-o", str(tmp_path / name))
        assert run.returncode == 2 and f"is {kind}" in run.stderr.decode(), (name, run.stderr)
    run = _export(made.settings, f"twitter/{QUOTING}", "-o", os.devnull)
    assert run.returncode == 2 and "is a device" in run.stderr.decode()
    assert victim.read_text() == "keep me" and (tmp_path / "link-to-file").is_symlink()
    assert (tmp_path / "fifo").is_fifo() and not (tmp_path / "nowhere.wacz").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dangling", "dir", "fifo", "link-to-file", "victim.txt"]
    # a regular file is refused without --force, then replaced (atomically, through a temporary file beside it)
    victim_wacz = tmp_path / "dir" / "old.wacz"
    victim_wacz.write_bytes(b"old")
    run = _export(made.settings, f"twitter/{QUOTING}", "-o", str(victim_wacz))
    assert run.returncode == 2 and "--force" in run.stderr.decode() and victim_wacz.read_bytes() == b"old"
    assert _export(made.settings, f"twitter/{QUOTING}", "-o", str(victim_wacz), "--force").returncode == 0
    assert zipfile.is_zipfile(victim_wacz) and [p.name for p in (tmp_path / "dir").iterdir()] == ["old.wacz"]


def test_dash_writes_the_bundle_to_stdout(made: Made, tmp_path: Path) -> None:
    out = tmp_path / "piped.wacz"
    with open(out, "wb") as fh:
        run = _export(made.settings, f"twitter/{QUOTING}", "-o", "-", stdout=fh.fileno())
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stderr.decode().strip().splitlines()[-1])
    assert summary["bundle"] == "-" and summary["captures"] == 2
    assert not Path("-").exists() and not (tmp_path / "-").exists()
    with zipfile.ZipFile(out) as zf:
        assert json.loads(zf.read("docs/export.json"))["captures"]
        package = zf.read("datapackage.json")
        digest = json.loads(zf.read("datapackage-digest.json"))
    assert digest["hash"] == "sha256:" + hashlib.sha256(package).hexdigest()


# --- the bundle as a reader follows it -----------------------------------------------------------------
def test_export_and_verify_count_files_alike(made: Made) -> None:
    result = verify_bundle(made.bundle)
    with zipfile.ZipFile(made.bundle) as zf:
        package = json.loads(zf.read("datapackage.json"))
        meta = json.loads(zf.read("docs/export.json"))
    assert made.summary["files"] == len(package["resources"]) == result.files
    assert made.summary["stored_files"] == len(meta["files"]) == result.stored_files


def _cdx(root: Path) -> list[dict]:
    lines = gzip.decompress((root / "indexes" / "index.cdx.gz").read_bytes()).decode().splitlines()
    return [json.loads(line.split(" ", 2)[2]) for line in lines]


def _extract(root: Path, offset: str) -> bytes:
    return subprocess.run([WARCIO, "extract", "--payload", "archive/files.warc.gz", offset], cwd=root,
                          capture_output=True, timeout=60, check=True).stdout


def test_the_readme_timestamp_steps_can_be_followed(made: Made, tmp_path: Path) -> None:
    with zipfile.ZipFile(made.bundle) as zf:
        zf.extractall(tmp_path)
        readme = zf.read("docs/README.txt").decode()
    meta = json.loads((tmp_path / "docs" / "export.json").read_bytes())
    assert "warcio extract --payload archive/files.warc.gz <offset of its .json>" in readme
    assert "openssl ts -verify -digest <root> -in token.tsr -CAfile docs/tsa-ca-1.pem" in readme
    index = _cdx(tmp_path)
    checked = 0
    for cap in meta["captures"]:
        mine = [e for e in index if cap["capture_id"] in e["url"] and e["filename"] == "files.warc.gz"]
        manifest = _extract(tmp_path, next(e["offset"] for e in mine if e["url"].endswith(cap["capture_id"] + ".json")))
        record_raw = _extract(tmp_path, next(e["offset"] for e in mine if e["url"].endswith(".timestamps.json")))
        listed = {f["key"]: f["sha256"] for f in meta["files"]}
        assert hashlib.sha256(manifest).hexdigest() == listed[cap["manifest_key"]]
        record = json.loads(record_raw)
        token_entry = next(e for e in index if record["root"] in e["url"] and e["url"].endswith("/0.tsr"))
        (tmp_path / "token.tsr").write_bytes(_extract(tmp_path, token_entry["offset"]))
        ok, out = openssl_verify(record["root"], tmp_path / "token.tsr", tmp_path / "docs" / "tsa-ca-1.pem")
        assert ok, out
        checked += 1
    assert checked == 2


def test_the_capture_pages_link_to_its_warc_replays(made: Made, tmp_path: Path) -> None:
    with zipfile.ZipFile(made.bundle) as zf:
        meta = json.loads(zf.read("docs/export.json"))
        warcs = [f for f in meta["files"] if f["kind"] == "capture WARC"]
        assert len(warcs) == 2
        for f in warcs:
            assert f["replay_copy"] == "archive/files.warc.gz" and f["in"] != f["replay_copy"]
            assert hashlib.sha256(zf.read(f["in"])).hexdigest() == f["sha256"]
    index = {e["url"]: e for e in _cdx_of(made.bundle)}
    for f in warcs:  # the same bytes at the WARC's own URL, where the page's relative link leads
        assert index[f["url"]]["filename"] == "files.warc.gz"
    assert (PYWB_BIN / "wayback").exists(), f"pywb is not installed in {PYWB_BIN} (bash scripts/setup.sh)"
    for args in (["init", "evidence"], ["add", "--unpack-wacz", "evidence", str(made.bundle)]):
        run = subprocess.run([str(PYWB_BIN / "wb-manager"), *args], cwd=tmp_path, capture_output=True, text=True,
                             timeout=120)
        assert run.returncode == 0, run.stderr
    port = free_port()
    proc = subprocess.Popen([str(PYWB_BIN / "wayback"), "-p", str(port), "-b", "127.0.0.1"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while _get(f"http://127.0.0.1:{port}/")[0] != 200:
            assert proc.poll() is None and time.monotonic() < deadline, "pywb did not start"
            time.sleep(0.2)
        with zipfile.ZipFile(made.bundle) as zf:
            for f in warcs:
                mkey = f["key"].removesuffix(".warc.gz") + ".json"
                cap = next(c for c in meta["captures"] if c["manifest_key"] == mkey)
                page_status, page = _get(f"http://127.0.0.1:{port}/evidence/{_ts(cap)}id_/{cap['page']}")
                assert page_status == 200 and f["key"].rsplit("/", 1)[-1].encode() in page
                status, body = _get(f"http://127.0.0.1:{port}/evidence/{_ts(cap)}id_/{f['url']}")
                assert status == 200 and body == zf.read(f["in"]), f["url"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _ts(cap: dict) -> str:
    return re.sub(r"[^0-9]", "", cap["captured_at"])[:14]


def _cdx_of(bundle: Path) -> list[dict]:
    with zipfile.ZipFile(bundle) as zf:
        lines = gzip.decompress(zf.read("indexes/index.cdx.gz")).decode().splitlines()
    return [json.loads(line.split(" ", 2)[2]) for line in lines]


def test_a_changed_replay_copy_of_a_warc_fails(made: Made, tmp_path: Path) -> None:
    from tests.test_wacz import failed_lines, rebuild

    with zipfile.ZipFile(made.bundle) as zf:
        meta = json.loads(zf.read("docs/export.json"))
    warc = next(f for f in meta["files"] if f["kind"] == "capture WARC")
    with zipfile.ZipFile(made.bundle) as zf:
        original = zf.read(warc["in"])
    edited = rebuild(made.bundle, tmp_path / "edited.wacz",
                     edit=lambda key, data: data + b"\r\n" if key == warc["key"] else data)
    # rebuild lists the edited copy's SHA-256 in export.json: list the archive/ file's again, so only the
    # replay copy differs from what export.json lists
    forged = rebuild(edited, tmp_path / "forged.wacz", members={warc["in"]: original})
    with zipfile.ZipFile(forged) as zf:
        meta = json.loads(zf.read("docs/export.json"))
    assert next(f for f in meta["files"] if f["key"] == warc["key"])["sha256"] == warc["sha256"]
    run = verify(forged)
    assert run.returncode == 2
    assert any(warc["key"] in line and "its copy in archive/files.warc.gz" in line for line in failed_lines(run)), \
        run.stdout


def test_the_api_refuses_a_search_that_searches_nothing(made: Made) -> None:
    from archiver.auth import create_token

    with Runtime.from_settings(made.settings) as rt, TestClient(create_app(made.settings, rt)) as client:
        auth = {"Authorization": f"Bearer {create_token(rt.catalog, 'compliance', 'officer-9')}"}
        # A q the search syntax refuses says why (archiver/catalog/syntax.py); no q and no filter searches nothing.
        for search, says in (({}, "searches nothing"), ({"q": ""}, "searches nothing"),
                             ({"q": '"'}, "unbalanced quote"), ({"q": "- *"}, "'-' alone"),
                             ({"q": '"', "status": "archived"}, "unbalanced quote"),
                             ({"limit": 5}, "searches nothing")):
            resp = client.post("/v1/exports", json={"search": search}, headers=auth)
            assert resp.status_code == 422 and says in resp.json()["detail"][0]["msg"], (search, resp.text)
        found = client.post("/v1/exports", json={"search": {"q": "Sunday"}}, headers=auth)
        by_status = client.post("/v1/exports", json={"search": {"status": "archived"}}, headers=auth)
    assert found.status_code == 200 and found.content.startswith(b"PK")
    assert by_status.status_code == 200  # a filter other than words is a search
