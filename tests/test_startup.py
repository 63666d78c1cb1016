"""Start-up cost (issue 18): local mode loads none of the other modes' clients, and what every
process builds once is built once.

The commands run in a subprocess of their own, as a user runs them (local storage and SQLite under a
fresh ARCHIVER_HOME, no ARCHIVER_* setting from the environment), through a wrapper that calls the
CLI's main and writes the names in ``sys.modules`` at exit to a file. With a Redis broker configured,
Redis and Celery's clients are used as before (tests/test_workers.py, test_cli_submit.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
from concurrent.futures import Future
from pathlib import Path

import certifi
import pytest

from archiver.capture import fetch
from archiver.capture.fetch import Fetcher, ssl_context
from archiver.cli.main import build_parser
from archiver.config.settings import load_settings
from archiver.errors import ConfigError
from archiver.metrics import FETCH_BUCKETS, FetchHistogram

ROOT = Path(__file__).resolve().parent.parent

# Clients of the distributed and server modes, the schema validator of the tests, and requests (a test
# tool only: the fetcher talks HTTP through urllib3): none is imported by a local command.
NOT_IN_LOCAL_MODE = ("redis", "celery", "kombu", "boto3", "botocore", "psycopg", "jsonschema",
                     "prometheus_client", "requests")
# What an article with no embed and no image does not use: Pillow, Jinja2, FreeType and HarfBuzz
# (cards, image checks), and the catalog and store backends of the other modes.
NOT_FOR_A_PLAIN_ARTICLE = ("PIL", "jinja2", "freetype", "uharfbuzz", "archiver.catalog.postgres",
                           "archiver.storage.s3")

WRAPPER = """
import atexit, json, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
from archiver.cli.main import main
sys.exit(main(sys.argv[1:]))
"""

SMALL_ARTICLE = ("<!doctype html><html><head><meta charset='utf-8'><title>Budget passes</title></head>"
                 "<body><article><h1>Budget passes</h1><p>The council passed the budget on Tuesday, "
                 "seven votes to two.</p></article></body></html>")


def run_cli(home: Path, *args: str, full: bool = False,
            settings: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``archiver ARGS`` in a fresh interpreter with ARCHIVER_HOME=`home` and no other ARCHIVER_*
    setting than `settings`' (environment variables); returns the finished process and the top-level
    packages it had imported at exit (every module's full name with `full`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVER_")}
    env.update(settings or {})
    env.update(ARCHIVER_HOME=str(home), PYTHONPATH=str(ROOT))
    dump = home.parent / f"modules-{len(list(home.parent.glob('modules-*')))}.json"
    proc = subprocess.run([sys.executable, "-c", WRAPPER, str(dump), *args], env=env, cwd=str(home.parent),
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    names = json.loads(dump.read_text())
    return proc, set(names) if full else {name.split(".")[0] for name in names}


def test_local_commands_load_no_broker_storage_catalog_or_metrics_client(tmp_path: Path) -> None:
    home = tmp_path / "home"
    article = tmp_path / "story.html"
    article.write_text(SMALL_ARTICLE, encoding="utf-8")

    proc, loaded = run_cli(home, "archive", str(article), "--base-url", "https://news.example/budget", "--json")
    assert sorted(loaded & set(NOT_IN_LOCAL_MODE)) == [], "archiver archive imported them"
    article_id = json.loads(proc.stdout)["article_id"]

    proc, loaded = run_cli(home, "show", article_id, "--json")
    assert sorted(loaded & set(NOT_IN_LOCAL_MODE)) == [], "archiver show imported them"
    assert json.loads(proc.stdout)["article_id"] == article_id

    # The demo fetches (its post, offline, from the fixture origin) and writes cards, WARC, catalog.
    _, loaded = run_cli(home, "demo")
    assert sorted(loaded & set(NOT_IN_LOCAL_MODE)) == [], "archiver demo imported them"

    proc, loaded = run_cli(home, "search", "जयशंकर", "--json")
    assert sorted(loaded & set(NOT_IN_LOCAL_MODE)) == [], "archiver search imported them"
    assert json.loads(proc.stdout)["total"] >= 1


def test_a_plain_article_loads_no_imaging_templates_or_other_backends(tmp_path: Path) -> None:
    home = tmp_path / "home"
    article = tmp_path / "story.html"
    article.write_text(SMALL_ARTICLE, encoding="utf-8")
    proc, loaded = run_cli(home, "archive", str(article), "--base-url", "https://news.example/budget", "--json",
                           full=True)
    assert json.loads(proc.stdout)["article_id"]
    assert sorted(m for m in NOT_FOR_A_PLAIN_ARTICLE if m in loaded) == [], "archiver archive imported them"


def test_an_article_with_a_tweet_and_an_image_decodes_and_renders_only_in_the_image_workers(tmp_path: Path) -> None:
    """The image is checked and the tweet's PNG card drawn by the image workers: the archiving process
    loads neither Pillow nor FreeType nor HarfBuzz nor Jinja2, and the stored card is a PNG."""
    from PIL import Image

    from archiver.config.settings import env_name
    from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture
    from archiver.testing.fixtures import make_image

    tweet = "1945048830047662087"
    with FixtureOrigin() as origin:
        origin.add_tweet(TweetFixture(id=tweet, handle="citydesk", name="City Desk", text="Budget passed."))
        image = origin.add_image("/img/council.jpg", make_image("council", 320, 200), "image/jpeg")
        page = (f'<!doctype html><html><body><article><img src="{image}" alt="The chamber">'
                '<blockquote class="twitter-tweet"><p>Budget passed.</p>&mdash; City Desk (@citydesk) '
                f'<a href="https://twitter.com/citydesk/status/{tweet}">July 15, 2025</a></blockquote>'
                "</article></body></html>").encode()
        url = origin.add_image("/news/budget.html", page, "text/html; charset=utf-8")
        overrides = {**origin.settings_overrides(), "fetch_allow": "127.0.0.1,localhost"}
        env = {env_name(k): str(v) for k, v in overrides.items()}
        proc, loaded = run_cli(tmp_path / "home", "archive", url, "--json", settings=env)
    report = json.loads(proc.stdout)
    assert [e["status"] for e in report["embeds"]] == ["archived"]
    assert [i["status"] for i in report["images"]] == ["archived"]
    assert sorted(loaded & {"PIL", "freetype", "uharfbuzz", "jinja2"}) == [], "the archiving process rendered"
    (card,) = (tmp_path / "home" / "objects").rglob("*.card.png")
    with Image.open(card) as im:
        assert (im.format, im.width) == ("PNG", 600)


# What discovery, the provider registry, the token roles and a catalog backend's interface need is
# plain code: none of them loads pydantic, the manifest's models, the catalog's search or
# importlib.metadata (the capture statuses, FORMATS and ROLES live in modules of their own).
LIGHT_MODULES = ("archiver.discover.scan", "archiver.providers.registry", "archiver.roles", "archiver.auth",
                 "archiver.catalog.base", "archiver.capture.statuses", "archiver.discover.formats")
HEAVY_FOR_THEM = ("pydantic", "pydantic_core", "archiver.capture.manifest", "archiver.catalog.core",
                  "archiver.catalog.query", "archiver.catalog.syntax", "importlib.metadata")


def test_discovery_the_registry_and_the_roles_load_no_models() -> None:
    code = (f"import json, sys\nimport {', '.join(LIGHT_MODULES)}\n"
            "print(json.dumps(sorted(sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert sorted(set(json.loads(proc.stdout)) & set(HEAVY_FOR_THEM)) == []

# Run in a fresh interpreter: the models' validators are built on first use (pydantic's defer_build),
# here by eight threads at once.
FIRST_USE = """
import json, sys, threading
from archiver.capture.manifest import Manifest, load_manifest
from archiver.records.version import Version
manifest, version = sys.argv[1].encode(), sys.argv[2].encode()
assert type(Manifest.__pydantic_validator__).__name__ == "MockValSer", "built at import"
barrier, out, errors = threading.Barrier(8), [], []
def work():
    barrier.wait()
    try:
        out.append((load_manifest(manifest).dumps(), Version.loads(version, "articles/a/v1.json").dumps()))
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"errors": errors, "distinct": len(set(out)), "n": len(out), "first": out[0][0].decode()}))
"""


def test_models_built_on_first_use_by_many_threads_at_once_validate_as_before() -> None:
    from datetime import UTC, datetime

    from archiver.capture.manifest import Manifest
    from archiver.records.version import Version

    manifest = Manifest.new(provider="twitter", post_id="20", capture_id="20240305T081500Z-0a1b2c3d",
                            captured_at=datetime(2024, 3, 5, 8, 15, tzinfo=UTC), status="deleted",
                            url="https://x.com/jack/status/20")
    version = Version(article_id="a", version=1, key="articles/a/v1", sha256="0" * 64,
                      created_at="2024-03-05T08:15:00Z", reason="archive", source_sha256="1" * 64)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", FIRST_USE, manifest.dumps().decode(), version.dumps().decode()],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["errors"] == [] and answer["n"] == 8 and answer["distinct"] == 1
    assert answer["first"] == manifest.dumps().decode()


def test_the_fetch_histogram_reports_what_prometheus_histogram_did() -> None:
    """Same name, labels, buckets, counts and sum as prometheus_client's Histogram of before."""
    from prometheus_client import CollectorRegistry, Histogram, generate_latest

    ours = FetchHistogram()
    theirs_registry = CollectorRegistry()
    theirs = Histogram("archiver_fetch_seconds", FetchHistogram.documentation, ["kind", "outcome"],
                       registry=theirs_registry, buckets=FETCH_BUCKETS)
    samples = [("image", "ok", 0.01), ("image", "ok", 0.05), ("image", "ok", 0.3), ("image", "ok", 60.0),
               ("image", "ok", 61.0), ("json", "timeout", 2.5), ("html", "network", 0.0)]
    for kind, outcome, seconds in samples:
        ours.observe(kind, outcome, seconds)
        theirs.labels(kind=kind, outcome=outcome).observe(seconds)
    ours_registry = CollectorRegistry()
    ours_registry.register(ours)

    def lines(registry: CollectorRegistry) -> list[str]:
        text = generate_latest(registry).decode()
        return sorted(line for line in text.splitlines() if "_created" not in line)

    assert lines(ours_registry) == lines(theirs_registry)


