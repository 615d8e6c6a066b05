#!/usr/bin/env bash
# Keycloak for the identity tests and for trying `identity.provider = "keycloak"`: the Quarkus
# distribution from Maven Central (org.keycloak:keycloak-quarkus-dist, pinned below), cached in
# ~/.cache/avb-keycloak, run in dev mode (H2 store) on loopback with the `avb` realm (and a second
# realm, `elsewhere`) imported from scripts/keycloak/*.json. Each `up` starts from a clean store.
#   scripts/keycloak.sh install   fetch and unpack (idempotent; ~1 min the first time)
#   scripts/keycloak.sh up        start and wait until the realm answers (idempotent)
#   scripts/keycloak.sh down      stop it
#   scripts/keycloak.sh status    whether it answers
# KEYCLOAK_PORT (8180) moves it. The bootstrap admin is admin / KEYCLOAK_ADMIN_PASSWORD.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VERSION=26.5.6
CACHE="${AVB_KEYCLOAK_CACHE:-$HOME/.cache/avb-keycloak}"
DIR="$CACHE/keycloak-$VERSION"
RUN="$CACHE/run"
PORT="${KEYCLOAK_PORT:-8180}"
PIDFILE="$RUN/keycloak-$PORT.pid"
export KC_BOOTSTRAP_ADMIN_USERNAME=admin
export KC_BOOTSTRAP_ADMIN_PASSWORD="${KEYCLOAK_ADMIN_PASSWORD:-avb-keycloak-admin}"

install_keycloak() {
  if [ -x "$DIR/bin/kc.sh" ]; then return 0; fi
  if ! command -v java >/dev/null || ! command -v mvn >/dev/null || ! command -v unzip >/dev/null \
    || ! command -v curl >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless maven unzip curl >/dev/null
  fi
  echo "fetching Keycloak $VERSION from Maven Central into $DIR" >&2
  local tmp; tmp="$(mktemp -d)"
  mvn -q -B -Dmaven.repo.local="$CACHE/m2" \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
    -Dartifact="org.keycloak:keycloak-quarkus-dist:$VERSION:zip" -DoutputDirectory="$tmp" >&2
  unzip -q "$tmp/keycloak-quarkus-dist-$VERSION.zip" -d "$tmp"
  mkdir -p "$CACHE"
  rm -rf "$DIR"
  mv "$tmp/keycloak-$VERSION" "$DIR"
  rm -rf "$tmp" "$CACHE/m2/org/keycloak/keycloak-quarkus-dist"
}

answers() {
  curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/realms/avb/.well-known/openid-configuration"
}

keycloak_up() {
  install_keycloak
  if answers; then echo "Keycloak is up on http://127.0.0.1:$PORT"; return 0; fi
  mkdir -p "$RUN"
  # A clean store each time: the realms come from the import.
  rm -rf "$DIR/data/h2" "$DIR/data/import"
  mkdir -p "$DIR/data/import"
  cp "$HERE"/keycloak/*.json "$DIR/data/import/"
  JAVA_OPTS_KC_HEAP="-Xms64m -Xmx640m" \
  setsid nohup "$DIR/bin/kc.sh" start-dev --import-realm \
    --http-host=127.0.0.1 --http-port="$PORT" --http-management-port="$((PORT + 10))" \
    --hostname-strict=false --cache=local --features=organization \
    >"$RUN/keycloak-$PORT.log" 2>&1 < /dev/null &
  echo $! > "$PIDFILE"
  for _ in $(seq 1 240); do
    if answers; then echo "Keycloak is up on http://127.0.0.1:$PORT"; return 0; fi
    if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then break; fi
    sleep 0.5
  done
  echo "Keycloak did not start; the end of its log:" >&2
  tail -40 "$RUN/keycloak-$PORT.log" >&2
  exit 1
}

keycloak_down() {
  if [ -f "$PIDFILE" ]; then
    local pid; pid="$(cat "$PIDFILE")"
    # kc.sh execs java in the same process group (setsid made it the leader).
    kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 -- "-$pid" 2>/dev/null || true
    rm -f "$PIDFILE"
  fi
}

case "${1:-}" in
  install) install_keycloak ;;
  up) keycloak_up ;;
  down) keycloak_down ;;
  status) if answers; then echo "up on http://127.0.0.1:$PORT"; else echo "down"; exit 1; fi ;;
  *) echo "usage: $0 install | up | down | status" >&2; exit 2 ;;
esac
