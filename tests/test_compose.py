"""docker-compose.yml cannot run here (no Docker engine): check its shape and that its commands exist."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from archiver.cli.main import build_parser

ROOT = Path(__file__).resolve().parent.parent


def _subcommands() -> set[str]:
    parser = build_parser()
    for action in parser._actions:  # argparse keeps subparsers here
        if hasattr(action, "choices") and isinstance(action.choices, dict):
            return set(action.choices)
    raise AssertionError("no subcommands")


def test_compose_has_the_production_shape() -> None:
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = doc["services"]
    assert {"redis", "s3", "postgres", "api", "worker", "beat"} <= set(services)
    for name in ("api", "worker", "beat"):
        env = services[name]["environment"]
        assert env["ARCHIVER_BROKER_URL"].startswith("redis://redis")
        assert env["ARCHIVER_STORAGE"].startswith("s3://")
        assert env["ARCHIVER_CATALOG"].startswith("postgresql://")


def test_every_compose_command_exists_in_the_package() -> None:
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
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
