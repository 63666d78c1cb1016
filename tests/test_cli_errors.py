"""Every command, every kind of user or configuration error: one line on stderr and exit 2, never a
traceback; internal errors one line and exit 1 (the traceback only with --debug); a closed pipe ends
the command quietly. Each case runs `python -m archiver.cli` as a real subprocess.

The commands are read from the parser itself (`leaves`), and COMMANDS must give each one a valid
command line: a new command that is not added here fails `test_every_command_has_a_sample`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from archiver.cli.kinds import ARTICLE_ID_RE
from archiver.cli.main import NO_HOME, build_parser
from archiver.errors import InputError
from archiver.steps.prepare import check_article_id

ARCHIVER = [sys.executable, "-m", "archiver.cli"]
AID = "demo-sco-jaishankar-lavrov"
POST = "twitter/1945048830047662087"
SECRET = "s3cretpw"

# One valid command line per command; {story}, {bundle}, {tmp} and {port} are filled in per test.
COMMANDS: dict[str, list[str]] = {
    "archive": ["{story}"],
    "submit": ["{story}"],
    "retry": [AID],
    "extract": ["{story}"],
    "show": [AID],
    "demo": [],
    "serve": ["--port", "{port}"],
    "worker": [],
    "beat": [],
    "sweep": [],
    "token create": ["--role", "admin"],
    "token list": [],
    "token revoke": ["ops"],
    "export": [POST, "-o", "{tmp}/e.wacz"],
    "verify": ["{bundle}"],
    "keys create": [],
    "keys show": [],
    "health": [],
    "restore": [AID],
    "revert": [AID, "--to", "1"],
    "search": ["x"],
    "reindex": [],
    "timestamp": [],
    "hold": [POST, "--reason", "r"],
    "release": [POST],
    "takedown": [POST, "--reason", "r"],
}
# Commands that run until stopped (a server, a worker, a scheduler): not started where the case
# would let them start.
LONG_RUNNING = {"serve", "worker", "beat"}


def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> dict[str, argparse.ArgumentParser]:
    """Every runnable command of `parser` ("keys show", ...) and its parser."""
    out: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.update(leaves(sub, (*path, name)))
    if not out and path:
        out[" ".join(path)] = parser
    return out


def run(argv: list[str], env: dict[str, str], *, stdout: int | None = subprocess.PIPE,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ARCHIVER, *argv], env=env, stdout=stdout, stderr=subprocess.PIPE, text=True,
                          timeout=timeout)


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVER_")}
    return {**env, "ARCHIVER_HOME": str(tmp_path / "home"), **extra}


def argv_of(command: str, tmp_path: Path, **fill: str) -> list[str]:
    story = tmp_path / "story.html"
    if not story.exists():
        story.write_text("<p>hello</p>\n", encoding="utf-8")
    values = {"story": str(story), "bundle": str(story), "tmp": str(tmp_path), "port": str(_free_port()), **fill}
    return [*command.split(), *(a.format(**values) for a in COMMANDS[command])]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def one_line_error(out: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The one stderr line of a failed command, after checking the exit code and that nothing else
    (no traceback, no second line) was printed."""
    assert out.returncode == code, (out.returncode, out.stderr[-2000:])
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr[-2000:]
    assert "Traceback" not in out.stderr and "Exception ignored" not in out.stderr
    return lines[0]


def unwritable_dir(tmp_path: Path) -> Path:
    """A directory this user cannot create anything in (as root, a /proc folder: root bypasses modes)."""
    if os.getuid() == 0:
        return Path("/proc/1")
    d = tmp_path / "readonly"
    d.mkdir()
    d.chmod(0o500)
    return d


# --- the parser ------------------------------------------------------------------------------------
def test_every_command_has_a_sample() -> None:
    assert set(leaves(build_parser())) == set(COMMANDS)
    for command in COMMANDS:
        build_parser().parse_args(argv_of(command, Path("/tmp")))


