#!/usr/bin/env bash
# Runs the portal's browser checks (tests/browser/portal.mjs) against a throwaway server:
#   1. a temp dir with a config (SQLite in the temp dir, HTTP and metrics on free ports);
#   2. a tenant, a tenant_owner user and a SaaS admin (no tenant) made with `avb admin`;
#   3. `avb serve` in the background, waited for on /healthz;
#   4. node tests/browser/portal.mjs, then the server is stopped and the temp dir removed.
# Needs only the built binary (target/debug/avb, or $AVB_BIN), chromium and node with
# tests/browser/node_modules (scripts/browser.sh fresh installs both, then runs this).
# KEEP_TMP=1 keeps the temp dir (config, database, server log) for a look afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."
AVB="${AVB_BIN:-$PWD/target/debug/avb}"
[ -x "$AVB" ] || { echo "no avb binary at $AVB (cargo build --bin avb, or set AVB_BIN)" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/avb-browser.XXXXXX")
server=""
cleanup() {
  local rc=$?
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  if [ "$rc" -ne 0 ] && [ -f "$TMP/serve.log" ]; then
    echo "--- last lines of the server log ($TMP/serve.log) ---" >&2
    tail -n 30 "$TMP/serve.log" >&2
  fi
  if [ "${KEEP_TMP:-}" = 1 ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Port 0: the server picks free ports and prints where it listens.
cat >"$TMP/avb.toml" <<EOF
[server]
listen = "127.0.0.1:0"
metrics_listen = "127.0.0.1:0"
data_dir = "$TMP/data"

[log]
level = "warn"

# Every scenario signs in from 127.0.0.1: the production login limit (20 a minute per address)
# would refuse the later ones.
[identity]
login_attempts_per_ip_per_minute = 1000
login_attempts_per_network_per_minute = 1000

# The OVOS bus (no ovos-core here): its page, probe and restart scenario.
[ovos]
enabled = true
bus_listen = "127.0.0.1:0"
probe_interval_secs = 1
EOF
# The wake-word sidecar, when scripts/test.sh installed OVOS (TEST_OVOS=1): the server runs it.
if [ "${TEST_OVOS:-}" = 1 ]; then
  ww_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cat >>"$TMP/avb.toml" <<EOF
wakeword_url = "http://127.0.0.1:$ww_port"
wakeword_command = ["scripts/ovos.sh", "wakeword", "$ww_port"]
EOF
fi
cat >>"$TMP/avb.toml" <<EOF

# A service that is down, for the alert-rule scenario: an identity provider whose discovery
# document nothing serves (port 9). Only the health probe reads it (the portal signs in locally).
[keycloak]
issuer = "http://127.0.0.1:9/realms/down"

[engines]
EOF
# The local engines, when scripts/test.sh (or scripts/engines.sh) started them: the LLM and
# speech to text for the playground's voice turn, Kokoro for it and the voice-preview scenario.
if [ -n "${LOCAL_LLM_URL:-}" ]; then
  cat >>"$TMP/avb.toml" <<EOF
llm_url = "$LOCAL_LLM_URL"
llm_model = "smollm2"
EOF
fi
if [ -n "${LOCAL_STT_URL:-}" ]; then
  cat >>"$TMP/avb.toml" <<EOF
stt_url = "$LOCAL_STT_URL"
stt_model = "tiny.en"
EOF
fi
if [ -n "${LOCAL_TTS_URL:-}" ] && [ "${LOCAL_TTS_ENGINE:-kokoro}" = kokoro ]; then
  cat >>"$TMP/avb.toml" <<EOF
tts_url = "$LOCAL_TTS_URL"
tts_model = "kokoro"
tts_speed_min = 1.0
tts_speed_max = 2.0
EOF
fi
# The voice lab, for the custom-voice scenario (a short search keeps the run quick).
if [ -n "${LOCAL_VOICE_FIT_URL:-}" ] && [ -n "${LOCAL_TTS_URL:-}" ]; then
  cat >>"$TMP/avb.toml" <<EOF
voice_fit_url = "$LOCAL_VOICE_FIT_URL"
voice_fit_budget_secs = 10
EOF
fi

# The avb process sees none of the caller's AVB_* settings (AVB_BASE_URL is not a config key and
# would be rejected; a database URL would point the throwaway server at a real database).
clean_env=(env)
for name in $(compgen -e | grep '^AVB_' || true); do clean_env+=(-u "$name"); done
avb() { "${clean_env[@]}" "$AVB" --config "$TMP/avb.toml" "$@"; }

EMAIL=owner@browser-test.example.com
PASSWORD='S3cure-Passw0rd!x'
tenant=$(avb admin --json tenant create --name "Browser Test Co" --email billing@browser-test.example.com)
tenant_id=$(node -e 'console.log(JSON.parse(process.argv[1]).id)' "$tenant")
printf '%s\n' "$PASSWORD" | avb admin --json user create --email "$EMAIL" --name "Browser Owner" \
  --tenant "$tenant_id" --role tenant_owner --password-stdin >/dev/null
ADMIN_EMAIL=admin@browser-test.example.com
ADMIN_PASSWORD='Adm1n-Passw0rd!y'
printf '%s\n' "$ADMIN_PASSWORD" | avb admin --json user create --email "$ADMIN_EMAIL" --name "Browser Admin" \
  --saas-admin --password-stdin >/dev/null

# A simple command (not the function) so that $! is the server itself, for the trap to stop.
"${clean_env[@]}" "$AVB" --config "$TMP/avb.toml" serve >"$TMP/serve.log" 2>&1 &
server=$!
base=""
for _ in $(seq 1 150); do
  kill -0 "$server" 2>/dev/null || { echo "avb serve exited" >&2; exit 1; }
  base=$(sed -n 's/^AgentVoiceBox listening on \([^ ]*\).*/\1/p' "$TMP/serve.log" | head -n 1)
  if [ -n "$base" ] && node -e 'fetch(process.argv[1]).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))' \
    "$base/healthz"; then
    break
  fi
  base=""
  sleep 0.2
done
[ -n "$base" ] || { echo "avb serve did not answer /healthz within 30 s" >&2; exit 1; }
echo "# portal at $base, signed in as $EMAIL (tenant owner) and $ADMIN_EMAIL (SaaS admin)"

AVB_BASE_URL="$base" PORTAL_EMAIL="$EMAIL" PORTAL_PASSWORD="$PASSWORD" \
  ADMIN_EMAIL="$ADMIN_EMAIL" ADMIN_PASSWORD="$ADMIN_PASSWORD" node tests/browser/portal.mjs
