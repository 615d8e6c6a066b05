#!/usr/bin/env bash
# The README's run command: the whole platform with its local CPU voice engines.
#   1. installs (first time only, cached in ~/.cache/avb-engines, ~12 min on 2 cores) and starts
#      faster-whisper tiny.en, SmolLM2-135M on llama.cpp and Kokoro-82M (scripts/engines.sh up);
#   2. builds and runs `avb serve` pointed at them (extra arguments go to `avb serve`).
# RUN_WITHOUT_ENGINES=1 skips the engines (the platform still starts; voice stages then answer
# engine_unavailable). Settings already in the environment win over the engines' defaults.
# RUN_WITH_OVOS=1 also turns OVOS on ([ovos] enabled, core_command, wakeword_url and
# wakeword_command), so `avb serve` serves the bus and supervises ovos-core and the wake-word
# sidecar.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${RUN_WITHOUT_ENGINES:-}" != 1 ]; then
  engine_env=$(scripts/engines.sh up)
  while IFS= read -r line; do
    name=${line#export }
    name=${name%%=*}
    # Keep an operator's own engine settings.
    if [ -z "${!name:-}" ]; then eval "$line"; fi
  done <<<"$engine_env"
fi
if [ "${RUN_WITH_OVOS:-}" = 1 ]; then
  # OVOS too: the platform serves the bus and runs (and restarts) ovos-core and the wake-word
  # sidecar itself; the first start installs them (~2 min) and trains padatious (~70 s).
  scripts/ovos.sh install >/dev/null
  export AVB_OVOS__ENABLED="${AVB_OVOS__ENABLED:-true}"
  export AVB_OVOS__SKILLS_DIR="${AVB_OVOS__SKILLS_DIR:-$(scripts/ovos.sh site)}"
  export AVB_OVOS__CORE_COMMAND="${AVB_OVOS__CORE_COMMAND:-[\"scripts/ovos.sh\", \"core\"]}"
  export AVB_OVOS__WAKEWORD_URL="${AVB_OVOS__WAKEWORD_URL:-http://127.0.0.1:8085}"
  export AVB_OVOS__WAKEWORD_COMMAND="${AVB_OVOS__WAKEWORD_COMMAND:-[\"scripts/ovos.sh\", \"wakeword\", \"8085\"]}"
fi
exec cargo run --release --bin avb -- serve "$@"
