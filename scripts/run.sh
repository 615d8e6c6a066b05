#!/usr/bin/env bash
# The README's run command: the whole platform with its local CPU voice engines.
#   1. installs (first time only, cached in ~/.cache/avb-engines, ~12 min on 2 cores) and starts
#      faster-whisper tiny.en, SmolLM2-135M on llama.cpp and Kokoro-82M (scripts/engines.sh up);
#   2. builds and runs `avb serve` pointed at them (extra arguments go to `avb serve`).
# RUN_WITHOUT_ENGINES=1 skips the engines (the platform still starts; voice stages then answer
# engine_unavailable). Settings already in the environment win over the engines' defaults.
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
exec cargo run --release --bin avb -- serve "$@"
