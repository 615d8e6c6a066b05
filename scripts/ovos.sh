#!/usr/bin/env bash
# OVOS (OpenVoiceOS) skills runtime for the platform, installed offline from PyPI and Debian into a
# cache outside the checkout (keyed by the pinned versions). ovos-core runs the intent pipeline
# and the skills; the platform's gateway talks to it over the OVOS messagebus and plays the
# listener, audio and PHAL roles (see shared/spec/ovos.md).
#
#   scripts/ovos.sh install     # Debian swig libfann-dev wordnet-base wordnet-sense-index (only
#                               # when missing) + a venv with ovos-core 2.1.1, padatious, adapt,
#                               # padacioso, the curated offline skills and NLTK with an offline
#                               # WordNet; ~2 min the first time, instant afterwards
#   scripts/ovos.sh up          # installs if missing, writes mycroft.conf, starts ovos-core and the
#                               # wake-word sidecar in the background (logs and pids in the cache's
#                               # run/ folder) and waits (OVOS_UP_TIMEOUT, 180 s) until ovos-core
#                               # answers mycroft.skills.is_ready on the bus and the sidecar its
#                               # /health, and until padatious has trained (utterances block until
#                               # then); first start ~70-80 s (training), a restart ~15-20 s
#   scripts/ovos.sh down        # stops what `up` started (SIGTERM, then KILL after 10 s)
#   scripts/ovos.sh core        # ovos-core in the foreground (what `avb serve` runs and restarts
#                               # with [ovos] core_command = ["scripts/ovos.sh", "core"])
#   scripts/ovos.sh status      # says whether ovos-core and the sidecar run and a bus listens
#   scripts/ovos.sh wakeword [PORT]  # the wake-word sidecar in the foreground (default 8085,
#                               # OVOS_WAKEWORD_PORT for `up`): openWakeWord built-in words and
#                               # PocketSphinx custom phrases (scripts/engines/wakeword_server.py)
#   scripts/ovos.sh bus         # the stock Python ovos-messagebus in the foreground, a dev aid
#                               # until the platform serves its own bus (OVOS_BUS_NODELAY=1 sets
#                               # TCP_NODELAY, avoiding the stock bus's ~44 ms Nagle delay)
#
#   Smoke tests (with a bus and `up`):  "$(scripts/ovos.sh python)" scripts/ovos/smoke.py
#                                       "$(scripts/ovos.sh python)" scripts/ovos/wakeword_smoke.py
#   (`scripts/ovos.sh python` prints the venv's python; `scripts/ovos.sh env` prints the exports
#   that point a shell at the same cache: XDG dirs and NLTK_DATA.)
#
# Bus settings (env): OVOS_BUS_HOST (127.0.0.1), OVOS_BUS_PORT (8181), OVOS_BUS_ROUTE (/core; may
# carry a query string such as /core?client_id=ovos-core&token=XYZ), OVOS_BUS_TOKEN (adds
# client_id=ovos-core&token=... to the route). Cache: OVOS_CACHE (~/.cache/avb-ovos).
# OVOS_NO_WAKEWORD=1: `up` leaves the wake-word sidecar alone (the ovos-core test needs only core).
set -euo pipefail
CACHE="${OVOS_CACHE:-$HOME/.cache/avb-ovos}"
HERE="$(cd "$(dirname "$0")" && pwd)"

