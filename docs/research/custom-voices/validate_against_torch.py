import sys, types, numpy as np, time
sys.modules['webrtcvad']=types.ModuleType('webrtcvad')
try:
    import scipy.ndimage.morphology
except Exception:
    m=types.ModuleType('scipy.ndimage.morphology'); import scipy.ndimage as nd; m.binary_dilation=nd.binary_dilation; sys.modules['scipy.ndimage.morphology']=m
sys.path[:0]=['docs/research/custom-voices/deps','docs/research/custom-voices','scripts/engines']
import faulthandler; faulthandler.dump_traceback_later(90, exit=True)
import torch, librosa; torch.set_num_threads(1)
from resemblyzer import VoiceEncoder, audio
import speaker_embed as se
print("torch", torch.__version__, "librosa", librosa.__version__)
ref=VoiceEncoder(device="cpu"); mine=se.SpeakerEncoder()
for f in ["heart_emma","espeak","piper_joe"]:
    a,sr=se.read_wav(f"docs/research/custom-voices/refs/{f}.wav")
    w=librosa.resample(a, orig_sr=sr, target_sr=16000)  # same input to both
    w=se.normalize_volume(w)
    m1=audio.wav_to_mel_spectrogram(w); m2=se.mel_spectrogram(w)
    e1=ref.embed_utterance(w); e2=mine.embed_utterance(w)
    print(f, "mel rel err %.2e"%(np.abs(m1-m2).max()/np.abs(m1).max()), "cos(torch, numpy) %.6f"%(e1@e2), "max abs diff %.2e"%np.abs(e1-e2).max())
    # our own resampler vs librosa's, full pipeline minus VAD
    w2=se.normalize_volume(se.resample(a,sr)); print("   resampler effect cos %.5f"%(mine.embed_utterance(w2)@e2))
