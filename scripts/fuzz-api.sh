#!/usr/bin/env bash
# Property-based fuzzing of /api/v1 from its own OpenAPI document with schemathesis (PyPI):
# every generated request must get a non-5xx answer. Not part of CI (it takes a minute);
# run it after changing handlers. Usage: scripts/fuzz-api.sh [max-examples]
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q 'schemathesis>=4,<5'
cargo build -q --bin avb
work=$(mktemp -d)
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
avb="$PWD/target/debug/avb"
cd "$work"
tenant=$("$avb" admin --json tenant create --name Fuzz --email billing@fuzz.example.com | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo 'Fuzz-Password-123' | "$avb" admin user create --email owner@fuzz.example.com --name Owner \
  --tenant "$tenant" --role tenant_owner --password-stdin >/dev/null
AVB_SERVER__LISTEN=127.0.0.1:18080 AVB_SERVER__METRICS_LISTEN=127.0.0.1:0 AVB_LOG__LEVEL=error "$avb" serve >serve.log 2>&1 &
pid=$!
for _ in $(seq 1 50); do curl -sf http://127.0.0.1:18080/healthz >/dev/null && break; sleep 0.2; done
token=$(curl -s http://127.0.0.1:18080/api/v1/auth/token -H 'content-type: application/json' \
  -d '{"email":"owner@fuzz.example.com","password":"Fuzz-Password-123"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
schemathesis run http://127.0.0.1:18080/api/v1/openapi.json --url http://127.0.0.1:18080 \
  -H "Authorization: Bearer $token" --checks not_a_server_error --max-examples "${1:-30}" \
  --exclude-path /api/v1/auth/logout