# Every top-level package, pinned. They pull ovos-workshop 7.0.6, ovos-plugin-manager 2.2.0,
# ovos-config 1.2.2, numpy 2.4.6, fann2 1.0.7 (built from source against libfann), tornado 6.6.1.
# ovos-utils and ovos-number-parser are pinned to stable releases: ovos-core asks for
# ovos-utils>=0.8.2a1, which lets pip pick the alpha 0.15.6a1, whose ovos-spec-tools 1.16.0a1
# template expansion rejects date-time's intents ("unbalanced or nested braces"), so padatious
# never trains them and "what time is it" falls through to the fallback skill.
PINS=(
  ovos-core==2.1.1
  ovos-utils==0.8.5
  ovos-number-parser==0.19.13
  ovos-adapt-parser==1.0.9
  padacioso==1.0.0
  ovos-padatious==1.4.3
  ovos-messagebus==0.0.10
  ovos-bus-client==1.5.0
  ovos-skill-hello-world==0.2.1
  ovos-skill-date-time==1.1.5
  ovos-skill-fallback-unknown==0.1.9
  ovos-skill-parrot==0.1.25
  ovos-skill-count==0.0.2
  ovos-skill-spelling==0.2.6
  ovos-skill-wordnet==0.2.6
  nltk==3.10.4
  pyopen-wakeword==1.1.0
  pocketsphinx==5.1.1
)
# Skills the SaaS admin may install later from the portal (ovos.pip.install): their wheels are
# downloaded here at install time, and ovos-core's pip installs from that folder only
# (PIP_NO_INDEX), so an install from the catalogue needs no network. Their dependencies are
# already in the venv (checked with `pip install --dry-run`).
CATALOGUE_EXTRA=(ovos-skill-randomness==1.1.0)
DEBS=(swig libfann-dev wordnet-base wordnet-sense-index)
# WordNet 3.0 from Debian, packed as NLTK's corpus (bump when the packing changes).
WORDNET_PACK=wn3.0-1
KEY="ovos-core-2.1.1_$(printf '%s\n' "${PINS[@]}" "$WORDNET_PACK" | sha1sum | cut -c1-10)"
DIR="$CACHE/core-$KEY"
VENV="$DIR/venv"
PY="$VENV/bin/python"
NLTK_DIR="$DIR/nltk_data"
CONSTRAINTS="$DIR/constraints.txt"
WHEELS="$CACHE/wheels-$(printf '%s\n' "${CATALOGUE_EXTRA[@]}" | sha1sum | cut -c1-10)"
# XDG dirs are shared by all versions, so the padatious intent cache and skill settings persist.
XDG="$CACHE/xdg"
RUN_DIR="$CACHE/run"
CONF="$XDG/config/mycroft/mycroft.conf"
BUS_HOST="${OVOS_BUS_HOST:-127.0.0.1}"
BUS_PORT="${OVOS_BUS_PORT:-8181}"
WAKEWORD_PORT="${OVOS_WAKEWORD_PORT:-8085}"

ovos_env() {
  export PIP_NO_INDEX=1 PIP_FIND_LINKS="$WHEELS"
  export XDG_CONFIG_HOME="$XDG/config" XDG_DATA_HOME="$XDG/data" XDG_CACHE_HOME="$XDG/cache"
  export XDG_STATE_HOME="$XDG/state" NLTK_DATA="$NLTK_DIR"
  export PYTHONPATH="$HERE/ovos${PYTHONPATH:+:$PYTHONPATH}"
}

# Debian packages the install needs (installed once, only when missing).
ensure_debs() {
  local missing=() d
  for d in "${DEBS[@]}"; do
    dpkg-query -W -f='${Status}' "$d" 2>/dev/null | grep -q 'ok installed' || missing+=("$d")
  done
  python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
  command -v g++ >/dev/null 2>&1 || missing+=(g++)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  python3 -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(sysconfig.get_paths()["include"] + "/Python.h"))' \
    || missing+=(python3-dev)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# NLTK's wordnet corpus from Debian's WordNet 3.0 files: NLTK also needs a `lexnames` file
# (lexicographer file number, name, part of speech: 1 noun, 2 verb, 3 adjective, 4 adverb), taken
# from the lexnames(5WN) table. An empty omw-1.4.zip stops NLTK from trying to download it.
pack_wordnet() {
  local tmp="$DIR/wordnet-pack"
  rm -rf "$tmp" && mkdir -p "$tmp/wordnet" "$NLTK_DIR/corpora"
  find /usr/share/wordnet -maxdepth 1 -type f -exec cp {} "$tmp/wordnet/" \;
  # (cd: a stray email.py or the like in the caller's folder must not shadow the stdlib)
  cd "$DIR"
  "$PY" - "$tmp/wordnet/lexnames" <<'PY'
import sys
names = """adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute
noun.body noun.cognition noun.communication noun.event noun.feeling noun.food noun.group
noun.location noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession
noun.process noun.quantity noun.relation noun.shape noun.state noun.substance noun.time
verb.body verb.change verb.cognition verb.communication verb.competition verb.consumption
verb.contact verb.creation verb.emotion verb.motion verb.perception verb.possession verb.social
verb.stative verb.weather adj.ppl""".split()
pos = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}
with open(sys.argv[1], "w") as f:
    for i, name in enumerate(names):
        f.write(f"{i:02d}\t{name}\t{pos[name.split('.')[0]]}\n")
