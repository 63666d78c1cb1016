"""What the CLI prints and where it writes, when the input is hostile or mistyped (issue 17's attacker
findings): third-party text reaches a terminal escaped whatever the command, a bundle on standard
output is written whole or the command fails, mistyped catalog and storage paths are said rather than
created, URLs with credentials or impossible hosts are refused, CLI actions are audited under one actor
format, and a configuration file that is not UTF-8 is a configuration error.

Each case runs `python -m archiver.cli` as a real subprocess on a home the demo filled (its fixture origin
answers the tweets, so nothing goes to the network).
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

from archiver.cli.output import UNSAFE, escape_unsafe, json_text, printable

ARCHIVER = [sys.executable, "-m", "archiver.cli"]
HOSTILE = "hello\x1b]0;PWNED\x07\x1b[2J\x1b[31mRED \u202eevil\x85\u2028next"
POST = "twitter/2001"


def env_of(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVER_")}
    return {**env, "ARCHIVER_HOME": str(home / "home"), **extra}


def run(argv: list[str], env: dict[str, str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ARCHIVER, *argv], env=env, capture_output=True, text=True, timeout=180, **kw)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home where a post's text and author name and an image URL hold a terminal's escapes, the post
    exported to e.wacz."""
    root = tmp_path_factory.mktemp("hostile")
    (root / "t.json").write_text(json.dumps([
        {"id": "2001", "handle": "evil", "name": f"E{HOSTILE}", "text": HOSTILE, "lang": "en",
         "created_at": "2025-07-10T10:00:00Z"},
        {"id": "2002", "handle": "", "name": f"Anon{HOSTILE}", "text": "second post", "lang": "en",
         "created_at": "2025-07-11T10:00:00Z"}]), encoding="utf-8")
    (root / "a.html").write_text(
        '<p>x <img src="/img/a\x1b[2J.jpg" alt=""></p>\n'
        '<blockquote class="twitter-tweet"><a href="https://twitter.com/evil/status/2001">d</a></blockquote>\n'
        '<blockquote class="twitter-tweet"><a href="https://twitter.com/i/status/2002">d</a></blockquote>\n',
        encoding="utf-8")
    env = env_of(root)
    out = run(["demo", str(root / "a.html"), "--tweets", str(root / "t.json"), "--article-id", "evil-story",
               "--base-url", "https://news.example/s"], env)
    assert out.returncode == 0, out.stderr
    assert not UNSAFE.search(out.stdout + out.stderr), out.stdout[-2000:]  # demo prints the posts it archived
    assert run(["keys", "create"], env).returncode == 0
    assert run(["export", POST, "-o", str(root / "e.wacz")], env).returncode == 0
    return root


# Every command that prints text coming from articles, platforms or bundles, in its human form.
PRINTERS = [["search"], ["search", "hello"], ["search", "--json"], ["show", "evil-story"], ["health"],
            ["health", "--article-id", "evil-story"], ["retry", "evil-story"], ["restore", "evil-story"],
            ["revert", "evil-story", "--to", "1"], ["extract", "{root}/a.html"], ["verify", "{root}/e.wacz"],
            ["hold", POST, "--reason", f"r{HOSTILE}"], ["release", POST], ["takedown", POST, "--reason", HOSTILE],
            ["takedown", POST, "--lift"], ["export", POST, "-o", "{root}/e2.wacz"],
            ["archive", "{root}/a.html", "--article-id", "evil-2"], ["keys", "show", "--all"],
            ["sweep"]]


@pytest.mark.parametrize("argv", PRINTERS, ids=[" ".join(a) for a in PRINTERS])
def test_third_party_text_reaches_the_terminal_escaped(argv: list[str], hostile: Path) -> None:
    out = run([a.format(root=hostile) for a in argv], env_of(hostile))
    assert out.returncode == 0, out.stderr[-2000:]
    for stream in (out.stdout, out.stderr):
        assert not UNSAFE.search(stream), repr(stream[:2000])


