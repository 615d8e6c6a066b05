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
if [ ! -f tests/sdk/js/node_modules/openai/package.json ] \
  || [ ! -f tests/sdk/js/node_modules/typescript/package.json ]; then
  (cd tests/sdk/js && npm ci --no-audit --no-fund --silent)
fi
# The portal's own scripts must at least parse (a broken one breaks every page's behaviour).
for js in crates/avb-portal/assets/*.js; do node --check "$js"; done
# The real OpenID provider the portal's OIDC sign-in test runs against (npm oidc-provider).
if [ ! -f tests/oidc/node_modules/oidc-provider/package.json ]; then
  (cd tests/oidc && npm ci --no-audit --no-fund --silent)
fi
export REQUIRE_OIDC_PROVIDER=1
# A real Prometheus for the admin monitoring test (Debian package).
if ! command -v prometheus >/dev/null 2>&1 && [ ! -x /usr/bin/prometheus ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
fi
export REQUIRE_PROMETHEUS=1

# Test speech and the local CPU engines (cached in ~/.cache/avb-engines; the first install on a
# fresh machine builds llama.cpp, about 12 minutes in all). SKIP_LOCAL_ENGINES=1 skips them and
# the engine tests then pass without testing anything.
if ! command -v espeak-ng >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null
fi
stop_engines=""
if [ "${SKIP_LOCAL_ENGINES:-}" != 1 ]; then
  if ! (exec 3<>/dev/tcp/127.0.0.1/8081) 2>/dev/null; then stop_engines=1; fi
  if scripts/engines.sh up >/dev/null; then
    export LOCAL_LLM_URL=http://127.0.0.1:8081/v1 LOCAL_STT_URL=http://127.0.0.1:8082/v1 \
      LOCAL_TTS_URL=http://127.0.0.1:8083/v1
    # The voice lab (custom voices as stock-voice blends) runs next to Kokoro.
    if (exec 3<>/dev/tcp/127.0.0.1/8084) 2>/dev/null; then
      export LOCAL_VOICE_FIT_URL=http://127.0.0.1:8084
    fi
  else
    echo "WARNING: the local engines did not start (see above); tests/it/local_engines.rs will not" >&2
    echo "WARNING: exercise them in this run." >&2
  fi
fi

# ovos-core with the curated offline skills (cached in ~/.cache/avb-ovos, ~2 min the first time);
# the OVOS test starts it against the platform's bus. SKIP_OVOS=1 skips it.
if [ "${SKIP_OVOS:-}" != 1 ]; then
  if scripts/ovos.sh install >/dev/null; then
    # (Not AVB_*: every AVB_ variable is read as configuration.)
    export TEST_OVOS=1
  else
    echo "WARNING: ovos-core did not install (see above); the OVOS test will not run it." >&2
  fi
fi

# Apache Kafka (one KRaft node) for the platform-events test, from Maven Central (cached in
# ~/.cache/avb-kafka, about 1 min the first time, 4 s to start). SKIP_KAFKA=1 skips it.
stop_kafka=""
if [ "${SKIP_KAFKA:-}" != 1 ]; then
  scripts/kafka.sh status >/dev/null 2>&1 || stop_kafka=1
  scripts/kafka.sh up >/dev/null
  export TEST_KAFKA_BROKERS=127.0.0.1:9092
fi

# Keycloak 26 (dev mode, realms imported from scripts/keycloak/) for the identity tests, from
# Maven Central (cached in ~/.cache/avb-keycloak, about 1 min the first time, ~20-30 s to start).
# SKIP_KEYCLOAK=1 skips it.
stop_keycloak=""
if [ "${SKIP_KEYCLOAK:-}" != 1 ]; then
  scripts/keycloak.sh status >/dev/null 2>&1 || stop_keycloak=1
  scripts/keycloak.sh up >/dev/null
  export TEST_KEYCLOAK_URL=http://127.0.0.1:8180
fi

PG="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}"
drop_test_databases() {
  psql "$PG/postgres" -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'avb_t_%'" 2>/dev/null |
    while read -r db; do psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1 || true; done
}
cleanup() {
  drop_test_databases
  if [ -n "$stop_engines" ]; then scripts/engines.sh down 2>/dev/null || true; fi
  if [ -n "$stop_kafka" ]; then scripts/kafka.sh down 2>/dev/null || true; fi
  if [ -n "$stop_keycloak" ]; then scripts/keycloak.sh down 2>/dev/null || true; fi
}
drop_test_databases
trap cleanup EXIT

status=0
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@" || status=$?
else
  cargo test --workspace --no-fail-fast "$@" || status=$?
fi

# Property-based fuzzing of /api/v1 from its OpenAPI document (schemathesis, cached venv):
# no 5xx and every answer as documented. 20 examples per operation keep it near a minute;
# SKIP_FUZZ=1 skips it, FUZZ_EXAMPLES changes the count.
if [ "${SKIP_FUZZ:-}" != 1 ]; then
  scripts/fuzz-api.sh "${FUZZ_EXAMPLES:-20}" || status=$?
fi

# The portal in headless Chromium (Debian chromium + npm playwright-core) against a throwaway
# server built by the run above; screenshots at 375/768/1440 px go to <target>/screenshots.
# SKIP_BROWSER=1 skips it.
if [ "${SKIP_BROWSER:-}" != 1 ]; then
  target=$(cargo metadata --no-deps --format-version 1 |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  cargo build --quiet --bin avb
  AVB_BIN="$target/debug/avb" SCREENSHOT_DIR="$target/screenshots" scripts/browser.sh fresh || status=$?
fi
exit "$status"
