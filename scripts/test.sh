#!/usr/bin/env bash
# Run the whole test suite: dependencies, lint, formatting, type checks, then pytest.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k seaweedfs -x`.
# Needs Redis and PostgreSQL running (bash .ci/run starts them); see docs/testing.md.
set -euo pipefail
cd "$(dirname "$0")/.."

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"

step() { printf '\n==> %s\n' "$*"; }

# --locked installs exactly what uv.lock pins and fails when the lock no longer
# matches pyproject.toml, so CI never tests against silently re-resolved versions.
step "uv sync --locked"
uv sync --locked
step "ruff check"
uv run --no-sync ruff check .
step "ruff format --check"
uv run --no-sync ruff format --check .
step "mypy"
uv run --no-sync mypy
step "pytest"
uv run --no-sync pytest "$@"
