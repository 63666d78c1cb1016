"""docker-compose.yml cannot run here (no Docker engine): check its shape (shared settings, healthchecks,
readiness, a home the image's user can write, the first token documented) and that its commands exist;
and run `archiver beat` for real on Redis, as compose runs it."""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from archiver.cli.main import build_parser
from tests.harness.celery_worker import settings_env

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("api", "worker", "beat")


def _compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return doc


def _subcommands() -> set[str]:
    parser = build_parser()
    for action in parser._actions:  # argparse keeps subparsers here
        if hasattr(action, "choices") and isinstance(action.choices, dict):
            return set(action.choices)
    raise AssertionError("no subcommands")


def test_compose_has_the_production_shape() -> None:
    services = _compose()["services"]
    assert {"redis", "s3", "postgres", "api", "worker", "beat"} <= set(services)
    envs = [services[name]["environment"] for name in APP_SERVICES]
    for env in envs:
        assert env["ARCHIVER_BROKER_URL"].startswith("redis://redis")
        assert env["ARCHIVER_STORAGE"].startswith("s3://")
        assert env["ARCHIVER_CATALOG"].startswith("postgresql://")
    # workers, submit and serve share storage, catalog and broker: one set of settings for all three
    assert envs[0] == envs[1] == envs[2]


def test_every_service_waits_for_what_it_needs_to_be_healthy() -> None:
    services = _compose()["services"]
    for name in ("redis", "s3", "postgres", "api"):
        check = services[name].get("healthcheck") or {}
        assert check.get("test"), f"{name} has no healthcheck"
    for name in APP_SERVICES:
        needs = services[name]["depends_on"]
        assert isinstance(needs, dict), f"{name}: depends_on must name conditions, not only an order"
        assert set(needs) == {"redis", "s3", "postgres"}, name
        assert {v["condition"] for v in needs.values()} == {"service_healthy"}, name


def test_the_home_and_the_beat_schedule_are_writable_by_the_image_user() -> None:
    """The image runs as `nobody`: its home (where `archiver beat` keeps its schedule, and the signing key)
    must be a folder `nobody` owns, mounted as a volume, not a root-owned folder of the image."""
    docker = (ROOT / "Dockerfile").read_text()
    users = [line.split()[1] for line in docker.splitlines() if line.startswith("USER ")]
    assert users and users[-1] == "nobody"
    doc = _compose()
    home = doc["services"]["beat"]["environment"]["ARCHIVER_HOME"]
    assert f"chown nobody:nogroup {home}" in docker, "the Dockerfile must give the home folder to nobody"
    assert f"ENV ARCHIVER_HOME={home}" in docker
    for name in APP_SERVICES:
        mounts = doc["services"][name].get("volumes") or []
        volume = [m.split(":")[0] for m in mounts if m.split(":")[1] == home]
        assert volume and volume[0] in doc["volumes"], f"{name}: the home must be a named volume"
    beat = doc["services"]["beat"]["command"]
    assert beat[:2] == ["archiver", "beat"]
    if "--schedule" in beat:  # a schedule given elsewhere must be under the home or /tmp
        where = beat[beat.index("--schedule") + 1]
        assert where.startswith((home + "/", "/tmp/")), where


def test_the_first_token_is_documented() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    line = "docker compose run --rm api archiver token create --role admin"
    assert line in text and line in readme
    build_parser().parse_args(["token", "create", "--role", "admin", "--name", "ops"])


def test_every_compose_command_exists_in_the_package() -> None:
    doc = _compose()
    subcommands = _subcommands()
    checked = 0
    for name, svc in doc["services"].items():
        if "build" not in svc:
            continue
        cmd = svc["command"]
        if cmd[0] == "archiver":
            assert cmd[1] in subcommands, f"{name}: archiver {cmd[1]} does not exist"
            # The parser accepts the whole command line as written.
            build_parser().parse_args(cmd[1:])
        elif cmd[0] == "celery":
            app_module = cmd[cmd.index("-A") + 1]
            importlib.import_module(app_module)
            sub = cmd[cmd.index("-A") + 2]
            celery = shutil.which("celery", path=str(Path(sys.executable).parent))
            assert celery, "celery is not installed beside this Python"
            out = subprocess.run([celery, "-A", app_module, sub, "--help"], capture_output=True, text=True,
                                 timeout=60)
            assert out.returncode == 0, f"{name}: {' '.join(cmd)}: {out.stderr[-500:]}"
        else:
            raise AssertionError(f"{name}: unknown command {cmd[0]}")
        checked += 1
    assert checked == 3


