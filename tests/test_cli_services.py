"""The long-running commands check what they need before they start (issue 17): `archiver serve` asks the
catalog and storage, `archiver worker` those and the broker, `archiver beat` the broker; one that does not
answer is one line and exit 2, not a service that starts and reports itself healthy. /readyz is the
readiness check (catalog and storage answer, else 503 JSON); /healthz stays liveness. `archiver beat
--check` is the beat's healthcheck: broker answers, schedule file recently written."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from archiver.web.app import create_app

ARCHIVER = [sys.executable, "-m", "archiver.cli"]
SECRET = "s3cretpw"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVER_")}
    return {**env, "ARCHIVER_HOME": str(tmp_path / "home"), **extra}


def _one_line(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert SECRET not in lines[0]
    return lines[0]


@pytest.mark.parametrize(("command", "variable", "value", "service"), [
    (["serve", "--port", "{port}"], "ARCHIVER_CATALOG", "postgresql://archiver:" + SECRET + "@127.0.0.1:{closed}/x",
     "the catalog"),
    (["serve", "--port", "{port}"], "ARCHIVER_STORAGE", "s3://bucket/p", "s3://bucket/p"),
    (["beat", "--wait-for", "0"], "ARCHIVER_BROKER_URL", "redis://:" + SECRET + "@127.0.0.1:{closed}/0",
     "the broker"),
    (["worker", "--wait-for", "0"], "ARCHIVER_BROKER_URL", "redis://:" + SECRET + "@127.0.0.1:{closed}/0",
     "the broker"),
    (["worker", "--wait-for", "0"], "ARCHIVER_CATALOG", "postgresql://archiver:" + SECRET + "@127.0.0.1:{closed}/x",
     "the catalog"),
])
def test_a_long_running_command_refuses_to_start_without_its_services(
        command: list[str], variable: str, value: str, service: str, tmp_path: Path, redis_url: str) -> None:
    closed = _closed_port()
    given = {"ARCHIVER_BROKER_URL": redis_url, "ARCHIVER_S3_ENDPOINT_URL": f"http://127.0.0.1:{closed}",
             "ARCHIVER_S3_ACCESS_KEY": "k", "ARCHIVER_S3_SECRET_KEY": SECRET, "ARCHIVER_FETCH_RETRIES": "0",
             variable: value.format(closed=closed)}
    env = _env(tmp_path, **given)
    argv = [a.format(port=_closed_port()) for a in command]
    start = time.monotonic()
    out = subprocess.run([*ARCHIVER, *argv], env=env, capture_output=True, text=True, timeout=120)
    line = _one_line(out)
    assert service in line and ("did not answer" in line or "Could not connect" in line), line
    assert time.monotonic() - start < 90


def test_readyz_says_503_when_the_catalog_does_not_answer_and_healthz_stays_live(tmp_settings: Any) -> None:
    settings = tmp_settings(catalog=f"postgresql://archiver:{SECRET}@127.0.0.1:{_closed_port()}/x")
    with TestClient(create_app(settings)) as client:
        live = client.get("/healthz")
        ready = client.get("/readyz")
        head = client.head("/readyz")
    assert live.status_code == 200 and live.json()["status"] == "ok"
    assert ready.status_code == 503 and head.status_code == 503
    assert ready.json() == {"detail": "not ready: the catalog did not answer", "status": "not ready",
                            "checks": {"catalog": "did not answer", "storage": "ok"}}
    assert SECRET not in ready.text and ready.headers["cache-control"] == "no-store"


def test_readyz_is_200_when_catalog_and_storage_answer(tmp_settings: Any) -> None:
    with TestClient(create_app(tmp_settings())) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"catalog": "ok", "storage": "ok"}}


def test_beat_check_reads_the_schedule_files_age(tmp_path: Path, redis_url: str) -> None:
    env = _env(tmp_path, ARCHIVER_BROKER_URL=redis_url)
    out = subprocess.run([*ARCHIVER, "beat", "--check"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "no schedule file" in out.stderr, out.stderr
    schedule = tmp_path / "home" / "beat" / "celerybeat-schedule.db"
    schedule.write_bytes(b"x")
    out = subprocess.run([*ARCHIVER, "beat", "--check"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    old = time.time() - 3600
    os.utime(schedule, (old, old))
    out = subprocess.run([*ARCHIVER, "beat", "--check", "--max-age", "600"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 1 and "stuck or stopped" in out.stderr, out.stderr
    closed = _env(tmp_path, ARCHIVER_BROKER_URL=f"redis://127.0.0.1:{_closed_port()}/0")
    os.utime(schedule)
    out = subprocess.run([*ARCHIVER, "beat", "--check"], env=closed, capture_output=True, text=True, timeout=60)
    assert "the broker" in _one_line(out)


def test_a_worker_or_beat_waits_for_a_service_still_starting_then_gives_up_in_one_line(tmp_path: Path) -> None:
    """`wait_until_answering`: a service that answers on the third ask is waited for (one "waiting" line);
    a configuration error is raised at once; one that never answers is its own error after the bound."""
    from archiver.cli.service import wait_until_answering
    from archiver.errors import ConfigError

    asks: list[float] = []

    def comes_up() -> None:
        asks.append(time.monotonic())
        if len(asks) < 3:
            raise ConnectionRefusedError(111, "Connection refused")

    wait_until_answering("archiver worker", "the broker", comes_up, 10.0)
    assert len(asks) == 3 and asks[-1] - asks[0] >= 1.0  # paused 0.5 s, then 1 s

    def misconfigured() -> None:
        asks.append(time.monotonic())
        raise ConfigError("ARCHIVER_BROKER_URL must be a redis:// URL")

    asks.clear()
    with pytest.raises(ConfigError):
        wait_until_answering("archiver beat", "the broker", misconfigured, 10.0)
    assert len(asks) == 1

    def never() -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    start = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        wait_until_answering("archiver beat", "the broker", never, 2.0)
    assert 1.0 <= time.monotonic() - start <= 3.0
