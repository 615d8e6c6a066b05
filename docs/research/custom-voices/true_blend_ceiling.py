import os, sys
T="/root/.cache/avb-engines/tts-fastkokoro-0.7.0_kokoro-int8-0.1.0_voices-1.2.1"
os.environ.update(FASTKOKORO_MODEL_PATH=T+"/kokoro-v1.0.int8.onnx", FASTKOKORO_VOICES_PATH=T+"/voices-v1.0.npz", FASTKOKORO_CACHE_DIR=T+"/cache", HF_HUB_OFFLINE="1", FASTKOKORO_WARMUP="0")
sys.path[:0]=["docs/research/custom-voices","scripts/engines","docs/research/custom-voices/deps"]
import numpy as np, speaker_embed as se, voice_blend as vb
from fastkokoro.engine import FastKokoro
eng=FastKokoro(); V=np.load(T+"/voices-v1.0.npz"); enc=se.SpeakerEncoder()
for r,st in [("heart_emma",0.5*V["af_heart"]+0.5*V["bf_emma"]),("onyx_george",0.6*V["am_onyx"]+0.4*V["bm_george"])]:
    a,sr=se.read_wav(f"docs/research/custom-voices/refs/{r}.wav"); ref=enc.embed(a,sr)
    for nm,t in [("score",vb.SCORE_TEXT),("check",vb.CHECK_TEXT)]:
        x,s=eng._create_samples(t, voice=st.astype(np.float32), speed=1.0, lang="en-us"); print(r, "true blend", nm, round(float(enc.embed(np.asarray(x),s)@ref),4), flush=True)
