"""What each install mode needs is declared, and a plain install of each mode runs.

The base install (`pip install archiver`) is the embedded mode: a local directory, a SQLite catalog,
the local runner, `archiver archive`, `demo`, `serve`. The extras add the other modes: `redis`
(Celery workers on Redis, and queueing to them), `s3` (S3 storage), `postgres` (the PostgreSQL
catalog). A mode asked for without its extra is one line naming the extra, exit 2.

The static tests read pyproject.toml and the package's imports with `ast`. The integration tests
build fresh virtual environments from a copy of the package's files with the runtime dependencies
only (no test extras: they would hide a missing one, as they hid kombu's need of `packaging`), and
run the installed `archiver` outside the repository.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from packaging.requirements import Requirement

from archiver.config.settings import Settings
from archiver.runtime import Runtime
from archiver.steps.prepare import load_plan
from archiver.steps.results import load_result
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture, make_image
from tests.harness.celery_worker import settings_env
from tests.harness.services import free_port

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SAMPLE = ROOT / "archiver" / "samples" / "demo-article.html"
TWEET = "1945048830047662087"
# Imported directly, but the foundation of another declared distribution, which pins its versions.
COMES_WITH = {"pydantic_core": "pydantic", "botocore": "boto3", "starlette": "fastapi"}
# What each extra's mode imports that the base install must not have.
EXTRA_MODULES = {"redis": ("celery", "kombu", "redis"), "s3": ("boto3", "botocore"), "postgres": ("psycopg",)}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(key: str | None) -> set[str]:
    """Distribution names (normalized) of the base dependencies (None) or of one extra, its own
    `archiver[...]` references expanded."""
    reqs = PYPROJECT["project"]["dependencies"] if key is None else PYPROJECT["project"]["optional-dependencies"][key]
    out: set[str] = set()
    for text in reqs:
        req = Requirement(text)
        if _norm(req.name) == "archiver":
            for extra in req.extras:
                out |= _requirements(extra)
        else:
            out.add(_norm(req.name))
    return out


RUNTIME_EXTRAS = sorted(set(PYPROJECT["project"]["optional-dependencies"]) - {"test"})
BASE = _requirements(None)
EXTRAS = {extra: _requirements(extra) for extra in RUNTIME_EXTRAS}


def _third_party_imports(path: Path) -> Iterator[tuple[str, int, bool]]:
    """(top-level module, line, at module level) of each absolute import of `path` that is neither the
    standard library nor archiver/workers; imports under `if TYPE_CHECKING:` never run and are left out."""
    tree = ast.parse(path.read_text(), str(path))

    def walk(node: ast.AST, top: bool) -> Iterator[tuple[str, int, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                yield from (x for stmt in child.orelse for x in walk_stmt(stmt, top))
                continue
            yield from walk_stmt(child, top)

    def walk_stmt(node: ast.AST, top: bool) -> Iterator[tuple[str, int, bool]]:
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [node.module]
        else:
            inner = top and not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            yield from walk(node, inner)
            return
        for name in names:
            module = name.split(".")[0]
            if module not in sys.stdlib_module_names and module not in ("archiver", "workers", "__future__"):
                yield module, node.lineno, top

    yield from walk(tree, True)


@functools.cache
def _distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def _distribution(module: str) -> str:
    found = _distributions().get(module)
    assert found, f"{module} is imported but no installed distribution provides it"
    return _norm(found[0])


def _sources(*packages: str) -> Iterator[Path]:
    for package in packages:
        yield from sorted((ROOT / package).rglob("*.py"))


# --- what is declared ------------------------------------------------------------------------------

def test_the_extras_are_the_modes() -> None:
    assert RUNTIME_EXTRAS == ["postgres", "redis", "s3"]
    assert {"celery", "kombu", "redis"} <= EXTRAS["redis"]
    assert EXTRAS["s3"] == {"boto3"}
    assert EXTRAS["postgres"] == {"psycopg"}
    assert not BASE & {"celery", "kombu", "redis", "boto3", "psycopg"}
    # kombu's Redis transport imports `packaging`, which only kombu's (or celery's) redis extra brings.
    redis_reqs = [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"]["redis"]]
    assert any(_norm(r.name) in ("celery", "kombu") and "redis" in r.extras for r in redis_reqs)


def test_the_test_extras_include_every_runtime_extra() -> None:
    assert set().union(*EXTRAS.values()) <= _requirements("test")


def test_every_third_party_import_is_declared() -> None:
    declared = BASE.union(*EXTRAS.values())
    undeclared = []
    for path in _sources("archiver", "workers"):
        for module, line, _top in _third_party_imports(path):
            dist = _norm(COMES_WITH.get(module, _distribution(module)))
            if dist not in declared:
                undeclared.append(f"{path.relative_to(ROOT)}:{line} {module} ({dist})")
    assert undeclared == []


def test_the_library_imports_no_extra_at_module_level() -> None:
    """A module-level import of an extra's package would break every base-install command that loads
    the module; the extras are imported where their mode starts (and name the extra when missing).
    workers/ is the worker mode itself."""
    only_extras = set().union(*EXTRAS.values()) - BASE
    offenders = []
    for path in _sources("archiver"):
        for module, line, top in _third_party_imports(path):
            if top and _norm(COMES_WITH.get(module, _distribution(module))) in only_extras:
                offenders.append(f"{path.relative_to(ROOT)}:{line} {module}")
    assert offenders == []


def test_the_import_scan_sees_each_kind_of_import(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text("from typing import TYPE_CHECKING\nimport redis.client\nfrom kombu import Queue\n"
                   "from archiver import errors\nimport os\nif TYPE_CHECKING:\n    import psycopg\n"
                   "def f():\n    import boto3\nclass C:\n    import celery\n")
    assert list(_third_party_imports(src)) == [("redis", 2, True), ("kombu", 3, True), ("boto3", 9, False),
                                               ("celery", 11, True)]


def test_the_dockerfile_installs_the_extras_compose_names() -> None:
    text = (ROOT / "Dockerfile").read_text()
    installs = re.findall(r"pip install [^\n]*?'?\.\[([a-z0-9_,-]+)\]'?", text)
    assert installs, "the Dockerfile installs the package with its extras"
    installed = {e for group in installs for e in group.split(",")}
    assert installed <= set(RUNTIME_EXTRAS)
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    needed = set()
    for svc in compose["services"].values():
        env = svc.get("environment") or {}
        if env.get("ARCHIVER_BROKER_URL", "").startswith(("redis://", "rediss://")):
            needed.add("redis")
        if env.get("ARCHIVER_STORAGE", "").startswith("s3://"):
            needed.add("s3")
        if env.get("ARCHIVER_CATALOG", "").startswith(("postgresql://", "postgres://")):
            needed.add("postgres")
    assert needed == {"redis", "s3", "postgres"}
    assert needed <= installed


# --- fresh installs -----------------------------------------------------------------------------------

@dataclass
class Venv:
    """A virtual environment holding an installed copy of the package, and a work dir outside the repo."""

    root: Path
    work: Path
    seconds: float  # how long `pip install` took

    @property
    def python(self) -> str:
        return str(self.root / "bin" / "python")

    @property
    def archiver(self) -> str:
        return str(self.root / "bin" / "archiver")

    def env(self, **archiver: str) -> dict[str, str]:
        """This process's environment without ARCHIVER_*, Python path, bytecode or virtualenv settings,
        and without the test venv's bin/ on PATH, plus the given ARCHIVER_* variables."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("ARCHIVER_")
               and k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE")}
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                      if p and not p.startswith(sys.prefix))
        env["ARCHIVER_HOME"] = str(self.work / "home")
        return {**env, **archiver}

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([self.archiver, *args], env=env or self.env(), cwd=self.work, capture_output=True,
                              text=True, timeout=timeout)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package built once as a wheel (from a copy of its files, so no build output lands in the
    repo), as `pip install <source dir>` builds it before installing; both venvs install this file."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for package in ("archiver", "workers"):
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "--no-deps",
                          "-w", str(base / "dist"), str(src)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    (built,) = (base / "dist").glob("archiver-*.whl")
    return built


