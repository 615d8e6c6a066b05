"""Self-test of the wake-word sidecar (scripts/engines/wakeword_server.py).

    "$(scripts/ovos.sh python)" scripts/ovos/wakeword_smoke.py [URL]   (default http://127.0.0.1:8085)

Synthesises test sentences with espeak-ng (when installed) and with Piper (when
scripts/engines.sh installed it under ~/.cache/avb-engines, or ENGINES_CACHE), resamples them to
16 kHz, posts each to /v1/wakeword/score for "hey jarvis" (openWakeWord) and "hey computer"
(PocketSphinx), and prints the max score, where it peaked, and the server's CPU time per 80 ms
chunk. Exits 1 when the server is down, no voice is available, or "hey jarvis" spoken by any
voice scores below 0.5.
"""

import glob
import io
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import wave

import numpy as np

URL = (sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8085").rstrip("/")
PHRASES = "hey jarvis,hey computer"
SENTENCES = [
    ("hey jarvis", True),
    ("So I was saying, hey Jarvis, turn on the lights.", True),
    ("What is the weather like in Paris today?", False),
    ("Hey, jar of jam.", False),
    ("Hey computer, what time is it?", None),  # for the PocketSphinx phrase
]


def to_16k(wav_bytes: bytes) -> bytes:
    with wave.open(io.BytesIO(wav_bytes)) as w:
        rate, ch, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32)
    assert width == 2, "16-bit WAV expected"
    if ch > 1:
        pcm = pcm.reshape(-1, ch).mean(axis=1)
    if rate != 16000:
        n = int(len(pcm) * 16000 / rate)
        pcm = np.interp(np.arange(n) * rate / 16000, np.arange(len(pcm)), pcm)
    # half a second of silence either side, as around a real utterance
    pad = np.zeros(8000, dtype=np.float32)
    return np.concatenate([pad, pcm, pad]).clip(-32768, 32767).astype("<i2").tobytes()


def espeak_voice():
    exe = shutil.which("espeak-ng")
    if not exe:
        return None

    def say(text):
        return subprocess.run([exe, "-v", "en-us", "--stdout", text], check=True,
                              capture_output=True).stdout
    return "espeak-ng en-us", say


def piper_voice():
    cache = os.environ.get("ENGINES_CACHE") or os.path.expanduser("~/.cache/avb-engines")
    for d in sorted(glob.glob(os.path.join(cache, "tts-piper-*"))):
        py, vp = os.path.join(d, "venv", "bin", "python"), os.path.join(d, "voice-path")
        if os.path.exists(py) and os.path.exists(vp):
            voice = open(vp).read().strip()
            code = ("import sys, wave\nfrom piper import PiperVoice\n"
                    "v = PiperVoice.load(sys.argv[1])\n"
                    "w = wave.open(sys.stdout.buffer, 'wb')\nv.synthesize_wav(sys.argv[2], w)\n"
                    "w.close()\n")

            def say(text, py=py, voice=voice):
                out = subprocess.run([py, "-c", code, voice, text], check=True,
                                     capture_output=True).stdout
                return out
            return f"piper {os.path.basename(voice)}", say
    return None


def post(pcm: bytes) -> dict:
    q = urllib.parse.urlencode({"phrases": PHRASES, "format": "s16le"})
    req = urllib.request.Request(f"{URL}/v1/wakeword/score?{q}", data=pcm, method="POST",
                                 headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def main() -> int:
    try:
        with urllib.request.urlopen(f"{URL}/health", timeout=5) as r:
            print("health:", r.read().decode())
    except (OSError, urllib.error.URLError) as e:
        print(f"wake-word server not reachable at {URL}: {e}", file=sys.stderr)
        return 1
    voices = [v for v in (espeak_voice(), piper_voice()) if v]
    if not voices:
        print("no test voice: install espeak-ng (apt) or `scripts/engines.sh install piper`",
              file=sys.stderr)
        return 1
    failed = False
    per_chunk = {}
    for name, say in voices:
        print(f"\n== {name}")
        for text, is_jarvis in SENTENCES:
            pcm = to_16k(say(text))
            res = post(pcm)
            parts = []
            for r in res["results"]:
                parts.append(f"{r['phrase']} ({r['engine']}): max {r['max']:.3f}"
                             + (f" at {r['max_t_ms']} ms" if r["max_t_ms"] else ""))
            print(f"{text!r} [{res['duration_ms']} ms, {res['chunks']} chunks]\n    "
                  + "; ".join(parts))
            for engine, c in res["cpu_ms"].items():
                per_chunk.setdefault(engine, []).append(c["per_chunk"])
            jarvis = next(r for r in res["results"] if r["phrase"] == "hey jarvis")
            if text == "hey jarvis" and jarvis["max"] < 0.5:
                print(f"FAIL: {name} 'hey jarvis' scored {jarvis['max']:.3f}", file=sys.stderr)
                failed = True
    print("\nserver CPU per 80 ms chunk (median over the requests above):")
    for engine, values in per_chunk.items():
        print(f"  {engine}: {float(np.median(values)):.2f} ms")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