def test_observing_from_many_threads_counts_every_fetch() -> None:
    hist = FetchHistogram()

    def work() -> None:
        for _ in range(1000):
            hist.observe("image", "ok", 0.2)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cumulative, total = hist.snapshot()[("image", "ok")]
    assert cumulative[-1] == 8000 and cumulative[FETCH_BUCKETS.index(0.25)] == 8000
    assert cumulative[FETCH_BUCKETS.index(0.1)] == 0
    assert total == pytest.approx(1600.0)


def test_the_ca_bundle_is_loaded_once_per_process_and_shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(Path(certifi.where()).read_bytes())
    settings = load_settings(env={}).replace(home=str(tmp_path), fetch_ca_bundle=str(bundle))
    built: list[str | None] = []
    build = fetch._build_ssl_context
    monkeypatch.setattr(fetch, "_build_ssl_context", lambda b: built.append(b) or build(b))
    contexts: list[object] = []
    barrier = threading.Barrier(8)

    def make() -> None:
        barrier.wait()
        contexts.append(Fetcher(settings)._ssl_context)

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(contexts) == 8 and all(c is contexts[0] for c in contexts)
    assert built == [str(bundle)]
    # The same verification as before: certificates required, host names checked, the bundle's roots.
    ctx = ssl_context(str(bundle))
    assert ctx is contexts[0] and built == [str(bundle)]
    assert ctx.verify_mode.name == "CERT_REQUIRED" and ctx.check_hostname
    assert ctx.cert_store_stats()["x509_ca"] > 0