def _make_venv(base: Path, wheel: Path, extras: str) -> Venv:
    """A venv with the package's wheel and the given extras ("" or "[redis]"): the runtime dependencies
    only, resolved from the package's metadata as `pip install archiver{extras}` resolves them.

    The venv has no pip of its own: this suite's pip (the one scripts/setup.sh upgraded) installs into
    it with ``--python``, as a user's current pip would; the pip a new venv bundles is older and takes
    about three times as long to resolve the same requirements. ``--no-compile``: the thousands of
    modules installed are not compiled ahead; the few hundred a command imports are compiled on first
    import and their bytecode kept (``Venv.env`` lets Python write it), as in a user's venv."""
    root, work = base / "venv", base / "work"
    work.mkdir(parents=True)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "pip", "--python", str(root / "bin" / "python"), "install", "-q",
                          "--disable-pip-version-check", "--no-compile", f"{wheel}{extras}"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    venv = Venv(root, work, time.monotonic() - start)
    print(f"pip install archiver{extras}: {venv.seconds:.1f} s")
    where = subprocess.run([venv.python, "-c", "import archiver, workers; print(archiver.__file__, workers.__file__)"],
                           cwd=work, env=venv.env(), capture_output=True, text=True, timeout=60)
    assert where.returncode == 0, where.stderr
    assert all(p.startswith(str(root)) for p in where.stdout.split()), where.stdout  # the copy, not the repo
    return venv


