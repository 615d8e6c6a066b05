import os, sys
T="/root/.cache/avb-engines/tts-fastkokoro-0.7.0_kokoro-int8-0.1.0_voices-1.2.1"
os.environ.update(FASTKOKORO_MODEL_PATH=T+"/kokoro-v1.0.int8.onnx", FASTKOKORO_VOICES_PATH=T+"/voices-v1.0.npz",
  FASTKOKORO_CACHE_DIR=T+"/cache", HF_HUB_OFFLINE="1", FASTKOKORO_WARMUP="0")
import numpy as np
sys.path[:0]=["docs/research/custom-voices","scripts/engines"]
import speaker_embed as se
from fastkokoro.engine import FastKokoro
eng=FastKokoro(); V=np.load(T+"/voices-v1.0.npz")
txt=("Last summer we drove along the coast for a week. Every evening we stopped in a small town, "
     "found a quiet place to eat, and walked by the harbour until it got dark.")
for name, style in [("heart_emma", 0.5*V["af_heart"]+0.5*V["bf_emma"]),
                    ("onyx_george", 0.6*V["am_onyx"]+0.4*V["bm_george"])]:
    a,sr=eng._create_samples(txt, voice=style.astype(np.float32), speed=1.0, lang="en-us")
    se.write_wav(f"docs/research/custom-voices/refs/{name}.wav", np.asarray(a), sr); print(name, len(a)/sr)