def test_search_shows_the_escapes_as_text_and_json_stays_lossless(hostile: Path) -> None:
    env = env_of(hostile)
    text = run(["search"], env).stdout
    assert "hello\\u001b]0;PWNED\\u0007\\u001b[2J" in text and "\\u202eevil" in text
    assert "Anonhello\\u001b]0;PWNED" in text  # the author's name where the post has no handle
    hits = json.loads(run(["search", "--json"], env).stdout)["hits"]
    assert {h["text"] for h in hits} >= {HOSTILE}


_PRINTS_RAW = ("import sys, archiver.cli.reindex as r\n"
               "def raw(args, settings):\n    print('a\\x1b[2Jb\\u202ec\\x9bd')\n"
               "    print('e\\x1b[31m', file=sys.stderr)\n    return 0\n"
               "r.cmd_reindex = raw\n"
               "from archiver.cli.main import main\n"
               "sys.exit(main(sys.argv[1:]))\n")


def test_a_command_that_forgets_to_escape_is_escaped_by_the_output_layer(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", _PRINTS_RAW, "reindex"], env=env_of(tmp_path),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "a\\u001b[2Jb\\u202ec\\u009bd\n" and out.stderr == "e\\u001b[31m\n"


def test_the_escape_keeps_newlines_tabs_and_joiners() -> None:
    assert escape_unsafe("क्\u200dष\tx\ny") == "क्\u200dष\tx\ny"
    assert escape_unsafe("\r\x00\u2066") == "\\u000d\\u0000\\u2066"


# One spelling everywhere (issue 17: search said \u001b, URLs and verify's file names said \x1b).
SPELLERS = [["search", "hello"], ["extract", "{root}/a.html"], ["archive", "{root}/a.html", "--article-id", "evil-3"],
            ["health", "--article-id", "evil-story"], ["show", "evil-story"]]


@pytest.mark.parametrize("argv", SPELLERS, ids=[" ".join(a) for a in SPELLERS])
def test_every_command_spells_an_escape_the_same_way(argv: list[str], hostile: Path) -> None:
    out = run([a.format(root=hostile) for a in argv], env_of(hostile))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "\\x1b" not in out.stdout and "\\x" not in out.stdout, out.stdout[-2000:]
    if argv[0] != "show":
        assert "\\u001b" in out.stdout, out.stdout[-2000:]


def test_verify_prints_names_escaped_once_and_its_json_carries_the_real_names(hostile: Path, tmp_path: Path) -> None:
    import zipfile

    sly = tmp_path / "sly.wacz"
    name = "docs/\x1b[2J\u202eevil\x85\u2028x.txt"
    with zipfile.ZipFile(hostile / "e.wacz") as src, zipfile.ZipFile(sly, "w") as zf:
        for member in src.namelist():
            zf.writestr(member, src.read(member))
        zf.writestr(name, b"x")
    text = run(["verify", str(sly)], env_of(hostile))
    assert text.returncode == 2
    assert "FAILED docs/\\u001b[2J\\u202eevil\\u0085\\u2028x.txt: not listed" in text.stdout, text.stdout
    raw = run(["verify", str(sly), "--json"], env_of(hostile))
    assert raw.returncode == 2 and not UNSAFE.search(raw.stdout) and "\\\\u" not in raw.stdout  # escaped once
    problems = json.loads(raw.stdout)["problems"]
    assert any(p.startswith(name + ": not listed") for p in problems), problems


def test_json_text_escapes_what_json_dumps_leaves_raw_and_reads_back_the_same() -> None:
    value = {"t\u202e": "a\x1b[2J\x85\u009b\u2028\u2029\u061c\u2066\x7f क्\u200dष \"\\ \U0001f600"}
    text = json_text(value)
    assert not UNSAFE.search(text) and json.loads(text) == value
    assert "\\u0085" in text and "\\u202e" in text and "\u200d" in text and "\U0001f600" in text
    assert printable("a\x1b\n\u202e\U000e0067\u200d") == "a\\u001b\\u000a\\u202e\\U000e0067\u200d"


# --- a bundle on standard output -------------------------------------------------------------------------
def test_export_to_a_pipe_closed_early_fails_and_is_audited_incomplete(hostile: Path) -> None:
    """`export -o - | head -c 5` with PYTHONUNBUFFERED=1 (where a raw stdout takes short writes): exit 141,
    no success summary, and the audit log says the export did not reach its reader whole."""
    env = {**env_of(hostile), "PYTHONUNBUFFERED": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    out = subprocess.run(["bash", "-c", f"archiver export {POST} -o - | head -c 5 >/dev/null; "
                          "echo rc=${PIPESTATUS[0]} >&2"], env=env, capture_output=True, text=True, timeout=120)
    assert out.stderr.strip().splitlines()[-1] == "rc=141", out.stderr
    assert '"format"' not in out.stderr
    events = _audit(hostile)
    assert events[0]["action"] == "export_incomplete" and events[0]["target"] == POST


def test_export_to_a_pipe_read_whole_is_the_same_bundle(hostile: Path) -> None:
    env = {**env_of(hostile), "PYTHONUNBUFFERED": "1"}
    out = subprocess.run([*ARCHIVER, "export", POST, "-o", "-"], env=env, capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout[:2] == b"PK" and len(out.stdout) > 1000
    summary = json.loads(out.stderr.decode().strip().splitlines()[-1])
    bundle = hostile / "piped.wacz"
    bundle.write_bytes(out.stdout)
    verified = run(["verify", str(bundle), "--json"], env)
    assert json.loads(verified.stdout)["ok"] and summary["posts"] == 1


def _audit(home: Path) -> list[dict[str, object]]:
    from archiver.compliance import audit
    from archiver.config.settings import load_settings
    from archiver.runtime import Runtime

    with Runtime.from_settings(load_settings(env={"ARCHIVER_HOME": str(home / "home")})) as rt:
        return audit.list_events(rt)


# --- who a CLI action is audited as ----------------------------------------------------------------------
def test_every_cli_action_is_audited_in_one_actor_format_whatever_user_claims(hostile: Path) -> None:
    env = env_of(hostile, USER="ceo", LOGNAME="ceo", SUDO_USER="ceo", SUDO_UID="0")
    for argv in (["export", POST, "-o", str(hostile / "who.wacz")], ["hold", POST, "--reason", "x"],
                 ["release", POST], ["restore", "evil-story"]):
        assert run(argv, env).returncode == 0
    me = pwd.getpwuid(os.getuid()).pw_name
    actors = {e["action"]: e["actor"] for e in _audit(hostile)}
    # SUDO_USER is not believed: it does not name the passwd entry of SUDO_UID (or we are not root)
    assert {actors[a] for a in ("export", "hold", "release_hold")} == {f"cli:{me}"}, actors


def test_sudo_user_is_believed_only_from_root(monkeypatch: pytest.MonkeyPatch) -> None:
    from archiver.cli.output import cli_principal

    me = pwd.getpwuid(os.getuid()).pw_name
    monkeypatch.setenv("SUDO_USER", "nobody")
    monkeypatch.setenv("SUDO_UID", str(pwd.getpwnam("nobody").pw_uid))
    monkeypatch.setenv("USER", "ceo")
    name = cli_principal("admin").name
    assert name == (f"cli:{me} (sudo by nobody)" if os.getuid() == 0 else f"cli:{me}")
    monkeypatch.setenv("SUDO_UID", "0")  # SUDO_USER must be the passwd name of SUDO_UID
    assert cli_principal("admin").name == f"cli:{me}"


# --- mistyped paths -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [["search", "x"], ["show", "a"], ["reindex"], ["archive", "{story}"]])
def test_a_configured_path_whose_folder_does_not_exist_is_said_not_made(command: list[str], tmp_path: Path) -> None:
    story = tmp_path / "s.html"
    story.write_text("<p>x</p>")
    argv = [a.format(story=story) for a in command]
    for variable, value, folder in (
            ("ARCHIVER_CATALOG", f"sqlite:///{tmp_path}/typo/deep/cat.db", tmp_path / "typo" / "deep"),
            ("ARCHIVER_STORAGE", (tmp_path / "typo2" / "objects").as_uri(), tmp_path / "typo2")):
        out = run(argv, env_of(tmp_path, **{variable: value}))
        assert out.returncode == 2 and len(out.stderr.splitlines()) == 1, out.stderr
        assert f"the folder {folder} does not exist" in out.stderr and variable in out.stderr
        assert (not folder.exists() and not folder.parent.exists()) or folder.parent == tmp_path
    assert not (tmp_path / "typo").exists() and not (tmp_path / "typo2").exists()


@pytest.mark.parametrize("command", [["search", "x"], ["show", "a"], ["health"], ["reindex"],
                                     ["hold", "twitter/1", "--reason", "r"], ["restore", "a"]])
def test_a_configured_storage_folder_that_does_not_exist_is_said_to_a_command_on_the_archive(
        command: list[str], tmp_path: Path) -> None:
    """Its parent exists, so archiving would make it; but searching, reindexing or restoring in a
    mistyped storage folder would make an empty one and find nothing there, exit 0."""
    missing = tmp_path / "objectz"
    out = run(command, env_of(tmp_path, ARCHIVER_STORAGE=missing.as_uri()))
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1, out.stderr
    assert f"there is no storage folder {missing}" in out.stderr and "ARCHIVER_STORAGE" in out.stderr
    assert not missing.exists()


def test_an_empty_archiver_home_is_the_default_not_the_current_folder(tmp_path: Path) -> None:
    story = tmp_path / "s.html"
    story.write_text("<p>x</p>")
    env = {**env_of(tmp_path), "ARCHIVER_HOME": ""}
    out = subprocess.run([sys.executable, "-m", "archiver.cli", "archive", str(story), "--json"], env=env,
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "archiver-data" / "objects").is_dir() and not (tmp_path / "objects").exists()


def test_folders_under_the_home_are_still_made(tmp_path: Path) -> None:
    story = tmp_path / "s.html"
    story.write_text("<p>x</p>")
    env = env_of(tmp_path, ARCHIVER_CATALOG=f"sqlite:///{tmp_path}/home/sub/dir/cat.db")
    assert run(["archive", str(story), "--json"], env).returncode == 0
    assert (tmp_path / "home" / "sub" / "dir" / "cat.db").is_file()


@pytest.mark.parametrize("command", [["search", "x"], ["show", "evil-story"], ["health"],
                                     ["export", POST, "-o", "{tmp}/x.wacz"]])
def test_a_read_only_command_does_not_make_an_empty_catalog(command: list[str], hostile: Path,
                                                            tmp_path: Path) -> None:
    """Storage holds the archive, the catalog's path is mistyped: no command answers from an empty
    catalog it made (search "0 posts", health "no articles"); each says there is none."""
    catalog = tmp_path / "catalg.sqlite3"
    out = run([a.format(tmp=tmp_path) for a in command], env_of(hostile, ARCHIVER_CATALOG=f"sqlite:///{catalog}"))
    if out.returncode == 0:  # what reads storage alone answers right
        assert command[0] == "show" and "v1" in out.stdout, out.stdout
    else:
        assert out.returncode == 2 and len(out.stderr.splitlines()) == 1, out.stderr
        assert "there is no catalog at" in out.stderr and "archiver reindex" in out.stderr
    assert not catalog.exists() and not (tmp_path / "x.wacz").exists()


def test_reindex_makes_the_catalog_a_read_only_command_then_reads(hostile: Path, tmp_path: Path) -> None:
    env = env_of(hostile, ARCHIVER_CATALOG=f"sqlite:///{tmp_path}/rebuilt.sqlite3")
    assert run(["search", "hello", "--json"], env).returncode == 2
    assert run(["reindex"], env).returncode == 0
    assert json.loads(run(["search", "hello", "--json"], env).stdout)["total"] == 1


def test_a_corrupt_catalog_suggests_reindex(tmp_path: Path) -> None:
    catalog = tmp_path / "bad.sqlite3"
    catalog.write_bytes(b"this is not a database at all" * 100)
    out = run(["search", "x"], env_of(tmp_path, ARCHIVER_CATALOG=f"sqlite:///{catalog}"))
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1, out.stderr
    assert "archiver reindex" in out.stderr and "Traceback" not in out.stderr


# --- URLs and configuration -------------------------------------------------------------------------------
@pytest.mark.parametrize(("url", "says"), [
    ("https://user:secret@news.example/x", "user name or password"), ("https://user@news.example/x", "user name"),
    ("http://-/x", "not a host name"), ("http://a..b/x", "not a host name"), ("http://1.2.3.999/", "not a host name"),
    ("http://bad_host.example/", "not a host name"), (f"http://{'a' * 64}.example/", "not a host name")])
def test_a_base_url_with_credentials_or_no_valid_host_is_refused(url: str, says: str, tmp_path: Path) -> None:
    story = tmp_path / "s.html"
    story.write_text("<p>x</p>")
    out = run(["extract", str(story), "--base-url", url], env_of(tmp_path))
    assert out.returncode == 2 and says in out.stderr and len(out.stderr.splitlines()) == 1, out.stderr
    assert "secret" not in out.stderr


@pytest.mark.parametrize("url", ["https://news.example/x", "http://[::1]:8080/x", "http://127.0.0.1/",
                                 "https://उदाहरण.भारत/x", "https://news.example./x", "http://localhost:8000/"])
def test_good_base_urls_pass(url: str, tmp_path: Path) -> None:
    story = tmp_path / "s.html"
    story.write_text("<p>x</p>")
    assert run(["extract", str(story), "--base-url", url], env_of(tmp_path)).returncode == 0


def test_a_config_file_that_is_not_utf8_is_a_configuration_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b'home = "\xff\xfe"\n')
    out = run(["search", "x"], env_of(tmp_path, ARCHIVER_CONFIG_FILE=str(bad)))
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1, out.stderr
    assert "not a UTF-8 TOML file" in out.stderr and "internal error" not in out.stderr


# --- the same shape as the API ------------------------------------------------------------------------------
def test_search_json_is_the_apis_answer(hostile: Path) -> None:
    """`archiver search --json` and GET /v1/search are built by one function: on the same data and query
    they answer the same object (limit, offset, total_exact, each hit's compliance state)."""
    from fastapi.testclient import TestClient

    from archiver.auth import create_token
    from archiver.config.settings import load_settings
    from archiver.runtime import Runtime
    from archiver.web.app import create_app

    env = env_of(hostile)
    assert run(["hold", POST, "--reason", "shape test"], env).returncode == 0  # a compliance state to show
    settings = load_settings(env={"ARCHIVER_HOME": str(hostile / "home")})
    for cli_args, params in ((["hello", "--limit", "5"], {"q": "hello", "limit": 5}),
                             (["--provider", "twitter", "--offset", "1"], {"provider": "twitter", "offset": 1})):
        cli = json.loads(run(["search", *cli_args, "--json"], env).stdout)
        with Runtime.from_settings(settings) as rt, TestClient(create_app(settings, rt)) as client:
            token = create_token(rt.catalog, "compliance", "shape")
            api = client.get("/v1/search", params=params, headers={"Authorization": f"Bearer {token}"}).json()
        assert cli == api, (cli_args, sorted(cli), sorted(api))
        assert {"total", "total_exact", "limit", "offset", "hits"} == set(cli)
    held = json.loads(run(["search", "hello", "--json"], env).stdout)["hits"]
    assert [h["compliance"]["hold"]["reason"] for h in held if h["post_id"] == "2001"] == ["shape test"]
    assert run(["release", POST], env).returncode == 0
