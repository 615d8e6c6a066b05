#!/usr/bin/env bash
# Property-based fuzzing of /api/v1 from its own OpenAPI document with schemathesis (PyPI):
# every generated request must get a non-5xx answer whose status, content type, headers and
# body are the ones the document gives for that operation (so the document stays true).
# scripts/test.sh runs it with a small example count; run it with more after changing handlers.
# Usage: scripts/fuzz-api.sh [max-examples per operation, default 30]
# FUZZ_SEED fixes the generation seed (default 1, so a CI failure replays locally).
set -euo pipefail
cd "$(dirname "$0")/.."

# schemathesis, pinned, in a virtual environment cached across runs (keyed by the version);
# pip honours PIP_INDEX_URL / pip.conf for a private or offline registry.
version=4.32.5
venv="${XDG_CACHE_HOME:-$HOME/.cache}/avb-fuzz/schemathesis-$version"
if [ ! -x "$venv/bin/schemathesis" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "schemathesis==$version"
fi

cargo build -q --bin avb
target=$(cargo metadata --no-deps --format-version 1 |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
avb="$target/debug/avb"
work=$(mktemp -d)
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
tenant=$("$avb" admin --json tenant create --name Fuzz --email billing@fuzz.example.com | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo 'Fuzz-Password-123' | "$avb" admin user create --email owner@fuzz.example.com --name Owner \
  --tenant "$tenant" --role tenant_owner --password-stdin >/dev/null
AVB_SERVER__LISTEN="127.0.0.1:$port" AVB_SERVER__METRICS_LISTEN=127.0.0.1:0 AVB_LOG__LEVEL=error \
  "$avb" serve >serve.log 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.2; done
token=$(curl -s "$base/api/v1/auth/token" -H 'content-type: application/json' \
  -d '{"email":"owner@fuzz.example.com","password":"Fuzz-Password-123"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
# Logout would end the session the run uses.
"$venv/bin/schemathesis" run "$base/api/v1/openapi.json" --url "$base" \
  -H "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --max-examples "${1:-30}" --seed "${FUZZ_SEED:-1}" --workers 2 \
  --exclude-path /api/v1/auth/logout