PY
  "$PY" - "$tmp" "$NLTK_DIR/corpora" <<'PY'
import os, sys, zipfile
src, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(os.path.join(out, "wordnet.zip"), "w", zipfile.ZIP_DEFLATED) as z:
    z.write(os.path.join(src, "wordnet"), "wordnet/")
    for name in sorted(os.listdir(os.path.join(src, "wordnet"))):
        z.write(os.path.join(src, "wordnet", name), f"wordnet/{name}")
with zipfile.ZipFile(os.path.join(out, "omw-1.4.zip"), "w") as z:
    z.writestr("omw-1.4/", "")
PY
  rm -rf "$tmp"
}

# The catalogue's installable wheels, once per pinned list.
download_catalogue() {
  [ -f "$WHEELS/complete" ] && return
  mkdir -p "$WHEELS"
  "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps --dest "$WHEELS" \
    "${CATALOGUE_EXTRA[@]}"
  touch "$WHEELS/complete"
}

install_ovos() {
  if [ -f "$DIR/installed" ] && [ -x "$PY" ]; then
    download_catalogue
    echo "ovos already installed in $DIR"
    return
  fi
  ensure_debs
  mkdir -p "$DIR"
  [ -x "$PY" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "${PINS[@]}"
  "$VENV/bin/pip" freeze --disable-pip-version-check > "$DIR/freeze.txt"
  pack_wordnet
  NLTK_DATA="$NLTK_DIR" "$PY" -c 'from nltk.corpus import wordnet as wn; assert wn.synsets("computer")' \
    || { echo "the offline WordNet corpus does not load" >&2; exit 1; }
  : > "$CONSTRAINTS"  # skills.installer: a local empty constraints file, nothing fetched
  download_catalogue
  touch "$DIR/installed"
  echo "ovos installed in $DIR"
}

write_conf() {
  ovos_env
  "$PY" "$HERE/ovos/ovosctl.py" config "$CONF" "$CONSTRAINTS"
}

listening() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

ovos_up() {
  install_ovos >&2
  mkdir -p "$RUN_DIR"
  if pid_alive "$RUN_DIR/ovos-core.pid"; then
    echo "ovos-core: already running (pid $(cat "$RUN_DIR/ovos-core.pid"))" >&2
  else
    write_conf  # not while it runs: ovos-core reloads mycroft.conf when the file changes
    listening "$BUS_HOST" "$BUS_PORT" \
      || echo "ovos-core: nothing listens on $BUS_HOST:$BUS_PORT yet; it connects once a bus does" >&2
    ovos_env
    # Own session (setsid), so `down` can signal exactly the process group it started.
    setsid nohup "$VENV/bin/ovos-core" >"$RUN_DIR/ovos-core.log" 2>&1 < /dev/null &
    echo $! >"$RUN_DIR/ovos-core.pid"
    echo "ovos-core: starting (pid $!, log $RUN_DIR/ovos-core.log)" >&2
  fi
  [ "${OVOS_NO_WAKEWORD:-}" = 1 ] || start_wakeword
  ovos_env
  if ! "$PY" "$HERE/ovos/ovosctl.py" wait-ready "$(cat "$RUN_DIR/ovos-core.pid")" \
      "${OVOS_UP_TIMEOUT:-180}"; then
    echo "ovos-core: last log lines:" >&2
    tail -20 "$RUN_DIR/ovos-core.log" >&2 || true
    exit 1
  fi
  [ "${OVOS_NO_WAKEWORD:-}" = 1 ] || wait_wakeword
}

# ovos-core in the foreground (for a supervisor such as `avb serve` with [ovos] core_command):
# installs if missing, writes mycroft.conf for OVOS_BUS_HOST/PORT/TOKEN, then becomes ovos-core.
ovos_core() {
  install_ovos >&2
  write_conf
  ovos_env
  exec "$VENV/bin/ovos-core"
}

start_wakeword() {
  if listening 127.0.0.1 "$WAKEWORD_PORT"; then
    echo "wakeword: already listening on $WAKEWORD_PORT" >&2
    return
  fi
  setsid nohup "$PY" "$HERE/engines/wakeword_server.py" 127.0.0.1 "$WAKEWORD_PORT" \
    >"$RUN_DIR/wakeword.log" 2>&1 < /dev/null &
  echo $! >"$RUN_DIR/wakeword.pid"
  echo "wakeword: starting on $WAKEWORD_PORT (log $RUN_DIR/wakeword.log)" >&2
}

wait_wakeword() {
  for _ in $(seq 1 120); do
    if curl -sf -o /dev/null "http://127.0.0.1:$WAKEWORD_PORT/health" 2>/dev/null; then
      echo "wakeword: ready on $WAKEWORD_PORT" >&2
      return
    fi
    sleep 0.5
  done
  echo "wakeword: did not become ready; last log lines:" >&2
  tail -20 "$RUN_DIR/wakeword.log" >&2 || true
  exit 1
}

stop_pidfile() {
  local name="$1" pidfile="$RUN_DIR/$1.pid" pid
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "$name: still running after 10 s, killing" >&2
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    echo "$name: stopped" >&2
  fi
  rm -f "$pidfile"
}

ovos_down() {
  stop_pidfile ovos-core
  stop_pidfile wakeword
}

ovos_status() {
  local rc=0
  if pid_alive "$RUN_DIR/ovos-core.pid"; then
    echo "ovos-core: running (pid $(cat "$RUN_DIR/ovos-core.pid"), log $RUN_DIR/ovos-core.log)"
  else
    echo "ovos-core: not running"
    rc=3
  fi
  if pid_alive "$RUN_DIR/wakeword.pid"; then
    echo "wakeword: running (pid $(cat "$RUN_DIR/wakeword.pid"), port $WAKEWORD_PORT)"
  elif listening 127.0.0.1 "$WAKEWORD_PORT"; then
    echo "wakeword: something else listens on $WAKEWORD_PORT"
  else
    echo "wakeword: not running"
  fi
  if listening "$BUS_HOST" "$BUS_PORT"; then
    echo "bus: listening on $BUS_HOST:$BUS_PORT"
  else
    echo "bus: nothing listens on $BUS_HOST:$BUS_PORT"
  fi
  [ -f "$DIR/installed" ] && echo "installed: $DIR" || echo "installed: no ($DIR)"
  return "$rc"
}

ovos_wakeword() {
  install_ovos >&2
  exec "$PY" "$HERE/engines/wakeword_server.py" 127.0.0.1 "${1:-8085}"
}

ovos_bus() {
  install_ovos >&2
  ovos_env
  exec "$PY" "$HERE/ovos/ovosctl.py" bus
}

case "${1:-}" in
  install) install_ovos ;;
  up) ovos_up ;;
  core) ovos_core ;;
  down) ovos_down ;;
  status) ovos_status ;;
  bus) ovos_bus ;;
  wakeword) ovos_wakeword "${2:-8085}" ;;
  python) echo "$PY" ;;
  site) "$PY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" ;;
  env)
    ovos_env
    printf 'export %s=%q\n' XDG_CONFIG_HOME "$XDG_CONFIG_HOME" XDG_DATA_HOME "$XDG_DATA_HOME" \
      XDG_CACHE_HOME "$XDG_CACHE_HOME" XDG_STATE_HOME "$XDG_STATE_HOME" NLTK_DATA "$NLTK_DATA"
    ;;
  *) echo "usage: $0 install | up | down | status | bus | wakeword [PORT] | python | site | env" >&2; exit 2 ;;
esac
