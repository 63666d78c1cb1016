#!/usr/bin/env bash
# Sets archiver up on a fresh Debian/Ubuntu machine with Python 3.11+: the OS packages the tests
# and the demo need (Redis, PostgreSQL, fonts), a virtual environment in .venv and the package.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
python_bin="$(command -v python3.11 || command -v python3)"
"$python_bin" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "setup: Python 3.11+ is required (found $("$python_bin" --version))" >&2; exit 1; }
"$python_bin" -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
# openssl: the tests' local time-stamping authority answers with `openssl ts -reply` (tests/harness/tsa.py).
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# Headless browser for the web UI tests (driven by Playwright through executable_path).
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# npm: the browser tests check every page with axe-core, installed from the npm registry below.
command -v npm >/dev/null 2>&1 || missing+=(npm)
# Fonts covering Latin, Devanagari, Arabic, Chinese/Japanese/Korean and emoji, for pages and the PNG cards.
# libfribidi0: Pillow's bundled raqm loads it to shape Arabic and Devanagari in the cards.
for pkg in fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji fonts-dejavu-core libfribidi0; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]} from apt"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

[ -x .venv/bin/python ] || "$python_bin" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
# pywb, the web archive replayer the evidence tests replay a bundle in (tests/test_wacz.py), pins
# redis 2.10 and an older pyOpenSSL, which cannot share .venv with the redis extra and cryptography:
# it gets a virtual environment of its own (ARCHIVER_PYWB_BIN points the tests elsewhere).
if [ ! -x .venv-pywb/bin/wayback ]; then
  [ -x .venv-pywb/bin/python ] || "$python_bin" -m venv .venv-pywb
  .venv-pywb/bin/python -m pip install -q 'pywb>=2.9,<2.11'
fi
# axe-core, the accessibility checker the browser tests run on every page (tests/browser_kit.py),
# pinned, into .cache/axe (ARCHIVER_AXE_JS points the tests at another axe.min.js).
if [ ! -f .cache/axe/node_modules/axe-core/axe.min.js ]; then
  mkdir -p .cache/axe
  npm install --silent --no-audit --no-fund --prefix .cache/axe axe-core@4.14.1 >/dev/null
fi
# Bytecode for the package, written now: an editable install compiles nothing, and where
# PYTHONDONTWRITEBYTECODE is set (as on CI machines) every `archiver` command would otherwise compile
# every module it imports again (about 0.1 s a start). Python reads these even then.
.venv/bin/python -m compileall -q -j 0 archiver workers >/dev/null
echo "setup: ready (.venv/bin/archiver)"
