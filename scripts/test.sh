#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then lints and runs the whole test suite.
# The suite starts its own Redis, SeaweedFS (S3) and PostgreSQL on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -q "$@"
