#!/usr/bin/env bash
# Starts the PostgreSQL and Redis servers the tests use when they are not running, and waits
# for them. Idempotent; uses the machine's Debian packages (installs them if missing).
set -euo pipefail

need_apt=()
command -v pg_ctlcluster >/dev/null 2>&1 || need_apt+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v psql >/dev/null 2>&1 || need_apt+=(postgresql-client)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

# A fresh Debian cluster asks loopback clients for a password (scram-sha-256); the tests connect
# as `postgres` without one, so loopback connections are trusted (this is a test machine).
trust_loopback() {
  local changed=""
  for hba in /etc/postgresql/*/main/pg_hba.conf; do
    [ -f "$hba" ] || continue
    if grep -Eq '^host\s+all\s+all\s+(127\.0\.0\.1/32|::1/128)\s+(scram-sha-256|md5)' "$hba"; then
      sed -Ei 's#^(host\s+all\s+all\s+(127\.0\.0\.1/32|::1/128)\s+)(scram-sha-256|md5)#\1trust#' "$hba"
      changed=1
    fi
  done
  if [ -n "$changed" ]; then
    for v in $(ls /etc/postgresql); do
      pg_ctlcluster --skip-systemctl-redirect "$v" main reload 2>/dev/null || true
    done
  fi
}
trust_loopback

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 >/dev/null 2>&1; }
if ! pg_up; then
  echo "starting PostgreSQL"
  for v in $(ls /etc/postgresql); do pg_ctlcluster --skip-systemctl-redirect "$v" main start || true; done
fi
for _ in $(seq 1 60); do pg_up && break; sleep 0.5; done
pg_up || { echo "PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1; }

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; }
if ! redis_up; then
  echo "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
for _ in $(seq 1 60); do redis_up && break; sleep 0.5; done
redis_up || { echo "Redis did not start on 127.0.0.1:6379" >&2; exit 1; }
echo "PostgreSQL and Redis are up"
