#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then lints and runs the whole test suite.
# The suite starts its own Redis, SeaweedFS (S3) and PostgreSQL on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
# Three processes (pytest-xdist), each taking whole test files: most tests wait on servers, browsers and
# subprocesses rather than on the CPU, so three share the two cores well (about 7 min against 15).
exec .venv/bin/python -m pytest -q -n 3 --dist loadfile "$@"