def test_certifis_bundle_is_loaded_in_the_background_while_start_up_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Fetcher with no bundle of its own does not wait for certifi's to be parsed: it is built in
    another thread and waited for only at the first TLS connection (here: ``_ssl_context``)."""
    monkeypatch.setattr(fetch, "_SSL_CONTEXTS", {})
    release, started = threading.Event(), threading.Event()
    build = fetch._build_ssl_context

    def slow_build(bundle: str | None) -> object:
        started.set()
        release.wait(10)
        return build(bundle)

    monkeypatch.setattr(fetch, "_build_ssl_context", slow_build)
    fetcher = Fetcher(load_settings(env={}))   # returns although the bundle is not loaded yet
    assert started.wait(10) and not fetcher._ssl_load.done()
    release.set()
    ctx = fetcher._ssl_context
    assert ctx is ssl_context(None) is ssl_context("") and ctx.cert_store_stats()["x509_ca"] > 0


def test_a_context_being_built_when_the_process_forks_is_built_again_in_the_child(
        monkeypatch: pytest.MonkeyPatch) -> None:
    pending: Future[object] = Future()
    monkeypatch.setattr(fetch, "_SSL_CONTEXTS", {None: pending})
    fetch._contexts_after_fork()   # what os.register_at_fork runs in the child
    ctx = ssl_context(None)
    assert not pending.done() and ctx.cert_store_stats()["x509_ca"] > 0


def test_a_bad_ca_bundle_is_a_config_error_each_time(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-bundle.pem"
    bad.write_text("not a certificate")
    for _ in range(2):  # the failure is not cached: a bundle fixed in place is read on the next try
        with pytest.raises(ConfigError, match="not a readable PEM bundle"):
            ssl_context(str(bad))


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_the_parser_for_one_command_is_that_commands_parser_as_before() -> None:
    full = _commands(build_parser())
    for name, parser in full.items():
        only = _commands(build_parser(name))
        assert only[name].format_help() == parser.format_help()
    # `archive` is in the first group: the other groups' parsers are not built for it.
    assert "takedown" not in _commands(build_parser("archive"))
    # A word no group defines gets every command, so the error lists them all.
    assert _commands(build_parser("nope")).keys() == full.keys()


CONSOLE = """
import atexit, gc, sys, tempfile, threading, time
from pathlib import Path
marks = Path(sys.argv.pop(1))
kept = tempfile.TemporaryDirectory(dir=marks)          # removed by its weakref.finalize at exit
(Path(kept.name) / "inside").write_text("x")
atexit.register(lambda: (marks / "atexit-ran").write_text("yes"))
atexit.register(lambda: (marks / "gc").write_text(f"{gc.isenabled()} {gc.get_freeze_count() > 1000}"))
if sys.argv.pop(1) == "thread":
    def late() -> None:
        time.sleep(0.5)
        (marks / "thread-finished").write_text("yes")
    threading.Thread(target=late).start()             # not a daemon: the exit waits for it