def test_every_option_and_argument_has_help() -> None:
    missing = []
    for name, parser in leaves(build_parser()).items():
        for action in parser._actions:
            if not isinstance(action, argparse._HelpAction) and not (action.help or "").strip():
                missing.append(f"archiver {name} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, missing


def test_every_command_that_reports_takes_json() -> None:
    without = [name for name, parser in leaves(build_parser()).items()
               if name not in LONG_RUNNING and "--json" not in parser._option_string_actions]
    assert not without, without


def test_article_ids_follow_the_rule_of_prepare() -> None:
    for value in ["a", "A-1_b.c", "x" * 128, "x" * 129, "", "-a", "a..b", "../x", "a/b", "ä", "a b", ".a"]:
        try:
            check_article_id(value)
            ok = True
        except InputError:
            ok = False
        assert ok == bool(ARTICLE_ID_RE.fullmatch(value) and ".." not in value), value


# --- configuration errors, for every command --------------------------------------------------------
@pytest.mark.parametrize("command", sorted(set(COMMANDS) - NO_HOME))
def test_an_unusable_home_is_one_line_for_every_command(command: str, tmp_path: Path) -> None:
    a_file = tmp_path / "home-file"
    a_file.write_text("x")
    for home, says in ((a_file, "is a file, not a directory"), (a_file / "sub", "cannot be created"),
                       (unwritable_dir(tmp_path) / "home", "cannot be created")):
        line = one_line_error(run(argv_of(command, tmp_path), base_env(tmp_path, ARCHIVER_HOME=str(home))))
        assert "ARCHIVER_HOME" in line and says in line, line


def test_the_commands_that_need_no_home_say_so() -> None:
    assert {"verify", "extract"} == NO_HOME


SERVICES = {"archive", "submit", "retry", "demo", "sweep", "token create", "token list", "token revoke", "health",
            "search", "reindex"}


@pytest.mark.parametrize("command", sorted(set(COMMANDS) - LONG_RUNNING - {"keys create", "keys show", "verify",
                                                                             "extract"}))
def test_unreachable_catalog_and_broker_are_one_line_for_every_command(command: str, tmp_path: Path) -> None:
    closed = str(_free_port())
    env = base_env(tmp_path, ARCHIVER_CATALOG=f"postgresql://archiver:{SECRET}@127.0.0.1:{closed}/archiver",
                   ARCHIVER_BROKER_URL=f"redis://:{SECRET}@127.0.0.1:{closed}/0")
    # reindex of an empty storage has nothing to write; --fresh empties the catalog's tables first
    argv = argv_of(command, tmp_path) + (["--fresh"] if command == "reindex" else [])
    line = one_line_error(run(argv, env, timeout=90))
    assert SECRET not in line
    if command in SERVICES:
        assert re.search(r"did not answer|cannot reach the broker", line), line


def test_an_unreachable_storage_is_one_line(tmp_path: Path) -> None:
    closed = _free_port()
    env = base_env(tmp_path, ARCHIVER_STORAGE="s3://bucket/p", ARCHIVER_S3_ENDPOINT_URL=f"http://127.0.0.1:{closed}",
                   ARCHIVER_S3_ACCESS_KEY="k", ARCHIVER_S3_SECRET_KEY=SECRET, ARCHIVER_FETCH_RETRIES="0")
    line = one_line_error(run(["show", AID], env, timeout=180))
    assert SECRET not in line


# --- paths of the wrong kind --------------------------------------------------------------------------
def _path_cases(tmp_path: Path) -> list[list[str]]:
    a_dir = tmp_path / "a-dir"
    a_dir.mkdir(exist_ok=True)
    a_file = tmp_path / "a-file.html"
    a_file.write_text("<p>x</p>")
    d, f = str(a_dir), str(a_file)
    return [
        ["archive", d], ["submit", d], ["extract", d], ["demo", d], ["demo", "--tweets", d],
        ["verify", d], ["verify", f, "--public-key", d], ["verify", f, "--tsa-ca", d],
        ["export", POST, "-o", d], ["beat", "--schedule", d],
        # a file where a directory is expected
        ["export", POST, "-o", f"{f}/x.wacz"], ["beat", "--schedule", f"{f}/schedule"],
        ["archive", f"{f}/x.html"], ["verify", f"{f}/x.wacz"],
        # a folder that does not exist
        ["export", POST, "-o", f"{tmp_path}/no/such/e.wacz"], ["beat", "--schedule", f"{tmp_path}/no/s"],
        ["archive", f"{tmp_path}/no/such.html"],
    ]


def test_paths_of_the_wrong_kind_are_one_line(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    for argv in _path_cases(tmp_path):
        one_line_error(run(argv, env))


# --- input checked by kind -------------------------------------------------------------------------
BAD_URLS = ["/story", "story.html", "ftp://news.example/x", "https://", "javascript:alert(1)",
            "https://news.example/" + "a" * 2100, "https://news.example/\x1b[31mred", "http://[::1"]


@pytest.mark.parametrize("command", ["archive", "submit", "extract", "demo"])
def test_a_base_url_must_be_an_absolute_http_url_of_sane_length(command: str, tmp_path: Path) -> None:
    env = base_env(tmp_path)
    story = tmp_path / "s.html"
    story.write_text("<p>x</p>")
    for url in BAD_URLS:
        argv = [command, str(story), "--base-url", url]
        line = one_line_error(run(argv, env))
        assert "--base-url" in line and "\x1b" not in line, line
        assert len(line) < 300, line
    assert "…" in one_line_error(run([command, str(story), "--base-url", BAD_URLS[5]], env))
    assert "\\u001b" in one_line_error(run([command, str(story), "--base-url", BAD_URLS[6]], env))


def test_values_of_the_wrong_kind_are_one_line(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    story = tmp_path / "s.html"
    story.write_text("<p>x</p>")
    cases = [
        (["search", "x", "--limit", "0"], "--limit"), (["sweep", "--limit", "0"], "--limit"),
        (["timestamp", "--limit", "0"], "--limit"), (["timestamp", "--days", "-1"], "--days"),
        (["search", "x", "--status", "bogus"], "--status"), (["search", "x", "--provider", "Not A Provider"],
                                                            "--provider"),
        (["search", "x", "--provider", "myspace"], "unknown provider 'myspace': one of twitter"),
        (["archive", str(story), "--charset", "klingon"], "klingon"),
        (["extract", str(story), "--charset", "x" * 500], "--charset"),
        (["revert", AID, "--to", "0"], "--to"), (["worker", "--concurrency", "0"], "--concurrency"),
        (["show", "../../etc"], "article id"), (["hold", "twitter", "--reason", "r"], "provider/post_id"),
        (["export", "\x1b]0;pwned\x07/1", "-o", "x.wacz"], "\\u001b"),
        (["nosuchcommand"], "invalid choice"), (["search", "x", "--no-such-option"], "unrecognized"),
        # whole numbers past a 64-bit integer, which the catalog cannot take as a LIMIT or OFFSET
        (["sweep", "--limit", "9" * 30], "too large"), (["health", "--offset", "9223372036854775808"], "too large"),
        (["revert", AID, "--to", "9" * 25], "too large"),
    ]
    for argv, says in cases:
        line = one_line_error(run(argv, env))
        assert says in line and "\x1b" not in line and "x" * 100 not in line and len(line) <= 400, (argv, line)


def test_serve_refuses_a_port_out_of_range_or_in_use(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    for port in ("0", "65536", "-1", "http"):
        assert "--port" in one_line_error(run(["serve", "--port", port], env))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        assert "already in use" in one_line_error(run(["serve", "--port", port], env))
    assert "--host" in one_line_error(run(["serve", "--host", "no-such-host.invalid", "--port", "8080"], env))


# --- output cut short ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("demo-home")
    env = base_env(home)
    assert run(["demo"], env).returncode == 0
    assert run(["keys", "create"], env).returncode == 0
    assert run(["export", POST, "-o", str(home / "e.wacz")], env).returncode == 0
    return home


CHATTY = [["demo"], ["demo", "--json"], ["search", "जयशंकर"], ["search", "ANI", "--json"], ["show", AID],
          ["show", AID, "--json"], ["health"], ["health", "--json"], ["extract", "{story}", "--json"],
          ["archive", "{story}"], ["reindex"], ["keys", "show"], ["keys", "show", "--all", "--json"],
          ["verify", "{bundle}"], ["verify", "{bundle}", "--json"], ["export", POST, "-o", "-"],
          ["token", "create", "--role", "editor"], ["hold", POST, "--reason", "r", "--json"],
          ["release", POST], ["restore", AID, "--json"], ["revert", AID, "--to", "1"], ["retry", AID]]


@pytest.mark.parametrize("argv", CHATTY, ids=[" ".join(a) for a in CHATTY])
def test_a_closed_pipe_ends_the_command_quietly(argv: list[str], demo_home: Path) -> None:
    """As `archiver search x | head -1` does once head has its line: the reader is gone before the
    command writes, so its first write fails (EPIPE). Exit 141 as for SIGPIPE, nothing on stderr."""
    story = demo_home / "story.html"
    story.write_text("<p>hello</p>\n", encoding="utf-8")
    argv = [a.format(story=story, bundle=demo_home / "e.wacz") for a in argv]
    read, write = os.pipe()
    os.close(read)
    try:
        out = run(argv, base_env(demo_home), stdout=write)
    finally:
        os.close(write)
    assert (out.returncode, out.stderr) == (141, ""), (out.returncode, out.stderr[-2000:])


def test_a_pipe_closed_by_head_leaves_no_noise(demo_home: Path) -> None:
    """Through a shell, as the README shows it: whether head closes the pipe before or after the command
    wrote (the pipe's buffer may take it all), nothing but head's bytes comes out, and the command ends
    0 or 141."""
    env = {**base_env(demo_home), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for line in ('archiver search "जयशंकर" | head -1', "archiver demo --json | head -c 10",
                 "archiver keys show --all | head -1"):
        out = subprocess.run(["bash", "-c", f"set -o pipefail; {line}"], env=env, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode in (0, 141) and out.stderr == "", (line, out.returncode, out.stderr)


# --- internal errors ----------------------------------------------------------------------------------
_CRASH = ("import sys, archiver.cli.reindex as r\n"
          "def boom(args, settings):\n    raise RuntimeError('a bug\\nsecond line')\n"
          "r.cmd_reindex = boom\n"
          "from archiver.cli.main import main\n"
          "sys.exit(main(sys.argv[1:]))\n")


def test_an_internal_error_is_one_line_and_exit_1_and_debug_shows_the_traceback(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    out = subprocess.run([sys.executable, "-c", _CRASH, "reindex"], env=env, capture_output=True, text=True,
                         timeout=60)
    line = one_line_error(out, code=1)  # type: ignore[arg-type]
    assert line.startswith("archiver: internal error: RuntimeError: a bug") and "--debug" in line
    debug = subprocess.run([sys.executable, "-c", _CRASH, "--debug", "reindex"], env=env, capture_output=True,
                           text=True, timeout=60)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "RuntimeError: a bug" in debug.stderr


# --- what the checked input becomes ----------------------------------------------------------------
def test_the_base_url_is_stored_as_the_articles_url(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    story = tmp_path / "s.html"
    story.write_text('<p>x <img src="/img/a.jpg" alt=""></p>')
    out = run(["archive", str(story), "--base-url", "https://news.example/2025/story", "--article-id", "s1",
               "--json"], env)
    assert out.returncode == 0, out.stderr
    out = run(["extract", str(story), "--base-url", "https://news.example/2025/story", "--json"], env)
    assert json.loads(out.stdout)["images"][0]["url"] == "https://news.example/img/a.jpg"
    from archiver.config.settings import load_settings
    from archiver.runtime import Runtime
    from archiver.steps.prepare import load_plan

    with Runtime.from_settings(load_settings(env={"ARCHIVER_HOME": str(tmp_path / "home")})) as rt:
        assert rt.catalog.article("s1")["url"] == "https://news.example/2025/story"
        assert load_plan(rt, "s1").url == "https://news.example/2025/story"


def test_a_full_disk_is_a_configuration_error_not_an_internal_one(tmp_path: Path) -> None:
    crash = _CRASH.replace("raise RuntimeError('a bug\\nsecond line')",
                           "import errno; raise OSError(errno.ENOSPC, 'No space left on device')")
    out = subprocess.run([sys.executable, "-c", crash, "reindex"], env=base_env(tmp_path), capture_output=True,
                         text=True, timeout=60)
    assert "No space left on device" in one_line_error(out)


def test_the_home_is_checked_only_where_it_is_written(tmp_path: Path) -> None:
    """With storage and the catalog set elsewhere, a command that keeps nothing in the home runs wherever
    the home would be; the commands that keep files there (keys, export, beat) still refuse it."""
    a_file = tmp_path / "home-file"
    a_file.write_text("x")
    env = base_env(tmp_path, ARCHIVER_HOME=str(a_file), ARCHIVER_STORAGE=(tmp_path / "objects").as_uri(),
                   ARCHIVER_CATALOG=f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    assert run(["token", "create", "--role", "admin"], env).returncode == 0  # makes the catalog: search reads one
    out = run(["search", "x", "--json"], env)
    assert out.returncode == 0 and json.loads(out.stdout)["total"] == 0, out.stderr
    assert "ARCHIVER_HOME" in one_line_error(run(["keys", "create"], env))


def test_what_the_article_holds_is_printed_escaped(tmp_path: Path) -> None:
    """A terminal escape in an article's URL or a post's author is shown as text, never sent to the terminal."""
    story = tmp_path / "esc.html"
    story.write_text('<p><img src="/a\x1b[2J.jpg" alt=""></p>\n<blockquote class="twitter-tweet"><p>x</p>&mdash; '
                     'Evil\x1b]0;pwned\x07 (@evil) <a href="https://twitter.com/evil/status/1234567890123456789">'
                     "July 1, 2025</a></blockquote>\n", encoding="utf-8")
    env = base_env(tmp_path)
    out = run(["extract", str(story), "--base-url", "https://news.example/"], env)
    assert out.returncode == 0 and "\x1b" not in out.stdout and "\\u001b[2J" in out.stdout, out.stdout
    out = run(["demo", str(story), "--base-url", "https://news.example/s"], env, timeout=180)
    assert out.returncode == 0 and "\x1b" not in out.stdout and "\x07" not in out.stdout, out.stdout[-2000:]
