import os, time, sys
import sys; sys.path[:0]=["docs/research/custom-voices","scripts/engines","docs/research/custom-voices/deps"]
T="/root/.cache/avb-engines/tts-fastkokoro-0.7.0_kokoro-int8-0.1.0_voices-1.2.1"
os.environ.update(FASTKOKORO_MODEL_PATH=T+"/kokoro-v1.0.int8.onnx", FASTKOKORO_VOICES_PATH=T+"/voices-v1.0.npz",
  FASTKOKORO_CACHE_DIR=T+"/cache", HF_HUB_OFFLINE="1", FASTKOKORO_WARMUP="0")
import numpy as np
t=time.time()
from fastkokoro.engine import FastKokoro
eng=FastKokoro(); print("engine", time.time()-t, eng.settings.onnx_intra_op_threads if hasattr(eng.settings,'onnx_intra_op_threads') else '')
import speaker_embed as se
enc=se.SpeakerEncoder()
V=np.load(T+"/voices-v1.0.npz")
S=["The quick brown fox jumps over the lazy dog near the river bank.",
   "Please remember to bring your umbrella, because it may rain this afternoon."]
voices=["af_heart","af_sarah","bf_emma","am_onyx","am_adam","bm_george"]
E={}
for v in voices:
  for i,s in enumerate(S):
    t=time.time(); a,sr=eng._create_samples(s, voice=V[v], speed=1.0, lang="en-us"); t1=time.time()-t
    t=time.time(); E[(v,i)]=enc.embed(a,sr); t2=time.time()-t
    print(v,i,sr,len(a)/sr,"synth %.2f embed %.2f"%(t1,t2), flush=True)
same=[E[(v,0)]@E[(v,1)] for v in voices]
print("same voice, different sentence:", np.round(same,3))
diff=[(a,b,E[(a,0)]@E[(b,1)]) for a in voices for b in voices if a<b]
for a,b,s in diff: print("diff",a,b,round(float(s),3))
print("min same %.3f max diff %.3f mean diff %.3f"%(min(same),max(d[2] for d in diff),np.mean([d[2] for d in diff])))