from archiver.cli.main import console
console()
"""


@pytest.mark.parametrize("thread", ["thread", "none"])
def test_the_console_script_exits_with_atexit_handlers_run_and_output_flushed(tmp_path: Path, thread: str) -> None:
    """`archiver` ends without the interpreter's teardown (``console``), yet what an ordinary exit does
    for the program still happens: atexit handlers and finalizers run, all of stdout reaches the pipe,
    the exit code is the command's, and a thread still running is waited for."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVER_")}
    env.update(ARCHIVER_HOME=str(tmp_path / "home"), PYTHONPATH=str(ROOT))
    marks = tmp_path / "marks"
    marks.mkdir()
    help_run = subprocess.run([sys.executable, "-c", CONSOLE, str(marks), thread, "--help"], env=env,
                              capture_output=True, text=True, timeout=60, check=False)
    assert help_run.returncode == 0, help_run.stderr
    assert help_run.stdout.rstrip().endswith(build_parser().format_help().rstrip().splitlines()[-1])
    assert (marks / "atexit-ran").read_text() == "yes"
    assert [p.name for p in marks.iterdir() if p.is_dir()] == []     # the temporary directory is gone
    assert (marks / "thread-finished").exists() == (thread == "thread")
    bad = subprocess.run([sys.executable, "-c", CONSOLE, str(marks), "none", "show", "no-such-article"],
                         env=env, capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2 and bad.stderr.startswith("archiver: error:"), bad.stderr
    # The command ran with the collector on again, start-up's objects frozen out of its reach.
    assert (marks / "gc").read_text() == "True True"


def test_the_background_tls_build_and_the_first_fetch_import_nothing() -> None:
    """Two threads importing urllib3's modules for the first time at once can deadlock on its import
    cycle (``_DeadlockError``, seen when the CA bundle's thread did): everything the fetcher and the
    TLS build use is imported when the first Fetcher is made, in that thread, so what runs in other
    threads afterwards loads no module."""
    code = ("import json, sys\nfrom archiver.capture.fetch import Fetcher\n"
            "from archiver.config.settings import load_settings\n"
            "fetcher = Fetcher(load_settings(env={}))\nbefore = set(sys.modules)\n"
            "fetcher._ssl_context\n"   # waits for the background build
            "from archiver.capture.guard import parse_target\nparse_target('https://a.example/x?y=1')\n"
            "print(json.dumps(sorted(set(sys.modules) - before)))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVER_")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout) == []