def test_docker_compose_config_accepts_the_file_where_docker_compose_exists() -> None:
    """`docker compose config` validates the file against the Compose specification; where there is no
    compose plugin (this machine), the YAML checks above are what holds."""
    docker = shutil.which("docker")
    if docker is None:
        return
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return
    out = subprocess.run([docker, "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


@pytest.mark.integration
def test_archiver_beat_runs_the_schedule_and_writes_it_under_the_home(tmp_settings: Any, redis_url: str,
                                                                      tmp_path: Path) -> None:
    """`archiver beat` (the compose beat's command) starts Celery beat on the broker with the project's
    schedule, keeps its schedule file under <home>/beat, queues the sweep, and stops on SIGTERM."""
    import redis

    settings = tmp_settings(broker_url=redis_url, home=str(tmp_path / "home"), sweep_interval=1.0)
    client = redis.Redis.from_url(redis_url)
    client.delete("archiver")
    log = tmp_path / "beat.log"
    proc = subprocess.Popen([sys.executable, "-m", "archiver.cli", "beat"], cwd=ROOT, env=settings_env(settings),
                            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            queued = [m for m in client.lrange("archiver", 0, -1) if b"archiver.sweep" in m]
            if queued and list((tmp_path / "home" / "beat").glob("celerybeat-schedule*")):
                break
            time.sleep(0.5)
        assert proc.poll() is None, log.read_text()[-2000:]
        assert list((tmp_path / "home" / "beat").glob("celerybeat-schedule*")), log.read_text()[-2000:]
        assert [m for m in client.lrange("archiver", 0, -1) if b"archiver.sweep" in m], log.read_text()[-2000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
    assert proc.returncode is not None


def test_archiver_beat_refuses_a_schedule_it_cannot_write(tmp_path: Path) -> None:
    env = {**os.environ, "ARCHIVER_HOME": str(tmp_path / "home")}
    for where, message in ((str(tmp_path / "nope" / "schedule"), "no such directory"),
                           (str(tmp_path), "is a directory")):
        out = subprocess.run([sys.executable, "-m", "archiver.cli", "beat", "--schedule", where], env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 2 and message in out.stderr and len(out.stderr.splitlines()) == 1, out.stderr


def test_the_api_healthcheck_is_readiness_and_beat_has_one() -> None:
    """The API is healthy only while the catalog and storage answer (/readyz, not the liveness /healthz);
    the beat's healthcheck is `archiver beat --check`, a command line the parser accepts."""
    services = _compose()["services"]
    api = " ".join(services["api"]["healthcheck"]["test"])
    assert "/readyz" in api and "/healthz" not in api
    beat = services["beat"]["healthcheck"]["test"]
    assert beat[:4] == ["CMD", "archiver", "beat", "--check"]
    build_parser().parse_args(beat[2:])
    for name in ("worker", "beat"):
        assert services[name]["healthcheck"]["test"], name


def test_the_placeholders_to_change_are_marked_and_the_readme_names_them() -> None:
    """Every secret and the public address are marked `# CHANGE ME` on their line, and the README says
    which ones to change."""
    lines = (ROOT / "docker-compose.yml").read_text().splitlines()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in ("ARCHIVER_PUBLIC_BASE_URL", "ARCHIVER_S3_SECRET_KEY", "ARCHIVER_CATALOG", "POSTGRES_PASSWORD"):
        line = next(x for x in lines if x.strip().startswith(f"{name}:"))
        assert "# CHANGE ME" in line, line
        assert f"`{name}`" in readme, name
    assert all("# CHANGE ME" in x for x in lines if "change-me" in x.split("#")[0])
