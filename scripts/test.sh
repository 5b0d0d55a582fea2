#!/usr/bin/env bash
# Set up a fresh Debian machine (Python 3.11) and run the whole test suite: lint, types, pytest.
# Idempotent: reuses .venv and skips system packages that are already there.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
missing=()
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)            # data sources come from the npm registry
command -v chromium >/dev/null 2>&1 || missing+=(chromium)        # browser tests (Playwright drives Debian's chromium)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# git-lfs for tests/test_lfs_clone.py, never installed or enabled system-wide: Debian's package unpacked
# into .cache/git-lfs (the test finds it there, or uses one already on PATH).
if ! command -v git-lfs >/dev/null 2>&1 && [ ! -x .cache/git-lfs/usr/bin/git-lfs ]; then
  fetch_git_lfs() {
    local tmp; tmp="$(mktemp -d)"
    (cd "$tmp" && apt-get download git-lfs >/dev/null 2>&1) &&
      dpkg-deb -x "$tmp"/git-lfs_*.deb .cache/git-lfs
    local status=$?; rm -rf "$tmp"; return $status
  }
  mkdir -p .cache/git-lfs
  fetch_git_lfs || { $SUDO apt-get update -qq && fetch_git_lfs; } ||
    echo "could not fetch git-lfs: tests/test_lfs_clone.py will try again, or skip"
fi

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -r requirements-dev.txt
.venv/bin/pip install -q --no-deps -e .

# lint and types: a failure fails the run, after the tests have run too (a `&&` list would not stop `set -e`)
checks=0
echo "== ruff"
.venv/bin/ruff check src tests app.py scripts experiments || checks=1
.venv/bin/ruff format --check src tests app.py scripts experiments || checks=1
echo "== mypy"; .venv/bin/mypy || checks=1
echo "== pytest"
set +e
# every tier: -m "" overrides the fast-tier selection in pyproject's addopts (a later -m in "$@" wins)
.venv/bin/python -m pytest -m "" "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then echo "pytest collected no tests"; status=0; fi
if [ "$status" -eq 0 ] && [ "$checks" -ne 0 ]; then echo "ruff or mypy failed (above)"; status=1; fi
exit "$status"