def test_a_failed_background_load_is_tried_again_by_the_same_fetcher(monkeypatch: pytest.MonkeyPatch) -> None:
    """A transient failure (no file descriptor left) does not stay with a long-lived fetcher."""
    monkeypatch.setattr(fetch, "_SSL_CONTEXTS", {})
    build, calls = fetch._build_ssl_context, []

    def flaky(bundle: str | None) -> object:
        calls.append(bundle)
        if len(calls) == 1:
            raise ConfigError("fetch_ca_bundle 'cacert.pem' is not a readable PEM bundle: [Errno 24] EMFILE")
        return build(bundle)

    monkeypatch.setattr(fetch, "_build_ssl_context", flaky)
    fetcher = Fetcher(load_settings(env={}))
    with pytest.raises(ConfigError):
        fetcher._ssl_load.result(10)
    assert fetcher._ssl_context.cert_store_stats()["x509_ca"] > 0 and len(calls) == 2


def test_no_thread_for_the_background_load_builds_it_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch, "_SSL_CONTEXTS", {})

    def no_thread(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", no_thread)
    fetcher = Fetcher(load_settings(env={}))
    assert fetcher._ssl_load.done() and fetcher._ssl_context.cert_store_stats()["x509_ca"] > 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_fork_while_the_bundle_loads_gives_a_child_that_can_use_tls() -> None:
    """OpenSSL holds a lock while it parses the bundle: a fork waits for the load, so the child's
    contexts (the parent's fetcher's, or a new one) work instead of waiting for ever."""
    code = ("import os, sys\nfrom archiver.capture.fetch import Fetcher, ssl_context\n"
            "from archiver.config.settings import load_settings\n"
            "fetcher = Fetcher(load_settings(env={}))\npid = os.fork()\n"
            "if pid == 0:\n"
            "    ok = fetcher._ssl_context.cert_store_stats()['x509_ca'] > 0\n"
            "    ok = ok and Fetcher(load_settings(env={}))._ssl_context is not None and ssl_context('') is not None\n"
            "    os._exit(0 if ok else 3)\n"
            "_, status = os.waitpid(pid, 0)\nprint(os.waitstatus_to_exitcode(status))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVER_")}
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)},
                             capture_output=True, text=True, timeout=60, check=True)
        assert out.stdout.strip() == "0", out.stderr


def test_a_load_a_forked_childs_parent_had_not_finished_is_made_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """In a child forked while the load ran (the wait before the fork gave up), the parent's fetcher
    does not wait for ever on a load no thread of the child will finish."""
    monkeypatch.setattr(fetch, "_SSL_CONTEXTS", {})
    release, build = threading.Event(), fetch._build_ssl_context
    monkeypatch.setattr(fetch, "_build_ssl_context", lambda b: release.wait(10) and build(b))
    fetcher = Fetcher(load_settings(env={}))
    pending = fetcher._ssl_load
    fetch._contexts_after_fork()    # as in the child: the pending load is dropped from the table
    monkeypatch.setattr(fetch, "_build_ssl_context", build)
    ctx = fetcher._ssl_context      # made again, here
    assert ctx.cert_store_stats()["x509_ca"] > 0 and fetcher._ssl_load is not pending
    release.set()


PLUGINS = """
import atexit, os, sys
atexit.register(lambda: print("plugins off:", repr(os.environ.get("PYDANTIC_DISABLE_PLUGINS"))))
from archiver.cli.main import console
sys.argv = ["archiver", "--version"]
console()
"""


@pytest.mark.parametrize(("given", "expected"), [(None, "'__all__'"), ("", "''"), ("1", "'1'")])
def test_the_console_loads_no_pydantic_plugins_unless_the_environment_says(given: str | None,
                                                                            expected: str) -> None:
    """A command runs with the variable as the environment gave it, or "__all__" when it gave none."""
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    env["PYTHONPATH"] = str(ROOT)
    if given is not None:
        env["PYDANTIC_DISABLE_PLUGINS"] = given
    proc = subprocess.run([sys.executable, "-c", PLUGINS], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert f"plugins off: {expected}" in proc.stdout, proc.stdout + proc.stderr
