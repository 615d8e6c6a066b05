#!/usr/bin/env bash
# The project's test command (see README): starts the services tests need, runs every test
# (unit, integration on SQLite and PostgreSQL, CLI), then drops the per-test databases.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
# The official OpenAI SDKs that the realtime tests drive.
python3 -m pip install -q --disable-pip-version-check -r tests/sdk/requirements.txt 2>&1 | grep -v "as the 'root' user" || true
if ! command -v node >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
fi
if [ ! -f tests/sdk/js/node_modules/openai/package.json ]; then
  (cd tests/sdk/js && npm ci --no-audit --no-fund --silent)
fi

PG="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}"
drop_test_databases() {
  psql "$PG/postgres" -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'avb_t_%'" 2>/dev/null |
    while read -r db; do psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1 || true; done
}
drop_test_databases
trap drop_test_databases EXIT

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