@pytest.fixture(scope="module")
def base_venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Venv:
    return _make_venv(tmp_path_factory.mktemp("base-install"), wheel, "")


@pytest.fixture(scope="module")
def redis_venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Venv:
    return _make_venv(tmp_path_factory.mktemp("redis-install"), wheel, "[redis]")


def _importable(venv: Venv, modules: tuple[str, ...]) -> dict[str, bool]:
    code = ("import importlib.util, json, sys; "
            "print(json.dumps({m: importlib.util.find_spec(m) is not None for m in sys.argv[1:]}))")
    out = subprocess.run([venv.python, "-c", code, *modules], cwd=venv.work, env=venv.env(), capture_output=True,
                         text=True, timeout=60, check=True)
    return json.loads(out.stdout)


@pytest.mark.integration
def test_the_base_install_has_none_of_the_extras(base_venv: Venv) -> None:
    modules = tuple(m for ms in EXTRA_MODULES.values() for m in ms)
    assert _importable(base_venv, modules) == dict.fromkeys(modules, False)


@pytest.mark.integration
def test_the_base_install_runs_the_demo(base_venv: Venv) -> None:
    out = base_venv.run("demo", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["version"] == 1
    assert [e["status"] for e in report["embeds"]] == ["archived"]
    assert report["images"] and {i["status"] for i in report["images"]} == {"archived"}
    rewritten = Path(report["rewritten"])
    assert rewritten.is_file() and rewritten.is_relative_to(base_venv.work / "home")
    assert "Traceback" not in out.stderr


@pytest.mark.integration
def test_the_base_install_archives_a_file_and_serves_the_publish_hook(base_venv: Venv, tmp_path: Path) -> None:
    """`archiver archive` on a file, then `archiver serve`: the publish hook archives in the API process
    (no Redis client installed: mode "embedded"), and the article gets its version."""
    images = {"/img/a.jpg": make_image("a", 320, 200)}
    with FixtureOrigin(tweets=[], images=images) as origin:
        env = base_venv.env(**{f"ARCHIVER_{k.upper()}": v for k, v in origin.settings_overrides().items()},
                            ARCHIVER_HOME=str(tmp_path / "home"))
        page = tmp_path / "page.html"
        page.write_text(f'<p><img src="{origin.url("/img/a.jpg")}" alt="a"></p>\n')
        out = base_venv.run("archive", str(page), "--article-id", "cli", "--json", env=env)
        assert out.returncode == 0, out.stderr
        assert [i["status"] for i in json.loads(out.stdout)["images"]] == ["archived"]

        token = base_venv.run("token", "create", "--role", "admin", env=env)
        assert token.returncode == 0, token.stderr
        headers = {"Authorization": f"Bearer {token.stdout.split()[-1]}", "Content-Type": "application/json"}
        port = free_port()
        log = (tmp_path / "serve.log").open("wb")
        server = subprocess.Popen([base_venv.archiver, "serve", "--port", str(port)], cwd=base_venv.work, env=env,
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_for(lambda: _get(f"{base}/healthz") is not None, 30, "archiver serve did not answer /healthz")
            body = json.dumps({"article_id": "hook", "html": page.read_text(), "url": "https://news.example/a"})
            req = urllib.request.Request(f"{base}/v1/articles", data=body.encode(), headers=headers, method="POST")
            with urllib.request.urlopen(req, timeout=30) as resp:
                assert resp.status == 202
                job = json.loads(resp.read())
            assert job["mode"] == "embedded" and job["queued"] is True
            state: dict[str, Any] = {}

            def versioned() -> bool:
                state.update(_get(f"{base}/v1/articles/hook", headers) or {})
                return bool(state.get("versions"))

            _wait_for(versioned, 60, "the publish hook's article got no version")
            assert [i["status"] for i in state["items"]] == ["archived"]
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=20)
            log.close()
        assert "Traceback" not in (tmp_path / "serve.log").read_text()


def _get(url: str, headers: dict[str, str] | None = None) -> Any:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as resp:
            return json.loads(resp.read())
    except OSError:
        return None


def _wait_for(check: Callable[[], bool], seconds: float, message: str) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(message)


MISSING_EXTRA_CASES = [
    ("postgres", {"ARCHIVER_CATALOG": "postgresql://archiver:s3cret-pw@127.0.0.1:9/archiver"}, ["search", "x"]),
    ("postgres", {"ARCHIVER_CATALOG": "postgresql://archiver:s3cret-pw@127.0.0.1:9/archiver"},
     ["serve", "--port", "9"]),
    ("s3", {"ARCHIVER_STORAGE": "s3://archive/prod"}, ["archive", str(SAMPLE)]),
    ("redis", {"ARCHIVER_BROKER_URL": "redis://127.0.0.1:9/0"}, ["worker"]),
    ("redis", {}, ["submit", str(SAMPLE), "--article-id", "x"]),
]


@pytest.mark.integration
@pytest.mark.parametrize(("extra", "settings", "argv"), MISSING_EXTRA_CASES,
                         ids=[f"{c[0]}-{c[2][0]}" for c in MISSING_EXTRA_CASES])
def test_a_mode_without_its_extra_is_one_line_naming_it(base_venv: Venv, extra: str, settings: dict[str, str],
                                                        argv: list[str]) -> None:
    out = base_venv.run(*argv, env=base_venv.env(**settings), timeout=60)
    assert out.returncode == 2, (out.returncode, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("archiver: error: ")
    assert f"pip install 'archiver[{extra}]'" in lines[0]
    assert "s3cret-pw" not in out.stderr
    assert out.stdout == ""


@pytest.fixture
def origin() -> Iterator[FixtureOrigin]:
    tweets = [TweetFixture(id=TWEET, handle="ANI", name="ANI", text="भारत और रूस: Lavrov meets Jaishankar",
                           lang="hi", photos=[{"name": "p1.jpg", "alt": "handshake", "width": 640, "height": 400}],
                           media_code="HA2sQBIEQc")]
    images = {f"/img/{i}.jpg": make_image(f"img{i}", 320, 200) for i in range(2)}
    with FixtureOrigin(tweets=tweets, images=images) as o:
        yield o


@pytest.mark.integration
def test_the_redis_extra_runs_a_worker_that_archives(redis_venv: Venv, redis_url: str, origin: FixtureOrigin,
                                                     tmp_settings: Callable[..., Settings], tmp_path: Path) -> None:
    """`pip install archiver[redis]`, then `archiver worker` (its venv's bin/ not on PATH) on Redis: the
    worker comes up, answers a ping, and archives an article `archiver submit --wait` queued."""
    broker = redis_url.rsplit("/", 1)[0] + "/11"  # a database of its own: no other test's messages
    redis.Redis.from_url(broker).flushdb()
    settings = tmp_settings(broker_url=broker, public_base_url="https://archive.example/media",
                            catalog=f"sqlite:///{tmp_path / 'catalog.sqlite3'}", **origin.settings_overrides())
    env = {**redis_venv.env(), **{k: v for k, v in settings_env(settings).items() if k.startswith("ARCHIVER_")}}
    log_path = tmp_path / "worker.log"
    log = log_path.open("wb")
    worker = subprocess.Popen([redis_venv.archiver, "worker", "--concurrency", "1"], cwd=redis_venv.work, env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def ready() -> bool:
            assert worker.poll() is None, f"the worker exited: {log_path.read_text()[-3000:]}"
            return " ready." in log_path.read_text()

        _wait_for(ready, 60, f"the worker did not come up: {log_path.read_text()[-3000:]}")
        # `archiver worker` supervises the Celery worker: its child is this venv's `python -m celery`
        # (not whatever `celery` is on PATH).
        children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
        assert len(children) == 1, children
        cmdline = Path(f"/proc/{children[0]}/cmdline").read_bytes().split(b"\0")
        assert [c.decode() for c in cmdline[:3]] == [redis_venv.python, "-m", "celery"]
        ping = subprocess.run([redis_venv.python, "-m", "celery", "-A", "workers.app", "inspect", "ping",
                               "--timeout", "10"], cwd=redis_venv.work, env=env, capture_output=True, text=True,
                              timeout=60)
        assert ping.returncode == 0 and "pong" in ping.stdout, ping.stdout + ping.stderr

        page = tmp_path / "story.html"
        imgs = "".join(f'<p><img src="{origin.url(f"/img/{i}.jpg")}" alt="photo {i}"></p>\n' for i in range(2))
        page.write_bytes((
            "<html><body><h1>तियानजिन में जयशंकर-लावरोव वार्ता</h1>\n" + imgs +
            '<blockquote class="twitter-tweet"><p lang="hi" dir="ltr">भारत और रूस: Lavrov meets Jaishankar '
            '<a href="https://t.co/HA2sQBIEQc">pic.twitter.com/HA2sQBIEQc</a></p>&mdash; ANI (@ANI) '
            f'<a href="https://twitter.com/ANI/status/{TWEET}">July 15, 2025</a></blockquote>\n</body></html>\n'
        ).encode())
        out = redis_venv.run("submit", str(page), "--article-id", "installed", "--wait", "90", "--json", env=env,
                             timeout=150)
        assert out.returncode == 0, out.stderr + log_path.read_text()[-3000:]
        job = json.loads(out.stdout)
        assert job["queued"] is True and job["version"] == 1
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
            raise AssertionError("the worker did not stop on SIGTERM within 30 s") from None
        log.close()
    with Runtime.from_settings(settings) as rt:
        plan = load_plan(rt, "installed", job["source_sha256"])
        statuses = sorted((it.kind, load_result(rt, plan, it.item_id).status) for it in plan.items)
        assert statuses == [("embed", "archived"), ("image", "archived"), ("image", "archived")]
    assert "Traceback" not in log_path.read_text()
