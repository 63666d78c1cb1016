#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then lints and runs the whole test suite.
# The suite starts its own Redis, SeaweedFS (S3) and PostgreSQL on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
# Two processes per core, at most eight (pytest-xdist), each taking whole test files and starting its own
# servers: most tests wait on servers, browsers and subprocesses rather than on the CPU, so four share two
# cores well (about 8 min on a slow two-core machine, against 9.5 with three and 15 with one).
workers=$(( $(nproc) * 2 ))
(( workers > 8 )) && workers=8
exec .venv/bin/python -m pytest -q -n "$workers" --dist loadfile "$@"
